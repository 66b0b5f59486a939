"""Progress of long work on stderr, unless ``--quiet``: a tqdm bar on a terminal, plain lines in a log.

Without a terminal (Snakemake logs, batch jobs, ``2> log``) a bar would be one line rewritten with
carriage returns, unreadable in a file; :class:`LineProgress` writes instead one line at every
10 % (at most one a second, at least one a minute) with percent, rate and remaining time.
"""
from __future__ import annotations

import sys
import time

__all__ = ["progress_bar", "LineProgress", "format_duration"]


def format_duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}:{s:02d} min"
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d} h"


class LineProgress:
    """``update(n)``/``close()`` like tqdm, printing lines such as
    ``simulate: 40% (4000/10000 step), 812 step/s, 7.4 s left``."""

    def __init__(self, total: int, desc: str, unit: str = "step", file=None, clock=time.monotonic,
                 every: float = 0.1, min_interval: float = 1.0, max_interval: float = 60.0):
        self.total, self.desc, self.unit = max(0, int(total)), desc, unit
        self.file = file if file is not None else sys.stderr
        self.clock = clock
        self.every, self.min_interval, self.max_interval = every, min_interval, max_interval
        self.n = 0
        self.t0 = self.t_last = clock()
        self.k = 1  # next line at k * every (a count, so that float sums do not drift)
        self.closed = False

    def _line(self, now: float) -> str:
        el = max(now - self.t0, 1e-9)
        rate = self.n / el
        pct = 100.0 * self.n / self.total if self.total else 100.0
        left = (self.total - self.n) / rate if rate > 0 else float("nan")
        eta = format_duration(left) if left == left else "?"
        r = f"{rate:.0f}" if rate >= 100 else f"{rate:.3g}"
        return f"{self.desc}: {pct:3.0f}% ({self.n}/{self.total} {self.unit}), {r} {self.unit}/s, {eta} left"

    def update(self, n: int = 1) -> None:
        self.n += int(n)
        now = self.clock()
        frac = self.n / self.total if self.total else 1.0
        due = frac >= self.k * self.every - 1e-12 and now - self.t_last >= self.min_interval
        if (due or now - self.t_last >= self.max_interval) and self.n < self.total:
            print(self._line(now), file=self.file, flush=True)
            self.t_last = now
            while self.k * self.every - 1e-12 <= frac:
                self.k += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        el = self.clock() - self.t0
        print(f"{self.desc}: done, {self.n} {self.unit} in {format_duration(el)}", file=self.file, flush=True)


def progress_bar(total: int, enabled: bool, desc: str, unit: str = "step"):
    """A tqdm bar on a terminal, :class:`LineProgress` otherwise (or without tqdm); ``None`` when disabled."""
    if not enabled:
        return None
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            return tqdm(total=total, unit=unit, file=sys.stderr, desc=desc, leave=False)
    return LineProgress(total, desc, unit)
