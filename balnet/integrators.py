r"""Fixed-step explicit integrators as small objects with ``order`` and ``step``.

``step(f, t, y, dt)`` is pure: it returns :math:`y(t+dt)` and leaves ``y``
untouched; ``f(t, y)`` is any vector field (numpy or cupy arrays).

* :class:`Euler`: :math:`y_{n+1} = y_n + h f(t_n, y_n)`, global error :math:`O(h)`.
* :class:`RK4`: classical fourth-order Runge–Kutta, global error :math:`O(h^4)`.

Additive white noise :math:`\sigma\,dW` is added by the simulator after the
deterministic step (Euler–Maruyama splitting): with noise the scheme has strong
order 1/2 whatever the solver (exact order 1 for additive noise with Euler).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Euler", "RK4", "get_solver", "integrate", "Solution", "SOLVERS"]


class Euler:
    """Forward Euler, ``order = 1``."""

    order = 1
    name = "euler"

    def step(self, f: Callable, t: float, y, dt: float):
        return y + dt * f(t, y)

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
