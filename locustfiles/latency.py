"""Every measured call's latency at microsecond resolution, in HDR histograms.

Locust keeps response times in rounded buckets (whole milliseconds below 100 ms, two
significant digits above), so a percentile it reports is off by up to half a bucket: too
coarse to tell 9.6 ms from 10.4 ms against a 10 ms objective. Here each call's latency, the
same value Locust is given (from the time the call was meant to be sent in the open model,
else from when it was sent), also goes into an HDR histogram per request name, in whole µs
(3 significant digits: exact below 2,048 µs, within 0.1 % above). Recording costs one
``record_value``.

A worker sends what it recorded since its last report with that report, as Locust sends its
own stats (which it then resets), and the master adds them up: the master's counts are
Locust's, call for call. A percentile is Locust's (the value of the call ranked
``int(count * fraction) + 1``), so the two differ only by Locust's rounding.

This module only keeps and summarises the histograms; where they are recorded, sent and
written is ``client.py`` and ``lifecycle.py``'s. It imports no Locust.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

HIGHEST_US = 3_600_000_000
"""The longest latency kept apart (an hour); a longer one is counted as an hour."""
SIGNIFICANT_FIGURES = 3

PERCENTILES: dict[str, float] = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99, "p99.9": 0.999}
"""Each figure's name (in the result file, the CSV and the line) and its fraction of calls."""
FIELDS = ("count", *PERCENTILES, "max")
"""A summary's fields, in order: the calls measured, then each figure in µs."""
AGGREGATED = "Aggregated"
"""The summary of every call, named as Locust names its total."""
CSV_SUFFIX = "_latency_us.csv"
"""Written next to Locust's CSV files: ``<--csv prefix>_latency_us.csv``."""
REPORT_KEY = "lobbysim_latency_us"
"""Where a worker's report carries its histograms to the master."""

Summary = dict[str, int | None]
"""``count`` and each figure in µs (None when no call was measured)."""


def _histogram() -> HdrHistogram:
    return HdrHistogram(1, HIGHEST_US, SIGNIFICANT_FIGURES)


class Latencies:
    """This process's histograms, one per request name (on a master: its workers')."""

    __slots__ = ("_by_name",)

    def __init__(self) -> None:
        self._by_name: dict[str, HdrHistogram] = {}

    def record(self, name: str, seconds: float) -> None:
        """One call's latency. Out-of-range values are clamped, never dropped (the counts
        must stay Locust's): below 0 (a clock step) as 0, above an hour as an hour."""
        histogram = self._by_name.get(name)
        if histogram is None:
            histogram = self._by_name[name] = _histogram()
        micros = int(seconds * 1_000_000 + 0.5)
        if not 0 <= micros <= HIGHEST_US:
            micros = 0 if micros < 0 else HIGHEST_US
        histogram.record_value(micros)

    def reset(self) -> None:
        self._by_name.clear()

    def take_report(self) -> dict[str, bytes]:
        """The histograms recorded since the last report, encoded (compressed, base64) for
        a worker's report to its master; this process starts afresh."""
        report = {name: h.encode() for name, h in self._by_name.items() if h.get_total_count()}
        self._by_name.clear()
        return report

    def add_report(self, report: Mapping[str, bytes]) -> None:
        """Add a worker's report (``take_report``'s) to these histograms."""
        for name, encoded in report.items():
            incoming = HdrHistogram.decode(encoded)
            mine = self._by_name.get(name)
            if mine is None:
                self._by_name[name] = incoming
            else:
                mine.add(incoming)

    def summary(self) -> dict[str, Summary]:
        """Per request name (sorted), then AGGREGATED for every call: each a summary."""
        total = _histogram()
        result: dict[str, Summary] = {}
        for name in sorted(self._by_name):
            result[name] = _summarise(self._by_name[name])
            total.add(self._by_name[name])
        result[AGGREGATED] = _summarise(total)
        return result


def _summarise(histogram: HdrHistogram) -> Summary:
    """The count, each percentile (Locust's rank) and the max, in µs: the upper end of the
    histogram's bucket holding that call (exact below 2,048 µs)."""
    count: int = histogram.get_total_count()
    if not count:
        return {field: (0 if field == "count" else None) for field in FIELDS}
    ranks = {name: min(count, int(count * fraction) + 1) for name, fraction in PERCENTILES.items()}
    found: Summary = {"count": count}
    seen = 0
    pending = sorted(ranks.items(), key=lambda item: item[1])
    counts = histogram.counts
    for index in range(histogram.counts_len):
        seen += counts[index]
        while pending and seen >= pending[0][1]:
            value = histogram.get_value_from_index(index)
            found[pending.pop(0)[0]] = int(histogram.get_highest_equivalent_value(value))
        if not pending:
            break
    found["max"] = int(histogram.get_max_value())
    return {field: found[field] for field in FIELDS}


def line(summary: Mapping[str, Summary]) -> str:
    """The end-of-run line: every call's figures, in µs."""
    total = summary[AGGREGATED]
    figures = " ".join(
        f"{field}={'n/a' if total[field] is None else total[field]}" for field in FIELDS
    )
    return f"lobbysim latency: unit=us from=intended_send {figures}"


def write_csv(path: Path, summary: Mapping[str, Summary]) -> None:
    """A row per request name, then Aggregated: ``Name`` and the summary's fields (µs)."""
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["Name", *FIELDS])
        for name, figures in summary.items():
            writer.writerow([name, *("" if figures[f] is None else figures[f] for f in FIELDS)])


def csv_path(csv_prefix: str) -> Path:
    return Path(f"{csv_prefix}{CSV_SUFFIX}")


__all__ = [
    "AGGREGATED",
    "CSV_SUFFIX",
    "FIELDS",
    "PERCENTILES",
    "REPORT_KEY",
    "Latencies",
    "Summary",
    "csv_path",
    "line",
    "write_csv",
]
