"""Linear stability of the balanced network at x = 0: the state that the eigenvalues of J predict
per realization (module docstring of :mod:`balnet.theory.dmft`, part 3), and their storage.
"""
from __future__ import annotations

import json
from typing import Sequence

import numpy as np

from ..engine.figures import _plt, _size_duration, save
from ..engine.io import H5Writer, read
from ..engine.sweep import param_units, records_from_attrs, write_sweep_coords
from ..model.network import column_scales, eigenvalues, outliers, realization_couplings
from ..model.states import CHAOS, DECAY, FIXED_POINT, OSCILLATION, PHASES
from .dmft import MeanFieldParams

__all__ = [
    "bulk_radius",
    "predict_state",
    "stability_predictions",
    "predictions_applicable",
    "run_predictions",
    "confusion_table",
    "empty_predictions",
    "fill_predictions",
    "PREDICTION_VARIABLES",
    "STABILITY_VARIABLES",
    "write_stability",
    "plot_stability",
]


def bulk_radius(net) -> float:
    r"""Radius :math:`\rho = \sqrt{\langle g_j^2\rangle_j}` of the eigenvalue disk of the random part."""

    return float(np.sqrt(np.mean(column_scales(net) ** 2)))


def predict_state(ev: np.ndarray, radius: float, margin: float = 0.05, imag_tol: float = 1e-9) -> tuple[int, float]:
    r"""Predicted class (index into :data:`balnet.model.states.PHASES`) and period from the eigenvalues of ``J``.

    Rules (module docstring, part 3): ``radius > 1`` -> chaos; else with :math:`\mu` the
    eigenvalue of largest real part: :math:`\mathrm{Re}\,\mu < 1` -> decay; real
    :math:`\mu` (:math:`|\mathrm{Im}\,\mu| \le` ``imag_tol`` :math:`|\mu|`) -> fixed point;
    otherwise oscillation.  The period :math:`2\pi/|\mathrm{Im}\,\mu_o|` of the leading
    complex *outlier* :math:`\mu_o` (modulus above ``radius (1 + margin)``) with
    :math:`\mathrm{Re}\,\mu_o > 1` is returned for every class (``nan`` when none).
    """

    ev = np.asarray(ev)
    mu = ev[np.argmax(ev.real)]
    out = ev[(np.abs(ev) > radius * (1 + margin)) & (ev.real > 1) & (np.abs(ev.imag) > imag_tol * np.abs(ev))]
    period = float(2 * np.pi / np.abs(out[np.argmax(out.real)].imag)) if out.size else np.nan
    if radius > 1.0:
        return CHAOS, period
    if mu.real < 1.0:
        return DECAY, period
    if abs(mu.imag) <= imag_tol * abs(mu):
        return FIXED_POINT, period
    return OSCILLATION, period


def stability_predictions(net, root_seed: int, ids: Sequence[int], margin: float = 0.05) -> dict:
    r"""Eigenvalue-based predictions for realizations ``ids`` of ``net`` (couplings rebuilt
    exactly from ``root_seed``, :func:`balnet.model.network.realization_couplings`).

    Returns ``predicted`` ``(R,)`` int8, ``period`` ``(R,)`` [tau], ``lead_re``,
    ``lead_im`` (eigenvalue of ``J`` with the largest real part), ``n_outliers``
    (modulus above ``radius (1 + margin)``) and ``radius``.
    """

    rad = bulk_radius(net)
    R = len(ids)
    res = dict(predicted=np.zeros(R, np.int8), period=np.full(R, np.nan), lead_re=np.zeros(R), lead_im=np.zeros(R),
               n_outliers=np.zeros(R, np.int64), radius=rad)
    for r, k in enumerate(ids):
        ev = eigenvalues(realization_couplings(net, root_seed, int(k)))
        res["predicted"][r], res["period"][r] = predict_state(ev, rad, margin)
        res["lead_re"][r], res["lead_im"][r] = ev[0].real, abs(ev[0].imag)
        res["n_outliers"][r] = outliers(ev, rad, margin).size
    return res


def predictions_applicable(net, sim) -> str:
    r"""Why the linear-stability predictions do not apply to a run (``""`` when they do):
    they need tanh (:math:`\phi(0) = 0`, :math:`\phi'(0) = 1`), ``I0 = 0`` and no noise."""
    if net.gain != "tanh":
        return f"gain {net.gain} (needs tanh)"
    if sim.I0 != 0.0:
        return f"I0 = {sim.I0} (needs 0)"
    if getattr(sim, "sigma", 0.0) != 0.0:
        return f"noise sigma = {sim.sigma} (needs 0)"
    return ""


def run_predictions(attrs, ids: Sequence[int], margin: float = 0.05) -> dict | None:
    """:func:`stability_predictions` for the realizations ``ids`` of a simulation file with
    attributes ``attrs`` (``balnet.engine.io.read_attrs``); ``None`` where they do not apply
    (:func:`predictions_applicable`)."""

    net, sim = records_from_attrs(attrs)
    if predictions_applicable(net, sim):
        return None
    return stability_predictions(net, sim.seed, ids, margin)


def confusion_table(predicted: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, float]:
    """Counts ``(n_phases, n_phases)`` of (predicted, measured) over realizations x trials and the
    fraction on the diagonal; ``predicted`` ``(R,)``, ``labels`` ``(R, B)``; ``-1`` entries skipped
    (agreement ``nan`` when nothing is left)."""

    C = np.zeros((len(PHASES), len(PHASES)), np.int64)
    pr = np.broadcast_to(np.asarray(predicted)[:, None], np.shape(labels))
    lab = np.asarray(labels)
    ok = (lab >= 0) & (pr >= 0)
    if not ok.any():
        return C, np.nan
    np.add.at(C, (pr[ok], lab[ok]), 1)
    return C, float(np.mean(pr[ok] == lab[ok]))


def empty_predictions(grid: tuple, nR: int) -> dict:
    """Arrays of :data:`PREDICTION_VARIABLES` over ``grid`` (missing: ``-1`` / ``nan``)."""

    nP = len(PHASES)
    return dict(predicted=np.full(grid + (nR,), -1, np.int8), period_pred=np.full(grid + (nR,), np.nan),
                lead_re=np.full(grid + (nR,), np.nan), lead_im=np.full(grid + (nR,), np.nan),
                n_outliers=np.full(grid + (nR,), -1, np.int64), confusion=np.zeros(grid + (nP, nP), np.int64),
                agreement=np.full(grid, np.nan), radius=np.full(grid, np.nan))


def fill_predictions(res: dict, ix: tuple, pred: dict | None) -> None:
    """Store one point's :func:`stability_predictions` (``None``: leave missing)."""
    if pred is None:
        return
    res["predicted"][ix] = pred["predicted"]
    res["period_pred"][ix] = pred["period"]
    res["lead_re"][ix], res["lead_im"][ix] = pred["lead_re"], pred["lead_im"]
    res["n_outliers"][ix] = pred["n_outliers"]
    res["radius"][ix] = pred["radius"]


#: variables of the predictions (in stability files and phase diagrams): name -> (extra dims, units, long name)
PREDICTION_VARIABLES = {
    "predicted": (("realization",), "", "predicted class index from eig(J) at x = 0 (see phase_name; -1: n/a)"),
    "period_pred": (("realization",), "tau", "predicted period 2 pi / Im mu of the leading complex outlier, Re > 1"),
    "lead_re": (("realization",), "1", "real part of the eigenvalue of J with the largest real part"),
    "lead_im": (("realization",), "1", "|imaginary part| of that eigenvalue"),
    "n_outliers": (("realization",), "1", "number of eigenvalues outside the bulk disk (radius (1 + margin))"),
    "confusion": (("predicted_phase", "phase"), "1", "counts of realizations x trials: predicted x measured class"),
    "agreement": ((), "1", "fraction of realizations x trials whose measured class is the predicted one"),
    "radius": ((), "1", "bulk radius sqrt(<g_j^2>) of the random part"),
}


STABILITY_VARIABLES = {
    **PREDICTION_VARIABLES,
    "labels": (("realization", "trial"), "", "measured class index (balnet reduce phases; -1: missing)"),
    "period": (("realization", "trial"), "tau", "measured period 1/f_peak of the population rates"),
}


def write_stability(st: dict, path, params: MeanFieldParams | None = None, *,
                    command: str = "balnet meanfield stability", inputs: Sequence = ()) -> None:
    """Write :func:`stability_table` output to HDF5 (``kind="meanfield_stability"``)."""

    dims = list(st["dims"])
    with H5Writer(path, kind="meanfield_stability", params={"meanfield": params or MeanFieldParams(), "sweep": dims},
                  realization_ids=st["realization"], command=command, phases=json.dumps(list(PHASES)),
                  sweep=json.dumps(dims), inputs=json.dumps([str(p) for p in inputs]),
                  N=json.dumps(st.get("sizes", [])), T=json.dumps(st.get("durations", []))) as w:
        write_sweep_coords(w, dims, st["coords"], param_units())
        w.coord("realization", st["realization"], long_name="connectivity realization id")
        w.coord("trial", np.arange(st["n_trials"]), long_name="trial")
        w.coord("phase", np.arange(len(PHASES)), long_name="measured phase class index (see phase_name)")
        w.coord("predicted_phase", np.arange(len(PHASES)), long_name="predicted phase class index (see phase_name)")
        w.variable("phase_name", np.asarray(PHASES, dtype=object), dims=("phase",), long_name="phase class name",
                   compress=False)
        for k, (extra, u, ln) in STABILITY_VARIABLES.items():
            w.variable(k, st[k], dims=(*dims, *extra), units=u, long_name=ln)


def plot_stability(h5, out) -> None:
    """Figure of a ``kind="meanfield_stability"`` file: the confusion table summed over the
    sweep (counts), the agreement per sweep point, and predicted vs measured periods of
    the realizations measured to oscillate.  The title gives ``N`` and ``T`` of the runs and the
    expected finite-size direction."""

    plt = _plt()
    a, attrs = read(h5)

    names = json.loads(attrs["phases"]) if "phases" in attrs else list(PHASES)
    dims = json.loads(attrs.get("sweep", "[]"))
    nd = len(dims)
    C = a["confusion"].reshape(-1, len(names), len(names)).sum(0)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    ax = axes[0]
    rows = [i for i in range(len(names)) if C[i].sum() > 0] or list(range(4))
    ax.imshow(C[rows], cmap="Blues", aspect="auto")
    for i, r in enumerate(rows):
        for j in range(len(names)):
            ax.text(j, i, str(C[r, j]), ha="center", va="center", fontsize=8,
                    color="w" if C[r, j] > 0.6 * max(C.max(), 1) else "k")
    ax.set_yticks(range(len(rows)), [names[r] for r in rows])
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right")
    ax.set_ylabel("predicted (eig J at x = 0)")
    ax.set_xlabel("measured (simulation)")
    ax.set_title("realizations x trials, all points", fontsize=9)
    agr = np.ravel(a["agreement"])
    if nd:
        import itertools

        def fmt(d, i):
            v = a[d][i]
            return f"{d}={v:.3g}" if np.issubdtype(np.asarray(a[d]).dtype, np.number) else f"{d}={v}"

        labels = [", ".join(fmt(d, i) for d, i in zip(dims, ix))
                  for ix in itertools.product(*[range(len(a[d])) for d in dims])]
    else:
        labels = [""]
    axes[1].bar(range(agr.size), agr, color="C0")
    axes[1].set_xticks(range(agr.size), labels, rotation=60, ha="right", fontsize=7)
    axes[1].set_ylim(0, 1.05)
    axes[1].set_ylabel("agreement (fraction predicted = measured)")
    lab = a["labels"]
    pp = np.broadcast_to(a["period_pred"][..., None], lab.shape)

    m = (lab == OSCILLATION) & np.isfinite(pp) & np.isfinite(a["period"])
    axes[2].plot(pp[m], a["period"][m], "o", color="C1", ms=4)
    if m.any():
        lo, hi = min(pp[m].min(), a["period"][m].min()), max(pp[m].max(), a["period"][m].max())
        axes[2].plot([lo, hi], [lo, hi], "k:", lw=0.8)
    else:
        axes[2].text(0.5, 0.5, "no oscillating realization\nwith a predicted period", ha="center", va="center",
                     transform=axes[2].transAxes, fontsize=9, color="0.4")
    axes[2].set_xlabel(r"predicted period $2\pi/\mathrm{Im}\,\mu$ [$\tau$]")
    axes[2].set_ylabel(r"measured period [$\tau$]")
    axes[2].set_title("oscillating realizations", fontsize=9)
    fig.suptitle(f"simulations: {_size_duration(attrs)}.  Finite N: the bulk edge and outliers fluctuate by "
                 r"$O(N^{-1/2})$, so agreement is expected to drop near $g = 1$ and Re$\,\mu = 1$ and rise with N; "
                 "finite T: slow decays near threshold still move", fontsize=8)
    fig.tight_layout()
    save(fig, out)
