"""Cost of the FIM spectrum: the CT x CT Gram of balnet.studies.fim against its GEMMs and against dense approaches.

  python3 bench/bench_fim.py --quick                     # seconds
  python3 bench/bench_fim.py --M 250 500 1000 2000 --threads 2
  python3 bench/bench_fim.py --backend cupy --M 1000 4000 8000

Prints two Markdown tables.

1. Per width M (L weight layers, C outputs, T samples): the time of ``gram`` + ``eigh`` (what
   ``balnet fim run`` does per seed), the time of the same-shaped plain GEMMs it is made of (forward
   ``T x M x M`` per layer, backward ``CT x M x M`` per hidden layer, Gram blocks ``CT x M x CT`` and
   ``T x M x T``), their ratio (1 = the Gram costs exactly its GEMMs), and what a user without the Gram
   trick would run: build the ``CT x P`` Jacobian explicitly, then ``J J^T`` (``jac``; memory
   ``8 CT P`` bytes).
2. Small M only: the textbook route, the dense ``P x P`` FIM ``J^T J / T`` and ``eigvalsh`` of it, against
   the Gram, with the largest eigenvalue of both (they agree).

Every timing is the minimum over interleaved rounds (``bench_simulate.interleaved``; at least
``--rounds``; the dense FIM: one round); compare ratios within a table.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_simulate import interleaved, machine_lines, set_threads  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--M", type=int, nargs="+", default=[250, 500, 1000, 2000])
    ap.add_argument("--L", type=int, default=3)
    ap.add_argument("--C", type=int, default=2)
    ap.add_argument("--T", type=int, default=10)
    ap.add_argument("--dense-M", type=int, nargs="+", default=[20, 40], help="widths of the dense P x P comparison")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    ap.add_argument("--no-jac", action="store_true", help="skip the explicit-Jacobian contender")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    set_threads(a.threads)
    if a.quick:
        a.M, a.dense_M, a.rounds = [200, 400], [20], 3
    import numpy as np

    from balnet.engine.backend import get_xp, to_numpy
    from balnet.engine.random import FIM, stream
    from balnet.studies.fim import (
        FimParams,
        backward_deltas,
        forward,
        gram,
        init_net,
        sample_inputs,
    )

    xp = get_xp(a.backend)

    def dense_jacobian(net, X, act):
        f, cache = forward(net, X, act, xp=xp)
        Ds = backward_deltas(net, cache, xp=xp)
        C, T = f.shape[1], f.shape[0]
        cols = []
        for D, c in zip(Ds, cache):
            h = c["h"]
            Jw = D[:, :, :, None] * h[None, :, None, :]  # (C, T, M_l, M_{l-1})
            cols += [Jw.reshape(C * T, -1), D.reshape(C * T, -1)]
        return xp.concatenate(cols, axis=1)

    print("\n".join(machine_lines(xp)))
    print(f"backend {a.backend}; L = {a.L}, C = {a.C}, T = {a.T}, tanh, float64\n")
    print("| M | P | gram+eigh [ms] | its GEMMs [ms] | GEMMs/gram | jac+JJ^T [ms] | jac/gram |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for M in a.M:
        p = FimParams(M=M, L=a.L, C=a.C, T=a.T, activation="tanh")
        net = init_net(p, stream(0, 0, FIM, 0), xp=xp)
        X = sample_inputs(p, stream(0, 0, FIM, 1), xp=xp)
        w = p.widths()
        CT = a.C * a.T
        fw = [(xp.asarray(rng.standard_normal((a.T, w[l - 1]))), xp.asarray(rng.standard_normal((w[l - 1], w[l]))))
              for l in range(1, len(w))]
        bw = [(xp.asarray(rng.standard_normal((CT, w[l]))), xp.asarray(rng.standard_normal((w[l], w[l - 1]))))
              for l in range(2, len(w))]
        gd = [xp.asarray(rng.standard_normal((CT, w[l]))) for l in range(1, len(w))]
        gh = [xp.asarray(rng.standard_normal((a.T, w[l - 1]))) for l in range(1, len(w))]

        def gemms():
            for A, B in fw + bw:
                A @ B
            for D in gd:
                D @ D.T
            for h in gh:
                h @ h.T

        def balnet_gram():
            to_numpy(xp.linalg.eigvalsh(gram(net, X, "tanh", xp=xp)))

        def jac():
            J = dense_jacobian(net, X, "tanh")
            to_numpy(xp.linalg.eigvalsh(J @ J.T / a.T))

        fns = [balnet_gram, gemms] + ([] if a.no_jac else [jac])
        t = interleaved(fns, xp, min_time=0.05, min_rounds=a.rounds)
        jt = "" if a.no_jac else f"{t[2] * 1e3:.2f} | {t[2] / t[0]:.1f}"
        print(f"| {M} | {p.n_params()} | {t[0] * 1e3:.2f} | {t[1] * 1e3:.2f} | {t[1] / t[0]:.2f} | {jt} |", flush=True)

    print("\n| M | P | gram+eigh [ms] | dense P x P FIM + eigvalsh [ms] | dense/gram | lambda_max gram | lambda_max dense |")
    print("|---|---|---|---|---|---|---|")
    for M in a.dense_M:
        p = FimParams(M=M, L=a.L, C=a.C, T=a.T, activation="tanh")
        net = init_net(p, stream(0, 0, FIM, 0), xp=xp)
        X = sample_inputs(p, stream(0, 0, FIM, 1), xp=xp)
        out = {}

        def g():
            out["g"] = float(to_numpy(xp.linalg.eigvalsh(gram(net, X, "tanh", xp=xp)))[-1])

        def dense():
            J = dense_jacobian(net, X, "tanh")
            out["d"] = float(to_numpy(xp.linalg.eigvalsh(J.T @ J / a.T))[-1])

        t = interleaved([g, dense], xp, min_time=0.0, min_rounds=1)
        print(f"| {M} | {p.n_params()} | {t[0] * 1e3:.2f} | {t[1] * 1e3:.1f} | {t[1] / t[0]:.0f} | "
              f"{out['g']:.6g} | {out['d']:.6g} |", flush=True)
    print(f"\nload at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
