"""Macro FTLE vs offset-free macro growth rate: dependence on window length and N, and repeatability.

A measurement script (not a test, not a speed benchmark): it produces the tables of
docs/macro_ftle.md.  For each setting (J0, g) and network size N it measures
``R`` realizations x ``B`` trials with :func:`balnet.chaos.lyapunov.lyapunov_run`
(k = 1, ``t_window = L_max``), and from the stored series
:math:`y(t) = \\log|\\delta\\nu(t)/\\delta\\nu(0)|` of every window re-analyses every shorter window
length ``L`` as a prefix (:func:`balnet.chaos.statistics.macro_window_curves`):

* ``ftle``: the macro FTLE ``y(L)/L`` as stored today (``ftle_macro``);
* ``growth``: the offset-free growth rate (least-squares slope over ``t >= L/2``, ``macro_growth``);
* ``offset``: the start-direction offset ``a`` (intercept, ``macro_offset``).

Realizations are classed by their lambda_max (mean over trials): fixed point
(< -0.02), oscillating/marginal (|lambda_max| <= 0.02), chaotic (> 0.02).  Table 1 gives, per
N, class and L, the means over realizations of ``ftle - lambda_max``, ``growth - lambda_max``,
``L (ftle - lambda_max)`` and ``a``.  Table 2 gives the intra-class correlation (realizations as
groups, trials x windows as repeats; :func:`balnet.chaos.statistics.icc`) per setting, N and L.

Usage (about 20 min on a loaded 2-core machine, N = 2000 dominating):
  OMP_NUM_THREADS=1 python3 bench/macro_ftle.py [--quick] [--out macro_ftle.npz]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from balnet.chaos.lyapunov import LyapunovParams, lyapunov_run
from balnet.chaos.statistics import icc, macro_window_curves
from balnet.engine.params import NetworkParams, SimulationParams

CLASSES = ("fixed point", "oscillating", "chaotic")


def classify(lam: np.ndarray, thr: float = 0.02) -> np.ndarray:
    return np.where(lam < -thr, 0, np.where(lam > thr, 2, 1))


def measure(J0, g, N, R, B, T, L_max, dt, t_warmup, seed):
    net = NetworkParams(N=N, J0=J0, g=g)
    sim = SimulationParams(T=T, t_warmup=t_warmup, dt=dt, trials=B, seed=seed, backend="numpy")
    ly = LyapunovParams(k=1, t_window=L_max, t_warmup_tangent=20.0, n_boot=0)
    return lyapunov_run(net, sim, ly, list(range(R)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N 250 500 only, fewer realizations (about 1 min)")
    ap.add_argument("--out", default=None, help="also save the raw curves (npz)")
    ap.add_argument("--N", nargs="+", type=int, default=[250, 500, 1000, 2000], help="network sizes")
    ap.add_argument("--R", nargs="+", type=int, default=[8, 8, 6, 3], help="realizations per size")
    ap.add_argument("--settings", nargs="+", default=["2,2"], metavar="J0,g",
                    help="(J0, g) settings (default 2,2: fixed-point, oscillating and chaotic realizations side by side)")
    args = ap.parse_args(argv)
    settings = [tuple(map(float, s.split(","))) for s in args.settings]
    sizes = dict(zip(args.N, args.R)) if not args.quick else {250: 4, 500: 4}
    lengths = (10.0, 20.0, 50.0, 100.0)
    B, T, L_max, dt, t_warmup = 2, 200.0, 100.0, 0.2, 50.0
    rows, icc_rows, raw = [], [], {}
    t_all = time.perf_counter()
    for J0, g in settings:
        for N, R in sizes.items():
            t0 = time.perf_counter()
            r = measure(J0, g, N, R, B, T, L_max, dt, t_warmup, seed=0)
            c = macro_window_curves(r["macro_log_dnu"], r["macro_lag"], lengths)  # (R, B, W, nL)
            lam = r["lambda_max"].mean(-1)  # (R,)
            cls = classify(lam)
            raw[f"J0={J0},g={g},N={N}"] = dict(lam=r["lambda_max"], **c)
            for j, L in enumerate(c["length"]):
                f, gr, a = (c[k][..., j] for k in ("ftle", "growth", "offset"))
                ch = cls == 2  # the same, among the chaotic realizations only
                icc_rows.append((J0, g, N, L, R, B * f.shape[2], *icc(f), *icc(gr), *icc(a),
                                 float(np.corrcoef(f.reshape(R, -1).mean(-1), lam)[0, 1]),
                                 float(np.corrcoef(gr.reshape(R, -1).mean(-1), lam)[0, 1]),
                                 int(ch.sum()), icc(f[ch])[0], icc(gr[ch])[0], icc(a[ch])[0]))
                for ci in range(3):
                    s = cls == ci
                    if not s.any():
                        continue
                    fm, gm, am = (v[s].reshape(s.sum(), -1).mean(-1) for v in (f, gr, a))
                    rows.append((N, CLASSES[ci], J0, g, L, int(s.sum()), float(lam[s].mean()),
                                 float((fm - lam[s]).mean()), float((gm - lam[s]).mean()),
                                 float(L * (fm - lam[s]).mean()), float(am.mean())))
            print(f"# J0={J0} g={g} N={N} R={R}: {time.perf_counter() - t0:.0f} s, lambda_max "
                  f"{np.round(lam, 3).tolist()}", flush=True)
    print(f"# total {time.perf_counter() - t_all:.0f} s; B = {B} trials, T = {T}, windows of {L_max} tau "
          f"(re-analysed as prefixes of length L), dt = {dt}, t_warmup = {t_warmup}, seed 0\n")
    print("Table 1. Macro FTLE, growth rate and offset vs window length L and N (means over the realizations of a class)\n")
    print("| N | class | (J0, g) | L [tau] | n real. | lambda_max | FTLE - lambda_max | growth - lambda_max "
          "| L (FTLE - lambda_max) | offset a |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for N, cl, J0, g, L, n, lam, df, dg, Ldf, a in sorted(rows, key=lambda r: (r[1], r[2], r[3], r[0], r[4])):
        print(f"| {N} | {cl} | ({J0:g}, {g:g}) | {L:g} | {n} | {lam:+.3f} | {df:+.3f} | {dg:+.3f} | {Ldf:+.2f} | {a:+.2f} |")
    print("\nTable 2. Repeatability per setting: ICC(1) of one window / ICC(1,n) of the realization mean "
          "(n = trials x windows), and the correlation over realizations of the realization mean with lambda_max\n")
    print("| (J0, g) | N | L [tau] | R | n | ICC FTLE | ICC growth | ICC offset | corr(FTLE, lambda_max) "
          "| corr(growth, lambda_max) | chaotic R_c | ICC(1) FTLE / growth / offset among chaotic |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for J0, g, N, L, R, n, f1, fk, g1, gk, a1, ak, cf, cg, rc, cf1, cg1, ca1 in icc_rows:
        print(f"| ({J0:g}, {g:g}) | {N} | {L:g} | {R} | {n} | {f1:.2f} / {fk:.2f} | {g1:.2f} / {gk:.2f} "
              f"| {a1:.2f} / {ak:.2f} | {cf:+.2f} | {cg:+.2f} | {rc} | {cf1:.2f} / {cg1:.2f} / {ca1:.2f} |")
    if args.out:
        np.savez(args.out, **{f"{k}:{n}": v for k, d in raw.items() for n, v in d.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
