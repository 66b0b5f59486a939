"""Lyapunov statistics over a sweep: per-point moments, FTLE histograms, mean spectra, and the
SCS mean-field reference curve (:mod:`balnet.theory.dmft`).
"""
from __future__ import annotations

import json
from typing import Sequence

import numpy as np

from ..engine.io import H5Writer, read
from ..engine.params import ConfigError
from ..engine.sweep import (
    coord_array,
    flat_params,
    param_units,
    sweep_grid,
    write_sweep_coords,
)
from ..theory.dmft import MeanFieldParams, dmft_curves
from .lyapunov import macro_growth_rate

__all__ = [
    "MACRO_CLASSES",
    "icc",
    "macro_window_curves",
    "lyapunov_statistics",
    "write_lyapunov_statistics",
    "LYAP_VARIABLES",
]


def icc(x) -> tuple[float, float]:
    r"""One-way intra-class correlation of ``x`` ``(R, ...)``: groups along axis 0, repeats flattened.

    With :math:`n` repeats (trials x windows) of :math:`R` groups (realizations),

    .. math::
        \mathrm{ICC}(1) = \frac{MS_B - MS_W}{MS_B + (n-1) MS_W}, \qquad
        \mathrm{ICC}(1,n) = \frac{MS_B - MS_W}{MS_B},

    where:

    * :math:`MS_B = \frac{n}{R-1}\sum_r (\bar x_r - \bar x)^2` (between realizations),
      :math:`MS_W = \frac{1}{R(n-1)}\sum_{r,i}(x_{ri} - \bar x_r)^2` (within);
    * ICC(1) is the repeatability of *one* window of one trial (the share of the variance
      that belongs to the realization), ICC(1, n) that of the mean of the :math:`n`
      repeats (Spearman-Brown), i.e. of the value a selection ranks realizations by
      (Shrout & Fleiss, Psychol. Bull. 86, 420, 1979).

    Groups with a non-finite value are dropped; returns ``(nan, nan)`` with fewer than two
    groups or one repeat.  Both are at most 1 and may be negative (no realization effect).
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 0 or a.shape[0] < 2 or a.size == 0:
        return float("nan"), float("nan")
    a = a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(-1, 1)
    a = a[np.isfinite(a).all(-1)]
    R, n = a.shape
    if R < 2 or n < 2:
        return float("nan"), float("nan")
    m = a.mean(-1)
    msb = n * ((m - m.mean()) ** 2).sum() / (R - 1)
    msw = ((a - m[:, None]) ** 2).sum() / (R * (n - 1))
    if msb + (n - 1) * msw == 0:
        return float("nan"), float("nan")
    return float((msb - msw) / (msb + (n - 1) * msw)), float((msb - msw) / msb) if msb > 0 else float("nan")


def macro_window_curves(log_dnu, lag, lengths, *, align: float = 0.5) -> dict:
    r"""Macro FTLE, growth rate and offset as functions of the window length, from one run.

    A window of length :math:`T' \le T` started at :math:`\hat u` is a prefix of the stored
    window: :math:`\Lambda_\mathrm{macro}(T') = y(T')/T'`, and
    :func:`balnet.chaos.lyapunov.macro_growth_rate` of the prefix gives
    :math:`\hat\gamma(T')`, :math:`\hat a(T')`.  ``log_dnu`` ``(..., L)``, ``lag`` ``(L,)``
    [tau]; ``lengths``: window lengths [tau] (each rounded to the nearest lag; lengths
    beyond ``lag[-1]`` are dropped).  Returns ``length`` ``(n,)`` and ``ftle``, ``growth``,
    ``offset`` ``(..., n)``.
    """
    y = np.asarray(log_dnu, dtype=np.float64)
    lag = np.asarray(lag, dtype=np.float64)
    js = sorted({int(np.argmin(np.abs(lag - t))) for t in lengths if t <= lag[-1] * (1 + 1e-9) and t > 0})
    out = {"length": lag[js], "ftle": [], "growth": [], "offset": []}
    for j in js:
        g, a = macro_growth_rate(y[..., : j + 1], lag[: j + 1], align=align)
        out["ftle"].append(y[..., j] / lag[j])
        out["growth"].append(g)
        out["offset"].append(a)
    for k in ("ftle", "growth", "offset"):
        out[k] = np.stack(out[k], axis=-1) if out[k] else np.zeros(y.shape[:-1] + (0,))
    return out


#: realization classes of the macro-FTLE reduction, by lambda_max (mean over trials) against a threshold
MACRO_CLASSES = ("fixed_point", "oscillating", "chaotic")
#: per-window quantities whose repeatability (ICC) the reduction reports
ICC_QUANTITIES = ("ftle_macro", "macro_growth", "macro_offset", "ftle_micro")


def lyapunov_statistics(paths: Sequence, *, sweep: Sequence[str] | None = None, bins: int = 40,
                        range_: tuple[float, float] | None = None, theory: int = 16,
                        class_threshold: float = 0.02) -> dict:
    r"""Per-point statistics of Lyapunov files (``kind="lyapunov"``) over a sweep.

    For each sweep point, over realizations ``k``, trials ``b`` and windows ``w``:

    .. math::
        \bar\lambda = \langle \lambda_{\max} \rangle_{k,b},\quad
        \operatorname{sd}(\lambda_{\max}),\quad
        P_+ = \Pr[\lambda_{\max} > 0],\quad
        \bar\lambda^{\rm micro/macro} = \langle \lambda^{\rm micro/macro}_{k,b,w} \rangle,

    with standard deviations, and histograms (densities) of the window FTLEs
    :math:`\lambda^{\rm micro}_{k,b,w}` and :math:`\lambda^{\rm macro}_{k,b,w}` on
    common bin edges (``bins`` bins over ``range_``, default the 0.5–99.5 %
    range of all values).  Also the mean spectrum over realizations and trials.
    Units: 1/tau; histogram densities in tau.

    Macro FTLE against the offset-free growth rate (:mod:`balnet.chaos.lyapunov`, files that
    hold ``macro_log_dnu``; NaN otherwise): per point the means of ``macro_growth`` and
    ``macro_offset``; the repeatability of ``ftle_macro``, ``macro_growth``, ``macro_offset``
    and ``ftle_micro`` per realization, :func:`icc` over realizations with trials x windows
    as repeats (``icc_<q>``: one window, ``icc_mean_<q>``: the realization mean a selection
    ranks by); and, for each window length :math:`L` (every lag from ``2 t_ons`` to
    ``t_window``, windows re-analysed as prefixes by :func:`macro_window_curves`) and each
    class of realization (``MACRO_CLASSES`` by :math:`\bar\lambda_{\max}` over trials:
    below ``-class_threshold``, within, above), the class means of ``FTLE(L) - lambda_max``,
    ``growth(L) - lambda_max`` and the offset ``a(L)`` (``macro_curve_*``, ``(*grid, class,
    length)``), the class sizes ``macro_class_count`` and the network size ``network_N``.

    Returns a dict with ``dims``, ``coords``, ``edges`` ``(bins+1,)`` and arrays
    over ``(*grid)``, ``(*grid, bin)``, ``(*grid, exponent)``,
    ``(*grid, realization, trial)``.

    With ``theory > 0`` (and every file a tanh network with a parameter ``g``), also the
    reference curve of the SCS dynamical mean-field theory (``J0 = 0``,
    :math:`N\to\infty`, :func:`balnet.theory.dmft.dmft_curves`) over ``g`` from
    ``min(g)`` to ``max(g)`` (``theory`` values plus the measured ones; about 0.3 s per
    value above 1): ``dmft_g``, ``dmft_lambda_max``, ``dmft_delta0``, ``dmft_tau_half``.
    """

    if bins < 1:
        raise ConfigError(f"bins must be >= 1, got {bins}")
    data, params = [], []
    for p in paths:
        a, attrs = read(p, kind="lyapunov")
        for need in ("lambda_max", "ftle_micro", "ftle_macro", "spectrum", "realization"):
            if need not in a:
                raise ConfigError(f"{p} has no dataset {need!r}")
        data.append(a)
        params.append(flat_params(attrs))
    names, values, index = sweep_grid(params, sweep)
    shapes = {d["lambda_max"].shape for d in data}
    if len(shapes) != 1:
        raise ConfigError(f"Lyapunov files differ in realizations x trials: {sorted(shapes)}")
    (nR, nB), = shapes
    nk = max(d["spectrum"].shape[-1] for d in data)
    allv = np.concatenate([np.concatenate([np.ravel(d["ftle_micro"]), np.ravel(d["ftle_macro"])]) for d in data])
    allv = allv[np.isfinite(allv)]
    if range_ is None:
        if allv.size:
            lo, hi = np.percentile(allv, [0.5, 99.5])
        else:
            lo, hi = -1.0, 1.0
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
    else:
        lo, hi = map(float, range_)
        if not hi > lo:
            raise ConfigError(f"histogram range must have hi > lo, got {range_}")
    edges = np.linspace(lo, hi, bins + 1)
    grid = tuple(len(v) for v in values)

    def full(*extra):
        return np.full(grid + extra, np.nan)

    out = dict(
        lambda_max=full(nR, nB), lambda_max_mean=full(), lambda_max_std=full(), lambda_max_min=full(),
        lambda_max_max=full(), fraction_positive=full(),
        ftle_micro_mean=full(), ftle_micro_std=full(), ftle_macro_mean=full(), ftle_macro_std=full(),
        hist_micro=full(bins), hist_macro=full(bins), spectrum_mean=full(nk), spectrum_std=full(nk),
    )
    for ix, d in zip(index, data):
        lam = np.asarray(d["lambda_max"], float)
        out["lambda_max"][ix] = lam
        fin = lam[np.isfinite(lam)]
        if fin.size:
            out["lambda_max_mean"][ix] = fin.mean()
            out["lambda_max_std"][ix] = fin.std()
            out["lambda_max_min"][ix] = fin.min()
            out["lambda_max_max"][ix] = fin.max()
            out["fraction_positive"][ix] = np.mean(fin > 0)
        for kind in ("micro", "macro"):
            v = np.asarray(d[f"ftle_{kind}"], float).ravel()
            v = v[np.isfinite(v)]
            if v.size:
                out[f"ftle_{kind}_mean"][ix] = v.mean()
                out[f"ftle_{kind}_std"][ix] = v.std()
                h, _ = np.histogram(np.clip(v, lo, hi), bins=edges, density=True)
                out[f"hist_{kind}"][ix] = h
        sp = np.asarray(d["spectrum"], float)
        out["spectrum_mean"][ix][: sp.shape[-1]] = np.nanmean(sp.reshape(-1, sp.shape[-1]), axis=0)
        out["spectrum_std"][ix][: sp.shape[-1]] = np.nanstd(sp.reshape(-1, sp.shape[-1]), axis=0)
    out.update(_macro_reduction(data, params, index, grid, class_threshold), class_threshold=float(class_threshold))
    out.update(dims=names, coords=[coord_array(v) for v in values], edges=edges,
               realization=np.asarray(data[0]["realization"]), n_trials=nB, n_exponents=nk,
               sizes=sorted({int(p["N"]) for p in params if "N" in p}),
               durations=sorted({float(p["T"]) for p in params if "T" in p}))
    if theory > 0 and all("g" in p and p.get("gain", "tanh") == "tanh" for p in params):
        out.update(_dmft_reference([float(p["g"]) for p in params], int(theory)))
    return out


def _macro_reduction(data, params, index, grid, thr: float) -> dict:
    """Macro growth/offset means, ICCs and window-length curves per class (see lyapunov_statistics)."""
    lag = next((np.asarray(d["lag"], float) for d in data if "macro_log_dnu" in d and "lag" in d), None)
    lengths = lag[1:] if lag is not None and lag.size > 1 else np.zeros(0)
    nC, nL = len(MACRO_CLASSES), len(lengths)
    full = lambda *extra: np.full(grid + extra, np.nan)  # noqa: E731
    out = dict(macro_growth_mean=full(), macro_offset_mean=full(), network_N=full(),
               macro_class_count=np.zeros(grid + (nC,)), macro_length=lengths,
               macro_curve_lambda=full(nC), macro_curve_ftle=full(nC, nL), macro_curve_growth=full(nC, nL),
               macro_curve_offset=full(nC, nL))
    for q in ICC_QUANTITIES:
        out[f"icc_{q}"], out[f"icc_mean_{q}"] = full(), full()
    for ix, d, p in zip(index, data, params):
        out["network_N"][ix] = float(p.get("N", np.nan))
        for q in ICC_QUANTITIES:
            if q in d:
                out[f"icc_{q}"][ix], out[f"icc_mean_{q}"][ix] = icc(d[q])
        if "macro_growth" not in d:
            continue
        out["macro_growth_mean"][ix] = np.nanmean(d["macro_growth"])
        out["macro_offset_mean"][ix] = np.nanmean(d["macro_offset"])
        if not nL or "macro_log_dnu" not in d or np.asarray(d["lag"]).shape != lag.shape:
            continue
        lam = np.asarray(d["lambda_max"], float)  # (R, B)
        cls = np.where(lam.mean(-1) < -thr, 0, np.where(lam.mean(-1) > thr, 2, 1))
        c = macro_window_curves(d["macro_log_dnu"], lag, lengths)  # (R, B, W, nL)
        for ci in range(nC):
            s = cls == ci
            out["macro_class_count"][ix + (ci,)] = s.sum()
            if not s.any():
                continue
            ref = lam[s][:, :, None, None]
            out["macro_curve_lambda"][ix + (ci,)] = lam[s].mean()
            with np.errstate(invalid="ignore"):
                out["macro_curve_ftle"][ix + (ci,)] = np.nanmean((c["ftle"][s] - ref).reshape(-1, nL), axis=0)
                out["macro_curve_growth"][ix + (ci,)] = np.nanmean((c["growth"][s] - ref).reshape(-1, nL), axis=0)
                out["macro_curve_offset"][ix + (ci,)] = np.nanmean(c["offset"][s].reshape(-1, nL), axis=0)
    return out


def _dmft_reference(gs, n: int) -> dict:
    """SCS DMFT over [min g, max g] (coarser numerics: lambda_max to ~1e-4 relative) for the reference line."""

    lo, hi = min(gs), max(gs)
    grid = set(np.round(np.linspace(lo, hi, n), 10)) if hi > lo else set()
    grid |= set(gs)
    c = dmft_curves(sorted(grid), MeanFieldParams(n_table=101, dtau=0.05))
    return dict(dmft_g=c["g"], dmft_lambda_max=c["lambda_max"], dmft_delta0=c["delta0"], dmft_tau_half=c["tau_half"])


LYAP_VARIABLES = {
    "lambda_max": (("realization", "trial"), "largest Lyapunov exponent per realization and trial"),
    "lambda_max_mean": ((), "mean of lambda_max over realizations and trials"),
    "lambda_max_std": ((), "standard deviation of lambda_max over realizations and trials"),
    "lambda_max_min": ((), "smallest lambda_max"),
    "lambda_max_max": ((), "largest lambda_max"),
    "fraction_positive": ((), "fraction of realizations x trials with lambda_max > 0"),
    "ftle_micro_mean": ((), "mean micro (full-system) FTLE over realizations, trials, windows"),
    "ftle_micro_std": ((), "standard deviation of the micro FTLE"),
    "ftle_macro_mean": ((), "mean macro (population) FTLE over realizations, trials, windows"),
    "ftle_macro_std": ((), "standard deviation of the macro FTLE"),
    "hist_micro": (("bin",), "histogram (density) of window micro FTLEs"),
    "hist_macro": (("bin",), "histogram (density) of window macro FTLEs"),
    "spectrum_mean": (("exponent",), "Lyapunov spectrum averaged over realizations and trials"),
    "spectrum_std": (("exponent",), "standard deviation of the spectrum over realizations and trials"),
    "macro_growth_mean": ((), "mean offset-free macro growth rate (macro_growth) over realizations, trials, windows"),
    "macro_offset_mean": ((), "mean start-direction offset a (macro_offset)"),
    "network_N": ((), "network size N of the point"),
    "macro_class_count": (("macro_class",), "realizations per class (lambda_max vs the class threshold)"),
    "macro_curve_lambda": (("macro_class",), "mean lambda_max of the class"),
    "macro_curve_ftle": (("macro_class", "macro_length"), "class mean of FTLE(L) - lambda_max, window length L"),
    "macro_curve_growth": (("macro_class", "macro_length"), "class mean of growth(L) - lambda_max, window length L"),
    "macro_curve_offset": (("macro_class", "macro_length"), "class mean of the offset a(L), window length L"),
    **{f"icc_{q}": ((), f"ICC(1) of {q}: repeatability of one window over realizations (trials x windows as repeats)")
       for q in ICC_QUANTITIES},
    **{f"icc_mean_{q}": ((), f"ICC(1,n) of {q}: repeatability of the realization mean over trials x windows")
       for q in ICC_QUANTITIES},
}


def _lyap_units(k: str) -> str:
    if k.startswith("hist"):
        return "tau"
    if k in ("fraction_positive", "network_N", "macro_class_count", "macro_offset_mean", "macro_curve_offset") \
            or k.startswith("icc_"):
        return "1"
    return "1/tau"


def write_lyapunov_statistics(st: dict, path, *, command: str = "balnet reduce lyapunov", inputs: Sequence = ()) -> None:
    """Write :func:`lyapunov_statistics` output to HDF5 (dimension scales over the swept parameters)."""

    dims = list(st["dims"])
    units = param_units()
    with H5Writer(path, kind="lyapunov_stats", params={"sweep": dims}, realization_ids=st["realization"],
                  command=command, sweep=json.dumps(dims), inputs=json.dumps([str(p) for p in inputs]),
                  macro_classes=json.dumps(list(MACRO_CLASSES)), class_threshold=st["class_threshold"],
                  N=json.dumps(st.get("sizes", [])), T=json.dumps(st.get("durations", []))) as w:
        write_sweep_coords(w, dims, st["coords"], units)
        w.coord("realization", st["realization"], long_name="connectivity realization id")
        w.coord("trial", np.arange(st["n_trials"]), long_name="trial")
        w.coord("exponent", np.arange(st["n_exponents"]), long_name="index of Lyapunov exponent (descending)")
        e = st["edges"]
        w.coord("bin", 0.5 * (e[1:] + e[:-1]), units="1/tau", long_name="FTLE histogram bin centre")
        w.coord("bin_edge", e, units="1/tau", long_name="FTLE histogram bin edges")
        w.coord("macro_class", np.arange(len(MACRO_CLASSES)),
                long_name="realization class by lambda_max: " + ", ".join(f"{i} {c}" for i, c in enumerate(MACRO_CLASSES)))
        w.coord("macro_length", np.asarray(st["macro_length"], float), units="tau",
                long_name="window length L of the macro curves (prefix of the stored windows)")
        for k, (extra, ln) in LYAP_VARIABLES.items():
            w.variable(k, st[k], dims=(*dims, *extra), units=_lyap_units(k), long_name=ln)
        if "dmft_g" in st:
            w.coord("dmft_g", st["dmft_g"], units="1", long_name="g of the SCS mean-field reference (J0 = 0, N -> inf)")
            w.variable("dmft_lambda_max", st["dmft_lambda_max"], dims=("dmft_g",), units="1/tau",
                       long_name="DMFT largest Lyapunov exponent of the SCS network (balnet.theory.dmft)")
            w.variable("dmft_delta0", st["dmft_delta0"], dims=("dmft_g",), units="1",
                       long_name="DMFT variance Delta0 = <x_i^2> of the SCS network")
            w.variable("dmft_tau_half", st["dmft_tau_half"], dims=("dmft_g",), units="tau",
                       long_name="DMFT half-decay time of the autocorrelation")
