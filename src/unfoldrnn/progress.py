"""Progress bars on a terminal (or in a notebook) only: written to a file or a pipe, every
update of a bar would be a line of its own."""

from __future__ import annotations

import sys


def bars_off(progress: bool) -> bool:
    """tqdm's ``disable`` for a caller that asked for ``progress``."""
    return not (progress and (sys.stderr.isatty() or "ipykernel" in sys.modules))
