#!/usr/bin/env python3
r"""Row-partitioned networks: strong scaling, compute/communication split, peak memory per rank.

Run under the MPI launcher once per rank count; every rank builds its rows of
one float32 network (:func:`balnet.model.simulate.build_network` with a row
communicator), then times ``--steps`` RK4 steps of ``B`` trials through the
production stepper.  The ``Allgatherv`` of each stage is timed separately
(wall time inside the call, including the wait for the slowest rank), so

* ``step``: wall time per RK4 step (max over ranks);
* ``comm``: time per step inside ``Allgatherv`` (max over ranks);
* ``compute = step - comm``;
* ``draw``: seconds to draw this rank's rows of ``J``;
* ``rss``: peak resident memory per rank (max over ranks), GiB.

Examples::

    mpiexec -n 1 python3 bench/bench_partition.py --N 8192 16384
    mpiexec -n 2 python3 bench/bench_partition.py --N 8192 16384
    python3 bench/bench_partition.py --table          # run both and print the markdown table

The step is memory-bound at ``B = 1`` (a matrix-vector product streams
``J``); on a machine shared with other jobs the timings are noisy: the
minimum over ``--repeats`` rounds is reported.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def worker(a) -> list[dict]:
    from balnet.engine.integrators import RK4
    from balnet.engine.parallel import get_comm
    from balnet.engine.params import NetworkParams
    from balnet.model import partitioned
    from balnet.model.simulate import build_network

    comm = get_comm()
    rows = []
    for N in a.N:
        net = NetworkParams(N=N, g=1.5, J0=1.0)
        comm.barrier()
        t0 = time.perf_counter()
        f = build_network(net, [0], 0, np, np.dtype(a.dtype), rows=comm)
        draw = time.perf_counter() - t0
        n = f.hi - f.lo
        x = np.random.default_rng(comm.rank).standard_normal((1, a.B, n)).astype(a.dtype)
        st = RK4().stepper(f, x)
        spent = [0.0]
        orig = partitioned.allgather_last

        def timed(*args, orig=orig, spent=spent, **kw):
            t = time.perf_counter()
            out = orig(*args, **kw)
            spent[0] += time.perf_counter() - t
            return out

        partitioned.allgather_last = timed
        best_step, best_comm = np.inf, np.inf
        for _ in range(a.repeats):
            st.step(0.0, x, 0.01)  # warm
            comm.barrier()
            spent[0] = 0.0
            t = time.perf_counter()
            for _ in range(a.steps):
                st.step(0.0, x, 0.01)
            el = (time.perf_counter() - t) / a.steps
            c = spent[0] / a.steps
            el, c = comm.allreduce(el, op=_max()) if comm.size > 1 else el, comm.allreduce(c, op=_max()) if comm.size > 1 else c
            if el < best_step:
                best_step, best_comm = el, c
        partitioned.allgather_last = orig
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30
        if comm.size > 1:
            rss, draw = comm.allreduce(rss, op=_max()), comm.allreduce(draw, op=_max())
        rows.append({"N": N, "P": comm.size, "B": a.B, "dtype": a.dtype, "step": best_step, "comm": best_comm,
                     "draw": draw, "rss": rss})
        del f, st
    if comm.rank == 0:
        print(json.dumps(rows))
    return rows


def _max():
    from mpi4py import MPI

    return MPI.MAX


def table(a) -> None:
    res = []
    for P in a.P:
        cmd = ["mpiexec", "-n", str(P), sys.executable, __file__, "--N", *map(str, a.N), "--B", str(a.B),
               "--steps", str(a.steps), "--repeats", str(a.repeats), "--dtype", a.dtype]
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
        res += json.loads(out.strip().splitlines()[-1])
    base = {r["N"]: r["step"] for r in res if r["P"] == 1}
    print("| N | ranks | B | step ms | compute ms | comm ms | speed-up | draw s | peak RSS/rank GiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted(res, key=lambda r: (r["N"], r["P"])):
        sp = base.get(r["N"], np.nan) / r["step"]
        print(f"| {r['N']} | {r['P']} | {r['B']} | {r['step']*1e3:.1f} | {(r['step']-r['comm'])*1e3:.1f} | "
              f"{r['comm']*1e3:.2f} | {sp:.2f} | {r['draw']:.1f} | {r['rss']:.2f} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--N", type=int, nargs="+", default=[8192, 16384])
    ap.add_argument("--P", type=int, nargs="+", default=[1, 2], help="rank counts (with --table)")
    ap.add_argument("--B", type=int, default=1, help="trials (columns of the GEMM)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--table", action="store_true", help="launch mpiexec for every --P and print a markdown table")
    a = ap.parse_args(argv)
    if a.table:
        table(a)
    else:
        worker(a)


if __name__ == "__main__":
    main()
