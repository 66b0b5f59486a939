r"""Samplers of the dual-sampling neural network: Gibbs sampling of neurons *and* synapses.

Third study served by balnet, after Teramae & Tsubo, "Dual sampling neural
network: Learning without explicit optimization", Phys. Rev. Research 4,
043051 (2022).  Their thesis: learning need not be optimization; if both the
neuron states and the synaptic weights of a stochastic network are random
variables and are *sampled* (Gibbs sampling, no gradient step), with input and
output neurons clamped to data, the chain of synaptic samples is a posterior
and prediction is the average of the output over that chain.

What is the paper and what is ours
----------------------------------
The paper's text (its exact update equations) was not reachable while this
module was written.  Taken from the paper: the idea (learning = sampling both
neuron states and synapses), stochastic binary neurons, Gaussian-prior
synapses, clamping of inputs/outputs during learning and free outputs at test,
prediction by averaging over the chain, and the list of phenomena (spontaneous
synaptic fluctuation, forgetting slower than learning, synaptic Boltzmann
machine, perceptual alternation with gamma-distributed dominance durations).
**Our reconstruction** (everything below is ours, chosen so that every
conditional is exactly samplable):

* The network is a layered *probit belief network*: layers ``0..L`` with sizes
  ``n_0..n_L``, neuron :math:`i` of layer :math:`l \ge 1` has

  .. math::
      u^l_i = \sum_j W^l_{ij} s^{l-1}_j + b^l_i + \varepsilon^l_i,\qquad
      \varepsilon^l_i \sim N(0, 1),\qquad s^l_i = \mathbb 1[u^l_i > 0],

  so :math:`P(s^l_i = 1 \mid s^{l-1}) = \Phi(a^l_i)` with
  :math:`a^l_i = W^l_i s^{l-1} + b^l_i`.  Binary input neurons (layer 0) have
  a bias only, :math:`u^0_i = b^0_i + \varepsilon^0_i`; real-valued inputs
  (e.g. grey levels) are always clamped and then have no model.
* Prior: every weight :math:`W^l_{ij} \sim N(0, \sigma_w^2)`, every bias
  :math:`b^l_i \sim N(0, \sigma_b^2)`, independent.
* One Gibbs sweep, with the data batch (``B`` rows) updated in parallel:

  1. **neurons given synapses** (``u`` integrated out): each free neuron, one
     unit at a time within a layer (units of a layer are coupled through the
     layer above), is Bernoulli with

     .. math::
         \log\frac{P(s^l_i=1\mid\cdot)}{P(s^l_i=0\mid\cdot)} =
         \log\frac{\Phi(a^l_i)}{\Phi(-a^l_i)} + \sum_k
         \Big[\log\Phi\big(\sigma_k (c_k + W^{l+1}_{ki})\big) - \log\Phi(\sigma_k c_k)\Big],

     :math:`\sigma_k = 2 s^{l+1}_k - 1`, :math:`c_k = a^{l+1}_k - W^{l+1}_{ki} s^l_i`;
  2. **membrane variables given neurons and synapses** (data augmentation of
     Albert & Chib 1993): :math:`u^l_i \sim N(a^l_i, 1)` truncated to
     :math:`u > 0` if :math:`s^l_i = 1`, to :math:`u \le 0` otherwise
     (inverse-CDF in log space: :func:`truncated_normal`);
  3. **synapses given neurons and membranes**: the row
     :math:`w = (W^l_{i\cdot}, b^l_i)` of every unit is a Bayesian linear
     regression of :math:`u^l_i` on the design matrix
     :math:`X = [s^{l-1}, 1]` (``B x (n_{l-1}+1)``), Gaussian with precision
     :math:`\Lambda = X^\top X + D^{-1}` and mean :math:`\Lambda^{-1} X^\top u^l_i`
     (:math:`D = \mathrm{diag}(\sigma_w^2, \dots, \sigma_b^2)`): all units of a
     layer share :math:`\Lambda`, so one Cholesky factor per layer per sweep.

  Steps 1 then 2 draw :math:`(s, u)` exactly from :math:`p(s, u \mid W, \text{data})`
  and step 3 draws :math:`W` from :math:`p(W \mid s, u)`: a valid blocked Gibbs
  sampler of the joint posterior of neurons and synapses.
* Prediction (inputs clamped, everything else free): hidden layers are
  sampled forward (exact, no evidence below them) and the output probability
  :math:`\Phi(a^L)` (the output neuron integrated out) is averaged over
  neuron samples and, for the posterior average, over the synaptic samples of
  every sweep after burn-in (``average_every``), with split R-hat and the
  effective sample size over chains as convergence diagnostics
  (:mod:`.experiments`, :mod:`.analysis`).
* Forgetting ("data removed"): after learning, the clamped rows are released
  (every layer free); the network keeps sampling its own states and its
  synapses given those states, so the memory decays by the synaptic random
  walk only.  "Data switched": the labels are permuted.
* Perceptual alternation: the training set holds two interpretations
  (patterns A and B, labels A and B); ``alt_probes`` extra rows present the
  ambiguous pattern (inputs clamped, hidden and output free) inside the same
  chain; the percept at each sweep is the mean output difference of those
  rows, and an interpretation dominates while it exceeds ``alt_threshold``
  (hysteresis).  Optional mechanisms: adaptation of the probes' output
  neurons (a known input ``offset``) and slower synaptic fluctuations (the
  autoregressive synapse draw ``rho`` of :func:`sample_weights`).
* Synaptic Boltzmann machine: :class:`Boltzmann`, an undirected network of
  ±1 neurons with symmetric synapses whose joint Boltzmann distribution over
  neurons *and* synapses has exact Gibbs conditionals (logistic neurons,
  Gaussian synapses centred on the Hebbian co-activity).  The ``sbm``
  experiment still runs the directed probit stand-in (causes generating
  pixels, :func:`~.experiments.run_sbm`).

Verification (tests/test_dsnn.py): the truncated normal against
``scipy.stats.truncnorm``; the neuron sampler against brute-force enumeration
of 3-4 neuron networks (chi-square); the weight sampler against a long
Metropolis–Hastings chain of the probit posterior; the whole dual sampler
against the exact hidden-state posterior of a network whose synapses are
integrated out analytically (Gaussian orthant probabilities); the synaptic
Boltzmann machine against the exact neuron marginal with its synapses
integrated out (enumeration of every joint state, chi-square and total
variation).  The references live in ``tests/dsnn_reference.py``.

References
----------
* J. Teramae and Y. Tsubo, Phys. Rev. Research 4, 043051 (2022).
* J. H. Albert and S. Chib, "Bayesian analysis of binary and polychotomous
  response data", J. Am. Stat. Assoc. 88, 669 (1993).
* R. M. Neal, "Connectionist learning of belief networks", Artif. Intell. 56,
  71 (1992) (Gibbs sampling of binary belief networks).
* C. Stringer, M. Pachitariu, N. Steinmetz, M. Carandini and K. D. Harris,
  "High-dimensional geometry of population responses in visual cortex",
  Nature 571, 361 (2019) (power-law PCA spectrum, exponent ~1).
* W. J. M. Levelt, "On binocular rivalry" (1965) (gamma-distributed dominance
  durations).

Backends: ``backend`` (numpy by default, or CuPy) holds the synapses, neuron
states and membranes; the special functions come from ``scipy.special`` or
``cupyx.scipy.special`` (:func:`balnet.engine.backend.scipy_special`), random draws
stay on the host (the chain's ``numpy.random.Generator``), so a chain draws
the same numbers on either backend.  Cost per sweep: the collapsed neuron
update evaluates ``n_l n_{l+1}`` log-CDFs per row and layer, one unit at a
time (it keeps :math:`\log\Phi` of the current states of the layer above and
evaluates only the flipped state); see ``bench/bench_dsnn.py``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri_exp as _scipy_ndtri_exp

from ...engine.backend import array_namespace, scipy_linalg, scipy_special, to_numpy
from ...engine.errors import ConfigError

__all__ = [
    "Boltzmann",
    "Net",
    "accuracy",
    "bipartite_mask",
    "boltzmann_neurons",
    "boltzmann_sweep",
    "boltzmann_synapses",
    "forward",
    "gibbs_neurons",
    "gibbs_sweep",
    "hidden_mean",
    "init_boltzmann",
    "init_net",
    "ndtri_exp",
    "preactivations",
    "preactivations_offset",
    "predict_proba",
    "sample_weights",
    "truncated_normal",
]


# --------------------------------------------------------------------------------------
# the layered probit network and its exact conditionals
# --------------------------------------------------------------------------------------



@dataclass
class Net:
    """Synapses of a layered probit network.

    ``W[l]`` (``l = 1..L``) has shape ``(n_l, n_{l-1} + 1)``, the last column
    being the bias; ``W[0]`` has shape ``(n_0, 1)``: the bias of binary input
    neurons (unused when ``input_model`` is False, i.e. real-valued inputs
    that are always clamped).  The arrays live in one namespace (numpy or
    CuPy, :attr:`xp`); neuron states passed with them must live there too.
    """

    sizes: tuple
    W: list
    sigma_w: float = 1.0
    sigma_b: float = 1.0
    input_model: bool = True

    @property
    def L(self) -> int:
        return len(self.sizes) - 1

    @property
    def xp(self):
        return array_namespace(self.W[-1])

    def copy(self) -> Net:
        return Net(self.sizes, [w.copy() for w in self.W], self.sigma_w, self.sigma_b, self.input_model)

    def flat(self):
        return self.xp.concatenate([w.ravel() for w in self.W[1:]])


def init_net(sizes, rng: np.random.Generator, *, sigma_w=1.0, sigma_b=1.0, input_model=True, xp=np) -> Net:
    """Synapses drawn from the prior (biases ``N(0, sigma_b^2)``, weights ``N(0, sigma_w^2)``) on the host, then
    moved to ``xp``."""
    W = [rng.normal(0.0, sigma_b, (sizes[0], 1))]
    for l in range(1, len(sizes)):
        w = rng.normal(0.0, sigma_w, (sizes[l], sizes[l - 1] + 1))
        w[:, -1] = rng.normal(0.0, sigma_b, sizes[l])
        W.append(w)
    return Net(tuple(int(s) for s in sizes), [xp.asarray(w) for w in W], float(sigma_w), float(sigma_b),
               bool(input_model))


def _design(S, l):
    xp = array_namespace(S[0])
    B = S[0].shape[0]
    if l == 0:
        return xp.ones((B, 1))
    return xp.concatenate([S[l - 1], xp.ones((B, 1))], axis=1)


def preactivations(net: Net, S) -> list:
    """``a^l = [s^{l-1}, 1] W^l^T`` for every layer (``a^0 = b^0``), shapes ``(B, n_l)``."""
    return [_design(S, l) @ net.W[l].T for l in range(net.L + 1)]


def _uniform(rng: np.random.Generator, shape, xp):
    """``U(0, 1)`` draws on the host (the chain's stream), copied to ``xp``."""
    return xp.asarray(rng.random(shape))


def ndtri_exp(y, xp=np):
    r"""Inverse of :math:`\log\Phi`: the ``x`` with :math:`\log\Phi(x) = y` (``y <= 0``), stable for any ``y``.

    On numpy this is ``scipy.special.ndtri_exp``.  Other namespaces (CuPy has
    ``ndtri`` and ``log_ndtr`` but no ``ndtri_exp``) start from
    :math:`\Phi^{-1}(e^y)` for :math:`y < \log\tfrac12`, from
    :math:`-\Phi^{-1}(-\mathrm{expm1}(y))` above (no cancellation near
    :math:`y = 0`), and from the tail asymptote
    :math:`x \approx -\sqrt{-2y - \log(-4\pi y)}` below :math:`y = -700` (where
    :math:`e^y` underflows), then take three Newton steps on
    :math:`\log\Phi(x) - y` with derivative :math:`\phi(x)/\Phi(x)`.  Tested
    against scipy on numpy (:func:`_ndtri_exp_newton`).
    """
    if xp is np:
        return _scipy_ndtri_exp(y)
    return _ndtri_exp_newton(y, xp)


def _ndtri_exp_newton(y, xp):
    sp = scipy_special(xp)
    y = xp.minimum(xp.asarray(y, dtype=float), 0.0)
    deep = y < -700.0
    ys = xp.where(deep, -1.0, y)  # keep exp/expm1 finite where the asymptote is used
    lo = ys < math.log(0.5)
    x = xp.where(lo, sp.ndtri(xp.exp(ys)), -sp.ndtri(-xp.expm1(ys)))
    yd = xp.where(deep, y, -1000.0)
    x = xp.where(deep, -xp.sqrt(-2.0 * yd - xp.log(-4.0 * math.pi * yd)), x)
    finite = xp.isfinite(x)
    x = xp.where(finite, x, 0.0)
    for _ in range(3):
        lp = sp.log_ndtr(x)
        # d log Phi / dx = phi(x) / Phi(x) = exp(log phi(x) - log Phi(x))
        dlp = xp.exp(-0.5 * x * x - 0.5 * math.log(2 * math.pi) - lp)
        x = x - (lp - y) / dlp
    return xp.where(finite, x, xp.where(y == 0.0, xp.inf, x))


def truncated_normal(mean, positive, rng: np.random.Generator):
    r"""Exact draw of :math:`u \sim N(\text{mean}, 1)` truncated to :math:`u > 0` (``positive``) or :math:`u \le 0`.

    Inverse CDF in log space, stable for any mean:
    :math:`u = m + \sigma\,(-\Phi^{-1}(\exp(\log U + \log\Phi(\sigma m))))`,
    :math:`\sigma = \pm 1` for positive/negative truncation, ``U ~ Unif(0, 1)``
    (drawn on the host from ``rng``; ``mean`` may live on the GPU).
    """
    xp = array_namespace(mean)
    mean = xp.asarray(mean, dtype=float)
    sgn = xp.where(xp.asarray(positive, dtype=bool), 1.0, -1.0)
    logu = xp.log(_uniform(rng, mean.shape, xp))
    z = -ndtri_exp(logu + scipy_special(xp).log_ndtr(sgn * mean), xp)
    return mean + sgn * z


def forward(net: Net, x, rng: np.random.Generator, *, sample_output: bool = True) -> list:
    """Ancestral sample of all layers given clamped inputs ``x`` (``(B, n_0)``); returns the state list."""
    xp = net.xp
    S = [xp.asarray(x, dtype=float)]
    for l in range(1, net.L + 1):
        if l == net.L and not sample_output:
            break
        a = _design(S, l) @ net.W[l].T
        S.append((_uniform(rng, a.shape, xp) < _Phi(a)).astype(float))
    return S


def _Phi(a):
    return scipy_special(array_namespace(a)).ndtr(a)


def gibbs_neurons(net: Net, S, free, rng: np.random.Generator, A=None) -> list:
    r"""One exact Gibbs pass over every free neuron (``u`` integrated out), in place; returns the preactivations.

    ``free[l]`` is a host boolean row mask ``(B,)`` (or ``None``: layer clamped on
    every row); units of a layer are updated one at a time, rows in parallel.
    The uniforms of a layer are drawn at once, ``(n_l, rows)``: the same
    stream as one draw of ``rows`` per unit.  The log-likelihood of the
    layer above, :math:`\log\Phi(\sigma_k a_k)`, is kept for the current
    states, so each unit costs one :math:`\log\Phi` per row and unit above
    (that of the flipped state), and both are updated where the unit flips.
    """
    xp = net.xp
    sp = scipy_special(xp)
    L = net.L
    if A is None:
        A = preactivations(net, S)
    for l in range(L + 1):
        m = free[l]
        if m is None or (l == 0 and not net.input_model) or not np.any(m):
            continue
        m = np.asarray(m, dtype=bool)
        every = bool(m.all())
        # all rows free (the learning case): work on the arrays themselves, no gather/scatter
        rows = slice(None) if every else xp.asarray(np.flatnonzero(m))
        a_own = A[l][rows]
        s_l = S[l] if every else S[l][rows]
        if l < L:
            Wn = net.W[l + 1][:, : net.sizes[l]]  # (n_{l+1}, n_l)
            sig = 2.0 * S[l + 1][rows] - 1.0
            c_all = A[l + 1] if every else A[l + 1][rows]
            # log Phi(sigma_k a_k) of the layer above at the current states, kept in step with c_all
            lphi = sp.log_ndtr(sig * c_all)
        prior_logit = sp.log_ndtr(a_own) - sp.log_ndtr(-a_own)
        U = _uniform(rng, (net.sizes[l], int(m.sum())), xp)
        for i in range(net.sizes[l]):
            logit = prior_logit[:, i].copy()
            if l < L:
                # the layer above if unit i flipped (pm = +1: 0 -> 1, -1: 1 -> 0); one log Phi per unit:
                # log Phi(.|s_i=1) - log Phi(.|s_i=0) = pm (log Phi(flipped) - log Phi(current))
                pm = 1.0 - 2.0 * s_l[:, i : i + 1]
                c_flip = c_all + pm * Wn[:, i][None, :]
                lphi_flip = sp.log_ndtr(sig * c_flip)
                logit += pm[:, 0] * (lphi_flip - lphi).sum(axis=1)
            new = (U[i] < sp.expit(logit)).astype(float)
            if l < L:
                flip = (new != s_l[:, i])[:, None]
                xp.copyto(c_all, c_flip, where=flip)
                xp.copyto(lphi, lphi_flip, where=flip)
            s_l[:, i] = new
        if not every:
            S[l][rows] = s_l
            if l < L:
                A[l + 1][rows] = c_all
    return A


def sample_weights(net: Net, S, A, rng: np.random.Generator, rows=None, *, offset=None, rho: float = 0.0) -> None:
    r"""Draw ``u | s, W`` (truncated normals) and then every layer's synapses ``W | u, s`` (in place).

    Per layer one Cholesky factor of :math:`\Lambda = X^\top X + D^{-1}`;
    ``rows`` restricts the likelihood to those rows of the batch (default all).
    ``offset[l]`` (``(B, n_l)`` or None) is a known per-row input added to the
    preactivations ``A`` (adaptation currents): the regression is on
    :math:`u - \text{offset}`.  ``rho`` in ``[0, 1)`` replaces the independent
    draw by the Gaussian autoregressive move
    :math:`W' = \mu + \rho (W - \mu) + \sqrt{1-\rho^2}\,\Lambda^{-1/2} z`,
    which leaves the same conditional :math:`N(\mu, \Lambda^{-1})` invariant
    (reversible; Neal 1998, "Suppressing random walks in MCMC using ordered
    overrelaxation", with a positive coefficient) and slows the synaptic
    fluctuations: their correlation time grows by about :math:`(1+\rho)/(1-\rho)`.
    """
    xp = net.xp
    solve_triangular = scipy_linalg(xp).solve_triangular
    for l in range(0 if net.input_model else 1, net.L + 1):
        X = _design(S, l)
        a, s = A[l], S[l]
        off = None if offset is None else offset[l]
        if rows is not None:
            X, a, s = X[rows], a[rows], s[rows]
            off = None if off is None else off[rows]
        U = truncated_normal(a, s > 0.5, rng)  # (B, n_l)
        if off is not None:
            U = U - off
        d = X.shape[1]
        prior_prec = np.full(d, 1.0 / net.sigma_w**2)
        prior_prec[-1] = 1.0 / net.sigma_b**2
        Lam = X.T @ X + xp.diag(xp.asarray(prior_prec))
        C = xp.linalg.cholesky(Lam)
        rhs = X.T @ U  # (d, n_l)
        mean = solve_triangular(C.T, solve_triangular(C, rhs, lower=True), lower=False)
        z = rng.standard_normal((d, net.sizes[l]))
        noise = solve_triangular(C.T, xp.asarray(z), lower=False)
        if rho:
            net.W[l] = (mean + rho * (net.W[l].T - mean) + math.sqrt(1.0 - rho * rho) * noise).T
        else:
            net.W[l] = (mean + noise).T


def preactivations_offset(net: Net, S, offset=None) -> list:
    """:func:`preactivations` plus the known per-row inputs ``offset[l]`` (None entries: nothing added)."""
    A = preactivations(net, S)
    if offset is not None:
        A = [a if o is None else a + o for a, o in zip(A, offset)]
    return A


def gibbs_sweep(net: Net, S, free, rng: np.random.Generator, rows=None, *, offset=None, rho: float = 0.0) -> list:
    """One sweep: neurons (collapsed), then membranes and synapses; returns fresh preactivations.

    ``offset`` and ``rho``: see :func:`sample_weights` (the neurons see the offset too).
    """
    A = gibbs_neurons(net, S, free, rng, A=None if offset is None else preactivations_offset(net, S, offset))
    sample_weights(net, S, A, rng, rows=rows, offset=offset, rho=rho)
    return preactivations_offset(net, S, offset)


def predict_proba(net: Net, x, rng: np.random.Generator, n_samples: int = 8):
    r"""Output probabilities :math:`\langle\Phi(a^L)\rangle` over ``n_samples`` forward neuron samples, ``(B, n_L)``."""
    xp = net.xp
    x = xp.asarray(x, dtype=float)
    xr = xp.repeat(x, n_samples, axis=0)
    S = forward(net, xr, rng, sample_output=False)
    p = _Phi(_design(S, net.L) @ net.W[net.L].T)
    return p.reshape(x.shape[0], n_samples, -1).mean(axis=1)


def hidden_mean(net: Net, x, rng, n_samples=8, layer=1):
    """Mean activity of hidden ``layer`` for every input row (``(B, n_layer)``), over forward samples."""
    xp = net.xp
    x = xp.asarray(x, dtype=float)
    xr = xp.repeat(x, n_samples, axis=0)
    S = forward(net, xr, rng, sample_output=False)
    return S[layer].reshape(x.shape[0], n_samples, -1).mean(axis=1)


def accuracy(P, y) -> float:
    """Fraction of rows whose most probable class (``P`` on any backend) equals the host labels ``y``."""
    return float(np.mean(to_numpy(P).argmax(1) == np.asarray(y)))


# --------------------------------------------------------------------------------------
# the synaptic Boltzmann machine: undirected, symmetric synapses sampled with the neurons
# --------------------------------------------------------------------------------------



@dataclass
class Boltzmann:
    r"""Synaptic Boltzmann machine: ``K`` independent chains of an undirected network of ``n`` ±1 neurons.

    The joint distribution of the states :math:`s^r \in \{-1, 1\}^n` of the
    ``B`` rows :math:`r` (data items) of a chain, its symmetric synapses
    :math:`W_{ij} = W_{ji}` (on the edges of ``mask``) and biases :math:`b_i` is

    .. math::
        p(s, W, b) \propto \exp\Big(\sum_r \big[\sum_{i<j} M_{ij} W_{ij} s^r_i s^r_j
        + \sum_i b_i s^r_i\big] - \sum_{i<j} M_{ij}\frac{W_{ij}^2}{2\sigma_w^2}
        - \sum_i \frac{b_i^2}{2\sigma_b^2}\Big),

    a Boltzmann distribution over neurons *and* synapses (no partition
    function :math:`Z(W)` enters: the synapses are variables of the same
    energy, not parameters of a normalized model).  Every conditional is exact:

    * neuron :math:`i` of row :math:`r`: :math:`P(s^r_i = 1 \mid \cdot) =
      \sigma(2 h^r_i)`, :math:`h^r_i = \sum_j W_{ij} s^r_j + b_i` (logistic
      :math:`\sigma`);
    * synapses: :math:`W_{ij} \mid s \sim N(\sigma_w^2 C_{ij}, \sigma_w^2)`,
      :math:`C_{ij} = \sum_r s^r_i s^r_j` (Hebbian co-activity), independent over
      edges; :math:`b_i \mid s \sim N(\sigma_b^2 \sum_r s^r_i, \sigma_b^2)`.

    Integrating the synapses out gives the neurons' marginal
    :math:`\log p(s) = \tfrac{\sigma_w^2}{2}\sum_{i<j} M_{ij} C_{ij}^2 +
    \tfrac{\sigma_b^2}{2}\sum_i (\sum_r s^r_i)^2 + \text{const}`, the exact
    reference of the enumeration test.  Shapes: ``W`` ``(K, n, n)`` (zero
    diagonal and off the mask), ``b`` ``(K, n)``, states ``(K, B, n)``; arrays
    on numpy or CuPy (:attr:`xp`), random draws from the host stream.
    """

    mask: np.ndarray
    W: object
    b: object
    sigma_w: float = 1.0
    sigma_b: float = 1.0

    @property
    def xp(self):
        return array_namespace(self.W)

    @property
    def n(self) -> int:
        return self.mask.shape[0]

    @property
    def chains(self) -> int:
        return self.W.shape[0]


def init_boltzmann(mask, rng: np.random.Generator, *, chains=1, sigma_w=1.0, sigma_b=1.0, xp=np) -> Boltzmann:
    """Symmetric synapses on the edges of ``mask`` (``(n, n)`` 0/1, symmetric, zero diagonal) drawn from the prior."""
    mask = np.asarray(mask, float)
    if mask.ndim != 2 or mask.shape[0] != mask.shape[1] or not np.array_equal(mask, mask.T):
        raise ConfigError("Boltzmann mask must be a symmetric square matrix")
    mask = mask * (1.0 - np.eye(len(mask)))
    n = len(mask)
    z = np.triu(rng.standard_normal((chains, n, n)), 1)
    W = sigma_w * (z + np.swapaxes(z, 1, 2)) * mask
    b = rng.normal(0.0, sigma_b, (chains, n))
    return Boltzmann(mask, xp.asarray(W), xp.asarray(b), float(sigma_w), float(sigma_b))


def boltzmann_neurons(bm: Boltzmann, S, units, rng: np.random.Generator) -> None:
    """One Gibbs pass, in place, over the neurons ``units`` (in order) of every row and chain of ``S``
    (``(K, B, n)``)."""
    xp = bm.xp
    sp = scipy_special(xp)
    units = [int(i) for i in units]
    U = _uniform(rng, (len(units), *S.shape[:2]), xp)
    for q, i in enumerate(units):
        h = xp.einsum("kbj,kj->kb", S, bm.W[:, :, i]) + bm.b[:, i : i + 1]
        S[:, :, i] = xp.where(U[q] < sp.expit(2.0 * h), 1.0, -1.0)


def boltzmann_synapses(bm: Boltzmann, S, rng: np.random.Generator) -> None:
    """Exact draw of every synapse and bias given the neuron states ``S`` (``(K, B, n)``), in place."""
    xp = bm.xp
    K, _, n = S.shape
    C = xp.einsum("kbi,kbj->kij", S, S)
    z = np.triu(rng.standard_normal((K, n, n)), 1)
    M = xp.asarray(bm.mask)
    bm.W = (bm.sigma_w**2 * C + bm.sigma_w * xp.asarray(z + np.swapaxes(z, 1, 2))) * M
    bm.b = bm.sigma_b**2 * S.sum(1) + bm.sigma_b * xp.asarray(rng.standard_normal((K, n)))


def boltzmann_sweep(bm: Boltzmann, S, units, rng: np.random.Generator) -> None:
    """One sweep of the synaptic Boltzmann machine: the free neurons ``units``, then all synapses and biases."""
    boltzmann_neurons(bm, S, units, rng)
    boltzmann_synapses(bm, S, rng)


def bipartite_mask(n_visible: int, n_hidden: int) -> np.ndarray:
    """Edge mask of a restricted Boltzmann machine: visible units ``0..n_visible-1`` coupled to every hidden unit."""
    n = n_visible + n_hidden
    m = np.zeros((n, n))
    m[:n_visible, n_visible:] = 1.0
    return m + m.T
