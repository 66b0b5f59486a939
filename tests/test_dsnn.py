"""Dual-sampling neural network (balnet.studies.dsnn): exact conditionals, learning, forgetting, alternation,
CLI, pipeline.

Samplers are checked against exact references at fixed seeds: the truncated
normal against scipy.stats.truncnorm (KS test), the collapsed neuron Gibbs
sampler against brute-force enumeration of small networks (chi-square test),
and the Albert–Chib weight sampler against a long Metropolis–Hastings chain of
the probit weight posterior.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from dsnn_reference import (
    boltzmann_index,
    boltzmann_log_marginal,
    boltzmann_states,
    enumerate_joint,
    probit_weight_mh,
    state_index,
)
from figcheck import check_png
from scipy import stats
from snakeutil import needs_snakemake, smk

from balnet.engine.backend import cupy_available, to_numpy
from balnet.engine.params import ConfigError
from balnet.engine.random import DSNN, stream
from balnet.studies import dsnn

# ---------------------------------------------------------------------------------------------
# exact conditional samplers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mean,positive", [(0.0, True), (1.5, False), (-2.0, True), (3.0, True), (-0.7, False)])
def test_truncated_normal_matches_scipy(mean, positive, xp):
    """u ~ N(mean, 1) truncated to u > 0 (positive) or u <= 0: KS test against scipy.stats.truncnorm,
    20000 draws, p > 1e-3 at a fixed seed; every draw on the right side of 0 (on every backend: the
    means live on xp, the uniforms come from the host stream)."""
    rng = np.random.default_rng(1)
    u = to_numpy(dsnn.truncated_normal(xp.full(20000, mean), xp.full(20000, positive), rng))
    a, b = (-mean, np.inf) if positive else (-np.inf, -mean)
    ref = stats.truncnorm(a, b, loc=mean, scale=1.0)
    assert np.all(u > 0) if positive else np.all(u <= 0)
    assert stats.kstest(u, ref.cdf).pvalue > 1e-3


def test_ndtri_exp_without_scipy_matches_scipy():
    """The namespace-generic inverse of log Phi (used where scipy's ndtri_exp is missing, e.g. CuPy):
    start from ndtri(exp y) / -ndtri(-expm1 y) / the tail asymptote, three Newton steps; against
    scipy.special.ndtri_exp for 20000 y in [-1e5, -1e-300]: relative error < 1e-10 (measured 4e-16
    for y > -700, 5e-13 in the far tail), and ndtri_exp(0) = +inf."""
    from scipy.special import ndtri_exp

    y = -np.logspace(-300, 5, 20000)
    got = dsnn.sampler._ndtri_exp_newton(y, np)
    ref = ndtri_exp(y)
    assert np.max(np.abs(got - ref) / np.maximum(1.0, np.abs(ref))) < 1e-10
    assert dsnn.sampler._ndtri_exp_newton(np.array([0.0]), np)[0] == np.inf


def test_truncated_normal_extreme_means_stay_finite():
    """Far tails (mean -40 truncated to u > 0, mean +40 to u <= 0) give finite draws just past 0
    (the inverse CDF works in log space): 0 < u < 0.3 and -0.3 < u <= 0 respectively (the tail is
    ~Exp(rate 40): P(u > 0.3) = e^-12)."""
    rng = np.random.default_rng(2)
    u = dsnn.truncated_normal(np.full(1000, -40.0), np.ones(1000, bool), rng)
    v = dsnn.truncated_normal(np.full(1000, 40.0), np.zeros(1000, bool), rng)
    assert np.all(np.isfinite(u)) and np.all((u > 0) & (u < 0.3))
    assert np.all(np.isfinite(v)) and np.all((v <= 0) & (v > -0.3))


def _chi2_gibbs_vs_enumeration(net, x, free, S, sweeps, rng, clamp_out=None, first=1):
    """Run B independent neuron chains (rows) with fixed synapses; chi-square of the final states
    against the enumerated (conditional) joint."""
    for _ in range(sweeps):
        dsnn.gibbs_neurons(net, S, free, rng)
    S = [to_numpy(a) for a in S]
    net = dsnn.Net(net.sizes, [to_numpy(w) for w in net.W], net.sigma_w, net.sigma_b, net.input_model)
    states, prob = enumerate_joint(net, None if first == 0 else x)
    n_out = net.sizes[-1]
    if clamp_out is not None:  # condition on the clamped output layer (last n_out bits)
        keep = np.all(states[:, -n_out:] == clamp_out[None, :], axis=1)
        prob = np.where(keep, prob, 0.0)
    prob = prob / prob.sum()
    idx = state_index(S, first)
    counts = np.bincount(idx, minlength=len(prob))
    support = prob > 0
    assert counts[~support].sum() == 0
    exp = prob[support] * len(idx)
    return stats.chisquare(counts[support], exp).pvalue, counts, prob


def test_neuron_gibbs_matches_enumeration_free():
    """Network 1 (clamped, real input 0.7) -> 2 hidden -> 1 output, all 3 neurons free, fixed random
    synapses (std 1.5): 40000 independent rows after 25 collapsed-Gibbs sweeps; chi-square over the
    8 states against brute-force enumeration, p > 1e-3 at a fixed seed."""
    rng = np.random.default_rng(3)
    net = dsnn.init_net((1, 2, 1), rng, sigma_w=1.5, sigma_b=1.0, input_model=False)
    B = 40000
    x = np.array([0.7])
    S = [np.repeat(x[None, :], B, 0), (rng.random((B, 2)) < 0.5) * 1.0, (rng.random((B, 1)) < 0.5) * 1.0]
    free = [None, np.ones(B, bool), np.ones(B, bool)]
    p, counts, prob = _chi2_gibbs_vs_enumeration(net, x, free, S, 25, rng)
    assert p > 1e-3, (counts / B, prob)


def test_neuron_gibbs_matches_enumeration_clamped_output(xp):
    """Hidden posterior given a clamped output (the learning case): 1 input -> 3 hidden -> 2 outputs
    clamped to (1, 0); chi-square of the 8 hidden states against the enumerated conditional
    p(h | x, y) with 40000 rows after 25 sweeps, p > 1e-3 at a fixed seed, on every backend
    (synapses and states on xp, enumeration on the host)."""
    rng = np.random.default_rng(4)
    net = dsnn.init_net((1, 3, 2), rng, sigma_w=1.5, sigma_b=1.0, input_model=False, xp=xp)
    B = 40000
    x = np.array([1.0])
    y = np.array([1.0, 0.0])
    S = [xp.asarray(a) for a in (np.repeat(x[None, :], B, 0), (rng.random((B, 3)) < 0.5) * 1.0,
                                  np.repeat(y[None, :], B, 0))]
    free = [None, np.ones(B, bool), None]
    p, _counts, _prob = _chi2_gibbs_vs_enumeration(net, x, free, S, 25, rng, clamp_out=y)
    assert p > 1e-3


def test_neuron_gibbs_matches_enumeration_free_inputs():
    """Binary input neurons free too (the 'data removed' mode): 2 inputs -> 1 hidden -> 1 output,
    16 states; chi-square against enumeration of the whole network, 40000 rows after 30 sweeps,
    p > 1e-3 at a fixed seed."""
    rng = np.random.default_rng(5)
    net = dsnn.init_net((2, 1, 1), rng, sigma_w=1.5, sigma_b=1.0, input_model=True)
    B = 40000
    S = [(rng.random((B, n)) < 0.5) * 1.0 for n in net.sizes]
    free = [np.ones(B, bool)] * 3
    p, _counts, _prob = _chi2_gibbs_vs_enumeration(net, None, free, S, 30, rng, first=0)
    assert p > 1e-3


@pytest.mark.parametrize("rho,tol", [(0.0, 1.0), (0.6, 1.7)])
def test_probit_weight_posterior_matches_metropolis_hastings(rho, tol):
    """Single probit unit y = 1[w x + b + eps > 0], prior N(0, 1) on (w, b), 30 data points: the
    library's Albert–Chib sampler (dsnn.sample_weights: truncated-normal u, then the Bayesian linear
    regression draw; 8000 sweeps, integrated autocorrelation ~5) against random-walk MH (64 chains x
    5000 steps).  Posterior std ~0.3 so the Monte Carlo error of a mean is ~0.01: means agree within
    0.03, standard deviations within 6 %, the (w, b) correlation within 0.05 (measured at this seed:
    means (1.04, -0.36) vs (1.03, -0.36), stds (0.316, 0.284) vs (0.310, 0.283)).  With the
    autoregressive synapse move rho = 0.6 (same conditional, slower fluctuations: autocorrelation time
    x ~4, tolerances x tol = 1.7) the same posterior is reached."""
    rng = np.random.default_rng(6)
    x = rng.normal(0, 1, 30)
    y = (1.2 * x - 0.4 + rng.normal(0, 1, 30) > 0).astype(float)
    net = dsnn.Net((1, 1), [np.zeros((1, 1)), np.zeros((1, 2))], 1.0, 1.0, input_model=False)
    S = [x[:, None], y[:, None]]
    n = 8000
    gib = np.empty((n, 2))
    for t in range(n + 200):
        A = dsnn.preactivations(net, S)
        dsnn.sample_weights(net, S, A, rng, rho=rho)
        if t >= 200:
            gib[t - 200] = net.W[1][0]
    X = np.stack([x, np.ones_like(x)], 1)
    mh = probit_weight_mh(X, y, 5000, rng, sigma=1.0, step=0.5, burn=500, chains=64)
    np.testing.assert_allclose(gib.mean(0), mh.mean(0), atol=0.03 * tol)
    np.testing.assert_allclose(gib.std(0), mh.std(0), rtol=0.06 * tol)
    assert abs(np.corrcoef(gib.T)[0, 1] - np.corrcoef(mh.T)[0, 1]) < 0.05 * tol


def test_dual_sampler_matches_exact_hidden_posterior():
    """The whole dual sampler (neurons, membranes and synapses, dsnn.gibbs_sweep) on the smallest network
    with shared synapses: input -> 1 hidden -> 1 output, two data rows (x = 1, -0.5; y = 1, 0 clamped),
    prior std 1.5.  With the synapses integrated out, p(h, y | x) is a product over layers of Gaussian
    orthant probabilities, P(eps_b < c_b . w for all b) = MVN CDF of N(0, I + C D C^T) at 0, so the
    posterior of the two hidden states (4 configurations) is exact (0.279, 0.254, 0.254, 0.212).
    8000 sweeps after 200 burn-in: every probability within 0.05 (batch-means standard error ~0.015)."""
    sw = sb = 1.5
    x, y = np.array([1.0, -0.5]), np.array([1.0, 0.0])
    D = np.diag([sw**2, sb**2])

    def orthant(C):
        return stats.multivariate_normal(np.zeros(len(C)), np.eye(len(C)) + C @ D @ C.T).cdf(np.zeros(len(C)))

    exact = np.empty(4)
    for code in range(4):
        h = np.array([code & 1, (code >> 1) & 1], float)
        c1 = (2 * h - 1)[:, None] * np.stack([x, np.ones(2)], 1)
        c2 = (2 * y - 1)[:, None] * np.stack([h, np.ones(2)], 1)
        exact[code] = orthant(c1) * orthant(c2)
    exact /= exact.sum()
    rng = np.random.default_rng(9)
    net = dsnn.init_net((1, 1, 1), rng, sigma_w=sw, sigma_b=sb, input_model=False)
    S = [x[:, None], (rng.random((2, 1)) < 0.5) * 1.0, y[:, None]]
    free = [None, np.ones(2, bool), None]
    n = 8000
    codes = np.empty(n, int)
    for t in range(n + 200):
        dsnn.gibbs_sweep(net, S, free, rng)
        if t >= 200:
            codes[t - 200] = int(S[1][0, 0]) + 2 * int(S[1][1, 0])
    np.testing.assert_allclose(np.bincount(codes, minlength=4) / n, exact, atol=0.05)


def _boltzmann_chi2(bm, S, units, sweeps, rng, logp):
    """Run the K chains of ``bm`` for ``sweeps`` sweeps; chi-square of their final joint states (rows together)
    against the exact distribution ``exp(logp)`` over every joint state; returns the p-value and the TV distance."""
    for _ in range(sweeps):
        dsnn.boltzmann_sweep(bm, S, units, rng)
    S = to_numpy(S)
    prob = np.exp(logp - logp.max())
    prob /= prob.sum()
    counts = np.bincount(boltzmann_index(S), minlength=len(prob))
    support = prob > 0
    assert counts[~support].sum() == 0
    tv = 0.5 * np.abs(counts / len(S) - prob).sum()
    return stats.chisquare(counts[support], prob[support] * len(S)).pvalue, tv, prob, S


def test_boltzmann_sampler_matches_enumeration_free(xp):
    """Synaptic Boltzmann machine (undirected, symmetric synapses sampled with the neurons), 4 fully connected
    ±1 neurons, 2 rows sharing the synapses, everything free: 20000 independent chains after 40 sweeps
    against the exact marginal of the 256 joint states of both rows (synapses integrated out analytically,
    log p = sigma_w^2/2 sum_{i<j} C_ij^2 + sigma_b^2/2 sum_i m_i^2): chi-square p > 1e-3 at a fixed seed and
    total-variation distance < 0.045 (measured 0.035; exact multinomial draws of 20000 over these 256
    states give TV 0.036 on average, 0.042 at the 99.9 % quantile; synapses scaled by 0.8 give 0.10,
    biases without their Hebbian mean 0.18).  The synapses' sampled mean and variance match the exact mixture
    E[W_ij] = sigma_w^2 E[C_ij], Var W_ij = sigma_w^2 + sigma_w^4 Var C_ij within 0.05 and 6 %."""
    sw, sb, K, B, n = 0.6, 0.4, 20000, 2, 4
    rng = np.random.default_rng(11)
    mask = np.ones((n, n)) - np.eye(n)
    bm = dsnn.init_boltzmann(mask, rng, chains=K, sigma_w=sw, sigma_b=sb, xp=xp)
    S = xp.asarray(np.where(rng.random((K, B, n)) < 0.5, 1.0, -1.0))
    states = boltzmann_states(B, n)
    logp = boltzmann_log_marginal(states, mask, sw, sb)
    pval, tv, prob, _ = _boltzmann_chi2(bm, S, range(n), 40, rng, logp)
    assert pval > 1e-3 and tv < 0.045, (pval, tv)
    assert prob.max() / prob.min() > 20  # the reference is far from uniform
    C = np.einsum("kbi,kbj->kij", states, states)[:, 0, 1]
    mean_w, var_w = sw**2 * prob @ C, sw**2 + sw**4 * (prob @ C**2 - (prob @ C) ** 2)
    W01 = to_numpy(bm.W)[:, 0, 1]
    assert abs(W01.mean() - mean_w) < 0.05 and W01.var() == pytest.approx(var_w, rel=0.06)
    np.testing.assert_array_equal(to_numpy(bm.W), np.swapaxes(to_numpy(bm.W), 1, 2))


def test_boltzmann_rbm_hidden_posterior_matches_enumeration():
    """Restricted (bipartite) synaptic Boltzmann machine, 3 visible units clamped to two data rows
    (+1 -1 +1 and +1 +1 -1), 2 hidden units free in each row: the 16 joint hidden states of both rows,
    with visible-hidden synapses and biases sampled, against the exact conditional (visible rows fixed in
    the same integrated marginal), 20000 chains after 40 sweeps: chi-square p > 1e-3, TV < 0.03."""
    sw, sb, K, nv, nh = 0.7, 0.5, 20000, 3, 2
    rng = np.random.default_rng(12)
    mask = dsnn.bipartite_mask(nv, nh)
    v = np.array([[1.0, -1.0, 1.0], [1.0, 1.0, -1.0]])
    bm = dsnn.init_boltzmann(mask, rng, chains=K, sigma_w=sw, sigma_b=sb)
    S = np.concatenate([np.repeat(v[None], K, 0), np.where(rng.random((K, 2, nh)) < 0.5, 1.0, -1.0)], axis=2)
    H = boltzmann_states(2, nh)
    full = np.concatenate([np.repeat(v[None], len(H), 0), H], axis=2)
    logp = boltzmann_log_marginal(full, mask, sw, sb)
    for _ in range(40):
        dsnn.boltzmann_sweep(bm, S, range(nv, nv + nh), rng)
    assert np.all(S[:, :, :nv] == v[None])  # clamped
    counts = np.bincount(boltzmann_index(S[:, :, nv:]), minlength=len(H))
    p_h = np.exp(logp - logp.max())
    p_h /= p_h.sum()
    tv = 0.5 * np.abs(counts / K - p_h).sum()
    assert stats.chisquare(counts, p_h * K).pvalue > 1e-3 and tv < 0.03, tv


# ---------------------------------------------------------------------------------------------
# statistics helpers
# ---------------------------------------------------------------------------------------------


def test_relaxation_time_of_exponential():
    """A noiseless exponential approach c(t) = 1 - exp(-t/7) has tau = 7 within 0.1 sweep (level crossing),
    and a decay observed only to 30 % of its way gives tau within 5 % by the log fit."""
    t = np.arange(0, 60, 0.5)
    assert abs(dsnn.relaxation_time(t, 1 - np.exp(-t / 7), 0.0, 1.0) - 7.0) < 0.1
    t2 = np.arange(0, 20.0)
    assert dsnn.relaxation_time(t2, np.exp(-t2 / 60), 1.0, 0.0) == pytest.approx(60, rel=0.05)


def test_dominance_durations_and_gamma_fit():
    """Runs of constant sign: interior runs only (ends dropped), zeros continue a run; the gamma fit of
    4000 gamma(k=3, theta=2) draws recovers k within 10 % and CV = 1/sqrt(k) within 5 %."""
    d = np.array([1, 1, -1, -1, 0, -1, 1, 1, 1, -1])
    np.testing.assert_array_equal(dsnn.dominance_durations(d), [4, 3])
    # hysteresis: excursions inside (-0.5, 0.5) do not switch the dominant interpretation
    d2 = np.array([0.9, 0.2, -0.3, 0.8, -0.9, -0.1, 0.4, -0.6, 0.7, 0.1, -0.7])
    np.testing.assert_array_equal(dsnn.dominance_durations(d2, 0.5), [4, 2])
    g = np.random.default_rng(7).gamma(3.0, 2.0, 4000)
    k, _th, cv = dsnn.gamma_fit(g)
    assert k == pytest.approx(3.0, rel=0.1) and cv == pytest.approx(1 / np.sqrt(3), rel=0.05)


def test_split_rhat_and_ess_against_known_chains():
    """Convergence diagnostics against chains of known behaviour: 4 chains of 2000 iid normals give split R-hat
    within 0.005 of 1 and ESS within 10 % of 8000 (measured 1.0001, 7750); 4 AR(1) chains (phi = 0.8, 20000
    steps) give ESS within 10 % of the exact n (1 - phi)/(1 + phi) = 8889 (measured 8565); shifting one iid
    chain's mean by 1 standard deviation gives R-hat > 1.05 (measured 1.094)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 2000))
    assert abs(dsnn.split_rhat(x) - 1) < 0.005 and dsnn.effective_sample_size(x) == pytest.approx(8000, rel=0.1)
    phi, e = 0.8, rng.normal(size=(4, 20000))
    y = np.zeros_like(e)
    for t in range(1, e.shape[1]):
        y[:, t] = phi * y[:, t - 1] + e[:, t]
    assert dsnn.effective_sample_size(y) == pytest.approx(80000 * (1 - phi) / (1 + phi), rel=0.1)
    x[0] += 1.0
    assert dsnn.split_rhat(x) > 1.05


def test_serial_correlation():
    """Lag-1 correlation of successive durations: 0 within 0.05 for 4000 iid gamma draws, -1 for a strict
    alternation of long and short durations, +0.8 within 0.05 for an AR(1) sequence with coefficient 0.8."""
    rng = np.random.default_rng(3)
    assert abs(dsnn.serial_correlation(rng.gamma(3.0, 1.0, 4000))) < 0.05
    assert dsnn.serial_correlation(np.tile([5.0, 1.0], 50)) == pytest.approx(-1.0)
    z = np.zeros(20000)
    for t in range(1, len(z)):
        z[t] = 0.8 * z[t - 1] + rng.normal()
    assert dsnn.serial_correlation(z) == pytest.approx(0.8, abs=0.05)


def test_power_law_exponent():
    """lambda_n = n^-1.3 gives alpha = 1.3 to 1e-10."""
    n = np.arange(1, 101)
    assert dsnn.power_law_exponent(n**-1.3) == pytest.approx(1.3, abs=1e-10)


# ---------------------------------------------------------------------------------------------
# experiments (tiny)
# ---------------------------------------------------------------------------------------------


def _p(**kw):
    return dsnn.DSNNParams.from_mapping(kw)


def test_classify_digits_above_chance_and_averaging_helps():
    """Digits (scikit-learn, 10 classes, chance 0.1), 1 hidden layer of 32, 400 training / 300 held-out
    images, 80 sweeps: posterior-average test accuracy > 0.85 and at least the single synaptic sample's,
    which is at least a single neuron+synapse draw's (measured at seed 0: 0.927, 0.860, 0.753); the
    backprop MLP of the same size reaches > 0.85 in 30 epochs (measured 0.957)."""
    p = _p(experiment="classify", dataset="digits", hidden=32, n_train=400, n_test=300, sweeps=80, burn_in=20,
           eval_every=5, backprop_epochs=30)
    r = dsnn.run_classify(p, 0)
    s = dsnn.summary(p, {k: np.asarray(v)[None] for k, v in r.items()})
    assert s["acc_average"] > 0.85
    assert s["acc_average"] >= s["acc_single"] >= s["acc_draw"] - 0.02
    assert s["acc_backprop"] > 0.85
    assert np.isfinite(s["pca_exponent"]) and s["pca_exponent"] > 0
    assert s["drift"] > 0.1  # the synapses keep moving at stationarity


def _nearest_prototype_accuracy(p, k=0):
    """Accuracy of the Bayes rule with the prototypes known (nearest prototype in Hamming distance) on chain k's
    test rows: the ceiling of any classifier of this task."""
    _, _, xte, yte, P = dsnn.prototype_data(p.n_train, p.n_test, stream(p.seed, k, DSNN, 0), classes=p.classes,
                                            dim=p.dim, flip=p.flip)
    return float(np.mean(np.abs(xte[:, None, :] - P[None]).sum(2).argmin(1) == yte))


def test_prototype_task_posterior_average_small():
    """Prototype task at the issue's input statistics (10 prototypes, D = 100, 25 % flips) but small (300 training
    / 300 test rows, 32 hidden, 30 sweeps, 2 chains, sigma_w = 0.3): averaging every sweep after burn-in (20
    samples) gives > 0.9 (measured 0.940, 0.942, 0.942 at seeds 0-2) while the current synaptic sample gives
    < 0.85 (measured 0.75); nearest-prototype ceiling 1.0.  The convergence diagnostics are stored and flag the
    short chains (split R-hat of the test NLL > 1.05: measured 1.26-1.96; ESS < 40 of 40 draws)."""
    p = _p(experiment="classify", dataset="prototype", classes=10, dim=100, flip=0.25, n_train=300, n_test=300,
           hidden=32, sweeps=30, burn_in=10, eval_every=10, backprop_epochs=5, sigma_w=0.3)
    r = dsnn.run_chains(p, [0, 1])
    s = dsnn.summary(p, r)
    assert s["acc_average_final"] > 0.9 and s["acc_single"] < 0.85
    assert np.all(np.isnan(r["acc_average_sweep"][:, : p.burn_in])) and np.all(r["n_average"] == 20)
    assert s["rhat_nll"] > 1.05 and 0 < s["ess_nll"] < 40
    assert _nearest_prototype_accuracy(p) >= s["acc_average_final"]


@pytest.mark.slow
def test_prototype_task_reaches_0985():
    """The issue's prototype task (10 prototypes, D = 100, 25 % flips, 2000 training / 1000 test rows, 200 hidden
    neurons, prior std sigma_w = 0.3), 2 chains of 80 sweeps, every-sweep posterior average after 20 sweeps of
    burn-in: test accuracy >= 0.985 in each chain, within the nearest-prototype
    ceiling.  Slow: 3 min on one shared core (measured 0.9975 and 0.998)."""
    p = _p(experiment="classify", dataset="prototype", classes=10, dim=100, flip=0.25, n_train=2000, n_test=1000,
           hidden=200, sweeps=80, burn_in=20, eval_every=10, backprop_epochs=20, sigma_w=0.3)
    r = dsnn.run_chains(p, [0, 1])
    assert np.all(r["acc_average_sweep"][:, -1] >= 0.985), r["acc_average_sweep"][:, -1]
    assert np.all(r["acc_average_sweep"][:, -1] <= _nearest_prototype_accuracy(p) + 0.005)
    s = dsnn.summary(p, r)
    assert np.isfinite(s["rhat_nll"]) and s["ess_nll"] > 0


def test_forget_statistics_tiny():
    """Forgetting after removal of the data (100 free-running rows, 10 classes): both time constants are
    finite and positive and forgetting is more than 1.5 times slower than acquisition (measured at seeds
    0, 1, 2: tau_acquire 2.1, 3.3, 3.3 sweeps; tau_forget 8.9, 7.9, 6.8 sweeps); accuracy ends below
    the learned level."""
    p = _p(experiment="forget", hidden=16, n_train=200, n_test=200, sweeps=40, forget_sweeps=60,
           forget_particles=100)
    r = dsnn.run_forget(p, 0)
    ta, tf = float(r["tau_acquire"]), float(r["tau_forget"])
    assert 0 < ta < np.inf and 0 < tf < np.inf
    assert tf > 1.5 * ta
    assert r["acc_forget"][-10:].mean() < r["learned"]


def test_forget_switch_mode():
    """Data switched (labels c -> c+1): accuracy on the new labelling rises above 0.6 while accuracy on the
    old one falls below 0.3 within 40 sweeps (4 classes, chance 0.25; measured 0.98 and 0.01: interference
    erases the old mapping within ~1.5 sweeps, unlike the slow decay after removal)."""
    p = _p(experiment="forget", forget_mode="switch", hidden=16, n_train=200, n_test=200, classes=4, sweeps=30,
           forget_sweeps=40)
    r = dsnn.run_forget(p, 0)
    assert r["acc_new"][-5:].mean() > 0.6 and r["acc_forget"][-5:].mean() < 0.3
    assert r["acc_new"][0] < 0.3


def test_alternation_statistics_tiny():
    """Alternation: the ambiguous probes' percept switches; at least 5 dominance durations in the 120 sweeps
    after 40 learning sweeps (2 probes), gamma shape and CV finite and positive (measured 12 durations,
    shape 1.00, CV 1.07)."""
    p = _p(experiment="alternation", hidden=16, n_train=100, sweeps=40, alt_sweeps=120, alt_probes=2)
    r = dsnn.run_alternation(p, 0)
    assert r["acc_train"][p.sweeps :].mean() > 0.95  # both interpretations learned (measured 0.99)
    assert r["exclusivity"].shape == r["percept"].shape == (p.sweeps + p.alt_sweeps,)
    assert len(r["durations"]) >= 5
    assert float(r["gamma_shape"]) > 0 and float(r["cv"]) > 0


def test_necker_alternation_data():
    """Necker-like pair (dim 40, no flips): A and B have 20 active units each and share exactly 10; the ambiguous
    pattern is the shared half (10 units), 10 bits from each interpretation and contained in both."""
    p = _p(experiment="alternation", alt_input="necker", dim=40, flip=0.0, n_train=10)
    x, y, amb = dsnn.alternation_data(p, np.random.default_rng(4))
    A, B = x[y == 0][0], x[y == 1][0]
    assert A.sum() == B.sum() == 20 and (A * B).sum() == 10
    np.testing.assert_array_equal(amb, A * B)
    assert np.abs(amb - A).sum() == np.abs(amb - B).sum() == 10
    with pytest.raises(ConfigError, match="alt_rho"):
        _p(alt_rho=1.0)


def test_sbm_division_of_roles_and_pruning():
    """Synaptic Boltzmann machine (directed probit reconstruction) on 3x3 bars (6 bars, p = 0.15) with 10
    cause neurons, 300 images, 200 sweeps: at least 4 of the 6 bars get a cause neuron of their own (measured
    5, 4, 5 at seeds 0, 1, 2; at the random initial synapses a bar passes the |role| > 1.5 criterion with
    probability ~0.1), and the fraction of prior-like (pruned) synapses grows after the initial transient,
    from the second to the last of four windows (measured 0.11 -> 0.27, 0.01 -> 0.12, 0.02 -> 0.17)."""
    p = _p(experiment="sbm", sbm_side=3, sbm_hidden=10, n_train=300, sweeps=200, sbm_window=50)
    r = dsnn.run_sbm(p, 0)
    assert float(r["bars_covered"]) >= 4
    assert r["prior_like"][-1] > r["prior_like"][1]
    assert r["role"].shape == (6, 10)


def test_bars_data():
    """Bars images: pixel (i, j) is on iff row bar i or column bar j is present."""
    x, bars = dsnn.bars_data(50, 3, 0.3, np.random.default_rng(8))
    img = x.reshape(50, 3, 3)
    expect = np.maximum(bars[:, :3, None], bars[:, None, 3:])
    np.testing.assert_array_equal(img, expect)
    np.testing.assert_array_equal(dsnn.bar_masks(3).sum(1), 3)


needs_cupy = pytest.mark.skipif(not cupy_available(), reason="CuPy with a CUDA device is not available")


@needs_cupy
def test_sampler_sweep_cupy_matches_numpy():
    """Backend parity of one dual-sampling sweep (neurons, membranes, synapses) from the same state and host
    streams: 6 real inputs -> 16 hidden -> 4 clamped outputs, 500 rows.  The Bernoulli decisions agree except where the
    device's special functions differ in the last bits (at most 1 in 1000 states), and with identical
    states the synapses agree to 1e-8 (the same Cholesky regression in float64)."""
    import cupy

    rng0 = np.random.default_rng(13)
    net_np = dsnn.init_net((6, 16, 4), rng0, input_model=False)
    x = rng0.random((500, 6))
    Y = dsnn.one_hot(rng0.integers(0, 4, 500), 4)
    S_np = dsnn.forward(net_np, x, rng0)
    S_np[-1] = Y.copy()
    net_cp = dsnn.Net(net_np.sizes, [cupy.asarray(w) for w in net_np.W], 1.0, 1.0, False)
    S_cp = [cupy.asarray(a) for a in S_np]
    free = [None, np.ones(500, bool), None]
    dsnn.gibbs_sweep(net_np, S_np, free, np.random.default_rng(14))
    dsnn.gibbs_sweep(net_cp, S_cp, free, np.random.default_rng(14))
    differ = np.mean(to_numpy(S_cp[1]) != S_np[1])
    assert differ <= 1e-3, differ
    if differ == 0:
        for a, b in zip(net_cp.W[1:], net_np.W[1:]):
            np.testing.assert_allclose(to_numpy(a), b, rtol=1e-8, atol=1e-8)


@needs_cupy
@pytest.mark.parametrize("experiment", ["classify", "forget", "alternation", "sbm"])
def test_experiments_cupy_match_numpy(experiment):
    """Each experiment with `backend: cupy` against the numpy run: the same host random streams drive the
    chain, so the numbers agree up to Bernoulli decisions flipped by last-bit differences of the device's
    special functions; the headline statistics must agree within the tolerances below (tiny runs, 2 chains)."""
    kw = {"experiment": experiment, "dataset": "prototype", "hidden": 8, "n_train": 60, "n_test": 60, "classes": 3,
          "dim": 12, "sweeps": 12, "burn_in": 3, "eval_every": 3, "backprop_epochs": 3, "forget_sweeps": 8,
          "forget_particles": 30, "alt_probes": 2, "alt_sweeps": 20, "sbm_side": 3, "sbm_hidden": 8, "sbm_window": 4}
    ref = dsnn.run_chains(_p(**kw), [0, 1])
    got = dsnn.run_chains(_p(**kw, backend="cupy"), [0, 1])
    assert set(got) == set(ref)
    for k in ref:
        assert got[k].shape == ref[k].shape or k == "durations", k
    if experiment in ("classify", "forget"):
        key = "acc_average" if experiment == "classify" else "acc_learn"
        assert abs(np.nanmean(got[key][:, -1]) - np.nanmean(ref[key][:, -1])) < 0.2
    elif experiment == "alternation":
        assert abs(got["acc_train"][:, -5:].mean() - ref["acc_train"][:, -5:].mean()) < 0.2
    else:
        assert abs(got["prior_like"].mean() - ref["prior_like"].mean()) < 0.2


def test_chains_independent_of_split():
    """Chain k draws from stream(seed, k, DSNN, ...): running chains [0, 1] together or chain 1 alone gives
    identical numbers (results do not depend on the MPI split)."""
    p = _p(experiment="forget", hidden=8, n_train=40, n_test=40, sweeps=5, forget_sweeps=5, dim=16, classes=3)
    both = dsnn.run_chains(p, [0, 1])
    one = dsnn.run_chains(p, [1])
    np.testing.assert_array_equal(both["acc_forget"][1], one["acc_forget"][0])


@pytest.mark.skipif(shutil.which("mpiexec") is None, reason="mpiexec not installed")
def test_mpi_ranks_give_the_same_file(tmp_path):
    """`mpiexec -n 2 balnet dsnn run` (3 chains, alternation: ragged durations padded across ranks) writes
    the same data, bit for bit, as the serial command; only n_ranks/created attributes differ."""
    from balnet.engine.io import read

    args = ["dsnn", "run", "--experiment", "alternation", "--chains", "3", "--sweeps", "10", "--alt-sweeps", "30",
            "--hidden", "6", "--n-train", "30", "--dim", "8", "-q"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    serial, par = tmp_path / "serial.h5", tmp_path / "mpi.h5"
    kw = {"env": env, "capture_output": True, "text": True, "timeout": 300}
    r1 = subprocess.run([sys.executable, "-m", "balnet", *args, "-o", str(serial)], check=False, **kw)
    r2 = subprocess.run(["mpiexec", "-n", "2", sys.executable, "-m", "balnet", *args, "-o", str(par)], check=False,
                        **kw)
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    (da, aa), (db, ab) = read(serial), read(par)
    assert ab["n_ranks"] == 2 and aa["n_ranks"] == 1
    assert set(da) == set(db)
    for k in da:
        np.testing.assert_array_equal(da[k], db[k], err_msg=k)
    for k in set(aa) - {"n_ranks", "created"}:
        assert np.all(aa[k] == ab[k]) or (aa[k] != aa[k] and ab[k] != ab[k]), k


def test_params_validation():
    """Unknown experiment, bad burn-in and an unknown key are one-line ConfigErrors."""
    with pytest.raises(ConfigError, match="experiment"):
        _p(experiment="dream")
    with pytest.raises(ConfigError, match="backend"):
        _p(backend="gpu")
    with pytest.raises(ConfigError, match="burn_in"):
        _p(sweeps=10, burn_in=10)
    with pytest.raises(ConfigError, match="sweeps"):
        _p(sweep=3)


# ---------------------------------------------------------------------------------------------
# CLI and pipeline
# ---------------------------------------------------------------------------------------------


def test_cli_run_and_summarize(tmp_path):
    """`balnet dsnn run` writes HDF5 with labelled axes and a figure; `balnet dsnn summarize` collects them."""
    from balnet.cli import main
    from balnet.engine.io import read

    out = tmp_path / "alt.h5"
    assert main(["dsnn", "run", "--experiment", "alternation", "--sweeps", "20", "--alt-sweeps", "10", "--hidden", "8",
                 "--n-train", "40",
                 "--chains", "2", "-q", "-o", str(out), "--figure", str(tmp_path / "alt.png")]) == 0
    a, at = read(out)
    # 20 learning + 10 alternation sweeps
    assert at["kind"] == "dsnn" and at["experiment"] == "alternation" and a["percept"].shape == (2, 30)
    # percept trace and learning curves drawn; 30 sweeps give no dominance durations (empty middle panel)
    check_png(tmp_path / "alt.png", 3, drawn=(0, 2), colors=("tab:blue", "tab:orange"))
    s = tmp_path / "s.h5"
    assert main(["dsnn", "summarize", str(out), "-o", str(s), "--figure", str(tmp_path / "s.png")]) == 0
    b, _ = read(s)
    assert b["experiment"][0] == b"alternation" and "gamma_shape" in b


@pytest.mark.slow  # ~40 s: the study rules; CI lints and dry-runs them in every run
@needs_snakemake
def test_pipeline_dsnn(wf):
    """The tiny config's `dsnn` target builds every experiment, the summary and its figure in < 60 s."""
    from balnet.engine.io import read

    # the target goes first: --configfile takes every following word as a file
    smk(wf, "dsnn", "--cores", "2", "--configfile", "tests/workflow/dsnn.yaml")
    res = wf / "results" / "test" / "dsnn"
    a, _ = read(res / "dsnn_summary.h5")
    assert sorted(x.decode() for x in a["experiment"]) == ["alternation", "classify", "forget", "sbm"]
    assert a["acc_average"][[x == b"classify" for x in a["experiment"]]][0] > 0.5
    assert (res / "dsnn_summary.png").exists()
