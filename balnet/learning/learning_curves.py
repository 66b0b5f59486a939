r"""Reduce per-point learning files (``kind="learning"``) of a sweep to learning curves.

For each sweep point, condition ``c`` (baseline, select, pretrain, ...) and
training size ``n``, over learning samples (realizations) ``k``:

.. math::
    \overline{\varepsilon}_c(n) = \langle \mathrm{NRMSE}_{c,k}(n) \rangle_k ,
    \qquad s_c(n) = \operatorname{sd}_k\, \mathrm{NRMSE}_{c,k}(n),

plus the median and interquartile range (robust against the occasional
realization that fails), and the macro FTLE of every network used.
Files are placed on the sweep grid by their stored parameters
(:func:`balnet.phases.classify.sweep_grid`).
"""
from __future__ import annotations

import itertools
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

__all__ = ["learning_curves", "write_learning_curves"]


def _names(a) -> list[str]:
    return [c.decode() if isinstance(c, bytes) else str(c) for c in a["condition"]]


def learning_curves(paths: Sequence, *, sweep: Sequence[str] | None = None) -> dict:
    """Learning curves of every sweep point.

    Returns a dict with ``dims``/``coords`` (swept parameters), ``condition``
    names, ``n_train``, ``test_nrmse`` ``(*grid, condition, realization, n_train)``
    (NaN where a point is missing), ``mean``/``std``/``median``/``q25``/``q75``
    ``(*grid, condition, n_train)``, ``ftle_macro`` ``(*grid, condition, realization)``,
    ``realization`` ids, ``task`` and ``readout``.
    """
    loaded = [read(p, kind="learning") for p in paths]
    first_a, first_attrs = loaded[0]
    conds, n_train = _names(first_a), first_a["n_train"]
    for p, (a, _) in zip(paths, loaded):
        if _names(a) != conds or not np.array_equal(a["n_train"], n_train) or a["test_nrmse"].shape != first_a["test_nrmse"].shape:
            raise ConfigError(f"{p} has other conditions, training sizes or realizations than {paths[0]}")
    names, values, index = sweep_grid([flat_params(attrs) for _, attrs in loaded], sweep)
    grid = tuple(len(v) for v in values)
    C, R, Nn = first_a["test_nrmse"].shape
    err = np.full(grid + (C, R, Nn), np.nan)
    ftle = np.full(grid + (C, R), np.nan)
    for ix, (a, _) in zip(index, loaded):
        err[ix] = a["test_nrmse"]
        ftle[ix] = a["ftle_macro"]
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            stats = dict(
                mean=np.nanmean(err, axis=-2), std=np.nanstd(err, axis=-2), median=np.nanmedian(err, axis=-2),
                q25=np.nanpercentile(err, 25, axis=-2), q75=np.nanpercentile(err, 75, axis=-2),
            )
    return dict(dims=names, coords=[coord_array(v) for v in values], condition=conds, n_train=n_train,
                test_nrmse=err, ftle_macro=ftle, realization=np.asarray(first_attrs["realization_ids"]),
                task=first_attrs.get("task", ""), readout=first_attrs.get("readout", ""),
                train_unit=first_attrs.get("train_unit", "sample"), **stats)


def write_learning_curves(lc: dict, path, *, command: str = "balnet reduce learning", inputs: Sequence = ()) -> None:
    """Write :func:`learning_curves` output (kind ``learning_curves``) with dimension scales."""
    dims = list(lc["dims"])
    with H5Writer(path, kind="learning_curves", params={"sweep": dims}, realization_ids=lc["realization"], command=command,
                  sweep=json.dumps(dims), task=lc["task"], readout=lc["readout"], train_unit=lc["train_unit"],
                  inputs=json.dumps([str(p) for p in inputs])) as w:
        write_sweep_coords(w, dims, lc["coords"], param_units())
        w.coord("condition", np.asarray(lc["condition"], dtype=object), long_name="learning condition")
        w.coord("realization", lc["realization"], long_name="learning sample (network) id")
        w.coord("n_train", lc["n_train"], units=f"{lc['train_unit']}s", long_name="training size")
        w.variable("test_nrmse", lc["test_nrmse"], dims=(*dims, "condition", "realization", "n_train"), units="1",
                   long_name="test NRMSE per learning sample")
        for k, ln in (("mean", "mean"), ("std", "standard deviation"), ("median", "median"),
                      ("q25", "25th percentile"), ("q75", "75th percentile")):
            w.variable(f"test_nrmse_{k}", lc[k], dims=(*dims, "condition", "n_train"), units="1",
                       long_name=f"{ln} of the test NRMSE over learning samples")
        w.variable("ftle_macro", lc["ftle_macro"], dims=(*dims, "condition", "realization"), units="1/tau",
                   long_name="macro FTLE of the network used")


def sweep_points(lc: dict):
    """(index tuple, label) for every grid point, C order."""
    shape = tuple(len(c) for c in lc["coords"])
    for ix in itertools.product(*[range(n) for n in shape]):
        yield ix, ", ".join(f"{d}={c[i]:g}" if isinstance(c[i], (float, np.floating)) else f"{d}={c[i]}"
                            for d, c, i in zip(lc["dims"], lc["coords"], ix)) or "all"
