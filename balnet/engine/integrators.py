r"""Fixed-step explicit integrators as small objects with ``order`` and ``step``.

``step(f, t, y, dt)`` is pure: it returns :math:`y(t+dt)` and leaves ``y``
untouched; ``f(t, y)`` is any vector field (numpy or cupy arrays).

* :class:`Euler`: :math:`y_{n+1} = y_n + h f(t_n, y_n)`, global error :math:`O(h)`.
* :class:`RK4`: classical fourth-order Runge–Kutta, global error :math:`O(h^4)`.

Each solver also builds an *in-place stepper* (``solver.stepper(f, y)``) for
the hot loop: it owns preallocated work buffers (Euler: ``k``; RK4:
``k1..k4`` and the stage state), advances ``y`` in place and allocates nothing
per step.  It performs the same floating-point operations in the same order as
the pure ``step``, so both give bit-identical results on numpy (on CuPy the
elementwise work is fused into single kernels that round the same way).  The
vector field may provide the in-place protocol of
:class:`balnet.model.dynamics.RateNetwork` (``rhs_into``, optionally ``stage_into``);
any other callable ``f(t, y)`` is wrapped (correct, but it allocates).

Additive white noise :math:`\sigma\,dW` is added by the simulator after the
deterministic step (Euler–Maruyama splitting): with noise the scheme has strong
order 1/2 whatever the solver (exact order 1 for additive noise with Euler).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .backend import array_namespace

__all__ = ["Euler", "RK4", "EulerStepper", "RK4Stepper", "get_solver", "integrate", "Solution", "SOLVERS"]


class _CallInto:
    """Adapter giving any ``f(t, y)`` the in-place protocol (allocates per call)."""

    fused = None

    def __init__(self, f: Callable):
        self.f = f

    def rhs_into(self, t, x, out, r, *, phi_ready: bool = False):
        out[...] = self.f(t, x)
        return out


def _inplace(f):
    return f if hasattr(f, "rhs_into") else _CallInto(f)


def _generic_stage(y, a: float, k, x, r) -> bool:
    """``x = y + a k`` for vector fields without ``stage_into``; ``r`` is not filled."""
    xp = array_namespace(y)
    xp.multiply(k, a, out=x)
    x += y
    return False


def _stage_function(f):
    """``stage(y, a, k, x, r) -> phi_ready``: the field's fused ``stage_into`` when it has one."""
    if hasattr(f, "stage_into"):
        stage_into = f.stage_into

        def stage(y, a, k, x, r):
            stage_into(y, a, k, x, r)
            return True

        return stage
    return _generic_stage


def _self_check(stepper, f, y) -> None:
    """Guard for fused CuPy kernels: one step of one trial must match the pure step.

    On any error or a mismatch beyond float32/float64 rounding the network's
    fusion is disabled (ufunc path) and a warning is issued.  Skipped for
    kernels with ``needs_check = False`` (the threaded numpy ones).
    """
    fk = getattr(f, "fused", None)
    if fk is None or not getattr(fk, "needs_check", True):
        return
    xp = array_namespace(y)
    shape = y.shape[:-2] + (1,) + y.shape[-1:] if y.ndim >= 2 else y.shape  # one trial: cheap
    ext, f.external = getattr(f, "external", None), None
    try:
        y0 = xp.sin(xp.arange(int(np.prod(shape)), dtype=y.dtype)).reshape(shape)  # any O(1) state
        y1 = y0.copy()
        type(stepper)(stepper.solver, f, y1, check=False).step(0.0, y1, 0.01)
        ref = stepper.solver.step(f, 0.0, y0, 0.01)
        tol = 1e-10 if y.dtype.itemsize == 8 else 1e-4
        ok = bool(xp.allclose(y1, ref, rtol=tol, atol=tol))
    except Exception as e:  # compilation or launch failure of a fused kernel
        ok, why = False, repr(e)
    else:
        why = "result differs from the unfused step"
    finally:
        f.external = ext
    if not ok:
        f.disable_fusion()
        warnings.warn(f"fused CuPy kernels disabled ({why}); using the ufunc path", RuntimeWarning, stacklevel=3)
    stepper.phi_ready = False


class EulerStepper:
    r"""In-place forward Euler: ``step(t, y, dt)`` sets :math:`y \leftarrow y + h f(t, y)`.

    Buffers ``k`` (slope) and ``r`` (rates) have the state's shape ``(R, B, N)``.
    ``phi_ready``: set it to True when ``r`` already holds :math:`\phi(y)` for
    the current ``y`` (the simulator's recorder computes it); cleared by ``step``.
    """

    def __init__(self, solver, f, like, *, check: bool = True):
        xp = array_namespace(like)
        self.solver, self.f = solver, _inplace(f)
        self.k = xp.empty_like(like)
        self.r = xp.empty_like(like)
        self.phi_ready = False
        if check:
            _self_check(self, self.f, like)

    def step(self, t: float, y, dt: float):
        """Advance ``y`` in place by one step of size ``dt``; returns ``y``."""
        f, k = self.f, self.k
        f.rhs_into(t, y, k, self.r, phi_ready=self.phi_ready)
        self.phi_ready = False
        fk = getattr(f, "fused", None)
        if fk is not None:
            fk.euler(k, y.dtype.type(dt), y)
            return y
        k *= dt
        y += k
        return y


class RK4Stepper:
    r"""In-place classical RK4 with preallocated ``k1..k4``, stage state ``x`` and rates ``r``.

    .. math::
        k_1 = f(t, y),\ k_2 = f(t + h/2, y + h k_1/2),\ k_3 = f(t + h/2, y + h k_2/2),\
        k_4 = f(t + h, y + h k_3),\quad
        y \leftarrow y + \tfrac h6\,[(k_1 + k_4) + 2 (k_2 + k_3)]

    (the bracket is summed in this order, as in :meth:`RK4.step`).  Four RHS
    evaluations (four GEMMs) per step.  ``phi_ready`` as in :class:`EulerStepper`.
    """

    def __init__(self, solver, f, like, *, check: bool = True):
        xp = array_namespace(like)
        self.solver, self.f = solver, _inplace(f)
        self.k1, self.k2, self.k3, self.k4 = (xp.empty_like(like) for _ in range(4))
        self.x = xp.empty_like(like)
        self.r = xp.empty_like(like)
        self.phi_ready = False
        self._stage = _stage_function(self.f)
        if check:
            _self_check(self, self.f, like)

    def step(self, t: float, y, dt: float):
        """Advance ``y`` in place by one RK4 step of size ``dt``; returns ``y``."""
        f, x, r, stage = self.f, self.x, self.r, self._stage
        k1, k2, k3, k4 = self.k1, self.k2, self.k3, self.k4
        h2 = 0.5 * dt
        rhs = f.rhs_into
        rhs(t, y, k1, r, phi_ready=self.phi_ready)
        self.phi_ready = False
        rhs(t + h2, x, k2, r, phi_ready=stage(y, h2, k1, x, r))
        rhs(t + h2, x, k3, r, phi_ready=stage(y, h2, k2, x, r))
        rhs(t + dt, x, k4, r, phi_ready=stage(y, dt, k3, x, r))
        fk = getattr(f, "fused", None)
        if fk is not None:
            fk.rk4(k1, k2, k3, k4, y.dtype.type(dt / 6.0), y)
            return y
        k2 += k3
        k1 += k4
        k2 *= 2.0
        k1 += k2
        k1 *= dt / 6.0
        y += k1
        return y


class Euler:
    """Forward Euler, ``order = 1``."""

    order = 1
    name = "euler"

    def step(self, f: Callable, t: float, y, dt: float):
        return y + dt * f(t, y)

    def stepper(self, f: Callable, like) -> EulerStepper:
        """In-place stepper for states shaped like ``like`` (see :class:`EulerStepper`)."""
        return EulerStepper(self, f, like)

    def __repr__(self):
        return "Euler()"


class RK4:
    """Classical Runge–Kutta, ``order = 4``."""

    order = 4
    name = "rk4"

    def step(self, f: Callable, t: float, y, dt: float):
        h2 = 0.5 * dt
        k1 = f(t, y)
        k2 = f(t + h2, y + h2 * k1)
        k3 = f(t + h2, y + h2 * k2)
        k4 = f(t + dt, y + dt * k3)
        k2 += k3
        k1 += k4
        k1 += 2.0 * k2
        return y + (dt / 6.0) * k1

    def stepper(self, f: Callable, like) -> RK4Stepper:
        """In-place stepper for states shaped like ``like`` (see :class:`RK4Stepper`)."""
        return RK4Stepper(self, f, like)

    def __repr__(self):
        return "RK4()"


SOLVERS = {"euler": Euler, "rk4": RK4}


def get_solver(name: str):
    """Solver instance by config name (``euler``, ``rk4``)."""
    try:
        return SOLVERS[name]()
    except KeyError:
        raise ValueError(f"unknown solver {name!r} (choose {', '.join(SOLVERS)})") from None


@dataclass
class Solution:
    """Result record of :func:`integrate`.

    Attributes: ``ts`` (saved times), ``ys`` (list of saved states, host or
    device arrays), ``y1`` (final state), ``n_steps``, ``solver``.
    """

    ts: list
    ys: list
    y1: Any
    n_steps: int
    solver: Any
    stats: dict = field(default_factory=dict)


def integrate(f: Callable, y0, t0: float, t1: float, dt: float, solver=None, save_every: int | None = None) -> Solution:
    """Integrate ``dy/dt = f(t, y)`` from ``t0`` to ``t1`` with a fixed step.

    ``n = round((t1 - t0)/dt)`` steps of exactly ``(t1 - t0)/n`` are taken, so
    the end point is hit.  ``save_every`` steps a state is kept (``None``: only
    the end point).
    """
    solver = solver or RK4()
    n = max(1, int(round((t1 - t0) / dt)))
    h = (t1 - t0) / n
    y = y0
    ts, ys = [t0], [y0]
    for i in range(n):
        t = t0 + i * h
        y = solver.step(f, t, y, h)
        if save_every and (i + 1) % save_every == 0:
            ts.append(t0 + (i + 1) * h)
            ys.append(y)
    if not save_every:
        ts.append(t1)
        ys.append(y)
    return Solution(ts=ts, ys=ys, y1=y, n_steps=n, solver=solver)
