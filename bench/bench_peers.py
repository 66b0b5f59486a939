#!/usr/bin/env python3
r"""balnet vs ReservoirPy vs plain numpy loops on the same dense leaky-tanh network.

All contenders integrate the same network, realization 0 of
``NetworkParams(N, g=1.5, J0=1.0)`` (dense ``J``), with forward Euler at
``dt = lr`` for the same number of steps and ``B`` trials, and are compared in
**neuron-steps per second** (``B N steps / wall time``), measured in the same
run (best of ``--repeat`` interleaved rounds):

* ``balnet``: :meth:`balnet.Simulation.run` (solver ``euler``), batching the
  ``B`` trials into one GEMM per step and recording, every step, the
  population activity and 10 neurons (its normal output);
* ``numpy/trial``: the loop a user would write, one trial at a time,
  ``x = x + dt * (-x + J @ np.tanh(x))``;
* ``numpy/batch``: the same loop over a ``(B, N)`` array,
  ``X = X + dt * (-X + np.tanh(X) @ J.T)``;
* ``ReservoirPy``: ``reservoirpy.nodes.Reservoir(W=J, lr=dt, activation="tanh")``
  with zero input and bias, run on one trial at a time (its multi-series
  mode runs series one after another too); it records every state.

ReservoirPy's update is :math:`s_{n+1} = (1-lr)\,s_n + lr\,\tanh(W s_n)`.
With :math:`x_n = W s_n` it becomes
:math:`x_{n+1} = x_n + lr\,(-x_n + W \tanh(x_n))`, i.e. balnet's Euler step
for :math:`\dot x = -x + J\phi(x)` with ``J = W`` and ``dt = lr``.  So every
contender starts from ``x0 = J s0`` and the script checks that the final states
agree (column ``max|dx|``: largest deviation from balnet, including
ReservoirPy's ``J s_T``).

Examples::

    python3 bench/bench_peers.py                     # N 1024 2048, B 1 16 128, 100 steps (~2-3 min on 2 cores)
    python3 bench/bench_peers.py --quick
    python3 bench/bench_peers.py --N 4096 --B 1 64 --steps 100 --threads 2
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_simulate import machine_lines, set_threads  # noqa: E402


def setup(N: int, B: int, steps: int, dt: float, dtype: str, seed: int = 0, record_every: int = 1):
    """Network, initial states and a balnet Simulation for one case."""
    import numpy as np

    from balnet.engine.params import NetworkParams, SimulationParams
    from balnet.engine.random import stream
    from balnet.model.network import realization_couplings
    from balnet.model.simulate import Simulation

    net = NetworkParams(N=N, g=1.5, J0=1.0)
    J = realization_couplings(net, seed, 0, dtype=np.dtype(dtype))
    s0 = (0.5 * stream(seed, 0, 7).standard_normal((B, N))).astype(dtype)  # ReservoirPy state
    x0 = s0 @ J.T  # x0[b] = J s0[b]
    sim = SimulationParams(T=steps * dt, dt=dt, solver="euler", trials=B, dtype=dtype, backend="numpy", seed=seed,
                           n_record=10, chunk=1000, record_every=record_every)
    s = Simulation(net, sim, [0], x0=x0[None])
    assert np.array_equal(s.f.JT[0].T, J)
    return J, s0, x0, s


def run_balnet(s, x0):
    s.x = s.xp.asarray(x0[None].copy())
    s.run(lambda chunk: None)
    return s.final_state[0]


def run_numpy_trial(J, x0, steps, dt):
    import numpy as np

    out = np.empty_like(x0)
    for b in range(x0.shape[0]):
        x = x0[b].copy()
        for _ in range(steps):
            x = x + dt * (-x + J @ np.tanh(x))
        out[b] = x
    return out


def run_numpy_batch(J, x0, steps, dt):
    import numpy as np

    X = x0.copy()
    JT = J.T
    for _ in range(steps):
        X = X + dt * (-X + np.tanh(X) @ JT)
    return X


def make_reservoir(J, dt):
    import numpy as np
    from reservoirpy.nodes import Reservoir

    N = J.shape[0]
    res = Reservoir(W=J, Win=np.zeros((N, 1), dtype=J.dtype), bias=np.zeros(N, dtype=J.dtype), lr=dt,
                    activation="tanh", input_dim=1, dtype=J.dtype)
    res.initialize(np.zeros((1, 1), dtype=J.dtype))
    return res


def run_reservoirpy(res, J, s0, steps):
    import numpy as np

    u = np.zeros((steps, 1), dtype=J.dtype)
    out = np.empty_like(s0)
    for b in range(s0.shape[0]):
        res.state = {"out": s0[b].copy()}
        states = res.run(u)
        out[b] = J @ states[-1]  # x_T = J s_T
    return out


def bench_case(N, B, steps, dt, dtype, repeat, with_rpy=True, with_trial=True, record_every=1):
    import numpy as np

    J, s0, x0, s = setup(N, B, steps, dt, dtype, record_every=record_every)
    res = make_reservoir(J, dt) if with_rpy else None
    fns = {
        "balnet": lambda: run_balnet(s, x0),
        "numpy/batch": lambda: run_numpy_batch(J, x0, steps, dt),
    }
    if with_trial:
        fns["numpy/trial"] = lambda: run_numpy_trial(J, x0, steps, dt)
    if with_rpy:
        fns["ReservoirPy"] = lambda: run_reservoirpy(res, J, s0, steps)
    best = {k: float("inf") for k in fns}
    final = {}
    for _ in range(repeat):  # interleaved rounds; keep the fastest of each
        for k, f in fns.items():
            t0 = time.perf_counter()
            final[k] = f()
            best[k] = min(best[k], time.perf_counter() - t0)
    ref = final["balnet"]
    dev = max(float(np.max(np.abs(v - ref))) for k, v in final.items() if k != "balnet")
    work = B * N * steps
    return {"N": N, "B": B, "steps": steps, "dtype": dtype, "times": best,
            "rate": {k: work / t for k, t in best.items()}, "max_dev": dev, "scale": float(np.max(np.abs(ref)))}


def table(rows, missing=""):
    """Markdown table; a peer that could not run shows ``missing`` in its columns (never a dropped column)."""
    names = ["balnet", "numpy/batch", "numpy/trial", "ReservoirPy"]
    hdr = ("| dtype | N | B | steps | " + " | ".join(f"{n} Mns/s" for n in names)
           + " | balnet/ReservoirPy | balnet/numpy-trial | balnet/numpy-batch | max abs dx (max abs x) |")
    lines = [hdr, "|" + "|".join(["---"] * (hdr.count("|") - 1)) + "|"]
    for r in rows:
        rate = r["rate"]
        cells = [f"{rate[n] / 1e6:.1f}" if n in rate else (missing or "-") for n in names]
        ratio = [f"{rate['balnet'] / rate[n]:.1f}x" if n in rate else (missing or "-")
                 for n in ("ReservoirPy", "numpy/trial", "numpy/batch")]
        lines.append(f"| {r['dtype']} | {r['N']} | {r['B']} | {r['steps']} | " + " | ".join(cells) + " | "
                     + " | ".join(ratio) + f" | {r['max_dev']:.1e} ({r['scale']:.1f}) |")
    return lines


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--N", type=int, nargs="+", default=[1024, 2048], help="network sizes (default: %(default)s)")
    p.add_argument("--B", type=int, nargs="+", default=[1, 16, 128], help="trials (default: %(default)s)")
    p.add_argument("--steps", type=int, default=100, help="Euler steps per trial (default: %(default)s)")
    p.add_argument("--record-every", type=int, default=1,
                   help="balnet records population activity and 10 neurons every k steps (default: %(default)s)")
    p.add_argument("--dt", type=float, default=0.1, help="step = ReservoirPy leak rate lr [tau] (default: %(default)s)")
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--repeat", type=int, default=3, help="interleaved rounds, best kept (default: %(default)s)")
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (set before numpy loads)")
    p.add_argument("--no-reservoirpy", action="store_true", help="skip ReservoirPy (e.g. not installed)")
    p.add_argument("--quick", action="store_true", help="smoke run: N 256 512, B 1 4, 50 steps, 1 round")
    a = p.parse_args(argv)
    if a.quick:
        a.N, a.B, a.steps, a.repeat = [256, 512], [1, 4], 50, 1
    return a


def main(argv=None):
    args = parse_args(argv)
    set_threads(args.threads)
    import numpy as np

    with_rpy = not args.no_reservoirpy
    missing, note = ("skipped", "# ReservoirPy skipped (--no-reservoirpy): its columns say 'skipped'") if not with_rpy else ("", "")
    if with_rpy:
        try:
            import reservoirpy

            rpy_version = reservoirpy.__version__
        except ImportError:
            with_rpy, rpy_version = False, None
            missing = "missing"
            note = ("# ReservoirPy is not installed: its columns say 'missing' "
                    "(python3 -m pip install -e \".[bench]\" installs it)")
            print(note, file=sys.stderr)
    t_start = time.time()
    for line in machine_lines(np):
        print("# " + line)
    if with_rpy:
        print(f"# ReservoirPy {rpy_version}")
    else:
        print(note)
    print(f"# dense leaky-tanh network, Euler dt = lr = {args.dt}; Mns/s = million neuron-steps per second "
          f"(B N steps / wall time, best of {args.repeat}); balnet records every {args.record_every} step(s), "
          f"ReservoirPy every step, the numpy loops never")
    rows = []
    for N in args.N:
        for B in args.B:
            rows.append(bench_case(N, B, args.steps, args.dt, args.dtype, args.repeat, with_rpy,
                                   record_every=args.record_every))
            print(f"#   done N={N} B={B}", file=sys.stderr, flush=True)
    for line in table(rows, missing):
        print(line)
    print(f"# load average at end {os.getloadavg()[0]:.2f}; wall time {time.time() - t_start:.0f} s")
    return rows


if __name__ == "__main__":
    main()
