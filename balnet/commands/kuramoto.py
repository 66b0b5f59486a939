"""Kuramoto oscillators: densest circulant networks with a stable twisted state (MILP), simulation checks.

  balnet kuramoto run [-c YAML] [--set KEY=VALUE] [--n N] [--twists all|1,3,5-8] ... -o n.h5 [--figure sim.png]
      for every twist q (the cases; under ``mpiexec -n R`` rank r takes cases
      i with i mod R = r) solve the integer program "maximize the degree of
      the circulant graph C_n(S) subject to lambda_m <= -margin for every
      nonzero Fourier mode m of the q-twisted state" with HiGHS, re-check every
      solution with the numerical eigenvalues of the full Jacobian, then
      simulate the best network (RK4) from its twisted state plus a small
      perturbation.  Output (kind "kuramoto"): per twist the degree,
      mu = degree/(n-1), the offset set (0/1 mask), solver status and time,
      largest nonzero eigenvalue (closed form and numerical); the spectrum of
      the best network; the simulated twist and in-phase order parameters,
      distance to the twist and its decay rate.

  balnet kuramoto reduce N1.h5 N2.h5 ... -o summary.h5 [--figure mu_vs_n.png]
      best connectivity per n and overall, with the published lower bounds
      15/22 = 0.6818, 0.6828 and 0.6838 on mu_c.

  balnet kuramoto er [--n 50 --p 0.9 --trials 8 ...] -o er.h5
      random initial phases on dense Erdos-Renyi graphs G(n, p) (one graph per
      trial): the in-phase order parameter r(t), which must reach 1.

Time is in units of 1/coupling (unit coupling strength), phases in rad.  The
model, formulas and references are in the docstring of balnet.studies.kuramoto
(``python -c "import balnet.studies.kuramoto.model as k; help(k)"``).

Examples:
  balnet kuramoto run --n 22 -o n22.h5
  mpiexec -n 2 balnet kuramoto run --n 308 --set time_limit=300 -o n308.h5
  balnet kuramoto reduce n22.h5 n44.h5 n308.h5 -o summary.h5 --figure mu_vs_n.png
"""
from __future__ import annotations

from ..studies.kuramoto.model import ERParams, KuramotoParams
from ..studies.kuramoto.output import reduce_runs, run_cases, run_er
from ._common import add_common, add_inputs, add_record_flags, collect_records, progress_enabled, subcommands

NAME = "kuramoto"
HELP = "Kuramoto oscillators: stable twisted states on circulant networks (MILP), simulations (HDF5)"
ORDER = 70


def add_arguments(p):
    sub = subcommands(p)
    r = sub("run", "MILP over the twists of one n, numerical re-check, certificate, simulation",
            "Densest circulant graphs on n nodes with a strictly stable q-twisted state, per q.")
    add_common(r)
    r.add_argument("--figure", metavar="PNG", help="also draw the simulation of the best network")
    add_record_flags(r, KuramotoParams, "kuramoto")

    d = sub("reduce", "best connectivity per n and overall (HDF5 + figure mu vs n)",
            "Reduce `balnet kuramoto run` files (one or more per n) to the best mu per n and overall.")
    add_inputs(d, "RUN.h5", "files of `balnet kuramoto run` (kind=kuramoto)", figure="also draw mu vs n with the published bounds")

    e = sub("er", "random phases on dense Erdos-Renyi graphs: in-phase synchrony",
            "In-phase synchrony from random phases on G(n, p), one graph per trial.")
    add_common(e)
    add_record_flags(e, ERParams, "erdos-renyi")


def run(args) -> int:
    if args.what == "run":
        (par,) = collect_records(args, [KuramotoParams], {"kuramoto": KuramotoParams})
        run_cases(par, args.output, progress=progress_enabled(args), command="balnet kuramoto run", figure=args.figure)
    elif args.what == "reduce":
        reduce_runs(args.files, args.output, figure=args.figure)
    else:  # "er": the sub-parser admits no other action
        (par,) = collect_records(args, [ERParams], {"er": ERParams})
        run_er(par, args.output, command="balnet kuramoto er")
    return 0
