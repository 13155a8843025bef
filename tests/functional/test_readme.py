"""The README is a ten-minute tour that leads into the docs site; its and the docs' Python
examples run as written (REDIS_URL is the test's private server). The shell commands run in
test_readme_commands.py; the site itself is built with ``mkdocs build --strict`` (make docs).
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

from lobbysim.testing import RedisServer

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
MAX_README_LINES = 300
LINK = re.compile(r"\]\(([^)\s]+)\)")


def text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def blocks(page: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text(page), re.S)


def anchor(heading: str) -> str:
    """The anchor GitHub (and MkDocs' toc) gives a heading: lowercase, punctuation dropped,
    spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def sections(page: Path) -> dict[str, str]:
    """Each ``##`` section's title and body."""
    parts = re.split(r"^## (.+)$", text(page), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def nav_pages() -> set[str]:
    """The pages mkdocs.yml's navigation names (the site's build checks they exist)."""
    return set(re.findall(r":\s*([\w/.-]+\.md)\s*$", text(ROOT / "mkdocs.yml"), re.M))


def test_the_readme_is_short_with_a_table_of_contents() -> None:
    assert len(text(README).splitlines()) <= MAX_README_LINES
    titles = list(sections(README))
    assert titles[0] == "Contents", titles
    listed = re.findall(r"^- \[.+\]\(#([\w-]+)\)$", sections(README)["Contents"], re.M)
    assert listed == [anchor(t) for t in titles[1:]], "the contents list every section, in order"


def test_the_readme_keeps_the_quick_start_and_the_uses() -> None:
    readme = text(README)
    for literal in ("make demo", "make test", "lobbysim demo", "lobbysim watch", "lobbysim load",
                    '"$(lobbysim load --locustfile)"', "lobbysim load --http", "lobbysim capacity",
                    "OpenJoins", "per Locust user", "from lobbycore import"):  # fmt: skip
        assert literal in readme, literal
    assert "Quick start" in sections(README)


def test_the_checkout_venv_appears_only_for_contributors() -> None:
    for title, body in sections(README).items():
        if title != "Working on lobbysim":
            assert ".venv/" not in body, title
    assert ".venv/bin/" in sections(README)["Working on lobbysim"]
    assert "CONTRIBUTING.md" in sections(README)["Working on lobbysim"]


def test_every_link_of_the_readme_leads_somewhere() -> None:
    readme = text(README)
    headings = {anchor(h) for h in re.findall(r"^#+ (.+)$", readme, re.M)}
    docs_linked = set()
    for target in LINK.findall(readme):
        if target.startswith(("http://", "https://")):
            continue
        path, _, fragment = target.partition("#")
        if not path:
            assert fragment in headings, target
            continue
        assert (ROOT / path).exists(), target
        if path.startswith("docs/") and path.endswith(".md"):
            docs_linked.add(path.removeprefix("docs/"))
            if fragment:
                page_headings = re.findall(r"^#+ (.+)$", text(ROOT / path), re.M)
                assert fragment in {anchor(h) for h in page_headings}, target
    assert len(docs_linked) >= 10, "the README leads into the docs site"
    assert docs_linked <= nav_pages(), docs_linked - nav_pages()


def test_every_docs_page_is_in_the_site() -> None:
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages == nav_pages()


def test_the_guide_tells_no_history() -> None:
    """What changed when is the changelog's; the guide says what is."""
    for page in PAGES:
        found = re.findall(r"\bissue \d+|\bbefore = |\bcommit [0-9a-f]{7}", text(page))
        assert found == [], (page.name, found)


def test_python_examples_run(redis_server: RedisServer) -> None:
    examples = [(page, block) for page in PAGES for block in blocks(page, "python")]
    assert {page.name for page, _ in examples} >= {"README.md", "library.md", "audit.md"}
    for page, block in examples:
        exec(
            compile(block, str(page), "exec"),
            {"__name__": "readme", "REDIS_URL": redis_server.url},
        )


def test_interactive_examples_print_what_they_show() -> None:
    """``pycon`` blocks are doctests: each output line must be what Python prints."""
    examples = [(page, block) for page in PAGES for block in blocks(page, "pycon")]
    assert examples, "the interactive examples are missing"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for i, (page, block) in enumerate(examples):
        test = doctest.DocTestParser().get_doctest(block, {}, f"{page.name} pycon {i}", None, 0)
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
