r"""State classification of single runs and phase-diagram reduction over a sweep.

Each trajectory (realization ``k``, trial ``b``) of a simulation file is
summarized by order parameters measured over the *late window* (the last
``late_fraction`` of the recorded time), and then given one of the labels in
:data:`PHASES`.

Order parameters (all per realization and trial):

.. math::
    s = \sqrt{\tfrac1N \textstyle\sum_i \dot x_i(T)^2},\qquad
    \dot x = -x + J\phi(x) + I_0,

the *speed* at the final state, evaluated exactly with the vector field of the
realization's coupling matrix (rebuilt from the file's parameters and seed);

.. math::
    \rho = \sqrt{\tfrac1N \textstyle\sum_i x_i(T)^2},\qquad
    \sigma_\nu = \max\big(\operatorname{std}_t \nu_E, \operatorname{std}_t \nu_I\big),\qquad
    \sigma_x^2 = \big\langle \operatorname{var}_t x_i \big\rangle_{i\in\text{recorded}},

the RMS activity at the end, the temporal spread of the population rates and
the mean temporal variance of the recorded neurons;

.. math::
    \chi = \sqrt{\frac{\operatorname{var}_t \nu_E}{\langle \operatorname{var}_t \phi(x_i)\rangle_{i\in E}}},

the *synchrony* of Golomb (Scholarpedia 2(12):1347, 2007) over the recorded
excitatory neurons (inhibitory ones when none is recorded):
:math:`\chi \sim N^{-1/2}` for asynchronous activity (SCS chaos: 0.03–0.12 at
``N = 200``), :math:`\chi = O(1)` when neurons move together (coherent
oscillations of the balanced network: 0.3–0.8 at ``N = 200``);

.. math::
    P(f) = \Big|\sum_n h_n\,(p_n - \bar p)\,e^{-2\pi i f n\Delta}\Big|^2,\qquad
    f^* = \arg\max_{f>0} P(f),\qquad
    C = \frac{\sum_{|f-f^*|\le \delta f} P(f)}{\sum_{f>0} P(f)},

the power spectrum (Hann window ``h``) of the population signals
:math:`p = \nu_E` and :math:`\nu_I` (spectra summed), its peak frequency
:math:`f^*` (period :math:`1/f^*`) and *coherence* ``C``, the fraction of
power within one frequency bin :math:`\delta f` of the peak;

.. math::
    r = \max_{\ell\,\Delta \in [P/2,\,3P/2]} c(\ell),\qquad
    c(\ell) = \frac{\frac{1}{n-\ell}\sum_{n'} \tilde p_{n'} \tilde p_{n'+\ell}}
                   {\frac1n\sum_{n'} \tilde p_{n'}^2},

the *recurrence*: the (unbiased, normalized) autocorrelation of the
mean-removed signal :math:`\tilde p` one period :math:`P = 1/f^*` later.
A periodic signal has :math:`r \approx 1`; a chaotic one decorrelates,
:math:`r` well below 1.  ``recurrence_pop`` uses :math:`\nu_E` and ``recurrence_x``
the median over recorded neurons (each at its own spectral period).  Finally
:math:`\lambda_{\max}` comes from the Lyapunov file of the same point when given.

Two more order parameters: ``activity_trend``, the slowest growth rate of the RMS
activity of the recorded neurons between successive parts of the late window
(:func:`amplitude_trend` with ``measure="rms"``; below ``-trend_tol`` only if *every*
part is smaller than the one before), and ``return_x``, the largest autocorrelation of
a recorded neuron after its first zero crossing (:func:`decorrelation_return`, median
over neurons; ``nan`` when the signal is too slow for the window).  ``trend`` is the
same slowest rate for the peak-to-peak amplitude.  With a Lyapunov file,
:math:`\lambda_{\max}` comes with its confidence interval
:math:`[\lambda_{lo}, \lambda_{hi}]` (``lambda_max_ci`` of the file, else a Student-t
interval over its window FTLEs at ``lambda_level``): the tolerance on
:math:`\lambda_{\max}` is its own measured uncertainty, not a constant.

Classification.  Every label needs positive evidence; a trajectory that no rule
claims, or whose evidence contradicts itself, is ``undetermined`` (a failed test
never selects a label by default):

1. ``divergent``: non-finite values, :math:`\rho >` ``diverge``, or flagged divergent
   by the Lyapunov run;
2. at rest, :math:`s <` ``speed_tol``: ``decay`` if the state is trivial (Newton's
   fixed point from the final state has RMS below ``x_tol``; where Newton was not
   run, :math:`\rho <` ``x_tol`` or the activity shrinks toward 0 at the linear-decay
   pace, below), else ``fixed_point``;
3. converging while still moving: every part of the late window smaller than the one
   before (``trend`` or ``activity_trend`` :math:`< -` ``trend_tol``), not chaotic by
   :math:`\lambda_{lo} > 0`, and Newton from the final state finds a *linearly stable*
   fixed point :math:`x^*` (``fp_growth`` < 0, :func:`fixed_point_growth`):
   ``fixed_point`` if :math:`|x^*| \ge` ``x_tol``; ``decay`` if :math:`x^* = 0` *and*
   the activity shrinks toward it at the pace of linear decay,
   :math:`s/\rho \ge \kappa/2` with :math:`\kappa = -`\ ``activity_trend`` (near
   :math:`x = 0`, :math:`\dot x = (J - 1)x` gives :math:`s/\rho \ge |\mathrm{Re}\,\lambda|`);
   :math:`x^* = 0` without shrinking activity is a contradiction: ``undetermined``.
   Without a Newton answer only a small state (:math:`\rho <` ``x_tol``) shrinking
   at that pace is ``decay``; a converging state whose Newton point is unstable (e.g.
   :math:`x = 0` of a chaotic SCS network) gets no settle label;
4. ``chaos``: the interval of :math:`\lambda_{\max}` lies above 0; without one, the
   neurons decorrelate and do not come back (``return_x`` < ``recurrence_tol``,
   finite) and neither the population nor the neurons recur one period later;
5. ``oscillation``: the population rates oscillate coherently,
   :math:`\sigma_\nu \ge` ``pop_tol``, :math:`\chi \ge` ``sync_tol`` and
   ``recurrence_pop`` :math:`\ge` ``recurrence_tol``, and :math:`\lambda_{\max}` is
   unknown or its interval holds 0;
6. ``cycle``: a moving state that recurs (population, neurons, or ``return_x``
   :math:`\ge` ``recurrence_tol``) without a coherent population rhythm, with
   :math:`\lambda_{\max}` unknown or its interval holding 0 (limit cycles or tori of
   single neurons, e.g. small SCS networks near ``g = 1.2``);
7. ``undetermined``: anything else, e.g. an interval of :math:`\lambda_{\max}` that holds
   0 for a signal that does not recur (weak chaos or a torus, too short a run to tell),
   a moving state with :math:`\lambda_{\max} < 0` that is not yet near a located
   stable fixed point (a transient), or no decorrelation within the window.

Near the critical point (``g ~ 1``) decays are slow; rule 3 labels them by where
they are heading once Newton locates the fixed point.  Periods longer than an eighth
(``return_x``) or half (recurrences) of the late window cannot be established: choose
``T`` and ``late_fraction`` so the late window holds several periods of the slowest
rhythm of interest.  Without a Lyapunov file, long-period limit cycles of small
networks can pass for chaos (measured in docs/phases.md); with one, a short run gives
wide intervals and more ``undetermined`` labels.

Notes: with noise (``sigma > 0``) or time-dependent input no state has zero
speed, so rules 2–3 never apply; thresholds are in the units of the model
(:math:`\tau = 1`, rates of :math:`\phi`).  The phase diagram stores, for every
sweep point, the fraction of realizations x trials in each class, the labels
themselves and every order parameter, so any other classification can be
recomputed from the file.  It also stores, per realization, the state that linear
stability at :math:`x = 0` predicts and the predicted-vs-measured confusion table
(:mod:`balnet.theory.dmft`, part 3).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..engine.params import (
    ConfigError,
    NetworkParams,
    SimulationParams,
    _f,
)
from ..model.dynamics import get_gain
from ..model.network import realization_couplings
from ..model.simulate import build_network
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

__all__ = [
    "PHASES",
    "PhaseCriteria",
    "autocorrelation",
    "spectral_peak",
    "recurrence",
    "late_window",
    "final_speed",
    "locate_fixed_point",
    "amplitude_trend",
    "decorrelation_return",
    "fixed_point_growth",
    "order_parameters",
    "classify",
]

@dataclass(frozen=True)
class PhaseCriteria:
    """Thresholds of :func:`classify` (see the module docstring for the rules)."""

    late_fraction: float = _f(0.5, "fraction of the recorded run, at its end, used for order parameters")
    speed_tol: float = _f(1e-3, "RMS speed |dx/dt| below which a state is a fixed point", "1/tau")
    x_tol: float = _f(1e-2, "RMS activity below which a fixed point is the trivial one (decay)")
    lambda_level: float = _f(0.95, "confidence level of the lambda_max interval computed from window FTLEs "
                                   "(Student t) when the Lyapunov file carries none")
    trend_tol: float = _f(0.005, "shrink rate that every part of the late window must exceed for a state to "
                                 "count as converging", "1/tau")
    trend_parts: int = _f(4, "successive parts of the late window whose amplitudes must all shrink")
    pop_tol: float = _f(1e-3, "temporal std of nu_E or nu_I above which the population moves")
    sync_tol: float = _f(0.2, "synchrony chi above which population activity is coherent")
    recurrence_tol: float = _f(0.9, "autocorrelation one period later above which a signal is periodic")
    diverge: float = _f(1e6, "RMS activity above which a run counts as divergent")

    def validate(self) -> None:
        if not 0.0 < self.late_fraction <= 1.0:
            raise ConfigError(f"late_fraction must lie in (0, 1], got {self.late_fraction}")
        for name in ("speed_tol", "x_tol", "pop_tol", "sync_tol", "trend_tol", "diverge"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if not -1.0 <= self.recurrence_tol <= 1.0:
            raise ConfigError(f"recurrence_tol must lie in [-1, 1], got {self.recurrence_tol}")
        if not 0.0 < self.lambda_level < 1.0:
            raise ConfigError(f"lambda_level must lie in (0, 1), got {self.lambda_level}")
        if int(self.trend_parts) != self.trend_parts or self.trend_parts < 2:
            raise ConfigError(f"trend_parts must be an integer >= 2, got {self.trend_parts}")


# -- signal measures ---------------------------------------------------------------


def late_window(t: np.ndarray, fraction: float) -> np.ndarray:
    """Boolean mask of the samples with ``t >= t_end - fraction (t_end - t_0)``."""
    t = np.asarray(t, dtype=float)
    t0 = t[-1] - fraction * (t[-1] - t[0])
    return t >= t0 - 1e-9 * max(1.0, abs(t[-1]))


def autocorrelation(s: np.ndarray) -> np.ndarray:
    r"""Unbiased normalized autocorrelation along the last axis (by FFT).

    .. math::
        c(\ell) = \frac{\frac1{n-\ell}\sum_{m=0}^{n-1-\ell}\tilde s_m \tilde s_{m+\ell}}
                       {\frac1n\sum_m \tilde s_m^2},\qquad \tilde s = s - \bar s,

    for lags :math:`\ell = 0..n-1` (``c[..., 0] = 1``; ``nan`` for a constant signal).
    Shape: ``(..., n)`` -> ``(..., n)``.
    """
    s = np.asarray(s, dtype=float)
    n = s.shape[-1]
    d = s - s.mean(axis=-1, keepdims=True)
    F = np.fft.rfft(d, 2 * n, axis=-1)
    ac = np.fft.irfft(F * np.conj(F), 2 * n, axis=-1)[..., :n]
    ac = ac / (n - np.arange(n))
    with np.errstate(invalid="ignore", divide="ignore"):
        return ac / ac[..., :1]


def spectral_peak(s: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Peak frequency, period and coherence of the Hann-windowed power spectrum.

    Parameters
    ----------
    s : array ``(..., n)``
        Signals sampled every ``dt`` (several signals may be summed by the caller).
    dt : float
        Sample spacing [tau].

    Returns
    -------
    f_peak, period, coherence : arrays ``(...)``
        :math:`f^*` [1/tau] (``nan`` for a constant signal), :math:`1/f^*` [tau]
        and :math:`C \in [0, 1]`, the power within one bin of the peak over the
        total power at :math:`f > 0`.
    """
    P, freqs = _power(s, dt)
    return _peak_from_power(P, freqs)


def _power(s, dt):
    s = np.asarray(s, dtype=float)
    n = s.shape[-1]
    d = (s - s.mean(axis=-1, keepdims=True)) * np.hanning(n)
    P = np.abs(np.fft.rfft(d, axis=-1)) ** 2
    return P[..., 1:], np.fft.rfftfreq(n, dt)[1:]


def _peak_from_power(P, freqs):
    k = np.argmax(P, axis=-1)
    tot = P.sum(axis=-1)
    idx = np.arange(P.shape[-1])
    near = np.abs(idx - k[..., None]) <= 1
    with np.errstate(invalid="ignore", divide="ignore"):
        coh = np.where(tot > 0, (P * near).sum(axis=-1) / tot, np.nan)
    f = np.where(tot > 0, freqs[k], np.nan)
    with np.errstate(divide="ignore"):
        period = 1.0 / f
    return f, period, coh


def recurrence(s: np.ndarray, dt: float, period: np.ndarray | float | None = None) -> np.ndarray:
    r"""Autocorrelation one period later, :math:`r = \max_{\ell\Delta\in[P/2, 3P/2]} c(\ell)`.

    ``period`` defaults to the spectral-peak period of ``s``.  Lags are kept
    where the overlap ``n - l`` still spans a whole period, so ``nan`` is
    returned when the signal is constant or fewer than two periods fit in it
    (periodicity cannot be established).  Shapes: ``s (..., n)``,
    ``period (...)`` -> ``(...)``.
    """
    s = np.asarray(s, dtype=float)
    n = s.shape[-1]
    if period is None:
        period = spectral_peak(s, dt)[1]
    ac = autocorrelation(s)
    period = np.broadcast_to(np.asarray(period, dtype=float), s.shape[:-1])
    out = np.full(s.shape[:-1], np.nan)
    for idx in np.ndindex(*s.shape[:-1]):
        P = period[idx]
        if not np.isfinite(P) or P <= 0:
            continue
        if 2 * P / dt > n:
            continue
        lo = max(1, int(np.floor(0.5 * P / dt)))
        hi = min(int(np.ceil(1.5 * P / dt)), n - int(np.ceil(P / dt)))
        if hi < lo:
            continue
        seg = ac[idx][lo : hi + 1]
        if seg.size and np.isfinite(seg).any():
            out[idx] = np.nanmax(seg)
    return out


def amplitude_trend(s: np.ndarray, dt: float, parts: int = 2, measure: str = "ptp") -> np.ndarray:
    r"""Slowest growth rate of the amplitude of signals between successive parts of a window.

    .. math::
        \gamma = \max_{h=1..H-1} \frac{1}{T_H} \log\frac{A_{h+1}}{A_h},\qquad
        A_h = \langle \max_{t\in h} s_i(t) - \min_{t\in h} s_i(t) \rangle_i
        \quad\text{(``measure="ptp"``)},\qquad
        A_h = \sqrt{\langle s_i(t)^2 \rangle_{i,\,t\in h}}\quad\text{(``measure="rms"``)},

    where:

    * ``s`` has shape ``(..., m, n)``: ``m`` signals (neurons) averaged in
      :math:`A_h`, ``n`` samples spaced ``dt`` [tau];
    * :math:`h = 1..H` (``H = parts``) are successive parts of duration
      :math:`T_H = (n // H)\,dt` (the last ``n mod H`` samples left out of the early parts).

    :math:`\gamma < 0` says that *every* part is smaller than the one before, which a
    fluctuating (chaotic) signal rarely does for ``H = 4``, while a decay
    :math:`e^{\lambda t}` gives :math:`\gamma = \lambda` in every part.  Peak-to-peak
    excursions do not depend on the phase at which a part starts, so :math:`\gamma = 0`
    exactly for a signal of period :math:`\le T_H`; ``rms`` measures the distance from
    :math:`x = 0` (it shrinks only on the way to the trivial state).  ``nan`` where an
    :math:`A_h = 0`.  Returns shape ``(...)`` [1/tau].
    """
    s = np.asarray(s, dtype=float)
    n = s.shape[-1]
    h = n // parts
    segs = [s[..., n - (parts - j) * h : n - (parts - j - 1) * h] for j in range(parts)]
    if measure == "ptp":
        amp = [np.ptp(g, axis=-1).mean(axis=-1) for g in segs]
    elif measure == "rms":
        amp = [np.sqrt(np.mean(g * g, axis=(-2, -1))) for g in segs]
    else:
        raise ValueError(f"unknown amplitude measure {measure!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = [np.where((a0 > 0) & (a1 > 0), np.log(a1 / a0) / (h * dt), np.nan) for a0, a1 in zip(amp[:-1], amp[1:])]
    return np.max(np.stack(rates, axis=0), axis=0)


def decorrelation_return(s: np.ndarray) -> np.ndarray:
    r"""Largest autocorrelation of a signal after its first zero crossing, up to half its length.

    .. math::
        q = \max_{\ell_0 \le \ell \le n/2} c(\ell),\qquad \ell_0 = \min\{\ell : c(\ell) < 0\},

    with :math:`c` the unbiased autocorrelation (:func:`autocorrelation`).  A periodic (or
    quasi-periodic) signal whose period fits in half the window returns to
    :math:`q \approx 1`; an irregular one decorrelates and stays well below (SCS chaos at
    ``g = 1.5``, ``N = 500``, 100 tau windows: ``q`` 0.0-0.7, measured).  ``nan`` when
    :math:`\ell_0 > n/8`: a periodic signal crosses zero at a quarter period, so only then
    would its return (one period later) fall inside half the window; a slower signal gives
    no evidence either way.  Shape ``(..., n)`` -> ``(...)``.
    """
    ac = autocorrelation(s)
    n = ac.shape[-1]
    half = ac[..., : n // 2 + 1]
    neg = half[..., : n // 8 + 1] < 0
    first = np.where(neg.any(axis=-1), np.argmax(neg, axis=-1), -1)
    idx = np.arange(half.shape[-1])
    after = np.where(idx >= np.expand_dims(first, -1), half, -np.inf)
    q = after.max(axis=-1)
    return np.where(first >= 0, q, np.nan)


# -- order parameters of one simulation file ---------------------------------------------


def final_speed(net: NetworkParams, sim: SimulationParams, ids: Sequence[int], x: np.ndarray) -> np.ndarray:
    r"""RMS speed :math:`\sqrt{\frac1N\sum_i \dot x_i^2}` of states ``x`` ``(R, B, N)`` -> ``(R, B)`` [1/tau].

    The vector field of realization ``ids[r]`` is rebuilt from ``net`` and the
    root seed ``sim.seed`` (:func:`balnet.model.simulate.build_network`), in float64
    on the host, with the constant input ``sim.I0``.
    """

    x = np.asarray(x, dtype=np.float64)
    out = np.empty(x.shape[:2])
    for r, k in enumerate(ids):  # one realization at a time keeps memory at one N x N matrix
        f = build_network(net, [k], sim.seed, np, np.float64, I0=sim.I0)
        v = f(0.0, x[r : r + 1])
        out[r] = np.sqrt(np.mean(v * v, axis=-1))[0]
    return out


def locate_fixed_point(net: NetworkParams, sim: SimulationParams, k: int, x0: np.ndarray, *,
                       tol: float = 1e-10, max_iter: int = 50) -> tuple[np.ndarray, bool]:
    r"""The fixed point a converging state is heading to: damped Newton from ``x0``.

    Solves :math:`F(x) = -x + J\phi(x) + I_0 = 0` for realization ``k`` by
    :math:`x \leftarrow x + \alpha\,\delta`, :math:`D(x)\,\delta = -F(x)`,
    :math:`D = -\mathbb 1 + J\,\mathrm{diag}\,\phi'(x)`, halving
    :math:`\alpha` until :math:`|F|` decreases.  ``x0`` has shape ``(N,)``
    (e.g. the final state of a run).  Returns ``(x_star, converged)``, converged
    when the RMS of :math:`F` is below ``tol`` [1/tau].  Dense solve:
    :math:`O(N^3)` per iteration, meant for the few states that settle.
    """

    J = realization_couplings(net, sim.seed, k)
    gain = get_gain(net.gain)
    N = J.shape[0]

    def F(x):
        return -x + J @ gain.phi(x) + sim.I0

    x = np.asarray(x0, dtype=np.float64).copy()
    r = F(x)
    norm = np.sqrt(np.mean(r * r))
    for _ in range(max_iter):
        if norm < tol:
            return x, True
        D = J * gain.dphi(x)[None, :] - np.eye(N)
        try:
            step = np.linalg.solve(D, -r)
        except np.linalg.LinAlgError:
            return x, False
        alpha = 1.0
        for _ in range(30):
            xn = x + alpha * step
            rn = F(xn)
            nn = np.sqrt(np.mean(rn * rn))
            if nn < norm:
                break
            alpha *= 0.5
        else:
            return x, False
        x, r, norm = xn, rn, nn
    return x, bool(norm < tol)


def order_parameters(
    t: np.ndarray,
    nu_E: np.ndarray,
    nu_I: np.ndarray,
    x: np.ndarray,
    *,
    speed: np.ndarray,
    rms: np.ndarray,
    lambda_max: np.ndarray | None = None,
    lambda_ci: np.ndarray | None = None,
    late_fraction: float = 0.5,
    gain: str = "tanh",
    excitatory: np.ndarray | None = None,
    parts: int = 4,
) -> dict[str, np.ndarray]:
    r"""Order parameters of trajectories (see the module docstring for formulas).

    Parameters
    ----------
    t : ``(n,)`` recording times [tau], uniformly spaced
    nu_E, nu_I : ``(R, B, n)`` population rates
    x : ``(R, B, n, n_rec)`` recorded neurons (``n_rec`` may be 0)
    speed, rms : ``(R, B)`` RMS speed [1/tau] and RMS activity at the final state
    lambda_max : ``(R, B)`` or None, largest Lyapunov exponent [1/tau]
    lambda_ci : ``(R, B, 2)`` or None, confidence interval of ``lambda_max`` [1/tau]
    late_fraction : float, fraction of the run (at its end) that is analysed
    gain : transfer function name (rates of recorded neurons are ``phi(x)``)
    excitatory : ``(n_rec,)`` bool, which recorded neurons are excitatory
        (default: all)
    parts : number of successive parts of the late window in the trends
        (:func:`amplitude_trend`)

    Returns
    -------
    dict of ``(R, B)`` arrays: ``speed``, ``rms``, ``std_nu`` (max of the two
    population std), ``var_x``, ``synchrony``, ``trend`` and ``activity_trend`` [1/tau],
    ``f_peak`` [1/tau], ``period`` [tau], ``coherence``, ``recurrence_pop``, ``recurrence_x``,
    ``return_x``, ``lambda_max``, ``lambda_lo``, ``lambda_hi`` (``nan`` when not given).
    """
    t = np.asarray(t, dtype=float)
    if t.size < 8:
        raise ConfigError(f"need at least 8 recorded samples to classify states, got {t.size}")
    late = late_window(t, late_fraction)
    if late.sum() < 8:
        raise ConfigError("late window holds fewer than 8 samples: raise late_fraction or record more often")
    dt = float(np.median(np.diff(t)))
    E = np.asarray(nu_E, dtype=float)[..., late]
    I = np.asarray(nu_I, dtype=float)[..., late]
    xs = np.asarray(x, dtype=float)[..., late, :]
    shape = E.shape[:2]
    std_nu = np.maximum(E.std(axis=-1), I.std(axis=-1))
    PE, freqs = _power(E, dt)
    PI, _ = _power(I, dt)
    f_peak, period, coh = _peak_from_power(PE + PI, freqs)
    rec_pop = recurrence(E, dt, period)
    if xs.shape[-1] > 0:
        xn = np.moveaxis(xs, -1, -2)  # (R, B, n_rec, n)
        var_x = xn.var(axis=-1).mean(axis=-1)
        exc = np.ones(xn.shape[-2], bool) if excitatory is None else np.asarray(excitatory, bool)
        pop, sel = (E, exc) if exc.any() else (I, ~exc)
        rates = get_gain(gain).phi(xn[..., sel, :])
        with np.errstate(invalid="ignore", divide="ignore"):
            sync = np.sqrt(pop.var(axis=-1) / rates.var(axis=-1).mean(axis=-1))
        trend = amplitude_trend(xn, dt, parts)
        act = amplitude_trend(xn, dt, parts, "rms")
        rx = recurrence(xn, dt)
        rec_x = _nanmedian_last(rx, shape)
        ret_x = _nanmedian_last(decorrelation_return(xn), shape)
    else:
        var_x = np.full(shape, np.nan)
        rec_x = np.full(shape, np.nan)
        ret_x = np.full(shape, np.nan)
        sync = np.full(shape, np.nan)
        trend = amplitude_trend(np.stack([E, I], axis=-2), dt, parts)
        act = np.full(shape, np.nan)
    lam = np.full(shape, np.nan) if lambda_max is None else np.broadcast_to(np.asarray(lambda_max, float), shape).copy()
    ci = np.full(shape + (2,), np.nan) if lambda_ci is None else np.broadcast_to(np.asarray(lambda_ci, float), shape + (2,))
    return dict(
        speed=np.asarray(speed, float), rms=np.asarray(rms, float), std_nu=std_nu, var_x=var_x, synchrony=sync, trend=trend,
        activity_trend=act, f_peak=f_peak, period=period, coherence=coh, recurrence_pop=rec_pop, recurrence_x=rec_x,
        return_x=ret_x, lambda_max=lam, lambda_lo=ci[..., 0].copy(), lambda_hi=ci[..., 1].copy(),
    )


def _nanmedian_last(v, shape):
    out = np.full(shape, np.nan)
    ok = np.isfinite(v).any(axis=-1)
    out[ok] = np.nanmedian(v[ok], axis=-1)
    return out


#: name -> (units, long_name) of every order parameter (for the HDF5 output)
ORDER_PARAMETERS = {
    "speed": ("1/tau", "RMS speed |dx/dt| at the final state"),
    "rms": ("1", "RMS activity sqrt(<x_i^2>) at the final state"),
    "std_nu": ("1", "max(std_t nu_E, std_t nu_I) over the late window"),
    "var_x": ("1", "mean temporal variance of recorded neurons over the late window"),
    "synchrony": ("1", "Golomb synchrony chi = sqrt(var_t nu / <var_t phi(x_i)>) over recorded neurons"),
    "trend": ("1/tau", "slowest growth rate of the peak-to-peak amplitude of recorded neurons between successive "
                       "parts of the late window"),
    "activity_trend": ("1/tau", "slowest growth rate of the RMS activity of recorded neurons between successive parts "
                                "of the late window (< 0: shrinking toward x = 0 in every part)"),
    "f_peak": ("1/tau", "peak frequency of the nu_E + nu_I power spectrum"),
    "period": ("tau", "1 / f_peak"),
    "coherence": ("1", "fraction of population power within one bin of the peak"),
    "recurrence_pop": ("1", "autocorrelation of nu_E one period later"),
    "recurrence_x": ("1", "median autocorrelation of recorded neurons one period later"),
    "return_x": ("1", "median over recorded neurons of the largest autocorrelation after its first zero crossing, "
                      "up to half the late window (nan: no zero crossing)"),
    "lambda_max": ("1/tau", "largest Lyapunov exponent (nan: no Lyapunov file)"),
    "lambda_lo": ("1/tau", "lower bound of the confidence interval of lambda_max"),
    "lambda_hi": ("1/tau", "upper bound of the confidence interval of lambda_max"),
    "lyapunov_divergent": ("1", "1 where the Lyapunov run of this trajectory diverged (non-finite state)"),
    "fp_rms": ("1", "RMS of the fixed point a settling state heads to (Newton; nan: not located)"),
    "fp_growth": ("1/tau", "largest real part of the eigenvalues of the Jacobian at that fixed point "
                           "(< 0: stable; nan: not located)"),
}


def fixed_point_growth(net: NetworkParams, sim: SimulationParams, k: int, x_star: np.ndarray) -> float:
    r"""Largest real part of the eigenvalues of the Jacobian :math:`D(x^*) = -\mathbb 1 + J\,\mathrm{diag}\,\phi'(x^*)`
    of realization ``k`` at ``x_star`` ``(N,)`` [1/tau]; negative: :math:`x^*` is linearly stable.
    Dense eigenvalues, :math:`O(N^3)`."""
    J = realization_couplings(net, sim.seed, k)
    D = J * get_gain(net.gain).dphi(np.asarray(x_star, np.float64))[None, :] - np.eye(J.shape[0])
    return float(np.max(np.linalg.eigvals(D).real))


def _get(op, name, shape):
    v = op.get(name)
    return np.full(shape, np.nan) if v is None else np.broadcast_to(np.asarray(v, float), shape)


def classify(op: Mapping[str, np.ndarray], criteria: PhaseCriteria | None = None) -> np.ndarray:
    """Integer labels (index into :data:`PHASES`) from order parameters, same shape as ``op['speed']``.

    Rules in the module docstring.  Missing order parameters (``nan`` or absent) count as *no
    evidence*: they never select a class by themselves, and a trajectory that no rule claims
    is ``undetermined``.
    """
    c = criteria or PhaseCriteria()
    speed = np.asarray(op["speed"], float)
    shape = speed.shape
    rms = np.asarray(op["rms"], float)
    std_nu = _get(op, "std_nu", shape)
    rp, rx, qx = (_get(op, k, shape) for k in ("recurrence_pop", "recurrence_x", "return_x"))
    sync = _get(op, "synchrony", shape)
    trend, act = _get(op, "trend", shape), _get(op, "activity_trend", shape)
    lo, hi = _get(op, "lambda_lo", shape), _get(op, "lambda_hi", shape)
    fp_rms, fp_growth = _get(op, "fp_rms", shape), _get(op, "fp_growth", shape)
    with np.errstate(invalid="ignore"):
        # lambda_max: its confidence interval decides (no interval: no Lyapunov evidence)
        have_ci = np.isfinite(lo) & np.isfinite(hi)
        lam_pos = have_ci & (lo > 0)
        lam_neg = have_ci & (hi < 0)
        lam_zero = have_ci & ~lam_pos & ~lam_neg
        moving = speed >= c.speed_tol
        fixed = speed < c.speed_tol
        # every part of the late window smaller than the one before (nan: no evidence)
        shrink_amp = trend < -c.trend_tol
        shrink_act = act < -c.trend_tol
        # heading to x = 0 at the pace of linear decay: s / rho >= kappa / 2 with kappa = -activity_trend
        ratio = np.where(rms > 0, speed / np.where(rms > 0, rms, 1.0), 0.0)
        toward_zero = shrink_act & (ratio >= 0.5 * -act)
        located = np.isfinite(fp_rms)
        stable = located & (fp_growth < 0)
        trivial_fp = located & (fp_rms < c.x_tol)
        periodic = (rp >= c.recurrence_tol) | (rx >= c.recurrence_tol) | (qx >= c.recurrence_tol)
        irregular = (qx < c.recurrence_tol) & ~periodic
        coherent = (std_nu >= c.pop_tol) & (sync >= c.sync_tol) & (rp >= c.recurrence_tol)

    labels = np.full(shape, UNDETERMINED, dtype=np.int8)
    not_chaotic = ~have_ci | lam_zero
    # 6. cycle / 5. oscillation: moving, recurring, not chaotic by lambda_max
    labels[moving & periodic & not_chaotic] = CYCLE
    labels[moving & coherent & not_chaotic] = OSCILLATION
    # 4. chaos: lambda_max's interval above 0; without one, an irregular signal that does not settle
    labels[moving & (lam_pos | (~have_ci & irregular))] = CHAOS
    # 3. settling on a fixed point while still moving: converging amplitude (every part) and Newton
    #    finds a *stable* fixed point; decay needs x* = 0 and the activity shrinking toward it
    converging = moving & ~lam_pos & (shrink_amp | shrink_act)
    heading = converging & stable
    labels[heading & ~trivial_fp] = FIXED_POINT
    labels[heading & trivial_fp & toward_zero] = DECAY
    labels[heading & trivial_fp & ~toward_zero] = UNDETERMINED
    #    no Newton answer: only the linear-decay pace toward 0 of a small state counts
    labels[converging & ~located & toward_zero & (rms < c.x_tol)] = DECAY
    labels[converging & ~located & ~(toward_zero & (rms < c.x_tol)) & ~(lam_pos | (~have_ci & irregular))] = UNDETERMINED
    #    a moving state with lambda_max < 0 that no settle rule claims is a transient: undetermined
    labels[moving & lam_neg & ~heading & ~(converging & ~located & toward_zero & (rms < c.x_tol))] = UNDETERMINED
    # 2. at a fixed point
    trivial = np.where(located, fp_rms < c.x_tol, (rms < c.x_tol) | toward_zero)
    labels[fixed & trivial] = DECAY
    labels[fixed & ~trivial] = FIXED_POINT
    # 1. divergent
    bad = ~np.isfinite(speed) | ~np.isfinite(rms) | (rms > c.diverge) | (_get(op, "lyapunov_divergent", shape) > 0)
    labels[bad] = DIVERGENT
    return labels


# -- sweeps ---------------------------------------------------------------------------------


# -- Lyapunov statistics ---------------------------------------------------------------------


