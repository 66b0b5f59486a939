"""Progress bars for long work: tqdm on stderr, only on a terminal and unless ``--quiet``."""
from __future__ import annotations

import sys

__all__ = ["progress_bar"]


def progress_bar(total: int, enabled: bool, desc: str, unit: str = "step"):
    """A tqdm bar on stderr, or ``None`` when disabled, not a TTY, or tqdm is missing."""
    if not enabled or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit=unit, file=sys.stderr, desc=desc, leave=False)
