"""Integrator order and accuracy against exact solutions and a DOP853 reference."""
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm

from balnet.engine.integrators import RK4, Euler, get_solver, integrate
from balnet.engine.params import NetworkParams
from balnet.model.dynamics import RateNetwork, get_gain
from balnet.model.network import coupling_matrix


def _linear_system():
    # damped rotation plus decay: eigenvalues -0.3 +- 2i and -1
    A = np.array([[-0.3, 2.0, 0.0], [-2.0, -0.3, 0.0], [0.5, 0.0, -1.0]])
    y0 = np.array([1.0, 0.0, -0.5])
    return A, y0


@pytest.mark.parametrize("solver,expected", [(Euler(), 1.0), (RK4(), 4.0)])
def test_order_on_linear_system(solver, expected):
    """Global error at t=2 vs the exact expm solution scales as dt^order (slope within 0.15)."""
    A, y0 = _linear_system()
    exact = expm(2.0 * A) @ y0
    dts = np.array([0.02, 0.01, 0.005, 0.0025]) if expected == 1 else np.array([0.2, 0.1, 0.05, 0.025])
    errs = []
    for dt in dts:
        sol = integrate(lambda t, y: A @ y, y0, 0.0, 2.0, dt, solver)
        errs.append(np.linalg.norm(sol.y1 - exact))
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert solver.order == expected
    assert abs(slope - expected) < 0.15, (slope, errs)


def test_rk4_time_dependent_exact():
    """dy/dt = cos(t) y has y = exp(sin t); RK4 at dt=0.01 is within 1e-9 at t=5."""
    sol = integrate(lambda t, y: np.cos(t) * y, np.array([1.0]), 0.0, 5.0, 0.01, RK4())
    assert abs(sol.y1[0] - np.exp(np.sin(5.0))) < 1e-9


def test_rk4_matches_dop853_on_network(xp):
    """Nonlinear balanced network (N=60): RK4 dt=0.01 vs DOP853 rtol=1e-10 agree to 1e-7 at t=5."""
    p = NetworkParams(N=60, g=1.5, J0=1.0)
    J = coupling_matrix(p, np.random.default_rng(3))
    x0 = np.random.default_rng(4).standard_normal(60)
    net = RateNetwork(xp.asarray(J), get_gain("tanh"), xp=xp)
    ref = solve_ivp(lambda t, x: -x + J @ np.tanh(x), (0, 5), x0, method="DOP853", rtol=1e-10, atol=1e-12).y[:, -1]
    sol = integrate(net, xp.asarray(x0[None]), 0.0, 5.0, 0.01, RK4())
    got = np.asarray(sol.y1.get() if hasattr(sol.y1, "get") else sol.y1)[0]
    assert np.max(np.abs(got - ref)) < 1e-7


def test_step_is_pure():
    y = np.ones(3)
    RK4().step(lambda t, y: -y, 0.0, y, 0.1)
    Euler().step(lambda t, y: -y, 0.0, y, 0.1)
    assert np.array_equal(y, np.ones(3))


def test_get_solver_errors():
    assert get_solver("rk4").order == 4
    with pytest.raises(ValueError, match="unknown solver"):
        get_solver("rk45")
