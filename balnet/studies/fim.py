r"""Fisher information of random deep networks: empirical spectra, mean-field theory, normalization, GD/NGD.

Model (Karakida, Akaho & Amari 2019)
------------------------------------
A fully connected net of ``L`` weight layers, input width :math:`M_0 = \alpha_0 M`,
hidden widths :math:`M_l = M` (:math:`l = 1..L-1`) and :math:`C` linear outputs:

.. math::
    u^l = W^l h^{l-1} + b^l,\quad h^l = \phi(u^l)\ (l < L),\quad f = u^L,\qquad
    W^l_{ij} \sim N(0, \sigma_w^2/M_{l-1}),\ b^l_i \sim N(0, \sigma_b^2),\ h^0 = x \sim N(0, I_{M_0}).

where ``phi`` is tanh, relu, erf or linear.  The Fisher information of the
Gaussian-output model with unit noise, estimated on ``T`` inputs, is

.. math::
    F = \frac1T \sum_{t=1}^T \sum_{k=1}^C \nabla_\theta f_k(x_t) \nabla_\theta f_k(x_t)^\top
      = \frac1T J^\top J,\qquad J \in \mathbb R^{CT\times P}.

Its nonzero spectrum equals that of the :math:`CT\times CT` Gram matrix (the
empirical neural tangent kernel over ``T``), which we build layer by layer
without ever forming ``J``:

.. math::
    \Theta_{(k,t),(k',t')} = \sum_{l=1}^{L} \big(\delta^l_{k,t}\cdot\delta^l_{k',t'}\big)
        \big(h^{l-1}_t\cdot h^{l-1}_{t'} + 1\big),\qquad
    \delta^l_{k,t} = \partial f_k(x_t)/\partial u^l,\qquad G = \Theta / T,

(the ``+1`` is the bias).  ``m_lambda = tr F / P = tr G / P`` and
``s_lambda = tr F^2 / P = ||G||_F^2 / P`` (means over all ``P`` eigenvalues,
zeros included), ``lambda_max`` = the largest eigenvalue of ``G``
(``eigh`` for small ``CT``, Lanczos ``scipy.sparse.linalg.eigsh`` otherwise).

Mean-field theory (Karakida, Akaho & Amari, "Universal statistics of Fisher
information in deep neural networks: mean field approach", AISTATS 2019,
arXiv:1806.01316, Theorem 1 and its finite-T form):

.. math::
    \hat q^{l}_1 = \int\!Dz\,\phi(\sqrt{q^l_1}z)^2,\quad q^{l+1}_1 = \sigma_w^2\hat q^l_1 + \sigma_b^2,\qquad
    \hat q^l_2 = \int\!Dz_1Dz_2\,\phi(u)\phi(v),\quad q^{l+1}_2 = \sigma_w^2 \hat q^l_2 + \sigma_b^2,

with :math:`(u, v)` Gaussian of variances :math:`q^l_1` and covariance :math:`q^l_2`,
:math:`\hat q^0_1 = |x|^2/M_0 = 1`, :math:`\hat q^0_2 = x\cdot x'/M_0 = 0`; backward

.. math::
    \tilde q^L_1 = \tilde q^L_2 = 1,\quad
    \tilde q^l_1 = \sigma_w^2 \tilde q^{l+1}_1 \int\!Dz\,\phi'(\sqrt{q^l_1}z)^2,\quad
    \tilde q^l_2 = \sigma_w^2 \tilde q^{l+1}_2 \int\!Dz_1Dz_2\,\phi'(u)\phi'(v),

.. math::
    \kappa_1 = \sum_{l=1}^{L} \frac{\alpha_{l-1}}{\alpha}\tilde q^l_1 \hat q^{l-1}_1,\qquad
    \kappa_2 = \sum_{l=1}^{L} \frac{\alpha_{l-1}}{\alpha}\tilde q^l_2 \hat q^{l-1}_2,\qquad
    \alpha = \sum_{l=1}^{L-1}\alpha_l\alpha_{l-1}\ (P \simeq \alpha M^2),

.. math::
    m_\lambda \simeq \kappa_1 \frac{C}{M},\qquad
    s_\lambda \simeq \alpha C\Big(\frac{T-1}{T}\kappa_2^2 + \frac{\kappa_1^2}{T}\Big),\qquad
    \lambda_{\max} \simeq \alpha\Big(\frac{T-1}{T}\kappa_2 + \frac{\kappa_1}{T}\Big) M,

the last one ``C``-fold (near-)degenerate: the Gram is, to leading order,
:math:`I_C \otimes [(K_1 - K_2) I_T + K_2 \mathbf 1\mathbf 1^\top]/T` with
:math:`K_{1,2} = \alpha\kappa_{1,2} M`, so the ``C`` outliers sit at
:math:`K_2 + (K_1-K_2)/T` and the rest of the nonzero spectrum near
:math:`(K_1 - K_2)/T`.  The finite-``T`` terms are where ``1/T`` appears above
(our derivation from the Gram structure; it reproduces the paper's ``T -> inf``
results).  A "finite-size" variant (``*_fs``) keeps the exact ``P``, the input
width and the bias ``+1`` terms: :math:`K_1 = \sum_l \tilde q^l_1 (M_{l-1}\hat q^{l-1}_1 + 1)`,
:math:`K_2` alike, :math:`m = C K_1/P`, :math:`s = C(K_1^2/T + (1-1/T)K_2^2)/P`,
:math:`\lambda_{\max} = K_2 + (K_1-K_2)/T`.  An odd ``phi`` with
:math:`\sigma_b^2 = 0` gives :math:`q_2 = 0`, so :math:`\kappa_2 = 0` and no O(M) outlier.

Normalization (Karakida, Akaho & Amari, "The normalization method for alleviating
pathological sharpness in wide neural networks", NeurIPS 2019): ``bn_last``
subtracts the batch mean of every output, :math:`\bar f_k(x_t) = f_k(x_t) - \frac1T\sum_s f_k(x_s)`,
so :math:`G \to (I_C\otimes P_T) G (I_C \otimes P_T)`, :math:`P_T = I - \mathbf 1\mathbf 1^\top/T`,
which removes the :math:`K_2\mathbf 1\mathbf 1^\top` outlier; ``bn_middle``
subtracts the batch mean of the pre-activations of hidden layer ``bn_layer``
(mean subtraction only, no variance division; ``bn_layer = 0``: every hidden
layer).  Layers above it rebuild the sample-shared component (biases and the
nonzero mean of ``phi``), so the outlier survives; centering the last hidden
layer as well (``bn_layer = L-1`` or 0) weakens it strongly for relu/tanh in our
measurements (the paper reports middle-layer BN as "hard to alleviate" in many settings); ``layer_norm``
standardizes every hidden pre-activation vector per sample over its units (no
affine parameters).  Only ``bn_last`` is predicted to remove the outlier.

Finite T: the spread of the bulk (our derivation and measurements; tests/test_fim.py).  The
leading-order Gram :math:`[(K_1-K_2)I + K_2\mathbf 1\mathbf 1^\top]/T` puts the whole bulk at
:math:`(K_1-K_2)/T`; at finite :math:`T/M` the bulk spreads and its edge, which is
:math:`\lambda_{\max}` with ``bn_last``, moves up.  The off-diagonal NTK entries depend on the input
overlaps :math:`\rho_{ts} = x_t\cdot x_s/M_0 \sim N(0, 1/M_0)`: to first order
:math:`\Theta_{ts} \approx K_2 + b\,\rho_{ts}` with :math:`b = \partial K_2/\partial\rho` (the mean-field
kernel with :math:`\hat q^0_2 = \rho`, :func:`kernel_slope`), so
:math:`\Theta \approx K_2\mathbf 1\mathbf 1^\top + b\,XX^\top/M_0 + (K_1 - K_2 - b) I`.  After the batch
projection :math:`P_T X X^\top P_T/M_0` has the Marchenko-Pastur law of ratio
:math:`\gamma = (T-1)/M_0` (edge :math:`(1+\sqrt\gamma)^2`), hence the input-overlap edge

.. math::
    \lambda_{\max}^{\rm MP} = \frac{K_1 - K_2 + b\,[(1+\sqrt\gamma)^2 - 1]}{T}

(``theory_lambda_max_mp``; leading-order :math:`K_{1,2} = \alpha\kappa_{1,2}M`).  It leaves out the
finite-width fluctuations of the weights, which spread the bulk by a comparable amount (measured: the
total excess over :math:`(K_1-K_2)/T` is about twice the input-overlap part, at every :math:`\gamma`), so
it is a lower estimate that holds only where both are small.  The second new formula takes the spread
from the measured spectrum: the edge of the shifted Marchenko-Pastur law :math:`a + s\,\mathrm{MP}_\gamma`
whose mean, variance and third central moment equal those of the measured bulk
(:func:`mp_edge_from_moments`, :func:`bulk_edge`; per seed ``lambda_edge``); it holds once the bulk has
enough eigenvalues to reach its edge (``T >= 30``; at ``T = 10`` it overestimates by 2-8 %).

Learning-rate limit (Karakida et al. 2019, Sec. 5; catapult: Lewkowycz et al.
2020, arXiv:2003.02218): full-batch GD on :math:`E = \frac1{2T}\sum_t|f(x_t)-y_t|^2`
(targets :math:`y \sim N(0, I_C)`) at :math:`\eta = c\cdot 2/\lambda_{\max}`; the
smallest ``c`` for which the loss does not come back below its initial value
within ``lr_steps`` steps is the measured threshold.

Natural gradient in the NTK regime (Karakida & Osawa, "Understanding approximate
Fisher information for fast convergence of natural gradient descent in wide neural
networks", NeurIPS 2020, arXiv:2010.00879): with residual :math:`r = f - y`,

* exact NGD: :math:`\Delta\theta = -\eta F^{+}\nabla E = -\eta J^\top \Theta^{-1} r`,
  which in the linearized regime gives :math:`f \to f - \eta r` (one step at ``eta = 1``);
* layer-wise block-diagonal: :math:`\Delta\theta_l = -\eta J_l^\top\Theta_l^{-1} r`,
  function change :math:`\approx L\eta r`, one step at ``eta = 1/L`` (paper's result);
* K-FAC: :math:`\Delta W_l = -\eta B_l^{+} \nabla_{W_l}E\, A_{l-1}^{+}` with
  :math:`A_{l-1} = \frac1T\sum_t \tilde h_t\tilde h_t^\top` (:math:`\tilde h = (h, 1)`),
  :math:`B_l = \frac1T\sum_{t,k}\delta_{k,t}\delta_{k,t}^\top`, pseudo-inverses
  (the zero-damping limit).  With these batch-averaged factors
  :math:`\tilde h_s^\top A^+ \tilde h_t = T\delta_{st}` and, in hidden layers (``CT`` independent
  adjoints), :math:`\delta_{k,t}^\top B^+\delta_{k',s} = T\delta_{kk'}\delta_{ts}`, while the last
  layer has :math:`B_L = I_C`; the function-space step is then
  :math:`-\eta(1 + (L-1)T) r`, so one-step convergence needs :math:`\eta = 1/(1 + (L-1)T)`
  (our derivation, verified numerically; the paper's isotropy result, with its own
  normalization of the factors, gives a constant of this kind and the rate 1/L for its choice);
* unit-wise (block-diagonal over the units: the incoming weights and bias of each neuron,
  one of the approximations the paper analyses): :math:`\Delta\theta_{l,i} = -\eta
  J_{l,i}^\top\Theta_{l,i}^{+} r` with the unit's Gram
  :math:`\Theta_{l,i}[(k,t),(k',s)] = \delta_{k,t,i}\delta_{k',s,i}\,\tilde h_t\cdot\tilde h_s`.
  The function change is :math:`-\eta\sum_{l,i} P_{l,i} r`, :math:`P_{l,i}` the projector on the
  range of :math:`J_{l,i}`.  For ``C = 1`` (and ``T <= M_{l-1} + 1``) the block restricted to the
  samples where the unit's adjoint is nonzero is invertible, so :math:`P_{l,i}` is the diagonal projector
  on those samples and :math:`f_t \to f_t - \eta\, n_t r_t`, :math:`n_t` the number of units with a
  nonzero adjoint at :math:`x_t` (:func:`unit_counts`: :math:`(L-1)M + C` for tanh, about half the
  hidden units for relu); one step needs :math:`\eta = 1/\langle n_t\rangle`, exact when every
  :math:`n_t` is equal (our derivation).  For ``C > 1`` a hidden unit's block has
  rank ``T`` in the ``CT``-dimensional function space and the projectors do not add up to a multiple
  of the identity: no single rate converges in one step (measured in tests/test_fim.py);
* gd: plain gradient descent at :math:`\eta = 1/\lambda_{\max}` for comparison.

A small relative damping ``ngd_damping * tr(Theta)/n`` regularizes the Gram solves
(``ngd_unit_damping`` those of the unit-wise blocks).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..engine.backend import check_backend, scipy_special, to_numpy
from ..engine.figures import _plt, save
from ..engine.io import H5Writer, read
from ..engine.params import ConfigError, _f
from ..engine.progress import progress_bar
from ..engine.random import FIM, stream

__all__ = [
    "ACTIVATIONS",
    "NORMS",
    "FimParams",
    "backward_deltas",
    "fim_point",
    "forward",
    "gd_threshold",
    "gram",
    "gram_layers",
    "init_net",
    "NGD",
    "NGD_METHODS",
    "NgdMethod",
    "ngd_method",
    "ngd_run",
    "order_parameters",
    "bulk_edge",
    "edge_table",
    "kernel_slope",
    "mp_edge_from_moments",
    "plot_edge",
    "plot_fim",
    "reduce_files",
    "sample_inputs",
    "spectrum_stats",
    "theory",
]

ACTIVATIONS = ("tanh", "relu", "erf", "linear")
NORMS = ("none", "bn_last", "bn_middle", "layer_norm")


@dataclass(frozen=True)
class FimParams:
    """One point of the FIM study (the ``fim:`` section; ``balnet fim run``).

    Widths: input ``alpha0*M``, hidden ``M``, outputs ``C``; ``L`` weight layers
    (``L - 1`` hidden layers).  ``seeds`` networks (MPI ranks split them); seed
    ``k`` draws weights from ``stream(seed, k, FIM, 0)``, inputs from ``(.., FIM, 1)``
    and targets from ``(.., FIM, 2)``.
    """

    M: int = _f(200, "hidden width")
    L: int = _f(3, "number of weight layers (L-1 hidden layers)")
    alpha0: float = _f(1.0, "input width / M")
    C: int = _f(1, "number of linear outputs")
    T: int = _f(10, "number of input samples of the empirical FIM")
    activation: str = _f("tanh", "hidden activation: tanh, relu, erf or linear")
    sigma_w2: float = _f(2.0, "weight variance sigma_w^2 (W ~ N(0, sigma_w^2/M_{l-1}))")
    sigma_b2: float = _f(0.5, "bias variance sigma_b^2")
    norm: str = _f("none", "normalization: none, bn_last, bn_middle (batch mean subtraction) or layer_norm")
    bn_layer: int = _f(1, "bn_middle: the hidden layer (1..L-1) whose pre-activations are batch-centered; 0 = all")
    seeds: int = _f(4, "random networks (MPI ranks split them)")
    seed: int = _f(0, "root seed")
    quad: int = _f(101, "Gauss-Hermite points of the mean-field integrals")
    eig_dense_max: int = _f(2000, "largest C*T for dense eigh; above, Lanczos (eigsh) for the top C+1")
    lr_scan: bool = _f(False, "also measure the GD divergence threshold (norm none)")
    lr_c_min: float = _f(0.5, "smallest eta/(2/lambda_max) of the GD scan")
    lr_c_max: float = _f(8.0, "largest eta/(2/lambda_max) of the GD scan")
    lr_points: int = _f(12, "log-spaced c values of the GD scan")
    lr_bisect: int = _f(5, "bisection steps refining the threshold between grid points")
    lr_steps: int = _f(100, "GD steps per run")
    ngd: bool = _f(False, "also compare exact / layer-wise / K-FAC / unit-wise natural gradient (norm none)")
    ngd_steps: int = _f(5, "NGD steps")
    ngd_damping: float = _f(1e-10, "relative damping of the Gram solves (times tr(Theta)/n)")
    ngd_unit_damping: float = _f(1e-3, "unit-wise NGD: relative damping of each unit's Gram (0: pseudo-inverse)")
    backend: str = _f("numpy", "array backend: numpy, cupy or auto")
    dtype: str = _f("float64", "float64 (default; the mean eigenvalue needs it) or float32")

    def validate(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if self.norm not in NORMS:
            raise ConfigError(f"norm must be one of {', '.join(NORMS)}, got {self.norm!r}")
        for name in ("M", "C", "T", "seeds", "quad", "eig_dense_max", "lr_points", "lr_steps", "ngd_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {getattr(self, name)}")
        if self.L < 2:
            raise ConfigError(f"L must be >= 2 (at least one hidden layer), got {self.L}")
        for name in ("alpha0", "sigma_w2", "lr_c_min", "lr_c_max"):
            v = getattr(self, name)
            if not (v > 0 and math.isfinite(v)):
                raise ConfigError(f"{name} must be a positive number, got {v}")
        for name in ("sigma_b2", "seed", "lr_bisect", "ngd_damping", "ngd_unit_damping"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.bn_layer <= self.L - 1:
            raise ConfigError(f"bn_layer must be in 0..L-1 = 0..{self.L - 1}, got {self.bn_layer}")
        if self.lr_c_min >= self.lr_c_max:
            raise ConfigError("lr_c_min must be < lr_c_max")
        if round(self.alpha0 * self.M) < 1:
            raise ConfigError("alpha0*M must be >= 1")
        check_backend(self.backend)
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"dtype must be float32 or float64, got {self.dtype!r}")

    def widths(self) -> list[int]:
        """``[M_0, M_1, ..., M_{L-1}, C]``."""
        return [round(self.alpha0 * self.M)] + [self.M] * (self.L - 1) + [self.C]

    def n_params(self) -> int:
        w = self.widths()
        return sum(w[l] * w[l - 1] + w[l] for l in range(1, len(w)))

    def __post_init__(self):
        self.validate()


# -- activations ---------------------------------------------------------------------------
def _phi(name, xp):
    if name == "tanh":
        return xp.tanh, lambda u: 1.0 - xp.tanh(u) ** 2
    if name == "relu":
        return (lambda u: xp.maximum(u, 0.0)), (lambda u: (u > 0).astype(u.dtype))
    if name == "linear":
        return (lambda u: u), (lambda u: xp.ones_like(u))
    if name == "erf":

        erf = scipy_special(xp).erf
        return erf, (lambda u: (2.0 / math.sqrt(math.pi)) * xp.exp(-u * u))
    raise ConfigError(f"unknown activation {name!r}")


# -- network -------------------------------------------------------------------------------
def init_net(p: FimParams, rng: np.random.Generator, xp=np, dtype=np.float64):
    """``[(W_l, b_l)]``, ``W_l`` of shape ``(M_l, M_{l-1})``, N(0, sigma_w^2/M_{l-1}); ``b_l`` N(0, sigma_b^2)."""
    w = p.widths()
    net = []
    for l in range(1, len(w)):
        W = rng.standard_normal((w[l], w[l - 1])) * math.sqrt(p.sigma_w2 / w[l - 1])
        b = rng.standard_normal(w[l]) * math.sqrt(p.sigma_b2)
        net.append((xp.asarray(W, dtype=dtype), xp.asarray(b, dtype=dtype)))
    return net


def sample_inputs(p: FimParams, rng: np.random.Generator, xp=np, dtype=np.float64):
    """``x_t ~ N(0, I_{M_0})``, shape ``(T, M_0)``."""
    return xp.asarray(rng.standard_normal((p.T, p.widths()[0])), dtype=dtype)


_LN_EPS = 1e-12


def forward(net, X, activation: str, norm: str = "none", xp=np, bn_layer: int = 1):
    """Forward pass over the batch ``X`` (T, M_0).

    Returns ``(f, cache)``: outputs ``(T, C)`` (batch-centered for ``bn_last``)
    and per layer ``l`` the input ``h^{l-1}`` and what the backward pass needs.
    """
    phi, dphi = _phi(activation, xp)
    h = X
    cache = []
    for l, (W, b) in enumerate(net):
        u = h @ W.T + b
        entry = {"h": h}
        if l < len(net) - 1:
            if norm == "bn_middle" and bn_layer in (0, l + 1):
                u = u - u.mean(axis=0, keepdims=True)
                entry["bn"] = True
            elif norm == "layer_norm":
                mu = u.mean(axis=1, keepdims=True)
                sd = xp.sqrt(((u - mu) ** 2).mean(axis=1, keepdims=True) + _LN_EPS)
                u = (u - mu) / sd
                entry["ln"] = (u, sd)
            entry["dphi"] = dphi(u)
            h = phi(u)
        cache.append(entry)
    f = u
    if norm == "bn_last":
        f = f - f.mean(axis=0, keepdims=True)
    return f, cache


def _ln_back(g, ubar, sd):
    """Adjoint of per-sample standardization over the last axis: ``(g - <g> - ubar <g ubar>)/sd``."""
    return (g - g.mean(axis=-1, keepdims=True) - ubar * (g * ubar).mean(axis=-1, keepdims=True)) / sd


def backward_deltas(net, cache, norm: str = "none", xp=np):
    r"""Output adjoints :math:`\delta^l = \partial f_k(x_t)/\partial u^l` of every layer (before ``bn_last``).

    Per-sample norms (none, layer_norm, bn_last): arrays ``(C, T, M_l)``.
    ``bn_middle`` couples samples: arrays ``(C, T, T, M_l)`` (row ``(k, t)``,
    column sample ``s``).  Index ``l`` runs over weight layers (0-based).
    """
    L = len(net)
    C = net[-1][0].shape[0]
    T = cache[0]["h"].shape[0]
    dtype = net[0][0].dtype
    coupled = norm == "bn_middle"
    eye = xp.eye(C, dtype=dtype)
    if coupled:
        D = xp.zeros((C, T, T, C), dtype=dtype)
        for t in range(T):
            D[:, t, t, :] = eye
    else:
        D = xp.broadcast_to(eye[:, None, :], (C, T, C)).copy()
    out = [None] * L
    out[L - 1] = D
    for l in range(L - 1, 0, -1):
        W = net[l][0]
        g = D @ W  # adjoint of h^{l-1} (layer index l-1 output)
        e = cache[l - 1]
        if coupled:
            g = g * e["dphi"][None, None]
            if e.get("bn"):
                g = g - g.mean(axis=2, keepdims=True)  # adjoint of batch-mean subtraction
        else:
            g = g * e["dphi"][None]
            if norm == "layer_norm":
                ubar, sd = e["ln"]
                g = _ln_back(g, ubar[None], sd[None])
        D = g
        out[l - 1] = D
    return out


def gram_layers(net, X, activation: str, norm: str = "none", xp=np, bn_layer: int = 1):
    r"""Per-layer NTK blocks :math:`\Theta_l` (list of ``(CT, CT)``, rows ``(k, t)``) and the outputs ``f``.

    Weight part :math:`(\delta\cdot\delta')(h\cdot h')`, bias part :math:`\delta\cdot\delta'`;
    for ``bn_middle`` the sample-coupled form :math:`\sum_{s,s'}(\delta_{r,s}\cdot\delta_{r',s'})(h_s\cdot h_{s'} + 1)`.
    ``bn_last`` projection is applied to every block.
    """
    f, cache = forward(net, X, activation, norm, xp=xp, bn_layer=bn_layer)
    Ds = backward_deltas(net, cache, norm, xp=xp)
    C, T = f.shape[1], f.shape[0]
    n = C * T
    blocks = []
    for l, D in enumerate(Ds):
        h = cache[l]["h"]
        H = h @ h.T + 1.0
        if D.ndim == 3:
            Df = D.reshape(n, -1)
            B = (Df @ Df.T).reshape(C, T, C, T) * H[None, :, None, :]
            B = B.reshape(n, n)
        else:
            Df = D.reshape(n, T, -1)
            HD = xp.einsum("su,ruj->rsj", H, Df)
            B = Df.reshape(n, -1) @ HD.reshape(n, -1).T
        blocks.append(B)
    if norm == "bn_last":
        Pt = xp.eye(T, dtype=f.dtype) - 1.0 / T
        Pr = xp.kron(xp.eye(C, dtype=f.dtype), Pt)
        blocks = [Pr @ B @ Pr for B in blocks]
    return blocks, f, Ds, cache


def gram(net, X, activation: str, norm: str = "none", xp=np, bn_layer: int = 1):
    """The ``(CT, CT)`` Gram :math:`G = \\Theta/T` whose nonzero spectrum is that of the FIM."""
    blocks, f, _, _ = gram_layers(net, X, activation, norm, xp=xp, bn_layer=bn_layer)
    return sum(blocks) / f.shape[0]


def spectrum_stats(G, P: int, n_top: int, dense_max: int = 2000, xp=np) -> dict:
    """``m_lambda = tr G/P``, ``s_lambda = ||G||_F^2/P``, the ``n_top`` largest eigenvalues (descending)."""

    n = G.shape[0]
    m = float(xp.trace(G)) / P
    s = float(xp.sum(G * G)) / P
    k = min(n_top, n)
    if n <= dense_max or k >= n - 1:
        ev = np.sort(to_numpy(xp.linalg.eigvalsh(G)))[::-1][:k]
    else:
        from scipy.sparse.linalg import eigsh

        ev = np.sort(eigsh(to_numpy(G), k=k, which="LA", return_eigenvectors=False))[::-1]
    top = np.full(n_top, np.nan)
    top[:k] = ev
    return {"m_lambda": m, "s_lambda": s, "lambda_top": top, "lambda_max": float(ev[0])}


# -- mean-field theory -------------------------------------------------------------------------
def _gauss2(fn1, fn2, q1: float, q2: float, n: int) -> float:
    """:math:`E[f_1(u) f_2(v)]`, (u, v) Gaussian with variances ``q1`` and covariance ``q2`` (Gauss-Hermite)."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / math.sqrt(2.0 * math.pi)
    s = math.sqrt(max(q1, 0.0))
    c = 0.0 if q1 <= 0 else max(-1.0, min(1.0, q2 / q1))
    u = s * z[:, None]
    v = s * (c * z[:, None] + math.sqrt(max(0.0, 1.0 - c * c)) * z[None, :])
    return float(np.sum(w[:, None] * w[None, :] * fn1(u) * fn2(v)))


def _moments(activation: str, q1: float, q2: float, n: int) -> tuple[float, float, float, float]:
    r"""``(E phi(u)^2, E phi(u)phi(v), E phi'(u)^2, E phi'(u)phi'(v))``: closed forms for relu/linear/erf, else Gauss-Hermite.

    relu: arc-cosine kernels (Cho & Saul 2009), :math:`E\phi\phi = \frac{q_1}{2\pi}(\sqrt{1-c^2} + (\pi - \arccos c)c)`,
    :math:`E\phi'\phi' = (\pi - \arccos c)/(2\pi)`; erf: :math:`E\phi\phi = \frac2\pi\arcsin\frac{2q_2}{1+2q_1}`,
    :math:`E\phi'\phi' = \frac4\pi[(1+2q_1)^2 - 4q_2^2]^{-1/2}` (Williams 1997).
    """
    c = 0.0 if q1 <= 0 else max(-1.0, min(1.0, q2 / q1))
    if activation == "linear":
        return q1, q2, 1.0, 1.0
    if activation == "relu":
        th = math.acos(c)
        return q1 / 2, q1 / (2 * math.pi) * (math.sqrt(1 - c * c) + (math.pi - th) * c), 0.5, (math.pi - th) / (2 * math.pi)
    if activation == "erf":
        a = 1 + 2 * q1
        return ((2 / math.pi) * math.asin(2 * q1 / a), (2 / math.pi) * math.asin(2 * q2 / a),
                (4 / math.pi) / math.sqrt(a * a - 4 * q1 * q1), (4 / math.pi) / math.sqrt(a * a - 4 * q2 * q2))
    phi, dphi = _phi(activation, np)
    return (_gauss2(phi, phi, q1, q1, n), _gauss2(phi, phi, q1, q2, n),
            _gauss2(dphi, dphi, q1, q1, n), _gauss2(dphi, dphi, q1, q2, n))


def order_parameters(activation: str, sigma_w2: float, sigma_b2: float, L: int, n: int = 101, *,
                     rho: float = 0.0) -> dict:
    r"""Forward :math:`q_1^l, q_2^l` (l = 1..L-1), :math:`\hat q^{l}_{1,2}` (l = 0..L-1) and backward :math:`\tilde q^l_{1,2}` (l = 1..L).

    Inputs have :math:`\hat q^0_1 = 1`, :math:`\hat q^0_2 = \rho` (``rho = 0``: independent N(0, I)
    inputs; a nonzero ``rho`` gives the kernel of two inputs with overlap :math:`x\cdot x'/M_0 = \rho`).
    Arrays are indexed by layer number (entry 0 of ``q1``, ``q2`` and of the ``tq`` arrays is unused, NaN).
    """
    qh1 = np.zeros(L)
    qh2 = np.zeros(L)
    q1 = np.full(L, np.nan)
    q2 = np.full(L, np.nan)
    d1 = np.full(L, np.nan)
    d2 = np.full(L, np.nan)
    qh1[0], qh2[0] = 1.0, float(rho)
    for l in range(1, L):
        q1[l] = sigma_w2 * qh1[l - 1] + sigma_b2
        q2[l] = sigma_w2 * qh2[l - 1] + sigma_b2
        qh1[l], qh2[l], d1[l], d2[l] = _moments(activation, q1[l], q2[l], n)
    tq1 = np.full(L + 1, np.nan)
    tq2 = np.full(L + 1, np.nan)
    tq1[L] = tq2[L] = 1.0
    for l in range(L - 1, 0, -1):
        tq1[l] = sigma_w2 * tq1[l + 1] * d1[l]
        tq2[l] = sigma_w2 * tq2[l + 1] * d2[l]
    return {"q1": q1, "q2": q2, "qhat1": qh1, "qhat2": qh2, "qtilde1": tq1, "qtilde2": tq2}


def _kernels(op: dict, w: list, L: int) -> tuple[float, float]:
    """Finite-size diagonal and off-diagonal NTK entries :math:`K_{1,2} = \\sum_l \\tilde q^l_{1,2}(M_{l-1}\\hat q^{l-1}_{1,2} + 1)`."""
    K1 = sum(op["qtilde1"][l] * (w[l - 1] * op["qhat1"][l - 1] + 1.0) for l in range(1, L + 1))
    K2 = sum(op["qtilde2"][l] * (w[l - 1] * op["qhat2"][l - 1] + 1.0) for l in range(1, L + 1))
    return K1, K2


def kernel_slope(p: FimParams, h: float = 1e-4) -> float:
    r"""``b`` :math:`= \partial K_2/\partial\rho` at :math:`\rho = 0`: how the off-diagonal NTK entry
    :math:`\Theta_{ts}` moves with the input overlap :math:`\rho_{ts} = x_t\cdot x_s/M_0` (central difference of
    the mean-field kernel, step ``h``; the quadrature is smooth in :math:`\rho`)."""
    w = p.widths()
    k = [_kernels(order_parameters(p.activation, p.sigma_w2, p.sigma_b2, p.L, p.quad, rho=r), w, p.L)[1]
         for r in (h, -h)]
    return (k[0] - k[1]) / (2 * h)


def mp_edge_from_moments(m: float, v: float, c3: float) -> float:
    r"""Right edge of the shifted Marchenko-Pastur law :math:`a + s\,\mathrm{MP}_\gamma` with mean ``m``,
    variance ``v`` and third central moment ``c3`` (moment matching).

    :math:`\mathrm{MP}_\gamma` (mean 1) has variance :math:`\gamma`, third central moment :math:`\gamma^2`,
    skewness :math:`\sqrt\gamma` and edge :math:`(1+\sqrt\gamma)^2`, so :math:`\gamma = c_3^2/v^3`,
    :math:`s = \sqrt{v/\gamma}` and the edge is :math:`m + \sqrt v\,(2 + \sqrt\gamma)`; ``c3 <= 0`` gives
    the semicircle edge :math:`m + 2\sqrt v` (the :math:`\gamma \to 0` limit).
    """
    if not v > 0:
        return float(m)
    g = c3 * c3 / v ** 3 if c3 > 0 else 0.0
    return float(m + math.sqrt(v) * (2.0 + math.sqrt(g)))


def bulk_edge(G, C: int, norm: str, lam_top, xp=np) -> float:
    r"""Bulk edge of the Gram ``G`` from its measured first three spectral moments (:func:`mp_edge_from_moments`).

    The bulk is the ``C(T-1)`` nonzero eigenvalues for ``bn_last`` (the projection leaves ``C``
    zeros, which add nothing to the traces), else the ``CT - C`` eigenvalues below the ``C`` largest
    (the outliers, removed with ``lam_top``).  Moments from :math:`\mathrm{tr}\,G^k`, ``k = 1, 2, 3``.
    """
    n = G.shape[0]
    T = n // C
    G2 = G @ G
    tr = [float(xp.trace(G)), float(xp.trace(G2)), float(xp.sum(G2 * G))]
    if norm == "bn_last":
        nb = C * (T - 1)
    else:
        top = np.asarray(lam_top[:C], dtype=float)
        tr = [t - float(np.sum(top ** (k + 1))) for k, t in enumerate(tr)]
        nb = n - C
    if nb < 2:
        return float("nan")
    m1, m2, m3 = (t / nb for t in tr)
    v = m2 - m1 * m1
    return mp_edge_from_moments(m1, v, m3 - 3 * m1 * m2 + 2 * m1 ** 3)


def theory(p: FimParams) -> dict:
    """Mean-field predictions (module docstring): ``kappa1, kappa2, alpha`` and m/s/lambda_max, leading order and ``_fs``.

    ``none`` and ``bn_last`` (projection of the Gram, our derivation) have a prediction; for
    ``bn_middle`` and ``layer_norm`` the values are those of the unnormalized net (a reference only:
    no mean-field theory of these normalizations is implemented).  ``lambda_bulk_mp`` (and, for
    ``bn_last``, ``lambda_max_mp``) add the input-overlap spread of the bulk (module docstring,
    "Finite T"): ``lambda_bulk + b((1 + sqrt(gamma))^2 - 1)/T``, ``gamma = (T-1)/M_0``, ``b`` =
    :func:`kernel_slope`.
    """
    op = order_parameters(p.activation, p.sigma_w2, p.sigma_b2, p.L, p.quad)
    w = p.widths()
    a = [wi / p.M for wi in w]
    L, T, C, M = p.L, p.T, p.C, p.M
    alpha = sum(a[l] * a[l - 1] for l in range(1, L))
    k1 = sum(a[l - 1] / alpha * op["qtilde1"][l] * op["qhat1"][l - 1] for l in range(1, L + 1))
    k2 = sum(a[l - 1] / alpha * op["qtilde2"][l] * op["qhat2"][l - 1] for l in range(1, L + 1))
    K1, K2 = _kernels(op, w, L)
    P = p.n_params()
    b = kernel_slope(p)
    gamma = (T - 1) / w[0]
    spread = b * ((1 + math.sqrt(gamma)) ** 2 - 1) / T
    out = {
        "kappa1": k1, "kappa2": k2, "alpha": alpha,
        "m_lambda": k1 * C / M,
        "s_lambda": alpha * C * ((T - 1) / T * k2 ** 2 + k1 ** 2 / T),
        "lambda_max": alpha * ((T - 1) / T * k2 + k1 / T) * M,
        "lambda_bulk": alpha * (k1 - k2) / T * M,
        "m_lambda_fs": C * K1 / P,
        "s_lambda_fs": C * (K1 ** 2 / T + (1 - 1 / T) * K2 ** 2) / P,
        "lambda_max_fs": K2 + (K1 - K2) / T,
        "kernel_slope": b, "mp_gamma": gamma,
        "lambda_bulk_mp": alpha * (k1 - k2) / T * M + spread,
    }
    out["lambda_max_mp"] = out["lambda_max"]
    if p.norm == "bn_last":  # the 1 1^T part is projected out: the C outliers join the bulk
        out["lambda_max"] = out["lambda_bulk"]
        out["lambda_max_mp"] = out["lambda_bulk_mp"]
        out["lambda_max_fs"] = (K1 - K2) / T
        out["s_lambda"] = alpha * C * (T - 1) / T ** 2 * (k1 - k2) ** 2
        out["s_lambda_fs"] = C * (T - 1) / T ** 2 * (K1 - K2) ** 2 / P
        out["m_lambda"] = (T - 1) / T * (k1 - k2) * C / M
        out["m_lambda_fs"] = C * (T - 1) / T * (K1 - K2) / P
    out.update({k: v for k, v in op.items()})
    return out


# -- gradient descent and natural gradient --------------------------------------------------------
def _loss(f, Y) -> float:
    return float(0.5 * ((f - Y) ** 2).sum() / f.shape[0])


def _apply(net, steps):
    return [(W - dW, b - db) for (W, b), (dW, db) in zip(net, steps)]


def _jt_v(D, h, v):
    """:math:`J_l^\\top v` for a per-sample layer: weight ``(M_l, M_{l-1})`` and bias ``(M_l,)`` parts; ``v`` is ``(C, T)``."""
    E = (v[:, :, None] * D).sum(axis=0)  # (T, M_l)
    return E.T @ h, E.sum(axis=0)


def _gd_run(net, X, Y, activation, eta, steps, xp=np):
    """Losses of ``steps`` full-batch GD steps (length steps+1); stops early at non-finite/huge loss."""
    losses = [np.nan] * (steps + 1)
    for s in range(steps + 1):
        f, cache = forward(net, X, activation, "none", xp=xp)
        E = _loss(f, Y)
        losses[s] = E
        if not math.isfinite(E) or E > 1e12:
            break
        if s == steps:
            break
        Ds = backward_deltas(net, cache, "none", xp=xp)
        r = (f - Y).T / f.shape[0]
        net = _apply(net, [tuple(eta * g for g in _jt_v(D, c["h"], r)) for D, c in zip(Ds, cache)])
    return np.asarray(losses)


def _diverged(losses) -> bool:
    last = losses[-1]
    return not (math.isfinite(last) and last < losses[0])


def gd_threshold(net, X, Y, activation, lam_max, c_grid, steps, bisect=5, xp=np):
    """GD at ``eta = c * 2/lambda_max`` over ``c_grid``; returns ``(final/initial loss per c, c_threshold)``.

    ``c_threshold``: the smallest ``c`` of the grid whose run diverged (loss not back below its
    initial value after ``steps``), refined by ``bisect`` bisection steps against the previous grid value;
    NaN if none diverged, ``c_grid[0]`` if all did.
    """
    ratio = np.empty(len(c_grid))
    div = np.zeros(len(c_grid), bool)
    for i, c in enumerate(c_grid):
        ls = _gd_run(net, X, Y, activation, c * 2 / lam_max, steps, xp=xp)
        ratio[i] = ls[-1] / ls[0] if math.isfinite(ls[-1]) else np.inf
        div[i] = _diverged(ls)
    idx = np.flatnonzero(div)
    if len(idx) == 0:
        return ratio, np.nan
    j = idx[0]
    if j == 0:
        return ratio, float(c_grid[0])
    lo, hi = float(c_grid[j - 1]), float(c_grid[j])
    for _ in range(bisect):
        mid = math.sqrt(lo * hi)
        if _diverged(_gd_run(net, X, Y, activation, mid * 2 / lam_max, steps, xp=xp)):
            hi = mid
        else:
            lo = mid
    return ratio, math.sqrt(lo * hi)


def _pinv_psd_factor(U, xp, rcond=1e-10):
    """Apply :math:`(U U^\\top)^+` via the small Gram ``U^T U`` (``U`` is ``(n, r)``): returns a function of ``V`` (n, ...)."""
    S = U.T @ U
    ev, Q = xp.linalg.eigh(S)
    keep = ev > rcond * float(ev.max())
    Uq = (U @ Q[:, keep]) / ev[keep]  # U Q diag(1/ev)
    return lambda V: Uq @ (Uq.T @ V)


def _unit_solve(D, h, r, damping, xp, rcond=1e-10):
    r"""Per unit ``i`` of a layer: :math:`v_i = (\Theta_i + \rho\,\bar\theta_i I)^{-1} r` with the unit's Gram
    :math:`\Theta_i[(k,t),(k',s)] = \delta_{k,t,i}\,\delta_{k',s,i}\,(\tilde h_t\cdot\tilde h_s)`,
    :math:`\bar\theta_i = \mathrm{tr}\,\Theta_i / CT` and :math:`\rho` = ``damping``.

    ``D`` ``(C, T, M_l)``, ``h`` ``(T, M_{l-1})``, ``r`` ``(C, T)``; returns ``(M_l, C, T)`` (batched solves
    over the units).  ``damping = 0``: the pseudo-inverse (batched ``eigh``, eigenvalues below ``rcond``
    times the largest dropped), needed for the rank ``<= T`` of a hidden unit's block when ``C > 1``.
    """
    C, T, M = D.shape
    K = h @ h.T + 1.0  # (T, T): h~_t . h~_s with the bias input
    d = D.transpose(2, 0, 1).reshape(M, C * T)  # (M, CT)
    G = d[:, :, None] * d[:, None, :] * xp.tile(K, (C, C))[None]  # (M, CT, CT)
    rv = r.reshape(-1)
    if damping > 0:
        tr = xp.trace(G, axis1=1, axis2=2) / (C * T)
        # a dead unit (relu: every adjoint 0) has Theta_i = 0 and no step: any regularizer will do
        reg = xp.where(tr > 0, damping * tr, 1.0)
        G = G + reg[:, None, None] * xp.eye(C * T, dtype=G.dtype)[None]
        v = xp.linalg.solve(G, xp.broadcast_to(rv, (M, C * T))[..., None])[..., 0]
        return v.reshape(M, C, T)
    ev, Q = xp.linalg.eigh(G)
    inv = xp.where(ev > rcond * ev[:, -1:], 1.0 / xp.where(ev > 0, ev, 1.0), 0.0)
    w = xp.einsum("mcb,c->mb", Q, rv)  # Q^T r per unit
    return xp.einsum("mab,mb->ma", Q, inv * w).reshape(M, C, T)


def _jt_v_units(D, h, V, xp):
    r""":math:`J_{l,i}^\top v_i` for every unit (``V`` ``(M_l, C, T)``): weight and bias parts of the layer."""
    E = xp.einsum("ict,cti->ti", V, D)  # (T, M_l): sum_k v_i[k, t] delta_{k,t,i}
    return E.T @ h, E.sum(axis=0)


def _solve_psd(A, r, damping, xp):
    n = A.shape[0]
    reg = damping * float(xp.trace(A)) / n
    return xp.linalg.solve(A + reg * xp.eye(n, dtype=A.dtype), r)


def _step_gd(ctx):
    v = ctx.r / ctx.T
    return [_jt_v(D, c["h"], v) for D, c in zip(ctx.Ds, ctx.cache)]


def _step_exact(ctx):
    v = _solve_psd(sum(ctx.blocks), ctx.r.reshape(-1), ctx.damping, ctx.xp).reshape(ctx.C, ctx.T)
    return [_jt_v(D, c["h"], v) for D, c in zip(ctx.Ds, ctx.cache)]


def _step_layerwise(ctx):
    steps = []
    for B, D, c in zip(ctx.blocks, ctx.Ds, ctx.cache):
        v = _solve_psd(B, ctx.r.reshape(-1), ctx.damping, ctx.xp).reshape(ctx.C, ctx.T)
        steps.append(_jt_v(D, c["h"], v))
    return steps


def _step_kfac(ctx):
    xp, C, T = ctx.xp, ctx.C, ctx.T
    steps = []
    for D, c in zip(ctx.Ds, ctx.cache):
        ht = xp.concatenate([c["h"], xp.ones((T, 1), dtype=c["h"].dtype)], axis=1)  # (T, M_{l-1}+1)
        Ainv = _pinv_psd_factor(ht.T / math.sqrt(T), xp)
        Bf = D.reshape(C * T, -1).T / math.sqrt(T)  # (M_l, CT)
        Binv = _pinv_psd_factor(Bf, xp)
        G = _jt_v(D, c["h"], ctx.r / T)
        Gt = xp.concatenate([G[0], G[1][:, None]], axis=1)  # (M_l, M_{l-1}+1)
        S = Binv(Ainv(Gt.T).T)
        steps.append((S[:, :-1], S[:, -1]))
    return steps


def _step_unitwise(ctx):
    return [_jt_v_units(D, c["h"], _unit_solve(D, c["h"], ctx.r, ctx.unit_damping, ctx.xp), ctx.xp)
            for D, c in zip(ctx.Ds, ctx.cache)]


@dataclass(frozen=True)
class _StepContext:
    """What every NGD variant reads: per-layer Gram blocks, adjoints, forward cache, residual ``r`` (C, T)."""

    blocks: list
    Ds: list
    cache: list
    r: object
    C: int
    T: int
    damping: float
    unit_damping: float
    xp: object


@dataclass(frozen=True)
class NgdMethod:
    """One variant of the natural-gradient comparison (module docstring).

    ``step(ctx)`` returns the per-layer parameter directions ``[(dW_l, db_l)]`` (the update is
    ``-eta`` times them); ``rate(p, n_units)`` is the variant's one-step learning rate;
    ``per_lambda``: the rates are in units of ``1/lambda_max`` (plain GD).
    """

    name: str
    step: object
    rate: object
    per_lambda: bool = False


#: the NGD variants, in the order of the ``method`` axis of the HDF5 output
NGD = {m.name: m for m in (
    NgdMethod("gd", _step_gd, lambda p, n_units: 1.0, per_lambda=True),
    NgdMethod("exact", _step_exact, lambda p, n_units: 1.0),
    NgdMethod("layerwise", _step_layerwise, lambda p, n_units: 1.0 / p.L),
    NgdMethod("kfac", _step_kfac, lambda p, n_units: 1.0 / (1.0 + (p.L - 1) * p.T)),
    NgdMethod("unitwise", _step_unitwise, lambda p, n_units: 1.0 / n_units),
)}
NGD_METHODS = tuple(NGD)


def ngd_method(name: str) -> NgdMethod:
    """The :class:`NgdMethod` called ``name`` (one-line ConfigError for an unknown name)."""
    try:
        return NGD[name]
    except KeyError:
        raise ConfigError(f"unknown NGD method {name!r}; one of {', '.join(NGD_METHODS)}") from None


def ngd_step(net, X, Y, activation, method: str, eta: float, damping: float = 1e-10, lam_max: float | None = None,
             xp=np, unit_damping: float = 1e-3):
    """One step of ``method`` (a name of :data:`NGD`: gd, exact, layerwise, kfac, unitwise) on the MSE loss; returns the new net."""
    meth = ngd_method(method)
    blocks, f, Ds, cache = gram_layers(net, X, activation, "none", xp=xp)
    C, T = f.shape[1], f.shape[0]
    ctx = _StepContext(blocks=blocks, Ds=Ds, cache=cache, r=(f - Y).T, C=C, T=T, damping=damping,
                       unit_damping=unit_damping, xp=xp)  # r: (C, T), rows (k, t) like the Gram
    return _apply(net, [(eta * a, eta * b) for a, b in meth.step(ctx)])


def ngd_run(net, X, Y, activation, method, eta, steps, damping=1e-10, xp=np, unit_damping=1e-3):
    """Training error ``E`` after each of ``steps`` steps (length steps+1, entry 0 = initial)."""
    out = []
    for s in range(steps + 1):
        f, _ = forward(net, X, activation, "none", xp=xp)
        out.append(_loss(f, Y))
        if s < steps and math.isfinite(out[-1]):
            net = ngd_step(net, X, Y, activation, method, eta, damping, xp=xp, unit_damping=unit_damping)
    return np.asarray(out)


# -- one sweep point ---------------------------------------------------------------------------
def lr_grid(p: FimParams) -> np.ndarray:
    return np.geomspace(p.lr_c_min, p.lr_c_max, p.lr_points)


def unit_counts(net, X, activation: str, xp=np) -> np.ndarray:
    """Per sample ``t``: the number ``n_t`` of units (all layers) whose output adjoint is nonzero at ``x_t``.

    ``(L-1) M + C`` for tanh; about half the hidden units for relu (dead units have zero adjoints).  With
    ``C = 1`` unit-wise NGD moves ``f_t`` by ``-eta n_t r_t``; its one-step rate is ``1/<n_t>``.
    """

    _, cache = forward(net, X, activation, "none", xp=xp)
    Ds = backward_deltas(net, cache, "none", xp=xp)
    return sum(to_numpy((xp.abs(D) > 0).any(axis=0).sum(axis=1)) for D in Ds).astype(float)


def ngd_etas(p: FimParams, method: str, lam_max: float, n_units: float | None = None) -> np.ndarray:
    """Learning rates of the NGD comparison: ``[1/L, 1, one-step rate of the method]``.

    One-step rates (:attr:`NgdMethod.rate`): exact 1, layer-wise 1/L, K-FAC ``1/(1 + (L-1) T)``, unit-wise
    ``1/n_units`` (``n_units``: the mean of :func:`unit_counts`, default ``(L-1) M + C``; see :func:`ngd_step`),
    gd ``1/lambda_max``; gd's entries are all multiplied by ``1/lambda_max`` (gd at eta = 1 diverges).
    """
    if n_units is None:
        n_units = (p.L - 1) * p.M + p.C
    meth = ngd_method(method)
    e = np.array([1.0 / p.L, 1.0, meth.rate(p, n_units)])
    return e / lam_max if meth.per_lambda else e


def fim_point(p: FimParams, ids, *, xp=np, progress: bool = False) -> dict:
    """Everything measured for the seeds ``ids`` of one parameter point (arrays with a leading seed axis)."""

    dtype = np.float64 if p.dtype == "float64" else np.float32
    P = p.n_params()
    keys = ("m_lambda", "s_lambda", "lambda_max", "lambda_top")
    res = {k: [] for k in keys}
    res["lambda_edge"] = []
    if p.lr_scan:
        res.update(lr_loss_ratio=[], lr_c_threshold=[], lr_eta_threshold=[], lr_lambda_max=[])
    if p.ngd:
        res["ngd_error"] = []
        res["ngd_units"] = []
    bar = progress_bar(len(ids), progress, "fim", unit="seed")
    for k in ids:
        net = init_net(p, stream(p.seed, k, FIM, 0), xp=xp, dtype=dtype)
        X = sample_inputs(p, stream(p.seed, k, FIM, 1), xp=xp, dtype=dtype)
        G = gram(net, X, p.activation, p.norm, xp=xp, bn_layer=p.bn_layer)
        st = spectrum_stats(G, P, p.C + 1, p.eig_dense_max, xp=xp)
        for key in keys:
            res[key].append(st[key])
        res["lambda_edge"].append(bulk_edge(G, p.C, p.norm, st["lambda_top"], xp=xp))
        if p.lr_scan or p.ngd:
            Y = xp.asarray(stream(p.seed, k, FIM, 2).standard_normal((p.T, p.C)), dtype=dtype)
            lam = st["lambda_max"] if p.norm == "none" else spectrum_stats(gram(net, X, p.activation, "none", xp=xp),
                                                                           P, 1, p.eig_dense_max, xp=xp)["lambda_max"]
        if p.lr_scan:
            ratio, c_thr = gd_threshold(net, X, Y, p.activation, lam, lr_grid(p), p.lr_steps, p.lr_bisect, xp=xp)
            res["lr_loss_ratio"].append(ratio)
            res["lr_c_threshold"].append(c_thr)
            res["lr_eta_threshold"].append(c_thr * 2 / lam)
            res["lr_lambda_max"].append(lam)
        if p.ngd:
            E = np.empty((len(NGD_METHODS), 3, p.ngd_steps + 1))
            n_units = float(unit_counts(net, X, p.activation, xp=xp).mean())
            for i, meth in enumerate(NGD_METHODS):
                for j, eta in enumerate(ngd_etas(p, meth, lam, n_units)):
                    E[i, j] = ngd_run(net, X, Y, p.activation, meth, eta, p.ngd_steps, p.ngd_damping, xp=xp,
                                      unit_damping=p.ngd_unit_damping)
            res["ngd_error"].append(E)
            res["ngd_units"].append(n_units)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return {k: np.asarray(v, dtype=float) for k, v in res.items()}


def write_point(path, p: FimParams, data: dict, ids, *, n_ranks=1, command=""):
    """Write one point (kind ``fim``): per-seed measurements and the theory values as attributes and variables."""

    th = theory(p)
    scal = {k: float(v) for k, v in th.items() if np.isscalar(v)}
    with H5Writer(path, kind="fim", params={"fim": p}, root_seed=p.seed, realization_ids=ids, n_ranks=n_ranks,
                  command=command, n_params=p.n_params(), **{f"theory_{k}": v for k, v in scal.items()}) as w:
        w.coord("realization", np.asarray(ids, dtype=np.int64), long_name="network seed index k")
        w.coord("rank", np.arange(p.C + 1), long_name="eigenvalue rank (0 = largest)")
        w.variable("m_lambda", data["m_lambda"], dims=("realization",), units="1", long_name="mean FIM eigenvalue tr F/P")
        w.variable("s_lambda", data["s_lambda"], dims=("realization",), units="1", long_name="second moment tr F^2/P")
        w.variable("lambda_max", data["lambda_max"], dims=("realization",), units="1", long_name="largest FIM eigenvalue")
        w.variable("lambda_top", data["lambda_top"], dims=("realization", "rank"), units="1",
                   long_name="C+1 largest FIM eigenvalues")
        if "lambda_edge" in data:
            w.variable("lambda_edge", data["lambda_edge"], dims=("realization",), units="1",
                       long_name="bulk edge from the measured first three moments of the bulk (shifted Marchenko-Pastur)")
        w.coord("layer", np.arange(p.L), long_name="layer l = 0..L-1 (q1, q2: entry 0 unused; qhat: l = 0 is the input)")
        w.coord("layer_b", np.arange(p.L + 1), long_name="layer l = 0..L of the backward order parameters (entry 0 unused)")
        for name in ("q1", "q2", "qhat1", "qhat2", "qtilde1", "qtilde2"):
            w.variable(f"theory_{name}", th[name], dims=("layer" if "tilde" not in name else "layer_b",), units="1",
                       long_name=f"mean-field order parameter {name} by layer index")
        if "lr_c_threshold" in data:
            w.coord("c", lr_grid(p), units="1", long_name="eta / (2/lambda_max)")
            w.variable("lr_loss_ratio", data["lr_loss_ratio"], dims=("realization", "c"), units="1",
                       long_name="GD training loss after lr_steps / initial loss")
            w.variable("lr_c_threshold", data["lr_c_threshold"], dims=("realization",), units="1",
                       long_name="divergence threshold eta* / (2/lambda_max)")
            w.variable("lr_eta_threshold", data["lr_eta_threshold"], dims=("realization",), units="1",
                       long_name="divergence threshold eta*")
            w.variable("lr_lambda_max", data["lr_lambda_max"], dims=("realization",), units="1",
                       long_name="lambda_max of the unnormalized net used for GD")
        if "ngd_error" in data:
            w.coord("method", np.array(NGD_METHODS, dtype="S"), long_name="gd / exact NGD / layer-wise / K-FAC / unit-wise")
            w.coord("eta_index", np.arange(3), long_name="0: eta = 1/L, 1: eta = 1, 2: the method's one-step rate (gd: /lambda_max)")
            w.coord("step", np.arange(p.ngd_steps + 1), long_name="training step")
            w.variable("ngd_units", data["ngd_units"], dims=("realization",), units="1",
                       long_name="mean number of units with a nonzero adjoint per sample (unit-wise rate 1/this)")
            w.variable("ngd_error", data["ngd_error"], dims=("realization", "method", "eta_index", "step"), units="1",
                       long_name="training error (1/2T) sum |f - y|^2")


# -- reduction and figures -----------------------------------------------------------------------
REDUCE_VARS = ("m_lambda", "s_lambda", "lambda_max", "lambda_edge", "lambda_second", "lr_eta_threshold", "lr_c_threshold", "lr_lambda_max")
THEORY_VARS = ("m_lambda", "s_lambda", "lambda_max", "m_lambda_fs", "s_lambda_fs", "lambda_max_fs", "kappa1", "kappa2",
               "lambda_bulk", "lambda_bulk_mp", "lambda_max_mp", "kernel_slope", "mp_gamma")


def reduce_files(files, output, *, figure=None, lr_figure=None, ngd_figure=None, edge_figure=None, command="") -> dict:
    """Collect points (kind ``fim``) into one table ordered by (activation, norm, L, sigma_w2, sigma_b2, M).

    Per point: mean and standard error over seeds of each measured quantity, the theory
    values, and fitted exponents ``d log y / d log M`` per series (same params except ``M``).
    """

    rows = []
    for fpath in files:
        arr, at = read(fpath, kind="fim")
        rows.append((at["params"]["fim"], arr, at, str(fpath)))
    key = lambda r: (r[0]["activation"], r[0]["norm"], r[0]["L"], r[0]["sigma_w2"], r[0]["sigma_b2"], r[0]["T"], r[0]["C"], r[0]["M"])
    rows.sort(key=key)
    n = len(rows)
    out = {k: np.array([r[0][k] for r in rows]) for k in ("M", "L", "C", "T")}
    out["bn_last"] = np.array([r[0]["norm"] == "bn_last" for r in rows], dtype=np.int8)
    out["M0"] = np.array([round(r[0]["alpha0"] * r[0]["M"]) for r in rows])
    for v in REDUCE_VARS:
        mean, se = np.full(n, np.nan), np.full(n, np.nan)
        for i, (pr, arr, _, _) in enumerate(rows):
            if v == "lambda_second" and "lambda_top" in arr:  # the largest bulk eigenvalue (below the C outliers)
                arr = {v: np.asarray(arr["lambda_top"])[:, pr["C"]]}
            if v in arr:
                x = np.asarray(arr[v], float)
                x = x[np.isfinite(x)]
                if len(x):
                    mean[i] = x.mean()
                    se[i] = x.std(ddof=1) / math.sqrt(len(x)) if len(x) > 1 else 0.0
        out[v] = mean
        out[v + "_se"] = se
    for v in THEORY_VARS:
        out["theory_" + v] = np.array([float(r[2].get("theory_" + v, np.nan)) for r in rows])
    labels = [f"{r[0]['activation']} {r[0]['norm']} L={r[0]['L']} sw2={r[0]['sigma_w2']} sb2={r[0]['sigma_b2']}" for r in rows]
    series = np.zeros(n, dtype=np.int64)
    names = []
    for i, lab in enumerate(labels):
        if lab not in names:
            names.append(lab)
        series[i] = names.index(lab)
    slopes = {v: np.full(len(names), np.nan) for v in ("m_lambda", "lambda_max", "lr_eta_threshold")}
    for s in range(len(names)):
        sel = series == s
        for v, slope in slopes.items():
            y = out[v][sel]
            Ms = out["M"][sel]
            ok = np.isfinite(y) & (y > 0)
            if ok.sum() >= 2 and len(np.unique(Ms[ok])) >= 2:
                slope[s] = np.polyfit(np.log(Ms[ok]), np.log(y[ok]), 1)[0]
    out.update({f"exponent_{v}": a for v, a in slopes.items()})
    out["series"] = series
    out["series_names"] = np.array(names, dtype="S")
    ngd = [(r[0], r[1]["ngd_error"]) for r in rows if "ngd_error" in r[1]]
    with H5Writer(output, kind="fim_summary", params={"fim": {"files": [r[3] for r in rows]}}, command=command) as w:
        w.coord("point", np.arange(n), long_name="sweep point")
        w.coord("series_index", np.arange(len(names)), long_name="series (all parameters but M)")
        w.variable("series_names", out["series_names"], dims=("series_index",))
        w.variable("series", series, dims=("point",), long_name="series of each point")
        w.variable("M", out["M"], dims=("point",), long_name="hidden width")
        w.variable("L", out["L"], dims=("point",), long_name="weight layers")
        w.variable("C", out["C"], dims=("point",), long_name="outputs")
        w.variable("T", out["T"], dims=("point",), long_name="input samples")
        w.variable("bn_last", out["bn_last"], dims=("point",), long_name="1: batch mean subtraction of the outputs")
        w.variable("M0", out["M0"], dims=("point",), long_name="input width alpha0*M")
        for v in REDUCE_VARS:
            w.variable(v, out[v], dims=("point",), units="1", long_name=f"{v}, mean over seeds")
            w.variable(v + "_se", out[v + "_se"], dims=("point",), units="1", long_name=f"{v}, standard error")
        for v in THEORY_VARS:
            w.variable("theory_" + v, out["theory_" + v], dims=("point",), units="1", long_name=f"mean-field {v}")
        for v, a in slopes.items():
            w.variable(f"exponent_{v}", a, dims=("series_index",), units="1", long_name=f"fitted d log {v} / d log M")
        if ngd:
            pw, E = max(ngd, key=lambda t: t[0]["M"])
            out["ngd_error"] = np.nanmean(E / E[:, :, :, :1], axis=0)
            w.coord("method", np.array(NGD_METHODS, dtype="S"))
            w.coord("eta_index", np.arange(3), long_name="0: eta = 1/L, 1: eta = 1, 2: the method's one-step rate")
            w.coord("step", np.arange(E.shape[-1]))
            w.variable("ngd_relative_error", out["ngd_error"], dims=("method", "eta_index", "step"), units="1",
                       long_name=f"E(step)/E(0), mean over seeds, widest point M={pw['M']}, L={pw['L']}")
    if figure:
        plot_fim(out, labels, figure)
    if lr_figure:
        plot_lr(out, lr_figure)
    if ngd_figure:
        plot_ngd(out, ngd_figure)
    if edge_figure:
        plot_edge(out, edge_figure)
    return out


def bulk_top(out) -> np.ndarray:
    """Measured top of the bulk per point: ``lambda_max`` for ``bn_last`` (no outlier), else the (C+1)-th eigenvalue."""
    return np.where(out["bn_last"] > 0, out["lambda_max"], out["lambda_second"])


#: below this ``T`` the largest of the ``C(T-1)`` bulk eigenvalues falls visibly short of the asymptotic edge
EDGE_T_MIN = 30


def edge_table(out) -> list[str]:
    """Markdown rows of the finite-T check: measured top of the bulk vs the old, the input-overlap and the moment edges."""
    lines = ["| activation, norm | M | T | gamma=(T-1)/M0 | measured | old (K1-K2)/T | meas/old | input-overlap MP | meas/MP "
             "| moment edge | meas/edge |", "|" + "---|" * 11]
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in out["series_names"]]
    top = bulk_top(out)
    for i in range(len(out["M"])):
        old, mp, edge = out["theory_lambda_bulk"][i], out["theory_lambda_bulk_mp"][i], out["lambda_edge"][i]
        lab = " ".join(names[out["series"][i]].split()[:2])
        lines.append(f"| {lab} | {out['M'][i]} | {out['T'][i]} | {out['theory_mp_gamma'][i]:.3f} | {top[i]:.4g} | {old:.4g} "
                     f"| {top[i] / old:.2f} | {mp:.4g} | {top[i] / mp:.2f} | {edge:.4g} | {top[i] / edge:.3f} |")
    return lines


def plot_edge(out, path) -> None:
    """Finite-T bulk edge: measured/old theory against gamma = (T-1)/M_0 with the input-overlap MP curve, and the
    moment edge/measured against T; shaded: where each formula is not expected to hold."""
    plt = _plt()
    fig, axs = plt.subplots(1, 2, figsize=(11, 4))
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in out["series_names"]]
    top = bulk_top(out)
    gam = out["theory_mp_gamma"]
    gg = np.geomspace(max(np.nanmin(gam), 1e-4) / 2, np.nanmax(gam) * 2, 100) if np.isfinite(gam).any() else None
    g10 = []
    for s, name in enumerate(names):
        sel = (out["series"] == s) & np.isfinite(top)
        if not sel.any():
            continue
        shape = (1 + np.sqrt(gam[sel])) ** 2 - 1
        r = np.nanmedian((out["theory_lambda_bulk_mp"][sel] / out["theory_lambda_bulk"][sel] - 1) / shape)
        color = f"C{s % 10}"
        for j, T in enumerate(np.unique(out["T"][sel])):
            st = sel & (out["T"] == T)
            axs[0].plot(gam[st], top[st] / out["theory_lambda_bulk"][st], "osD^v<>"[j % 7], ms=5, color=color,
                        mfc="none" if s % 2 else color, label=f"{name}, T={T}")
        axs[0].plot(gg, 1 + r * ((1 + np.sqrt(gg)) ** 2 - 1), "-", lw=1, color=color)
        g10.append((math.sqrt(1 + 0.1 / r) - 1) ** 2 if r > 0 else np.nan)
        axs[1].plot(out["T"][sel], out["lambda_edge"][sel] / top[sel], "o", ms=5, color=color,
                    mfc="none" if s % 2 else color, label=name)
    if g10 and np.isfinite(g10).any():
        gmax = float(np.nanmin(g10))
        axs[0].axvspan(gmax, gg[-1], color="0.9", zorder=0,
                       label=f"old (K1-K2)/T not expected to hold: gamma > {gmax:.3f} (input overlaps alone move it > 10%)")
    axs[0].axhline(1.0, color="k", lw=0.6)
    axs[0].set(xscale="log", xlabel="gamma = (T-1)/M0", ylabel="measured bulk top / old theory (K1-K2)/T",
               title="lines: input-overlap Marchenko-Pastur edge (mean field)")
    axs[0].title.set_fontsize(9)
    axs[1].axvspan(1, EDGE_T_MIN, color="0.9", zorder=0,
                   label=f"moment edge not expected to hold: T < {EDGE_T_MIN} (few eigenvalues)")
    axs[1].axhline(1.0, color="k", lw=0.6)
    axs[1].set(xscale="log", xlabel="T", ylabel="moment edge / measured bulk top", ylim=(0.8, 1.2),
               title="shifted-MP edge from the measured moments")
    axs[1].title.set_fontsize(9)
    axs[0].legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    axs[1].legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    save(fig, path)


def plot_fim(out, labels, path) -> None:
    """Measured (markers, +- s.e.) vs mean-field (lines) m_lambda*M/C, s_lambda and lambda_max/M against M."""

    plt = _plt()
    fig, axs = plt.subplots(1, 3, figsize=(13, 3.8))
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in out["series_names"]]
    for s, name in enumerate(names):
        sel = out["series"] == s
        M = out["M"][sel]
        for ax, v, scale in zip(axs, ("m_lambda", "s_lambda", "lambda_max"), (M / out["C"][sel], 1.0 + 0 * M, 1.0 / M)):
            ln = ax.errorbar(M, out[v][sel] * scale, yerr=out[v + "_se"][sel] * scale, fmt="o", ms=4, label=name)
            ax.plot(M, out["theory_" + v][sel] * scale, "-", color=ln[0].get_color(), lw=1)
            ax.plot(M, out["theory_" + v + "_fs"][sel] * scale, ":", color=ln[0].get_color(), lw=1)
    for ax, t in zip(axs, ("m_lambda * M / C  (theory: kappa1)", "s_lambda", "lambda_max / M")):
        ax.set_xscale("log")
        ax.set_xlabel("width M")
        ax.set_title(t)
    axs[0].legend(fontsize=6)
    fig.suptitle("FIM spectrum: measured (markers) vs mean field (line; dotted: finite-size)", fontsize=9)
    save(fig, path)


def plot_lr(out, path) -> None:
    """Measured GD divergence threshold eta* vs M, with 2/lambda_max (measured) for reference."""

    plt = _plt()
    fig, axs = plt.subplots(1, 2, figsize=(9, 3.6))
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in out["series_names"]]
    for s, name in enumerate(names):
        sel = (out["series"] == s) & np.isfinite(out["lr_eta_threshold"])
        if not sel.any():
            continue
        M = out["M"][sel]
        ln = axs[0].errorbar(M, out["lr_eta_threshold"][sel], yerr=out["lr_eta_threshold_se"][sel], fmt="o", label=name)
        axs[0].plot(M, 2 / out["lr_lambda_max"][sel], "--", color=ln[0].get_color(), lw=1)
        axs[1].errorbar(M, out["lr_c_threshold"][sel], yerr=out["lr_c_threshold_se"][sel], fmt="o", label=name)
    if not np.isfinite(out["lr_eta_threshold"]).any():
        axs[0].text(0.5, 0.5, "no GD scan in these points (lr_scan: false)", ha="center", va="center",
                    transform=axs[0].transAxes)
    else:
        axs[0].set(xscale="log", yscale="log")
    axs[0].set(xlabel="width M", ylabel="eta* (dashed: 2/lambda_max)")
    axs[1].set(xscale="log", xlabel="width M", ylabel="eta* / (2/lambda_max)")
    axs[1].axhline(1.0, color="k", lw=0.5)
    axs[0].legend(fontsize=6)
    save(fig, path)


def plot_ngd(out, path) -> None:
    """Relative training error per step of gd, exact NGD, layer-wise, K-FAC and unit-wise at eta = 1/L, 1, own rate."""

    plt = _plt()
    if "ngd_error" not in out:
        fig, ax = plt.subplots(figsize=(5, 2))
        ax.text(0.5, 0.5, "no NGD comparison in these points (ngd: false)", ha="center", va="center")
        ax.set_axis_off()
        save(fig, path)
        return
    E = out["ngd_error"]
    fig, axs = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
    for j, title in enumerate(("eta = 1/L (gd: 1/(L lambda_max))", "eta = 1 (gd: 1/lambda_max)",
                               "own one-step rate: exact 1, layer-wise 1/L,\nK-FAC 1/(1+(L-1)T), unit-wise 1/<n_t>")):
        for i, m in enumerate(NGD_METHODS):
            axs[j].plot(np.arange(E.shape[-1]), np.clip(E[i, j], 1e-16, 1e4), "o-", label=m)
        axs[j].set(yscale="log", xlabel="step", ylim=(3e-17, 3e4))
        axs[j].xaxis.get_major_locator().set_params(integer=True)
        axs[j].set_title(title, fontsize=9)
    axs[0].set_ylabel("E(step) / E(0)  (clipped at 1e4)")
    axs[0].legend(fontsize=7)
    save(fig, path)


def params_dict(p: FimParams) -> dict:
    return asdict(p)
