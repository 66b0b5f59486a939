r"""Mean-field theory beside the measurements (balnet.theory.dmft).

  balnet meanfield dmft [--g G ...] [--g-range LO HI N] [--runs RUN.h5 ...] [--lyapunov LYAP.h5 ...]
                        -o dmft.h5 [--figure dmft.png]
      dynamical mean-field theory of the SCS network (J0 = 0, tanh): for every g the
      variance Delta0, the autocorrelation Delta(tau), its half-decay time and
      asymptotic rate, and the largest Lyapunov exponent from the Schroedinger
      problem of two replicas (lambda_max = -1 + sqrt(1 - E0)), with the built-in
      checks (energy residual, zero-mode eigenvalue E1 ~ 0).  Simulation files
      (kind=simulation) with J0 = 0 add the measured <x_i^2> and Delta(tau), Lyapunov
      files the measured lambda_max, so the figure puts theory and measurement together.
      Default g grid: 31 values on [1, 4]; with simulation files 25 values from
      min(1, their g) to max(1.5, their g), plus their g.

  balnet meanfield stability RUN.h5 ... [--phases PHASE_DIAGRAM.h5] -o stability.h5 [--figure stability.png]
      per realization of critically balanced networks (tanh, I0 = 0, no noise): the
      eigenvalues of J at the trivial fixed point x = 0, the state they predict
      (bulk radius > 1: chaos; leading eigenvalue Re < 1: decay; real > 1:
      non-trivial fixed point; complex pair Re > 1: oscillation, period 2 pi / Im),
      compared realization by realization with the class the simulation found
      (labels of a `balnet reduce phases` file of the same runs, or classified
      here): confusion table and agreement per sweep point.

Numerical settings (section ``meanfield`` of a YAML file, --set KEY=VALUE or the
flags below): Gaussian-quadrature step and range, table size, tau grid, outlier
margin.  Time is in units of tau.

Examples:
  balnet meanfield dmft --g 1.5 2 3 4 -o dmft.h5 --figure dmft.png
  balnet meanfield dmft --runs results/demo/*/J0~0.0/run.h5 --lyapunov results/demo/*/J0~0.0/lyapunov.h5 \
      -o dmft.h5
  balnet meanfield stability results/demo/*/*/run.h5 --phases results/demo/phase_diagram.h5 -o stability.h5 \
      --figure stability.png
"""
from __future__ import annotations

import numpy as np

from ..engine.params import ConfigError
from ..phases.diagram import stability_table
from ..theory.dmft import (
    MeanFieldParams,
    dmft_curves,
    measured_scs,
    plot_dmft,
    write_dmft,
)
from ..theory.stability import plot_stability, write_stability
from ._common import (
    add_common,
    add_record_flags,
    collect_records,
    progress_enabled,
    subcommands,
)

NAME = "meanfield"
HELP = "mean-field theory: SCS DMFT (Delta(tau), lambda_max) and linear-stability predictions vs simulations"
ORDER = 65


def add_arguments(p):

    sub = subcommands(p)
    d = sub("dmft", "SCS dynamical mean-field theory over g (+ measured points)",
            "Delta0, Delta(tau), lambda_max of the SCS network from DMFT, beside simulations.")
    add_common(d)
    d.add_argument("--g", nargs="+", type=float, default=[], metavar="G", help="values of g")
    d.add_argument("--g-range", nargs=3, type=float, default=None, metavar=("LO", "HI", "N"),
                   help="N values of g evenly on [LO, HI] (default 1 4 31 when no --g is given)")
    d.add_argument("--runs", nargs="+", default=[], metavar="RUN.h5", help="simulation files (J0 = 0 ones are used)")
    d.add_argument("--lyapunov", nargs="+", default=[], metavar="LYAP.h5", help="Lyapunov files (J0 = 0 ones are used)")
    d.add_argument("--max-lag", type=float, default=20.0, help="largest lag of the measured autocorrelation [tau]")
    d.add_argument("--figure", metavar="PNG", help="also draw the figure to this path")
    add_record_flags(d, MeanFieldParams, "mean-field numerics")

    s = sub("stability", "eigenvalue predictions vs measured classes per realization",
            "Linear-stability predictions at x = 0 against the classes the simulations found: confusion table per sweep point.")
    s.add_argument("runs", nargs="+", metavar="RUN.h5", help="simulation files (kind=simulation), one per sweep point")
    add_common(s)
    s.add_argument("--phases", metavar="H5",
                   help="phase diagram of the same runs (balnet reduce phases) for the labels")
    s.add_argument("--sweep", nargs="+", default=None, metavar="PARAM",
                   help="swept parameters, in axis order (default: the parameters that differ)")
    s.add_argument("--figure", metavar="PNG", help="also draw the figure to this path")
    add_record_flags(s, MeanFieldParams, "mean-field numerics")


def run(args) -> int:

    (mf,) = collect_records(args, [MeanFieldParams], {"meanfield": MeanFieldParams})
    if args.what == "dmft":
        return _dmft(args, mf, progress_enabled(args))
    if args.what == "stability":
        return _stability(args, mf, progress_enabled(args))
    raise ConfigError(f"unknown meanfield command {args.what!r}")


def _dmft(args, mf, progress) -> int:

    meas = measured_scs(args.runs, args.lyapunov, max_lag=args.max_lag) if (args.runs or args.lyapunov) else {}
    gs = list(args.g)
    if args.g_range is not None or not gs:
        if args.g_range is not None:
            lo, hi, n = args.g_range
        elif meas:
            lo, hi, n = min(1.0, float(meas["g"].min())), max(1.5, float(meas["g"].max())), 25
        else:
            lo, hi, n = 1.0, 4.0, 31
        if int(n) < 1 or hi < lo:
            raise ConfigError(f"--g-range needs HI >= LO and N >= 1, got {args.g_range}")
        gs += list(np.linspace(lo, hi, int(n)))
    if meas:
        gs += list(meas["g"])
    if any(g < 0 for g in gs):
        raise ConfigError("g must be >= 0")
    gs = sorted({round(float(g), 12) for g in gs})
    curves = dmft_curves(gs, mf, tau_curve=max(mf.tau_max, args.max_lag), progress=progress)
    write_dmft(curves, args.output, mf, measured=meas or None, command="balnet meanfield dmft")
    if args.figure:
        plot_dmft(args.output, args.figure)
    return 0


def _stability(args, mf, progress) -> int:

    st = stability_table(args.runs, phase_diagram_path=args.phases, sweep=args.sweep, params=mf, progress=progress)
    write_stability(st, args.output, mf, inputs=[*args.runs, *([args.phases] if args.phases else [])])
    if args.figure:
        plot_stability(args.output, args.figure)
    return 0
