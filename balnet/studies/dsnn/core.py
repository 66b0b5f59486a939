r"""Dual-sampling neural network: learning by Gibbs sampling of neurons *and* synapses.

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
  :math:`\Phi(a^L)` is averaged over neuron samples and, for the posterior
  average, over synaptic samples along the chain.
* Forgetting ("data removed"): after learning, the clamped rows are released
  (every layer free); the network keeps sampling its own states and its
  synapses given those states, so the memory decays by the synaptic random
  walk only.  "Data switched": the labels are permuted.
* Perceptual alternation: the training set holds two interpretations
  (patterns A and B, labels A and B); ``alt_probes`` extra rows present the
  ambiguous pattern (inputs clamped, hidden and output free) inside the same
  chain; the percept at each sweep is the mean output difference of those
  rows, and an interpretation dominates while it exceeds ``alt_threshold``
  (hysteresis).
* Synaptic Boltzmann machine: see :func:`run_sbm` (a directed probit stand-in
  for the RBM, whose synaptic posterior would involve the partition function).

Verification (tests/test_dsnn.py): the truncated normal against
``scipy.stats.truncnorm``; the neuron sampler against brute-force enumeration
of 3-4 neuron networks (chi-square); the weight sampler against a long
Metropolis–Hastings chain of the probit posterior; the whole dual sampler
against the exact hidden-state posterior of a network whose synapses are
integrated out analytically (Gaussian orthant probabilities).

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
from dataclasses import dataclass, fields

import numpy as np

from ...engine.backend import (
    array_namespace,
    check_backend,
    get_xp,
    scipy_linalg,
    scipy_special,
    to_numpy,
)
from ...engine.figures import _plt, save
from ...engine.io import H5Writer, read, read_attrs
from ...engine.params import ConfigError, _f, from_mapping
from ...engine.progress import progress_bar
from ...engine.random import DSNN, stream

__all__ = [
    "EXPERIMENTS",
    "DSNNParams",
    "Net",
    "backprop_mlp",
    "bars_data",
    "digits_data",
    "dominance_durations",
    "enumerate_joint",
    "forward",
    "gibbs_neurons",
    "gibbs_sweep",
    "init_net",
    "plot_results",
    "plot_summary",
    "power_law_exponent",
    "predict_proba",
    "probit_log_posterior",
    "probit_weight_mh",
    "prototype_data",
    "relaxation_time",
    "run_alternation",
    "run_chain",
    "run_chains",
    "run_classify",
    "run_forget",
    "run_sbm",
    "sample_weights",
    "state_index",
    "summary",
    "truncated_normal",
    "write_results",
    "write_summary",
]

EXPERIMENTS = ("classify", "forget", "alternation", "sbm")
DATASETS = ("digits", "prototype")
FORGET_MODES = ("remove", "switch")

# stream(seed, k, DSNN, sub): sub-purposes of chain k
_S_DATA, _S_INIT, _S_CHAIN, _S_BACKPROP, _S_EVAL = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class DSNNParams:
    """The ``dsnn:`` section: network, chain and experiment of the dual-sampling study.

    ``experiment`` picks the run: ``classify`` (accuracy vs sweeps against
    backprop, posterior average vs single sample, synaptic drift and PCA
    spectrum of hidden activity), ``forget`` (acquisition then forgetting time
    constants), ``alternation`` (dominance durations of an ambiguous input) or
    ``sbm`` (unsupervised bars: division of roles and pruning).
    ``chains`` independent chains (chain k uses ``stream(seed, k, DSNN, ...)``)
    are split across MPI ranks.
    """

    experiment: str = _f("classify", "classify, forget, alternation or sbm")
    dataset: str = _f("digits", "classify: digits (scikit-learn, 8x8 grey levels) or prototype (noisy binary patterns)")
    hidden: int = _f(64, "hidden neurons per hidden layer")
    layers: int = _f(1, "number of hidden layers")
    chains: int = _f(2, "independent chains (MPI ranks split them)")
    seed: int = _f(0, "root seed; chain k uses stream(seed, k, DSNN, ...)")
    sweeps: int = _f(200, "Gibbs sweeps of the learning phase")
    burn_in: int = _f(50, "sweeps before synaptic samples enter the posterior average")
    eval_every: int = _f(5, "evaluate test accuracy every this many sweeps")
    neuron_samples: int = _f(8, "forward neuron samples per synaptic sample at prediction")
    sigma_w: float = _f(1.0, "prior std of every weight")
    sigma_b: float = _f(1.0, "prior std of every bias")
    n_train: int = _f(500, "training rows (clamped data batch)")
    n_test: int = _f(500, "held-out test rows")
    classes: int = _f(10, "prototype/forget: number of classes (prototypes)")
    dim: int = _f(32, "prototype/forget/alternation: binary input dimension")
    flip: float = _f(0.1, "prototype/forget/alternation: bit-flip probability of the noisy samples")
    backprop_epochs: int = _f(100, "epochs of the same-size backprop baseline")
    backprop_lr: float = _f(0.5, "learning rate of the backprop baseline (SGD with momentum 0.9)")
    forget_sweeps: int = _f(300, "forget: sweeps after the data are removed or switched")
    forget_mode: str = _f("remove", "forget: remove (all neurons free) or switch (labels permuted)")
    forget_particles: int = _f(100, "forget/remove: free-running rows kept after removal (0: all n_train rows)")
    alt_probes: int = _f(8, "alternation: rows presenting the ambiguous input inside the chain")
    alt_sweeps: int = _f(1000, "alternation: sweeps after the learning phase whose dominance durations are fitted")
    alt_windows: int = _f(4, "alternation: windows of the sweep axis for the emergence statistics")
    alt_threshold: float = _f(0.2, "alternation: |percept| above which one interpretation dominates (hysteresis)")
    sbm_side: int = _f(4, "sbm: side of the bar images (2*side independent bars)")
    sbm_p: float = _f(0.15, "sbm: probability that each bar is present")
    sbm_hidden: int = _f(16, "sbm: hidden (cause) neurons, more than the 2*side bars")
    sbm_window: int = _f(25, "sbm: sweeps per window of the synaptic statistics")
    backend: str = _f("numpy", "array backend of the chains: numpy, cupy or auto (random draws stay on the host)")

    def validate(self) -> None:
        if self.experiment not in EXPERIMENTS:
            raise ConfigError(f"experiment must be one of {', '.join(EXPERIMENTS)}, got {self.experiment!r}")
        if self.dataset not in DATASETS:
            raise ConfigError(f"dataset must be one of {', '.join(DATASETS)}, got {self.dataset!r}")
        if self.forget_mode not in FORGET_MODES:
            raise ConfigError(f"forget_mode must be one of {', '.join(FORGET_MODES)}, got {self.forget_mode!r}")
        for name in ("hidden", "layers", "chains", "sweeps", "eval_every", "neuron_samples", "n_train", "n_test",
                     "dim", "backprop_epochs", "forget_sweeps", "alt_probes", "alt_sweeps", "alt_windows",
                     "sbm_side", "sbm_hidden", "sbm_window"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {getattr(self, name)}")
        for name in ("seed", "burn_in", "forget_particles"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.experiment == "classify" and self.burn_in >= self.sweeps:
            raise ConfigError(f"burn_in ({self.burn_in}) must be smaller than sweeps ({self.sweeps})")
        if self.classes < 2:
            raise ConfigError(f"classes must be >= 2, got {self.classes}")
        for name in ("sigma_w", "sigma_b", "backprop_lr"):
            v = getattr(self, name)
            if not (v > 0 and math.isfinite(v)):
                raise ConfigError(f"{name} must be a positive number, got {v}")
        if not 0.0 < self.sbm_p < 1.0:
            raise ConfigError(f"sbm_p must lie in (0, 1), got {self.sbm_p}")
        if not 0.0 <= self.alt_threshold < 1.0:
            raise ConfigError(f"alt_threshold must lie in [0, 1), got {self.alt_threshold}")
        if not 0.0 <= self.flip < 0.5:
            raise ConfigError(f"flip must lie in [0, 0.5), got {self.flip}")
        check_backend(self.backend)

    @classmethod
    def from_mapping(cls, mapping):

        return from_mapping(cls, mapping)


# --------------------------------------------------------------------------------------
# the network and its exact conditionals
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
    """Synapses drawn from the prior (biases ``N(0, sigma_b^2)``, weights ``N(0, sigma_w^2)``), on the host, then ``xp``."""
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
        from scipy.special import ndtri_exp as _scipy_ndtri_exp

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


def sample_weights(net: Net, S, A, rng: np.random.Generator, rows=None) -> None:
    """Draw ``u | s, W`` (truncated normals) and then every layer's synapses ``W | u, s`` (in place).

    Per layer one Cholesky factor of :math:`\\Lambda = X^\\top X + D^{-1}`;
    ``rows`` restricts the likelihood to those rows of the batch (default all).
    """
    xp = net.xp
    solve_triangular = scipy_linalg(xp).solve_triangular
    for l in range(0 if net.input_model else 1, net.L + 1):
        X = _design(S, l)
        a, s = A[l], S[l]
        if rows is not None:
            X, a, s = X[rows], a[rows], s[rows]
        U = truncated_normal(a, s > 0.5, rng)  # (B, n_l)
        d = X.shape[1]
        prior_prec = np.full(d, 1.0 / net.sigma_w**2)
        prior_prec[-1] = 1.0 / net.sigma_b**2
        Lam = X.T @ X + xp.diag(xp.asarray(prior_prec))
        C = xp.linalg.cholesky(Lam)
        rhs = X.T @ U  # (d, n_l)
        mean = solve_triangular(C.T, solve_triangular(C, rhs, lower=True), lower=False)
        z = rng.standard_normal((d, net.sizes[l]))
        net.W[l] = (mean + solve_triangular(C.T, xp.asarray(z), lower=False)).T


def gibbs_sweep(net: Net, S, free, rng: np.random.Generator, rows=None) -> list:
    """One sweep: neurons (collapsed), then membranes and synapses; returns fresh preactivations."""
    A = gibbs_neurons(net, S, free, rng)
    sample_weights(net, S, A, rng, rows=rows)
    return preactivations(net, S)


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
# reference samplers for the tests: single probit unit, brute-force enumeration
# --------------------------------------------------------------------------------------


def probit_log_posterior(w, X, y, sigma=1.0):
    from scipy.special import log_ndtr

    sgn = 2.0 * y - 1.0
    return log_ndtr(sgn * (X @ w)).sum() - 0.5 * (w @ w) / sigma**2


def probit_weight_mh(X, y, n_steps, rng, *, sigma=1.0, step=0.3, burn=1000, chains=32) -> np.ndarray:
    """Random-walk Metropolis–Hastings reference for the probit weight posterior.

    ``chains`` independent chains (vectorized), Gaussian proposals of std
    ``step``, ``burn`` discarded steps each; returns the pooled samples
    ``(chains * n_steps, d)``.
    """
    from scipy.special import log_ndtr

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


def enumerate_joint(net: Net, x=None) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact joint of the neurons by brute-force enumeration (for tests; ``2^n`` states).

    With ``x`` (``(n_0,)``) the inputs are clamped and the non-input neurons
    are enumerated; with ``x=None`` the inputs are binary neurons too
    (``net.input_model``).  Returns ``(states, prob)``: ``states`` ``(2^n, n)``
    in the bit order of :func:`state_index`, ``prob`` the products of the probit factors
    :math:`\Phi((2s^l_i - 1) a^l_i)`.
    """
    from scipy.special import log_ndtr

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


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------


def digits_data(n_train, n_test, rng):
    """scikit-learn's 8x8 digits (1797 images, grey levels scaled to [0, 1]), shuffled and split.

    Returns ``(x_train, y_train, x_test, y_test)`` with integer labels 0..9.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # pragma: no cover
        raise ConfigError("dataset 'digits' needs scikit-learn (pip install 'balnet[studies]')") from None
    d = load_digits()
    x = d.data / 16.0
    y = d.target.astype(np.int64)
    if n_train + n_test > len(y):
        raise ConfigError(f"digits has {len(y)} images; n_train + n_test = {n_train + n_test}")
    idx = rng.permutation(len(y))
    tr, te = idx[:n_train], idx[n_train : n_train + n_test]
    return x[tr], y[tr], x[te], y[te]


def prototype_data(n_train, n_test, rng, *, classes=10, dim=32, flip=0.1, prototypes=None):
    """Noisy binary prototypes: class ``c`` is prototype ``c`` (random ±bits) with each bit flipped w.p. ``flip``.

    Returns ``(x_train, y_train, x_test, y_test, prototypes)``; the Bayes accuracy
    is close to 1 for ``dim >> log(classes)`` and ``flip < 0.5``.
    """
    P = (rng.random((classes, dim)) < 0.5).astype(float) if prototypes is None else np.asarray(prototypes, float)

    def draw(n):
        y = rng.integers(0, classes, n)
        x = P[y].copy()
        m = rng.random(x.shape) < flip
        x[m] = 1.0 - x[m]
        return x, y

    xtr, ytr = draw(n_train)
    xte, yte = draw(n_test)
    return xtr, ytr, xte, yte, P


def one_hot(y, C):
    out = np.zeros((len(y), C))
    out[np.arange(len(y)), y] = 1.0
    return out


# --------------------------------------------------------------------------------------
# baseline and statistics
# --------------------------------------------------------------------------------------


def backprop_mlp(xtr, ytr, xte, yte, hidden, C, rng, *, epochs=100, lr=0.5, batch=32, layers=1):
    """Same-size MLP trained by backpropagation (sigmoid hidden, softmax output, cross-entropy, SGD + momentum 0.9).

    Returns the test accuracy after every epoch, ``(epochs,)``.
    """
    from scipy.special import expit, softmax

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


def gamma_fit(durations):
    """Gamma fit (location 0) of dominance durations: ``(shape, scale, cv)``; NaNs if fewer than 3 durations."""
    d = np.asarray(durations, float)
    if len(d) < 3 or np.all(d == d[0]):
        return float("nan"), float("nan"), float(np.std(d) / np.mean(d)) if len(d) else float("nan")
    from scipy.stats import gamma

    k, _, theta = gamma.fit(d, floc=0)
    return float(k), float(theta), float(np.std(d) / np.mean(d))


# --------------------------------------------------------------------------------------
# experiments (one chain each; chain k uses stream(seed, k, DSNN, ...))
# --------------------------------------------------------------------------------------


def _sizes(p: DSNNParams, n_in, n_out):
    return (n_in, *([p.hidden] * p.layers), n_out)


def _data(p: DSNNParams, k):
    """Data of chain k: digits are split per chain; prototypes are drawn per chain."""
    rng = stream(p.seed, k, DSNN, _S_DATA)
    if p.dataset == "digits":
        xtr, ytr, xte, yte = digits_data(p.n_train, p.n_test, rng)
        return xtr, ytr, xte, yte, 10, False
    xtr, ytr, xte, yte, _ = prototype_data(p.n_train, p.n_test, rng, classes=p.classes, dim=p.dim, flip=p.flip)
    return xtr, ytr, xte, yte, p.classes, True


def _clamped_state(net, x, Y, rng):
    S = forward(net, x, rng)
    S[-1] = net.xp.asarray(Y, dtype=float).copy()
    return S


def run_classify(p: DSNNParams, k: int) -> dict:
    """Chain k of the classification experiment.

    Returns per evaluation point (every ``eval_every`` sweeps): test accuracy of
    the current synaptic sample (neurons averaged, ``acc_single``), of one
    neuron draw at that sample (``acc_draw``), of the posterior average over
    the samples after ``burn_in`` (``acc_average``), the training accuracy,
    the relative synaptic distance from the sample at ``burn_in`` (``drift``);
    and the backprop baseline curve, the PCA spectrum of the hidden layer's
    stimulus-averaged activity over test inputs and its power-law exponent.
    """
    xp = get_xp(p.backend)
    xtr, ytr, xte, yte, C, _ = _data(p, k)
    sizes = _sizes(p, xtr.shape[1], C)
    rng = stream(p.seed, k, DSNN, _S_CHAIN)
    erng = stream(p.seed, k, DSNN, _S_EVAL)
    net = init_net(sizes, stream(p.seed, k, DSNN, _S_INIT), sigma_w=p.sigma_w, sigma_b=p.sigma_b,
                   input_model=p.dataset == "prototype", xp=xp)
    S = _clamped_state(net, xtr, one_hot(ytr, C), rng)
    xtr_d, xte_d = xp.asarray(xtr), xp.asarray(xte)
    free = [None] + [np.ones(len(xtr), bool)] * p.layers + [None]
    evals = np.arange(p.eval_every, p.sweeps + 1, p.eval_every)
    out = {n: np.full(len(evals), np.nan) for n in ("acc_single", "acc_draw", "acc_average", "acc_train", "drift")}
    P_sum = xp.zeros((len(xte), C))
    n_avg = 0
    W_ref = None
    j = 0
    for t in range(1, p.sweeps + 1):
        gibbs_sweep(net, S, free, rng)
        if t == p.burn_in or (W_ref is None and t > p.burn_in):
            W_ref = net.flat()
        if j < len(evals) and t == evals[j]:
            P = predict_proba(net, xte_d, erng, p.neuron_samples)
            out["acc_single"][j] = accuracy(P, yte)
            out["acc_draw"][j] = accuracy(predict_proba(net, xte_d, erng, 1), yte)
            out["acc_train"][j] = accuracy(predict_proba(net, xtr_d, erng, p.neuron_samples), ytr)
            if t > p.burn_in:
                P_sum += P
                n_avg += 1
                out["acc_average"][j] = accuracy(P_sum, yte)
                out["drift"][j] = float(xp.linalg.norm(net.flat() - W_ref) / xp.linalg.norm(W_ref))
            j += 1
    H = to_numpy(hidden_mean(net, xte_d, erng, max(p.neuron_samples, 16)))
    Hc = H - H.mean(0)
    eig = np.clip(np.linalg.eigvalsh(Hc.T @ Hc / max(1, len(H) - 1))[::-1], 0, None)
    bp = backprop_mlp(xtr, ytr, xte, yte, p.hidden, C, stream(p.seed, k, DSNN, _S_BACKPROP),
                      epochs=p.backprop_epochs, lr=p.backprop_lr, layers=p.layers)
    out.update(pca_eigenvalues=eig, pca_exponent=np.array(power_law_exponent(eig)), backprop_acc=bp,
               chance=np.array(1.0 / C))
    return out


def run_forget(p: DSNNParams, k: int) -> dict:
    """Chain k of the forgetting experiment on the prototype task.

    Acquisition: ``sweeps`` sweeps with inputs and labels clamped; then
    ``forget_sweeps`` sweeps with the data removed (every neuron of
    ``forget_particles`` rows free) or switched (labels permuted c -> c+1).
    Test accuracy on the original task (current synaptic sample, neurons
    averaged) after every sweep of both phases; time constants by
    :func:`relaxation_time` (acquisition: chance -> plateau; forgetting:
    learned level -> chance).
    """
    rng0 = stream(p.seed, k, DSNN, _S_DATA)
    xtr, ytr, xte, yte, _ = prototype_data(p.n_train, p.n_test, rng0, classes=p.classes, dim=p.dim, flip=p.flip)
    C = p.classes
    sizes = _sizes(p, p.dim, C)
    rng = stream(p.seed, k, DSNN, _S_CHAIN)
    erng = stream(p.seed, k, DSNN, _S_EVAL)
    xp = get_xp(p.backend)
    net = init_net(sizes, stream(p.seed, k, DSNN, _S_INIT), sigma_w=p.sigma_w, sigma_b=p.sigma_b, xp=xp)
    S = _clamped_state(net, xtr, one_hot(ytr, C), rng)
    free = [None] + [np.ones(len(xtr), bool)] * p.layers + [None]
    xte_d = xp.asarray(xte)

    def acc(y=yte):
        return accuracy(predict_proba(net, xte_d, erng, p.neuron_samples), y)

    a_learn = np.empty(p.sweeps + 1)
    a_learn[0] = acc()
    for t in range(1, p.sweeps + 1):
        gibbs_sweep(net, S, free, rng)
        a_learn[t] = acc()
    a_forget = np.empty(p.forget_sweeps + 1)
    a_new = np.full(p.forget_sweeps + 1, np.nan)
    a_forget[0] = a_learn[-1]
    if p.forget_mode == "remove":
        n = min(p.forget_particles, len(xtr)) if p.forget_particles else len(xtr)
        S = [s[:n].copy() for s in S]
        free = [np.ones(n, bool)] * (p.layers + 2)
    else:
        S[-1] = xp.asarray(one_hot((ytr + 1) % C, C))
        a_new[0] = acc((yte + 1) % C)
    for t in range(1, p.forget_sweeps + 1):
        gibbs_sweep(net, S, free, rng)
        a_forget[t] = acc()
        if p.forget_mode == "switch":
            a_new[t] = acc((yte + 1) % C)
    chance = 1.0 / C
    tail = max(1, p.sweeps // 5)
    learned = float(a_learn[-tail:].mean())
    tau_acq = relaxation_time(np.arange(p.sweeps + 1), a_learn, chance, learned)
    tau_forget = relaxation_time(np.arange(p.forget_sweeps + 1), a_forget, learned, chance)
    return {"acc_learn": a_learn, "acc_forget": a_forget, "acc_new": a_new, "tau_acquire": np.array(tau_acq),
            "tau_forget": np.array(tau_forget), "learned": np.array(learned), "chance": np.array(chance)}


def alternation_data(p: DSNNParams, rng):
    """Two interpretations A, B (random binary patterns of ``dim`` bits) and an ambiguous pattern.

    The ambiguous pattern takes every bit on which A and B agree, and half of
    the disagreeing bits from A, half from B (equal Hamming distance to both).
    Training rows: ``n_train/2`` noisy copies (bit flips ``flip``) of each, labelled 0 (A) / 1 (B).
    """
    A = (rng.random(p.dim) < 0.5).astype(float)
    Bp = (rng.random(p.dim) < 0.5).astype(float)
    diff = np.flatnonzero(A != Bp)
    if len(diff) < 2:
        Bp = 1.0 - A
        diff = np.arange(p.dim)
    amb = A.copy()
    take = rng.permutation(diff)[: len(diff) // 2]
    amb[take] = Bp[take]
    y = np.arange(p.n_train) % 2
    x = np.where(y[:, None] == 0, A[None, :], Bp[None, :])
    m = rng.random(x.shape) < p.flip
    x[m] = 1.0 - x[m]
    return x, y, amb


def run_alternation(p: DSNNParams, k: int) -> dict:
    r"""Chain k of the perceptual-alternation experiment.

    The chain holds ``n_train`` labelled rows (two interpretations) and
    ``alt_probes`` rows presenting the ambiguous pattern (inputs clamped,
    hidden and output neurons free: their states are part of the chain and
    enter the synaptic likelihood).  The percept at sweep t is
    :math:`d(t) = \langle \Phi(a^L_A) - \Phi(a^L_B)\rangle_{\text{probes}}`
    (current synapses, probes' current hidden states); dominance durations
    (hysteresis ``alt_threshold``, :func:`dominance_durations`) after learning; their
    gamma fit (shape, scale) and CV; per window of the chain the mean
    decisiveness :math:`|d|`, the mean duration and the number of switches;
    and at every sweep the *exclusivity*
    :math:`\langle|\Phi(a^L_A) - \Phi(a^L_B)|\rangle_{\text{probes}}` (0 when
    the ambiguous input gets both or neither interpretation, 1 when it gets
    exactly one) beside the accuracy on A and B: the emergence with learning.
    The chain runs ``sweeps`` learning sweeps, then ``alt_sweeps`` more whose
    dominance durations are fitted (one chain throughout: learning never stops).
    """
    rng0 = stream(p.seed, k, DSNN, _S_DATA)
    x, y, amb = alternation_data(p, rng0)
    xa = np.concatenate([x, np.repeat(amb[None, :], p.alt_probes, 0)])
    B = len(xa)
    probe = np.arange(len(x), B)
    sizes = _sizes(p, p.dim, 2)
    rng = stream(p.seed, k, DSNN, _S_CHAIN)
    erng = stream(p.seed, k, DSNN, _S_EVAL)
    xp = get_xp(p.backend)
    net = init_net(sizes, stream(p.seed, k, DSNN, _S_INIT), sigma_w=p.sigma_w, sigma_b=p.sigma_b, xp=xp)
    S = forward(net, xa, rng)
    S[-1][: len(x)] = xp.asarray(one_hot(y, 2))
    out_free = np.zeros(B, bool)
    out_free[probe] = True
    free = [None] + [np.ones(B, bool)] * p.layers + [out_free]
    total = p.sweeps + p.alt_sweeps
    d = np.empty(total)
    excl = np.empty(total)
    acc = np.empty(total)
    xt, yt = xp.asarray(x[:: max(1, len(x) // 64)]), y[:: max(1, len(x) // 64)]
    probe_d = xp.asarray(probe)
    for t in range(total):
        A = gibbs_sweep(net, S, free, rng)
        pr = to_numpy(_Phi(A[-1][probe_d]))
        d[t] = float(np.mean(pr[:, 0] - pr[:, 1]))
        excl[t] = float(np.mean(np.abs(pr[:, 0] - pr[:, 1])))
        acc[t] = accuracy(predict_proba(net, xt, erng, 2), yt)
    dur = dominance_durations(d[p.sweeps :], p.alt_threshold)
    shape, scale, cv = gamma_fit(dur)
    win = np.array_split(np.arange(total), p.alt_windows)
    decis = np.array([np.mean(np.abs(d[w])) for w in win])
    wdur = np.array([np.mean(x_) if len(x_ := dominance_durations(d[w], p.alt_threshold)) else np.nan for w in win])
    wsw = np.array([len(dominance_durations(d[w], p.alt_threshold)) + 1 if _switches(d[w], p.alt_threshold) else 0
                    for w in win], float)
    return {"percept": d, "exclusivity": excl, "acc_train": acc, "durations": dur, "gamma_shape": np.array(shape),
            "gamma_scale": np.array(scale), "cv": np.array(cv), "window_decisiveness": decis,
            "window_duration": wdur, "window_switches": wsw}


def _switches(d, threshold) -> bool:
    s = np.where(d > threshold, 1, np.where(d < -threshold, -1, 0))
    s = s[s != 0]
    return bool(len(s) > 1 and np.any(s[1:] != s[:-1]))


def bars_data(n, side, p_bar, rng):
    """``n`` images of ``side x side`` pixels, each of the ``2*side`` bars (rows, then columns) present
    independently with probability ``p_bar``; a pixel is on if any bar through it is (OR).

    Returns ``(images (n, side*side), bars (n, 2*side))``.
    """
    bars = (rng.random((n, 2 * side)) < p_bar).astype(float)
    img = np.zeros((n, side, side))
    img = np.maximum(img, bars[:, :side, None])
    img = np.maximum(img, bars[:, None, side:])
    return img.reshape(n, -1), bars


def bar_masks(side):
    """``(2*side, side*side)`` 0/1 masks of the pixels of every bar (rows, then columns)."""
    m = np.zeros((2 * side, side, side))
    for k in range(side):
        m[k, k, :] = 1
        m[side + k, :, k] = 1
    return m.reshape(2 * side, -1)


def run_sbm(p: DSNNParams, k: int) -> dict:
    r"""Chain k of the synaptic Boltzmann machine experiment (unsupervised learning of bars).

    **Our reconstruction.**  An undirected RBM's synaptic posterior contains
    the partition function :math:`Z(W)` and has no exact Gibbs conditional; to
    keep every conditional exact the "synaptic Boltzmann machine" here is the
    directed two-layer probit network of this module turned upside down:
    ``sbm_hidden`` binary cause neurons (layer 0, free, Gaussian-prior biases)
    generate the ``side x side`` visible pixels (layer 1, clamped to the
    images); neurons and synapses are Gibbs sampled as everywhere else.

    Recorded: the outgoing-weight norm :math:`\|W_{\cdot j}\|` and the mean
    activity of every cause neuron at every sweep; per window of
    ``sbm_window`` sweeps the fraction of *prior-like* synapses (sample std
    over the window above ``0.7 sigma_w``: unconstrained by the data,
    functionally pruned) and of silent cause neurons (activity < 0.02); the
    role matrix (mean weight from cause j to the pixels of bar k over the last
    window) and ``bars_covered``: the number of distinct cause neurons that own
    a bar (largest ``|role|`` of the bar, above 1.5; a cause can code a bar by
    being on with it, w > 0, or off with it, w < 0), at most ``2*side`` when
    every bar has a cause of its own (division of roles).
    """
    rng0 = stream(p.seed, k, DSNN, _S_DATA)
    x, _ = bars_data(p.n_train, p.sbm_side, p.sbm_p, rng0)
    rng = stream(p.seed, k, DSNN, _S_CHAIN)
    xp = get_xp(p.backend)
    net = init_net((p.sbm_hidden, x.shape[1]), stream(p.seed, k, DSNN, _S_INIT), sigma_w=p.sigma_w,
                   sigma_b=p.sigma_b, input_model=True, xp=xp)
    B = len(x)
    S = [xp.asarray((rng.random((B, p.sbm_hidden)) < 0.5).astype(float)), xp.asarray(x)]
    free = [np.ones(B, bool), None]
    norms = np.empty((p.sweeps, p.sbm_hidden))
    usage = np.empty((p.sweeps, p.sbm_hidden))
    Ws = np.empty((p.sweeps, x.shape[1], p.sbm_hidden))
    for t in range(p.sweeps):
        gibbs_sweep(net, S, free, rng)
        Wv = to_numpy(net.W[1][:, : p.sbm_hidden])  # (visible, causes)
        Ws[t] = Wv
        norms[t] = np.linalg.norm(Wv, axis=0)
        usage[t] = to_numpy(S[0].mean(0))
    win = [w for w in np.array_split(np.arange(p.sweeps), max(1, p.sweeps // p.sbm_window)) if len(w) > 1]
    prior_like = np.array([np.mean(Ws[w].std(0) > 0.7 * p.sigma_w) for w in win])
    silent = np.array([np.mean(usage[w].mean(0) < 0.02) for w in win])
    masks = bar_masks(p.sbm_side)
    Wlast = Ws[win[-1]].mean(0)  # (visible, causes)
    role = (masks @ Wlast) / masks.sum(1, keepdims=True)  # (bars, causes)
    owner = np.abs(role).argmax(1)  # a cause may code a bar by being on (w > 0) or off (w < 0) with it
    strong = np.abs(role).max(1) > 1.5
    covered = len(set(owner[strong].tolist()))
    return {"unit_norm": norms, "unit_usage": usage, "prior_like": prior_like, "silent": silent, "role": role,
            "bars_covered": np.array(float(covered)), "n_bars": np.array(float(2 * p.sbm_side)),
            "window_end": np.array([w[-1] + 1 for w in win], float)}


def run_chain(p: DSNNParams, k: int) -> dict:
    """Dispatch chain ``k`` of ``p.experiment``."""
    return {"classify": run_classify, "forget": run_forget, "alternation": run_alternation,
            "sbm": run_sbm}[p.experiment](p, k)


def run_chains(p: DSNNParams, ids, progress=False) -> dict:
    """Run chains ``ids`` and stack every array along a new leading chain axis (durations: padded with NaN)."""

    bar = progress_bar(len(ids), progress, f"dsnn {p.experiment}", unit="chain")
    res = []
    for k in ids:
        res.append(run_chain(p, k))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if not res:
        return {}
    out = {}
    for name in res[0]:
        arrs = [np.asarray(r[name], float) for r in res]
        if name == "durations":
            n = max(1, max(len(a) for a in arrs))
            arrs = [np.pad(a, (0, n - len(a)), constant_values=np.nan) for a in arrs]
        out[name] = np.stack(arrs)
    return out


# --------------------------------------------------------------------------------------
# output and figures
# --------------------------------------------------------------------------------------


def pad_durations(parts):
    n = max(a.shape[1] for a in parts)
    return [np.pad(a, ((0, 0), (0, n - a.shape[1])), constant_values=np.nan) for a in parts]


def write_results(path, p: DSNNParams, data: dict, ids, *, n_ranks=1, command=""):
    """HDF5 (kind ``dsnn``) of one experiment, chains gathered; summary scalars as file attributes."""

    summ = summary(p, data)
    with H5Writer(path, kind="dsnn", params={"dsnn": p}, root_seed=p.seed, realization_ids=ids, n_ranks=n_ranks,
                  command=command, experiment=p.experiment, **{f"summary_{k}": v for k, v in summ.items()}) as w:
        w.coord("chain", np.asarray(ids, np.int64), long_name="independent chain k")
        if p.experiment == "classify":
            ev = np.arange(p.eval_every, p.sweeps + 1, p.eval_every)
            w.coord("sweep", ev, units="sweep", long_name="Gibbs sweep of the evaluation")
            for name, ln in (("acc_single", "test accuracy of the current synaptic sample (neurons averaged)"),
                             ("acc_draw", "test accuracy of one neuron draw at the current synaptic sample"),
                             ("acc_average", "test accuracy of the posterior average over sweeps > burn_in"),
                             ("acc_train", "training accuracy of the current synaptic sample"),
                             ("drift", "|W(t) - W(burn_in)| / |W(burn_in)|")):
                w.variable(name, data[name], dims=("chain", "sweep"), units="1", long_name=ln)
            w.coord("epoch", np.arange(1, p.backprop_epochs + 1), long_name="backprop epoch")
            w.variable("backprop_acc", data["backprop_acc"], dims=("chain", "epoch"), units="1",
                       long_name="test accuracy of the same-size MLP trained by backprop")
            w.coord("rank", np.arange(1, data["pca_eigenvalues"].shape[1] + 1), long_name="PCA rank n")
            w.variable("pca_eigenvalues", data["pca_eigenvalues"], dims=("chain", "rank"), units="1",
                       long_name="eigenvalues of the covariance of stimulus-averaged hidden activity (test inputs)")
            w.variable("pca_exponent", data["pca_exponent"], dims=("chain",), units="1",
                       long_name="power-law exponent alpha of lambda_n ~ n^-alpha")
        elif p.experiment == "forget":
            w.coord("sweep_learn", np.arange(p.sweeps + 1), units="sweep", long_name="sweep of the acquisition phase")
            w.coord("sweep_forget", np.arange(p.forget_sweeps + 1), units="sweep",
                    long_name="sweep after the data were removed/switched")
            w.variable("acc_learn", data["acc_learn"], dims=("chain", "sweep_learn"), units="1",
                       long_name="test accuracy during acquisition")
            w.variable("acc_forget", data["acc_forget"], dims=("chain", "sweep_forget"), units="1",
                       long_name="test accuracy on the learned task after removal/switch")
            w.variable("acc_new", data["acc_new"], dims=("chain", "sweep_forget"), units="1",
                       long_name="test accuracy on the switched task (NaN: removal)")
            for name in ("tau_acquire", "tau_forget"):
                w.variable(name, data[name], dims=("chain",), units="sweep", long_name=f"time constant ({name[4:]})")
            w.variable("learned", data["learned"], dims=("chain",), units="1", long_name="plateau accuracy")
        elif p.experiment == "sbm":
            w.coord("sweep", np.arange(1, p.sweeps + 1), units="sweep", long_name="Gibbs sweep")
            w.coord("cause", np.arange(p.sbm_hidden), long_name="cause (hidden) neuron j")
            w.coord("bar", np.arange(2 * p.sbm_side), long_name="bar k (rows, then columns)")
            w.coord("window_end", data["window_end"][0], units="sweep", long_name="last sweep of the window")
            w.variable("unit_norm", data["unit_norm"], dims=("chain", "sweep", "cause"), units="1",
                       long_name="norm of the outgoing synapses of cause j")
            w.variable("unit_usage", data["unit_usage"], dims=("chain", "sweep", "cause"), units="1",
                       long_name="mean activity of cause j over the images")
            w.variable("prior_like", data["prior_like"], dims=("chain", "window_end"), units="1",
                       long_name="fraction of synapses with window std > 0.7 sigma_w (pruned, prior-like)")
            w.variable("silent", data["silent"], dims=("chain", "window_end"), units="1",
                       long_name="fraction of cause neurons with activity < 0.02")
            w.variable("role", data["role"], dims=("chain", "bar", "cause"), units="1",
                       long_name="mean synapse from cause j to the pixels of bar k (last window)")
            w.variable("bars_covered", data["bars_covered"], dims=("chain",), units="1",
                       long_name="distinct cause neurons owning a bar")
        else:
            w.coord("sweep", np.arange(1, p.sweeps + p.alt_sweeps + 1), units="sweep", long_name="Gibbs sweep")
            w.variable("percept", data["percept"], dims=("chain", "sweep"), units="1",
                       long_name="mean output difference Phi(a_A) - Phi(a_B) of the ambiguous probes")
            w.variable("acc_train", data["acc_train"], dims=("chain", "sweep"), units="1",
                       long_name="accuracy on the two unambiguous interpretations")
            w.variable("exclusivity", data["exclusivity"], dims=("chain", "sweep"), units="1",
                       long_name="<|Phi_A - Phi_B|> of the ambiguous probes (1: one interpretation, 0: both/neither)")
            w.variable("durations", data["durations"], dims=("chain", "run"), units="sweep",
                       long_name="dominance durations after the learning sweeps (NaN padding)")
            for name in ("gamma_shape", "gamma_scale", "cv"):
                w.variable(name, data[name], dims=("chain",), units="sweep" if name == "gamma_scale" else "1",
                           long_name=f"{name} of the chain's dominance durations")
            w.coord("window", np.arange(p.alt_windows), long_name="window of the chain (learning progress)")
            w.variable("window_decisiveness", data["window_decisiveness"], dims=("chain", "window"), units="1",
                       long_name="mean |percept| in the window")
            w.variable("window_duration", data["window_duration"], dims=("chain", "window"), units="sweep",
                       long_name="mean dominance duration in the window")
            w.variable("window_switches", data["window_switches"], dims=("chain", "window"), units="1",
                       long_name="number of dominance switches in the window")
    return summ


def summary(p: DSNNParams, data: dict) -> dict:
    """Headline numbers of an experiment (chains pooled)."""
    if p.experiment == "classify":
        return {"acc_single": float(np.nanmean(data["acc_single"][:, -1])),
                "acc_draw": float(np.nanmean(data["acc_draw"][:, -1])),
                "acc_average": float(np.nanmean(data["acc_average"][:, -1])),
                "acc_backprop": float(np.nanmean(data["backprop_acc"][:, -1])),
                "chance": float(np.mean(data["chance"])), "pca_exponent": float(np.nanmean(data["pca_exponent"])),
                "drift": float(np.nanmean(data["drift"][:, -1]))}
    if p.experiment == "forget":
        return {"tau_acquire": float(np.nanmedian(data["tau_acquire"])),
                "tau_forget": float(np.nanmedian(data["tau_forget"])), "learned": float(np.mean(data["learned"])),
                "chance": float(np.mean(data["chance"])), "final": float(np.mean(data["acc_forget"][:, -1]))}
    if p.experiment == "sbm":
        return {"bars_covered": float(np.mean(data["bars_covered"])), "n_bars": float(2 * p.sbm_side),
                "prior_like_first": float(np.mean(data["prior_like"][:, 0])),
                "prior_like_last": float(np.mean(data["prior_like"][:, -1])),
                "silent_last": float(np.mean(data["silent"][:, -1]))}
    dur = data["durations"][np.isfinite(data["durations"])]
    shape, scale, cv = gamma_fit(dur)
    return {"gamma_shape": shape, "gamma_scale": scale, "cv": cv, "n_durations": len(dur),
            "mean_duration": float(np.mean(dur)) if len(dur) else float("nan"),
            "decisiveness_first": float(np.nanmean(data["window_decisiveness"][:, 0])),
            "decisiveness_last": float(np.nanmean(data["window_decisiveness"][:, -1])),
            "switches_first": float(np.mean(data["window_switches"][:, 0])),
            "switches_last": float(np.mean(data["window_switches"][:, -1])),
            "exclusivity_first": float(np.mean(data["exclusivity"][:, : max(1, p.sweeps // 20)])),
            "exclusivity_last": float(np.mean(data["exclusivity"][:, p.sweeps :]))}


def plot_results(path, fig_path):
    """Figure of one ``balnet dsnn run`` output (layout by experiment)."""
    import warnings


    warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
    a, at = read(path)
    plt = _plt()
    exp = at.get("experiment")
    if exp == "classify":
        fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
        sw = a["sweep"]
        for name, lab in (("acc_single", "single synaptic sample"), ("acc_draw", "single neuron+synapse draw"),
                          ("acc_average", "posterior average")):
            ax[0].plot(sw, np.nanmean(a[name], 0), label=lab)
        ax[0].axhline(at["summary_acc_backprop"], color="k", ls="--", label="backprop (final)")
        ax[0].axhline(at["summary_chance"], color="gray", ls=":", label="chance")
        ax[0].set(xlabel="Gibbs sweep", ylabel="test accuracy", title="learning by sampling")
        ax[0].legend(fontsize=7)
        ax[1].plot(sw, np.nanmean(a["drift"], 0), label="synaptic drift")
        ax[1].plot(sw, np.nanmean(a["acc_single"], 0), label="accuracy")
        ax[1].set(xlabel="Gibbs sweep", title="weights move, performance stays")
        ax[1].legend(fontsize=7)
        ev = np.nanmean(a["pca_eigenvalues"], 0)
        n = np.arange(1, len(ev) + 1)
        ax[2].loglog(n, ev / ev[0], ".-", label=f"hidden PCA, alpha={at['summary_pca_exponent']:.2f}")
        ax[2].loglog(n, 1.0 / n, "k--", label="1/n (Stringer et al. 2019)")
        ax[2].set(xlabel="rank n", ylabel="eigenvalue / first", title="PCA spectrum")
        ax[2].legend(fontsize=7)
    elif exp == "forget":
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
        ax[0].plot(a["sweep_learn"], np.mean(a["acc_learn"], 0))
        ax[0].set(xlabel="sweep", ylabel="test accuracy",
                  title=f"acquisition, tau = {at['summary_tau_acquire']:.3g} sweeps")
        ax[1].plot(a["sweep_forget"], np.mean(a["acc_forget"], 0), label="learned task")
        if np.isfinite(a["acc_new"]).any():
            ax[1].plot(a["sweep_forget"], np.nanmean(a["acc_new"], 0), label="switched task")
        ax[1].axhline(at["summary_chance"], color="gray", ls=":")
        ax[1].set(xlabel="sweep after removal", title=f"forgetting, tau = {at['summary_tau_forget']:.3g} sweeps")
        ax[1].legend(fontsize=7)
    elif exp == "sbm":
        fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
        im = ax[0].imshow(a["role"][0], cmap="RdBu_r", vmin=-5, vmax=5, aspect="auto")
        fig.colorbar(im, ax=ax[0])
        ax[0].set(xlabel="cause neuron j", ylabel="bar k",
                  title=f"roles (chain 0), covered {at['summary_bars_covered']:.1f} of {at['summary_n_bars']:.0f}")
        ax[1].plot(a["window_end"], np.mean(a["prior_like"], 0), "o-", label="prior-like (pruned) synapses")
        ax[1].plot(a["window_end"], np.mean(a["silent"], 0), "s-", label="silent cause neurons")
        ax[1].set(xlabel="sweep", ylabel="fraction", title="pruning during learning")
        ax[1].legend(fontsize=7)
        ax[2].plot(a["sweep"], a["unit_norm"][0], lw=0.7)
        ax[2].set(xlabel="sweep", ylabel="|W_.j|", title="outgoing synapse norms (chain 0)")
    else:
        fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
        ax[0].plot(a["sweep"], a["percept"][0], lw=0.6)
        th = read_attrs_params(at).get("alt_threshold", 0.0)
        for v in (th, -th):
            ax[0].axhline(v, color="gray", ls=":", lw=0.8)
        ax[0].set(xlabel="sweep", ylabel="percept d = <Phi_A - Phi_B>", title="ambiguous input (chain 0)")
        dur = a["durations"][np.isfinite(a["durations"])]
        if len(dur):
            ax[1].hist(dur, bins=20, density=True, alpha=0.6)
            k, th = at["summary_gamma_shape"], at["summary_gamma_scale"]
            if np.isfinite(k):
                from scipy.stats import gamma

                xs = np.linspace(0, dur.max(), 200)
                ax[1].plot(xs, gamma.pdf(xs, k, scale=th), "k")
        ax[1].set(xlabel="dominance duration [sweeps]",
                  title=f"gamma shape {at['summary_gamma_shape']:.2f}, CV {at['summary_cv']:.2f}")
        ax[2].semilogx(a["sweep"], np.mean(a["acc_train"], 0), label="accuracy on A and B")
        ax[2].semilogx(a["sweep"], np.mean(a["exclusivity"], 0), label="exclusivity <|Phi_A - Phi_B|>")
        ax[2].axvline(read_attrs_params(at).get("sweeps", 1), color="gray", ls=":", lw=0.8)
        ax[2].set(xlabel="sweep", title="emergence with learning", ylim=(0, 1.05))
        ax[2].legend(fontsize=7)
    fig.tight_layout()
    save(fig, fig_path)


def read_attrs_params(attrs) -> dict:
    """The ``dsnn`` parameter record stored in a file's attributes (empty if absent)."""
    p = attrs.get("params", {})
    return p.get("dsnn", {}) if isinstance(p, dict) else {}


def field_names():
    return [f.name for f in fields(DSNNParams)]


def write_summary(files, path):
    """Collect the ``summary_*`` attributes of ``balnet dsnn run`` outputs into one HDF5 (kind ``dsnn_summary``).

    One entry per input file along ``run``; a quantity a file lacks is NaN.
    Numeric parameters that differ between the files are written as ``param_<name>``
    (the swept values of a pipeline sweep).
    """

    attrs = [read_attrs(f, kind="dsnn") for f in files]
    keys = sorted({k for a in attrs for k in a if k.startswith("summary_")})
    params = {str(i): a.get("params", {}) for i, a in enumerate(attrs)}
    with H5Writer(path, kind="dsnn_summary", params=params, command="balnet dsnn summarize",
                  inputs=np.array([str(f) for f in files], dtype="S")) as w:
        w.coord("run", np.arange(len(files)), long_name="input file index")
        w.variable("experiment", np.array([a.get("experiment", "") for a in attrs], dtype="S"), dims=("run",),
                   long_name="experiment of the input file")
        for k in keys:
            w.variable(k[len("summary_"):], np.array([float(a.get(k, np.nan)) for a in attrs]), dims=("run",),
                       long_name=k[len("summary_"):].replace("_", " "))
        recs = [read_attrs_params(a) for a in attrs]
        for name in field_names():
            vals = [r.get(name) for r in recs]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals) and len(set(vals)) > 1:
                w.variable(f"param_{name}", np.array(vals, float), dims=("run",), long_name=f"parameter {name}")


def plot_summary(path, fig_path):
    """Bar charts of the headline numbers: accuracies, time constants, gamma shape and CV."""

    a, _ = read(path)
    exp = [e.decode() if isinstance(e, bytes) else str(e) for e in a["experiment"]]
    plt = _plt()
    groups = [("classify", ("acc_draw", "acc_single", "acc_average", "acc_backprop", "chance"), "test accuracy"),
              ("forget", ("tau_acquire", "tau_forget"), "time constant [sweeps]"),
              ("alternation", ("gamma_shape", "cv"), "dominance durations"),
              ("sbm", ("bars_covered", "n_bars"), "bars")]
    swept = [k for k in a if k.startswith("param_")]
    fig, ax = plt.subplots(1, 4, figsize=(16, 3.6))
    for axi, (name, keys, ylab) in zip(ax, groups):
        rows = [i for i, e in enumerate(exp) if e == name]
        if not rows:
            axi.set_axis_off()
            axi.set_title(f"{name}: not run")
            continue
        xs = next((k for k in swept if len(set(a[k][rows].tolist())) == len(rows) > 1), None)
        if xs is not None:  # one swept numeric parameter separates the runs: plot against it
            order = sorted(rows, key=lambda i: a[xs][i])
            for key in keys:
                if key in a:
                    axi.plot(a[xs][order], a[key][order], "o-", label=key)
            axi.set(xlabel=xs[len("param_"):], ylabel=ylab, title=name)
            axi.legend(fontsize=7)
            continue
        for j, i in enumerate(rows):
            vals = [float(a[k][i]) if k in a else np.nan for k in keys]
            axi.bar(np.arange(len(keys)) + 0.8 * j / max(1, len(rows)), vals, width=0.8 / max(1, len(rows)),
                    label=f"run {i}")
        axi.set_xticks(np.arange(len(keys)))
        axi.set_xticklabels(keys, rotation=30, fontsize=7)
        axi.set(title=name, ylabel=ylab)
    fig.tight_layout()
    save(fig, fig_path)
