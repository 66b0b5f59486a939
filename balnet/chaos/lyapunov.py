r"""Lyapunov exponents of rate networks: tangent dynamics, QR spectra, micro and macro FTLE.

Tangent dynamics
----------------
Along a trajectory of :math:`\dot x = f(x)` a perturbation obeys the linearized
(tangent) equation

.. math::
    \dot{\delta x} = D(x(t))\,\delta x, \qquad
    D(x) = -\mathbb 1 + J\,\mathrm{diag}(\phi'(x)),

where:

* :math:`x(t)` is the network state (shape ``(N,)``, time in units of :math:`\tau`);
* :math:`D(x)` is the Jacobian of the rate dynamics; it is never formed: its
  action on ``K`` tangent vectors is one GEMM, ``(phi'(x) * V) @ J^T``
  (:meth:`balnet.model.dynamics.RateNetwork.jvp`).

The state and its ``K`` tangent vectors are advanced *jointly by the same
solver* as the trajectory (:func:`joint_field`): one RK4 step of the stacked
array ``(x, V)`` is exactly the derivative of the RK4 step map, so the
exponents measured are those of the discrete map that the simulation really
iterates, and agree with a two-trajectory finite-difference estimate up to the
size of the difference (tested).  For Euler the tangent map is
:math:`\mathbb 1 + h D(x_n)`.  States are batched ``(R, B, N)`` (realizations,
trials, neurons) and tangent frames ``(R, B, K, N)`` (rows are vectors), so
a batch is one batched GEMM of shape ``(R, B (S + K), N) x (R, N, N)``.

QR (Benettin) spectrum
----------------------
Every :math:`t_\mathrm{ons}` the frame :math:`V` is re-orthonormalized by a
batched QR decomposition :math:`V^T = Q R` (Benettin et al., Meccanica 15, 9,
1980; Shimada & Nagashima, Prog. Theor. Phys. 61, 1605, 1979), and

.. math::
    \lambda_i = \lim_{T\to\infty} \frac{1}{T}\sum_{n=1}^{T/t_\mathrm{ons}} \log |R^{(n)}_{ii}|,
    \qquad i = 1..k,

where:

* :math:`R^{(n)}` is the triangular factor at the :math:`n`-th re-orthonormalization
  (``(k, k)`` per realization and trial);
* the frame and trajectory are first warmed up (``SimulationParams.t_warmup`` for
  the trajectory, then ``LyapunovParams.t_warmup_tangent`` for the frame, whose
  :math:`\log|R_{ii}|` are discarded), as in Engelken, Wolf & Abbott, "Lyapunov
  spectra of chaotic recurrent neural networks", Phys. Rev. Research 5, 043044
  (2023), arXiv:2006.02427.

Units: every exponent is in :math:`1/\tau`.

Finite-time exponents (micro)
-----------------------------
The measurement time :math:`T` is cut into windows of length
:math:`t_w` (``t_window``, a multiple of ``t_ons``); the micro FTLE of window
:math:`w` is :math:`\frac{1}{t_w}\sum_{n\in w}\log|R^{(n)}_{11}|`, the growth
rate of the leading QR vector over the window (Engelken et al. 2023, local
Lyapunov exponents).  ``convergence`` is the running estimate of
:math:`\lambda_\mathrm{max}` after each window.

Macro FTLE
----------
The macro (population) activity is :math:`\nu = (\nu_E, \nu_I)`,
:math:`\nu_P = N_P^{-1}\sum_{j\in P}\phi(x_j)`, and the macro variable
:math:`m = N^{-1/2}\sum_j w_j\phi(x_j)` (see :mod:`balnet.model.network`).  Our
reconstruction of the "macro FTLE" of Hayakawa & Fukai (Phys. Rev. Research 2,
013253, 2020, arXiv:1711.09621) and of Hayakawa's KAKENHI reports (only their
abstracts were available to us) offers four definitions, ``macro_method``:

``"linear_nu"`` (default, the defensible one)
    A perturbation is started along the macro direction at the beginning of
    each window, :math:`\delta x(0) = \hat u = u/|u|` (``u``: the mean-input
    vector, :func:`balnet.model.network.input_vector`), evolved by the tangent
    dynamics and *not* renormalized inside the window; with
    :math:`\delta\nu_P = N_P^{-1}\sum_{j\in P}\phi'(x_j)\,\delta x_j`,

    .. math::
        \Lambda_\mathrm{macro}(T) = \frac{1}{T}
        \log\frac{|\delta\nu(T)|}{|\delta\nu(0)|}, \qquad T = t_w .

    Values are averaged over windows and reported with their spread and a
    bootstrap confidence interval.  For long :math:`T` in chaos the
    perturbation aligns with the leading Lyapunov vector and
    :math:`\Lambda_\mathrm{macro}\to\lambda_\mathrm{max}` (the ratio
    :math:`|\delta\nu|/|\delta x|` at both ends only adds an
    :math:`O(1/T)` term; tested); at a stable fixed point it is negative
    (tested).  The :math:`O(1/T)` term is negative and not small: the
    start direction :math:`\hat u` (uniform by default) has a population-mean projection about
    :math:`\sqrt{N_E}` times larger than a generic (leading Lyapunov)
    direction, so :math:`\Lambda_\mathrm{macro}(T)\approx\lambda_\mathrm{max}
    - \log\sqrt{N_E}/T` (measured :math:`T(\Lambda_\mathrm{macro}-\lambda_\mathrm{max})
    \approx -2` to :math:`-3` at N = 200, :math:`-1.5` to :math:`-5.6` over
    N = 250-2000 and all classes, docs/macro_ftle.md): windows must be long compared with
    :math:`\log N / (2\lambda_\mathrm{max})`, or use the offset-free growth rate
    below (``macro_growth``), which removes this term.  When :math:`\phi' = 0` on every
    neuron (ReLU, all silent) :math:`\delta\nu \equiv 0` and the value is
    undefined (-inf/nan).  The *linearized* dynamics is used (not two trajectories) so the
    value does not depend on a perturbation size and cannot saturate at the
    attractor size for long windows; because the dynamics is linear, the
    vector is rescaled every ``t_ons`` with its log-norm kept in an
    accumulator, which is exact and only keeps the numbers in range.

``"finite_nu"``
    The same quantity from two trajectories: :math:`x' = x + \epsilon\hat u` at
    the window start (``eps``: the norm of :math:`\delta x(0)`, in units of
    :math:`x`), :math:`\delta\nu = \nu(x') - \nu(x)`, no renormalization.
    Equals ``linear_nu`` while :math:`\epsilon e^{\lambda T}\ll 1`
    (tested); beyond that it saturates at the attractor size (pitfall: it
    then measures a finite-size growth, not an exponent; in float32 choose
    ``eps`` above ~1e-3 because of cancellation in :math:`\nu(x')-\nu(x)`).

``"gain"``
    The macro mode's own linear gain,
    :math:`\frac{1}{T}\int_0^T \big(-1 + J_0\kappa(t)\big)\,dt`, with
    :math:`\kappa = N^{-1/2}\sum_j w_j\phi'(x_j)u_j` (left Riemann sum over
    the steps).  Pitfall (measured on this model in the design study): it is *not* a
    Lyapunov exponent: a limit cycle with :math:`\lambda_\mathrm{max}=0` gave
    +0.27 and chaotic runs are almost always negative; for :math:`J_0 = 0`
    it is identically :math:`-1` whatever the chaos (tested).

``"renorm_m"``
    Growth of :math:`|\delta m|`, :math:`\delta m = N^{-1/2}\sum_j
    w_j\phi'(x_j)\delta x_j`, of a tangent vector (started along
    :math:`\hat u` at the start of the tangent warm-up) renormalized every
    ``t_ons``: :math:`\frac{1}{T}\sum_n\log\frac{|\delta m(t_{n+1}^-)|}
    {|\delta m(t_n^+)|}`.  Pitfall: the renormalization factors telescope,
    so this equals the micro FTLE of that vector plus a boundary term
    :math:`\frac1T\big[\log\frac{|\delta m|}{|\delta x|}\big]_0^T`: it only
    re-measures micro chaos (tested: it tracks ``ftle_micro``).

``macro_compare=True`` computes all four side by side.

Offset-free macro growth rate
-----------------------------
``linear_nu`` mixes two things: a growth rate and a start-direction offset.
Expand the tangent vector started at :math:`\hat u` on the covariant
Lyapunov vectors, :math:`\delta x(t) = \sum_i c_i\, e^{\int_0^t\Lambda_i}\,
v_i(t)`.  Once the leading term dominates (alignment, after a time of order
:math:`1/(\lambda_1-\lambda_2)`),

.. math::
    y(t) \equiv \log\frac{|\delta\nu(t)|}{|\delta\nu(0)|}
    = a + \gamma\,t + \eta(t), \qquad
    a = \log|c_1| + \big\langle\log|P\,\Phi' v_1|\big\rangle - \log|P\,\Phi'\hat u|,

where:

* :math:`\gamma = \lambda_\mathrm{max}` for a trajectory with a simple
  leading exponent (the tangent dynamics is linear: any generic start grows
  at :math:`\lambda_\mathrm{max}`);
* :math:`P` takes population means (``(2, N)``), :math:`\Phi' =
  \mathrm{diag}\,\phi'(x)`;
* :math:`a` (dimensionless, ``macro_offset``) is the start-direction offset:
  how weakly :math:`\hat u` excites the leading direction
  (:math:`\log|c_1|`) and how little that direction moves the population
  means compared with :math:`\hat u` itself.  For a leading vector without
  population structure, :math:`|P\Phi' v_1|/|P\Phi'\hat u| \sim
  \sqrt{(N_E^{-1} + N_I^{-1})/2}`, so :math:`a \approx -\tfrac12\log N +
  O(1)`: this is the :math:`-\log\sqrt{N_E}` of ``linear_nu``;
* :math:`\eta(t)`: zero-mean fluctuations (finite-time fluctuations of the
  local exponent and of :math:`\log|P\Phi' v_1(t)|`).

Hence the window FTLE is :math:`\Lambda_\mathrm{macro}(T) = y(T)/T = \gamma
+ a/T + \eta(T)/T`: its offset decays only as :math:`1/T`.  The offset-free
estimator (:func:`macro_growth_rate`, ``macro_growth``) is the least-squares
slope of :math:`y(t_j)`, :math:`t_j = j\,t_\mathrm{ons}`, over the aligned
part :math:`t_j \ge \alpha T` of every window (``macro_align`` :math:`=\alpha`,
default 1/2):

.. math::
    \hat\gamma = \frac{\sum_j (t_j-\bar t)(y_j-\bar y)}{\sum_j (t_j-\bar t)^2},
    \qquad \hat a = \bar y - \hat\gamma\,\bar t,

(sums over :math:`t_j\ge\alpha T`).  The constant :math:`a` drops out of
:math:`\hat\gamma` exactly; what remains is an alignment bias
:math:`O(e^{-(\lambda_1-\lambda_2)\alpha T})` and the fluctuation.  If
:math:`y` diffuses with :math:`\operatorname{var}\eta(t) = \sigma^2 t` the
slope over a span :math:`L=(1-\alpha)T` has variance :math:`6\sigma^2/(5L)`
(continuous sampling), against :math:`\sigma^2/T` for the FTLE: with
:math:`\alpha = 1/2` the growth rate trades the bias :math:`a/T` for
:math:`\approx 2.4\times` the variance.  At a stable fixed point
:math:`\gamma` is the slowest decay rate of :math:`\delta\nu`, the real part
of the leading eigenvalue of :math:`D(x^*)` among the modes that
:math:`\hat u` excites and :math:`P\Phi'` sees; for a linear system it is
the real part of the leading eigenvalue of the mode coupled to the macro
direction (tested).  ``macro_offset`` is :math:`\hat a`; ``macro_log_dnu``
keeps :math:`y(t_j)` of every window so that any shorter window
:math:`T' \le T` (a prefix) can be re-analysed (:func:`balnet.chaos.statistics.macro_window_curves`).

Randomness: the initial tangent frame of trial ``b`` of realization ``k`` is
drawn from stream ``(k, TANGENT, 0, b)`` of the root seed and bootstrap
resampling uses ``(k, TANGENT, 1)`` (:mod:`balnet.engine.random`), so realization
``k`` gives the same numbers alone, in a batch or on any MPI rank.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Sequence

import numpy as np

from ..engine.backend import array_namespace, get_xp, resolve_dtype, to_numpy
from ..engine.integrators import RK4, get_solver
from ..engine.params import ConfigError, NetworkParams, SimulationParams, _f
from ..engine.progress import progress_bar
from ..engine.parallel import SerialComm, allreduce_sum
from ..engine.random import NOISE, TANGENT, normal_block, stream
from ..model.dynamics import RateNetwork, Tanh
from ..model.network import balance_vector, input_vector
from ..model.simulate import build_network, initial_states

__all__ = [
    "TANGENT",
    "MACRO_METHODS",
    "LyapunovParams",
    "MacroSpec",
    "LyapunovResult",
    "check_compatible",
    "joint_field",
    "orthonormalize",
    "random_frames",
    "lyapunov_spectrum",
    "two_trajectory_lyapunov",
    "bootstrap_ci",
    "ftle_statistics",
    "macro_growth_rate",
    "lyapunov_run",
    "UNITS",
]

# Lyapunov streams (purpose TANGENT, registered in balnet.engine.random): ``stream(seed, k, TANGENT, 0, b)``
# (initial frame of trial b) and ``stream(seed, k, TANGENT, 1)`` (bootstrap).

MACRO_METHODS = ("linear_nu", "finite_nu", "gain", "renorm_m")

#: units of every variable of :func:`lyapunov_run` (also written to HDF5).
UNITS = {
    "spectrum": "1/tau",
    "lambda_max": "1/tau",
    "ftle_micro": "1/tau",
    "ftle_macro": "1/tau",
    "ftle_spectrum": "1/tau",
    "convergence": "1/tau",
    "trace_jacobian_mean": "1/tau",
    "window_end": "tau",
    "lambda_max_ci": "1/tau",
    "divergent": "1",
    "ftle_macro_mean": "1/tau",
    "ftle_macro_std": "1/tau",
    "ftle_macro_ci": "1/tau",
    "macro_growth": "1/tau",
    "macro_offset": "1",
    "macro_log_dnu": "1",
    "macro_lag": "tau",
}


# ---------------------------------------------------------------------------
# parameters
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class LyapunovParams:
    r"""Control of the Lyapunov measurement (trajectory warm-up ``SimulationParams.t_warmup``,
    measurement time ``SimulationParams.T``).

    ``t_ons`` must be a multiple of ``dt``, ``t_window`` a multiple of ``t_ons``,
    and ``T >= t_window`` (checked by :func:`check_compatible`).
    """

    k: int = _f(4, "number of Lyapunov exponents (QR/Benettin), at most N")
    t_ons: float = _f(1.0, "re-orthonormalization interval", "tau")
    t_warmup_tangent: float = _f(20.0, "tangent-space warm-up after the trajectory warm-up (discarded)", "tau")
    t_window: float = _f(100.0, "FTLE window length (a multiple of t_ons; docs/macro_ftle.md)", "tau")
    macro_method: str = _f("linear_nu", "macro FTLE definition: linear_nu, finite_nu, gain or renorm_m")
    macro_compare: bool = _f(False, "also compute every macro_method (ftle_macro_<method>)")
    eps: float = _f(1e-6, "initial norm |delta x(0)| of the finite-difference perturbation (finite_nu)")
    macro_align: float = _f(0.5, "macro growth rate: fit log|delta nu(t)| over t >= macro_align * t_window")
    n_boot: int = _f(1000, "bootstrap resamples for confidence intervals (0: none)")
    ci: float = _f(0.95, "confidence level of the bootstrap intervals")

    def validate(self) -> None:
        if self.k < 1:
            raise ConfigError(f"k must be an integer >= 1, got {self.k}")
        for name in ("t_ons", "t_window"):
            v = getattr(self, name)
            if not (v > 0 and math.isfinite(v)):
                raise ConfigError(f"{name} must be a positive number, got {v}")
        if not (self.t_warmup_tangent >= 0 and math.isfinite(self.t_warmup_tangent)):
            raise ConfigError(f"t_warmup_tangent must be >= 0, got {self.t_warmup_tangent}")
        if self.t_window < self.t_ons:
            raise ConfigError(f"t_window={self.t_window} is shorter than t_ons={self.t_ons}")
        if self.macro_method not in MACRO_METHODS:
            raise ConfigError(f"macro_method must be one of {', '.join(MACRO_METHODS)}, got {self.macro_method!r}")
        if not (0 <= self.macro_align < 1):
            raise ConfigError(f"macro_align must lie in [0, 1), got {self.macro_align}")
        if not (0 < self.eps < 1):
            raise ConfigError(f"eps must lie in (0, 1), got {self.eps}")
        if self.n_boot < 0:
            raise ConfigError(f"n_boot must be >= 0, got {self.n_boot}")
        if not 0 < self.ci < 1:
            raise ConfigError(f"ci must lie in (0, 1), got {self.ci}")


def _n_steps(t: float, dt: float, what: str) -> int:
    n = int(round(t / dt))
    if abs(n * dt - t) > 1e-6 * max(dt, t):
        raise ConfigError(f"{what}={t} is not a multiple of dt={dt}")
    return n


def check_compatible(net: NetworkParams, sim: SimulationParams, lyap: LyapunovParams) -> tuple[int, int, int]:
    """Check the three records together; return ``(n_ons, n_window, n_warmup_tangent)`` in steps."""
    if lyap.k > net.N:
        raise ConfigError(f"k={lyap.k} exceeds N={net.N}")
    if lyap.t_ons < sim.dt:
        raise ConfigError(f"t_ons={lyap.t_ons} is shorter than dt={sim.dt}")
    n_ons = _n_steps(lyap.t_ons, sim.dt, "t_ons")
    n_win = _n_steps(lyap.t_window, sim.dt, "t_window")
    if n_win % n_ons:
        raise ConfigError(f"t_window={lyap.t_window} is not a multiple of t_ons={lyap.t_ons}")
    if sim.n_steps < n_win:
        raise ConfigError(f"T={sim.T} is shorter than t_window={lyap.t_window}: no complete FTLE window")
    n_tw = int(round(lyap.t_warmup_tangent / sim.dt))
    return n_ons, n_win, n_tw


# ---------------------------------------------------------------------------
# tangent dynamics
# ---------------------------------------------------------------------------
def joint_field(f, n_traj: int = 1) -> Callable:
    r"""Vector field of the stacked array ``Y = (x_0 .. x_{S-1}, v_1 .. v_K)`` (shape ``(..., S + K, N)``).

    The first ``S = n_traj`` slots are trajectories of :math:`\dot x = f(x)`
    (slot 0 is the reference; the others are finite-difference partners), the
    remaining ``K`` slots are tangent vectors linearized at slot 0:
    :math:`\dot v = D(x_0)\,v`.  Any ``solver.step(F, t, Y, dt)`` then advances
    state and tangent vectors with the same scheme.

    For a :class:`~balnet.model.dynamics.RateNetwork` the recurrent terms of all
    slots are one GEMM ``(R, B (S + K), N) x (R, N, N)`` (rates of the
    trajectories and :math:`\phi'(x_0)\odot v` of the tangents, stacked); any
    other ``f`` needs ``f(t, x)`` and ``f.jvp(x, V)`` (``V``: ``(..., K, N)``).
    """
    S = int(n_traj)
    if hasattr(f, "gather"):  # row-partitioned network (balnet.model.partitioned)
        return _PartitionedJointField(f, S)
    if isinstance(f, RateNetwork):
        return _RateJointField(f, S)
    return _GenericJointField(f, S)


class _GenericJointField:
    def __init__(self, f, S: int):
        self.f, self.S = f, S

    def __call__(self, t, Y):
        f, S = self.f, self.S
        out = _empty_like(Y)
        for s in range(S):
            out[..., s, :] = f(t, Y[..., s, :])
        if Y.shape[-2] > S:
            out[..., S:, :] = f.jvp(Y[..., 0, :], Y[..., S:, :])
        return out


def _empty_like(Y):
    return array_namespace(Y).empty_like(Y)


class _RateJointField:
    """Fused field for RateNetwork: one batched GEMM for all trajectories and tangent vectors."""

    def __init__(self, f: RateNetwork, S: int):
        self.f, self.S = f, S
        self.tanh = isinstance(f.gain, Tanh)

    def __call__(self, t, Y):
        f, S, xp = self.f, self.S, self.f.xp
        N = Y.shape[-1]
        A = xp.empty_like(Y)
        A[..., :S, :] = f.gain.phi(Y[..., :S, :], xp)
        if Y.shape[-2] > S:
            if self.tanh:  # phi' = 1 - phi^2: reuse the rates of slot 0
                r0 = A[..., 0:1, :]
                d = 1.0 - r0 * r0
            else:
                d = f.gain.dphi(Y[..., 0:1, :], xp)
            xp.multiply(d, Y[..., S:, :], out=A[..., S:, :])
        if f.batched:
            out = xp.matmul(A.reshape(A.shape[0], -1, N), f.JT).reshape(Y.shape)
        else:
            out = xp.matmul(A.reshape(-1, N), f.JT).reshape(Y.shape)
        out -= Y
        if f.I0 != 0.0:
            out[..., :S, :] += f.I0
        if f.external is not None:
            ext = f.external
            if getattr(ext, "ndim", 0) >= 2:
                ext = ext[..., None, :]
            out[..., :S, :] += ext
        return out


class _PartitionedJointField:
    r"""Joint field of a row-partitioned network: local rates and :math:`\phi'(x_0) v`, one ``Allgatherv``
    of all slots, the local GEMM ``(R, B (S + K), N) x (R, N, N_loc)``."""

    def __init__(self, f, S: int):
        self.f, self.S = f, S

    def __call__(self, t, Y):
        f, S, xp = self.f, self.S, self.f.xp
        A = xp.empty_like(Y)
        A[..., :S, :] = f.gain.phi(Y[..., :S, :], xp)
        if Y.shape[-2] > S:
            xp.multiply(f.gain.dphi(Y[..., 0:1, :], xp), Y[..., S:, :], out=A[..., S:, :])
        G = f.gather(A)
        N = f.N
        lead = (G.shape[0], -1, N) if f.batched else (-1, N)
        out = xp.matmul(G.reshape(lead), f.JT).reshape(Y.shape)
        out -= Y
        if f.I0 != 0.0:
            out[..., :S, :] += f.I0
        if f.external is not None:
            ext = f.external
            if getattr(ext, "ndim", 0) >= 2:
                ext = ext[..., None, :]
            out[..., :S, :] += ext
        return out


def orthonormalize_rows(V, comm, xp: ModuleType = np):
    r"""CholeskyQR2 of frames ``V`` (``(..., K, N_loc)``) whose columns are split over the ranks of ``comm``.

    Twice: the Gram matrix :math:`G = V V^T` (local ``K x K`` products summed by
    one ``Allreduce``), :math:`G = L L^T` (Cholesky), :math:`V \leftarrow L^{-1} V`.
    Then :math:`V_0 = L_1 L_2 Q` with :math:`L_1 L_2` lower triangular with a
    positive diagonal: the transpose of the ``R`` of :func:`orthonormalize`, so
    the returned ``(Q, log_r)`` agree with it to rounding, provided the frame's
    condition number stays well below :math:`\epsilon^{-1/2}` (about ``1e8`` in
    float64, ``3e3`` in float32; CholeskyQR2 of Yamamoto et al., ETNA 44, 2015).
    """
    log_r = None
    for _ in range(2):
        G = xp.ascontiguousarray(xp.matmul(V, xp.swapaxes(V, -1, -2)))
        allreduce_sum(comm, G)
        L = xp.linalg.cholesky(G)
        V = xp.linalg.solve(L, V)
        d = xp.log(xp.diagonal(L, axis1=-2, axis2=-1))
        log_r = d if log_r is None else log_r + d
    return xp.ascontiguousarray(V), log_r


def orthonormalize(V, xp: ModuleType = np):
    r"""Batched Gram–Schmidt by QR of the frames ``V`` (shape ``(..., K, N)``, rows are vectors).

    Returns ``(Q, log_r)``: the orthonormal frame ``(..., K, N)`` spanning the
    same nested subspaces, signs fixed so that :math:`R_{ii} > 0`, and
    :math:`\log|R_{ii}|` (shape ``(..., K)``).
    """
    if V.shape[-2] == 1:
        nrm = xp.sqrt((V * V).sum(-1))
        return V / nrm[..., None], xp.log(nrm)
    Qt, Rm = xp.linalg.qr(xp.swapaxes(V, -1, -2))
    d = xp.diagonal(Rm, axis1=-2, axis2=-1)
    s = xp.where(d < 0, -1.0, 1.0).astype(V.dtype)
    Q = xp.swapaxes(Qt * s[..., None, :], -1, -2)
    return xp.ascontiguousarray(Q), xp.log(xp.abs(d))


def random_frames(ids: Sequence[int], trials: int, k: int, N: int, root_seed: int, xp: ModuleType = np, dtype=np.float64):
    """Random orthonormal initial frames ``(R, B, k, N)``; trial ``b`` of realization ``ids[r]`` uses stream ``(k, TANGENT, 0, b)``."""
    V = np.empty((len(ids), trials, k, N))
    for i, kk in enumerate(ids):
        for b in range(trials):
            V[i, b] = stream(root_seed, kk, TANGENT, 0, b).standard_normal((k, N))
    Q, _ = orthonormalize(V, np)
    return xp.asarray(Q.astype(dtype))


@dataclass
class MacroSpec:
    """Population structure used by the macro FTLE (host arrays, shape ``(N,)``).

    ``u``: mean-input vector (perturbation direction); ``w``: balance vector
    (macro variable :math:`m`); ``n_E``: size of the E block; ``J0``: mean
    coupling strength (gain method).
    """

    u: np.ndarray
    w: np.ndarray
    n_E: int
    J0: float

    @classmethod
    def from_params(cls, net: NetworkParams) -> "MacroSpec":
        return cls(u=input_vector(net), w=balance_vector(net), n_E=net.N_E, J0=float(net.J0))


@dataclass
class LyapunovResult:
    r"""Result record of :func:`lyapunov_spectrum` (host numpy arrays, batch shape ``(...)`` of ``x0``).

    Attributes
    ----------
    spectrum : ``(..., k)`` exponents over the measurement [1/tau], in QR order (descending
        as T -> infinity; over a short measurement neighbouring values may still cross)
    ftle : ``(..., k, W)`` finite-time exponents of each window [1/tau]
    convergence : ``(..., W)`` running estimate of the largest exponent after each window [1/tau]
    window_end : ``(W,)`` end of each window after the start of the measurement [tau]
    trace_mean : ``(...)`` time average of tr D(x(t)) over the measurement [1/tau] (NaN if unknown)
    macro : dict method -> ``(..., W)`` macro FTLE per window [1/tau]
    x_end : final state (host)
    t_measure : measurement time [tau]
    divergent : ``(...)`` bool, trajectories stopped because their state became non-finite or its
        RMS exceeded ``DIVERGE`` (their exponents are ``nan``)
    macro_log_dnu : ``(..., W, L)`` (``linear_nu`` only, else None) :math:`y(t_j) =
        \log|\delta\nu(t_j)|/|\delta\nu(0)|` at the lags :math:`t_j = j\,t_\mathrm{ons}`
        of every window (input of :func:`macro_growth_rate`)
    macro_lag : ``(L,)`` the lags :math:`t_j` [tau] (``L = t_window / t_ons``)
    """

    spectrum: np.ndarray
    ftle: np.ndarray
    convergence: np.ndarray
    window_end: np.ndarray
    trace_mean: np.ndarray
    macro: dict = field(default_factory=dict)
    x_end: Any = None
    t_measure: float = 0.0
    macro_log_dnu: np.ndarray | None = None
    macro_lag: np.ndarray | None = None
    divergent: Any = None


#: RMS state above which a Lyapunov trajectory counts as divergent and is stopped (same as the
#: classifier's default ``PhaseCriteria.diverge``).
DIVERGE = 1e6


class _Noise:
    """Additive white noise of the simulator: stream ``(k, NOISE)``, blocks of 256 steps ``(n, B, N)``."""

    NB = 256

    def __init__(self, sigma, dt, ids, trials, N, root_seed, n_total, xp, dtype, cols=None):
        self.cols = cols  # (lo, hi): keep these neurons (row-partitioned network)
        self.sq = sigma * math.sqrt(dt)
        self.rngs = [stream(root_seed, k, NOISE) for k in ids]
        self.B, self.N, self.xp, self.dtype = trials, N, xp, dtype
        self.blk, self.i, self.n_total = None, 0, n_total

    def __call__(self):
        j = self.i % self.NB
        if j == 0:
            n = max(1, min(self.NB, self.n_total - self.i))
            blk = normal_block(self.rngs, n, (self.B, self.N), self.dtype)
            if self.cols is not None:
                blk = np.ascontiguousarray(blk[..., self.cols[0] : self.cols[1]])
            self.blk = self.xp.asarray(blk)
        self.i += 1
        return self.sq * self.blk[j]


def lyapunov_spectrum(
    f,
    x0,
    k: int | None = None,
    *,
    dt: float,
    t: float,
    t_ons: float = 1.0,
    t_warmup: float = 0.0,
    t_warmup_tangent: float = 0.0,
    t_window: float | None = None,
    solver=None,
    Q0=None,
    rng: np.random.Generator | None = None,
    xp: ModuleType | None = None,
    macro: MacroSpec | None = None,
    macro_methods: Sequence[str] = (),
    eps: float = 1e-6,
    noise: Callable | None = None,
    progress: bool = False,
) -> LyapunovResult:
    r"""First ``k`` Lyapunov exponents of :math:`\dot x = f(t, x)` by QR re-orthonormalization.

    Parameters
    ----------
    f : vector field with ``f(t, x)`` and ``f.jvp(x, V)`` (``V``: ``(..., K, N)``),
        e.g. a :class:`~balnet.model.dynamics.RateNetwork` or any linear field.
    x0 : array ``(..., N)`` initial states (batch dims, e.g. ``(R, B)``).
    k : number of exponents (default: ``Q0.shape[-2]``).
    dt, t : step and measurement time [tau].
    t_ons : re-orthonormalization interval [tau] (multiple of ``dt``).
    t_warmup : trajectory-only warm-up [tau].
    t_warmup_tangent : frame warm-up after it [tau] (exponents discarded).
    t_window : FTLE window [tau] (multiple of ``t_ons``; default ``t``).
    solver : :class:`~balnet.engine.integrators.RK4` (default) or Euler; the same for state and tangents.
    Q0 : initial frames ``(..., k, N)`` (orthonormalized here); else drawn from ``rng``.
    rng : numpy Generator for ``Q0`` when it is not given.
    macro, macro_methods : population structure and macro FTLE definitions (module doc).
    eps : finite-difference size for ``finite_nu``.
    noise : optional callable ``noise() -> (..., N)``: the increment added to the
        trajectories after each step (additive noise leaves the tangent map unchanged).

    Returns
    -------
    LyapunovResult
    """
    solver = solver or RK4()
    if xp is None:
        xp = getattr(f, "xp", None) or np
    x0 = xp.asarray(x0)
    dtype = x0.dtype
    N = x0.shape[-1]
    batch = x0.shape[:-1]
    if Q0 is None:
        if k is None or rng is None:
            raise ValueError("give Q0, or k and rng")
        Q0 = rng.standard_normal((*batch, k, N))
    if hasattr(f, "gather"):  # row-partitioned: Q0 holds this rank's rows of the frames
        Q0, _ = orthonormalize_rows(xp.asarray(Q0, dtype=dtype), f.comm, xp)
    else:
        Q0, _ = orthonormalize(xp.asarray(Q0, dtype=dtype), xp)
    k = Q0.shape[-2]
    t_window = t if t_window is None else t_window
    n_ons = _n_steps(t_ons, dt, "t_ons")
    n_win = _n_steps(t_window, dt, "t_window")
    if n_ons < 1 or n_win % n_ons:
        raise ConfigError(f"t_window={t_window} must be a positive multiple of t_ons={t_ons}")
    n_meas = int(round(t / dt))
    if n_meas < n_win:
        raise ConfigError(f"t={t} is shorter than t_window={t_window}")
    n_warm = int(round(t_warmup / dt))
    n_tw = int(round(t_warmup_tangent / dt))
    methods = tuple(dict.fromkeys(macro_methods))
    for m in methods:
        if m not in MACRO_METHODS:
            raise ConfigError(f"unknown macro_method {m!r} (choose {', '.join(MACRO_METHODS)})")
    if methods and macro is None:
        raise ValueError("macro FTLE needs a MacroSpec")

    eng = _Engine(f, x0, Q0, xp=xp, dt=dt, solver=solver, macro=macro, methods=methods, eps=eps, noise=noise)
    bar = progress_bar(n_warm + n_tw + n_meas, progress, "lyapunov")
    try:
        eng.warm_trajectory(n_warm, bar)
        eng.warm_tangent(n_tw, n_ons, bar)
        res = eng.measure(n_meas, n_ons, n_win, bar)
    finally:
        if bar is not None:
            bar.close()
    return res


class _MacroMethod:
    r"""One macro-FTLE definition (``macro_method``): the hooks :class:`_Engine` calls.

    ``n_traj``: trajectory slots it needs (slot 0 is the reference); ``n_vec``: tangent
    vectors of its own, placed by the engine at ``slot`` (started along :math:`\hat u`).
    ``before_step`` is called before every step inside a window, ``after_ons`` after every
    re-orthonormalization (``record``: inside a window), ``end_window`` returns
    ``{name: value (...)}`` for the window just finished.
    """

    name = ""
    n_traj = 1
    n_vec = 0
    slot: int | None = None

    def start_measure(self, eng) -> None:
        pass

    def start_window(self, eng) -> None:
        pass

    def before_step(self, eng, x) -> None:
        pass

    def after_ons(self, eng, record: bool) -> None:
        pass

    def end_window(self, eng, T: float) -> dict:
        return {}


class _LinearNu(_MacroMethod):
    """``linear_nu``: unrenormalized tangent vector from u-hat; also records log|dnu(t)/dnu(0)| every t_ons."""

    name = "linear_nu"
    n_vec = 1

    def start_window(self, eng):
        xp, x = eng.xp, eng.x
        eng.Y[..., self.slot, :] = xp.broadcast_to(eng.u_hat, x.shape)
        self.logscale = xp.zeros(x.shape[:-1], dtype=x.dtype)
        self.log_dnu0 = xp.log(eng._norm(eng._nu(eng.gain_d(x) * eng.u_hat)))
        self.series = []

    def after_ons(self, eng, record):
        # rescale (exact for the linear tangent dynamics), keeping the log-norm
        xp = eng.xp
        v = eng.Y[..., self.slot, :]
        nv = eng._norm(v)
        self.logscale = getattr(self, "logscale", 0.0) + xp.log(nv)
        eng.Y[..., self.slot, :] = v / nv[..., None]
        if record:
            self.series.append(self._log_growth(eng))

    def _log_growth(self, eng):
        dnu = eng._norm(eng._nu(eng.gain_d(eng.x) * eng.Y[..., self.slot, :]))
        return eng.xp.log(dnu) + self.logscale - self.log_dnu0

    def end_window(self, eng, T):
        y = self.series[-1]  # the window ends on a re-orthonormalization: log|dnu(T)/dnu(0)|
        return {"linear_nu": y / T, LOG_DNU: eng.xp.stack(self.series, axis=-1)}


class _FiniteNu(_MacroMethod):
    """``finite_nu``: a partner trajectory x + eps u-hat in slot 1, no renormalization."""

    name = "finite_nu"
    n_traj = 2

    def _log_dnu(self, eng):
        phi, xp = eng.f.gain.phi, eng.xp
        return xp.log(eng._norm(eng._nu(phi(eng.Y[..., 1, :], xp) - phi(eng.x, xp))))

    def start_window(self, eng):
        eng.Y[..., 1, :] = eng.x + eng.eps * eng.u_hat
        self.log_dnu0 = self._log_dnu(eng)

    def end_window(self, eng, T):
        return {"finite_nu": (self._log_dnu(eng) - self.log_dnu0) / T}


class _Gain(_MacroMethod):
    """``gain``: time average of the macro mode's own gain -1 + J0 kappa(x) (left Riemann sum)."""

    name = "gain"

    def start_window(self, eng):
        x = eng.x
        self.acc = eng.xp.zeros(x.shape[:-1], dtype=x.dtype)

    def before_step(self, eng, x):
        self.acc = self.acc + (-1.0 + eng.J0 * eng._psum(eng.gain_d(x) @ eng.kap))

    def end_window(self, eng, T):
        return {"gain": self.acc * (eng.dt / T)}


class _RenormM(_MacroMethod):
    """``renorm_m``: growth of |dm| of a tangent vector renormalized every t_ons (pitfall: re-measures micro chaos)."""

    name = "renorm_m"
    n_vec = 1

    def _log_dm(self, eng, v):
        xp = eng.xp
        return xp.log(xp.abs(eng._psum((eng.gain_d(eng.x) * v) @ eng.wm)))

    def start_measure(self, eng):
        self.log_dm_plus = None

    def start_window(self, eng):
        x = eng.x
        self.acc = eng.xp.zeros(x.shape[:-1], dtype=x.dtype)
        if self.log_dm_plus is None:
            self.log_dm_plus = self._log_dm(eng, eng.Y[..., self.slot, :])

    def after_ons(self, eng, record):
        v = eng.Y[..., self.slot, :]
        if record:
            self.acc = self.acc + self._log_dm(eng, v) - self.log_dm_plus
        v = v / eng._norm(v)[..., None]
        eng.Y[..., self.slot, :] = v
        if record:
            self.log_dm_plus = self._log_dm(eng, v)

    def end_window(self, eng, T):
        return {"renorm_m": self.acc / T}


#: the macro-FTLE strategies by name (MACRO_METHODS order: also the order of their slots and hooks)
_MACRO_STRATEGIES = {c.name: c for c in (_LinearNu, _FiniteNu, _Gain, _RenormM)}
assert tuple(_MACRO_STRATEGIES) == MACRO_METHODS
#: key of the per-window series log|dnu(t_j)/dnu(0)| of ``linear_nu`` in the engine's window output
LOG_DNU = "linear_nu_log_dnu"


class _Engine:
    """Stacked state ``Y = (trajectories, QR frame, macro vectors)`` and its bookkeeping."""

    def __init__(self, f, x0, Q0, *, xp, dt, solver, macro, methods, eps, noise):
        self.f, self.xp, self.dt, self.solver = f, xp, dt, solver
        self.methods, self.eps, self.noise = methods, eps, noise
        self.k = Q0.shape[-2]
        # row-partitioned network: local slices of every N-vector, sums completed over f.comm
        self.comm = getattr(f, "comm", None) if hasattr(f, "gather") else None
        self.lo, self.hi = (f.lo, f.hi) if self.comm is not None else (0, x0.shape[-1])
        N = f.N if self.comm is not None else x0.shape[-1]
        self.N = N
        self.macro = [_MACRO_STRATEGIES[m]() for m in MACRO_METHODS if m in methods]
        self.S = max([1] + [m.n_traj for m in self.macro])
        slots = [x0[..., None, :]] * self.S + [Q0]
        if macro is not None and methods:
            dtype = x0.dtype
            self.u_hat = xp.asarray(macro.u / np.linalg.norm(macro.u), dtype=dtype)
            self.wm = xp.asarray(macro.w / np.sqrt(N), dtype=dtype)
            self.kap = xp.asarray(macro.w * macro.u / np.sqrt(N), dtype=dtype)
            self.n_E, self.J0 = int(macro.n_E), float(macro.J0)
            if self.comm is not None:
                self.u_hat, self.wm, self.kap = (a[self.lo : self.hi] for a in (self.u_hat, self.wm, self.kap))
            ub = xp.broadcast_to(self.u_hat, x0.shape)[..., None, :]
            nxt = self.S + self.k
            for m in self.macro:
                if m.n_vec:
                    m.slot = nxt
                    slots += [ub] * m.n_vec
                    nxt += m.n_vec
        self.Y = xp.ascontiguousarray(xp.concatenate([xp.asarray(s, dtype=x0.dtype) for s in slots], axis=-2))
        self.F = joint_field(f, self.S)
        self.Fx = f
        self.t = 0.0
        self.divergent = xp.zeros(x0.shape[:-1], dtype=bool)

    # -- helpers -----------------------------------------------------------
    @property
    def x(self):
        return self.Y[..., 0, :]

    def _psum(self, a):
        """``a`` summed over the row partitions (identity for a whole network)."""
        if self.comm is None:
            return a
        return allreduce_sum(self.comm, self.xp.ascontiguousarray(a))

    def _nu(self, r):
        """(nu_E, nu_I) of per-neuron values ``r`` (..., N) -> (..., 2)."""
        nE = self.n_E
        if self.comm is not None:
            e_hi = min(max(nE - self.lo, 0), self.hi - self.lo)
            xp = self.xp
            s = self._psum(xp.stack([r[..., :e_hi].sum(-1), r[..., e_hi:].sum(-1)], axis=-1))
            return s / xp.asarray([nE, max(self.N - nE, 1)], dtype=s.dtype)
        e = r[..., :nE].mean(-1)
        i = r[..., nE:].mean(-1) if nE < self.N else e * 0
        return self.xp.stack([e, i], axis=-1)

    def _norm(self, a):
        return self.xp.sqrt(self._psum((a * a).sum(-1)))

    def _add_noise(self, S):
        if self.noise is not None:
            inc = self.noise()
            self.Y[..., :S, :] += inc[..., None, :]

    def _step_x(self):
        x = self.solver.step(self.Fx, self.t, self.Y[..., 0, :], self.dt)
        self.Y[..., : self.S, :] = x[..., None, :]
        self._add_noise(self.S)
        self.t += self.dt

    def _step(self):
        self.Y = self.solver.step(self.F, self.t, self.Y, self.dt)
        self._add_noise(self.S)
        self.t += self.dt

    def gain_d(self, x):
        return self.f.gain.dphi(x, self.xp)

    # -- phases ------------------------------------------------------------
    def warm_trajectory(self, n, bar):
        for i in range(n):
            self._step_x()
            if (i + 1) % 16 == 0:
                self._stop_divergent()
            if bar is not None and (i + 1) % 64 == 0:
                bar.update(64)
        if bar is not None:
            bar.update(n % 64)

    def _stop_divergent(self):
        """Stop trajectories whose state is non-finite or beyond ``DIVERGE`` (RMS): state reset to
        ``x = 0`` (a fixed point of every gain with phi(0) = 0, so nothing overflows later) and the
        tangent rows to unit vectors; they are flagged in ``self.divergent``."""
        xp, S = self.xp, self.S
        with np.errstate(all="ignore"):
            rms = xp.sqrt(xp.mean(self.x * self.x, axis=-1))
        bad = ~xp.isfinite(rms) | (rms > DIVERGE)
        if bool(bad.any()):
            self.divergent |= bad
            Y = self.Y[bad]
            Y[:] = 0
            Y[:, S : S + self.k, :] = xp.eye(self.k, Y.shape[-1], dtype=Y.dtype)
            self.Y[bad] = Y

    def _qr(self):
        self._stop_divergent()
        xp, S, k = self.xp, self.S, self.k
        if self.comm is not None:
            Q, logr = orthonormalize_rows(self.Y[..., S : S + k, :], self.comm, xp)
        else:
            Q, logr = orthonormalize(self.Y[..., S : S + k, :], xp)
        self.Y[..., S : S + k, :] = Q
        return logr

    def warm_tangent(self, n, n_ons, bar):
        for i in range(n):
            self._step()
            if (i + 1) % n_ons == 0 or i + 1 == n:
                self._qr()
                for m in self.macro:
                    m.after_ons(self, record=False)
            if bar is not None and (i + 1) % 64 == 0:
                bar.update(64)
        if bar is not None:
            bar.update(n % 64)

    def _start_window(self):
        for m in self.macro:
            m.start_window(self)

    def measure(self, n, n_ons, n_win, bar):
        xp, dt = self.xp, self.dt
        f = self.f
        has_tr = hasattr(f, "trace_jacobian")
        tr = 0.0
        n_w = n // n_win
        for m in self.macro:
            m.start_measure(self)
        sum_log = xp.zeros(self.Y.shape[:-2] + (self.k,), dtype=self.Y.dtype)
        win_log = xp.zeros_like(sum_log)
        ftle, conv, macro = [], [], {}
        T_w = n_win * dt
        if n_w:
            self._start_window()
        for i in range(n):
            x = self.x
            if has_tr:
                tr = tr + f.trace_jacobian(x)
            if i < n_w * n_win:
                for m in self.macro:
                    m.before_step(self, x)
            self._step()
            if (i + 1) % n_ons == 0 or i + 1 == n:
                logr = self._qr()
                sum_log += logr
                in_window = i < n_w * n_win
                if in_window:
                    win_log += logr
                for m in self.macro:
                    m.after_ons(self, record=in_window)
                if in_window and (i + 1) % n_win == 0:
                    ftle.append(win_log / T_w)
                    win_log = xp.zeros_like(sum_log)
                    conv.append(sum_log[..., 0] / ((i + 1) * dt))
                    for m in self.macro:
                        for name, v in m.end_window(self, T_w).items():
                            macro.setdefault(name, []).append(v)
                    if (i + 1) // n_win < n_w:
                        self._start_window()
            if bar is not None and (i + 1) % 64 == 0:
                bar.update(64)
        if bar is not None:
            bar.update(n % 64)
        T = n * dt
        host = lambda a: to_numpy(a).astype(np.float64)  # noqa: E731
        shape = self.Y.shape[:-2]
        series = macro.pop(LOG_DNU, None)
        log_dnu = np.stack([host(a) for a in series], axis=-2) if series else None
        return LyapunovResult(
            spectrum=host(sum_log / T),
            ftle=np.stack([host(a) for a in ftle], axis=-1),
            convergence=np.stack([host(a) for a in conv], axis=-1),
            window_end=(np.arange(1, n_w + 1) * T_w),
            trace_mean=host(tr / n) if has_tr else np.full(shape, np.nan),
            macro={m: np.stack([host(a) for a in macro[m]], axis=-1) for m in self.methods},
            x_end=to_numpy(self.x),
            t_measure=T,
            macro_log_dnu=log_dnu,
            macro_lag=np.arange(1, n_win // n_ons + 1) * (n_ons * dt) if log_dnu is not None else None,
            divergent=to_numpy(self.divergent).astype(bool),
        )


def two_trajectory_lyapunov(
    f,
    x0,
    direction,
    *,
    dt: float,
    t: float,
    t_ons: float = 1.0,
    eps: float = 1e-8,
    solver=None,
    xp: ModuleType | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Largest exponent from two nearby trajectories (direct Benettin estimate, no Jacobian).

    .. math::
        \lambda_\mathrm{max} \approx \frac{1}{T}\sum_n \log\frac{|x'(t_{n+1}) - x(t_{n+1})|}{\epsilon},
        \qquad x'(t_n) \leftarrow x(t_n) + \epsilon\,\frac{x'(t_n)-x(t_n)}{|x'(t_n)-x(t_n)|},

    where ``direction`` ``(..., N)`` sets the initial offset :math:`\epsilon\,\hat d`
    and ``eps`` (:math:`\epsilon`) is in units of :math:`x`.  Returns
    ``(lambda_max (...), local (..., n_intervals))`` [1/tau].
    """
    solver = solver or RK4()
    if xp is None:
        xp = getattr(f, "xp", None) or np
    x = xp.asarray(x0)
    d = xp.asarray(direction, dtype=x.dtype)
    d = d / xp.sqrt((d * d).sum(-1))[..., None]
    Y = xp.ascontiguousarray(xp.stack([x, x + eps * d], axis=-2))
    F = joint_field(f, 2)
    n = int(round(t / dt))
    n_ons = _n_steps(t_ons, dt, "t_ons")
    local = []
    tt = 0.0
    for i in range(n):
        Y = solver.step(F, tt, Y, dt)
        tt += dt
        if (i + 1) % n_ons == 0 or i + 1 == n:
            dx = Y[..., 1, :] - Y[..., 0, :]
            nd = xp.sqrt((dx * dx).sum(-1))
            steps = (i % n_ons) + 1
            local.append(xp.log(nd / eps) / (steps * dt))
            Y[..., 1, :] = Y[..., 0, :] + (eps / nd)[..., None] * dx
    loc = np.stack([to_numpy(a).astype(np.float64) for a in local], axis=-1)
    w = np.full(loc.shape[-1], n_ons * dt)
    w[-1] = (n - (len(local) - 1) * n_ons) * dt
    return (loc * w).sum(-1) / (n * dt), loc


# ---------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------
def bootstrap_ci(samples, rng: np.random.Generator, *, n_boot: int = 1000, level: float = 0.95, axis: int = -1) -> np.ndarray:
    r"""Percentile bootstrap confidence interval of the mean along ``axis``.

    Resamples the ``n`` values along ``axis`` with replacement ``n_boot``
    times (indices from ``rng``) and returns the :math:`(1\mp\text{level})/2`
    quantiles of the resampled means, stacked on a new last axis ``(..., 2)``.
    With ``n_boot = 0`` or a single sample the interval is ``(mean, mean)``.
    Windows of a long trajectory are only approximately independent: keep
    ``t_window`` well above the correlation time of the FTLE.
    """
    a = np.moveaxis(np.asarray(samples, dtype=np.float64), axis, -1)
    n = a.shape[-1]
    if n_boot <= 0 or n < 2:
        m = a.mean(-1)
        return np.stack([m, m], axis=-1)
    idx = rng.integers(0, n, size=(n_boot, n))
    means = a[..., idx].mean(-1)  # (..., n_boot)
    lo, hi = (1 - level) / 2, (1 + level) / 2
    return np.moveaxis(np.quantile(means, [lo, hi], axis=-1), 0, -1)


def ftle_statistics(ftle, rng: np.random.Generator | None = None, *, n_boot: int = 1000, level: float = 0.95,
                    quantiles=(0.05, 0.25, 0.5, 0.75, 0.95)) -> dict[str, Any]:
    """Distribution of finite-time exponents ``ftle`` ``(R, B, W)`` over time and over realizations.

    Returns ``mean``, ``std`` (over windows, per realization and trial),
    ``pooled`` quantiles over all windows, trials and realizations,
    ``realization_mean`` ``(R,)`` and, when ``rng`` is given, a bootstrap
    ``ci`` of the ensemble mean over realizations (each realization's mean
    over trials and windows is one sample).
    """
    a = np.asarray(ftle, dtype=np.float64)
    out = {
        "mean": a.mean(-1),
        "std": a.std(-1, ddof=1) if a.shape[-1] > 1 else np.zeros(a.shape[:-1]),
        "quantile_levels": np.asarray(quantiles),
        "pooled": np.quantile(a.reshape(-1), quantiles),
        "realization_mean": a.reshape(a.shape[0], -1).mean(-1),
    }
    if rng is not None:
        out["ci"] = bootstrap_ci(out["realization_mean"], rng, n_boot=n_boot, level=level)
    return out


def macro_growth_rate(log_dnu, lag, *, align: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    r"""Offset-free macro growth rate and start-direction offset of ``linear_nu`` windows.

    Least-squares fit :math:`y(t) = \hat a + \hat\gamma t` over the aligned part
    :math:`t \ge \alpha T` of each window (module doc, "Offset-free macro growth rate"):

    .. math::
        \hat\gamma = \frac{\sum_j (t_j-\bar t)(y_j-\bar y)}{\sum_j (t_j-\bar t)^2},
        \qquad \hat a = \bar y - \hat\gamma\,\bar t, \qquad t_j \ge \alpha T,

    where:

    * ``log_dnu`` ``(..., L)``: :math:`y(t_j) = \log|\delta\nu(t_j)|/|\delta\nu(0)|`
      (``LyapunovResult.macro_log_dnu``; :math:`y(0) = 0` is implied at :math:`t = 0`);
    * ``lag`` ``(L,)``: :math:`t_j > 0` [tau], increasing; :math:`T` = ``lag[-1]``
      (pass prefixes ``log_dnu[..., :j], lag[:j]`` for shorter windows);
    * ``align`` :math:`\alpha\in[0, 1)`; at least two points must lie in the fit range.

    Returns ``(growth, offset)``, shape ``(...)``: :math:`\hat\gamma` [1/tau] and
    :math:`\hat a` [dimensionless, log units].  Non-finite ``y`` (``phi' = 0``
    everywhere) give NaN.  Then :math:`y(T)/T` (the FTLE) :math:`\approx\hat\gamma + \hat a/T`.
    """
    y = np.asarray(log_dnu, dtype=np.float64)
    t = np.asarray(lag, dtype=np.float64)
    if t.ndim != 1 or y.shape[-1] != t.size or t.size == 0:
        raise ValueError(f"lag must be 1-d with log_dnu.shape[-1] = {y.shape[-1]} entries")
    if not 0 <= align < 1:
        raise ValueError(f"align must lie in [0, 1), got {align}")
    t = np.concatenate([[0.0], t])
    y = np.concatenate([np.zeros(y.shape[:-1] + (1,)), y], axis=-1)
    sel = t >= align * t[-1] - 1e-9 * t[-1]
    if sel.sum() < 2:
        raise ValueError(f"fewer than two points in the fit range t >= {align} * {t[-1]}")
    ts, ys = t[sel], y[..., sel]
    tc = ts - ts.mean()
    with np.errstate(invalid="ignore"):
        yb = ys.mean(-1)
        g = ((ys - yb[..., None]) * tc).sum(-1) / (tc * tc).sum()
        a = yb - g * ts.mean()
    bad = ~np.isfinite(ys).all(-1)
    g, a = np.where(bad, np.nan, g), np.where(bad, np.nan, a)
    return g, a


# ---------------------------------------------------------------------------
# the network measurement used by the CLI, the pipeline and the learning code
# ---------------------------------------------------------------------------
def lyapunov_run(net: NetworkParams, sim: SimulationParams, lyap: LyapunovParams, ids: Sequence[int],
                 xp: ModuleType | None = None, progress: bool = False, rows=None) -> dict[str, np.ndarray]:
    r"""Micro and macro Lyapunov measurement of realizations ``ids`` (all trials batched).

    Trajectory warm-up ``sim.t_warmup``, frame warm-up ``lyap.t_warmup_tangent``,
    then ``sim.T`` of measurement with re-orthonormalization every
    ``lyap.t_ons`` and ``W = floor(T / t_window)`` FTLE windows.  Initial states
    and noise are those of :class:`balnet.model.simulate.Simulation` (streams
    ``(k, INITIAL, b)`` and ``(k, NOISE)``).

    Returns host arrays (``R = len(ids)``, ``B = sim.trials``, ``k = lyap.k``):

    * ``spectrum`` ``(R, B, k)``, ``lambda_max`` ``(R, B)`` [1/tau];
    * ``ftle_micro``, ``ftle_macro``, ``convergence`` ``(R, B, W)`` [1/tau];
      ``ftle_spectrum`` ``(R, B, k, W)``;
    * ``trace_jacobian_mean`` ``(R, B)`` [1/tau];
    * ``window_end`` ``(W,)`` [tau];
    * ``lambda_max_ci``, ``ftle_macro_ci`` ``(R, B, 2)``: bootstrap interval of the
      window mean (level ``lyap.ci``); ``ftle_macro_mean``/``ftle_macro_std`` ``(R, B)``;
    * ``ftle_macro_<method>`` ``(R, B, W)`` for every method when ``lyap.macro_compare``;
    * ``macro_growth`` ``(R, B, W)`` [1/tau] and ``macro_offset`` ``(R, B, W)`` [1]: the
      offset-free growth rate and the start-direction offset of :func:`macro_growth_rate`
      (``align = lyap.macro_align``), ``macro_log_dnu`` ``(R, B, W, L)`` [1] the
      ``linear_nu`` series they are fitted to and ``macro_lag`` ``(L,)`` [tau] its lags
      (always measured: ``linear_nu`` is added when ``macro_method`` is another one).
    * ``divergent`` ``(R, B)`` bool: trajectories stopped because their state became non-finite or
      its RMS exceeded :data:`DIVERGE` (every exponent of theirs ``nan``; a ``RuntimeWarning``
      names them).

    With ``sim.partition == "rows"`` the network, states and tangent vectors are
    split by rows over the communicator ``rows`` (default: this process alone;
    frames re-orthonormalized by :func:`orthonormalize_rows`); every rank
    returns the same arrays.

    Raises :class:`~balnet.engine.params.ConfigError` for inconsistent parameters.
    """

    check_compatible(net, sim, lyap)
    ids = [int(i) for i in ids]
    xp = xp if xp is not None else get_xp(sim.backend)
    dtype = resolve_dtype(sim.dtype)
    R, B, k = len(ids), sim.trials, lyap.k
    W = sim.n_steps // int(round(lyap.t_window / sim.dt))
    methods = MACRO_METHODS if lyap.macro_compare else tuple(dict.fromkeys((lyap.macro_method, "linear_nu")))
    L = int(round(lyap.t_window / lyap.t_ons))
    if R == 0:
        z = lambda *s: np.zeros((0, B, *s))  # noqa: E731
        out = dict(spectrum=z(k), lambda_max=z(), ftle_micro=z(W), ftle_macro=z(W), ftle_spectrum=z(k, W),
                   convergence=z(W), trace_jacobian_mean=z(), lambda_max_ci=z(2), ftle_macro_ci=z(2),
                   ftle_macro_mean=z(), ftle_macro_std=z(), window_end=np.arange(1, W + 1) * lyap.t_window,
                   macro_growth=z(W), macro_offset=z(W), macro_log_dnu=z(W, L),
                   macro_lag=np.arange(1, L + 1) * lyap.t_ons, divergent=np.zeros((0, B), bool))
        if lyap.macro_compare:
            out.update({f"ftle_macro_{m}": z(W) for m in methods})
        return out
    if sim.partition == "rows":
        rows = rows if rows is not None else SerialComm()
    else:
        rows = None
    f = build_network(net, ids, sim.seed, xp, dtype, I0=sim.I0, rows=rows)
    x0 = initial_states(net, ids, B, sim.seed, sim.init_std, xp, dtype)
    Q0 = random_frames(ids, B, k, net.N, sim.seed, xp, dtype)
    cols = None
    if rows is not None:  # every rank draws the whole state and frame, keeps its rows
        cols = (f.lo, f.hi)
        x0, Q0 = (xp.ascontiguousarray(a[..., f.lo : f.hi]) for a in (x0, Q0))
    noise = None
    if sim.sigma > 0:
        n_total = sim.n_warmup_steps + int(round(lyap.t_warmup_tangent / sim.dt)) + sim.n_steps
        noise = _Noise(sim.sigma, sim.dt, ids, B, net.N, sim.seed, n_total, xp, dtype, cols=cols)
    res = lyapunov_spectrum(
        f, x0, dt=sim.dt, t=sim.T, t_ons=lyap.t_ons, t_warmup=sim.t_warmup, t_warmup_tangent=lyap.t_warmup_tangent,
        t_window=lyap.t_window, solver=get_solver(sim.solver), Q0=Q0, xp=xp, macro=MacroSpec.from_params(net),
        macro_methods=methods, eps=lyap.eps, noise=noise, progress=progress,
    )
    macro = res.macro[lyap.macro_method]
    out = {
        "spectrum": res.spectrum,
        "lambda_max": res.spectrum[..., 0].copy(),
        "ftle_micro": res.ftle[..., 0, :].copy(),
        "ftle_macro": macro,
        "ftle_spectrum": res.ftle,
        "convergence": res.convergence,
        "trace_jacobian_mean": res.trace_mean,
        "window_end": res.window_end,
        "ftle_macro_mean": macro.mean(-1),
        "ftle_macro_std": macro.std(-1, ddof=1) if W > 1 else np.zeros((R, B)),
    }
    lam_ci = np.empty((R, B, 2))
    mac_ci = np.empty((R, B, 2))
    for r, kk in enumerate(ids):
        rng = stream(sim.seed, kk, TANGENT, 1)
        lam_ci[r] = bootstrap_ci(out["ftle_micro"][r], rng, n_boot=lyap.n_boot, level=lyap.ci)
        mac_ci[r] = bootstrap_ci(macro[r], rng, n_boot=lyap.n_boot, level=lyap.ci)
    out["lambda_max_ci"], out["ftle_macro_ci"] = lam_ci, mac_ci
    if lyap.macro_compare:
        out.update({f"ftle_macro_{m}": v for m, v in res.macro.items()})
    out["macro_growth"], out["macro_offset"] = macro_growth_rate(res.macro_log_dnu, res.macro_lag, align=lyap.macro_align)
    out["macro_log_dnu"], out["macro_lag"] = res.macro_log_dnu, res.macro_lag
    div = np.asarray(res.divergent, bool).reshape(R, B)
    if div.any():
        for name, v in out.items():
            if name != "window_end" and np.ndim(v) >= 2 and np.shape(v)[:2] == (R, B):
                v[div] = np.nan
        which = ", ".join(f"realization {ids[r]} trial {b}" for r, b in zip(*np.nonzero(div)))
        warnings.warn(f"lyapunov: trajectory diverged (non-finite state or RMS > {DIVERGE:g}), stopped and "
                      f"marked divergent: {which}", RuntimeWarning, stacklevel=2)
    out["divergent"] = div
    return out
