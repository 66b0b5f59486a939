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

Classification (thresholds are fields of :class:`PhaseCriteria`; the first
rule that applies wins):

1. ``divergent``: non-finite values or :math:`\rho >` ``diverge``;
2. at a fixed point, :math:`s <` ``speed_tol``: ``decay`` if the state is
   *trivial*, else ``fixed_point`` (non-trivial fixed point);
3. ``chaos``: with :math:`\lambda_{\max}` known, :math:`\lambda_{\max} >`
   ``lambda_tol``; without it, neither the population nor the neurons recur
   (:math:`r <` ``recurrence_tol``) and the amplitude does not decay;
4. still converging, :math:`\gamma < -` ``trend_tol`` (the amplitude shrinks,
   see :func:`amplitude_trend`): ``decay`` if trivial, else ``fixed_point``;
5. ``oscillation``: the population rates oscillate coherently,
   :math:`\sigma_\nu \ge` ``pop_tol``, :math:`\chi \ge` ``sync_tol`` and
   ``recurrence_pop`` :math:`\ge` ``recurrence_tol`` (a limit cycle in which
   the neurons, hence :math:`\nu_E` and :math:`\nu_I`, move together);
6. ``cycle``: anything else that moves without being chaotic: a limit cycle or
   torus of single neurons without a coherent population rhythm (seen e.g. in
   small SCS networks at ``g = 2``), or a transient too slow to classify.

*Trivial* means that the fixed point the state settles on has RMS below
``x_tol``.  :func:`classify_run` locates it by Newton's method from the final
state (:func:`locate_fixed_point`; order parameter ``fp_rms``).  Where it is not
located (:func:`classify` on order parameters alone), trivial means
:math:`\rho <` ``x_tol``, or a state still shrinking as fast as
linear decay to :math:`x = 0` would make it: :math:`s/\rho \ge \kappa/2` with
:math:`\kappa = \max(-\lambda_{\max}, -\gamma, 0)` (near :math:`x = 0`,
:math:`\dot x = (J - 1)x` gives :math:`s/\rho \ge |\mathrm{Re}\,\lambda|`,
while a state converging to :math:`x^* \ne 0` has
:math:`s/\rho \approx \kappa |x - x^*|/\rho \ll \kappa`).  Near the
critical point (``g ~ 1``) decays are slow; the rules 2 and 4 label them by
where they are heading.  Periods longer than half the late window cannot be
established (recurrence ``nan``): choose ``T`` and ``late_fraction`` so the
late window holds two periods of the slowest rhythm of interest.

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
    "order_parameters",
    "classify",
]

@dataclass(frozen=True)
class PhaseCriteria:
    """Thresholds of :func:`classify` (see the module docstring for the rules)."""

    late_fraction: float = _f(0.5, "fraction of the recorded run, at its end, used for order parameters")
    speed_tol: float = _f(1e-3, "RMS speed |dx/dt| below which a state is a fixed point", "1/tau")
    x_tol: float = _f(1e-2, "RMS activity below which a fixed point is the trivial one (decay)")
    lambda_tol: float = _f(0.02, "lambda_max above which a moving state is chaotic", "1/tau")
    trend_tol: float = _f(0.005, "amplitude decay rate above which a moving state is still converging", "1/tau")
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
        if not np.isfinite(self.lambda_tol):
            raise ConfigError(f"lambda_tol must be finite, got {self.lambda_tol}")


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


def amplitude_trend(s: np.ndarray, dt: float) -> np.ndarray:
    r"""Growth rate of the oscillation amplitude between the two halves of a signal.

    .. math::
        \gamma = \frac{1}{T_{1/2}} \log\frac{A_2}{A_1},\qquad
        A_h = \langle \max_{t\in h} s_i(t) - \min_{t\in h} s_i(t) \rangle_i ,

    where:

    * ``s`` has shape ``(..., m, n)``: ``m`` signals (neurons) averaged in
      :math:`A_h`, ``n`` samples spaced ``dt`` [tau];
    * :math:`h = 1, 2` are the first and second halves, of duration
      :math:`T_{1/2} = (n // 2)\,dt`.

    Peak-to-peak excursions do not depend on the phase at which a half starts,
    so :math:`\gamma = 0` exactly for a signal of period :math:`\le T_{1/2}`;
    a decaying oscillation :math:`e^{\lambda t}\sin\omega t` gives
    :math:`\gamma \approx \lambda` [1/tau].  ``nan`` where :math:`A_1 = 0`.
    Returns shape ``(...)``.
    """
    s = np.asarray(s, dtype=float)
    h = s.shape[-1] // 2
    a1 = np.ptp(s[..., :h], axis=-1).mean(axis=-1)
    a2 = np.ptp(s[..., s.shape[-1] - h :], axis=-1).mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a1 > 0, np.log(a2 / a1) / (h * dt), np.nan)


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
    late_fraction: float = 0.5,
    gain: str = "tanh",
    excitatory: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    r"""Order parameters of trajectories (see the module docstring for formulas).

    Parameters
    ----------
    t : ``(n,)`` recording times [tau], uniformly spaced
    nu_E, nu_I : ``(R, B, n)`` population rates
    x : ``(R, B, n, n_rec)`` recorded neurons (``n_rec`` may be 0)
    speed, rms : ``(R, B)`` RMS speed [1/tau] and RMS activity at the final state
    lambda_max : ``(R, B)`` or None, largest Lyapunov exponent [1/tau]
    late_fraction : float, fraction of the run (at its end) that is analysed
    gain : transfer function name (rates of recorded neurons are ``phi(x)``)
    excitatory : ``(n_rec,)`` bool, which recorded neurons are excitatory
        (default: all)

    Returns
    -------
    dict of ``(R, B)`` arrays: ``speed``, ``rms``, ``std_nu`` (max of the two
    population std), ``var_x``, ``synchrony``, ``trend`` [1/tau], ``f_peak`` [1/tau], ``period`` [tau],
    ``coherence``, ``recurrence_pop``, ``recurrence_x``, ``lambda_max``
    (``nan`` when not given).
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
        trend = amplitude_trend(xn, dt)
        rx = recurrence(xn, dt)
        rec_x = np.full(shape, np.nan)
        ok = np.isfinite(rx).any(axis=-1)
        rec_x[ok] = np.nanmedian(rx[ok], axis=-1)
    else:
        var_x = np.full(shape, np.nan)
        rec_x = np.full(shape, np.nan)
        sync = np.full(shape, np.nan)
        trend = amplitude_trend(np.stack([E, I], axis=-2), dt)
    lam = np.full(shape, np.nan) if lambda_max is None else np.broadcast_to(np.asarray(lambda_max, float), shape).copy()
    return dict(
        speed=np.asarray(speed, float), rms=np.asarray(rms, float), std_nu=std_nu, var_x=var_x, synchrony=sync, trend=trend,
        f_peak=f_peak, period=period, coherence=coh, recurrence_pop=rec_pop, recurrence_x=rec_x, lambda_max=lam,
    )


#: name -> (units, long_name) of every order parameter (for the HDF5 output)
ORDER_PARAMETERS = {
    "speed": ("1/tau", "RMS speed |dx/dt| at the final state"),
    "rms": ("1", "RMS activity sqrt(<x_i^2>) at the final state"),
    "std_nu": ("1", "max(std_t nu_E, std_t nu_I) over the late window"),
    "var_x": ("1", "mean temporal variance of recorded neurons over the late window"),
    "synchrony": ("1", "Golomb synchrony chi = sqrt(var_t nu / <var_t phi(x_i)>) over recorded neurons"),
    "trend": ("1/tau", "growth rate of the peak-to-peak amplitude of recorded neurons between the window halves"),
    "f_peak": ("1/tau", "peak frequency of the nu_E + nu_I power spectrum"),
    "period": ("tau", "1 / f_peak"),
    "coherence": ("1", "fraction of population power within one bin of the peak"),
    "recurrence_pop": ("1", "autocorrelation of nu_E one period later"),
    "recurrence_x": ("1", "median autocorrelation of recorded neurons one period later"),
    "lambda_max": ("1/tau", "largest Lyapunov exponent (nan: no Lyapunov file)"),
    "fp_rms": ("1", "RMS of the fixed point a settling state heads to (Newton; nan: not located)"),
}


def classify(op: Mapping[str, np.ndarray], criteria: PhaseCriteria | None = None) -> np.ndarray:
    """Integer labels (index into :data:`PHASES`) from order parameters, same shape as ``op['speed']``.

    Rules in the module docstring; ``nan`` recurrences count as "not periodic".
    """
    c = criteria or PhaseCriteria()
    speed = np.asarray(op["speed"], float)
    rms = np.asarray(op["rms"], float)
    lam = np.asarray(op.get("lambda_max", np.full(speed.shape, np.nan)), float)
    std_nu = np.asarray(op["std_nu"], float)
    rp = np.nan_to_num(np.asarray(op["recurrence_pop"], float), nan=-np.inf)
    rx = np.nan_to_num(np.asarray(op["recurrence_x"], float), nan=-np.inf)

    sync = np.nan_to_num(np.asarray(op["synchrony"], float), nan=-np.inf)
    trend = np.asarray(op.get("trend", np.full(speed.shape, np.nan)), float)
    have_lam = np.isfinite(lam)

    coherent = (std_nu >= c.pop_tol) & (sync >= c.sync_tol) & (rp >= c.recurrence_tol)
    periodic = (rp >= c.recurrence_tol) | (rx >= c.recurrence_tol)
    converging = np.nan_to_num(trend, nan=0.0) < -c.trend_tol
    chaotic = np.where(have_lam, lam > c.lambda_tol, ~periodic & ~converging)
    fixed = speed < c.speed_tol
    # trivial (x -> 0): small, or still shrinking as fast as linear decay to 0 would
    rate = np.maximum(np.where(have_lam, -lam, 0.0), np.nan_to_num(-trend, nan=0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(rms > 0, speed / rms, 0.0)
    trivial = (rms < c.x_tol) | ((rate > 0) & (ratio >= 0.5 * rate))
    fp_rms = np.asarray(op.get("fp_rms", np.full(speed.shape, np.nan)), float)
    located = np.isfinite(fp_rms)
    trivial = np.where(located, fp_rms < c.x_tol, trivial)

    labels = np.full(speed.shape, CYCLE, dtype=np.int8)
    labels[coherent] = OSCILLATION
    settle = (fixed | converging) & ~chaotic
    labels[settle] = np.where(trivial[settle], DECAY, FIXED_POINT)
    labels[chaotic & ~fixed] = CHAOS
    labels[fixed & trivial] = DECAY
    labels[fixed & ~trivial] = FIXED_POINT
    bad = ~np.isfinite(speed) | ~np.isfinite(rms) | (rms > c.diverge)
    labels[bad] = DIVERGENT
    return labels


# -- sweeps ---------------------------------------------------------------------------------


# -- Lyapunov statistics ---------------------------------------------------------------------


