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
    chi ~ N^-1/2 (here 0.5 N^-1/2 < chi < 2 N^-1/2, N = 400)."""
    dt, N = 0.1, 400
    t = np.arange(0, 200, dt)
    rng = np.random.default_rng(3)
    for phases, lo, hi in ((np.zeros(N), 1 - 1e-12, 1 + 1e-12), (rng.uniform(0, 2 * np.pi, N), 0.5 / np.sqrt(N), 2 / np.sqrt(N))):
        x = 0.8 * np.sin(2 * np.pi * t[:, None] / 10.0 + phases[None, :])  # (n, N)
        r = np.tanh(x)
        nu = r.mean(axis=1)[None, None]
        op = order_parameters(t, nu, nu, x[None, None], speed=np.ones((1, 1)), rms=np.ones((1, 1)))
        assert lo < op["synchrony"][0, 0] < hi
        assert op["period"][0, 0] == pytest.approx(10.0, rel=0.05) or phases.any()


# -- classifier on constructed order parameters ------------------------------------------


def _op(**kw):
    base = dict(speed=0.5, rms=1.0, std_nu=0.2, var_x=1.0, synchrony=0.5, trend=0.0, f_peak=0.1, period=10.0,
                coherence=0.9, recurrence_pop=0.2, recurrence_x=0.2, lambda_max=np.nan)
    base.update(kw)
    return {k: np.atleast_1d(np.asarray(v, float)) for k, v in base.items()}


@pytest.mark.parametrize(
    "kw,label",
    [
        (dict(speed=1e-12, rms=1e-9), DECAY),
        (dict(speed=1e-12, rms=0.8), FIXED_POINT),
        (dict(speed=5e-4, rms=5e-3, lambda_max=-0.03), DECAY),  # slow decay, still below both tolerances
        (dict(speed=5e-4, rms=0.04, lambda_max=-0.02), DECAY),  # s/rho = 0.0125 >= 0.02/2: heading to x = 0
        (dict(speed=5e-4, rms=0.8, lambda_max=-0.02), FIXED_POINT),  # s/rho << 0.01: at x* != 0
        (dict(speed=0.02, rms=0.05, trend=-0.03, lambda_max=-0.03), DECAY),  # converging to 0
        (dict(speed=0.01, rms=1.5, trend=-0.03, lambda_max=-0.03), FIXED_POINT),  # converging to x* != 0
        (dict(speed=0.02, rms=0.05, trend=-0.03), DECAY),  # same without lambda: rate from the trend
        (dict(trend=-0.03, lambda_max=0.2), CHAOS),  # chaos wins over a shrinking amplitude
        (dict(trend=-0.003, lambda_max=0.0), CYCLE),  # decays slower than trend_tol: not classified as converging
        (dict(recurrence_pop=0.99, recurrence_x=0.99, synchrony=0.6), OSCILLATION),
        (dict(recurrence_pop=0.99, recurrence_x=0.99, synchrony=0.6, lambda_max=0.001), OSCILLATION),
        (dict(recurrence_pop=0.99, recurrence_x=0.99, synchrony=0.05), CYCLE),  # periodic but asynchronous
        (dict(recurrence_pop=0.99, synchrony=0.6, std_nu=1e-5), CYCLE),  # population does not move
        (dict(), CHAOS),  # no lambda: nothing recurs -> chaos
        (dict(lambda_max=0.2, recurrence_pop=0.99, synchrony=0.6), CHAOS),  # lambda wins over recurrence
        (dict(lambda_max=0.0), CYCLE),  # non-chaotic, moving, not a coherent rhythm
        (dict(rms=np.inf), DIVERGENT),
        (dict(speed=np.nan), DIVERGENT),
        (dict(rms=1e7, speed=1e-12), DIVERGENT),
    ],
)
def test_classify_rules(kw, label):
    assert classify(_op(**kw))[0] == label, PHASES[label]


def test_criteria_validation():
    with pytest.raises(ConfigError, match="late_fraction"):
        from_mapping(PhaseCriteria, {"late_fraction": 0})
    with pytest.raises(ConfigError, match="did you mean 'speed_tol'"):
        from_mapping(PhaseCriteria, {"speed_tl": 1})
    c = from_mapping(PhaseCriteria, {"speed_tol": "1e-6"})
    assert classify(_op(speed=1e-5, rms=1.0), c)[0] != FIXED_POINT


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
    """Balanced g = 0.5, J0 = 2 (N = 200, seed 1): realization 2 settles on a non-trivial fixed
    point.  Newton from its final state and from that state + 0.05 noise converges to the same
    x* (1e-8) with RMS residual < 1e-10 and RMS(x*) = O(1); from a small state of an SCS g = 0.5
    network it finds x* = 0 (< 1e-12)."""
    net = NetworkParams(N=200, g=0.5, J0=2.0)
    sim = _small(realizations=3, seed=1, T=150.0)
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
        _write_lyap(q, g, J0, lam, np.zeros((2, 1, 4)), np.zeros((2, 1, 4)))
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
    ds.close()
    fig = tmp_path / "pd.png"
    r = cli("reduce", "phases", *map(str, runs), "--lyapunov", *map(str, lyaps), "--sweep", "g", "J0",
            "--set", "speed_tol=1e-4", "-o", str(tmp_path / "pd2.h5"), "--figure", str(fig))
    assert r.returncode == 0, r.stderr
    a, attrs = read(tmp_path / "pd2.h5", ["labels"])
    assert np.array_equal(a["labels"], pd["labels"])
    assert json.loads(attrs["phases"]) == list(PHASES) and attrs["params"]["criteria"]["speed_tol"] == 1e-4
    # decay (grey) at (0.5, 0), chaos (red) at g = 2; no other phase colour inside the axes
    # (fixed point #4575b4, oscillation #1a9850, cycle #fdae61, divergent #252525)
    check_png(fig, 2, colors=("#bdbdbd", "#d73027"), absent=("#4575b4", "#1a9850", "#fdae61", "#252525"))


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
