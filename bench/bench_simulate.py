#!/usr/bin/env python3
r"""Simulation step vs the BLAS floor of the same shape, measured side by side.

For every (dtype, N, B) the script times, interleaved round by round on the
same arrays (the minimum over rounds is reported, which is robust to other
load on the machine):

* ``GEMM``: one plain ``matmul(r, J^T, out=...)`` of shape ``(R, B, N) x (R, N, N)``
  (a matrix-vector product for ``B = 1``) -- the floor of one right-hand-side
  evaluation on this machine;
* ``step``: one in-place solver step (``solver.stepper(f, y).step``), the hot
  path of :class:`balnet.Simulation`;
* ``pure``: the allocating ``solver.step(f, t, y, dt)`` for comparison;
* ``run``: :meth:`balnet.Simulation.run` per step, recording population
  activity and 10 neurons every step (the production loop).

An RK4 step makes **4** RHS evaluations, i.e. 4 GEMMs, so the reported ratio is

.. math::
    \text{ratio} = \frac{n_\text{eval}\, t_\text{GEMM}}{t_\text{step}},
    \qquad n_\text{eval} = 4\ (\text{RK4}),\ 1\ (\text{Euler})

(1 = the step costs exactly its GEMMs; target >= 0.8).  The hardware floor
model per RHS evaluation is

.. math::
    t_\text{floor} = R \max\left(\frac{s N^2}{BW}, \frac{2 N^2 B}{F}\right)

where:

* ``s``: bytes per weight (4 for float32, 8 for float64);
* ``BW``: achievable memory bandwidth, measured here as the streaming rate of a
  GEMV on a matrix much larger than the last-level cache (bytes/s);
* ``F``: achievable GEMM rate of this dtype, the best FLOP/s measured in this
  run (a square GEMM and every GEMM of the table);
* ``R, B, N``: realizations, trials, neurons.

``floor/step`` is the achieved fraction of that floor.  Rows marked ``*``
have ``J`` resident in some cache, *as measured*: a GEMV on that
``(R, N, N)`` matrix streams faster than 1.5x the DRAM rate ``BW``; then the
DRAM floor is no bound (the fraction can exceed 1).  The cache size that the
OS reports is printed but not used: a VM may report a host's shared L3
(480 MiB here) that the guest does not have.

Examples::

    python3 bench/bench_simulate.py                       # full table (a few minutes on 2 cores)
    python3 bench/bench_simulate.py --quick               # seconds
    python3 bench/bench_simulate.py --threads 2 --N 2048 --B 16 256 --dtype float32
    python3 bench/bench_simulate.py --backend cupy --N 4096 8192 --B 1 256 1024
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def set_threads(n: int | None) -> None:
    """Set BLAS thread counts through the environment (effective only before numpy is imported)."""
    if not n:
        return
    if "numpy" in sys.modules:
        print(f"warning: numpy already imported; --threads {n} may not take effect", file=sys.stderr)
    for v in THREAD_VARS:
        os.environ[v] = str(n)


# --------------------------------------------------------------------------- machine


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def llc_bytes() -> int:
    """Size of the largest CPU cache (sysfs), 0 if unknown."""
    best = 0
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for d in os.listdir(base):
            try:
                with open(os.path.join(base, d, "size")) as fh:
                    s = fh.read().strip()
            except OSError:
                continue
            mult = {"K": 2**10, "M": 2**20, "G": 2**30}.get(s[-1:], 1)
            best = max(best, int(s.rstrip("KMG")) * mult)
    except (OSError, ValueError):
        pass
    return best


def blas_info() -> str:
    import numpy as np

    try:
        cfg = np.show_config(mode="dicts")
        b = cfg["Build Dependencies"]["blas"]
        extra = b.get("openblas configuration", "")
        return f"{b.get('name', '?')} {b.get('version', '')} {extra}".strip()
    except Exception:  # older numpy: no dict mode
        return "unknown"


def blas_threads() -> str:
    try:
        from threadpoolctl import threadpool_info

        return ", ".join(f"{d['internal_api']}={d['num_threads']}" for d in threadpool_info() if d.get("user_api") == "blas")
    except Exception:
        set_ = {v: os.environ[v] for v in THREAD_VARS if v in os.environ}
        return ", ".join(f"{k}={v}" for k, v in set_.items()) or f"default (cpu count {os.cpu_count()})"


def machine_lines(xp) -> list[str]:
    import numpy as np

    lines = [
        f"CPU: {cpu_model()}; {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} usable cores; "
        f"largest cache reported by the OS {llc_bytes() / 2**20:.0f} MiB (not used: cache residency is measured)",
        f"numpy {np.__version__}; BLAS: {blas_info()}; threads: {blas_threads()}",
        f"python {platform.python_version()}; load average at start {os.getloadavg()[0]:.2f}",
    ]
    if xp is not np:
        props = xp.cuda.runtime.getDeviceProperties(xp.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        lines.append(f"GPU: {name}; CuPy {xp.__version__}")
    return lines


# --------------------------------------------------------------------------- timing


def interleaved(fns, xp, min_time: float = 0.5, min_rounds: int = 3, max_rounds: int = 1000) -> list[float]:
    """Minimum wall time of each callable, measured round-robin (see :func:`interleaved_stats`)."""
    return [lo for lo, _ in interleaved_stats(fns, xp, min_time, min_rounds, max_rounds)]


def interleaved_stats(fns, xp, min_time: float = 0.5, min_rounds: int = 3, max_rounds: int = 1000) -> list[tuple]:
    """``(min, median)`` wall time of each callable over rounds, measured round-robin.

    Each round calls every function once (``inner`` times for fast ones, so a
    measurement lasts >= ~1 ms) and synchronizes the device around it; rounds
    continue until ``min_time`` per function has passed and at least
    ``min_rounds`` were made.  Returns seconds per call.
    """
    import statistics

    from balnet.engine.backend import synchronize

    inner = []
    for f in fns:  # warm-up and calibration
        f()
        synchronize(xp)
        t0 = time.perf_counter()
        f()
        synchronize(xp)
        dt = time.perf_counter() - t0
        inner.append(max(1, int(1e-3 / max(dt, 1e-7))))
    seen = [[] for _ in fns]
    spent = 0.0
    rounds = 0
    while rounds < max_rounds and (rounds < min_rounds or spent < min_time * len(fns)):
        for i, f in enumerate(fns):
            synchronize(xp)
            t0 = time.perf_counter()
            for _ in range(inner[i]):
                f()
            synchronize(xp)
            dt = time.perf_counter() - t0
            spent += dt
            seen[i].append(dt / inner[i])
        rounds += 1
    return [(min(v), statistics.median(v)) for v in seen]


#: bytes of the matrix of the DRAM bandwidth probe (fixed: a reported cache size is not trusted)
PROBE_BYTES = 512 * 2**20


def machine_rates(xp, dtypes, llc: int, min_time: float) -> dict:
    """Achievable GEMM FLOP/s per dtype and streaming GEMV bandwidth (bytes/s) per dtype.

    The bandwidth probe is a GEMV on a fixed :data:`PROBE_BYTES` matrix (2 GiB on a
    GPU), whatever cache size ``llc`` the OS reports (unused, kept for callers).
    """
    import numpy as np

    rng = np.random.default_rng(0)
    out = {}
    on_gpu = xp is not np
    for dt in dtypes:
        n = 4096 if on_gpu else 2048
        A = xp.asarray(rng.standard_normal((n, n)).astype(dt))
        Bm = xp.asarray(rng.standard_normal((n, n)).astype(dt))
        C = xp.empty_like(A)
        (tg,) = interleaved([lambda: xp.matmul(A, Bm, out=C)], xp, min_time, min_rounds=3)
        del A, Bm, C
        # GEMV on a matrix >= 8x the last-level cache (>= 256 MiB): DRAM streaming rate
        itemsize = np.dtype(dt).itemsize
        target = PROBE_BYTES if not on_gpu else 2 * 2**30
        m = int(np.sqrt(target / itemsize))
        M = xp.full((m, m), 0.5, dtype=dt)  # values do not matter for a bandwidth probe
        v = xp.asarray(rng.standard_normal(m).astype(dt))
        o = xp.empty(m, dtype=dt)
        (tv,) = interleaved([lambda: xp.matmul(M, v, out=o)], xp, min_time, min_rounds=3)
        del M
        out[np.dtype(dt).name] = {"F": 2.0 * n**3 / tg, "BW": m * m * itemsize / tv, "gemm_n": n, "gemv_n": m}
    return out


# --------------------------------------------------------------------------- benchmark


def bench_case(dtype: str, N: int, B: int, R: int, solver_name: str, xp, min_time: float, with_run: bool) -> dict:
    import numpy as np

    from balnet.engine.backend import synchronize
    from balnet.engine.integrators import get_solver
    from balnet.engine.params import NetworkParams, SimulationParams
    from balnet.model.simulate import Simulation

    dt = 0.05
    net = NetworkParams(N=N, g=1.5, J0=1.0)
    sim = SimulationParams(T=dt, dt=dt, solver=solver_name, trials=B, realizations=R, dtype=dtype,
                           backend="numpy" if xp is np else "cupy", n_record=10, chunk=1000)
    s = Simulation(net, sim, list(range(R)), xp=xp)
    f, solver = s.f, get_solver(solver_name)
    y0 = s.x0
    y = y0.copy()
    r = f.gain.phi(y0, xp)
    out = xp.empty_like(y0)
    stepper = solver.stepper(f, y)
    ypure = y0.copy()

    def gemm():
        xp.matmul(r, f.JT, out=out)

    def step():
        stepper.step(0.0, y, dt)

    def pure():
        solver.step(f, 0.0, ypure, dt)

    fns = [gemm, step, pure]
    n_run = 0
    if with_run:  # the production loop, same rounds: n_run steps per call (~20 ms, 2..50 steps)
        step()
        t0 = time.perf_counter()
        step()
        synchronize(xp)
        n_run = int(min(50, max(2, round(0.02 / (time.perf_counter() - t0)))))
        s.sim = dataclasses.replace(sim, T=n_run * dt)  # same network and state, n_run steps
        s.n_total = s.sim.n_warmup_steps + s.sim.n_steps
        fns.append(lambda: s.run(lambda chunk: None))
    times = interleaved(fns, xp, min_time)
    t_gemm, t_step, t_pure = times[:3]
    res = dict(dtype=dtype, N=N, B=B, R=R, solver=solver_name, n_eval=4 if solver_name == "rk4" else 1,
               t_gemm=t_gemm, t_step=t_step, t_pure=t_pure, t_run=times[3] / n_run if with_run else float("nan"))
    return res


def gemv_rates(rows: list[dict], xp, min_time: float) -> dict:
    """Measured GEMV streaming rate (bytes/s) of each ``(dtype, N, R)`` of the table: the cache test."""
    out = {}
    for key in sorted({(w["dtype"], w["N"], w["R"]) for w in rows}):
        dt, N, R = key
        M = xp.full((R, N, N), 0.5, dtype=dt)
        v = xp.ones((R, N, 1), dtype=dt)
        o = xp.empty((R, N, 1), dtype=dt)
        (t,) = interleaved([lambda M=M, v=v, o=o: xp.matmul(M, v, out=o)], xp, min_time, min_rounds=3)
        out[key] = M.nbytes / t
        del M, v, o
    return out


def floor_time(row: dict, rates: dict) -> float:
    import numpy as np

    rate = rates[row["dtype"]]
    s = np.dtype(row["dtype"]).itemsize
    N, B, R = row["N"], row["B"], row["R"]
    return row["n_eval"] * R * max(s * N * N / rate["BW"], 2.0 * N * N * B / rate["F"])


def table(rows: list[dict], rates: dict, gemv: dict) -> list[str]:
    import numpy as np

    ne = rows[0]["n_eval"] if rows else 4
    hdr = (f"| dtype | N | B | GEMM ms | step ms | {ne}·GEMM/step | run ms/step | {ne}·GEMM/run | pure ms "
           f"| floor ms | floor/step | Mneuron-steps/s |")
    lines = [hdr, "|" + "|".join(["---"] * (hdr.count("|") - 1)) + "|"]
    for w in rows:
        fl = floor_time(w, rates)
        cached = gemv[(w["dtype"], w["N"], w["R"])] > 1.5 * rates[w["dtype"]]["BW"]
        nsps = w["R"] * w["B"] * w["N"] / w["t_step"] / 1e6
        run = f"{w['t_run'] * 1e3:.3f}" if np.isfinite(w["t_run"]) else "-"
        run_ratio = f"{w['n_eval'] * w['t_gemm'] / w['t_run']:.2f}" if np.isfinite(w["t_run"]) else "-"
        lines.append(
            f"| {w['dtype']} | {w['N']} | {w['B']} | {w['t_gemm'] * 1e3:.3f} | {w['t_step'] * 1e3:.3f} "
            f"| {w['n_eval'] * w['t_gemm'] / w['t_step']:.2f} | {run} | {run_ratio} | {w['t_pure'] * 1e3:.3f} "
            f"| {fl * 1e3:.3f}{'*' if cached else ''} | {fl / w['t_step']:.2f} | {nsps:.1f} |"
        )
    return lines


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Times are minima over interleaved rounds; see the module docstring for the floor model.")
    p.add_argument("--N", type=int, nargs="+", default=[1024, 2048, 4096], help="network sizes (default: %(default)s)")
    p.add_argument("--B", type=int, nargs="+", default=[1, 16, 256], help="trials per realization (default: %(default)s)")
    p.add_argument("--R", type=int, default=1, help="realizations batched together (default: %(default)s)")
    p.add_argument("--dtype", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    p.add_argument("--solver", default="rk4", choices=["rk4", "euler"])
    p.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (sets OMP/OPENBLAS/MKL_NUM_THREADS before numpy loads)")
    p.add_argument("--min-time", type=float, default=0.4, help="seconds of measurement per timed function (default: %(default)s)")
    p.add_argument("--no-run", action="store_true", help="skip the Simulation.run column")
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke run: N 256 1024, B 1 16, min-time 0.05")
    p.add_argument("--json", metavar="FILE", help="also write the measurements as JSON")
    a = p.parse_args(argv)
    if a.quick:
        a.N, a.B, a.min_time = [256, 1024], [1, 16], 0.05
    return a


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    set_threads(args.threads)
    import numpy as np

    from balnet.engine.backend import get_xp

    xp = get_xp(args.backend)
    llc = llc_bytes() if xp is np else 0
    t_start = time.time()
    head = machine_lines(xp)
    for line in head:
        print("# " + line)
    rates = machine_rates(xp, args.dtype, llc, args.min_time)
    rows = []
    for dtype in args.dtype:
        for N in args.N:
            for B in args.B:
                rows.append(bench_case(dtype, N, B, args.R, args.solver, xp, args.min_time, not args.no_run))
                print(f"#   done {dtype} N={N} B={B}", file=sys.stderr, flush=True)
    again = machine_rates(xp, args.dtype, llc, args.min_time)  # again at the end: keep the best of both
    for dtype in args.dtype:  # F: best GEMM rate seen anywhere in this run
        seen = [2.0 * w["N"] ** 2 * w["B"] * w["R"] / w["t_gemm"] for w in rows if w["dtype"] == dtype]
        rates[dtype]["F"] = max([rates[dtype]["F"], again[dtype]["F"], *seen])
        rates[dtype]["BW"] = max(rates[dtype]["BW"], again[dtype]["BW"])
    for dtype, r in rates.items():
        print(f"# {dtype}: achievable GEMM F = {r['F'] / 1e9:.1f} GFLOP/s (best of a {r['gemm_n']}^3 GEMM, start and end, "
              f"and the table); streaming GEMV BW = {r['BW'] / 1e9:.1f} GB/s ({r['gemv_n']}^2 matrix, best of start and end)")
    n_eval = 4 if args.solver == "rk4" else 1
    print(f"# solver {args.solver}: {n_eval} RHS evaluation(s) = {n_eval} GEMM(s) per step; R = {args.R}; "
          f"ratio {n_eval}·GEMM/step: 1 = step costs exactly its GEMMs (target >= 0.8)")
    gemv = gemv_rates(rows, xp, args.min_time)
    print(f"# floor per step = {n_eval} R max(s N^2/BW, 2 N^2 B/F); * = J measured cache-resident "
          f"(its GEMV streams > 1.5 BW; the reported cache size is not used)")
    print("# GEMV rate per (dtype, N): " + ", ".join(f"{d} {n}: {r / 1e9:.0f} GB/s" for (d, n, _), r in gemv.items()))
    for line in table(rows, rates, gemv):
        print(line)
    print(f"# load average at end {os.getloadavg()[0]:.2f}; wall time {time.time() - t_start:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": head, "rates": rates, "rows": rows, "argv": sys.argv[1:],
                       "gemv": {f"{d} {n} {r}": v for (d, n, r), v in gemv.items()}}, fh, indent=1)
    return rows


if __name__ == "__main__":
    main()
