"""Output of the dual-sampling study: the HDF5 file of a run (kind ``dsnn``), its figure, and the summary of runs.

The file layout of each experiment is its :class:`~.experiments.Experiment`'s
``write``; this module adds what every file shares (attributes, the ``chain``
coordinate, the ``summary_*`` attributes) and the collection of several runs
(kind ``dsnn_summary``).
"""
from __future__ import annotations

import warnings

import numpy as np

from ...engine.figures import _plt, save
from ...engine.io import H5Writer, read, read_attrs
from .experiments import EXPERIMENTS, experiment, read_attrs_params
from .params import DSNNParams, field_names

__all__ = ["pad_ragged", "plot_results", "plot_summary", "summary", "write_results", "write_summary"]


def pad_ragged(parts):
    """Pad ``(chains, n_i)`` arrays with NaN to a common ``n`` (the ragged arrays of MPI ranks)."""
    n = max(a.shape[1] for a in parts)
    return [np.pad(a, ((0, 0), (0, n - a.shape[1])), constant_values=np.nan) for a in parts]


def summary(p: DSNNParams, data: dict) -> dict:
    """Headline numbers of an experiment (chains pooled)."""
    return experiment(p.experiment).summary(p, data)


def write_results(path, p: DSNNParams, data: dict, ids, *, n_ranks=1, command=""):
    """HDF5 (kind ``dsnn``) of one experiment, chains gathered; summary scalars as file attributes."""
    summ = summary(p, data)
    with H5Writer(path, kind="dsnn", params={"dsnn": p}, root_seed=p.seed, realization_ids=ids, n_ranks=n_ranks,
                  command=command, experiment=p.experiment, **{f"summary_{k}": v for k, v in summ.items()}) as w:
        w.coord("chain", np.asarray(ids, np.int64), long_name="independent chain k")
        experiment(p.experiment).write(w, p, data, summ)
    return summ


def plot_results(path, fig_path):
    """Figure of one ``balnet dsnn run`` output (layout by experiment)."""
    a, at = read(path, kind="dsnn")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        fig = experiment(str(at.get("experiment"))).plot(_plt(), a, at)
    fig.tight_layout()
    save(fig, fig_path)


def write_summary(files, path):
    """Collect the ``summary_*`` attributes of ``balnet dsnn run`` outputs into one HDF5 (kind ``dsnn_summary``).

    One entry per input file along ``run``; a quantity a file lacks is NaN.
    Numeric parameters that differ between the files are written as ``param_<name>``
    (the swept values of a pipeline sweep).
    """

    attrs = [read_attrs(f, kind="dsnn") for f in files]
    keys = sorted({k for a in attrs for k in a if k.startswith("summary_")})
    params = {str(i): a.get("params", {}) for i, a in enumerate(attrs)}
    with H5Writer(path, kind="dsnn_summary", params=params, command="balnet dsnn summarize",
                  inputs=np.array([str(f) for f in files], dtype="S")) as w:
        w.coord("run", np.arange(len(files)), long_name="input file index")
        w.variable("experiment", np.array([a.get("experiment", "") for a in attrs], dtype="S"), dims=("run",),
                   long_name="experiment of the input file")
        for k in keys:
            w.variable(k[len("summary_"):], np.array([float(a.get(k, np.nan)) for a in attrs]), dims=("run",),
                       long_name=k[len("summary_"):].replace("_", " "))
        recs = [read_attrs_params(a) for a in attrs]
        for name in field_names():
            vals = [r.get(name) for r in recs]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals) and len(set(vals)) > 1:
                w.variable(f"param_{name}", np.array(vals, float), dims=("run",), long_name=f"parameter {name}")


def plot_summary(path, fig_path):
    """Bar charts of the headline numbers: accuracies, time constants, gamma shape and CV."""

    a, _ = read(path)
    exp = [e.decode() if isinstance(e, bytes) else str(e) for e in a["experiment"]]
    plt = _plt()
    groups = [(name, *e.headline) for name, e in EXPERIMENTS.items()]
    swept = [k for k in a if k.startswith("param_")]
    fig, ax = plt.subplots(1, 4, figsize=(16, 3.6))
    for axi, (name, keys, ylab) in zip(ax, groups):
        rows = [i for i, e in enumerate(exp) if e == name]
        if not rows:
            axi.set_axis_off()
            axi.set_title(f"{name}: not run")
            continue
        xs = next((k for k in swept if len(set(a[k][rows].tolist())) == len(rows) > 1), None)
        if xs is not None:  # one swept numeric parameter separates the runs: plot against it
            order = sorted(rows, key=lambda i: a[xs][i])
            for key in keys:
                if key in a:
                    axi.plot(a[xs][order], a[key][order], "o-", label=key)
            axi.set(xlabel=xs[len("param_"):], ylabel=ylab, title=name)
            axi.legend(fontsize=7)
            continue
        for j, i in enumerate(rows):
            vals = [float(a[k][i]) if k in a else np.nan for k in keys]
            axi.bar(np.arange(len(keys)) + 0.8 * j / max(1, len(rows)), vals, width=0.8 / max(1, len(rows)),
                    label=f"run {i}")
        axi.set_xticks(np.arange(len(keys)))
        axi.set_xticklabels(keys, rotation=30, fontsize=7)
        axi.set(title=name, ylabel=ylab)
    fig.tight_layout()
    save(fig, fig_path)
