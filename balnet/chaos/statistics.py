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

__all__ = [
    "lyapunov_statistics",
    "write_lyapunov_statistics",
    "LYAP_VARIABLES",
]


def lyapunov_statistics(paths: Sequence, *, sweep: Sequence[str] | None = None, bins: int = 40,
                        range_: tuple[float, float] | None = None, theory: int = 16) -> dict:
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
    out.update(dims=names, coords=[coord_array(v) for v in values], edges=edges,
               realization=np.asarray(data[0]["realization"]), n_trials=nB, n_exponents=nk,
               sizes=sorted({int(p["N"]) for p in params if "N" in p}),
               durations=sorted({float(p["T"]) for p in params if "T" in p}))
    if theory > 0 and all("g" in p and p.get("gain", "tanh") == "tanh" for p in params):
        out.update(_dmft_reference([float(p["g"]) for p in params], int(theory)))
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
}


def write_lyapunov_statistics(st: dict, path, *, command: str = "balnet reduce lyapunov", inputs: Sequence = ()) -> None:
    """Write :func:`lyapunov_statistics` output to HDF5 (dimension scales over the swept parameters)."""

    dims = list(st["dims"])
    units = param_units()
    with H5Writer(path, kind="lyapunov_stats", params={"sweep": dims}, realization_ids=st["realization"],
                  command=command, sweep=json.dumps(dims), inputs=json.dumps([str(p) for p in inputs]),
                  N=json.dumps(st.get("sizes", [])), T=json.dumps(st.get("durations", []))) as w:
        write_sweep_coords(w, dims, st["coords"], units)
        w.coord("realization", st["realization"], long_name="connectivity realization id")
        w.coord("trial", np.arange(st["n_trials"]), long_name="trial")
        w.coord("exponent", np.arange(st["n_exponents"]), long_name="index of Lyapunov exponent (descending)")
        e = st["edges"]
        w.coord("bin", 0.5 * (e[1:] + e[:-1]), units="1/tau", long_name="FTLE histogram bin centre")
        w.coord("bin_edge", e, units="1/tau", long_name="FTLE histogram bin edges")
        for k, (extra, ln) in LYAP_VARIABLES.items():
            u = "tau" if k.startswith("hist") else ("1" if k == "fraction_positive" else "1/tau")
            w.variable(k, st[k], dims=(*dims, *extra), units=u, long_name=ln)
        if "dmft_g" in st:
            w.coord("dmft_g", st["dmft_g"], units="1", long_name="g of the SCS mean-field reference (J0 = 0, N -> inf)")
            w.variable("dmft_lambda_max", st["dmft_lambda_max"], dims=("dmft_g",), units="1/tau",
                       long_name="DMFT largest Lyapunov exponent of the SCS network (balnet.theory.dmft)")
            w.variable("dmft_delta0", st["dmft_delta0"], dims=("dmft_g",), units="1",
                       long_name="DMFT variance Delta0 = <x_i^2> of the SCS network")
            w.variable("dmft_tau_half", st["dmft_tau_half"], dims=("dmft_g",), units="tau",
                       long_name="DMFT half-decay time of the autocorrelation")
