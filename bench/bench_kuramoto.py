"""Cost of the Kuramoto circulant search: MILP wall time per n (all twists) and the RK4 step vs its GEMMs.

  python3 bench/bench_kuramoto.py --quick            # n = 22 66 132, seconds
  python3 bench/bench_kuramoto.py --n 154 220 308 400 --threads 1

Prints a Markdown table: n, twists, total and largest single MILP time, best degree and mu;
then per (B, n) the time of one RK4 step of the batched oscillators against 8 GEMMs
(4 right-hand-side evaluations x (sin, cos) products), the step's floor on this machine.
Every timing is the minimum over ``--rounds`` repetitions (the MILP: a single run).
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[22, 66, 132, 220, 308])
    ap.add_argument("--B", type=int, nargs="+", default=[1, 16, 128])
    ap.add_argument("--sim-n", type=int, nargs="+", default=[308, 1024])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    if a.threads:
        for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[v] = str(a.threads)
    if a.quick:
        a.n, a.B, a.sim_n, a.rounds = [22, 66, 132], [1, 16], [308], 3
    import numpy as np

    from balnet.engine.integrators import RK4
    from balnet.studies.kuramoto import model as K

    print(f"numpy {np.__version__}, threads {os.environ.get('OMP_NUM_THREADS', 'default')}, "
          f"load {os.getloadavg()[0]:.2f}\n")
    print("| n | twists | MILP total [s] | slowest twist [s] | best degree | mu | q |")
    print("|---|---|---|---|---|---|---|")
    for n in a.n:
        rs = [K.max_degree_twisted(n, q) for q in range(1, n // 2 + 1)]
        best = max(rs, key=lambda r: (r.degree, -r.q))
        tot = sum(r.solve_time for r in rs)
        print(f"| {n} | {len(rs)} | {tot:.2f} | {max(r.solve_time for r in rs):.2f} | {best.degree} | "
              f"{best.mu:.5f} | {best.q} |", flush=True)
    print("\n| n | B | RK4 step [ms] | 8 GEMMs [ms] | 8 GEMM/step |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for n in a.sim_n:
        A = K.circulant_adjacency(n, range(1, n // 3))
        for B in a.B:
            th = rng.uniform(0, 2 * np.pi, (B, n))
            f = K.kuramoto_rhs(A)
            s = RK4()
            ts, tg = [], []
            for _ in range(a.rounds):
                t0 = time.perf_counter()
                s.step(f, 0.0, th, 0.01)
                ts.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                for _ in range(8):
                    th @ A
                tg.append(time.perf_counter() - t0)
            print(f"| {n} | {B} | {1e3 * min(ts):.3f} | {1e3 * min(tg):.3f} | {min(tg) / min(ts):.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
