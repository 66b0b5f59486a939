r"""Validation of the classifier: a reference labelling from long runs, and per-class scores.

The reference label of a trajectory comes from the *same* trajectory continued to a long time
(``T_ref >= 10 T``; same root seed, hence the same couplings and initial state) and from the
eigenvalues of ``J``; it uses none of the classifier's order parameters:

1. ``divergent``: the long run has non-finite values or RMS activity above ``1e6``;
2. ``chaos``: the bootstrap interval of :math:`\lambda_{\max}` over the long run (``ref_lyap``,
   windows of ``t_window``) lies above 0;
3. at rest: the RMS speed of the final state of the long run below ``1e-6``, or the interval of
   :math:`\lambda_{\max}` below 0: ``decay`` when the final RMS activity is below ``1e-3``, else
   ``fixed_point``;
4. otherwise the interval of :math:`\lambda_{\max}` contains 0 and the state moves: a periodic or
   quasi-periodic attractor, ``oscillation`` when the E/I population rates carry it coherently
   (Golomb synchrony over the last half of the long run :math:`\chi \ge 0.2` and the
   :math:`\nu_E + \nu_I` spectrum concentrated, at least half of its power within one bin of
   its peak), else ``cycle``;
5. below ``g = 1`` (tanh, ``I0 = 0``, no noise) the eigenvalues of ``J`` predict the state
   (:func:`balnet.theory.stability.stability_predictions`): where they predict ``decay``
   (``x = 0`` linearly stable) or the long run says ``decay``, the two must agree; a conflict makes
   the reference ``undetermined`` (counted, left out of the scores).

:func:`scores` compares the classifier's labels with the reference: per class, precision
(correct / labelled so, over trajectories with a reference) and recall (correct / reference
class), and the fraction the classifier leaves ``undetermined``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..engine.io import read
from ..engine.sweep import records_from_attrs
from ..model.states import (
    CHAOS,
    CYCLE,
    DECAY,
    DIVERGENT,
    FIXED_POINT,
    OSCILLATION,
    PHASES,
    UNDETERMINED,
)
from ..theory.stability import predictions_applicable, stability_predictions
from .classify import PhaseCriteria, final_speed
from .diagram import classify_run, lyapunov_evidence

__all__ = ["reference_labels", "scores", "evaluate_grid", "markdown_tables"]


def reference_labels(run_path, lyap_path) -> dict:
    """Reference labels ``(R, B)`` of the trajectories of a long run (rules in the module docstring).

    Returns ``labels``, ``lambda_max``, ``lambda_ci``, ``speed``, ``rms``, ``synchrony``,
    ``coherence``, ``predicted`` ``(R,)`` (``-1``: predictions do not apply) and
    ``conflicts`` (trajectories whose long run contradicts the eigenvalue prediction).
    """
    a, attrs = read(run_path, ["time", "nu_E", "nu_I", "x", "neuron", "final_state", "realization"], kind="simulation")
    net, sim = records_from_attrs(attrs)
    ids = [int(k) for k in a["realization"]]
    xe = np.asarray(a["final_state"], float)
    R, B = xe.shape[:2]
    with np.errstate(all="ignore"):
        rms = np.sqrt(np.mean(xe**2, axis=-1))
        finite = np.isfinite(xe).all(-1)
        speed = np.full((R, B), np.nan)
        if finite.all():
            speed = final_speed(net, sim, ids, xe)
    lam, ci, div = lyapunov_evidence(lyap_path, ids, B)
    t = np.asarray(a["time"], float)
    late = t >= t[0] + 0.5 * (t[-1] - t[0])
    dt = float(np.median(np.diff(t)))
    E, I = np.asarray(a["nu_E"], float)[..., late], np.asarray(a["nu_I"], float)[..., late]
    x = np.asarray(a["x"], float)[..., late, :]
    exc = np.asarray(a["neuron"]) < net.N_E
    with np.errstate(all="ignore"):
        rates = np.tanh(x[..., exc]) if exc.any() else np.tanh(x)
        pop = E if exc.any() else I
        chi = np.sqrt(pop.var(-1) / rates.var(-2).mean(-1))
        s = (E + I) - (E + I).mean(-1, keepdims=True)
        P = np.abs(np.fft.rfft(s * np.hanning(s.shape[-1]), axis=-1))[..., 1:] ** 2
        k = np.argmax(P, -1)
        near = np.abs(np.arange(P.shape[-1]) - k[..., None]) <= 1
        coh = (P * near).sum(-1) / P.sum(-1)
    labels = np.full((R, B), UNDETERMINED, np.int8)
    lo, hi = ci[..., 0], ci[..., 1]
    with np.errstate(invalid="ignore"):
        rest = (speed < 1e-6) | (hi < 0)
        moving_neutral = (lo <= 0) & (hi >= 0) & ~rest
        labels[moving_neutral] = np.where((chi >= 0.2) & (coh >= 0.5), OSCILLATION, CYCLE)[moving_neutral]
        labels[rest] = np.where(rms < 1e-3, DECAY, FIXED_POINT)[rest]
        labels[lo > 0] = CHAOS
        labels[~finite | (rms > 1e6) | div] = DIVERGENT
    pred = np.full(R, -1, np.int8)
    conflicts = 0
    if not predictions_applicable(net, sim) and net.g < 1:
        pred = stability_predictions(net, sim.seed, ids)["predicted"]
        pb = np.broadcast_to(pred[:, None], (R, B))
        bad = ((pb == DECAY) | (labels == DECAY)) & (pb != labels)
        conflicts = int(bad.sum())
        labels[bad] = UNDETERMINED
    return dict(labels=labels, lambda_max=lam, lambda_ci=ci, speed=speed, rms=rms, synchrony=chi, coherence=coh,
                predicted=pred, conflicts=conflicts, realization=np.asarray(ids), params=dict(g=net.g, J0=net.J0))


def scores(reference: np.ndarray, labels: np.ndarray) -> dict:
    """Per-class precision and recall of ``labels`` against ``reference`` (equal shapes, any).

    Trajectories whose reference is ``undetermined`` are left out.  For a class ``c``:
    ``recall = #(label = ref = c) / #(ref = c)``, ``precision = #(label = ref = c) / #(label = c)``
    (``nan`` for an empty denominator); ``undetermined`` is the fraction of the trajectories with
    a reference that the classifier left undetermined; ``confusion`` ``(ref, label)`` counts.
    """
    ref = np.ravel(reference)
    lab = np.ravel(labels)
    keep = (ref != UNDETERMINED) & (ref >= 0) & (lab >= 0)
    ref, lab = ref[keep], lab[keep]
    nP = len(PHASES)
    C = np.zeros((nP, nP), np.int64)
    np.add.at(C, (ref, lab), 1)
    out = dict(confusion=C, n=int(keep.sum()), undetermined=float(np.mean(lab == UNDETERMINED)) if lab.size else np.nan)
    for c, name in enumerate(PHASES):
        if c == UNDETERMINED:
            continue
        tp = C[c, c]
        out[name] = dict(n_ref=int(C[c].sum()), n_label=int(C[:, c].sum()),
                         recall=float(tp / C[c].sum()) if C[c].sum() else np.nan,
                         precision=float(tp / C[:, c].sum()) if C[:, c].sum() else np.nan)
    return out


def evaluate_grid(point_dirs: Sequence, criteria: PhaseCriteria | None = None) -> dict:
    """Reference labels and classifier labels (without and with the short Lyapunov file) of every
    point directory (files ``run.h5``, ``lyap.h5``, ``ref_run.h5``, ``ref_lyap.h5``, as written by
    ``bench/phase_validation.py``), and their :func:`scores` pooled over the points."""
    refs, plain, with_l, points = [], [], [], []
    for d in map(Path, point_dirs):
        r = reference_labels(d / "ref_run.h5", d / "ref_lyap.h5")
        refs.append(r["labels"])
        plain.append(classify_run(d / "run.h5", criteria)["labels"])
        with_l.append(classify_run(d / "run.h5", criteria, d / "lyap.h5")["labels"])
        points.append(dict(point=f"{d.parent.name}/{d.name}", **r["params"],
                           reference=r["labels"].ravel().tolist(), without=plain[-1].ravel().tolist(),
                           with_lyapunov=with_l[-1].ravel().tolist(), conflicts=r["conflicts"],
                           predicted=r["predicted"].tolist()))
    ref = np.concatenate([x.ravel() for x in refs])
    return dict(points=points, n_total=int(ref.size), n_reference=int(np.sum(ref != UNDETERMINED)),
                conflicts=int(sum(p["conflicts"] for p in points)),
                without=scores(ref, np.concatenate([x.ravel() for x in plain])),
                with_lyapunov=scores(ref, np.concatenate([x.ravel() for x in with_l])))


def markdown_tables(res: dict) -> str:
    """The per-class precision/recall table of :func:`evaluate_grid` (Markdown)."""
    def f(v):
        return "–" if not np.isfinite(v) else f"{v:.2f}"

    lines = [f"{res['n_total']} trajectories, {res['n_reference']} with a reference label "
             f"({res['conflicts']} left out for contradicting the eigenvalue prediction).", "",
             "| class | n (reference) | precision, no Lyapunov | recall, no Lyapunov | precision, with Lyapunov | recall, with Lyapunov |",
             "|---|---|---|---|---|---|"]
    for c, name in enumerate(PHASES):
        if c == UNDETERMINED:
            continue
        a, b = res["without"][name], res["with_lyapunov"][name]
        if a["n_ref"] == 0 and a["n_label"] == 0 and b["n_label"] == 0:
            continue
        lines.append(f"| {name} | {a['n_ref']} | {f(a['precision'])} ({a['n_label']}) | {f(a['recall'])} | "
                     f"{f(b['precision'])} ({b['n_label']}) | {f(b['recall'])} |")
    lines.append(f"| undetermined (abstained) | | {f(res['without']['undetermined'])} | | "
                 f"{f(res['with_lyapunov']['undetermined'])} | |")
    lines += ["", "Confusion (rows: reference, columns: classifier without / with Lyapunov), classes in the order "
              + ", ".join(PHASES) + ":", ""]
    for key in ("without", "with_lyapunov"):
        C = np.asarray(res[key]["confusion"])
        rows = [i for i in range(len(PHASES)) if C[i].sum()]
        lines.append(f"{key}: " + "; ".join(f"{PHASES[i]} -> {C[i].tolist()}" for i in rows))
    return "\n".join(lines)
