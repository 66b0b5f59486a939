"""Reservoir computing on balanced networks: discretization, benchmarks against published values,
FORCE, memory capacity, learning-curve runs, selection / pre-training, CLI and MPI."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from balnet.engine.backend import to_numpy
from balnet.engine.io import read
from balnet.engine.params import ConfigError, NetworkParams, from_mapping
from balnet.learning.pretrain import (
    pretrain_networks,
    select_index,
    select_lowest,
    tuned_couplings,
)
from balnet.learning.readout import ridge_fit
from balnet.learning.reservoir import (
    LearnParams,
    Reservoir,
    build_reservoir,
    force_learn,
    input_weights,
    learning_run,
    rescale_spectral_radius,
    spectral_radius,
    trial_states,
)
from balnet.learning.tasks import (
    _masked,
    memory_capacity,
    memory_task,
    narma10,
    nrmse,
    sines,
)
from balnet.model.dynamics import Gain, RateNetwork
from balnet.model.network import realization_couplings


def test_euler_dt1_is_the_classical_esn(xp):
    # x_{n+1} = J phi(x_n) + W_in^T u_n  <=>  r_{n+1} = tanh(J r_n + W_in^T u_n)
    net = NetworkParams(N=30, g=0.9, J0=1.0)
    res = build_reservoir(net, [0, 1], 7, n_in=2, input_scale=0.5, dt=1.0, xp=xp)
    u = np.random.default_rng(0).uniform(-1, 1, (2, 3, 40, 2))
    x0 = trial_states(30, [0, 1], 0, 3, 7, 0.5, np, np.float64)
    S, _ = res.run(xp.asarray(u), xp.asarray(x0))
    J = np.stack([realization_couplings(net, 7, k) for k in (0, 1)])
    W = np.stack([input_weights(7, k, 2, 30, 0.5) for k in (0, 1)])
    r = np.tanh(x0)
    for n in range(40):
        r = np.tanh(r @ np.swapaxes(J, 1, 2) + u[:, :, n] @ W)
        np.testing.assert_allclose(to_numpy(S[:, :, n]), r, rtol=1e-12, atol=1e-13)
    # dt < 1: leaky integrator x_{n+1} = (1 - dt) x_n + dt (J phi(x_n) + W_in^T u_n)
    leaky = build_reservoir(net, [0], 7, n_in=2, input_scale=0.5, dt=0.3, xp=xp)
    S2, _ = leaky.run(xp.asarray(u[:1]), xp.asarray(x0[:1]))
    x = x0[:1]
    for n in range(40):
        x = 0.7 * x + 0.3 * (np.tanh(x) @ J[:1].transpose(0, 2, 1) + u[:1, :, n] @ W[:1])
        np.testing.assert_allclose(to_numpy(S2[:, :, n]), np.tanh(x), rtol=1e-12, atol=1e-13)


def test_weights_come_from_spawned_streams():
    net = NetworkParams(N=20)
    a = build_reservoir(net, [0, 1, 2], 3, n_in=2, n_out=1, feedback_scale=1.0, xp=np)
    b = build_reservoir(net, [2], 3, n_in=2, n_out=1, feedback_scale=1.0, xp=np)
    np.testing.assert_array_equal(a.W_in[2], b.W_in[0])
    np.testing.assert_array_equal(a.W_fb[2], b.W_fb[0])
    # realization k of seed s is not realization k+1 of seed s-1 (no seed + k)
    assert not np.array_equal(input_weights(3, 1, 2, 20, 1.0), input_weights(4, 0, 2, 20, 1.0))
    assert np.abs(a.W_in).max() <= 1.0


def _narma_nrmse(N, R=4, n_train=2000, n_test=1000):
    net = NetworkParams(N=N, g=0.8, J0=0.0)  # classical random tanh reservoir, spectral radius ~0.8
    ids = list(range(R))
    res = build_reservoir(net, ids, 0, n_in=1, input_scale=0.5, dt=1.0, xp=np)
    ds = [narma10(np.random.default_rng([k, 5]), n_train, n_test) for k in ids]
    u, y = np.stack([d.u_train for d in ds]), np.stack([d.y_train for d in ds])
    ut, yt = np.stack([d.u_test for d in ds]), np.stack([d.y_test for d in ds])
    x0 = np.zeros((R, 1, N))
    S, _ = res.run(u, x0)
    St, _ = res.run(ut, x0)
    m = ds[0].mask_train
    ro = ridge_fit(_masked(S, m, np), _masked(y, m, np), 1e-6)
    return nrmse(ro.predict(St), yt, ds[0].mask_test)[:, 0]


def test_narma10_error_falls_with_N():
    """ESN (dt=1, tanh, g=0.8, input U[-0.5,0.5] weights, ridge 1e-6, 2000 training samples), 4 realizations.

    Measured mean test NRMSE 0.31 (N=100), 0.23 (N=200), 0.16 (N=400): the reference values
    ~0.3 / 0.2 / 0.16 of the literature.  Bounds: 0.36 / 0.26 / 0.20 and strictly decreasing."""
    e = {N: _narma_nrmse(N).mean() for N in (100, 200, 400)}
    assert e[100] < 0.36 and e[200] < 0.26 and e[400] < 0.20, e
    assert e[100] > e[200] > e[400], e


def _period(s, dt):
    """Period from the first autocorrelation peak after its first zero crossing."""
    s = s - s.mean()
    ac = np.correlate(s, s, "full")[len(s) - 1 :]
    i0 = int(np.argmax(ac < 0))
    return (i0 + int(np.argmax(ac[i0:]))) * dt


def test_force_learns_and_holds_sum_of_sines():
    """FORCE (Sussillo & Abbott 2009): SCS reservoir N=300, g=1.5, feedback U[-1,1], alpha=1,
    dt=0.1 tau, RLS every 2 steps, target = 4 harmonics of a 20-tau period, 600 tau of training,
    then 5 periods of free running with the readout frozen.  Measured (seed 0, 4 realizations, the
    row-block J of format 2): free-running NRMSE 0.480, 0.013, 0.083, 0.008.  With the J of format 1
    it was 0.046, 0.071, 0.013, 0.221 (a phase lag: 0.081 after the best time shift), free-running
    period equal to the target's within 0.5 % and RMS amplitude within 0.6 %; NRMSE 1.4-1.8 when
    learning stops after a quarter of the time.  FORCE success is realization dependent (with seed 1
    of format 1, two of four realizations drifted to another attractor after learning stops), so the
    test asks for a median below 0.1 and at least 3 of 4 realizations below 0.3, and checks period,
    amplitude and shape on those."""
    dt, P = 0.1, 20.0
    net = NetworkParams(N=300, g=1.5, J0=0.0)
    ids = [0, 1, 2, 3]
    res = build_reservoir(net, ids, 0, n_in=0, n_out=1, feedback_scale=1.0, dt=dt, xp=np)
    ds = [sines(np.random.default_rng([k, 5]), 6000, 1000, delta=dt, period=P) for k in ids]
    ytr = np.stack([d.y_train[0] for d in ds])
    yte = np.stack([d.y_test[0] for d in ds])
    x0 = trial_states(300, ids, 0, 1, 0, 1.0, np, np.float64)
    r = force_learn(res, ytr, yte, x0, alpha=1.0, learn_every=2, checkpoints=[1500, 6000])
    assert r.readout.n_updates == 3000 and r.weight_change[:, 6000 - 2].min() > 0
    # while learning, the fed-back output follows the target (last quarter of training)
    tr = np.sqrt(((r.z_train[:, -1500:] - ytr[:, -1500:]) ** 2).mean(1) / ytr.var(1))[:, 0]
    assert np.all(tr < 0.15), tr
    final, early = r.test_nrmse[:, -1, 0], r.test_nrmse[:, 0, 0]
    ok = final < 0.3
    assert np.median(final) < 0.1 and ok.sum() >= 3, final
    assert np.all(final[ok] < 0.5 * early[ok]), (final, early)
    # after learning stops the network keeps generating the target: period, amplitude and shape
    z, y = r.z_test[..., 0], yte[..., 0]
    n = int(P / dt)
    for k in np.flatnonzero(ok):
        assert _period(z[k], dt) == pytest.approx(_period(y[k], dt), rel=0.02)
        assert z[k].std() == pytest.approx(y[k].std(), rel=0.1)
        tail = slice(len(y[k]) - 2 * n, len(y[k]))  # the last two of five periods
        aligned = min(np.sqrt(((np.roll(z[k], s)[tail] - y[k][tail]) ** 2).mean() / y[k].var())
                      for s in range(-n // 2, n // 2))
        assert aligned < 0.15, (k, aligned)


class _Linear(Gain):
    name = "linear"

    def phi(self, x, xp=np):
        return x

    def dphi(self, x, xp=np):
        return xp.ones_like(x)


def _mc(res, N, R, K=150, n_train=5000, alpha=1e-10):
    ds = [memory_task(np.random.default_rng([k, 5]), n_train, 2000, max_delay=K) for k in range(R)]
    u, y = np.stack([d.u_train for d in ds]), np.stack([d.y_train for d in ds])
    ut, yt = np.stack([d.u_test for d in ds]), np.stack([d.y_test for d in ds])
    x0 = np.zeros((R, 1, N))
    S, _ = res.run(u, x0)
    St, _ = res.run(ut, x0)
    ro = ridge_fit(_masked(S, ds[0].mask_train, np), _masked(y, ds[0].mask_train, np), alpha)
    return memory_capacity(ro.predict(St), yt, ds[0].mask_test)[0]


def test_memory_capacity_linear_orthogonal_vs_tanh():
    """Linear reservoir x_{n+1} = 0.9 Q x_n + w u_n (Q orthogonal, N=50, i.i.d. inputs): MC = N in
    theory (Jaeger 2001; White, Lee & Sompolinsky 2004); measured 48.7, 48.9, 48.7 (bounds 0.95 N
    .. N + 0.5, the slack for the finite test sample).  Tanh reservoirs hold less: measured
    20-22 (J0=0) and 6-9 (critically balanced J0=1) with input scale 0.1."""
    N, R = 50, 3
    J = np.stack([0.9 * np.linalg.qr(np.random.default_rng([k, 9]).standard_normal((N, N)))[0] for k in range(R)])
    W = np.stack([input_weights(0, k, 1, N, 1.0) for k in range(R)])
    lin = Reservoir(RateNetwork(J, _Linear(), xp=np), W, dt=1.0, xp=np)
    mc_lin = _mc(lin, N, R)
    assert np.all(mc_lin > 0.95 * N) and np.all(mc_lin < N + 0.5), mc_lin
    for J0 in (0.0, 1.0):
        res = build_reservoir(NetworkParams(N=N, g=0.8, J0=J0), list(range(R)), 0, n_in=1, input_scale=0.1, dt=1.0, xp=np)
        mc = _mc(res, N, R, alpha=1e-8)
        assert np.all(mc < 0.6 * N) and np.all(mc > 1.0), (J0, mc)


SMALL = dict(realizations=3, n_train=40, n_test=40, n_min=10, n_points=3, epochs=5, backend="numpy", t_pre=5, delay=8)


def test_learning_run_shapes_and_sample_independence():
    net = NetworkParams(N=60, g=0.8, J0=1.0)
    learn = from_mapping(LearnParams, SMALL)
    full = learning_run(net, learn)
    assert full["test_nrmse"].shape == (1, 3, 3) and full["accuracy"].shape == (1, 3, 3)
    np.testing.assert_array_equal(full["network_id"], [[0, 1, 2]])
    # a sample computed alone (as on another MPI rank) gives the same numbers
    one = learning_run(net, learn, [2])
    np.testing.assert_allclose(one["test_nrmse"][:, 0], full["test_nrmse"][:, 2], rtol=1e-10)
    # training more trials never makes the fit of the training set worse than chance
    assert np.all(full["train_nrmse"] <= 1.0 + 1e-9)


@pytest.mark.parametrize("readout,task,extra", [
    ("gpsgd", "narma10", dict(dt=1.0, substeps=1, input_scale=0.5, washout=20, n_train=300, n_min=50, epochs=40)),
    ("sgd", "memory", dict(dt=1.0, substeps=1, input_scale=0.2, max_delay=10, washout=20, n_train=300, n_min=50,
                           epochs=40, alpha=10.0)),
    ("force", "mackey_glass", dict(dt=1.0, substeps=1, washout=20, n_train=300, n_min=50)),
])
def test_learning_run_readouts(readout, task, extra):
    net = NetworkParams(N=40, g=0.8, J0=0.0)
    learn = from_mapping(LearnParams, {**SMALL, "realizations": 2, "readout": readout, "task": task, **extra})
    out = learning_run(net, learn)
    assert np.all(np.isfinite(out["test_nrmse"]))
    assert out["test_nrmse"][0, :, -1].mean() < 1.0  # better than the mean predictor
    if readout in ("sgd", "gpsgd"):
        assert out["epoch_test_nrmse"].shape == (1, 2, learn.epochs)
        # oracle: SGD on the objective ||X W - Y||^2 + alpha ||W||^2 converges to its closed-form minimizer,
        # the ridge readout with the same penalty on the same states (GP-SGD: the evidence estimate alpha)
        for s in range(2):
            ridge = from_mapping(LearnParams, {**SMALL, "realizations": 2, "readout": "ridge", "task": task, **extra,
                                               "alpha": float(out["sgd_alpha"][0, s])})
            ref = learning_run(net, ridge, [s])
            key = "memory_capacity" if task == "memory" else "test_nrmse"
            # measured: memory capacity within 1.1 % (plain, 40 epochs), NARMA10 NRMSE within 3.6 % (gp)
            np.testing.assert_allclose(out[key][0, s, -1], ref[key][0, 0, -1], rtol=0.05)


def test_learn_params_validation():
    with pytest.raises(ConfigError, match="task"):
        from_mapping(LearnParams, {"task": "narma"})
    with pytest.raises(ConfigError, match="sines"):
        from_mapping(LearnParams, {"task": "sines", "readout": "ridge"})
    with pytest.raises(ConfigError, match="did you mean"):
        from_mapping(LearnParams, {"select_pol": 2})
    lp = from_mapping(LearnParams, {"select_pool": 3, "pretrain": "true"})
    assert lp.conditions() == ["baseline", "select", "pretrain", "select+pretrain"]
    assert list(from_mapping(LearnParams, {"n_min": 10, "n_train": 1000, "n_points": 3}).train_sizes()) == [10, 100, 1000]


def test_pretrain_bisection_and_selection_with_known_ftle():
    """With an injected, known FTLE map lambda(r) = 0.5 (1.2 - r) (decreasing in the balance ratio r),
    bisection on [0.8, 1.5] must land within (1.5-0.8)/2^9 of the root r = 1.2 and report the
    FTLE of the value it returns; an unbracketed target keeps the better end."""
    net = NetworkParams(N=20, J0=1.0)
    knob = {"pretrain_knob": "balance", "pretrain_min": 0.8, "pretrain_max": 1.5}
    learn = from_mapping(LearnParams, {"pretrain": True, "pretrain_iters": 9, **knob})
    calls = []

    def measure(p, ks):
        calls.append((p.balance, list(ks)))
        return np.array([0.5 * (1.2 + 0.01 * k - p.balance) for k in ks])

    out = pretrain_networks(net, [0, 3], learn, xp=np, measure=measure)
    np.testing.assert_allclose(out["value"], [1.2, 1.23], atol=0.7 / 2**9)
    np.testing.assert_allclose(out["ftle"], 0.5 * (np.array([1.2, 1.23]) - out["value"]), atol=1e-15)
    assert calls[:3] == [(1.0, [0, 3]), (0.8, [0, 3]), (1.5, [0, 3])]  # batched where values agree
    assert out["bracketed"].all()
    np.testing.assert_allclose(out["ftle_initial"], [0.1, 0.115])
    # couplings: same random part, mean part with the tuned balance
    np.testing.assert_array_equal(out["couplings"][1], tuned_couplings(net, 3, "balance", out["value"][1], learn.seed))
    far = from_mapping(LearnParams, {"pretrain": True, "ftle_target": 5.0, **knob})
    o2 = pretrain_networks(net, [0], far, xp=np, measure=measure)
    assert not o2["bracketed"][0] and o2["value"][0] == pytest.approx(0.8)
    f = [[0.3, -0.1, 0.2], [np.nan, 0.5, 0.4]]
    assert list(select_lowest(f)) == [1, 2]
    assert list(select_index(f, "highest")) == [0, 1] and list(select_index(f, "target", 0.35)) == [0, 2]


def test_cli_learn_writes_file_and_rejects_bad_input(tmp_path):
    from balnet.cli import main

    out = tmp_path / "learn.h5"
    fig = tmp_path / "learn.png"
    rc = main(["learn", "--N", "40", "--g", "0.8", "--realizations", "2", "--n-train", "20", "--n-test", "20",
               "--n-points", "2", "--t-pre", "3", "--delay", "5", "--backend", "numpy", "-q", "-o", str(out),
               "--figure", str(fig)])
    assert rc == 0 and out.exists() and fig.exists()
    a, attrs = read(out)
    assert attrs["kind"] == "learning" and attrs["train_unit"] == "trial"
    assert a["test_nrmse"].shape == (1, 2, 2) and list(a["n_train"]) == [10, 20]
    assert attrs["params"]["learn"]["n_train"] == 20
    bad = tmp_path / "bad.h5"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-m", "balnet", "learn", "--set", "task=narma", "-o", str(bad)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2 and "task must be one of" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not bad.exists()


@pytest.mark.skipif(shutil.which("mpiexec") is None, reason="mpiexec not installed")
def test_mpiexec_two_ranks_equal_serial(tmp_path):
    args = ["learn", "--N", "40", "--g", "0.8", "--realizations", "3", "--n-train", "20", "--n-test", "20",
            "--n-points", "2", "--t-pre", "3", "--delay", "5", "--backend", "numpy", "-q"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    ser, par = tmp_path / "serial.h5", tmp_path / "mpi.h5"
    p1 = subprocess.run([sys.executable, "-m", "balnet", *args, "-o", str(ser)], capture_output=True, text=True, env=env, timeout=300)
    p2 = subprocess.run(["mpiexec", "-n", "2", sys.executable, "-m", "balnet", *args, "-o", str(par)],
                        capture_output=True, text=True, env=env, timeout=300)
    assert p1.returncode == 0, p1.stderr
    assert p2.returncode == 0, p2.stderr
    a, aa = read(ser)
    b, ab = read(par)
    assert ab["n_ranks"] == 2 and sorted(a) == sorted(b)
    for k in a:
        assert np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f"), k


@pytest.mark.slow
def test_macro_ftle_predicts_delayed_association_error():
    """Measured finding (critically balanced N=200, g=0.8, J0=1, delay 20 tau, 200 training trials):
    across realizations, a macro FTLE closer to 0 goes with a lower test NRMSE.  Measured Spearman
    rho = -0.79 over the 32 unmodified networks of the comparison run (p = 8e-8) and -0.85 over the
    12 networks here (p = 5e-4); bound rho < -0.4.  Takes ~40 s."""
    from scipy.stats import spearmanr

    from balnet.learning.pretrain import macro_ftle

    net = NetworkParams(N=200, g=0.8, J0=1.0)
    learn = from_mapping(LearnParams, dict(realizations=12, n_train=200, n_test=200, n_points=1, n_min=200,
                                           backend="numpy"))
    out = learning_run(net, learn)
    ftle = macro_ftle(net, list(range(12)), learn, xp=np)
    rho = spearmanr(ftle, out["test_nrmse"][0, :, -1]).statistic
    assert rho < -0.4, (rho, ftle, out["test_nrmse"][0, :, -1])


def test_gp_sgd_helps_a_reservoir_with_noisy_labels():
    """NARMA10 on an ESN (N=100) with label noise 0.5 target std and few samples (n ~ N..2N): the
    GP-regularized SGD generalizes better than near-unregularized ridge (alpha=1e-6) and than plain
    SGD (alpha=0, same epochs).  Measured mean test NRMSE over 8 realizations at n = 106 / 224:
    gpsgd 0.67 / 0.50, ridge 0.96 / 0.63, sgd 0.87 / 0.73 (at n = 1000 ridge 0.40 edges out gpsgd 0.44)."""
    net = NetworkParams(N=100, g=0.8, J0=0.0)
    base = dict(task="narma10", realizations=8, n_train=224, n_test=1000, n_min=106, n_points=2, dt=1.0, substeps=1, spectral_radius=0.0,
                input_scale=0.5, init_std=0.0, washout=100, target_noise=0.5, backend="numpy", epochs=40,
                batch_size=20, lr=0.3)
    err = {}
    for name, extra in (("ridge", dict(readout="ridge", alpha=1e-6)), ("sgd", dict(readout="sgd", alpha=0.0)),
                        ("gpsgd", dict(readout="gpsgd"))):
        err[name] = learning_run(net, from_mapping(LearnParams, {**base, **extra}))["test_nrmse"][0].mean(0)
    assert np.all(err["gpsgd"] < 0.85 * err["ridge"]) and np.all(err["gpsgd"] < 0.85 * err["sgd"]), err


# -- reservoir-computing hygiene (issue 17) -------------------------------------------
def test_spectral_radius_rescaling_is_exact():
    """Oracle: a matrix built with known eigenvalues A = V diag(lam) V^-1; after rescaling to rho every
    eigenvalue is lam * rho / max|lam| (1e-9).  The realized radius of the critically balanced matrix
    (N = 200, g = 1, J0 = 2) is far from g (measured 2.0 and 2.8 for realizations 0, 1), which is why
    the option rescales the realized matrix and not g."""
    rng = np.random.default_rng(3)
    lam = np.array([2.5, -1.0, 0.3 + 1.2j, 0.3 - 1.2j, 0.1])
    V = rng.standard_normal((5, 5))
    D = np.diag([2.5, -1.0, 0.3, 0.3, 0.1])
    D[2, 3], D[3, 2] = -1.2, 1.2  # real block of the pair 0.3 +- 1.2i
    A = V @ D @ np.linalg.inv(V)
    B = rescale_spectral_radius(A[None], 0.9)[0]
    got = np.sort_complex(np.linalg.eigvals(B))
    np.testing.assert_allclose(got, np.sort_complex(lam * 0.9 / 2.5), atol=1e-9)
    net = NetworkParams(N=200, g=1.0, J0=2.0)
    J = np.stack([realization_couplings(net, 0, k) for k in (0, 1)])
    assert np.all(spectral_radius(J) > 1.5)
    res = build_reservoir(net, [0, 1], 0, n_in=1, spectral_radius=0.8, xp=np)
    np.testing.assert_allclose(np.abs(np.linalg.eigvals(to_numpy(res.f.JT))).max(-1), 0.8, rtol=1e-10)
    with pytest.raises(ConfigError):
        rescale_spectral_radius(J, 0.0)


def test_task_defaults_fill_empty_fields():
    narma = from_mapping(LearnParams, dict(task="narma10"))
    assert (narma.dt, narma.substeps, narma.spectral_radius) == (1.0, 1, 0.8)
    sines_ = from_mapping(LearnParams, dict(task="sines", readout="force"))
    assert sines_.dt <= 0.1 and sines_.learn_every == 1 and sines_.substeps == 1
    assert from_mapping(LearnParams, dict(task="narma10", dt=0.5)).dt == 0.5  # explicit values win


@pytest.mark.slow
def test_narma10_ridge_with_task_defaults():
    """Must show (issue 17): NARMA10 with ridge and the task defaults (echo-state form, sr 0.8, input 0.5,
    ridge 1e-6) at N = 200 reaches test NRMSE <= 0.25 (the literature's ~0.2 at N = 200, Rodan & Tino 2011).
    Random reservoir (J0 = 0, the network default g = 1.5 rescaled), 2000 training / 1000 test samples,
    6 learning samples; measured 0.214, 0.362, 0.222, 0.178, 0.220, 0.214, mean 0.235 with the row-block J of
    format 2 (0.235, 0.333, 0.217, 0.179, 0.197, 0.224, mean 0.231 with format 1; sample 1's test
    series has a NARMA excursion to 0.97, test variance 1.7x the training variance).  Asserted: mean
    <= 0.25 and every sample < 0.4."""
    net = NetworkParams(N=200, J0=0.0)
    learn = from_mapping(LearnParams, dict(task="narma10", readout="ridge", realizations=6, n_train=2000, n_test=1000,
                                           n_min=2000, n_points=1, washout=100, backend="numpy"))
    out = learning_run(net, learn)
    e = out["test_nrmse"][0, :, -1]
    assert e.mean() <= 0.25 and np.all(e < 0.4), e


@pytest.mark.slow
def test_force_sines_with_task_defaults():
    """Must show (issue 17): FORCE with the task defaults (dt = 0.1 tau, RLS update every step) on a sum of
    4 harmonics of a 20-tau period, SCS reservoir N = 200, g = 1.5, 6000 training samples (600 tau), then
    1000 samples of free running.  FORCE success is realization dependent, so the median over 12
    realizations is asserted.  Measured (row-block J of format 2): free-running NRMSE 0.487, 0.005, 0.117,
    0.702, 0.002, 0.017, 0.026, 0.023, 0.016, 0.031, 0.030, 0.171: median 0.028, 8 of 12 <= 0.05 (with the
    J of format 1, realizations 0-3 gave 0.018, 0.037, 0.048, 0.151).  Asserted: median <= 0.05 and at
    least half <= 0.05.  About 20 s."""
    net = NetworkParams(N=200, g=1.5, J0=0.0)
    learn = from_mapping(LearnParams, dict(task="sines", readout="force", realizations=12, n_train=6000, n_test=1000,
                                           n_min=6000, n_points=1, washout=100, backend="numpy"))
    e = learning_run(net, learn)["test_nrmse"][0, :, -1]
    assert np.median(e) <= 0.05 and np.sum(e <= 0.05) >= 6, e


def test_paired_statistics_against_exact_wilcoxon():
    """Oracle: with 16 pools all improved (a < b) the exact two-sided signed-rank p-value is 2 / 2^16; the
    mean difference and the count of pools where a < b are read off the data."""
    from balnet.learning.experiments import paired

    b = np.arange(16.0) + 10
    a = b - (np.arange(16.0) + 1)
    s = paired(a, b)
    assert s["n"] == 16 and s["n_less"] == 16 and s["mean_diff"] == pytest.approx(-8.5)
    assert s["p"] == pytest.approx(2.0 / 2**16, rel=1e-9)
    assert np.isnan(paired(b, b)["p"])


def test_experiment_params_schema_and_validation():
    from balnet.learning.experiments import ExperimentParams

    with pytest.raises(ConfigError):
        from_mapping(ExperimentParams, dict(noise_levels="0.3,x"))
    with pytest.raises(ConfigError):
        from_mapping(ExperimentParams, dict(ftle_window=500.0, ftle_T=100.0))
    assert from_mapping(ExperimentParams, dict(noise_levels="0.1, 1")).noise() == [0.1, 1.0]


def test_target_experiment_selects_by_measured_ftle():
    """Toy size (N = 30, 3 pools of 3): the networks trained are the candidates whose measured macro FTLE is the
    lowest / nearest 0 (enumeration over the pool), the random control comes from its own stream (same pick on a
    rerun), and the closed-loop errors are finite and per initial state."""
    from balnet.learning.experiments import ExperimentParams, target_experiment

    p = from_mapping(ExperimentParams, dict(N=30, pools=3, pool_size=3, init_states=2, passes=1, t_resp=30,
                                            ftle_T=30.0, ftle_window=15.0, ftle_warmup=5.0, ftle_trials=1))
    out = target_experiment(p)
    f = out["ftle_candidates"]
    assert f.shape == (3, 3) and np.all(np.isfinite(f))
    for j in range(3):
        assert f[j, out["lowest_index"][j]] == f[j].min()
        assert abs(f[j, out["nearest0_index"][j]]) == np.abs(f[j]).min()
    assert out["test_nrmse"].shape == (3, 3, 2) and np.all(np.isfinite(out["test_nrmse"]))
    np.testing.assert_array_equal(target_experiment(p)["random_index"], out["random_index"])
