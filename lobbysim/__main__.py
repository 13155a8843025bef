"""``python -m lobbysim``: the ``lobbysim`` command."""

import sys

from lobbysim.cli import main

sys.exit(main())
