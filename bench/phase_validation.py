"""Validation of the phase classifier against a reference labelling from long runs (a script, not a test).

For every point of a (g, J0) grid of critically balanced tanh networks it writes, with the same root
seed (hence the same couplings, initial states and the same trajectory over the first T):

* ``run.h5`` / ``lyap.h5``: the run the default classifier sees (``T``, ``t_warmup``; Lyapunov
  ``k = 1`` with ``t_window`` windows);
* ``ref_run.h5`` / ``ref_lyap.h5``: the same trajectories continued to ``10 T`` (``--ref-factor``),
  with lambda_max over ``10 T`` (bootstrap interval over its windows).

``evaluate`` then labels every trajectory from the long runs and the eigenvalues of J
(:func:`balnet.phases.validation.reference_labels`), classifies the short runs with and without the
Lyapunov files (:func:`balnet.phases.diagram.classify_run`) and prints per-class precision and recall
(:func:`balnet.phases.validation.scores`) as the Markdown tables of docs/phases.md.

Usage:
  python bench/phase_validation.py generate OUTDIR [--N 200 --realizations 8 --g 0.5 1.2 2.0 --J0 0 1 2]
  python bench/phase_validation.py evaluate OUTDIR [--json scores.json]
Cost at the defaults (N = 200, 3 x 3 points x 8 realizations, T = 100, reference 1000; Lyapunov with the cheap "gain" macro FTLE): about 25 min on one core.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from balnet.chaos.lyapunov import LyapunovParams
from balnet.commands.lyapunov import run_lyapunov
from balnet.commands.simulate import run_simulation
from balnet.engine.params import from_mapping, NetworkParams, SimulationParams
from balnet.phases.validation import evaluate_grid, markdown_tables


def point_dir(out, g, J0):
    return Path(out) / f"g~{g:g}" / f"J0~{J0:g}"


def generate(a) -> None:
    for long in (False, True):  # every short run first: the cheap half is usable early
        for g in a.g:
            for J0 in a.J0:
                d = point_dir(a.out, g, J0)
                d.mkdir(parents=True, exist_ok=True)
                T = a.T * (a.ref_factor if long else 1)
                net = from_mapping(NetworkParams, dict(N=a.N, g=g, J0=J0, balance=1.0, gain="tanh"))
                sim = from_mapping(SimulationParams, dict(T=T, t_warmup=a.t_warmup, dt=a.dt, n_record=a.n_record,
                                                          realizations=a.realizations, seed=a.seed, backend="numpy"))
                lyap = from_mapping(LyapunovParams, dict(k=1, t_window=a.t_window * (2 if long else 1), t_ons=1.0, macro_method="gain", n_boot=1000))
                pre = "ref_" if long else ""
                for name, fn in ((f"{pre}run.h5", lambda p: run_simulation(net, sim, p)),
                                 (f"{pre}lyap.h5", lambda p: run_lyapunov(net, sim, lyap, p))):
                    p = d / name
                    if p.exists():
                        continue
                    t0 = time.perf_counter()
                    fn(p)
                    print(f"{p}: {time.perf_counter() - t0:.1f} s", flush=True)


def evaluate(a) -> None:
    res = evaluate_grid(sorted(Path(a.out).glob("g~*/J0~*")))
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(markdown_tables(res))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1, default=lambda v: v.tolist() if hasattr(v, "tolist") else float(v)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("out")
    g.add_argument("--N", type=int, default=200)
    g.add_argument("--realizations", type=int, default=8)
    g.add_argument("--g", type=float, nargs="+", default=[0.5, 1.2, 2.0])
    g.add_argument("--J0", type=float, nargs="+", default=[0.0, 1.0, 2.0])
    g.add_argument("--T", type=float, default=100.0)
    g.add_argument("--t-warmup", type=float, default=50.0)
    g.add_argument("--dt", type=float, default=0.1)
    g.add_argument("--n-record", type=int, default=20)
    g.add_argument("--t-window", type=float, default=10.0)
    g.add_argument("--ref-factor", type=float, default=10.0)
    g.add_argument("--seed", type=int, default=1)
    e = sub.add_parser("evaluate")
    e.add_argument("out")
    e.add_argument("--json", default=None)
    a = p.parse_args()
    generate(a) if a.cmd == "generate" else evaluate(a)


if __name__ == "__main__":
    main()
