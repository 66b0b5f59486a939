"""Phase diagrams: classify every trajectory of every run of a sweep and reduce to class fractions,
beside the linear-stability predictions (:mod:`balnet.theory.stability`); and the
predicted-vs-measured stability table.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Sequence

import h5py
import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

from ..engine.io import H5Writer, read, read_attrs
from ..engine.params import ConfigError
from ..engine.progress import progress_bar
from ..engine.sweep import (
    coord_array,
    flat_params,
    param_units,
    records_from_attrs,
    sweep_grid,
    write_sweep_coords,
)
from ..model.states import MISSING, PHASES
from ..theory.dmft import MeanFieldParams
from ..theory.stability import (
    PREDICTION_VARIABLES,
    confusion_table,
    empty_predictions,
    fill_predictions,
    predictions_applicable,
    run_predictions,
)
from .classify import (
    ORDER_PARAMETERS,
    PhaseCriteria,
    classify,
    final_speed,
    fixed_point_growth,
    locate_fixed_point,
    order_parameters,
)

__all__ = [
    "classify_run",
    "lyapunov_evidence",
    "phase_diagram",
    "wilson_interval",
    "write_phase_diagram",
    "stability_table",
]


def classify_run(path, criteria: PhaseCriteria | None = None, lyapunov_path=None) -> dict:
    """Order parameters and labels of every trajectory of one simulation file.

    Returns a dict with ``labels`` ``(R, B)`` (int8), the order parameters of
    :func:`order_parameters`, ``realization`` ids, ``params`` (flat dict of the
    file's parameters) and ``n_trials``.  ``lambda_max`` and its interval are taken from
    ``lyapunov_path`` (matched by realization id and trial) when given
    (:func:`lyapunov_evidence`).  Every trajectory that is at rest or converging (every
    part of the late window smaller than the one before) gets Newton's fixed point from
    its final state (:func:`locate_fixed_point`, order parameter ``fp_rms``) and that
    point's stability (:func:`fixed_point_growth`, ``fp_growth``).
    """

    c = criteria or PhaseCriteria()
    a, attrs = read(path, ["time", "nu_E", "nu_I", "x", "neuron", "final_state", "realization"], kind="simulation")
    net, sim = records_from_attrs(attrs)
    ids = [int(k) for k in a["realization"]]
    speed = final_speed(net, sim, ids, a["final_state"])
    rms = np.sqrt(np.mean(np.asarray(a["final_state"], float) ** 2, axis=-1))
    lam = ci = div = None
    if lyapunov_path is not None:
        lam, ci, div = lyapunov_evidence(lyapunov_path, ids, speed.shape[1], c.lambda_level)
    op = order_parameters(a["time"], a["nu_E"], a["nu_I"], a["x"], speed=speed, rms=rms, lambda_max=lam,
                          lambda_ci=ci, late_fraction=c.late_fraction, gain=net.gain,
                          excitatory=np.asarray(a["neuron"]) < net.N_E, parts=c.trend_parts)
    op["lyapunov_divergent"] = np.zeros(speed.shape) if div is None else div.astype(float)
    op["fp_rms"] = np.full(speed.shape, np.nan)
    op["fp_growth"] = np.full(speed.shape, np.nan)
    x_end = np.asarray(a["final_state"], float)
    with np.errstate(invalid="ignore"):
        candidate = (op["speed"] < c.speed_tol) | (op["trend"] < -c.trend_tol) | (op["activity_trend"] < -c.trend_tol)
    candidate &= np.isfinite(op["speed"]) & (op["rms"] <= c.diverge)
    for r, b in zip(*np.nonzero(candidate)):
        xs, ok = locate_fixed_point(net, sim, ids[r], x_end[r, b])
        if ok:
            op["fp_rms"][r, b] = np.sqrt(np.mean(xs * xs))
            op["fp_growth"][r, b] = fixed_point_growth(net, sim, ids[r], xs)
    op["labels"] = classify(op, c)
    op["realization"] = np.asarray(ids)
    op["params"] = flat_params(attrs)
    return op


def lyapunov_evidence(path, ids, n_trials, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""``lambda_max`` ``(R, B)``, its confidence interval ``(R, B, 2)`` and the divergence flag
    ``(R, B)`` of the trajectories ``ids`` in a Lyapunov file (``nan`` / ``False`` where absent).

    The interval is the Student-t interval of the mean window FTLE at ``level``,
    :math:`\bar\lambda \pm t_{(1+\text{level})/2,\,W-1}\, s/\sqrt W` over the ``W >= 2`` windows
    of ``ftle_micro`` (it keeps its coverage for few windows, where the percentile bootstrap of
    the file's ``lambda_max_ci`` is too narrow: with ``W = 2`` that is about the range of the two
    values); the file's ``lambda_max_ci`` when there are no window FTLEs; ``nan`` otherwise (one
    window: no measured uncertainty, so no Lyapunov evidence).  A trajectory flagged ``divergent`` in the file
    (non-finite state during the Lyapunov run) has ``lambda_max = nan``.
    """
    a, attrs = read(path, None, kind="lyapunov")
    pos = {int(k): i for i, k in enumerate(a["realization"])}
    lam = np.full((len(ids), n_trials), np.nan)
    ci = np.full((len(ids), n_trials, 2), np.nan)
    div = np.zeros((len(ids), n_trials), bool)
    L = np.asarray(a["lambda_max"], float)
    if "ftle_micro" in a and np.shape(a["ftle_micro"])[-1] >= 2:
        F = np.asarray(a["ftle_micro"], float)
        W = F.shape[-1]
        half = student_t.ppf(0.5 * (1 + level), W - 1) * F.std(-1, ddof=1) / np.sqrt(W)
        m = F.mean(-1)
        C = np.stack([m - half, m + half], axis=-1)
    elif "lambda_max_ci" in a and "ftle_micro" not in a:
        C = np.asarray(a["lambda_max_ci"], float)
    else:
        C = np.full(L.shape + (2,), np.nan)
    D = np.asarray(a["divergent"], bool) if "divergent" in a else np.zeros(L.shape, bool)
    nb = min(n_trials, L.shape[1])
    for r, k in enumerate(ids):
        if k in pos:
            lam[r, :nb] = L[pos[k], :nb]
            ci[r, :nb] = C[pos[k], :nb]
            div[r, :nb] = D[pos[k], :nb]
    lam[div] = np.nan
    ci[div] = np.nan
    return lam, ci, div


def wilson_interval(k, n, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    r"""Wilson score interval of a binomial proportion :math:`\hat p = k/n`.

    .. math::
        \frac{\hat p + \frac{z^2}{2n} \pm z\sqrt{\frac{\hat p(1-\hat p)}{n} + \frac{z^2}{4n^2}}}{1 + \frac{z^2}{n}},
        \qquad z = \Phi^{-1}\big(\tfrac{1+\text{level}}{2}\big),

    (Wilson, J. Am. Stat. Assoc. 22:209, 1927; Brown, Cai & DasGupta, Stat. Sci. 16:101, 2001).
    Unlike the Wald interval it stays inside [0, 1] and does not collapse at ``k = 0`` or ``k = n``
    (``k = 0``, ``n = 8``: upper bound 0.32 at 95 %).  Broadcasts; ``nan`` where ``n = 0``.
    """
    k = np.asarray(k, float)
    n = np.asarray(n, float)
    z = float(norm.ppf(0.5 * (1 + level)))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        den = 1 + z * z / n
        mid = (p + z * z / (2 * n)) / den
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
        lo = np.where(n > 0, np.clip(mid - half, 0.0, 1.0), np.nan)
        hi = np.where(n > 0, np.clip(mid + half, 0.0, 1.0), np.nan)
    return lo, hi


def phase_diagram(run_paths: Sequence, lyapunov_paths: Sequence | None = None, *, sweep: Sequence[str] | None = None,
                  criteria: PhaseCriteria | None = None, predictions: bool = True, level: float = 0.95) -> dict:
    """Classify every trajectory of every run and reduce to class fractions per sweep point.

    Parameters
    ----------
    run_paths : simulation files, one per sweep point
    lyapunov_paths : Lyapunov files, matched to runs by their parameter values (optional;
        points without one fall back to the periodicity rule)
    sweep : names of swept parameters (default: the parameters that differ)
    criteria : PhaseCriteria
    predictions : also compare every realization's class with the state that the eigenvalues
        of ``J`` at ``x = 0`` predict (:mod:`balnet.theory.dmft`, part 3; points where they do not
        apply, e.g. ``I0 != 0``, stay missing)
    level : confidence level of the Wilson intervals of the fractions

    Returns
    -------
    dict with ``dims`` (sweep names), ``coords`` (their values), ``labels``
    ``(*grid, R, B)`` int8 (``-1`` where a point is missing), ``fractions``
    ``(*grid, n_phases)`` with their Wilson intervals ``fractions_lo``/``fractions_hi`` and the
    ``counts`` (:func:`wilson_interval`; the realizations x trials of a point are the trials of
    a binomial), every order parameter ``(*grid, R, B)``, ``realization`` ids and ``criteria``; with ``predictions`` also the variables of
    :data:`balnet.theory.stability.PREDICTION_VARIABLES` (``predicted`` ``(*grid, R)``,
    ``confusion`` ``(*grid, predicted, measured)``, ``agreement`` ``(*grid)``, ...).
    """
    c = criteria or PhaseCriteria()

    run_attrs = [read_attrs(p) for p in run_paths]
    run_params = [flat_params(a) for a in run_attrs]
    names, values, index = sweep_grid(run_params, sweep)
    lyap_for = {}
    if lyapunov_paths:
        lp = [flat_params(read_attrs(p)) for p in lyapunov_paths]
        for p, params in zip(lyapunov_paths, lp):
            key = tuple(params.get(n) for n in names)
            lyap_for[key] = p
    results = []
    for path, params in zip(run_paths, run_params):
        key = tuple(params.get(n) for n in names)
        results.append(classify_run(path, c, lyap_for.get(key)))
    R = {r["labels"].shape for r in results}
    if len(R) != 1:
        raise ConfigError(f"input files differ in realizations x trials: {sorted(R)}")
    (nR, nB), = R
    grid = tuple(len(v) for v in values)
    labels = np.full(grid + (nR, nB), MISSING, dtype=np.int8)
    ops = {k: np.full(grid + (nR, nB), np.nan) for k in ORDER_PARAMETERS}
    for ix, r in zip(index, results):
        labels[ix] = r["labels"]
        for k in ORDER_PARAMETERS:
            ops[k][ix] = r[k]
    counts = np.zeros(grid + (len(PHASES),), np.int64)
    for ix in itertools.product(*[range(n) for n in grid]):
        lab = labels[ix]
        counts[ix] = np.bincount(lab[lab >= 0].ravel(), minlength=len(PHASES))
    n = counts.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        fractions = np.where(n > 0, counts / np.maximum(n, 1), np.nan)
    lo, hi = wilson_interval(counts, n, level)
    sizes = sorted({int(p["N"]) for p in run_params if "N" in p})
    durations = sorted({float(p["T"]) for p in run_params if "T" in p})
    pd = dict(dims=names, coords=[coord_array(v) for v in values], labels=labels, fractions=fractions,
              sizes=sizes, durations=durations,
              fractions_lo=lo, fractions_hi=hi, counts=counts, level=level,
              realization=results[0]["realization"], n_trials=nB, criteria=c, **ops)
    if predictions:

        pred = empty_predictions(grid, nR)
        for ix, at, r in zip(index, run_attrs, results):
            fill_predictions(pred, ix, run_predictions(at, [int(k) for k in r["realization"]]))
        for ix in itertools.product(*[range(n) for n in grid]):
            pred["confusion"][ix], pred["agreement"][ix] = confusion_table(pred["predicted"][ix], labels[ix])
        pd.update(pred)
    return pd


def write_phase_diagram(pd: dict, path, *, command: str = "balnet reduce phases", inputs: Sequence = ()) -> None:
    """Write :func:`phase_diagram` output to HDF5 (dimension scales over the swept parameters).

    Variables: ``fractions`` (*sweep, phase) with their Wilson intervals ``fractions_lo``,
    ``fractions_hi`` and the ``counts``, ``labels`` (*sweep, realization, trial) (integer index
    into the file attribute ``phases``, ``-1`` = missing), every order parameter (*sweep,
    realization, trial); the coordinate ``phase`` holds the class names (strings, so that
    ``xr.open_dataset(p, engine="h5netcdf").fractions.sel(phase="chaos")`` works), the
    variable ``phase_index`` their integer labels; the linear-stability predictions
    (:data:`balnet.theory.stability.PREDICTION_VARIABLES`) when the reduction made them.
    """

    dims = list(pd["dims"])
    units = param_units()
    with H5Writer(path, kind="phase_diagram", params={"criteria": dataclasses.asdict(pd["criteria"]), "sweep": dims},
                  interval=f"{pd.get('level', 0.95):g} Wilson score interval",
                  N=json.dumps(pd.get("sizes", [])), T=json.dumps(pd.get("durations", [])),
                  realization_ids=pd["realization"], command=command, phases=json.dumps(list(PHASES)),
                  sweep=json.dumps(dims), inputs=json.dumps([str(p) for p in inputs])) as w:
        write_sweep_coords(w, dims, pd["coords"], units)
        w.coord("realization", np.asarray(pd["realization"]), long_name="connectivity realization id")
        w.coord("trial", np.arange(pd["n_trials"]), long_name="trial")
        w.coord("phase", np.asarray(PHASES, dtype=h5py.string_dtype()), long_name="phase class name")
        w.variable("phase_index", np.arange(len(PHASES)), dims=("phase",),
                   long_name="integer label of the class (values of labels)", compress=False)
        w.variable("phase_name", np.asarray(PHASES, dtype=object), dims=("phase",), long_name="phase class name", compress=False)
        w.variable("fractions", pd["fractions"], dims=(*dims, "phase"), units="1",
                   long_name="fraction of realizations x trials in each phase")
        lv = pd.get("level", 0.95)
        for k, side in (("fractions_lo", "lower"), ("fractions_hi", "upper")):
            if k in pd:
                w.variable(k, pd[k], dims=(*dims, "phase"), units="1",
                           long_name=f"{side} bound of the {lv:g} Wilson score interval of the fraction")
        if "counts" in pd:
            w.variable("counts", pd["counts"], dims=(*dims, "phase"), units="1",
                       long_name="number of realizations x trials in each phase")
        w.variable("labels", pd["labels"], dims=(*dims, "realization", "trial"),
                   long_name="phase class index per realization and trial (-1: missing)")
        for k, (u, ln) in ORDER_PARAMETERS.items():
            w.variable(k, pd[k], dims=(*dims, "realization", "trial"), units=u, long_name=ln)
        if "confusion" in pd:

            w.coord("predicted_phase", np.asarray(PHASES, dtype=h5py.string_dtype()), long_name="predicted phase class name")
            for k, (extra, u, ln) in PREDICTION_VARIABLES.items():
                w.variable(k, pd[k], dims=(*dims, *extra), units=u, long_name=ln)


def _labels_from_phase_diagram(pd_path, params: dict, ids: Sequence[int]):

    a, attrs = read(pd_path, None)
    dims = json.loads(attrs.get("sweep", "[]"))
    ix = []
    for d in dims:
        c = np.asarray(a[d])
        v = params.get(d)
        hit = np.nonzero(c == v)[0] if c.dtype.kind in "OSU" else np.nonzero(np.isclose(c.astype(float), float(v)))[0]
        if hit.size != 1:
            return None
        ix.append(int(hit[0]))
    pos = {int(k): i for i, k in enumerate(a["realization"])}
    if any(int(k) not in pos for k in ids):
        return None
    lab = np.asarray(a["labels"])[tuple(ix)]
    per = np.asarray(a["period"])[tuple(ix)]
    sel = [pos[int(k)] for k in ids]
    return lab[sel], per[sel]


def stability_table(run_paths: Sequence, *, phase_diagram_path=None, sweep: Sequence[str] | None = None,
                    criteria=None, params: MeanFieldParams | None = None, progress: bool = False) -> dict:
    r"""Predicted (linear stability at :math:`x = 0`) vs measured class, per sweep point.

    For every simulation file (one per sweep point; tanh, ``I0 = 0``, no noise, else
    :class:`ConfigError`), the predictions of :func:`stability_predictions` for each
    realization are compared with the labels of every trial: the measured labels are taken
    from ``phase_diagram_path`` (a ``balnet reduce phases`` file of the same runs) when
    given, else :func:`balnet.phases.diagram.classify_run` computes them.  Returns a dict with
    ``dims``, ``coords``, ``predicted`` ``(*grid, R)``, ``period_pred`` ``(*grid, R)``,
    ``labels`` and ``period`` (measured) ``(*grid, R, B)``, ``lead_re``, ``lead_im``,
    ``n_outliers`` ``(*grid, R)``, ``confusion`` ``(*grid, predicted, measured)`` counts
    over realizations x trials (classes of :data:`balnet.model.states.PHASES`), ``agreement``
    ``(*grid)`` (fraction on the diagonal) and ``radius`` ``(*grid)``.  (``balnet reduce
    phases`` stores the same variables in the phase diagram, see
    :func:`balnet.phases.diagram.phase_diagram`.)
    """
    import itertools


    p = params or MeanFieldParams()
    attrs = [read_attrs(path, kind="simulation") for path in run_paths]
    flat = [flat_params(a) for a in attrs]
    names, values, index = sweep_grid(flat, sweep)
    rows = []
    bar = progress_bar(len(run_paths), progress, "stability", unit="file")
    for path, at, fp in zip(run_paths, attrs, flat):
        if bar is not None:
            bar.update(1)
        why = predictions_applicable(*records_from_attrs(at))
        if why:
            raise ConfigError(f"{path}: linear-stability predictions do not apply: {why}")
        a, _ = read(path, ["realization"])
        ids = [int(k) for k in a["realization"]]
        pred = run_predictions(at, ids, p.margin)
        got = _labels_from_phase_diagram(phase_diagram_path, fp, ids) if phase_diagram_path else None
        if got is None:
            cr = classify_run(path, criteria)
            got = cr["labels"], cr["period"]
        rows.append((ids, pred, got[0], got[1]))
    if bar is not None:
        bar.close()
    shapes = {r[2].shape for r in rows}
    if len(shapes) != 1:
        raise ConfigError(f"input files differ in realizations x trials: {sorted(shapes)}")
    (nR, nB), = shapes
    grid = tuple(len(v) for v in values)
    res = empty_predictions(grid, nR)
    res.update(labels=np.full(grid + (nR, nB), -1, np.int8), period=np.full(grid + (nR, nB), np.nan))
    for ix, (ids, pred, lab, per) in zip(index, rows):
        fill_predictions(res, ix, pred)
        res["labels"][ix] = lab
        res["period"][ix] = per
    for ix in itertools.product(*[range(n) for n in grid]):
        res["confusion"][ix], res["agreement"][ix] = confusion_table(res["predicted"][ix], res["labels"][ix])
    res.update(dims=names, coords=[coord_array(v) for v in values], realization=np.asarray(rows[0][0]), n_trials=nB,
               sizes=sorted({int(p["N"]) for p in flat if "N" in p}), durations=sorted({float(p["T"]) for p in flat if "T" in p}))
    return res
