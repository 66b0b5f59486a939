"""Draw a figure from a balnet HDF5 file (population activity of a simulation)."""
from __future__ import annotations

from ..engine.figures import plot_population
from ..engine.io import read_attrs

NAME = "plot"
HELP = "draw population activity of a simulation file (PNG/PDF)"
ORDER = 80


def add_arguments(p):
    p.add_argument("file", metavar="FILE.h5")
    p.add_argument("-o", "--output", required=True, metavar="FIG", help="figure path (.png or .pdf)")
    p.add_argument("--realizations", type=int, default=4, help="number of realizations to draw")


def run(args) -> int:

    read_attrs(args.file, kind="simulation")
    plot_population(args.file, args.output, args.realizations)
    return 0
