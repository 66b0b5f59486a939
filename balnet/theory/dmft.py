r"""Mean-field theory beside the measurements: SCS dynamical mean-field theory (DMFT),
the largest Lyapunov exponent from DMFT, and linear-stability predictions per realization.

**1. Stationary DMFT of the SCS network** (``J0 = 0``, :math:`\phi = \tanh`,
:math:`\tau = 1`; Sompolinsky, Crisanti & Sommers, PRL 61, 259 (1988)).  For
:math:`N\to\infty` every unit is a Gaussian process with autocorrelation
:math:`\Delta(\tau) = \langle x_i(t) x_i(t+\tau)\rangle`, which obeys the motion of a
classical particle

.. math::
    \ddot\Delta = -\frac{\partial V}{\partial \Delta},\qquad
    V(\Delta;\Delta_0) = -\frac{\Delta^2}{2}
        + g^2\big[C_\Phi(\Delta;\Delta_0) - C_\Phi(0;\Delta_0)\big],\qquad
    \Phi(x) = \int_0^x\phi = \ln\cosh x,

where, for two centred Gaussians :math:`x_1, x_2` of variance :math:`\Delta_0` and
covariance :math:`\Delta`,

.. math::
    C_F(\Delta;\Delta_0) = \langle F(x_1)F(x_2)\rangle
      = \int\!Dz\,\Big[\int\!Dx\,F\big(\sqrt{\Delta_0-|\Delta|}\,x + \sqrt{|\Delta|}\,z\big)\Big]^2,
    \qquad Dz = \frac{e^{-z^2/2}}{\sqrt{2\pi}}dz .

Price's theorem, :math:`\partial_\Delta C_F = C_{F'}`, turns the force into
:math:`\ddot\Delta = \Delta - g^2 C_\phi(\Delta;\Delta_0)`.  The self-consistent
solution is the separatrix that starts at rest at :math:`\Delta(0) = \Delta_0` and
reaches :math:`\Delta\to 0` as :math:`\tau\to\infty`; energy conservation fixes
:math:`\Delta_0` by :math:`V(\Delta_0;\Delta_0) = V(0;\Delta_0)`, i.e.

.. math::
    \frac{\Delta_0^2}{2} = g^2\big(\langle\Phi^2\rangle_{\Delta_0} - \langle\Phi\rangle_{\Delta_0}^2\big).

Near :math:`\Delta = 0`, :math:`C_\phi \approx \Delta\,\langle\phi'\rangle^2`, so the
tail decays as :math:`\Delta \propto e^{-\kappa\tau}` with the *asymptotic rate*
:math:`\kappa = \sqrt{1 - g^2\langle\phi'\rangle_{\Delta_0}^2}`.  We also report the
*half-decay time* :math:`\tau_{1/2}`, :math:`\Delta(\tau_{1/2}) = \Delta_0/2`.  For
:math:`g \le 1` the only solution is :math:`\Delta \equiv 0`.

**2. The largest Lyapunov exponent from DMFT** (Schuecker, Goedeke & Helias, PRX 8,
041029 (2018); Crisanti & Sompolinsky, PRE 98, 062120 (2018)).  Two replicas
:math:`x, x'` that share :math:`J` have a distance
:math:`d(t,s) = \langle (x_i(t)-x'_i(t))(x_i(s)-x'_i(s))\rangle`; linearized about
identical replicas, :math:`(\partial_t+1)(\partial_s+1)\,d = g^2 C_{\phi'}(\Delta(t-s))\,d`.
With :math:`T = t+s`, :math:`\tau = t-s` one has
:math:`(\partial_t+1)(\partial_s+1) = (\partial_T+1)^2 - \partial_\tau^2`, and the
ansatz :math:`d = e^{\lambda T}\psi(\tau)` gives the Schrödinger problem

.. math::
    H\psi = \big[-\partial_\tau^2 + W(\tau)\big]\psi = E\,\psi,\qquad
    W(\tau) = 1 - g^2 C_{\phi'}\big(\Delta(\tau);\Delta_0\big),\qquad
    E = 1 - (1+\lambda)^2 .

The equal-time squared distance :math:`d(t,t) \propto e^{2\lambda t}` grows at twice the
exponent of the distance itself, so the largest Lyapunov exponent belongs to the ground
state :math:`E_0`:

.. math::
    \lambda_{\max} = -1 + \sqrt{1 - E_0}\qquad[1/\tau].

*Zero mode*: differentiating the equation of motion,
:math:`\dddot\Delta = (1 - g^2 C_{\phi'}(\Delta))\dot\Delta`, i.e.
:math:`H\dot\Delta = 0`: the odd function :math:`\dot\Delta(\tau)` (one node) is an exact
eigenvector of :math:`H` with eigenvalue 0 (the first excited state, so :math:`E_0 < 0` and
:math:`\lambda_{\max} > 0` in the chaotic phase).  :func:`dmft_lambda_max` reports the
discrete first excited eigenvalue and its overlap with :math:`\dot\Delta` as a built-in
check.  Near the onset :math:`\lambda_{\max} \approx (g-1)^2/2`.

*Numerics*: Gaussian averages use the trapezoid ("sinc") rule on equispaced nodes
:math:`z_i = i h`, :math:`|z_i| \le z_{\max}`, weights :math:`\propto e^{-z_i^2/2}`
(:func:`gauss_rule`), which converges geometrically, error
:math:`\sim e^{-2\pi d/h}` for an integrand analytic in a strip of half-width
:math:`d` (Trefethen & Weideman, SIAM Rev. 56, 385 (2014)).  For
:math:`\tanh(\sqrt{\Delta_0}z)` the nearest pole is at :math:`d = \pi/(2\sqrt{\Delta_0})`
(0.5 at :math:`\Delta_0 = 10`), so :math:`h` shrinks as :math:`\Delta_0` grows (the
default :math:`h = 0.1\sqrt{10/\max(\Delta_0, 10)}` agrees with nested adaptive
``scipy.integrate.quad`` to :math:`< 10^{-10}` at :math:`\Delta_0 = 10` in the tests, where
Gauss–Hermite is off by up to :math:`3\times10^{-2}` with 50 nodes and :math:`4\times10^{-3}`
with 101 nodes, at :math:`\Delta = \Delta_0`).  :math:`C_\phi` and :math:`C_{\phi'}` are tabulated on
``n_table`` values of :math:`\Delta\in[0,\Delta_0]` (cubic splines), the separatrix is
integrated with DOP853 (``rtol`` 1e-11) until :math:`\Delta < 10^{-8}\Delta_0` or the
numerical solution turns back, and continued by its exponential tail; :math:`H` is a
second-order finite-difference operator on :math:`[-L, L]`, :math:`L \ge 30/\kappa`, step
``dtau`` (``dtau`` :math:`\cdot\, 0.1/\kappa` when :math:`\kappa < 0.1`, near the onset,
where every time scale grows like :math:`1/\kappa`).

**3. Linear stability of the balanced network** (``J0 > 0``, tanh, ``I0 = 0``): at the
trivial fixed point :math:`x = 0` the Jacobian is :math:`-1 + J` (:math:`\phi'(0) = 1`).
Per realization, the eigenvalues of :math:`J` (bulk: disk of radius
:math:`\rho = \sqrt{\langle g_j^2\rangle}`, Rajan & Abbott, PRL 97, 188104 (2006);
outliers beyond it) predict the state (:func:`predict_state`): bulk beyond 1
(:math:`\rho > 1`) :math:`\to` chaos; otherwise with :math:`\mu` the eigenvalue of largest
real part: :math:`\mathrm{Re}\,\mu < 1 \to` decay; real :math:`\mu > 1 \to` non-trivial
fixed point; complex pair with :math:`\mathrm{Re}\,\mu > 1 \to` oscillation with the
predicted period :math:`2\pi/|\mathrm{Im}\,\mu|` (the period at the Hopf onset).  These
are *linear* predictions; the tests and the confusion table of :func:`stability_table`
compare them, realization by realization, with the class the simulation found
(:func:`balnet.phases.diagram.classify_run`).

Everything here runs on the host with numpy/scipy (tables of a few hundred values, tridiagonal
eigenproblems, one :math:`N\times N` eigendecomposition per realization), whatever the backend
of the simulations.

References: H. Sompolinsky, A. Crisanti & H.-J. Sommers, PRL 61, 259 (1988);
J. Schuecker, S. Goedeke & M. Helias, PRX 8, 041029 (2018); A. Crisanti &
H. Sompolinsky, PRE 98, 062120 (2018); R. Engelken, F. Wolf & L. F. Abbott, PRR 5,
043044 (2023), arXiv:2006.02427; K. Rajan & L. F. Abbott, PRL 97, 188104 (2006).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..engine.figures import _plt, save
from ..engine.io import H5Writer, read, read_attrs
from ..engine.params import ConfigError, _f
from ..engine.progress import progress_bar
from ..engine.sweep import flat_params

__all__ = [
    "MeanFieldParams",
    "DMFTSolution",
    "gauss_rule",
    "gaussian_mean",
    "correlation",
    "energy_residual",
    "solve_delta0",
    "dmft_autocorrelation",
    "dmft_lambda_max",
    "dmft",
    "dmft_curves",
    "write_dmft",
    "plot_dmft",
    "simulated_autocorrelation",
    "measured_scs",
]


@dataclass(frozen=True)
class MeanFieldParams:
    """Numerical settings of the mean-field solver (section ``meanfield``)."""

    quad_step: float = _f(0.0, "node spacing h of the Gaussian trapezoid rule in standard deviations "
                                "(0: automatic, 0.1 sqrt(10 / max(Delta0, 10)))")
    quad_range: float = _f(9.0, "half-width of the Gaussian quadrature range in standard deviations")
    n_table: int = _f(601, "number of Delta values tabulating C_phi and C_phi' on [0, Delta0]")
    tau_max: float = _f(40.0, "half-length L of the tau grid (enlarged to 30 decay times 1/kappa)", "tau")
    dtau: float = _f(0.01, "tau step of the Schroedinger problem and of the Delta(tau) curve", "tau")
    margin: float = _f(0.05, "relative margin beyond the bulk radius for an eigenvalue to count as an outlier")

    def validate(self) -> None:
        if not 0.0 <= self.quad_step < 1.0:
            raise ConfigError(f"quad_step must lie in [0, 1), got {self.quad_step}")
        if self.quad_range < 5.0:
            raise ConfigError(f"quad_range must be >= 5, got {self.quad_range}")
        if self.n_table < 50:
            raise ConfigError(f"n_table must be >= 50, got {self.n_table}")
        if self.tau_max <= 0 or self.dtau <= 0 or self.dtau > 0.1 * self.tau_max:
            raise ConfigError(f"need tau_max > 0 and 0 < dtau <= tau_max/10, got {self.tau_max}, {self.dtau}")
        if self.margin < 0:
            raise ConfigError(f"margin must be >= 0, got {self.margin}")


# -- Gaussian averages ---------------------------------------------------------------------

def _phi(x):
    return np.tanh(x)


def _dphi(x):
    return 1.0 / np.cosh(x) ** 2


def _Phi(x):  # ln cosh x, overflow-free
    ax = np.abs(x)
    return ax + np.log1p(np.exp(-2.0 * ax)) - np.log(2.0)


FUNCS = {"Phi": _Phi, "phi": _phi, "dphi": _dphi}


def gauss_rule(step: float = 0.1, half_width: float = 9.0) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes and weights of :math:`\int Dz\, f(z) \approx \sum_i w_i f(z_i)` (trapezoid rule).

    Equispaced :math:`z_i = i\,h`, :math:`|z_i| \le z_{\max}` (``half_width``), weights
    :math:`w_i \propto e^{-z_i^2/2}` normalized to sum 1 (the normalization changes them by
    :math:`< 10^{-15}` for :math:`h \le 1`).  Returns ``(z, w)``, shape ``(n,)`` each.
    """
    n = int(np.floor(half_width / step))
    z = step * np.arange(-n, n + 1, dtype=np.float64)
    w = np.exp(-0.5 * z * z)
    return z, w / w.sum()


def _auto_step(D0: float, p: MeanFieldParams) -> float:
    return p.quad_step if p.quad_step > 0 else 0.1 * np.sqrt(10.0 / max(D0, 10.0))


def gaussian_mean(F, D0: float, rule) -> float:
    r""":math:`\langle F(x)\rangle`, :math:`x \sim \mathcal N(0, \Delta_0)`; ``F`` a callable or a name in ``FUNCS``."""
    F = FUNCS.get(F, F) if isinstance(F, str) else F
    z, w = rule
    return float(w @ F(np.sqrt(D0) * z))


def correlation(F, D, D0: float, rule, chunk: int = 32) -> np.ndarray:
    r""":math:`C_F(\Delta;\Delta_0)` (module docstring) for an array ``D`` of covariances, ``|D| <= D0``.

    Nested rule: :math:`\sum_j w_j [\sum_i w_i F(\sqrt{\Delta_0-|\Delta|} z_i +
    \sqrt{|\Delta|} z_j)]^2`; for :math:`\Delta < 0` the outer sign flips one argument
    (:math:`C_F(-\Delta) = C_F(\Delta)` for even or odd ``F``).  Shape of ``D``; cost
    :math:`O(n^2)` per value, ``chunk`` values at a time.  ``F`` may be a tuple of
    callables/names: then a tuple of arrays, one per function, from one pass (``"phi"``
    and ``"dphi"`` share one ``tanh`` evaluation).
    """
    many = isinstance(F, tuple)
    names = F if many else (F,)
    z, w = rule
    # the inner average at -z_j is +-(the one at z_j) for odd/even F: its square is the same,
    # so only the outer nodes z_j >= 0 are needed (weights doubled for z_j > 0)
    zo = z[z >= 0]
    wo = np.where(zo > 0, 2.0, 1.0) * w[z >= 0]
    D = np.asarray(D, dtype=np.float64)
    flat = np.abs(D).ravel()
    outs = [np.empty(flat.shape) for _ in names]
    fused = names == ("phi", "dphi")
    funcs = [FUNCS.get(f, f) if isinstance(f, str) else f for f in names]
    for s in range(0, flat.size, chunk):
        d = flat[s : s + chunk]
        a = np.sqrt(np.clip(D0 - d, 0.0, None))[:, None, None]
        b = np.sqrt(np.clip(d, 0.0, None))[:, None, None]
        arg = a * z[None, None, :] + b * zo[None, :, None]
        if fused:
            t = np.tanh(arg)
            vals = (t, 1.0 - t * t)
        else:
            vals = [f(arg) for f in funcs]
        for o, v in zip(outs, vals):
            inner = v @ w  # (chunk, n_outer)
            o[s : s + chunk] = (inner * inner) @ wo
    outs = tuple(o.reshape(D.shape) for o in outs)
    return outs if many else outs[0]


def energy_residual(g: float, D0: float, rule) -> float:
    r""":math:`V(\Delta_0;\Delta_0) - V(0;\Delta_0)
    = -\Delta_0^2/2 + g^2(\langle\Phi^2\rangle - \langle\Phi\rangle^2)`."""
    m1 = gaussian_mean(_Phi, D0, rule)
    m2 = gaussian_mean(lambda x: _Phi(x) ** 2, D0, rule)
    return -0.5 * D0 * D0 + g * g * (m2 - m1 * m1)


def solve_delta0(g: float, params: MeanFieldParams | None = None) -> float:
    r"""Variance :math:`\Delta_0` of the SCS DMFT solution (0 for ``g <= 1``).

    Root of :func:`energy_residual` (``brentq``, ``xtol`` 1e-15 relative) bracketed by a
    logarithmic scan from :math:`10^{-6}` up; the quadrature step follows :math:`\Delta_0`
    (:func:`_auto_step`), so the scan uses the finest step of the range.
    """
    from scipy.optimize import brentq

    p = params or MeanFieldParams()
    if g <= 1.0:
        return 0.0
    grid = np.geomspace(1e-6, 1e3, 181)
    step_max = _auto_step(grid[-1], p)
    rule = gauss_rule(step_max, p.quad_range)
    r = np.array([energy_residual(g, d, rule) for d in grid])
    # residual ~ (g^2 - 1) D^2 / 2 > 0 near 0, < 0 at large D (variance of ln cosh ~ 0.36 D)
    idx = np.nonzero((r[:-1] > 0) & (r[1:] <= 0))[0]
    if idx.size == 0:
        raise ConfigError(f"no DMFT solution found for g={g}")
    i = idx[0]
    D0 = brentq(lambda d: energy_residual(g, d, rule), grid[i], grid[i + 1], xtol=1e-15, rtol=1e-15, maxiter=200)
    # refine with the step appropriate for D0
    rule = gauss_rule(_auto_step(D0, p), p.quad_range)
    lo, hi = D0 * (1 - 1e-3), D0 * (1 + 1e-3)
    return float(brentq(lambda d: energy_residual(g, d, rule), lo, hi, xtol=1e-15, rtol=1e-15, maxiter=200))


@dataclass
class DMFTSolution:
    """Result of :func:`dmft` for one ``g`` (all times in tau, rates in 1/tau)."""

    g: float
    delta0: float                 #: variance Delta(0)
    tau: np.ndarray               #: tau grid [0, L], step dtau (coarser near the onset)
    delta: np.ndarray             #: Delta(tau) on ``tau``
    ddelta: np.ndarray            #: dDelta/dtau on ``tau``
    kappa: float                  #: asymptotic decay rate of Delta
    tau_half: float               #: Delta(tau_half) = Delta0/2
    lambda_max: float = np.nan    #: -1 + sqrt(1 - E0)
    E0: float = np.nan            #: ground-state energy of H
    E1: float = np.nan            #: first excited eigenvalue (zero mode: ~0)
    zero_mode_overlap: float = np.nan  #: |<psi_1, dDelta>| / (|psi_1| |dDelta|)
    energy_residual: float = np.nan    #: V(Delta0) - V(0) at the solution
    energy_drift: float = np.nan       #: max |Delta'^2/2 + V(Delta)| along the integrated separatrix
    extras: dict = dataclasses.field(default_factory=dict)


def dmft_autocorrelation(g: float, params: MeanFieldParams | None = None) -> DMFTSolution:
    r"""Self-consistent :math:`\Delta(\tau)` of the SCS network (module docstring, part 1).

    Returns a :class:`DMFTSolution` without the Lyapunov fields; ``extras`` hold the
    spline tables (``"C_phi"``, ``"C_dphi"``), the quadrature rule and
    the grid length actually used.
    """
    from scipy import integrate, interpolate
    from scipy.optimize import brentq

    p = params or MeanFieldParams()
    if g <= 1.0:
        tau = np.arange(0.0, p.tau_max + p.dtau / 2, p.dtau)
        z = np.zeros_like(tau)
        return DMFTSolution(g=g, delta0=0.0, tau=tau, delta=z, ddelta=z.copy(), kappa=np.nan, tau_half=np.nan,
                            energy_residual=0.0, energy_drift=0.0)
    D0 = solve_delta0(g, p)
    rule = gauss_rule(_auto_step(D0, p), p.quad_range)
    Dt = np.linspace(0.0, D0, p.n_table)
    c_phi, c_dphi = correlation(("phi", "dphi"), Dt, D0, rule)
    tabs = {"phi": interpolate.CubicSpline(Dt, c_phi), "dphi": interpolate.CubicSpline(Dt, c_dphi)}
    Cphi = tabs["phi"]
    kappa = float(np.sqrt(1.0 - g * g * gaussian_mean(_dphi, D0, rule) ** 2))
    stop = 1e-8 * D0

    def small(t, y):
        return y[0] - stop

    def turn(t, y):  # numerical undershoot of the separatrix: the particle turns back
        return y[1]

    small.terminal = turn.terminal = True
    turn.direction = 1
    L = max(p.tau_max, 30.0 / kappa)
    step = p.dtau * max(1.0, 0.1 / kappa)  # near the onset every scale grows like 1/kappa
    sol = integrate.solve_ivp(lambda t, y: [y[1], y[0] - g * g * Cphi(y[0])], (0.0, L), [D0, 0.0],
                              events=(small, turn), dense_output=True, rtol=1e-11, atol=1e-14 * D0, method="DOP853")
    ts = float(sol.t[-1])
    tau = np.arange(0.0, L + step / 2, step)
    inside = tau < ts
    y = sol.sol(np.minimum(tau, ts))
    tail = sol.y[0, -1] * np.exp(-kappa * (tau - ts))
    delta = np.where(inside, y[0], tail)
    ddelta = np.where(inside, y[1], -kappa * tail)
    tau_half = float(brentq(lambda t: sol.sol(t)[0] - 0.5 * D0, 0.0, ts)) if sol.y[0, -1] < 0.5 * D0 else np.nan
    # energy along the solution: E = Delta'^2/2 + V(Delta), V(Delta) = -Delta^2/2 + g^2 (C_Phi(Delta) - C_Phi(0))
    tt = np.linspace(0.0, ts, 41)
    yy = sol.sol(tt)
    V = -0.5 * yy[0] ** 2 + g * g * (correlation(_Phi, yy[0], D0, rule) - correlation(_Phi, 0.0, D0, rule))
    drift = float(np.max(np.abs(0.5 * yy[1] ** 2 + V)))
    return DMFTSolution(g=g, delta0=D0, tau=tau, delta=delta, ddelta=ddelta, kappa=kappa, tau_half=tau_half,
                        energy_residual=float(energy_residual(g, D0, rule)), energy_drift=drift,
                        extras=dict(C_phi=tabs["phi"], C_dphi=tabs["dphi"], rule=rule, L=L,
                                    t_separatrix=ts))


def dmft_lambda_max(sol: DMFTSolution) -> DMFTSolution:
    r"""Fill the Lyapunov fields of ``sol`` (module docstring, part 2); returns ``sol``.

    :math:`H = -\partial_\tau^2 + 1 - g^2 C_{\phi'}(\Delta(|\tau|))` on :math:`[-L, L]`
    (Dirichlet ends, step ``dtau``), lowest two eigenvalues by
    ``scipy.linalg.eigh_tridiagonal``: :math:`E_0 \to \lambda_{\max} = -1 + \sqrt{1-E_0}`,
    :math:`E_1` should vanish (zero mode :math:`\dot\Delta`, discretization error
    :math:`O(\mathrm{dtau}^2)`).  For ``g <= 1`` :math:`\Delta \equiv 0`, :math:`H` has no
    bound state and :math:`\lambda_{\max} = g - 1` (edge of the spectrum of
    :math:`-1 + J`, circular law).
    """
    from scipy.linalg import eigh_tridiagonal

    g = sol.g
    if sol.delta0 <= 0.0:
        sol.lambda_max = g - 1.0
        return sol
    h = sol.tau[1] - sol.tau[0]
    Dg = np.concatenate([sol.delta[:0:-1], sol.delta])
    dD = np.concatenate([-sol.ddelta[:0:-1], sol.ddelta])
    W = 1.0 - g * g * sol.extras["C_dphi"](np.clip(Dg, 0.0, sol.delta0))
    n = W.size
    E, V = eigh_tridiagonal(2.0 / h**2 + W, -np.ones(n - 1) / h**2, select="i", select_range=(0, 1))
    sol.E0, sol.E1 = float(E[0]), float(E[1])
    sol.lambda_max = float(-1.0 + np.sqrt(1.0 - sol.E0))
    sol.zero_mode_overlap = float(abs(V[:, 1] @ dD) / (np.linalg.norm(V[:, 1]) * np.linalg.norm(dD)))
    return sol


def dmft(g: float, params: MeanFieldParams | None = None) -> DMFTSolution:
    """:func:`dmft_autocorrelation` followed by :func:`dmft_lambda_max`."""
    return dmft_lambda_max(dmft_autocorrelation(g, params))


# -- curves over g, files and figures ---------------------------------------------------------

#: scalar results of :func:`dmft_curves`: name -> (units, long name)
DMFT_SCALARS = {
    "delta0": ("1", "DMFT variance Delta(0) of x_i"),
    "lambda_max": ("1/tau", "DMFT largest Lyapunov exponent -1 + sqrt(1 - E0)"),
    "kappa": ("1/tau", "asymptotic decay rate of Delta(tau), sqrt(1 - g^2 <phi'>^2)"),
    "tau_half": ("tau", "half-decay time: Delta(tau_half) = Delta0 / 2"),
    "E0": ("1/tau^2", "ground-state energy of the Schroedinger operator H"),
    "E1": ("1/tau^2", "first excited eigenvalue of H (zero mode dDelta/dtau: ~0)"),
    "zero_mode_overlap": ("1", "|<psi_1, dDelta/dtau>| / norms (zero-mode check: ~1)"),
    "energy_residual": ("1", "V(Delta0; Delta0) - V(0; Delta0) at the solution"),
}


def dmft_curves(gs: Sequence[float], params: MeanFieldParams | None = None, *, tau_curve: float | None = None,
                progress: bool = False) -> dict:
    r"""DMFT over a list of ``g``: every scalar of :data:`DMFT_SCALARS` ``(n_g,)`` and
    :math:`\Delta(\tau)` on the common grid ``tau`` :math:`\in [0,` ``tau_curve`` :math:`]`
    (default ``tau_max``), shape ``(n_g, n_tau)``.  ``g <= 1`` rows: :math:`\Delta_0 = 0`,
    :math:`\lambda_{\max} = g - 1`, other scalars ``nan``.
    """

    p = params or MeanFieldParams()
    gs = np.asarray(sorted(float(g) for g in gs))
    tc = p.tau_max if tau_curve is None else float(tau_curve)
    tau = np.arange(0.0, tc + p.dtau / 2, p.dtau)
    out = {k: np.full(gs.size, np.nan) for k in DMFT_SCALARS}
    delta = np.zeros((gs.size, tau.size))
    bar = progress_bar(gs.size, progress, "DMFT", unit="g")
    for i in range(gs.size):
        s = dmft(float(gs[i]), p)
        if bar is not None:
            bar.update(1)
        for k in DMFT_SCALARS:
            out[k][i] = getattr(s, k)
        if s.delta0 > 0:
            delta[i] = np.interp(tau, s.tau, s.delta, right=0.0)
    if bar is not None:
        bar.close()
    out.update(g=gs, tau=tau, delta=delta)
    return out


def write_dmft(curves: dict, path, params: MeanFieldParams | None = None, *, command: str = "balnet meanfield dmft",
               measured: dict | None = None) -> None:
    """Write :func:`dmft_curves` (and optional measurements, :func:`measured_scs`) to HDF5
    (``kind="meanfield_dmft"``)."""

    p = params or MeanFieldParams()
    with H5Writer(path, kind="meanfield_dmft", params={"meanfield": p}, command=command) as w:
        w.coord("g", curves["g"], units="1", long_name="random-coupling scale g (SCS network, J0 = 0, tanh)")
        w.coord("tau", curves["tau"], units="tau", long_name="time lag")
        for k, (u, ln) in DMFT_SCALARS.items():
            w.variable(k, curves[k], dims=("g",), units=u, long_name=ln)
        w.variable("delta", curves["delta"], dims=("g", "tau"), units="1", long_name="DMFT autocorrelation Delta(tau)")
        if measured:
            w.coord("g_sim", measured["g"], units="1", long_name="g of the simulation files (J0 = 0)")
            w.coord("lag", measured["lag"], units="tau", long_name="time lag of the measured autocorrelation")
            w.variable("delta_sim", measured["delta"], dims=("g_sim", "lag"), units="1",
                       long_name="measured <x_i(t) x_i(t+tau)> (recorded neurons, realizations, trials)")
            w.variable("delta0_sim", measured["delta0"], dims=("g_sim",), units="1", long_name="measured <x_i^2>")
            w.variable("delta0_sim_sem", measured["delta0_sem"], dims=("g_sim",), units="1",
                       long_name="standard error of delta0_sim over realizations x trials")
            w.variable("N_sim", measured["N"], dims=("g_sim",), units="1", long_name="network size of the simulation")
            if "T" in measured:
                w.variable("T_sim", measured["T"], dims=("g_sim",), units="tau", long_name="recorded duration of the simulation")
            if "lambda_max" in measured:
                w.variable("lambda_max_sim", measured["lambda_max"], dims=("g_sim",), units="1/tau",
                           long_name="measured lambda_max, mean over realizations x trials (nan: no Lyapunov file)")
                w.variable("lambda_max_sim_sem", measured["lambda_max_sem"], dims=("g_sim",), units="1/tau",
                           long_name="standard error of lambda_max_sim")


def simulated_autocorrelation(x: np.ndarray, dt: float, max_lag: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Measured :math:`\Delta(\tau) = \langle x_i(t)\,x_i(t+\tau)\rangle_{t,i}` of recorded activity.

    ``x`` has shape ``(R, B, T, n)`` (as ``x`` in a simulation file, sampled every
    ``dt``); no mean is removed (the SCS DMFT has :math:`\langle x\rangle = 0`).  Returns
    ``(lag, delta, delta0_per_trajectory)``: lags ``(L,)`` [tau], :math:`\Delta` averaged
    over realizations, trials and neurons ``(L,)`` and :math:`\langle x_i^2\rangle_{t,i}`
    per trajectory ``(R, B)``.  FFT-based, unbiased (divides by the overlap length).
    """
    x = np.asarray(x, dtype=np.float64)
    R, B, T, n = x.shape
    nl = min(T - 1, int(round(max_lag / dt))) + 1
    nfft = 1 << int(np.ceil(np.log2(2 * T)))
    X = np.fft.rfft(x, n=nfft, axis=2)
    ac = np.fft.irfft(X * np.conj(X), n=nfft, axis=2)[:, :, :nl, :]
    ac /= (T - np.arange(nl))[None, None, :, None]
    return np.arange(nl) * dt, ac.mean(axis=(0, 1, 3)), np.mean(x * x, axis=(2, 3))


def measured_scs(run_paths: Sequence = (), lyapunov_paths: Sequence = (), max_lag: float = 20.0) -> dict:
    r"""Measurements of ``J0 = 0`` tanh simulations to set beside the DMFT.

    For each simulation file: :math:`\Delta_0 = \langle x_i^2\rangle` (mean and standard
    error over realizations x trials) and :math:`\Delta(\tau)` (:func:`simulated_autocorrelation`);
    Lyapunov files of the same ``g`` and ``N`` add ``lambda_max`` (mean, standard error).
    Files with ``J0 != 0``, another gain or input ``I0 != 0`` are skipped.  Returns a dict
    over the sorted ``g`` values (one file per ``g``), ``{}`` when none qualifies.
    """

    rows = []
    for path in run_paths:
        pr = flat_params(read_attrs(path, kind="simulation"))
        if pr.get("J0", 1.0) != 0.0 or pr.get("gain", "tanh") != "tanh" or pr.get("I0", 0.0) != 0.0:
            continue
        a, _ = read(path, ["x", "time"])
        if a["x"].shape[-1] == 0 or a["x"].shape[2] < 4:
            continue
        dt = float(a["time"][1] - a["time"][0])
        lag, d, d0 = simulated_autocorrelation(a["x"], dt, max_lag)
        rows.append((float(pr["g"]), int(pr["N"]), lag, d, d0, float(pr.get("T", np.nan))))
    lam = {}
    for path in lyapunov_paths:
        pr = flat_params(read_attrs(path, kind="lyapunov"))
        if pr.get("J0", 1.0) != 0.0 or pr.get("gain", "tanh") != "tanh":
            continue
        a, _ = read(path, ["lambda_max"])
        v = np.asarray(a["lambda_max"], float).ravel()
        v = v[np.isfinite(v)]
        if v.size:
            lam[(float(pr["g"]), int(pr["N"]))] = (v.mean(), v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else np.nan)
    if not rows:
        return {}
    rows.sort(key=lambda r: r[0])
    if len({r[0] for r in rows}) != len(rows):
        raise ConfigError("several J0 = 0 simulation files share one g: pass one file per g")
    nl = min(r[2].size for r in rows)
    out = dict(g=np.array([r[0] for r in rows]), N=np.array([r[1] for r in rows]), T=np.array([r[5] for r in rows]),
               lag=rows[0][2][:nl],
               delta=np.stack([r[3][:nl] for r in rows]),
               delta0=np.array([r[4].mean() for r in rows]),
               delta0_sem=np.array([r[4].std(ddof=1) / np.sqrt(r[4].size) if r[4].size > 1 else np.nan for r in rows]))
    if lam:
        out["lambda_max"] = np.array([lam.get((r[0], r[1]), (np.nan, np.nan))[0] for r in rows])
        out["lambda_max_sem"] = np.array([lam.get((r[0], r[1]), (np.nan, np.nan))[1] for r in rows])
    return out


def plot_dmft(h5, out) -> None:
    r"""Figure of a ``kind="meanfield_dmft"`` file: :math:`\lambda_{\max}(g)` (with the onset
    law :math:`(g-1)^2/2`), :math:`\Delta_0(g)` and :math:`\Delta(\tau)/\Delta_0`; measured
    points (error bars: standard errors) and measured :math:`\Delta(\tau)` (dashed) when the
    file holds them.  The legend gives the simulations' ``N`` and ``T`` and the expected
    finite-size direction: finite networks sit below the ``N -> inf`` :math:`\lambda_{\max}`
    (more realizations at fixed points and limit cycles), and a time-average over a finite ``T``
    biases :math:`\Delta(\tau)` downward (it can dip below 0) by about
    :math:`2\Delta_0\tau_c/T`."""

    plt = _plt()
    a, _ = read(h5)
    g = a["g"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].plot(g, a["lambda_max"], "k-", label="DMFT")
    gg = g[(g >= 1) & (g <= 1.6)]
    axes[0].plot(gg, 0.5 * (gg - 1) ** 2, ":", color="0.4", label=r"$(g-1)^2/2$")
    axes[1].plot(g, a["delta0"], "k-", label="DMFT")
    sim = "g_sim" in a
    if sim:
        Ns = sorted({int(n) for n in np.ravel(a.get("N_sim", []))})
        Ts = sorted({float(t) for t in np.ravel(a.get("T_sim", [])) if np.isfinite(t)})
        nt = (f"N = {', '.join(map(str, Ns))}" if Ns else "") + (f", T = {', '.join(f'{t:g}' for t in Ts)}" if Ts else "")
        if "lambda_max_sim" in a:
            axes[0].errorbar(a["g_sim"], a["lambda_max_sim"], yerr=a["lambda_max_sim_sem"], fmt="o", color="C3",
                             capsize=3, label=f"simulation ({nt})\nfinite N: expected below DMFT")
        axes[1].errorbar(a["g_sim"], a["delta0_sim"], yerr=a["delta0_sim_sem"], fmt="o", color="C3", capsize=3,
                         label=f"simulation ({nt})")
    cmap = plt.get_cmap("viridis")
    show = [i for i in range(g.size) if a["delta0"][i] > 0]
    if sim:  # the g values that were simulated, else a few spread over the curve
        show = [int(np.argmin(np.abs(g - gs))) for gs in a["g_sim"]]
        show = [i for i in dict.fromkeys(show) if a["delta0"][i] > 0]
    elif len(show) > 5:
        show = [show[j] for j in np.linspace(0, len(show) - 1, 5).round().astype(int)]
    for j, i in enumerate(show):
        col = cmap(j / max(1, len(show) - 1))
        axes[2].plot(a["tau"], a["delta"][i] / a["delta0"][i], color=col, label=f"g={g[i]:.3g}")
        if sim:
            k = int(np.argmin(np.abs(a["g_sim"] - g[i])))
            if a["delta0_sim"][k] > 0:
                axes[2].plot(a["lag"], a["delta_sim"][k] / a["delta_sim"][k][0], "--", color=col)
    axes[0].axhline(0, color="0.5", lw=0.8)
    axes[0].set_ylabel(r"$\lambda_{\max}$ [$1/\tau$]")
    axes[1].set_ylabel(r"$\Delta_0 = \langle x_i^2\rangle$")
    axes[2].set_ylabel(r"$\Delta(\tau)/\Delta_0$ (dashed: simulation)")
    if sim:
        axes[2].set_title(r"dashed: simulation over finite $T$, biased low by $\approx 2\tau_c/T$ (may dip below 0)",
                          fontsize=8)
    axes[2].set_xlabel(r"$\tau$")
    axes[2].set_xlim(0, min(float(a["tau"][-1]), 20.0))
    for ax in axes[:2]:
        ax.set_xlabel("g")
        ax.legend(fontsize=8, frameon=False)
    axes[2].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    save(fig, out)


# -- linear stability of the balanced network at x = 0 ------------------------------------------

