r"""Macro-FTLE selection and pre-training of connectivity realizations for learning.

Two interventions of the grant report (Hayakawa, KAKENHI JP19K20359), each
switchable in :class:`balnet.learning.reservoir.LearnParams`:

1. **Selection** (``select_pool = P > 1``): of ``P`` candidate realizations,
   keep the one whose measured macro finite-time Lyapunov exponent (FTLE) is
   closest to ``ftle_target`` (0 by default; :func:`select_index`, which also
   offers the grant's rule, the lowest, and the highest).  The default follows
   the measurements: the lowest FTLE made closed-loop target generation worse
   than a random pick and than the FTLE nearest 0 (16 pools, Wilcoxon p = 0.008
   and 0.001), and delayed association worse (below);
   docs/learning_experiments.md.
2. **Pre-training** (``pretrain = true``): change the recurrent couplings of a
   realization so that its measured macro FTLE approaches a target (0 by
   default: marginal stability of the population mode, for tasks that must
   hold temporally sparse inputs over long delays)
   (:func:`pretrain_networks`).

Macro FTLE.  Measured by :func:`macro_ftle` with the Lyapunov module
(:func:`balnet.chaos.lyapunov.lyapunov_run`, its ``ftle_macro`` averaged over
windows and trials), on the autonomous network (no task input), from the
realization's own initial-state streams, so that re-measuring a modified
network uses the same initial states (common random numbers).

Spectral radius.  When ``LearnParams.spectral_radius`` :math:`\rho > 0` the trained network
is :math:`c_k J_k` with :math:`c_k = \rho/\max_i|\lambda_i(J_k)|`, which is exactly realization
``k`` drawn with ``J0``, ``g`` (``g_E``, ``g_I``) multiplied by :math:`c_k`
(:func:`scaled_network`); :func:`macro_ftle` measures that network, so selection keeps the network
that is trained.  Pre-training is refused with :math:`\rho > 0` (``SPECTRAL_PRETRAIN_ERROR``,
set ``spectral_radius: 0``): the rescale applied after it would multiply each tuned matrix back to
radius :math:`\rho`, so the trained network would not be the one whose FTLE was tuned (tuning ``g``
mostly changes the overall gain, which the rescale removes).

Pre-training algorithm (ours; a measured one-dimensional root search, not a
gradient method).  The couplings of realization ``k`` are redrawn from the
*same* random part :math:`z` with one parameter of the mean/random structure
changed (``pretrain_knob``):

* ``g`` (default): the scale of the random part,
  :math:`J' = \frac{J_0}{\sqrt N} u w^\top + \frac{g'}{\sqrt N} z`, i.e. the
  per-realization gain of the random couplings ("edge of chaos" tuning);
* ``balance``: the inhibition ratio ``r`` of the mean part,
  :math:`w_I = -r N_E/N_I`.  Relative to the critically balanced matrix this
  is the rank-one correction
  :math:`\Delta J = \frac{J_0}{\sqrt N}\,u\,\delta w^\top`,
  :math:`\delta w_j = -(r-1) N_E/N_I` on inhibitory columns, which moves the
  macro-mode outlier :math:`J_0\,w\cdot u/\sqrt N = -J_0 (r-1) N_E/\sqrt N`
  away from 0 and leaves the random part untouched;
* ``J0``: the strength of the balanced mean part.

Measured (N = 200, g = 0.8, J0 = 1, 8 realizations, windows of 20 tau): the
macro FTLE is largest near the critical balance ``r = 1`` (-0.11 .. -0.73)
and falls on both sides (-0.70 .. -1.17 at r = 0.8, -0.15 .. -0.43 at
r = 1.5), so ``balance`` rarely brackets 0; it rises with ``g``
(-0.38 .. -0.60 at g = 0.5, -0.20 .. +0.05 at g = 3), which is why ``g`` is the
default knob.

For each realization the knob value :math:`\theta` in
``[pretrain_min, pretrain_max]`` is found by bisection on
:math:`F(\theta) = \lambda_{macro}(\theta) - \lambda_{target}` (``pretrain_iters``
steps after evaluating both ends).  When the ends do not bracket a root the
end with the smaller :math:`|F|` is kept.  Among all evaluated values the one
with the smallest :math:`|F|` is returned, together with its measured FTLE,
so the achieved FTLE is reported, never assumed.

Measured comparison (``balnet learn``, delayed association with a 20 tau
delay, critically balanced N = 200, g = 0.8, J0 = 1, ridge alpha = 0.01,
200 training / 200 test trials, 16 learning samples, pools of 4, pre-training
knob ``g``; test NRMSE at 200 trials, mean over samples, paired against the
baseline):

* baseline 0.63 (accuracy 0.82);
* ``select_by = lowest`` (the grant's rule): 0.83, better in 2/16 samples —
  the lowest macro FTLE picks the most strongly damped networks, which forget
  the cue;
* ``select_by = highest`` (closest to 0; all candidates were negative):
  0.28 (accuracy 0.96), better in 10/16, equal in 3 (Wilcoxon p = 0.013);
* pre-training to 0 on ``g`` in [0.5, 3]: 1.27 (chance accuracy): the
  networks reach a macro FTLE near 0 (mean -0.06) only by becoming chaotic
  (g ~ 2.5), which destroys the memory; on ``g`` in [0.5, 1.5]: 0.69,
  not different from baseline (better in 4/16, p = 0.35).

Across the unmodified networks the macro FTLE and the test error are
strongly anti-correlated (Spearman rho = -0.79, 32 networks).
"""
from __future__ import annotations

import dataclasses
from types import ModuleType
from typing import Sequence

import numpy as np

from ..chaos.lyapunov import LyapunovParams, lyapunov_run
from ..engine.backend import get_xp, resolve_dtype
from ..engine.params import ConfigError, NetworkParams, SimulationParams, from_mapping
from ..model.network import realization_couplings

__all__ = ["lyapunov_records", "radius_factors", "scaled_network", "macro_ftle", "select_lowest", "select_index",
           "tuned_couplings", "pretrain_networks"]



#: Pre-training tunes a coupling scale per realization; the exact spectral-radius rescale that
#: build_reservoir applies afterwards would multiply the tuned matrix back to the same radius.
SPECTRAL_PRETRAIN_ERROR = ("pretrain needs spectral_radius 0 (the exact rescale after pre-training would undo the "
                           "tuned FTLE): set spectral_radius: 0")


def lyapunov_records(learn, n_realizations: int = 1):
    """``(SimulationParams, LyapunovParams)`` of the macro-FTLE measurement described by ``learn``.

    Autonomous network (no task input; constant input ``I0`` kept), RK4 with
    step ``ftle_dt``, ``ftle_trials`` Gaussian initial states of unit standard
    deviation (streams ``(k, INITIAL, b)``), warm-up ``ftle_warmup``, then
    ``ftle_T`` of measurement cut into windows of ``ftle_window``; one tangent
    vector (``k = 1``), re-normalized every ``t_ons`` ~ 1 tau (exact for the
    linear tangent dynamics), the ``linear_nu`` macro definition, no bootstrap.
    """

    sim = from_mapping(SimulationParams, dict(
        T=learn.ftle_T, dt=learn.ftle_dt, t_warmup=learn.ftle_warmup, solver="rk4", trials=learn.ftle_trials,
        realizations=max(1, n_realizations), seed=learn.seed, I0=learn.I0, dtype=learn.dtype,
        backend=learn.backend, n_record=0))
    n_ons = max(1, int(round(learn.ftle_window)))
    lyap = from_mapping(LyapunovParams, dict(k=1, t_ons=learn.ftle_window / n_ons, t_window=learn.ftle_window,
                                             macro_method="linear_nu", n_boot=0))
    return sim, lyap


def radius_factors(net: NetworkParams, ids: Sequence[int], rho: float, root_seed: int, dtype=np.float64) -> np.ndarray:
    r"""Spectral-radius factors :math:`c_k = \rho / \max_i|\lambda_i(J_k)|` of realizations ``ids``, shape ``(R,)``.

    ``J_k`` is drawn in ``dtype`` as :func:`balnet.learning.reservoir.build_reservoir` draws it, so
    :math:`c_k J_k` is the matrix that :func:`~balnet.learning.reservoir.rescale_spectral_radius` trains.
    """
    if not rho > 0:
        raise ConfigError(f"spectral_radius must be > 0, got {rho}")
    rad = np.array([np.abs(np.linalg.eigvals(realization_couplings(net, root_seed, int(k), dtype=dtype)
                                             .astype(np.float64))).max() for k in ids])
    if np.any(rad == 0):
        raise ConfigError("cannot rescale a nilpotent coupling matrix (spectral radius 0)")
    return rho / rad


def scaled_network(net: NetworkParams, c: float) -> NetworkParams:
    r"""Parameters of the network :math:`c\,J`: ``J0``, ``g`` (and ``g_E``, ``g_I`` when set) times ``c`` > 0.

    Exact: :math:`c J = \frac{c J_0}{\sqrt N} u w^\top + \frac{c g_j}{\sqrt N} z` with the same ``z``,
    ``u`` and ``w`` (the balance ratio, ``u_E``, ``u_I`` and ``f`` are not scales of ``J``).
    """
    c = float(c)
    if not (c > 0 and np.isfinite(c)):
        raise ConfigError(f"coupling scale factor must be a positive number, got {c}")
    return dataclasses.replace(net, J0=c * net.J0, g=c * net.g, g_E=None if net.g_E is None else c * net.g_E,
                               g_I=None if net.g_I is None else c * net.g_I)


def macro_ftle(net: NetworkParams, ids: Sequence[int], learn, *, xp: ModuleType | None = None) -> np.ndarray:
    r"""Mean macro FTLE of realizations ``ids`` of ``net``, shape ``(len(ids),)`` [1/tau].

    When ``learn.spectral_radius`` > 0 the measured network is the one that is trained,
    :math:`c_k J_k` (:func:`radius_factors`), i.e. realization ``k`` of :func:`scaled_network`
    ``(net, c_k)``, measured one realization at a time.

    :math:`\bar\lambda_{macro}(k) = \langle \Lambda_{macro}\rangle_{b, w}`,
    the ``ftle_macro`` of :func:`balnet.chaos.lyapunov.lyapunov_run` (``linear_nu``:
    growth rate over a window of the population-rate response
    :math:`|\delta\nu(T)|/|\delta\nu(0)|` to a perturbation along the
    mean-input direction, not renormalized inside the window) averaged over
    the ``ftle_trials`` initial states ``b`` and the windows ``w``; the
    measurement set-up is :func:`lyapunov_records`.
    """

    xp = xp if xp is not None else get_xp(learn.backend)
    ids = [int(k) for k in ids]
    sim, lyap = lyapunov_records(learn, max(ids) + 1 if ids else 1)
    rho = getattr(learn, "spectral_radius", None) or 0.0
    if rho > 0 and ids:
        c = radius_factors(net, ids, rho, learn.seed, resolve_dtype(learn.dtype))
        return np.array([_mean_macro(lyapunov_run(scaled_network(net, ck), sim, lyap, [k], xp=xp))[0]
                         for k, ck in zip(ids, c)])
    return _mean_macro(lyapunov_run(net, sim, lyap, ids, xp=xp))


def _mean_macro(res) -> np.ndarray:
    """Mean of ``ftle_macro`` ``(R, B, W)`` over trials and windows -> ``(R,)``."""
    f = np.asarray(res["ftle_macro"], dtype=np.float64)
    return f.mean(axis=tuple(range(1, f.ndim)))


def select_lowest(ftle) -> np.ndarray:
    """Index of the lowest macro FTLE in each row of ``ftle`` ``(S, P)`` (NaN entries never chosen; all-NaN -> 0)."""
    f = np.asarray(ftle, dtype=np.float64)
    f = np.where(np.isnan(f), np.inf, f)
    return f.argmin(-1)


def select_index(ftle, rule: str = "lowest", target: float = 0.0) -> np.ndarray:
    """Candidate kept in each row of ``ftle`` ``(S, P)``: ``lowest`` (the grant's rule), ``highest``, or
    ``target`` (closest to ``target``)."""
    f = np.asarray(ftle, dtype=np.float64)
    if rule == "lowest":
        return select_lowest(f)
    if rule == "highest":
        return select_lowest(-f)
    if rule == "target":
        return select_lowest(np.abs(f - target))
    raise ConfigError(f"unknown selection rule {rule!r} (choose lowest, highest or target)")


def tuned_couplings(net: NetworkParams, k: int, knob: str, value: float, root_seed: int, dtype=np.float64) -> np.ndarray:
    """Couplings of realization ``k`` with ``net.<knob> = value`` (same random part ``z``)."""
    p = dataclasses.replace(net, **{knob: float(value)})
    p.validate()
    return realization_couplings(p, root_seed, k, dtype=dtype)


def pretrain_networks(net: NetworkParams, ids: Sequence[int], learn, *, xp: ModuleType | None = None,
                      measure=None) -> dict[str, np.ndarray]:
    r"""Tune ``learn.pretrain_knob`` per realization so the macro FTLE approaches ``learn.ftle_target``.

    All realizations are measured together at the original value and at both
    ends of the interval; bisection midpoints differ between realizations and
    are measured in groups of equal value.

    Parameters
    ----------
    measure : callable ``(net_v, ks) -> array (len(ks),)``, optional
        Macro FTLE of realizations ``ks`` of ``net_v`` (default:
        :func:`macro_ftle`); injectable for tests.

    Returns host arrays: ``value`` ``(R,)`` knob value chosen, ``ftle`` ``(R,)``
    its measured macro FTLE, ``ftle_initial`` ``(R,)`` the FTLE at the
    original knob value, ``bracketed`` ``(R,)`` whether the interval contained
    a sign change, ``couplings`` ``(R, N, N)``, ``history`` (list per
    realization of ``(value, ftle)`` pairs, in evaluation order).
    """
    knob = learn.pretrain_knob
    if (getattr(learn, "spectral_radius", None) or 0.0) > 0:
        raise ConfigError(SPECTRAL_PRETRAIN_ERROR)
    if not hasattr(net, knob):
        raise ConfigError(f"unknown pretrain_knob {knob!r}")
    xp = xp if xp is not None else get_xp(learn.backend)
    dtype = resolve_dtype(learn.dtype)
    if measure is None:
        def measure(p, ks):
            return macro_ftle(p, ks, learn, xp=xp)

    ids = [int(k) for k in ids]
    R = len(ids)
    target = learn.ftle_target
    history: list[list[tuple[float, float]]] = [[] for _ in range(R)]

    def evaluate(vals) -> np.ndarray:
        """Measured FTLE of realization i at knob value vals[i] (grouped by equal values)."""
        vals = np.asarray(vals, dtype=np.float64)
        out = np.empty(R)
        for v in np.unique(vals):
            sel = np.flatnonzero(vals == v)
            p = dataclasses.replace(net, **{knob: float(v)})
            p.validate()
            out[sel] = np.asarray(measure(p, [ids[i] for i in sel]), dtype=np.float64)
            for i in sel:
                history[i].append((float(v), float(out[i])))
        return out

    init = evaluate(np.full(R, float(getattr(net, knob))))
    lo = np.full(R, float(learn.pretrain_min))
    hi = np.full(R, float(learn.pretrain_max))
    flo, fhi = evaluate(lo) - target, evaluate(hi) - target
    brk = np.isfinite(flo) & np.isfinite(fhi) & (np.sign(flo) != np.sign(fhi))
    for _ in range(learn.pretrain_iters if brk.any() else 0):
        mid = 0.5 * (lo + hi)
        fm = evaluate(np.where(brk, mid, lo))[brk] - target  # only bracketed realizations move
        b = np.flatnonzero(brk)
        same = np.sign(fm) == np.sign(flo[b])
        ok = np.isfinite(fm)
        lo[b] = np.where(ok & same, mid[b], lo[b])
        flo[b] = np.where(ok & same, fm, flo[b])
        hi[b] = np.where(ok & ~same, mid[b], hi[b])
    value, ftle = np.empty(R), np.empty(R)
    for i, h in enumerate(history):
        vals = np.array(h)
        j = int(np.nanargmin(np.abs(vals[:, 1] - target)))
        value[i], ftle[i] = vals[j]
    J = np.stack([tuned_couplings(net, k, knob, v, learn.seed, dtype) for k, v in zip(ids, value)])
    return dict(value=value, ftle=ftle, ftle_initial=init, bracketed=brk, couplings=J, history=history)
