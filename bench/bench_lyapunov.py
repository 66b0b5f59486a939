"""Cost of the tangent dynamics against the GEMM it needs (a script, not a test).

For each configuration it times, side by side in one process:

* ``gemm``: the batched matmul one RK4 stage needs, ``(R, B (1 + K), N) x (R, N, N)``
  (state row + K tangent rows per trial; for R = 1 this is the
  ``(B K, N) x (N, N)`` GEMM plus the state row);
* ``gemm_flat``: the plain ``(R B K, N) x (N, N)`` matmul (one shared J);
* ``step``: one joint RK4 step of (x, Q) through :func:`balnet.chaos.lyapunov.joint_field`
  (4 stages, fused GEMM, no QR);
* ``step_jvp``: the same step through the generic path that calls
  ``RateNetwork.__call__`` and ``RateNetwork.jvp`` separately;
* ``qr``: one batched re-orthonormalization of the ``(R, B, K, N)`` frame.

The five contenders of a configuration are timed **interleaved** (each round
runs every one once; ``bench_simulate.interleaved_stats``), so background load
hits them alike; the table gives the minimum and the median over rounds and
the ratios ``step / (4 gemm)`` (1.0 = the step costs exactly its four GEMMs)
and ``qr / step`` from the minima (median ratios in brackets).  Absolute times
are for this machine only.

Usage: python bench/bench_lyapunov.py [--backend numpy|cupy] [--quick] [--threads N]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_simulate import interleaved_stats, machine_lines, set_threads  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="numpy")
    ap.add_argument("--dtype", default="float64")
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    ap.add_argument("--threads", type=int, default=None, help="BLAS threads (set before numpy loads)")
    ap.add_argument("--N", type=int, nargs="+", default=None, help="network sizes (default 500 1000 2000; quick 250 500)")
    ap.add_argument("--min-time", type=float, default=0.3, help="seconds of measurement per contender")
    a = ap.parse_args(argv)
    set_threads(a.threads)
    import numpy as np

    from balnet.chaos.lyapunov import _GenericJointField, joint_field, orthonormalize
    from balnet.engine.backend import get_xp
    from balnet.engine.integrators import RK4
    from balnet.model.dynamics import RateNetwork, Tanh

    xp = get_xp(a.backend)
    dtype = np.dtype(a.dtype)
    rng = np.random.default_rng(0)
    Ns = a.N or ((250, 500) if a.quick else (500, 1000, 2000))
    Ks = (1, 8) if a.quick else (1, 8, 32)
    print(f"# balnet bench_lyapunov  backend={xp.__name__} dtype={dtype}")
    for line in machine_lines(xp):
        print("# " + line)
    print("# ms: min / median over interleaved rounds; ratios from the minima [medians]; absolute times: this machine only")
    hdr = ("| N | R | B | K | gemm ms | flat ms | step ms | jvp ms | qr ms | step/4gemm | jvp/4gemm | qr/step |")
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    for N in Ns:
        for R, B in ((1, 4), (2, 4)):
            J = xp.asarray((rng.standard_normal((R, N, N)) * 2 / np.sqrt(N)).astype(dtype))
            f = RateNetwork(J, Tanh(), xp=xp)
            for K in Ks:
                x = xp.asarray(rng.standard_normal((R, B, N)).astype(dtype))
                Q = xp.asarray(orthonormalize(rng.standard_normal((R, B, K, N)), np)[0].astype(dtype))
                Y = xp.ascontiguousarray(xp.concatenate([x[..., None, :], Q], axis=-2))
                A = xp.asarray(rng.standard_normal((R, B * (1 + K), N)).astype(dtype))
                Af = xp.asarray(rng.standard_normal((R * B * K, N)).astype(dtype))
                J0 = f.JT[0]
                F, G, solver = joint_field(f, 1), _GenericJointField(f, 1), RK4()
                st = interleaved_stats([
                    lambda: xp.matmul(A, f.JT),
                    lambda: xp.matmul(Af, J0),
                    lambda: solver.step(F, 0.0, Y, 0.05),
                    lambda: solver.step(G, 0.0, Y, 0.05),
                    lambda: orthonormalize(Q, xp),
                ], xp, a.min_time)
                (g, gm), (fl, flm), (sp, spm), (jv, jvm), (qr, qrm) = st
                ms = lambda lo, med: f"{lo * 1e3:.3f} / {med * 1e3:.3f}"  # noqa: E731
                print(f"| {N} | {R} | {B} | {K} | {ms(g, gm)} | {ms(fl, flm)} | {ms(sp, spm)} | {ms(jv, jvm)} | {ms(qr, qrm)} "
                      f"| {sp / (4 * g):.2f} [{spm / (4 * gm):.2f}] | {jv / (4 * g):.2f} [{jvm / (4 * gm):.2f}] "
                      f"| {qr / sp:.2f} [{qrm / spm:.2f}] |", flush=True)
    print(f"# load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
