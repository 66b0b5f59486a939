"""Independent references for the dual-sampling network's tests (not part of the package).

* :func:`probit_weight_mh`: random-walk Metropolis–Hastings of a single probit unit's weight posterior
  (:func:`probit_log_posterior`), the reference of the Albert–Chib weight sampler;
* :func:`enumerate_joint` / :func:`state_index`: brute-force enumeration of a small probit network's neurons;
* :func:`boltzmann_log_marginal` / :func:`boltzmann_states`: the exact neuron marginal of the synaptic
  Boltzmann machine (synapses integrated out analytically) over every joint state of its rows.
"""
from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr

from balnet import dsnn


def probit_log_posterior(w, X, y, sigma=1.0):
    sgn = 2.0 * y - 1.0
    return log_ndtr(sgn * (X @ w)).sum() - 0.5 * (w @ w) / sigma**2


def probit_weight_mh(X, y, n_steps, rng, *, sigma=1.0, step=0.3, burn=1000, chains=32) -> np.ndarray:
    """Random-walk Metropolis–Hastings reference for the probit weight posterior.

    ``chains`` independent chains (vectorized), Gaussian proposals of std
    ``step``, ``burn`` discarded steps each; returns the pooled samples
    ``(chains * n_steps, d)``.
    """
    sgn = 2.0 * np.asarray(y, float) - 1.0

    def logp(w):  # (chains, d)
        return log_ndtr(sgn[None, :] * (w @ X.T)).sum(1) - 0.5 * (w * w).sum(1) / sigma**2

    d = X.shape[1]
    w = np.zeros((chains, d))
    lp = logp(w)
    out = np.empty((n_steps, chains, d))
    for t in range(burn + n_steps):
        prop = w + step * rng.standard_normal((chains, d))
        lq = logp(prop)
        acc = np.log(rng.random(chains)) < lq - lp
        w[acc], lp[acc] = prop[acc], lq[acc]
        if t >= burn:
            out[t - burn] = w
    return out.reshape(-1, d)


def _design(S, l):
    ones = np.ones((len(S[0]) if S else 0, 1))
    return ones if l == 0 else np.concatenate([S[l - 1], ones], axis=1)


def enumerate_joint(net: dsnn.Net, x=None) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact joint of the neurons by brute-force enumeration (for tests; ``2^n`` states).

    With ``x`` (``(n_0,)``) the inputs are clamped and the non-input neurons
    are enumerated; with ``x=None`` the inputs are binary neurons too
    (``net.input_model``).  Returns ``(states, prob)``: ``states`` ``(2^n, n)``
    in the bit order of :func:`state_index`, ``prob`` the products of the probit factors
    :math:`\Phi((2s^l_i - 1) a^l_i)`.
    """
    first = 0 if x is None else 1
    n_free = sum(net.sizes[first:])
    states = ((np.arange(2**n_free)[:, None] >> np.arange(n_free)[None, :]) & 1).astype(float)
    S = [] if x is None else [np.repeat(np.asarray(x, float)[None, :], len(states), 0)]
    o = 0
    for l in range(first, net.L + 1):
        S.append(states[:, o : o + net.sizes[l]])
        o += net.sizes[l]
    logp = np.zeros(len(states))
    for l in range(first, net.L + 1):
        a = _design(S, l) @ net.W[l].T
        logp += log_ndtr((2 * S[l] - 1) * a).sum(axis=1)
    return states, np.exp(logp)


def state_index(S, first=1) -> np.ndarray:
    """Integer code of the states of layers ``first..L`` of each row (bit order of :func:`enumerate_joint`)."""
    bits = np.concatenate(S[first:], axis=1)
    return (bits.astype(np.int64) << np.arange(bits.shape[1])[None, :]).sum(axis=1)


def boltzmann_states(B: int, n: int) -> np.ndarray:
    """Every joint state of ``B`` rows of ``n`` ±1 neurons, ``(2^(B n), B, n)``, in the bit order of
    :func:`boltzmann_index` (bit ``r n + i`` is neuron i of row r, 1 for +1)."""
    m = B * n
    bits = (np.arange(2**m)[:, None] >> np.arange(m)[None, :]) & 1
    return (2.0 * bits - 1.0).reshape(-1, B, n)


def boltzmann_index(S) -> np.ndarray:
    """Integer code of the ±1 states ``S`` (``(K, B, n)``), the bit order of :func:`boltzmann_states`."""
    bits = (np.asarray(S).reshape(len(S), -1) > 0).astype(np.int64)
    return (bits << np.arange(bits.shape[1])[None, :]).sum(axis=1)


def boltzmann_log_marginal(states, mask, sigma_w, sigma_b) -> np.ndarray:
    r"""Unnormalized :math:`\log p(s)` of the synaptic Boltzmann machine with the synapses integrated out.

    :math:`\int dW\,db\,\exp(\sum_{i<j} M_{ij} W_{ij} C_{ij} + \sum_i b_i m_i - |W|^2/2\sigma_w^2
    - |b|^2/2\sigma_b^2) \propto \exp(\tfrac{\sigma_w^2}{2}\sum_{i<j} M_{ij} C_{ij}^2 +
    \tfrac{\sigma_b^2}{2}\sum_i m_i^2)` with :math:`C_{ij} = \sum_r s^r_i s^r_j`, :math:`m_i = \sum_r s^r_i`
    (completing the square per synapse); ``states`` ``(N, B, n)``.
    """
    S = np.asarray(states, float)
    C = np.einsum("kbi,kbj->kij", S, S)
    M = np.triu(np.asarray(mask, float), 1)
    return 0.5 * sigma_w**2 * (M[None] * C**2).sum((1, 2)) + 0.5 * sigma_b**2 * (S.sum(1) ** 2).sum(1)
