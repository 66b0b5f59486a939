"""The in-place hot path equals the pure one.

RateNetwork.rhs_into / populations_into vs __call__ / populations, the
in-place steppers vs the pure ``step``, and Simulation.run vs a plain reference
loop built from the pure pieces.  On numpy the fast path performs the same
floating-point operations in the same order, so the results are bit-identical
(asserted); on CuPy (fused kernels) they agree to 1e-12 relative in float64.
Also: no state-sized allocation per step, and the benchmark scripts' own
consistency checks (ReservoirPy and numpy loops follow balnet's trajectory).
"""
import importlib.util
import pathlib
import tracemalloc

import numpy as np
import pytest

from balnet.engine.backend import to_numpy
from balnet.engine.integrators import RK4, Euler, integrate
from balnet.engine.params import NetworkParams, SimulationParams, from_mapping
from balnet.engine.random import NOISE, stream
from balnet.model.dynamics import CpuKernels, RateNetwork, fused_kernels, get_gain
from balnet.model.simulate import (
    Simulation,
    build_network,
    initial_states,
    record_indices,
    simulate,
)

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench"
# fast path vs pure step: float64 1e-12 relative (the bound); float32 a few ulp
REL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-6}


@pytest.fixture(params=["plain", "threads"])
def cpu_mode(request, monkeypatch):
    """numpy elementwise work on the caller's thread only, or split over 3 threads
    (CpuKernels, with the size threshold lowered so the small test arrays are split)."""
    monkeypatch.setenv("BALNET_NUM_THREADS", "1" if request.param == "plain" else "3")
    monkeypatch.setattr(CpuKernels, "min_rows_elems", 16)
    return request.param


def _setup(xp, dtype="float64", gain="tanh", R=2, B=3, N=96, I0=0.0):
    net = NetworkParams(N=N, g=1.6, J0=1.0, gain=gain)
    f = build_network(net, list(range(R)), 5, xp, np.dtype(dtype), I0=I0)
    x = initial_states(net, list(range(R)), B, 5, 1.2, xp, np.dtype(dtype))
    return net, f, x


def _close(a, b, xp, dtype):
    """Bitwise on numpy; within REL (relative to max |a|) elsewhere."""
    a, b = to_numpy(a), to_numpy(b)
    if xp is np:
        return np.array_equal(a, b)
    return np.max(np.abs(a - b)) <= REL[np.dtype(dtype)] * max(1.0, np.max(np.abs(a)))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("gain", ["tanh", "relu", "sigmoid"])
def test_rhs_into_equals_call(xp, dtype, gain, cpu_mode):
    """rhs_into(t, x, out, r) == f(t, x), with and without I0 and a per-step input vector."""
    for I0 in (0.0, 0.3):
        net, f, x = _setup(xp, dtype, gain, I0=I0)
        out, r = xp.empty_like(x), xp.empty_like(x)
        for ext in (None, xp.asarray(np.linspace(-1, 1, net.N), dtype=dtype)):
            f.external = ext
            ref = f(0.0, x)
            assert _close(f.rhs_into(0.0, x, out, r), ref, xp, dtype)
            # rates supplied by the caller (phi_ready) give the same result
            f.phi_into(x, r)
            out[...] = 0
            assert _close(f.rhs_into(0.0, x, out, r, phi_ready=True), ref, xp, dtype)
        f.external = None


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_populations_into_equals_populations(xp, dtype, cpu_mode):
    """The recorder's in-place nu_E, nu_I, m equal RateNetwork.populations stored in the recorder's
    dtype (w given and w=None; populations() returns m in float64 for float32 states)."""
    net, f, x = _setup(xp, dtype)
    r = xp.empty_like(x)
    for w in (f.w, None):
        f.w = w
        ref = f.populations(x)
        got = [xp.empty(x.shape[:-1], dtype=dtype) for _ in range(3)]
        f.populations_into(x, *got, r)
        for a, b in zip(got, ref):
            assert _close(a, b.astype(dtype), xp, dtype)
        assert _close(r, f.gain.phi(x, xp), xp, dtype)  # phi(x) left in r for the next step


@pytest.mark.parametrize("solver", [Euler(), RK4()], ids=["euler", "rk4"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("gain", ["tanh", "relu", "sigmoid"])
def test_stepper_equals_pure_step(xp, solver, dtype, gain, cpu_mode):
    """30 in-place steps (dt=0.05, I0=0.2, time-varying input) equal 30 pure steps:
    bit-identical on numpy; float64 within 1e-12 relative on other backends."""
    net, f, x0 = _setup(xp, dtype, gain, I0=0.2)
    y = x0.copy()
    st = solver.stepper(f, y)
    ref = x0
    inputs = np.random.default_rng(1).standard_normal((30, net.N)).astype(dtype)
    for i in range(30):
        f.external = xp.asarray(inputs[i])
        ref = solver.step(f, i * 0.05, ref, 0.05)
        assert st.step(i * 0.05, y, 0.05) is y
    f.external = None
    assert _close(y, ref, xp, dtype)
    assert _close(x0, initial_states(net, [0, 1], 3, 5, 1.2, xp, np.dtype(dtype)), xp, dtype)  # input untouched


@pytest.mark.parametrize("solver", [Euler(), RK4()], ids=["euler", "rk4"])
def test_stepper_reuses_recorded_rates(xp, solver, cpu_mode):
    """A step after populations_into with phi_ready=True equals a step that recomputes phi(y)."""
    net, f, x0 = _setup(xp)
    a, b = x0.copy(), x0.copy()
    sa, sb = solver.stepper(f, a), solver.stepper(f, b)
    got = [xp.empty(x0.shape[:-1]) for _ in range(3)]
    for i in range(5):
        f.populations_into(a, *got, sa.r)
        sa.phi_ready = True
        sa.step(0.0, a, 0.1)
        assert not sa.phi_ready
        sb.step(0.0, b, 0.1)
    assert _close(a, b, xp, "float64")


@pytest.mark.parametrize("solver", [Euler(), RK4()], ids=["euler", "rk4"])
def test_stepper_generic_callable_and_unbatched(solver):
    """Any f(t, y) (wrapped) and a 2-D J with (B, N) states: stepper == pure step bitwise;
    RK4 on dy/dt = cos(t) y stays within 1e-9 of exp(sin t) at t = 5 (dt = 0.01)."""
    A = np.array([[-0.3, 2.0], [-2.0, -0.3]])
    y, ref = np.array([1.0, -0.5]), np.array([1.0, -0.5])
    st = solver.stepper(lambda t, y: A @ y, y)
    for i in range(50):
        ref = solver.step(lambda t, y: A @ y, i * 0.01, ref, 0.01)
        st.step(i * 0.01, y, 0.01)
    assert np.array_equal(y, ref)

    J = np.random.default_rng(2).standard_normal((40, 40)) * 1.4 / np.sqrt(40)
    f = RateNetwork(J, get_gain("tanh"))
    x = np.random.default_rng(3).standard_normal((4, 40))
    xr = x.copy()
    st = solver.stepper(f, x)
    for i in range(20):
        xr = solver.step(f, 0.0, xr, 0.05)
        st.step(0.0, x, 0.05)
    assert np.array_equal(x, xr)

    if solver.order == 4:
        y = np.array([1.0])
        st = solver.stepper(lambda t, y: np.cos(t) * y, y)
        for i in range(500):
            st.step(i * 0.01, y, 0.01)
        assert abs(y[0] - np.exp(np.sin(5.0))) < 1e-9


@pytest.mark.parametrize("solver", [Euler(), RK4()], ids=["euler", "rk4"])
def test_no_state_sized_allocation_per_step(solver, cpu_mode):
    """tracemalloc: 5 in-place steps plus a recording allocate < 1/4 of one state array
    (R=2, B=16, N=512: 128 KiB), while one pure step allocates >= 2 state arrays (sanity of the probe)."""
    net, f, y = _setup(np, R=2, B=16, N=512)
    st = solver.stepper(f, y)
    got = [np.empty(y.shape[:-1]) for _ in range(3)]
    st.step(0.0, y, 0.01)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for _ in range(5):
            st.step(0.0, y, 0.01)
            f.populations_into(y, *got, st.r)
            st.phi_ready = True
        fast_peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        solver.step(f, 0.0, y, 0.01)
        pure_peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert fast_peak < y.nbytes / 4, fast_peak
    assert pure_peak >= 2 * y.nbytes, pure_peak


def _reference_run(net, sim, ids, input_series=None):
    """The straightforward loop: pure solver.step, populations(), fancy indexing, sigma*sqrt(dt)*xi."""
    xp = np
    dtype = np.dtype(sim.dtype)
    f = build_network(net, ids, sim.seed, xp, dtype, I0=sim.I0)
    x = initial_states(net, ids, sim.trials, sim.seed, sim.init_std, xp, dtype)
    solver = {"euler": Euler(), "rk4": RK4()}[sim.solver]
    idx = record_indices(net, sim.n_record)
    n_warm, n_total = sim.n_warmup_steps, sim.n_warmup_steps + sim.n_steps
    noise = None
    if sim.sigma > 0:
        noise = np.stack([stream(sim.seed, k, NOISE).standard_normal((n_total, sim.trials, net.N)) for k in ids], 1)
        noise = (noise.astype(dtype) * (sim.sigma * np.sqrt(sim.dt))).astype(dtype)
    rec = {"t": [], "nu_E": [], "nu_I": [], "m": [], "x": []}

    def record(x, t):
        for k, v in zip(("nu_E", "nu_I", "m"), f.populations(x)):
            rec[k].append(v)
        rec["x"].append(x[..., idx])
        rec["t"].append(t)

    if n_warm == 0:
        record(x, 0.0)
    for i in range(n_total):
        f.external = None if input_series is None else np.asarray(input_series[i], dtype=dtype)
        x = solver.step(f, (i - n_warm) * sim.dt, x, sim.dt)
        if noise is not None:
            x = x + noise[i]
        if i + 1 == n_warm:
            record(x, 0.0)
        elif i + 1 > n_warm and (i + 1 - n_warm) % sim.record_every == 0:
            record(x, (i + 1 - n_warm) * sim.dt)
    out = {k: np.stack(v, -1) for k, v in rec.items() if k in ("nu_E", "nu_I", "m")}
    out["x"] = np.stack(rec["x"], 2)
    out["t"] = np.array(rec["t"])
    out["final_state"] = x
    return out


@pytest.mark.parametrize("solver", ["euler", "rk4"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("sigma,with_input", [(0.0, False), (0.4, True)])
def test_simulation_equals_reference_loop(solver, dtype, sigma, with_input, cpu_mode):
    """Simulation.run (in-place stepper, recorder buffers, phi reuse, noise blocks) reproduces the
    plain loop bit for bit: every recorded sample and the final state (R=2, B=3, N=64, warm-up,
    record_every=3, I0, noise, input series)."""
    net = NetworkParams(N=64, g=1.7, J0=1.2)
    sim = from_mapping(SimulationParams, dict(T=3.0, dt=0.05, t_warmup=0.5, record_every=3, n_record=7, trials=3,
                                              realizations=2, sigma=sigma, I0=0.1, dtype=dtype, solver=solver,
                                              backend="numpy", chunk=5, seed=11))
    n = sim.n_warmup_steps + sim.n_steps
    series = np.sin(0.3 * np.arange(n))[:, None] * np.linspace(-1, 1, 64)[None] if with_input else None
    got = simulate(net, sim, input_series=series)
    ref = _reference_run(net, sim, [0, 1], series)
    for k in ("t", "nu_E", "nu_I", "m", "x", "final_state"):
        assert got[k].shape == ref[k].shape, k
        assert np.array_equal(got[k], ref[k]), k


def test_noise_block_length_does_not_change_results(monkeypatch):
    """Noise drawn in blocks of 1 step or of 256 steps gives bit-identical runs."""
    net = NetworkParams(N=50)
    sim = from_mapping(SimulationParams, dict(T=3.0, dt=0.01, sigma=0.5, trials=2, realizations=2, backend="numpy"))
    a = simulate(net, sim)
    monkeypatch.setattr(Simulation, "noise_block_bytes", 1)
    b = simulate(net, sim)
    assert np.array_equal(a["final_state"], b["final_state"]) and np.array_equal(a["m"], b["m"])


class _EmulatedKernel:
    """Runs a CuPy ElementwiseKernel body with numpy (statement by statement, C evaluation order),
    so the fused-kernel sources and their call sites can be checked without a GPU."""

    def __init__(self, in_params, out_params, body, name):
        self.ins = [p.split()[-1] for p in in_params.split(",")]
        self.outs = [p.split()[-1] for p in out_params.split(",")]
        self.body, self.name = body, name

    def __call__(self, *args):
        assert len(args) == len(self.ins) + len(self.outs), self.name
        env = {"tanh": np.tanh, **dict(zip(self.ins + self.outs, args))}
        shape = np.broadcast_shapes(*(np.shape(a) for a in args))
        for stmt in filter(None, (t.strip() for t in self.body.split(";"))):
            lhs, rhs = (u.strip() for u in stmt.split("=", 1))
            val = eval(rhs.replace("(T)", ""), {}, env)  # noqa: S307 -- our own kernel sources
            name = lhs.split()[-1]
            if name in self.outs:
                env[name][...] = val
            else:  # a local "T v = ..."
                env[name] = np.broadcast_to(val, shape).copy()
        return args[len(self.ins):]


@pytest.mark.parametrize("solver", [Euler(), RK4()], ids=["euler", "rk4"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("gain", ["tanh", "sigmoid"])
def test_fused_kernel_sources_match_ufunc_path(monkeypatch, solver, dtype, gain):
    """The CuPy kernel bodies (stage, epilogue(_ext), euler, rk4), emulated in numpy through a
    stand-in namespace, reproduce the pure step bit for bit (I0, per-step input, 10 steps), and the
    recorder's phi reuse works with them; this checks the kernels' algebra and argument order."""
    import types

    import balnet.model.kernels as dyn

    monkeypatch.setattr(dyn, "elementwise_kernel", lambda xp, i, o, body, name: _EmulatedKernel(i, o, body, name))
    monkeypatch.setenv("BALNET_NUM_THREADS", "1")  # the numpy reference: plain ufuncs
    fake_xp = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("_")})
    net, f_np, x0 = _setup(np, dtype, gain, I0=0.2)
    f = RateNetwork(f_np.JT.swapaxes(-1, -2), get_gain(gain), w=f_np.w, n_E=f_np.n_E, I0=0.2, xp=fake_xp)
    assert f.fused is not None and f_np.fused is None
    y, ref = x0.copy(), x0.copy()
    st = solver.stepper(f, y)
    got = [np.empty(x0.shape[:-1], dtype=dtype) for _ in range(3)]
    inputs = np.random.default_rng(4).standard_normal((10, net.N)).astype(dtype)
    for i in range(10):
        f.external = f_np.external = inputs[i]
        ref = solver.step(f_np, 0.0, ref, 0.05)
        st.step(0.0, y, 0.05)
        f.populations_into(y, *got, st.r)
        st.phi_ready = True
    assert np.array_equal(y, ref)
    assert f.fused is not None  # the stepper's self-check kept fusion on


def test_fused_kernel_self_check_falls_back(monkeypatch):
    """A fused kernel that fails (here: raises) is caught by the stepper's self-check: fusion is
    switched off with a RuntimeWarning and the ufunc path gives the pure step's result."""
    import types

    import balnet.model.kernels as dyn

    def broken(xp, i, o, body, name):
        def k(*a):
            raise RuntimeError("nvrtc: compilation failed")
        return k

    monkeypatch.setattr(dyn, "elementwise_kernel", broken)
    fake_xp = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("_")})
    _, f_np, x0 = _setup(np)
    f = RateNetwork(f_np.JT.swapaxes(-1, -2), get_gain("tanh"), xp=fake_xp)
    with pytest.warns(RuntimeWarning, match="fused CuPy kernels disabled"):
        st = RK4().stepper(f, x0.copy())
    assert f.fused is None
    y = x0.copy()
    st.step(0.0, y, 0.05)
    assert np.array_equal(y, RK4().step(f_np, 0.0, x0, 0.05))


def test_kernel_selection(monkeypatch):
    """CuPy kernels only for CuPy; on numpy CpuKernels when more than one thread is allowed
    (BALNET_NUM_THREADS, else OMP_NUM_THREADS), plain ufuncs otherwise or with BALNET_NO_FUSE=1."""
    assert fused_kernels(np, get_gain("tanh")) is None
    for env, expect in ((dict(BALNET_NUM_THREADS="1"), None), (dict(BALNET_NUM_THREADS="3"), CpuKernels),
                        (dict(BALNET_NUM_THREADS="", OMP_NUM_THREADS="1"), None),
                        (dict(BALNET_NUM_THREADS="4", BALNET_NO_FUSE="1"), None)):
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        _, f, _ = _setup(np)
        assert (f.fused is None) if expect is None else isinstance(f.fused, expect), env
        monkeypatch.delenv("BALNET_NO_FUSE", raising=False)


def test_cpu_kernels_split_rows(monkeypatch):
    """With 3 threads a (2, 96, 512) state (3 x 32768 elements) is split into 3 row blocks per
    elementwise kernel (2 go to the pool), and an RK4 step still equals the pure step bit for bit."""
    monkeypatch.setenv("BALNET_NUM_THREADS", "3")
    _, f, y = _setup(np, B=96, N=512)
    calls = []
    pool = f.fused.pool
    orig = pool.submit
    monkeypatch.setattr(pool, "submit", lambda fn, *a: calls.append(len(a)) or orig(fn, *a))
    st = RK4().stepper(f, y.copy())
    z = y.copy()
    st.step(0.0, z, 0.05)
    # stage x3, epilogue x4, first phi, rk4 update: 9 kernels, 2 pool tasks each
    assert len(calls) == 18
    assert np.array_equal(z, RK4().step(f, 0.0, y, 0.05))


def test_integrate_unchanged_by_steppers():
    """integrate() (pure steps) still returns a Solution with the exact end time and step count."""
    sol = integrate(lambda t, y: -y, np.ones(2), 0.0, 1.0, 0.1, RK4())
    assert sol.n_steps == 10 and sol.ts[-1] == 1.0
    assert np.allclose(sol.y1, np.exp(-1.0), rtol=1e-6)


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_peers_same_trajectory():
    """The benchmark's contenders integrate the same network: balnet, numpy loops and ReservoirPy
    (x_T = W s_T) end within 1e-11 of each other after 40 Euler steps (N=128, B=2, g=1.5).

    The rates are B N steps / (fastest measured time) and the table's row restates them: each
    cell is parsed back and compared with the raw times (Mns/s to its 0.05 rounding, the
    speed-up balnet/X = t_X / t_balnet to its 0.05 rounding), so a wrong unit, a swapped
    column or an inverted ratio fails."""
    pytest.importorskip("reservoirpy")
    mod = _load("bench_peers")
    N, B, steps = 128, 2, 40
    row = mod.bench_case(N, B, steps, 0.1, "float64", repeat=1)
    names = ["balnet", "numpy/batch", "numpy/trial", "ReservoirPy"]
    assert set(row["times"]) == set(row["rate"]) == set(names)
    t = row["times"]
    assert all(0 < t[n] < 60 for n in names), t
    for n in names:
        assert row["rate"][n] == pytest.approx(B * N * steps / t[n], rel=1e-12)
    assert row["max_dev"] < 1e-11 * max(1.0, row["scale"]), row["max_dev"]
    hdr, rule, line = mod.table([row])
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    assert len(cells) == hdr.count("|") - 1 == rule.count("|") - 1 == 12
    assert cells[:4] == ["float64", str(N), str(B), str(steps)]
    for n, c in zip(names, cells[4:8]):
        assert float(c) == pytest.approx(B * N * steps / t[n] / 1e6, abs=0.051), (n, c)
    for n, c in zip(("ReservoirPy", "numpy/trial", "numpy/batch"), cells[8:11]):
        assert c.endswith("x") and float(c[:-1]) == pytest.approx(t[n] / t["balnet"], abs=0.051), (n, c)
    dev, scale = cells[11].split()
    assert float(dev) == pytest.approx(row["max_dev"], rel=0.06, abs=1e-300)
    assert float(scale.strip("()")) == pytest.approx(row["scale"], abs=0.051)


def test_bench_simulate_case_and_table():
    """bench_simulate measures GEMM, in-place and pure steps and the run loop, and reports
    ratio = 4 t_GEMM / t_step and the floor max(s N^2/BW, 2 N^2 B/F) per RHS evaluation."""
    mod = _load("bench_simulate")
    row = mod.bench_case("float64", 128, 4, 1, "rk4", np, min_time=0.01, with_run=True)
    assert row["n_eval"] == 4
    rates = {"float64": {"F": 1e10, "BW": 1e10}}
    # floor = 4 * max(8*128^2/1e10, 2*128^2*4/1e10) s
    assert mod.floor_time(row, rates) == pytest.approx(4 * 8 * 128**2 / 1e10)
    hdr, rule, line = mod.table([row], rates, {("float64", 128, row["R"]): 1e9})  # GEMV below 1.5 BW: DRAM
    assert "4·GEMM/step" in hdr
    # the row restates the raw times: ms to 3 decimals, ratios to 2, Mneuron-steps/s to 1
    c = [x.strip() for x in line.strip().strip("|").split("|")]
    assert len(c) == hdr.count("|") - 1 == rule.count("|") - 1 == 12
    assert c[:3] == ["float64", "128", "4"]
    t = {k: row[k] for k in ("t_gemm", "t_step", "t_pure", "t_run")}
    assert all(0 < v < 60 for v in t.values()), t
    ms = pytest.approx
    assert float(c[3]) == ms(t["t_gemm"] * 1e3, abs=6e-4) and float(c[4]) == ms(t["t_step"] * 1e3, abs=6e-4)
    assert float(c[5]) == ms(4 * t["t_gemm"] / t["t_step"], abs=6e-3)
    assert float(c[6]) == ms(t["t_run"] * 1e3, abs=6e-4) and float(c[7]) == ms(4 * t["t_gemm"] / t["t_run"], abs=6e-3)
    assert float(c[8]) == ms(t["t_pure"] * 1e3, abs=6e-4)
    assert c[9] == "0.052"  # 4 * 8 * 128^2 / 1e10 s = 0.0524 ms, not marked '*' (measured GEMV < 1.5 BW)
    _, _, cached = mod.table([row], rates, {("float64", 128, row["R"]): 2e10})
    assert cached.split("|")[10].strip() == "0.052*"  # GEMV above 1.5 x DRAM bandwidth: in cache
    assert float(c[10]) == ms(4 * 8 * 128**2 / 1e10 / t["t_step"], abs=6e-3)
    assert float(c[11]) == ms(row["R"] * 4 * 128 / t["t_step"] / 1e6, abs=0.06)
