"""Reservoir-computing tasks: generators checked against their defining equations."""
import numpy as np
import pytest

from balnet.engine.params import ConfigError
from balnet.learning.tasks import (
    accuracy,
    delayed_association,
    mackey_glass,
    mackey_glass_series,
    make_task,
    memory_capacity,
    memory_task,
    narma10,
    nrmse,
    sines,
)


def rng(k=0):
    return np.random.default_rng(np.random.SeedSequence(1234, spawn_key=(k,)))


def test_narma10_obeys_recursion():
    ds = narma10(rng(), 500, 300, washout=50)
    for U, Y in ((ds.u_train[0, :, 0], ds.y_train[0, :, 0]), (ds.u_test[0, :, 0], ds.y_test[0, :, 0])):
        assert U.min() >= 0.0 and U.max() <= 0.5
        # Y[t] = y_{t+1}, U[t] = u_t:  y_{t+1} = 0.3 y_t + 0.05 y_t sum_{i<10} y_{t-i} + 1.5 u_{t-9} u_t + 0.1
        t = np.arange(10, len(U))
        s = np.array([Y[i - 10 : i].sum() for i in t])
        rhs = 0.3 * Y[t - 1] + 0.05 * Y[t - 1] * s + 1.5 * U[t - 9] * U[t] + 0.1
        np.testing.assert_allclose(Y[t], rhs, rtol=1e-12, atol=1e-14)
    assert ds.mask_train.sum() == 500 and ds.mask_test.sum() == 300
    assert not ds.mask_train[:50].any()


def test_mackey_glass_exact_on_first_delay_interval():
    # for 0 <= t <= tau the delayed argument is the constant history c, so
    # x(t) = a/gamma + (c - a/gamma) exp(-gamma t), a = beta c / (1 + c^p)
    c, beta, gamma = 1.2, 0.2, 0.1
    a = beta * c / (1 + c**10)
    x = mackey_glass_series(18, history=c, h=0.25, sample=1.0, t_discard=0)
    t = np.arange(18.0)
    exact = a / gamma + (c - a / gamma) * np.exp(-gamma * t)
    assert np.abs(x - exact).max() < 1e-8  # measured 1.1e-9


def test_mackey_glass_fourth_order():
    c = 1.2
    ref = mackey_glass_series(61, history=c, h=17 / 1088, sample=1.0, t_discard=0)
    errs = [np.abs(mackey_glass_series(61, history=c, h=17 / m, sample=1.0, t_discard=0) - ref).max()
            for m in (17, 34, 68)]
    slopes = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(slopes - 4.0) < 0.2), slopes  # measured 4.006, 4.003


def test_mackey_glass_batch_and_task():
    h = np.array([0.7, 1.3])
    both = mackey_glass_series(50, history=h, batch=2, t_discard=20)
    one = mackey_glass_series(50, history=1.3, t_discard=20)
    np.testing.assert_array_equal(both[1], one)
    ds = mackey_glass(rng(), 200, 100, horizon=3, washout=20)
    # the target is the input shifted by the horizon (same series)
    np.testing.assert_array_equal(ds.y_train[0, :-3, 0], ds.u_train[0, 3:, 0])
    assert np.abs(ds.u_train).max() < 1.0


def test_sines_periodic_and_quasi():
    P, d = 30.0, 0.5
    ds = sines(rng(), 240, 120, delta=d, period=P, n_harmonics=3)
    y = np.concatenate([ds.y_train[0, :, 0], ds.y_test[0, :, 0]])
    lag = int(P / d)
    np.testing.assert_allclose(y[lag:], y[:-lag], atol=1e-12)
    assert np.abs(ds.y_train).max() == pytest.approx(1.0)
    assert ds.n_in == 0 and ds.feedback
    q = sines(rng(), 240, 10, delta=d, period=P, n_harmonics=2, quasi=True)
    ratio = q.meta["periods"][0] / q.meta["periods"][1]
    assert ratio == pytest.approx((1 + 5**0.5) / 2)


def test_delayed_association_structure():
    ds = delayed_association(rng(), 40, 20, n_cues=3, t_pre=4, pulse=2, delay=10, jitter=2, t_resp=5)
    T = 4 + 4 + 2 + 10 + 2 + 5
    assert ds.u_train.shape == (40, T, 4) and ds.y_train.shape == (40, T, 1)
    go = 4 + 4 + 2 + 10
    cues = np.array(ds.meta["cues_train"])
    values = np.array(ds.meta["values"])
    for b in range(40):
        u = ds.u_train[b]
        on = np.flatnonzero(u[:, cues[b]])
        assert len(on) == 2 and on[1] == on[0] + 1  # one pulse of width 2
        delay = go - on[0] - 2
        assert 10 <= delay <= 14  # delay +- jitter (cue shifted earlier by 0..2 jitter)
        others = np.delete(u[:, :3], cues[b], axis=1)
        assert not others.any()
        np.testing.assert_array_equal(np.flatnonzero(u[:, 3]), [go, go + 1])
        np.testing.assert_array_equal(ds.y_train[b, ds.mask_train, 0], values[cues[b]])
        assert not ds.y_train[b, ~ds.mask_train].any()
    assert ds.mask_train.sum() == 5 and ds.unit == "trial" and ds.n_units_train() == 40


def test_memory_task_targets_are_delayed_inputs():
    ds = memory_task(rng(), 300, 100, max_delay=12)
    u, y = ds.u_train[0, :, 0], ds.y_train[0]
    t = np.flatnonzero(ds.mask_train)
    for k in (1, 5, 12):
        np.testing.assert_array_equal(y[t, k - 1], u[t - k])
    with pytest.raises(ConfigError):
        memory_task(rng(), 10, 10, max_delay=12, washout=5)


def test_noise_options_train_only_and_reproducible():
    clean = narma10(rng(), 4000, 500)
    noisy = narma10(rng(), 4000, 500, target_noise=0.2)
    np.testing.assert_array_equal(clean.y_test, noisy.y_test)  # test targets stay clean
    np.testing.assert_array_equal(clean.u_train, noisy.u_train)
    d = (noisy.y_train - clean.y_train).ravel()
    assert d.std() == pytest.approx(0.2 * clean.y_train.std(), rel=0.05)
    inp = narma10(rng(), 4000, 500, input_noise=0.05)
    assert (inp.u_train - clean.u_train).std() == pytest.approx(0.05, rel=0.05)
    again = narma10(rng(), 4000, 500, target_noise=0.2)
    np.testing.assert_array_equal(again.y_train, noisy.y_train)
    other = narma10(rng(1), 4000, 500)
    assert not np.array_equal(other.u_train, clean.u_train)


def test_scores(xp):
    g = np.random.default_rng(0)
    y = xp.asarray(g.standard_normal((2, 3, 50, 2)))
    mask = np.arange(50) >= 10
    assert float(xp.abs(nrmse(y, y, mask, xp=xp)).max()) == 0.0
    mean = xp.broadcast_to(xp.take(y, xp.asarray(np.flatnonzero(mask)), axis=-2).mean((-3, -2), keepdims=True), y.shape)
    np.testing.assert_allclose(np.asarray(nrmse(mean, y, mask, xp=xp).tolist()), 1.0, rtol=1e-12)
    u = xp.asarray(g.standard_normal((1, 200, 4)))
    mc, mck = memory_capacity(2.0 * u + 1.0, u, None, xp=xp)  # affine copies recall perfectly
    assert float(mc) == pytest.approx(4.0, abs=1e-12)
    yy = xp.asarray(np.repeat(np.array([1.0, -1.0])[:, None, None], 5, axis=1))
    assert float(accuracy(0.1 * yy, yy, None, xp=xp)[0]) == 1.0
    assert float(accuracy(-yy, yy, None, xp=xp)[0]) == 0.0


def test_make_task_rejects_unknown():
    with pytest.raises(ConfigError, match="unknown task"):
        make_task("narma", rng(), 10, 10)
    ds = make_task("memory", rng(), 50, 50, max_delay=5)
    assert ds.n_out == 5
