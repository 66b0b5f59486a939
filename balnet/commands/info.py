"""Print what a balnet HDF5 file holds: attributes, parameters, datasets with dims and units."""
from __future__ import annotations

from ..engine.io import summarize

NAME = "info"
HELP = "summarize an HDF5 output file"
ORDER = 90


def add_arguments(p):
    p.add_argument("files", nargs="+", metavar="FILE.h5")


def run(args) -> int:

    for f in args.files:
        print(summarize(f))
    return 0
