"""Cost of one dual-sampling Gibbs sweep (balnet.studies.dsnn) against its floors and a straightforward implementation.

  python3 bench/bench_dsnn.py --quick
  python3 bench/bench_dsnn.py --threads 1
  python3 bench/bench_dsnn.py --backend cupy --hidden 256 1024 --B 2000 20000

Per (hidden width H, rows B; input 64, output 10, one hidden layer, inputs and outputs clamped as in
learning) one table row:

* ``sweep``: ``gibbs_sweep`` (collapsed neuron update one unit at a time, truncated-normal membranes,
  one Cholesky per layer for the synapses);
* ``GEMM``: the preactivation GEMMs of the network (``B x 64 x H`` and ``B x H x 10``), the BLAS floor;
* ``logPhi``: the log-CDF evaluations the collapsed update cannot avoid, one per row, unit and unit of
  the layer above (``B H 10``), in one vectorized call: the transcendental floor of the algorithm
  (``gibbs_neurons`` keeps log Phi of the current states and evaluates only the flipped state);
* ``naive``: the same exact conditional written the obvious way, recomputing the layer above's
  preactivations with one GEMM per unit and state (``2 H`` GEMMs of ``B x H x 10`` and ``2 B H 10``
  log-CDFs per sweep), run on the first 16 units and scaled to H.

Ratios ``floor/sweep`` near 1 mean the sweep costs what its floor costs.  Every timing is the minimum over
interleaved rounds (``bench_simulate.interleaved``, at least ``--rounds``).
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_simulate import interleaved, machine_lines, set_threads  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--B", type=int, nargs="+", default=[500, 2000])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    set_threads(a.threads)
    if a.quick:
        a.hidden, a.B, a.rounds = [64], [500], 2
    import numpy as np

    from balnet.engine.backend import get_xp, scipy_special
    from balnet.studies.dsnn import core as dsnn

    xp = get_xp(a.backend)
    sp = scipy_special(xp)

    print("\n".join(machine_lines(xp)))
    print(f"backend {a.backend}; layers 64 -> H -> 10, float64\n")
    print("| H | B | sweep [ms] | GEMM [ms] | GEMM/sweep | logPhi [ms] | logPhi/sweep | naive [ms] | naive/sweep |")
    print("|---|---|---|---|---|---|---|---|---|")
    for H in a.hidden:
        for B in a.B:
            rng = np.random.default_rng(0)
            sizes = (64, H, 10)
            net = dsnn.init_net(sizes, rng, input_model=False, xp=xp)
            x = rng.random((B, 64))
            Y = dsnn.one_hot(rng.integers(0, 10, B), 10)
            S = dsnn._clamped_state(net, x, Y, rng)
            free = [None, np.ones(B, bool), None]
            arg = xp.asarray(rng.standard_normal((B, H * 10)))
            n_naive = min(16, H)

            def sweep():
                dsnn.gibbs_sweep(net, S, free, rng)

            def gemm():
                dsnn.preactivations(net, S)

            def logphi():
                sp.log_ndtr(arg)

            def naive():
                Wn = net.W[2]
                X1 = dsnn._design(S, 2)
                sig = 2.0 * S[2] - 1.0
                A1 = dsnn._design(S, 1) @ net.W[1].T
                for i in range(n_naive):
                    lp = []
                    for v in (0.0, 1.0):
                        X1[:, i] = v
                        lp.append(sp.log_ndtr(sig * (X1 @ Wn.T)).sum(1))
                    logit = sp.log_ndtr(A1[:, i]) - sp.log_ndtr(-A1[:, i]) + lp[1] - lp[0]
                    X1[:, i] = (xp.asarray(rng.random(B)) < sp.expit(logit)).astype(float)

            t = interleaved([sweep, gemm, logphi, naive], xp, min_time=0.2, min_rounds=a.rounds)
            tn = t[3] * H / n_naive
            print(f"| {H} | {B} | {t[0] * 1e3:.1f} | {t[1] * 1e3:.2f} | {t[1] / t[0]:.4f} | {t[2] * 1e3:.1f} | "
                  f"{t[2] / t[0]:.2f} | {tn * 1e3:.0f} | {tn / t[0]:.1f} |", flush=True)
    print(f"\nload at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
