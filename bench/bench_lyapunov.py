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

It prints the ratios ``step / (4 gemm)`` (1.0 = the step costs exactly its
four GEMMs) and ``qr / step``; absolute times are for this machine only.

Usage: python bench/bench_lyapunov.py [--backend numpy|cupy] [--quick]
"""
from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from balnet.chaos.lyapunov import _GenericJointField, joint_field, orthonormalize
from balnet.engine.backend import get_xp, synchronize
from balnet.engine.integrators import RK4
from balnet.model.dynamics import RateNetwork, Tanh


def timeit(fn, xp, min_time=0.3, min_reps=3):
    fn()
    synchronize(xp)
    reps, t0 = 0, time.perf_counter()
    while True:
        fn()
        reps += 1
        synchronize(xp)
        el = time.perf_counter() - t0
        if el > min_time and reps >= min_reps:
            return el / reps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="numpy")
    ap.add_argument("--dtype", default="float64")
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    a = ap.parse_args(argv)
    xp = get_xp(a.backend)
    dtype = np.dtype(a.dtype)
    rng = np.random.default_rng(0)
    Ns = (250, 500) if a.quick else (500, 1000, 2000)
    Ks = (1, 8) if a.quick else (1, 8, 32)
    print(f"# balnet bench_lyapunov  backend={xp.__name__} dtype={dtype}  machine: {platform.machine()} {platform.processor() or ''}")
    print("# absolute times are for this machine only; ratios are the result")
    hdr = f"{'N':>5} {'R':>2} {'B':>2} {'K':>3} | {'gemm ms':>8} {'flat ms':>8} {'step ms':>8} {'jvp ms':>8} {'qr ms':>7} | {'step/4gemm':>10} {'jvp/4gemm':>9} {'qr/step':>7}"
    print(hdr)
    print("-" * len(hdr))
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
                t_gemm = timeit(lambda: xp.matmul(A, f.JT), xp)
                t_flat = timeit(lambda: xp.matmul(Af, J0), xp)
                t_step = timeit(lambda: solver.step(F, 0.0, Y, 0.05), xp)
                t_jvp = timeit(lambda: solver.step(G, 0.0, Y, 0.05), xp)
                t_qr = timeit(lambda: orthonormalize(Q, xp), xp)
                print(f"{N:5d} {R:2d} {B:2d} {K:3d} | {t_gemm*1e3:8.3f} {t_flat*1e3:8.3f} {t_step*1e3:8.3f} {t_jvp*1e3:8.3f} {t_qr*1e3:7.3f} |"
                      f" {t_step/(4*t_gemm):10.2f} {t_jvp/(4*t_gemm):9.2f} {t_qr/t_step:7.2f}", flush=True)


if __name__ == "__main__":
    main()
