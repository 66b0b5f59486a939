"""Reduce per-point results of a sweep to phase diagrams, Lyapunov statistics and learning curves.

  balnet reduce phases RUN.h5 ... [--lyapunov LYAP.h5 ...] -o phase_diagram.h5 [--figure phase_diagram.png]
                       [--predictions-figure predictions.png] [--no-predictions]
      classify every realization x trial of every simulation file (decay,
      fixed_point, oscillation, chaos, cycle, divergent; thresholds below, see
      balnet.phases.classify) and write the class fractions per sweep point, the labels
      and all order parameters, with the swept parameters as dimensions; also the
      state that the eigenvalues of J at x = 0 predict for every realization and
      the predicted-vs-measured confusion table per point (balnet.theory.dmft; tanh,
      I0 = 0, no noise).

  balnet reduce lyapunov LYAP.h5 ... -o lyapunov_stats.h5 [--figure lyapunov_stats.png] [--histograms ftle.png]
                         [--macro-figure macro_ftle.png] [--class-threshold 0.02] [--no-theory]
      mean, spread and histograms of lambda_max and of the micro and macro
      finite-time Lyapunov exponents per sweep point, with the SCS mean-field
      lambda_max(g) (J0 = 0, N -> infinity) as a reference curve; the macro FTLE against the
      offset-free macro growth rate and the start-direction offset vs window length per
      class of realization (fixed point / oscillating / chaotic by lambda_max vs
      --class-threshold), and the repeatability (ICC) of each per realization.

  balnet reduce learning LEARN.h5 ... -o learning_curves.h5 [--figure learning_curves.png]
      test error vs training size per condition (baseline, FTLE selection,
      pre-training) and sweep point: mean, spread, median and quartiles over
      learning samples, and the macro FTLE of every network used.

Files are placed on the sweep grid by their own parameters (attribute
``params``); ``--sweep g J0`` names the swept parameters and their order
(default: every parameter that differs between the files, alphabetically).
Time is in units of tau.
"""
from __future__ import annotations

from ..chaos.statistics import lyapunov_statistics, write_lyapunov_statistics
from ..engine.figures import (
    plot_ftle_histograms,
    plot_lyapunov_stats,
    plot_macro_ftle,
    plot_phase_diagram,
    plot_sweep_learning_curves,
)
from ..engine.params import ConfigError
from ..learning.learning_curves import learning_curves, write_learning_curves
from ..phases.classify import PhaseCriteria
from ..phases.diagram import phase_diagram, write_phase_diagram
from ..theory.stability import plot_stability
from ._common import add_record_flags, collect_records, subcommands

NAME = "reduce"
HELP = "reduce a sweep: phase diagram, Lyapunov statistics, learning curves (HDF5 + figures)"
ORDER = 60


def add_arguments(p):

    sub = subcommands(p)

    ph = sub("phases", "classify states and build the phase diagram",
             "Classify every realization x trial of simulation files and reduce to a phase diagram.")
    ph.add_argument("runs", nargs="+", metavar="RUN.h5", help="simulation files (kind=simulation), one per sweep point")
    ph.add_argument("--lyapunov", nargs="+", default=[], metavar="LYAP.h5",
                    help="Lyapunov files of the same points (matched by parameters) for lambda_max")
    _common(ph)
    ph.add_argument("-c", "--config", metavar="YAML", help="classification thresholds (flat keys or a 'phases' section)")
    ph.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a threshold (repeatable)")
    ph.add_argument("--no-predictions", action="store_true",
                    help="skip the linear-stability predictions (eigenvalues of J at x = 0)")
    ph.add_argument("--predictions-figure", metavar="PNG",
                    help="also draw the predicted-vs-measured confusion table to this path")
    add_record_flags(ph, PhaseCriteria, "classification thresholds")

    ly = sub("lyapunov", "statistics and histograms of Lyapunov exponents",
             "Per-point statistics of lambda_max and of micro/macro FTLEs over a sweep.")
    ly.add_argument("files", nargs="+", metavar="LYAP.h5", help="Lyapunov files (kind=lyapunov), one per sweep point")
    _common(ly)
    ly.add_argument("--bins", type=int, default=40, help="number of histogram bins")
    ly.add_argument("--range", nargs=2, type=float, default=None, metavar=("LO", "HI"),
                    help="histogram range [1/tau] (default: 0.5-99.5 %% of all values)")
    ly.add_argument("--histograms", metavar="PNG", help="also draw the FTLE histograms of every point")
    ly.add_argument("--no-theory", action="store_true", help="skip the SCS mean-field reference curve")
    ly.add_argument("--macro-figure", metavar="PNG",
                    help="also draw macro FTLE vs growth rate vs window length, and their ICCs")
    ly.add_argument("--class-threshold", type=float, default=0.02, metavar="LAMBDA",
                    help="realization classes for the macro curves: lambda_max < -LAMBDA fixed point, "
                         "> LAMBDA chaotic, else oscillating [1/tau]")

    le = sub("learning", "learning curves over a sweep",
             "Per-point learning curves (test NRMSE vs training size) of learning files.")
    le.add_argument("files", nargs="+", metavar="LEARN.h5", help="learning files (kind=learning), one per sweep point")
    _common(le)


def _common(sp):
    sp.add_argument("-o", "--output", required=True, metavar="H5", help="output HDF5 file (written atomically)")
    sp.add_argument("--sweep", nargs="+", default=None, metavar="PARAM",
                    help="swept parameters, in axis order (default: the parameters that differ)")
    sp.add_argument("--figure", metavar="PNG", help="also draw the figure to this path")


def run(args) -> int:
    if args.what == "phases":
        return _phases(args)
    if args.what == "lyapunov":
        return _lyapunov(args)
    if args.what == "learning":
        return _learning(args)
    raise ConfigError(f"unknown reduction {args.what!r}")


def _phases(args) -> int:

    (crit,) = collect_records(args, [PhaseCriteria], {"phases": PhaseCriteria})
    pd = phase_diagram(args.runs, args.lyapunov or None, sweep=args.sweep, criteria=crit,
                       predictions=not args.no_predictions)
    write_phase_diagram(pd, args.output, inputs=[*args.runs, *args.lyapunov])
    if args.figure:

        plot_phase_diagram(args.output, args.figure)
    if args.predictions_figure:
        if args.no_predictions:
            raise ConfigError("--predictions-figure needs the predictions (drop --no-predictions)")

        plot_stability(args.output, args.predictions_figure)
    return 0


def _lyapunov(args) -> int:

    if not args.class_threshold >= 0:
        raise ConfigError(f"--class-threshold must be >= 0, got {args.class_threshold}")
    st = lyapunov_statistics(args.files, sweep=args.sweep, bins=args.bins, range_=args.range,
                             theory=0 if args.no_theory else 16, class_threshold=args.class_threshold)
    write_lyapunov_statistics(st, args.output, inputs=args.files)
    if args.figure or args.histograms:

        if args.figure:
            plot_lyapunov_stats(args.output, args.figure)
        if args.histograms:
            plot_ftle_histograms(args.output, args.histograms)
    if args.macro_figure:
        plot_macro_ftle(args.output, args.macro_figure)
    return 0


def _learning(args) -> int:

    lc = learning_curves(args.files, sweep=args.sweep)
    write_learning_curves(lc, args.output, inputs=args.files)
    if args.figure:

        plot_sweep_learning_curves(args.output, args.figure)
    return 0
