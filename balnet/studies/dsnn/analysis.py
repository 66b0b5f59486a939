"""Baseline and statistics of the dual-sampling experiments.

A same-size MLP trained by backpropagation; the power-law exponent of a PCA
spectrum; relaxation times; dominance durations, their gamma fit and serial
correlation; MCMC convergence diagnostics (split R-hat, effective sample size).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import expit, softmax
from scipy.stats import gamma

from ...engine.backend import to_numpy
from .data import one_hot
from .sampler import accuracy

__all__ = [
    "backprop_mlp",
    "dominance_durations",
    "effective_sample_size",
    "gamma_fit",
    "nll",
    "power_law_exponent",
    "relaxation_time",
    "serial_correlation",
    "split_rhat",
    "switches",
]


def backprop_mlp(xtr, ytr, xte, yte, hidden, C, rng, *, epochs=100, lr=0.5, batch=32, layers=1):
    """Same-size MLP trained by backpropagation (sigmoid hidden, softmax output, cross-entropy, SGD + momentum 0.9).

    Returns the test accuracy after every epoch, ``(epochs,)``.
    """
    sizes = [xtr.shape[1]] + [hidden] * layers + [C]
    W = [rng.normal(0, 1 / math.sqrt(sizes[i]), (sizes[i], sizes[i + 1])) for i in range(len(sizes) - 1)]
    b = [np.zeros(sizes[i + 1]) for i in range(len(sizes) - 1)]
    vW = [np.zeros_like(w) for w in W]
    vb = [np.zeros_like(v) for v in b]
    Y = one_hot(ytr, C)
    acc = np.empty(epochs)

    def fwd(x):
        hs = [x]
        for i in range(len(W) - 1):
            hs.append(expit(hs[-1] @ W[i] + b[i]))
        return hs, softmax(hs[-1] @ W[-1] + b[-1], axis=1)

    for e in range(epochs):
        order = rng.permutation(len(xtr))
        for s in range(0, len(order), batch):
            j = order[s : s + batch]
            hs, p = fwd(xtr[j])
            delta = (p - Y[j]) / len(j)
            for i in range(len(W) - 1, -1, -1):
                gW, gb = hs[i].T @ delta, delta.sum(0)
                if i > 0:
                    delta = (delta @ W[i].T) * hs[i] * (1 - hs[i])
                vW[i] = 0.9 * vW[i] - lr * gW
                vb[i] = 0.9 * vb[i] - lr * gb
                W[i] += vW[i]
                b[i] += vb[i]
        acc[e] = accuracy(fwd(xte)[1], yte)
    return acc


def power_law_exponent(eig, lo=1, hi=None) -> float:
    r"""Exponent :math:`\alpha` of :math:`\lambda_n \propto n^{-\alpha}`.

    Least-squares slope of log eigenvalue against log rank over ranks ``lo..hi`` (default: the first half).
    """
    eig = np.sort(np.asarray(eig, float))[::-1]
    hi = hi or max(lo + 2, len(eig) // 2)
    n = np.arange(1, len(eig) + 1)[lo - 1 : hi]
    v = eig[lo - 1 : hi]
    ok = v > 1e-12 * eig[0]
    if ok.sum() < 2:
        return float("nan")
    return float(-np.polyfit(np.log(n[ok]), np.log(v[ok]), 1)[0])


def relaxation_time(t, curve, start, end) -> float:
    r"""Time constant of a relaxation from ``start`` to ``end``.

    Progress :math:`p(t) = (c(t) - \text{start})/(\text{end} - \text{start})`;
    :math:`\tau` is the first (interpolated) time with :math:`p \ge 1 - 1/e`.
    If that level is never reached, :math:`-\log(1 - p) = (t - t_0)/\tau` is
    fitted through the origin (an extrapolated estimate; NaN if no progress).
    """
    t = np.asarray(t, float) - float(t[0])
    c = np.asarray(curve, float)
    if not np.isfinite(end - start) or abs(end - start) < 1e-12:
        return float("nan")
    p = (c - start) / (end - start)
    lvl = 1 - 1 / math.e
    hit = np.flatnonzero(p >= lvl)
    if len(hit):
        i = hit[0]
        if i == 0:
            return float(t[0]) if t[0] > 0 else float(t[1] if len(t) > 1 else 0.0) / 2
        f = (lvl - p[i - 1]) / (p[i] - p[i - 1])
        return float(t[i - 1] + f * (t[i] - t[i - 1]))
    q = np.clip(p, 0, 0.99)
    y = -np.log1p(-q)
    if y.max() <= 0:
        return float("inf")
    return float((t @ t) / (t @ y))


def dominance_durations(d, threshold: float = 0.0) -> np.ndarray:
    """Dominance durations (in sweeps) of a percept time course ``d`` with hysteresis.

    The dominant interpretation is +1 while ``d > threshold``, -1 while
    ``d < -threshold``, and stays what it was in between (mixed periods count
    toward the current dominance); a duration is the time between two switches
    of dominance, so the truncated runs at both ends are dropped.
    """
    d = np.asarray(d, float)
    s = np.where(d > threshold, 1.0, np.where(d < -threshold, -1.0, 0.0))
    for i in range(1, len(s)):
        if s[i] == 0:
            s[i] = s[i - 1]
    s = s[s != 0]
    if len(s) < 2:
        return np.zeros(0)
    change = np.flatnonzero(np.diff(s) != 0) + 1
    return np.diff(change).astype(float)


def switches(d, threshold) -> bool:
    s = np.where(d > threshold, 1, np.where(d < -threshold, -1, 0))
    s = s[s != 0]
    return bool(len(s) > 1 and np.any(s[1:] != s[:-1]))


def gamma_fit(durations):
    """Gamma fit (location 0) of dominance durations: ``(shape, scale, cv)``; NaNs if fewer than 3 durations."""
    d = np.asarray(durations, float)
    if len(d) < 3 or np.all(d == d[0]):
        return float("nan"), float("nan"), float(np.std(d) / np.mean(d)) if len(d) else float("nan")
    k, _, theta = gamma.fit(d, floc=0)
    return float(k), float(theta), float(np.std(d) / np.mean(d))


def serial_correlation(durations) -> float:
    """Pearson correlation of successive dominance durations (lag 1); NaN with fewer than 3 durations."""
    d = np.asarray(durations, float)
    if len(d) < 3 or np.std(d[:-1]) == 0 or np.std(d[1:]) == 0:
        return float("nan")
    return float(np.corrcoef(d[:-1], d[1:])[0, 1])


def _split_chains(x) -> np.ndarray:
    x = np.asarray(x, float)
    x = x.reshape(1, -1) if x.ndim == 1 else x
    h = x.shape[1] // 2
    return np.concatenate([x[:, :h], x[:, x.shape[1] - h :]], axis=0)


def split_rhat(x) -> float:
    r"""Split :math:`\hat R` of draws ``x`` (``(chains, draws)``; Gelman et al., *Bayesian Data Analysis*, 3rd ed.).

    Every chain is cut in two halves (``m`` half-chains of ``n`` draws);
    with :math:`W` the mean within-half variance and :math:`B/n` the variance
    of the half means,

    .. math::
        \hat R = \sqrt{\frac{\frac{n-1}{n} W + B/n}{W}},

    which tends to 1 when all chains sample the same stationary distribution
    (values above ~1.01-1.1 flag chains that have not mixed or still drift).
    NaN with fewer than 4 draws per chain or zero within-chain variance.
    """
    z = _split_chains(x)
    n = z.shape[1]
    if n < 2:
        return float("nan")
    W = float(np.mean(np.var(z, axis=1, ddof=1)))
    if not W > 0:
        return float("nan")
    B_n = float(np.var(z.mean(1), ddof=1))
    return float(math.sqrt(((n - 1) / n * W + B_n) / W))


def effective_sample_size(x) -> float:
    r"""Effective sample size of draws ``x`` (``(chains, draws)``), split chains, Geyer's initial monotone sequence.

    With the pooled autocorrelation
    :math:`\hat\rho_t = 1 - (W - \overline{\gamma_t})/\widehat{\mathrm{var}}^+`
    (:math:`\overline{\gamma_t}`: the lag-t autocovariance averaged over the
    half-chains), the sums :math:`P_k = \hat\rho_{2k} + \hat\rho_{2k+1}` are
    kept while positive and made monotone, and
    :math:`\mathrm{ESS} = mn / (-1 + 2\sum_k P_k)` (Geyer 1992; Stan's
    estimator without rank normalization).  For an AR(1) chain with
    coefficient :math:`\phi` it tends to :math:`mn(1-\phi)/(1+\phi)`.
    """
    z = _split_chains(x)
    m, n = z.shape
    if n < 4:
        return float("nan")
    zc = z - z.mean(1, keepdims=True)
    f = np.fft.rfft(zc, 2 * n, axis=1)
    acov = np.fft.irfft(f * np.conj(f), axis=1)[:, :n] / n  # biased lag-t autocovariance per half-chain
    W = float(np.mean(acov[:, 0]) * n / (n - 1))
    if not W > 0:
        return float("nan")
    var_plus = (n - 1) / n * W + (float(np.var(z.mean(1), ddof=1)) if m > 1 else 0.0)
    rho = 1.0 - (W - acov.mean(0)) / var_plus
    rho[0] = 1.0
    tau, prev = -1.0, np.inf
    for k in range(0, n - 1, 2):
        pk = rho[k] + rho[k + 1]
        if pk < 0:
            break
        pk = min(pk, prev)
        tau += 2.0 * pk
        prev = pk
    return float(m * n / max(tau, 1.0 / math.log10(max(m * n, 10))))


def nll(P, y) -> float:
    """Mean test negative log-likelihood of the labels ``y``, output probabilities normalized over classes."""
    q = to_numpy(P)
    q = q / np.maximum(q.sum(1, keepdims=True), 1e-300)
    return float(-np.mean(np.log(np.maximum(q[np.arange(len(y)), np.asarray(y)], 1e-300))))
