"""Figures (matplotlib, Agg backend): population activity of a simulation file,
phase diagrams and Lyapunov statistics of sweeps.

Reductions of other stages add their own plotting functions here.
"""
from __future__ import annotations

import numpy as np

from .io import atomic_path, read

__all__ = ["plot_population", "plot_phase_diagram", "plot_lyapunov_stats", "plot_ftle_histograms", "plot_macro_ftle", "save"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path) -> None:
    """Save atomically (temporary file, then rename)."""
    from pathlib import Path

    fmt = Path(path).suffix.lstrip(".") or "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=120, bbox_inches="tight")
    _plt().close(fig)


def plot_population(h5, out, max_realizations: int = 4) -> None:
    """nu_E, nu_I, m and a few neurons vs time for the first realizations (trial 0)."""
    plt = _plt()
    a, attrs = read(h5, ["time", "nu_E", "nu_I", "m", "x"])
    p = attrs["params"]["network"]
    R = min(max_realizations, a["nu_E"].shape[0])
    fig, axes = plt.subplots(3, R, figsize=(3.6 * R, 6.5), sharex=True, squeeze=False)
    t = a["time"]
    for r in range(R):
        ax = axes[0, r]
        ax.plot(t, a["nu_E"][r, 0], label=r"$\nu_E$", color="tab:red")
        ax.plot(t, a["nu_I"][r, 0], label=r"$\nu_I$", color="tab:blue")
        ax.set_title(f"realization {int(attrs['realization_ids'][r])}")
        axes[1, r].plot(t, a["m"][r, 0], color="k")
        if a["x"].shape[-1]:
            axes[2, r].plot(t, a["x"][r, 0, :, : min(5, a["x"].shape[-1])], lw=0.8)
        axes[2, r].set_xlabel(r"time [$\tau$]")
    axes[0, 0].set_ylabel("population rate")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[1, 0].set_ylabel(r"macro $m$")
    axes[2, 0].set_ylabel(r"$x_i$ (sample)")
    fig.suptitle(f"N={p['N']}, g={p['g']}, J0={p['J0']}, balance={p['balance']}, gain={p['gain']}")
    save(fig, out)


# -- sweep reductions (phase diagram, Lyapunov statistics) ----------------------------------

PHASE_COLORS = {
    "decay": "#bdbdbd",
    "fixed_point": "#4575b4",
    "oscillation": "#1a9850",
    "chaos": "#d73027",
    "cycle": "#fdae61",
    "divergent": "#252525",
    "undetermined": "#e7d4e8",
}


def _sweep_file(h5, names):
    import json

    a, attrs = read(h5)
    dims = json.loads(attrs.get("sweep", "[]")) if isinstance(attrs.get("sweep"), str) else list(attrs.get("sweep", []))
    coords = [np.asarray(a[d]) for d in dims]
    return a, attrs, dims, coords


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:g}"
    return str(v)


def _point_labels(dims, coords):
    """Flattened list of (index tuple, label) over the sweep grid (C order)."""
    import itertools

    shape = tuple(len(c) for c in coords)
    out = []
    for ix in itertools.product(*[range(n) for n in shape]):
        out.append((ix, ", ".join(f"{d}={_fmt(c[i])}" for d, c, i in zip(dims, coords, ix)) or "all"))
    return out


def plot_phase_diagram(h5, out) -> None:
    """Phase diagram of a ``kind="phase_diagram"`` file.

    Two swept parameters: one pie per grid point with the fraction of
    realizations x trials in each phase, the largest class written under it with its
    Wilson interval (left), and the mean largest Lyapunov exponent [1/tau] when known,
    else the mean synchrony, as a heat map (right).  Otherwise grouped bars of the
    fractions per point with their Wilson intervals as error bars.  The title gives
    ``N`` and ``T`` of the runs.
    """
    import json

    plt = _plt()
    a, attrs, dims, coords = _sweep_file(h5, None)
    phases = json.loads(attrs["phases"])
    colors = [PHASE_COLORS.get(p, "#999999") for p in phases]
    fr = np.asarray(a["fractions"], float)
    lam = np.asarray(a["lambda_max"], float)
    have_lam = np.isfinite(lam).any()
    # synchrony is meaningful only for moving states: mask decay and fixed points
    moving = ~np.isin(np.asarray(a["labels"]), [phases.index(p) for p in ("decay", "fixed_point") if p in phases])
    side = lam if have_lam else np.where(moving, np.asarray(a["synchrony"], float), np.nan)
    side_label = r"mean $\lambda_{\max}$ [$1/\tau$]" if have_lam else r"mean synchrony $\chi$ (moving states)"
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            side_mean = np.nanmean(side, axis=(-2, -1)) if side.ndim >= 2 else side
    n_real = a["labels"].shape[-2] * a["labels"].shape[-1]
    have_ci = "fractions_lo" in a and "fractions_hi" in a
    flo = np.asarray(a["fractions_lo"], float) if have_ci else fr
    fhi = np.asarray(a["fractions_hi"], float) if have_ci else fr
    level = str(attrs.get("interval", "Wilson score interval"))
    nt = _size_duration(attrs)

    if len(dims) == 2:
        nx, ny = len(coords[0]), len(coords[1])
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(3.0 + 2.4 * nx, 1.8 + 1.25 * ny),
                                      gridspec_kw=dict(width_ratios=[1, 1.15]), layout="constrained")
        for i in range(nx):
            for j in range(ny):
                f = fr[i, j]
                if not np.isfinite(f).all() or f.sum() == 0:
                    ax.text(i, j, "missing", ha="center", va="center", fontsize=7)
                    continue
                lw = 0.6 if (f > 0).sum() > 1 else 0.0
                ax.pie(f, colors=colors, center=(i, j), radius=0.42, frame=True, startangle=90,
                       counterclock=False, wedgeprops=dict(linewidth=lw, edgecolor="white"))
                if have_ci:
                    k = int(np.argmax(f))
                    ax.text(i, j - 0.44, f"{phases[k]} {f[k]:.2f}\n[{flo[i, j, k]:.2f}, {fhi[i, j, k]:.2f}]",
                            ha="center", va="top", fontsize=5.5, linespacing=0.9, color="#606060")
        ax.set_xlim(-0.6, nx - 0.4)
        ax.set_ylim(-0.6, ny - 0.4)
        ax.set_aspect("equal")
        ax.set_xticks(range(nx), [_fmt(v) for v in coords[0]])
        ax.set_yticks(range(ny), [_fmt(v) for v in coords[1]])
        ax.set_xlabel(dims[0])
        ax.set_ylabel(dims[1])
        ax.set_title(f"phase fractions ({n_real} realizations x trials per point; {nt})\n"
                     f"under each pie: largest class [{level}]", fontsize=8)
        handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colors]
        ax.legend(handles, phases, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, fontsize=8, frameon=False)
        im = ax2.imshow(side_mean.T, origin="lower", aspect="auto",
                        cmap="RdBu_r" if have_lam else "viridis",
                        **(_sym_norm(side_mean) if have_lam else {}))
        scale = np.nanmax(np.abs(side_mean)) if np.isfinite(side_mean).any() else 1.0
        for i in range(nx):
            for j in range(ny):
                v = side_mean[i, j]
                if np.isfinite(v):
                    dark = abs(v) > 0.6 * scale if have_lam else False
                    ax2.text(i, j, f"{v:.2f}", ha="center", va="center", fontsize=8, color="w" if dark else "k")
        ax2.set_xticks(range(nx), [_fmt(v) for v in coords[0]])
        ax2.set_yticks(range(ny), [_fmt(v) for v in coords[1]])
        ax2.set_xlabel(dims[0])
        ax2.set_ylabel(dims[1])
        fig.colorbar(im, ax=ax2, label=side_label, shrink=0.85)
        ax2.set_title(side_label, fontsize=9)
    else:
        pts = _point_labels(dims, coords)
        fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(pts) + 2.5), 3.6))
        xs = np.arange(len(pts))
        shown = [k for k in range(len(phases)) if np.nan_to_num(np.array([fr[ix][k] for ix, _ in pts])).any()] or [0]
        w = 0.8 / len(shown)
        for j, k in enumerate(shown):
            h = np.nan_to_num(np.array([fr[ix][k] for ix, _ in pts]))
            lo = np.nan_to_num(np.array([flo[ix][k] for ix, _ in pts]))
            hi = np.nan_to_num(np.array([fhi[ix][k] for ix, _ in pts]))
            ax.bar(xs - 0.4 + (j + 0.5) * w, h, width=w, color=colors[k], label=phases[k], edgecolor="0.3", lw=0.4,
                   yerr=np.stack([h - lo, hi - h]) if have_ci else None, capsize=2, error_kw=dict(lw=0.8))
        ax.set_xticks(xs, [lab for _, lab in pts], rotation=45 if len(pts) > 4 else 0, ha="right" if len(pts) > 4 else "center")
        ax.set_ylabel("fraction of realizations x trials")
        ax.set_title(f"{n_real} realizations x trials per point; {nt}; bars: {level}", fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    save(fig, out)


def _sym_norm(v):
    m = np.nanmax(np.abs(v)) if np.isfinite(v).any() else 1.0
    m = m if m > 0 else 1.0
    return dict(vmin=-m, vmax=m)


def _series(dims, coords):
    """(x values, x label, list of (index-prefix, series label)) for line plots over the first swept parameter."""
    if len(dims) == 0:
        return np.array([0.0]), "", [((), "")]
    x = coords[0]
    if len(dims) == 1:
        return x, dims[0], [((), "")]
    import itertools

    rest = list(itertools.product(*[range(len(c)) for c in coords[1:]]))
    return x, dims[0], [(r, ", ".join(f"{d}={_fmt(c[i])}" for d, c, i in zip(dims[1:], coords[1:], r))) for r in rest]


def _take(arr, r, i, ndim_sweep):
    """Element of a (*sweep, ...) array at first-axis index i and remaining sweep indices r."""
    if ndim_sweep == 0:
        return arr
    return arr[(i, *r)]


def plot_lyapunov_stats(h5, out) -> None:
    """Lyapunov statistics of a ``kind="lyapunov_stats"`` file against the first swept parameter.

    Panels: largest exponent (mean +- std over realizations x trials, dots:
    single realizations), mean micro (solid) and macro (dashed) FTLE with their
    spread, and the fraction of realizations with :math:`\\lambda_{\\max} > 0`;
    one line per value of the other swept parameters.  Units 1/tau.  When the file
    holds the SCS mean-field reference (``dmft_lambda_max``) and ``g`` is the first
    swept parameter, it is drawn as a dashed line in the first panel.
    """
    plt = _plt()
    a, attrs, dims, coords = _sweep_file(h5, None)
    nd = len(dims)
    x, xlabel, series = _series(dims, coords)
    xs = np.asarray(x, float) if np.issubdtype(np.asarray(x).dtype, np.number) else np.arange(len(x))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    cmap = plt.get_cmap("viridis")
    for s, (r, lab) in enumerate(series):
        col = cmap(s / max(1, len(series) - 1)) if len(series) > 1 else "k"
        n = len(xs) if nd else 1
        get = lambda name: np.array([_take(a[name], r, i, nd) for i in range(n)])  # noqa: E731
        m, sd = get("lambda_max_mean"), get("lambda_max_std")
        axes[0].errorbar(xs[:n], m, yerr=sd, color=col, marker="o", capsize=3, label=lab or None)
        for i in range(n):
            v = np.ravel(_take(a["lambda_max"], r, i, nd))
            jit = (np.linspace(-0.5, 0.5, v.size) if v.size > 1 else np.zeros(1)) * 0.03 * (np.ptp(xs) or 1.0)
            axes[0].plot(xs[i] + jit, v, ".", color=col, alpha=0.5, ms=4)
        for kind, ls in (("micro", "-"), ("macro", "--")):
            m, sd = get(f"ftle_{kind}_mean"), get(f"ftle_{kind}_std")
            axes[1].plot(xs[:n], m, ls, color=col, marker="o", ms=3)
            axes[1].fill_between(xs[:n], m - sd, m + sd, color=col, alpha=0.12)
        axes[2].plot(xs[:n], get("fraction_positive"), color=col, marker="o", label=lab or None)
    if "dmft_lambda_max" in a and xlabel == "g":  # SCS mean-field reference (J0 = 0, N -> infinity)
        axes[0].plot(a["dmft_g"], a["dmft_lambda_max"], "k--", lw=1.2,
                     label=r"DMFT ($J_0 = 0$, $N\to\infty$)" + "\n" + f"simulation: {_size_duration(attrs)};"
                     + "\nfinite N expected below DMFT")
        axes[0].legend(fontsize=8, frameon=False)
    for ax in axes[:2]:
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel(r"$\lambda_{\max}$ [$1/\tau$]")
    axes[1].set_ylabel(r"FTLE [$1/\tau$] (solid: micro, dashed: macro)")
    axes[2].set_ylabel(r"fraction with $\lambda_{\max} > 0$")
    axes[2].set_ylim(-0.05, 1.05)
    axes[2].set_xlabel(xlabel)
    if len(series) > 1:
        axes[2].legend(fontsize=8, frameon=False)
    if nd == 0 or not np.issubdtype(np.asarray(x).dtype, np.number):
        for ax in axes:
            ax.set_xticks(xs, [_fmt(v) for v in x] if nd else [""])
    fig.tight_layout()
    save(fig, out)


def _size_duration(attrs) -> str:
    """``"N = 200, T = 150 tau"`` from the ``N`` and ``T`` attributes (JSON lists) of a reduction file."""
    import json

    def vals(k):
        v = attrs.get(k)
        try:
            v = json.loads(v) if isinstance(v, str) else list(np.ravel(v)) if v is not None else []
        except ValueError:
            v = []
        return ", ".join(_fmt(x) for x in v) or "?"

    return f"N = {vals('N')}, T = {vals('T')} $\\tau$"


def plot_macro_ftle(h5, out) -> None:
    """Macro FTLE against the offset-free macro growth rate, from a ``kind="lyapunov_stats"`` file.

    Left: class means of ``FTLE(L) - lambda_max`` (solid) and ``growth(L) - lambda_max``
    (dashed) against the window length ``L`` [tau], one colour per realization class
    (fixed point, oscillating, chaotic by lambda_max) and one shade per network size N,
    pooled over the sweep points (weighted by the class sizes).  Middle: the start-direction
    offset ``a(L)`` (dimensionless), with ``-log sqrt(N)`` marks.  Right: repeatability of the
    realization mean, ICC(1,n), of the macro FTLE, growth rate, offset and micro FTLE per point.
    """
    import json

    plt = _plt()
    a, attrs, dims, coords = _sweep_file(h5, None)
    classes = json.loads(attrs.get("macro_classes", '["fixed_point", "oscillating", "chaotic"]'))
    L = np.asarray(a["macro_length"], float)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.0))
    colors = {"fixed_point": "#4575b4", "oscillating": "#1a9850", "chaotic": "#d73027"}
    Ns = np.asarray(a["network_N"], float)
    Nvals = sorted({float(n) for n in Ns.ravel() if np.isfinite(n)})
    cnt = np.asarray(a["macro_class_count"], float)
    for ci, cname in enumerate(classes):
        for ni, Nv in enumerate(Nvals):
            sel = (Ns == Nv)
            w = np.where(sel, cnt[..., ci], 0.0)
            if L.size == 0 or w.sum() == 0:
                continue
            shade = 0.45 + 0.55 * (ni + 1) / len(Nvals)

            def pooled(name, ci=ci, w=w):
                v = np.asarray(a[name], float)[..., ci, :]
                ww = np.broadcast_to(w[..., None], v.shape) * np.isfinite(v)
                return np.nansum(np.nan_to_num(v) * ww, axis=tuple(range(v.ndim - 1))) / np.maximum(
                    ww.sum(axis=tuple(range(v.ndim - 1))), 1e-300)

            lab = f"{cname.replace('_', ' ')}, N={Nv:g} (n={int(w.sum())})"
            col = colors.get(cname, "k")
            axes[0].plot(L, pooled("macro_curve_ftle"), "-", color=col, alpha=shade, label=lab)
            axes[0].plot(L, pooled("macro_curve_growth"), "--", color=col, alpha=shade)
            axes[1].plot(L, pooled("macro_curve_offset"), "-", color=col, alpha=shade, label=lab)
    for Nv in Nvals:  # the generic-direction estimate a ~ -log sqrt(N) + O(1) (balnet.chaos.lyapunov)
        axes[1].axhline(-0.5 * np.log(Nv), color="0.5", lw=0.8, ls=":")
    axes[0].axhline(0, color="0.5", lw=0.8)
    axes[0].set_xlabel(r"window length $L$ [$\tau$]")
    axes[0].set_ylabel(r"estimate $-\ \lambda_{\max}$ [$1/\tau$]  (solid: FTLE, dashed: growth)")
    axes[0].legend(fontsize=7, frameon=False)
    axes[1].set_xlabel(r"window length $L$ [$\tau$]")
    axes[1].set_ylabel(r"start-direction offset $a$  (dotted: $-\log\sqrt{N}$)")
    pts = _point_labels(dims, coords)
    qs = [("ftle_macro", "macro FTLE", "o"), ("macro_growth", "macro growth", "s"),
          ("macro_offset", "offset", "^"), ("ftle_micro", "micro FTLE", "x")]
    for j, (q, lab, mk) in enumerate(qs):
        if f"icc_mean_{q}" not in a:
            continue
        v = [float(np.asarray(a[f"icc_mean_{q}"])[ix]) if dims else float(a[f"icc_mean_{q}"]) for ix, _ in pts]
        axes[2].plot(np.arange(len(pts)) + 0.12 * (j - 1.5), v, mk, label=lab)
    axes[2].set_xticks(np.arange(len(pts)), [lab for _, lab in pts], rotation=60, ha="right", fontsize=7)
    axes[2].set_ylabel("ICC(1,n) of the realization mean")
    axes[2].set_ylim(-0.1, 1.05)
    axes[2].axhline(0, color="0.5", lw=0.8)
    axes[2].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    save(fig, out)


def plot_ftle_histograms(h5, out) -> None:
    """Histograms (densities) of micro and macro window FTLEs, one panel per sweep point.

    Two swept parameters: columns over the first, rows over the second (largest at
    the top); otherwise a grid over the flattened points.
    """
    plt = _plt()
    a, attrs, dims, coords = _sweep_file(h5, None)
    e = np.asarray(a["bin_edge"], float)
    pts = _point_labels(dims, coords)
    if len(dims) == 2:
        nc, nr = len(coords[0]), len(coords[1])
        pos = {ix: (nr - 1 - ix[1], ix[0]) for ix, _ in pts}
    else:
        nc = int(np.ceil(np.sqrt(len(pts))))
        nr = int(np.ceil(len(pts) / nc))
        pos = {ix: divmod(k, nc) for k, (ix, _) in enumerate(pts)}
    fig, axes = plt.subplots(nr, nc, figsize=(2.6 * nc, 2.0 * nr), sharex=True, squeeze=False)
    for ax in axes.ravel():
        ax.set_visible(False)
    for ix, lab in pts:
        ax = axes[pos[ix]]
        ax.set_visible(True)
        for kind, col in (("micro", "tab:red"), ("macro", "tab:blue")):
            h = np.asarray(a[f"hist_{kind}"][ix] if dims else a[f"hist_{kind}"], float)
            if np.isfinite(h).any():
                ax.stairs(np.nan_to_num(h), e, color=col, label=kind, fill=True, alpha=0.35)
        if not any(np.isfinite(np.asarray(a[f"hist_{k}"][ix] if dims else a[f"hist_{k}"], float)).any()
                   for k in ("micro", "macro")):
            ax.text(0.5, 0.5, "missing", transform=ax.transAxes, ha="center", va="center", fontsize=8)
        ax.axvline(0, color="0.3", lw=0.7)
        ax.set_title(lab, fontsize=8)
        ax.tick_params(labelsize=7)
    first = axes[pos[pts[0][0]]]
    first.legend(fontsize=7, frameon=False)
    for ax in axes[-1]:
        ax.set_xlabel(r"FTLE [$1/\tau$]", fontsize=8)
    fig.suptitle("window FTLEs: micro (full system) and macro (population)", fontsize=10)
    fig.tight_layout()
    save(fig, out)


# -- reservoir computing: learning curves ----------------------------------------------------
def plot_learning_curves(h5, out) -> None:
    """Learning curves of a ``balnet learn`` file: test error vs training size per condition (median and
    interquartile band over realizations), the task score, test error vs macro FTLE of the network used,
    and SGD test error vs epoch when present."""
    plt = _plt()
    a, attrs = read(h5)
    conds = [c.decode() if isinstance(c, bytes) else str(c) for c in a["condition"]]
    n = a["n_train"]
    unit = attrs.get("train_unit", "sample")
    score = "accuracy" if "accuracy" in a else "memory_capacity" if "memory_capacity" in a else None
    has_ftle = np.isfinite(a["ftle_macro"]).any()
    has_epoch = "epoch_test_nrmse" in a
    panels = 2 + int(has_ftle) + int(has_epoch)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.6), squeeze=False)
    axes = axes[0]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]

    def band(ax, x, y, c, label, ls="-"):
        med = np.nanmedian(y, 0)
        lo, hi = np.nanpercentile(y, 25, 0), np.nanpercentile(y, 75, 0)
        ax.plot(x, med, ls, color=c, label=label, marker="o" if ls == "-" else None, ms=3)
        ax.fill_between(x, lo, hi, color=c, alpha=0.2, lw=0)

    for i, c in enumerate(conds):
        col = colors[i % len(colors)]
        band(axes[0], n, a["test_nrmse"][i], col, c)
        axes[0].plot(n, np.nanmedian(a["train_nrmse"][i], 0), ":", color=col, lw=1)
        if "gp_predicted_nrmse" in a:
            axes[0].plot(n, np.nanmedian(a["gp_predicted_nrmse"][i], 0), "--", color=col, lw=1)
        if score:
            band(axes[1], n, a[score][i], col, c)
        else:
            band(axes[1], n, a["train_nrmse"][i], col, c)
    axes[0].axhline(1.0, color="0.4", lw=0.8, ls="--", label="NRMSE = 1 (mean predictor)")
    axes[0].set_xscale("log")
    axes[0].set_xlabel(f"training size [{unit}s]")
    axes[0].set_ylabel("test NRMSE (dotted: train" + (", dashed: GP theory)" if "gp_predicted_nrmse" in a else ")"))
    axes[0].legend(fontsize=8)
    axes[1].set_xscale("log")
    axes[1].set_xlabel(f"training size [{unit}s]")
    axes[1].set_ylabel(score.replace("_", " ") if score else "train NRMSE")
    k = 2
    if has_ftle:
        ax = axes[k]
        for i, c in enumerate(conds):
            ax.scatter(a["ftle_macro"][i], a["test_nrmse"][i, :, -1], s=14, color=colors[i % len(colors)], label=c)
        ax.axvline(0.0, color="k", lw=0.5)
        ax.axhline(1.0, color="0.4", lw=0.8, ls="--")
        ax.set_xlabel(r"macro FTLE [$1/\tau$]")
        ax.set_ylabel(f"test NRMSE at n={n[-1]}")
        k += 1
    if has_epoch:
        ax = axes[k]
        ep = a["epoch"]
        for i, c in enumerate(conds):
            band(ax, ep, a["epoch_test_nrmse"][i], colors[i % len(colors)], c)
            ax.plot(ep, np.nanmedian(a["epoch_train_nrmse"][i], 0), ":", color=colors[i % len(colors)], lw=1)
        ax.axhline(1.0, color="0.4", lw=0.8, ls="--")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"test NRMSE at n={n[-1]} (dotted: train)")
    p = attrs["params"]
    net, learn = p["network"], p["learn"]
    fig.suptitle(f"{learn['task']} / {learn['readout']}: N={net['N']}, g={net['g']}, J0={net['J0']}, "
                 f"balance={net['balance']}, R={len(attrs['realization_ids'])}", fontsize=10)
    fig.tight_layout()
    save(fig, out)


__all__ += ["plot_learning_curves"]


def plot_sweep_learning_curves(h5, out, max_points: int = 12) -> None:
    """Learning curves over a sweep (``kind="learning_curves"``): one panel per sweep point,
    median test NRMSE vs training size per condition with the interquartile band."""
    plt = _plt()
    a, attrs, dims, coords = _sweep_file(h5, None)
    conds = [c.decode() if isinstance(c, bytes) else str(c) for c in a["condition"]]
    pts = _point_labels(dims, coords)[:max_points]
    ncol = min(len(pts), 4)
    nrow = int(np.ceil(len(pts) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 2.9 * nrow), squeeze=False, sharex=True, sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    n = a["n_train"]
    for ax, (ix, label) in zip(axes.flat, pts):
        for i, c in enumerate(conds):
            med = a["test_nrmse_median"][ix][i]
            ax.plot(n, med, "o-", ms=3, color=colors[i % len(colors)], label=c)
            ax.fill_between(n, a["test_nrmse_q25"][ix][i], a["test_nrmse_q75"][ix][i], color=colors[i % len(colors)],
                            alpha=0.2, lw=0)
        ax.axhline(1.0, color="0.4", lw=0.8, ls="--", label="NRMSE = 1")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(label, fontsize=9)
    for ax in axes.flat[len(pts):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(f"training size [{attrs.get('train_unit', 'sample')}s]")
    for ax in axes[:, 0]:
        ax.set_ylabel("test NRMSE")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"learning curves: {attrs.get('task', '')} / {attrs.get('readout', '')} "
                 f"(median and IQR over {len(a['realization'])} networks; dashed: NRMSE = 1, the mean predictor)",
                 fontsize=10)
    fig.tight_layout()
    save(fig, out)


# -- the claims' experiments (balnet experiment) ------------------------------------------------------
def plot_experiment(h5, out) -> None:
    """Figure of a ``balnet experiment`` file: per-pool paired scores of every condition (lines join the same
    pool), the p-values of the paired Wilcoxon tests in the titles, and the experiment's own panel (example
    outputs, learning curves, EH training error)."""
    import json

    plt = _plt()
    a, attrs = read(h5)
    name = attrs["experiment"]
    conds = [c for c in str(attrs.get("conditions", "")).split(",") if c]
    stats = json.loads(attrs.get("stats", "{}"))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]

    def paired_panel(ax, y, labels, ylabel, keys):
        x = np.arange(len(labels))
        for row in np.asarray(y).T:
            ax.plot(x, row, "-", color="0.75", lw=0.6)
        for i in x:
            ax.plot(np.full(y.shape[1], i), y[i], "o", ms=3, color=colors[i % len(colors)])
            ax.plot([i - 0.2, i + 0.2], [np.median(y[i])] * 2, "k-", lw=1.5)
        ax.set_xticks(x, labels)
        ax.set_ylabel(ylabel)
        ax.set_title("\n".join(f"{k}: p={stats[k]['p']:.2g}" for k in keys if k in stats), fontsize=7)

    if name == "target":
        fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
        paired_panel(axes[0], a["test_nrmse"].mean(-1), conds, "test NRMSE (mean over initial states)",
                     ["lowest_vs_random_mean_nrmse", "nearest0_vs_random_mean_nrmse"])
        axes[0].axhline(1.0, color="0.4", lw=0.8, ls="--")
        paired_panel(axes[1], a["test_nrmse"].std(-1), conds, "SD of NRMSE over initial states",
                     ["lowest_vs_random_sd_nrmse", "nearest0_vs_random_sd_nrmse"])
        paired_panel(axes[2], a["output_spread"], conds, "output spread over initial states / std(y)",
                     ["lowest_vs_random_output_spread", "nearest0_vs_random_output_spread"])
        ax = axes[3]
        for i, c in enumerate(conds):
            ax.plot(a["example_output"][i].T, color=colors[i % len(colors)], lw=0.6, alpha=0.7)
        ax.plot(a["target"], "k--", lw=1.2, label="target")
        ax.set_xlabel("sample")
        ax.set_ylabel("closed-loop output, pool 0")
        ax.legend(fontsize=7)
        fig.suptitle("target generation: selection by macro FTLE vs random (paired over pools)", fontsize=10)
    elif name == "association":
        fig, axes = plt.subplots(1, 3, figsize=(12.5, 3.6))
        paired_panel(axes[0], a["test_nrmse"], conds, "test NRMSE",
                     ["pretrained_vs_untrained_nrmse", "pretrained_vs_random_nrmse"])
        axes[0].axhline(1.0, color="0.4", lw=0.8, ls="--")
        paired_panel(axes[1], a["accuracy"], conds, "accuracy", [])
        ax = axes[2]
        ax.plot(a["ftle_initial"], a["ftle_pretrained"], "o", ms=4)
        ax.axhline(0.0, color="k", lw=0.5)
        ax.set_xlabel(r"macro FTLE before [$1/\tau$]")
        ax.set_ylabel(r"macro FTLE after pre-training [$1/\tau$]")
        fig.suptitle("delayed association: pre-training toward macro FTLE 0 vs untrained vs random change "
                     "of the same norm", fontsize=10)
    elif name == "curves":
        levels = a["noise_levels"]
        readouts = ["ridge", "sgd", "gpsgd"]
        fig, axes = plt.subplots(1, len(levels), figsize=(4.4 * len(levels), 3.6), squeeze=False)
        for j, lv in enumerate(levels):
            ax = axes[0, j]
            for b, ro in enumerate(readouts):
                y = a["test_nrmse"][j, b]
                ax.plot(a["n_train"], np.median(y, 0), "o-", ms=3, color=colors[b], label=ro)
                ax.fill_between(a["n_train"], np.percentile(y, 25, 0), np.percentile(y, 75, 0), color=colors[b],
                                alpha=0.2, lw=0)
            ax.axhline(1.0, color="0.4", lw=0.8, ls="--", label="NRMSE = 1")
            ax.set_xscale("log")
            ax.set_xlabel("training trials")
            ax.set_ylabel("test NRMSE (clean targets)")
            keys = [k for k in stats if k.startswith(f"noise{lv}_") and k.endswith("gpsgd_vs_sgd")]
            ax.set_title(f"label noise {lv}: " + "; ".join(f"{k.split('_')[1]} gp-sgd p={stats[k]['p']:.2g}"
                                                           for k in keys), fontsize=7)
            ax.legend(fontsize=7)
        fig.suptitle("learning curves under label noise: ridge, plain SGD, GP-regularized SGD", fontsize=10)
    elif name == "reward":
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        paired_panel(axes[0], a["test_nrmse"], conds, "free-running test NRMSE", ["eh_vs_force_nrmse"])
        axes[0].axhline(1.0, color="0.4", lw=0.8, ls="--")
        axes[0].set_yscale("log")
        ax = axes[1]
        c = a["eh_train_curve"]
        ax.plot(np.median(c, 0), "-")
        ax.fill_between(np.arange(c.shape[1]), np.percentile(c, 25, 0), np.percentile(c, 75, 0), alpha=0.2, lw=0)
        ax.axhline(1.0, color="0.4", lw=0.8, ls="--")
        ax.set_xlabel("target period")
        ax.set_ylabel("EH training NRMSE (with exploration)")
        ax = axes[2]
        ax.plot(a["target_test"], "k--", lw=1, label="target")
        ax.plot(a["eh_test_output"], lw=0.8, label="EH")
        ax.plot(a["force_test_output"], lw=0.8, label="FORCE")
        ax.set_xlabel("free-running sample")
        ax.legend(fontsize=7)
        fig.suptitle("reward-modulated Hebbian readout (Hoerzer et al. 2014) vs FORCE", fontsize=10)
    else:
        raise ValueError(f"unknown experiment {name!r}")
    fig.tight_layout()
    save(fig, out)


__all__ += ["plot_experiment"]
