"""State classification and sweep reductions (balnet.phases.classify, `balnet reduce`).

Signal measures are checked against exact values on constructed signals; the
classifier on constructed order parameters (one case per rule) and on real
small simulations whose state is known from theory (SCS decay below g = 1,
SCS chaos at g = 2, linear stability of x = 0 for the balanced network).
"""
import json
import subprocess
import sys

import numpy as np
import pytest
from figcheck import check_png

from balnet.chaos.statistics import lyapunov_statistics
from balnet.engine.io import H5Writer, read
from balnet.engine.params import (
    ConfigError,
    NetworkParams,
    SimulationParams,
    from_mapping,
)
from balnet.engine.sweep import sweep_grid
from balnet.model.network import eigenvalues, realization_couplings
from balnet.model.simulate import simulate
from balnet.model.states import (
    CHAOS,
    CYCLE,
    DECAY,
    DIVERGENT,
    FIXED_POINT,
    OSCILLATION,
    PHASES,
    UNDETERMINED,
)
from balnet.phases.classify import (
    PhaseCriteria,
    amplitude_trend,
    autocorrelation,
    classify,
    final_speed,
    locate_fixed_point,
    order_parameters,
    recurrence,
    spectral_peak,
)
from balnet.phases.diagram import phase_diagram, write_phase_diagram


def cli(*args):
    return subprocess.run([sys.executable, "-m", "balnet", *args], capture_output=True, text=True)


# -- signal measures ------------------------------------------------------------------


def test_autocorrelation_matches_direct_sum():
    """FFT autocorrelation equals the direct unbiased sum to 1e-12 for every lag."""
    rng = np.random.default_rng(0)
    s = rng.standard_normal(300).cumsum()
    d = s - s.mean()
    n = len(s)
    direct = np.array([np.dot(d[: n - l], d[l:]) / (n - l) for l in range(n)]) / (np.dot(d, d) / n)
    np.testing.assert_allclose(autocorrelation(s), direct, rtol=0, atol=1e-12)
    assert np.isnan(autocorrelation(np.ones(50))[1])


def test_spectral_peak_of_on_bin_sine():
    """A sine on an FFT bin: f_peak is exact, coherence >= 0.99 (Hann leaks into the 2 neighbours only);
    white noise spreads power over ~n/2 bins: coherence < 0.05 for n = 2000."""
    dt, n = 0.1, 2000
    t = np.arange(n) * dt
    f0 = 25 / (n * dt)  # bin 25
    f, P, C = spectral_peak(np.sin(2 * np.pi * f0 * t + 0.3), dt)
    assert f == pytest.approx(f0, rel=1e-12) and P == pytest.approx(1 / f0, rel=1e-12)
    assert C > 0.99
    _, _, Cn = spectral_peak(np.random.default_rng(1).standard_normal(n), dt)
    assert Cn < 0.05
    fz, Pz, Cz = spectral_peak(np.zeros(n), dt)
    assert np.isnan(fz) and np.isnan(Cz)


def test_recurrence_periodic_vs_irregular():
    """Periodic signals (sine, sawtooth, off-bin period) recur: r > 0.98; an Ornstein-Uhlenbeck
    process (correlation time 1, sampled over 300 tau) does not: r < 0.5; fewer than two
    periods in the window: nan."""
    dt = 0.05
    t = np.arange(0, 150, dt)
    P = 7.3  # not a bin of the FFT
    for s in (np.sin(2 * np.pi * t / P), (t / P) % 1.0, np.sign(np.sin(2 * np.pi * t / P)) + 0.3 * np.sin(4 * np.pi * t / P)):
        assert recurrence(s, dt) > 0.98
    rng = np.random.default_rng(2)
    ou = np.zeros(6000)
    for i in range(1, ou.size):
        ou[i] = ou[i - 1] * np.exp(-dt) + np.sqrt(1 - np.exp(-2 * dt)) * rng.standard_normal()
    assert recurrence(ou, dt) < 0.5
    assert np.isnan(recurrence(np.sin(2 * np.pi * t / 100.0), dt))


def test_amplitude_trend_exact():
    """gamma = log(A2/A1)/T_half is exactly lambda for exp(lambda t) and for exp(lambda t) sin(w t)
    when T_half is a whole number of periods (time-shift invariance; 1e-9), and ~0 for a
    periodic signal whatever its phase and period (< 1e-4 from sampling the extrema)."""
    dt = 0.05
    t = np.arange(3000) * dt  # halves of 75 tau
    lam = -0.03
    for s in (np.exp(lam * t), np.exp(lam * t) * np.sin(2 * np.pi * t / 5.0)):
        assert amplitude_trend(s[None], dt) == pytest.approx(lam, abs=1e-9)
    for P in (7.3, 11.0, 30.0):
        assert abs(amplitude_trend(np.sin(2 * np.pi * t / P + 0.4)[None], dt)) < 1e-4
    assert np.isnan(amplitude_trend(np.zeros((1, 100)), dt))


def test_synchrony_of_identical_and_random_phase_neurons():
    """Golomb synchrony: identical neurons chi = 1 (to 1e-12); N independent random phases
    chi ~ N^-1/2 (here 0.5 N^-1/2 < chi < 2 N^-1/2, N = 400); the population period is the
    neurons' period (10 tau, exact on an FFT bin) in both cases."""
    dt, N = 0.1, 400
    t = np.arange(0, 200, dt)
    rng = np.random.default_rng(3)
    for phases, lo, hi in ((np.zeros(N), 1 - 1e-12, 1 + 1e-12), (rng.uniform(0, 2 * np.pi, N), 0.5 / np.sqrt(N), 2 / np.sqrt(N))):
        x = 0.8 * np.sin(2 * np.pi * t[:, None] / 10.0 + phases[None, :])  # (n, N)
        r = np.tanh(x)
        nu = r.mean(axis=1)[None, None]
        op = order_parameters(t, nu, nu, x[None, None], speed=np.ones((1, 1)), rms=np.ones((1, 1)))
        assert lo < op["synchrony"][0, 0] < hi
        # the population signal of identical-frequency neurons is a period-10 sinusoid whatever the phases
        # (amplitude ~ N^-1/2 for random ones): the spectral period is 10 in both cases (bin 20 of 2000 samples)
        assert op["period"][0, 0] == pytest.approx(10.0, rel=1e-9)


# -- classifier on constructed order parameters ------------------------------------------


def _op(**kw):
    base = dict(speed=0.5, rms=1.0, std_nu=0.2, var_x=1.0, synchrony=0.5, trend=0.0, activity_trend=0.0, f_peak=0.1,
                period=10.0, coherence=0.9, recurrence_pop=0.2, recurrence_x=0.2, return_x=0.2, lambda_max=np.nan,
                lambda_lo=np.nan, lambda_hi=np.nan, fp_rms=np.nan, fp_growth=np.nan)
    if "lam" in kw:  # lambda_max with an interval (lo, hi)
        lo, hi = kw.pop("lam")
        kw.update(lambda_max=0.5 * (lo + hi), lambda_lo=lo, lambda_hi=hi)
    base.update(kw)
    return {k: np.atleast_1d(np.asarray(v, float)) for k, v in base.items()}


@pytest.mark.parametrize(
    "kw,label",
    [
        (dict(speed=1e-12, rms=1e-9), DECAY),
        (dict(speed=1e-12, rms=0.8), FIXED_POINT),
        (dict(speed=5e-4, rms=0.04, fp_rms=0.0, fp_growth=-0.5), DECAY),  # at rest, Newton: x* = 0
        (dict(speed=5e-4, rms=0.8, fp_rms=0.8, fp_growth=-0.5), FIXED_POINT),
        # moving: converging (every part shrinks), Newton finds a stable x*
        (dict(speed=0.02, rms=0.5, trend=-0.03, activity_trend=-0.03, fp_rms=0.0, fp_growth=-0.03), DECAY),
        (dict(speed=0.01, rms=1.5, trend=-0.03, fp_rms=1.4, fp_growth=-0.03), FIXED_POINT),
        # x* = 0 but the activity does not shrink toward it: contradiction, undetermined
        (dict(speed=0.02, rms=0.5, trend=-0.03, activity_trend=0.0, fp_rms=0.0, fp_growth=-0.03), UNDETERMINED),
        # converging but Newton's fixed point is unstable (x = 0 of a chaotic SCS net): not a settle label
        (dict(speed=0.05, rms=0.8, trend=-0.03, activity_trend=-0.01, fp_rms=0.0, fp_growth=0.5), CHAOS),
        (dict(speed=0.05, rms=0.8, trend=-0.03, fp_rms=0.0, fp_growth=0.5, return_x=np.nan), UNDETERMINED),
        # converging without Newton: only a small state shrinking at the linear-decay pace counts
        (dict(speed=2e-3, rms=5e-3, trend=-0.03, activity_trend=-0.03), DECAY),
        (dict(speed=0.02, rms=0.5, trend=-0.03, activity_trend=-0.03, return_x=0.95), UNDETERMINED),
        # the issue 18 case: a noisy negative trend, Newton fails: chaos from the irregular signal, not decay
        (dict(speed=0.07, rms=0.91, trend=-0.007, activity_trend=0.01, return_x=0.05), CHAOS),
        (dict(trend=-0.03, lam=(0.1, 0.3)), CHAOS),  # chaos wins over a shrinking amplitude
        (dict(trend=-0.003, lam=(-0.01, 0.01)), UNDETERMINED),  # lambda consistent with 0, nothing recurs
        (dict(recurrence_x=0.99, lam=(-0.01, 0.01)), CYCLE),
        (dict(lam=(0.019, 0.05)), CHAOS),  # lambda = 0.035 above its own uncertainty
        (dict(lam=(-0.005, 0.043)), UNDETERMINED),  # lambda = 0.019 whose interval holds 0
        (dict(lam=(-0.3, -0.1)), UNDETERMINED),  # contracting but still moving and not located: a transient
        (dict(recurrence_pop=0.99, recurrence_x=0.99, synchrony=0.6), OSCILLATION),
        (dict(recurrence_pop=0.99, recurrence_x=0.99, synchrony=0.6, lam=(-0.01, 0.012)), OSCILLATION),
        (dict(recurrence_pop=0.99, recurrence_x=0.99, synchrony=0.05), CYCLE),  # periodic but asynchronous
        (dict(recurrence_pop=0.99, synchrony=0.6, std_nu=1e-5), CYCLE),  # population does not move
        (dict(), CHAOS),  # no lambda: nothing recurs -> chaos
        (dict(return_x=np.nan), UNDETERMINED),  # no lambda, no decorrelation within the window: no evidence
        (dict(lam=(0.1, 0.3), recurrence_pop=0.99, synchrony=0.6), CHAOS),  # lambda wins over recurrence
        (dict(rms=np.inf), DIVERGENT),
        (dict(speed=np.nan), DIVERGENT),
        (dict(rms=1e7, speed=1e-12), DIVERGENT),
        (dict(lyapunov_divergent=1.0), DIVERGENT),
    ],
)
def test_classify_rules(kw, label):
    got = classify(_op(**kw))[0]
    assert got == label, (PHASES[got], PHASES[label])


def test_criteria_validation():
    with pytest.raises(ConfigError, match="late_fraction"):
        from_mapping(PhaseCriteria, {"late_fraction": 0})
    with pytest.raises(ConfigError, match="did you mean 'speed_tol'"):
        from_mapping(PhaseCriteria, {"speed_tl": 1})
    c = from_mapping(PhaseCriteria, {"speed_tol": "1e-6"})
    assert classify(_op(speed=1e-5, rms=1.0), c)[0] != FIXED_POINT
    with pytest.raises(ConfigError, match="lambda_level"):
        from_mapping(PhaseCriteria, {"lambda_level": 1.0})
    with pytest.raises(ConfigError, match="trend_parts"):
        from_mapping(PhaseCriteria, {"trend_parts": 1})


# -- real simulations ----------------------------------------------------------------------


def _small(**kw):
    base = dict(T=100.0, t_warmup=50.0, dt=0.1, n_record=16, realizations=4, seed=5, backend="numpy")
    base.update(kw)
    return from_mapping(SimulationParams, base)


def _labels(net, sim, xp, lambda_max=None):
    out = simulate(net, sim, xp=xp)
    ids = list(range(sim.realizations))
    speed = final_speed(net, sim, ids, out["final_state"])
    rms = np.sqrt(np.mean(out["final_state"] ** 2, axis=-1))
    op = order_parameters(out["t"], out["nu_E"], out["nu_I"], out["x"], speed=speed, rms=rms,
                          lambda_max=lambda_max, gain=net.gain, excitatory=out["neurons"] < net.N_E)
    return classify(op), op


def test_final_speed_is_the_vector_field():
    """final_speed == RMS of -x + J tanh(x) with realization k's couplings (1e-12); 0 at x = 0."""
    net, sim = NetworkParams(N=80, g=1.5, J0=1.0), _small(realizations=3)
    x = np.random.default_rng(4).standard_normal((3, 2, 80))
    s = final_speed(net, sim, [0, 1, 2], x)
    for k in range(3):
        J = realization_couplings(net, sim.seed, k)
        v = -x[k] + np.tanh(x[k]) @ J.T
        np.testing.assert_allclose(s[k], np.sqrt(np.mean(v * v, axis=-1)), rtol=1e-12)
    assert np.all(final_speed(net, sim, [0, 1, 2], np.zeros((3, 1, 80))) == 0)


def test_locate_fixed_point_newton():
    """Balanced g = 0.5, J0 = 2 (N = 200, seed 9): realization 2 (a real outlier eigenvalue 1.69 of
    J, checked) settles on a non-trivial fixed point.  Newton from its final state and from that state + 0.05 noise converges to the same
    x* (1e-8) with RMS residual < 1e-10 and RMS(x*) = O(1); from a small state of an SCS g = 0.5
    network it finds x* = 0 (< 1e-12)."""
    net = NetworkParams(N=200, g=0.5, J0=2.0)
    sim = _small(realizations=3, seed=9, T=150.0)
    ev = np.linalg.eigvals(realization_couplings(net, sim.seed, 2))
    assert ev[np.argmax(ev.real)].imag == 0 and ev.real.max() > 1.5
    out = simulate(net, sim, ids=[2])
    x_end = out["final_state"][0, 0]
    xs, ok = locate_fixed_point(net, sim, 2, x_end)
    assert ok and np.sqrt(np.mean(xs**2)) > 0.3
    J = realization_couplings(net, sim.seed, 2)
    assert np.sqrt(np.mean((-xs + J @ np.tanh(xs)) ** 2)) < 1e-10
    np.testing.assert_allclose(xs, x_end, atol=1e-8)
    xp_, ok2 = locate_fixed_point(net, sim, 2, x_end + 0.05 * np.random.default_rng(0).standard_normal(200))
    assert ok2
    np.testing.assert_allclose(xp_, xs, atol=1e-8)
    scs = NetworkParams(N=200, g=0.5, J0=0.0)
    x0, ok3 = locate_fixed_point(scs, sim, 0, 0.01 * np.random.default_rng(1).standard_normal(200))
    assert ok3 and np.abs(x0).max() < 1e-12


def test_scs_below_one_decays(xp):
    """SCS g = 0.5 (all eigenvalues of J inside |z| <= ~0.5 < 1): every realization decays."""
    labels, op = _labels(NetworkParams(N=100, g=0.5, J0=0.0), _small(), xp)
    assert np.all(labels == DECAY), labels
    assert np.all(op["rms"] < 1e-6)


def test_scs_g2_is_chaotic(xp):
    """SCS g = 2, N = 400: every realization chaotic (periodicity rule, no Lyapunov file):
    activity keeps moving and neither the population nor the neurons recur one period later.
    (Finite size matters: at N = 100 two of these four realizations settle on a fixed point
    and others on limit cycles with lambda_max ~ 0, measured; N = 400 is chaotic for seeds 5-7.)"""
    labels, op = _labels(NetworkParams(N=400, g=2.0, J0=0.0), _small(T=150.0), xp)
    assert np.all(labels == CHAOS), (labels, op["recurrence_x"])
    assert np.all(op["speed"] > 0.1)
    assert np.all(op["synchrony"] < 0.3)  # asynchronous (SCS)


def test_balanced_g_half_follows_linear_stability(xp):
    """Balanced network, g = 0.5, J0 = 2, N = 200, 6 realizations: x = 0 is stable iff every
    eigenvalue of J has Re < 1 (phi'(0) = 1).  Realizations with max Re < 1 decay; those whose
    leading eigenvalue is a real outlier > 1 settle on a non-trivial fixed point (speed < 1e-3,
    rms = O(1)); a complex leading pair with Re > 1 oscillates (DESIGN notes)."""
    net = NetworkParams(N=200, g=0.5, J0=2.0)
    sim = _small(realizations=6, seed=1, T=150.0)
    labels, op = _labels(net, sim, xp)
    expected = []
    for k in range(6):
        ev = eigenvalues(realization_couplings(net, sim.seed, k))
        lead = ev[0]
        if lead.real < 1:
            expected.append(DECAY)
        elif abs(lead.imag) < 1e-9:
            expected.append(FIXED_POINT)
        else:
            expected.append(OSCILLATION)
    assert labels[:, 0].tolist() == expected
    assert {DECAY, FIXED_POINT} <= set(expected)  # the draw shows the realization dependence


# -- phase diagram over a sweep ------------------------------------------------------------


def _write_run(path, g, J0, N=60, T=40.0, realizations=2):
    from balnet.commands.simulate import run_simulation

    net = from_mapping(NetworkParams, dict(N=N, g=g, J0=J0))
    sim = _small(T=T, t_warmup=10.0, realizations=realizations, n_record=8)
    run_simulation(net, sim, path)


def _write_lyap(path, g, J0, lam, micro, macro, k=3):
    """A file following the `balnet lyapunov` output contract, with given values."""
    lam = np.asarray(lam, float)
    R, B = lam.shape
    W = micro.shape[-1]
    net = from_mapping(NetworkParams, dict(N=60, g=g, J0=J0))
    with H5Writer(path, kind="lyapunov", params={"network": net, "simulation": _small(realizations=R)},
                  root_seed=5, realization_ids=range(R), t_ons=1.0, t_window=5.0, k=k, macro_method="test") as w:
        w.coord("realization", np.arange(R))
        w.coord("trial", np.arange(B))
        w.coord("exponent", np.arange(k))
        w.coord("window", np.arange(W))
        w.variable("window_end", 5.0 * (np.arange(W) + 1), dims=("window",), units="tau")
        spec = lam[..., None] - np.arange(k)[None, None, :] * 0.1
        w.variable("spectrum", spec, dims=("realization", "trial", "exponent"), units="1/tau")
        w.variable("lambda_max", lam, dims=("realization", "trial"), units="1/tau")
        w.variable("ftle_micro", micro, dims=("realization", "trial", "window"), units="1/tau")
        w.variable("ftle_macro", macro, dims=("realization", "trial", "window"), units="1/tau")
        w.variable("convergence", np.zeros_like(micro), dims=("realization", "trial", "window"), units="1/tau")
        w.variable("trace_jacobian_mean", np.full((R, B), -60.0), dims=("realization", "trial"), units="1/tau")


def test_sweep_grid_places_points_and_rejects_duplicates():
    ps = [dict(g=2.0, J0=0.0, N=5), dict(g=0.5, J0=1.0, N=5), dict(g=0.5, J0=0.0, N=5)]
    full = ps + [dict(g=2.0, J0=1.0, N=5)]
    names, values, index = sweep_grid(full)
    assert names == ["J0", "g"] and values == [[0.0, 1.0], [0.5, 2.0]]
    assert index == [(0, 1), (1, 0), (0, 0), (1, 1)]
    names, values, index = sweep_grid(ps, ["g", "J0"])  # a named sweep may leave points out
    assert index == [(1, 0), (0, 1), (0, 0)]
    with pytest.raises(ConfigError, match="do not fill the grid"):
        sweep_grid(ps)  # without --sweep, a hole means files of different sweeps
    with pytest.raises(ConfigError, match=r"differ in N \(5, 6\), which is not swept"):
        sweep_grid(full + [dict(g=0.5, J0=2.0, N=6)], ["g", "J0"])
    with pytest.raises(ConfigError, match="same sweep point"):
        sweep_grid(ps + [dict(g=2.0, J0=0.0, N=5)])
    with pytest.raises(ConfigError, match="not a parameter"):
        sweep_grid(ps, ["h"])


def test_phase_diagram_file(tmp_path):
    """Three of four points of a 2 x 2 (g, J0) grid, with Lyapunov files: fractions sum to 1 at
    present points, are nan at the missing one (labels -1); lambda_max comes from the Lyapunov
    file and decides chaos; dims are dimension scales that xarray reads; the CLI writes the
    same file and a figure."""
    import xarray as xr

    runs, lyaps = [], []
    for g, J0 in [(0.5, 0.0), (2.0, 0.0), (2.0, 1.0)]:
        p = tmp_path / f"run_{g}_{J0}.h5"
        _write_run(p, g, J0)
        runs.append(p)
        lam = np.full((2, 1), 0.3 if g > 1 else -0.5)
        q = tmp_path / f"lyap_{g}_{J0}.h5"
        micro = lam[..., None] + np.array([-0.02, 0.01, 0.02, -0.01])  # mean lam, t-interval half-width 0.03
        _write_lyap(q, g, J0, lam, micro, np.zeros((2, 1, 4)))
        lyaps.append(q)
    pd = phase_diagram(runs, lyaps, sweep=["g", "J0"])
    assert pd["dims"] == ["g", "J0"]
    assert pd["fractions"].shape == (2, 2, len(PHASES))
    np.testing.assert_allclose(np.nansum(pd["fractions"], axis=-1)[[0, 1, 1], [0, 0, 1]], 1.0)
    assert np.all(np.isnan(pd["fractions"][0, 1])) and np.all(pd["labels"][0, 1] == -1)
    assert np.all(pd["labels"][0, 0] == DECAY)
    assert np.all(pd["labels"][1, 0] == CHAOS) and np.all(pd["lambda_max"][1, 0] == 0.3)
    out = tmp_path / "pd.h5"
    write_phase_diagram(pd, out)
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert ds["fractions"].dims == ("g", "J0", "phase")
    assert ds["labels"].dims == ("g", "J0", "realization", "trial")
    assert ds["g"].values.tolist() == [0.5, 2.0] and ds["speed"].attrs["units"] == "1/tau"
    assert [str(v) for v in ds["phase_name"].values] == list(PHASES)
    # phase names are the coordinate: select by name; integer labels index the same list
    assert [str(v) for v in ds["phase"].values] == list(PHASES)
    assert float(ds.fractions.sel(g=2.0, J0=0.0, phase="chaos")) == 1.0
    assert float(ds.fractions.sel(g=0.5, J0=0.0, phase="decay")) == 1.0
    assert ds["phase_index"].values.tolist() == list(range(len(PHASES)))
    # Wilson 95 % interval of 2 of 2 (exact): [n / (n + z^2), 1] with z = 1.959964
    z2 = 1.959963984540054**2
    assert float(ds.fractions_lo.sel(g=2.0, J0=0.0, phase="chaos")) == pytest.approx(2 / (2 + z2), rel=1e-9)
    assert float(ds.fractions_hi.sel(g=2.0, J0=0.0, phase="chaos")) == 1.0
    assert float(ds.fractions_hi.sel(g=2.0, J0=0.0, phase="decay")) == pytest.approx(z2 / (2 + z2), rel=1e-9)
    assert int(ds.counts.sel(g=2.0, J0=0.0, phase="chaos")) == 2
    ds.close()
    fig = tmp_path / "pd.png"
    r = cli("reduce", "phases", *map(str, runs), "--lyapunov", *map(str, lyaps), "--sweep", "g", "J0",
            "--set", "speed_tol=1e-4", "-o", str(tmp_path / "pd2.h5"), "--figure", str(fig))
    assert r.returncode == 0, r.stderr
    a, attrs = read(tmp_path / "pd2.h5", ["labels"])
    assert np.array_equal(a["labels"], pd["labels"])
    assert json.loads(attrs["phases"]) == list(PHASES) and attrs["params"]["criteria"]["speed_tol"] == 1e-4
    # the pies show exactly the classes the file holds: decay (grey) at (0.5, 0), chaos (red) at g = 2,
    # and whatever the simulated runs at (2, 1) settled to; no colour of an absent class inside the axes
    # (the legend sits outside them; undetermined's pale colour is too close to the background to test)
    from balnet.engine.figures import PHASE_COLORS

    present = {PHASES[k] for k in np.unique(a["labels"]) if k >= 0}
    assert {"decay", "chaos"} <= present
    check_png(fig, 2, colors=tuple(PHASE_COLORS[p] for p in present if p != "undetermined"),
              absent=tuple(c for p, c in PHASE_COLORS.items() if p not in present and p != "undetermined"))


def test_lyapunov_statistics_exact(tmp_path):
    """Mean/std/min/max of lambda_max, fraction positive and FTLE means/stds equal numpy on the
    inputs (1e-12); histogram densities integrate to 1; one-parameter sweep; figures drawn."""
    rng = np.random.default_rng(6)
    files, raw = [], {}
    for g in (1.0, 2.0, 3.0):
        lam = rng.normal(0.1 * g - 0.15, 0.05, (3, 2))
        micro = lam[..., None] + rng.normal(0, 0.02, (3, 2, 5))
        macro = micro - 0.05
        p = tmp_path / f"l{g}.h5"
        _write_lyap(p, g, 1.0, lam, micro, macro)
        files.append(p)
        raw[g] = (lam, micro, macro)
    st = lyapunov_statistics(files, bins=20)
    assert st["dims"] == ["g"]
    for i, g in enumerate((1.0, 2.0, 3.0)):
        lam, micro, macro = raw[g]
        assert st["lambda_max_mean"][i] == pytest.approx(lam.mean(), abs=1e-12)
        assert st["lambda_max_std"][i] == pytest.approx(lam.std(), abs=1e-12)
        assert st["lambda_max_min"][i] == lam.min() and st["lambda_max_max"][i] == lam.max()
        assert st["fraction_positive"][i] == pytest.approx(np.mean(lam > 0), abs=1e-12)
        assert st["ftle_micro_mean"][i] == pytest.approx(micro.mean(), abs=1e-12)
        assert st["ftle_macro_std"][i] == pytest.approx(macro.std(), abs=1e-12)
        np.testing.assert_allclose(st["spectrum_mean"][i], (lam[..., None] - 0.1 * np.arange(3)).mean(axis=(0, 1)), atol=1e-12)
        for kind in ("micro", "macro"):
            assert np.sum(st[f"hist_{kind}"][i] * np.diff(st["edges"])) == pytest.approx(1.0, abs=1e-12)
    out = tmp_path / "ls.h5"
    r = cli("reduce", "lyapunov", *map(str, files), "--bins", "20", "-o", str(out),
            "--figure", str(tmp_path / "ls.png"), "--histograms", str(tmp_path / "h.png"))
    assert r.returncode == 0, r.stderr
    a, attrs = read(out)
    assert attrs["kind"] == "lyapunov_stats" and a["hist_micro"].shape == (3, 20)
    np.testing.assert_allclose(a["lambda_max_mean"], st["lambda_max_mean"], atol=1e-15)
    check_png(tmp_path / "ls.png", 3)
    check_png(tmp_path / "h.png", 3)  # one histogram panel per g, the 4th of the 2 x 2 grid off
    # a 2-parameter sweep draws too (grid of histograms, one line per J0)
    _write_lyap(tmp_path / "extra.h5", 1.0, 2.0, raw[1.0][0], raw[1.0][1], raw[1.0][2])
    r = cli("reduce", "lyapunov", *map(str, files), str(tmp_path / "extra.h5"), "--sweep", "g", "J0", "-o",
            str(tmp_path / "ls2.h5"), "--figure", str(tmp_path / "ls2.png"), "--histograms", str(tmp_path / "h2.png"))
    assert r.returncode == 0, r.stderr
    assert read(tmp_path / "ls2.h5", ["hist_macro"])[0]["hist_macro"].shape == (3, 2, 40)


def test_reduce_bad_input_exit_2(tmp_path):
    """Wrong file kinds and unknown thresholds: one line on stderr, exit 2, no output file."""
    _write_run(tmp_path / "run.h5", 1.5, 0.0, T=10.0)
    out = tmp_path / "o.h5"
    for args, msg in [
        (["lyapunov", str(tmp_path / "run.h5")], "expected a 'lyapunov' file"),
        (["phases", str(tmp_path / "run.h5"), "--set", "speed_tl=1"], "did you mean 'speed_tol'"),
        (["phases", str(tmp_path / "nope.h5")], "no such file"),
        (["phases", str(tmp_path / "run.h5"), "--late-fraction", "2"], "late_fraction"),
    ]:
        r = cli("reduce", *args, "-o", str(out))
        assert r.returncode == 2, r.stderr
        assert msg in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert not out.exists()


@pytest.mark.slow  # ~ 80 s on 2 busy cores
def test_lyapunov_marks_divergent_trajectories(tmp_path):
    """relu SCS, g = 2, N = 60, seed 3: `balnet lyapunov` stops the trajectories whose state blows up,
    flags them in the file (`divergent`, by realization id), warns naming them, and reports nan
    exponents for them (not a finite lambda).  Oracle: the simulator, an independent integration
    of the same realizations, ends with non-finite or RMS > 1e6 states for exactly those."""
    args = ["--N", "60", "--g", "2.0", "--J0", "0", "--gain", "relu", "--realizations", "6", "--seed", "3",
            "--T", "40", "--t-warmup", "10", "--dt", "0.05", "--backend", "numpy"]
    r = cli("lyapunov", *args, "--k", "2", "--t-window", "10", "--t-warmup-tangent", "5", "-o", str(tmp_path / "l.h5"))
    assert r.returncode == 0, r.stderr
    a, _ = read(tmp_path / "l.h5", ["divergent", "lambda_max", "realization"])
    div = a["divergent"][:, 0].astype(bool)
    assert 0 < div.sum() < 6  # some diverge, some do not: the flag is per trajectory
    assert np.all(np.isnan(a["lambda_max"][div, 0])) and np.all(np.isfinite(a["lambda_max"][~div, 0]))
    assert "diverged" in r.stderr and all(f"realization {k} trial 0" in r.stderr for k in np.nonzero(div)[0])
    # same trajectory over the same 10 + 5 + 40 tau (trajectory warm-up, frame warm-up, measurement)
    r = cli("simulate", *args, "--T", "45", "-o", str(tmp_path / "s.h5"))
    assert r.returncode == 0, r.stderr
    s, _ = read(tmp_path / "s.h5", ["final_state"])
    with np.errstate(all="ignore"):
        rms = np.sqrt(np.mean(s["final_state"][:, 0].astype(float) ** 2, axis=-1))
    blown = ~np.isfinite(rms) | (rms > 1e6)
    assert blown.tolist() == div.tolist(), rms


def _chaos_case(tmp_path, N, R, T, t_warmup):
    run, pd = tmp_path / "r.h5", tmp_path / "pd.h5"
    r = cli("simulate", "--N", str(N), "--g", "1.5", "--J0", "0", "--realizations", str(R), "--T", str(T),
            "--t-warmup", str(t_warmup), "-o", str(run))
    assert r.returncode == 0, r.stderr
    r = cli("reduce", "phases", str(run), "-o", str(pd))
    assert r.returncode == 0, r.stderr
    a, _ = read(pd, ["fractions", "fractions_lo", "fractions_hi", "labels"])
    return a["fractions"], a["labels"]


@pytest.mark.slow  # ~ 2-4 min on 2 busy cores
def test_issue18_scs_chaos_not_decay(tmp_path):
    """Issue 18's case: SCS g = 1.5, J0 = 0, N = 500, 8 realizations, T = 200 after 150 of warm-up, no
    Lyapunov file.  Oracle: the SCS network at g = 1.5 > 1 has x = 0 unstable (eigenvalues of J fill the
    disk of radius 1.5), so no trajectory can decay; DMFT (N -> inf) gives chaos with lambda_max ~ 0.04;
    finite N = 500 leaves a few realizations at stable fixed points (measured: realization 7 of seed 0,
    lambda_max -0.019 [-0.021, -0.017]).  Required: no decay, chaos >= 0.6 (was decay 0.125, chaos 0.625)."""
    fr, labels = _chaos_case(tmp_path, 500, 8, 200, 150)
    assert fr[..., DECAY].max() == 0.0, labels
    assert fr[..., CHAOS].min() >= 0.6, (fr, labels)


def test_scs_chaos_not_decay_small(tmp_path):
    """Fast version of the issue 18 case (N = 200, 4 realizations, T = 100 after 50): x = 0 is unstable
    at g = 1.5 (oracle: the circular law, radius 1.5 > 1), so no trajectory may be labelled decay,
    and most are chaotic."""
    fr, labels = _chaos_case(tmp_path, 200, 4, 100, 50)
    assert fr[..., DECAY].max() == 0.0, labels
    assert fr[..., CHAOS].min() >= 0.5, (fr, labels)


# -- common random numbers vs independent draws across sweep points --------------------------------


def test_point_seed_independent_draws():
    """point_seed: deterministic, independent of the key order, distinct for distinct points; with
    it realization 0's couplings differ between two points in their random part z, while with the
    common root seed (default) z is identical (oracle: J - J0 u w^T / sqrt(N) rescaled by g)."""
    from balnet.engine.sweep import point_seed

    a, b = dict(g=1.5, J0=0.0), dict(J0=0.0, g=1.5)
    assert point_seed(1, a) == point_seed(1, b)
    seeds = {point_seed(1, dict(g=g, J0=j)) for g in (0.5, 1.0, 2.0) for j in (0.0, 1.0, 2.0)}
    assert len(seeds) == 9 and point_seed(2, a) != point_seed(1, a)

    def z(g, seed):
        net = NetworkParams(N=40, g=g, J0=0.0)
        return realization_couplings(net, seed, 0) / g

    np.testing.assert_allclose(z(1.0, 1), z(2.0, 1), rtol=1e-12)  # common random numbers
    za, zb = z(1.0, point_seed(1, dict(g=1.0))), z(2.0, point_seed(1, dict(g=2.0)))
    assert abs(np.corrcoef(za.ravel(), zb.ravel())[0, 1]) < 0.1  # independent draws (1600 entries)


@pytest.mark.slow  # snakemake dry run, ~ 20 s
def test_independent_points_in_pipeline(wf):
    """`independent_points: true` gives each sweep point its own root seed in the simulate and
    lyapunov jobs (the same one for both), absent from the default dry run."""
    from snakeutil import needs_snakemake, smk  # noqa: F401

    from balnet.engine.sweep import point_seed

    cfg = wf / "ind.yaml"
    cfg.write_text("independent_points: true\n")
    out = smk(wf, "-n", "-p", "--cores", "2", "--configfile", str(cfg)).stdout
    s = point_seed(1, dict(g=2.0, J0=1.0))
    sims = [ln for ln in out.splitlines() if "balnet simulate" in ln and "--set=g=2.0 --set=J0=1.0" in ln]
    lyas = [ln for ln in out.splitlines() if "balnet lyapunov" in ln and "--set=g=2.0 --set=J0=1.0" in ln]
    assert sims and lyas and all(f"--set=seed={s}" in ln for ln in sims + lyas)
    out0 = smk(wf, "-n", "-p", "--cores", "2").stdout
    assert f"--set=seed={s}" not in out0 and "--set=seed=1" in out0


# -- validation against a reference labelling from long runs (small version of docs/phases.md) ---------


@pytest.mark.slow  # ~ 2 min on 2 busy cores
def test_validation_small(tmp_path):
    """Small version of the validation in docs/phases.md (bench/phase_validation.py): SCS N = 100,
    g = 0.5 and 2.0, 4 realizations, T = 60, reference runs to 600 with lambda_max over 600 tau.
    Oracles: at g = 0.5 every eigenvalue of J lies inside |z| < 1 (circular law; checked), so the
    reference must be decay for all and agree with the eigenvalue prediction (no conflict); at
    g = 2.0 the long-run lambda_max interval decides.  Required of the classifier: decay recall 1
    and precision 1 with and without Lyapunov files; no reference-chaotic trajectory labelled decay or
    fixed point; with Lyapunov files, precision of chaos 1 (a positive interval is chaos)."""
    from balnet.chaos.lyapunov import LyapunovParams
    from balnet.commands.lyapunov import run_lyapunov
    from balnet.commands.simulate import run_simulation
    from balnet.phases.validation import evaluate_grid, markdown_tables, reference_labels

    dirs = []
    for g in (0.5, 2.0):
        d = tmp_path / f"g~{g}" / "J0~0"
        d.mkdir(parents=True)
        net = from_mapping(NetworkParams, dict(N=100, g=g, J0=0.0))
        for pre, T, tw in (("", 60.0, 10.0), ("ref_", 600.0, 20.0)):
            sim = from_mapping(SimulationParams, dict(T=T, t_warmup=20.0, dt=0.1, n_record=16, realizations=4, seed=2,
                                                      backend="numpy"))
            run_simulation(net, sim, d / f"{pre}run.h5")
            run_lyapunov(net, sim, from_mapping(LyapunovParams, dict(k=1, t_window=tw, macro_method="gain")),
                         d / f"{pre}lyap.h5")
        dirs.append(d)
    ev = [eigenvalues(realization_couplings(NetworkParams(N=100, g=0.5, J0=0.0), 2, k)) for k in range(4)]
    assert max(abs(e).max() for e in ev) < 1
    ref = reference_labels(dirs[0] / "ref_run.h5", dirs[0] / "ref_lyap.h5")
    assert np.all(ref["labels"] == DECAY) and ref["conflicts"] == 0
    res = evaluate_grid(dirs)
    print(markdown_tables(res))
    for key in ("without", "with_lyapunov"):
        s = res[key]
        assert s["decay"]["recall"] == 1.0 and s["decay"]["precision"] == 1.0, (key, s["decay"])
        C = np.asarray(s["confusion"])
        assert C[CHAOS, DECAY] == 0 and C[CHAOS, FIXED_POINT] == 0, (key, C)
    assert res["with_lyapunov"]["chaos"]["precision"] in (1.0,) or res["with_lyapunov"]["chaos"]["n_label"] == 0
    assert res["n_reference"] >= 6
