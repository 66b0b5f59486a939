r"""Linear readouts of reservoir states: ridge, RLS/FORCE and regularized SGD.

All functions are batched over leading axes (connectivity realizations ``R``)
and take ``xp`` (numpy or cupy); when omitted it is inferred from the arrays.
Shapes: features ``X`` ``(..., n, D)``, targets ``Y`` ``(..., n, M)``,
weights ``W`` ``(..., D, M)``, intercept ``b`` ``(..., M)``; the readout is

.. math::
    \hat y = W^\top r + b .

Readouts
--------
* :func:`ridge_fit`: offline ridge (Tikhonov) regression in closed form,
  :math:`W = (X_c^\top X_c + \alpha I)^{-1} X_c^\top Y` (solved, never inverted),
  with an unpenalized intercept (``X_c`` centred).
* :class:`RLS`: recursive least squares, the learning rule of FORCE
  (Sussillo & Abbott, Neuron 63, 544, 2009).  Started from ``W = 0``,
  ``P = I/alpha`` it reproduces, after ``n`` samples, exactly the ridge
  solution of those samples with penalty ``alpha`` (no intercept).
* :func:`sgd_fit`: mini-batch stochastic gradient descent on the ridge
  objective, plain (optional weight decay) or *GP-regularized*
  (:func:`gp_hyperparameters`, ``method="gp"``), see below.

GP-regularized SGD (our construction for issue (3))
----------------------------------------------------
A linear readout with Gaussian prior :math:`w \sim \mathcal N(0, s^2 I)` and
label noise :math:`\mathcal N(0, \sigma^2)` is Gaussian-process regression
with the linear kernel :math:`k(r, r') = s^2\, r^\top r'`.  Its Mercer
eigenvalues with respect to the state distribution are
:math:`\lambda_p = s^2 \mu_p`, :math:`\mu_p` the eigenvalues of the state
covariance :math:`C = \mathrm{E}[r r^\top]`.  Le Gratiet & Garnier
(Machine Learning 98, 407, 2015) prove that for a large number ``n`` of
observations the generalization error (integrated mean-squared error of the
posterior mean) behaves as

.. math::
    \varepsilon(n) \simeq \sum_p \frac{\sigma^2 \lambda_p}{\sigma^2 + n \lambda_p},

the form of the Opper–Vivarelli / Sollich approximations (Sollich & Halees,
Neural Comput. 14, 1393, 2002), which :func:`gp_learning_curve` evaluates.
For a readout with penalty :math:`\alpha` the per-mode error is
:math:`[s^2 \mu_p \alpha^2 + \sigma^2 n \mu_p^2]/(n\mu_p + \alpha)^2` (bias +
variance), minimized for every mode by the same value
:math:`\alpha^\ast = \sigma^2 / s^2`, where it equals the expression above.
The method therefore

1. estimates :math:`(\sigma^2, s^2)` by maximizing the exact log marginal
   likelihood of the linear GP, evaluated in the eigenbasis of
   :math:`X_c^\top X_c` (the kernel eigenvalues), and sets
   :math:`\alpha = \hat\sigma^2/\hat s^2`;
2. runs averaged constant-step mini-batch SGD (Bach & Moulines, NeurIPS 2013)
   on :math:`L(W) = \frac{1}{2n}\|X_c W - Y\|^2 + \frac{\alpha}{2n}\|W\|^2`,
   preconditioned by the same eigen-decomposition,
   :math:`P = V\,\mathrm{diag}\big(1/(\hat\mu_p + \alpha/n)\big)V^\top`,
   :math:`\hat\mu_p` the eigenvalues of :math:`X_c^\top X_c/n` (modes below a
   relative floor ``rcond`` are left at 0), so that every kernel mode relaxes
   at the same rate:

.. math::
    W \leftarrow W - \eta\, P \Big[\frac1b X_B^\top (X_B W - Y_B) + \frac{\alpha}{n} W\Big].

Its fixed point is the GP posterior mean (= ridge with :math:`\alpha^\ast`);
:func:`gp_learning_curve` gives the predicted error curve alongside.  Plain
SGD (``method="plain"``) uses :math:`P = I/\hat\mu_{max}` and the
user's ``alpha`` (0: unregularized, which over-fits noisy labels when ``n``
is comparable with ``D``).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Sequence

import numpy as np

from ..engine.backend import array_namespace, to_numpy
from ..engine.params import ConfigError

__all__ = [
    "Readout",
    "ridge_fit",
    "ridge_path",
    "RLS",
    "gp_hyperparameters",
    "gp_learning_curve",
    "sgd_fit",
]


def _xp(xp, *arrays) -> ModuleType:
    return xp if xp is not None else array_namespace(arrays[0])


def _T(a, xp):
    return xp.swapaxes(a, -1, -2)


@dataclass
class Readout:
    """Trained linear readout: ``W`` ``(..., D, M)``, ``b`` ``(..., M)`` (on the fitting backend)."""

    W: object
    b: object

    def predict(self, X):
        """``X @ W + b`` for features ``X`` whose leading axes start with the readout's batch axes.

        ``X`` may carry extra axes between the batch axes and the feature axis,
        e.g. ``(R, B, T, D)`` for a readout of shape ``(R, D, M)``.
        """
        W, b = self.W, self.b
        extra = X.ndim - W.ndim
        if extra < 0:
            raise ValueError(f"features of shape {X.shape} do not match weights {W.shape}")
        lead = W.shape[:-2]
        W = W.reshape(lead + (1,) * extra + W.shape[-2:])
        b = b.reshape(lead + (1,) * (extra + 1) + b.shape[-1:])
        return X @ W + b


# -- ridge ---------------------------------------------------------------------------
def _solve_spd(A, B, xp):
    """Solve ``A Z = B`` for symmetric positive-definite ``A`` (batched), without forming an inverse."""
    return xp.linalg.solve(A, B)


def ridge_fit(X, Y, alpha: float, *, fit_intercept: bool = True, xp: ModuleType | None = None) -> Readout:
    r"""Ridge regression in closed form.

    .. math::
        W = (X_c^\top X_c + \alpha I)^{-1} X_c^\top Y, \qquad
        b = \bar y - \bar x^\top W

    where :math:`X_c = X - \bar x` (``fit_intercept``; otherwise
    :math:`X_c = X` and ``b = 0``), :math:`\bar x, \bar y` are sample means over
    the ``n`` axis and :math:`\alpha \ge 0` is the penalty (units of
    :math:`r^2` times samples).  The normal equations are solved with
    ``xp.linalg.solve`` (LU of the symmetric positive-definite matrix), never an
    explicit inverse (Hoerl & Kennard, Technometrics 12, 55, 1970).

    Parameters
    ----------
    X : array ``(..., n, D)``
    Y : array ``(..., n, M)``
    alpha : float
    """
    xp = _xp(xp, X)
    if alpha < 0:
        raise ConfigError(f"ridge penalty alpha must be >= 0, got {alpha}")
    if fit_intercept:
        xm = X.mean(-2, keepdims=True)
        ym = Y.mean(-2, keepdims=True)
        Xc = X - xm
    else:
        Xc = X
    D = X.shape[-1]
    A = _T(Xc, xp) @ Xc
    A = A + alpha * xp.eye(D, dtype=A.dtype)
    W = _solve_spd(A, _T(Xc, xp) @ Y, xp)
    if fit_intercept:
        b = (ym - xm @ W)[..., 0, :]
    else:
        b = xp.zeros(Y.shape[:-2] + Y.shape[-1:], dtype=W.dtype)
    return Readout(W, b)


def ridge_path(X, Y, alpha: float, ns: Sequence[int], *, fit_intercept: bool = True, xp: ModuleType | None = None) -> list[Readout]:
    """Ridge readouts trained on the first ``n`` samples for every ``n`` in ``ns`` (increasing).

    Accumulates the moment matrices prefix by prefix, so a whole learning curve
    costs one pass over the data plus one solve per point.
    """
    xp = _xp(xp, X)
    ns = [int(n) for n in ns]
    if any(b <= a for a, b in zip(ns, ns[1:])) or ns[0] < 1 or ns[-1] > X.shape[-2]:
        raise ConfigError(f"training lengths must increase within 1..{X.shape[-2]}, got {ns}")
    D = X.shape[-1]
    lead = X.shape[:-2]
    Sxx = xp.zeros(lead + (D, D), dtype=X.dtype)
    Sxy = xp.zeros(lead + (D, Y.shape[-1]), dtype=X.dtype)
    sx = xp.zeros(lead + (1, D), dtype=X.dtype)
    sy = xp.zeros(lead + (1, Y.shape[-1]), dtype=X.dtype)
    out, n0 = [], 0
    eye = xp.eye(D, dtype=X.dtype)
    for n in ns:
        Xs, Ys = X[..., n0:n, :], Y[..., n0:n, :]
        Sxx += _T(Xs, xp) @ Xs
        Sxy += _T(Xs, xp) @ Ys
        sx += Xs.sum(-2, keepdims=True)
        sy += Ys.sum(-2, keepdims=True)
        n0 = n
        if fit_intercept:
            xm, ym = sx / n, sy / n
            A = Sxx - n * (_T(xm, xp) @ xm)
            B = Sxy - n * (_T(xm, xp) @ ym)
        else:
            A, B = Sxx, Sxy
        W = _solve_spd(A + alpha * eye, B, xp)
        b = (ym - xm @ W)[..., 0, :] if fit_intercept else xp.zeros(lead + (Y.shape[-1],), dtype=X.dtype)
        out.append(Readout(W, b))
    return out


# -- recursive least squares / FORCE ------------------------------------------------
class RLS:
    r"""Recursive least squares, batched: the FORCE learning rule.

    With :math:`e_- = W^\top r - y` the error *before* the update,

    .. math::
        P \leftarrow P - \frac{P r r^\top P}{1 + r^\top P r}, \qquad
        W \leftarrow W - (P r)\, e_-^\top

    (the second uses the updated ``P``; Sussillo & Abbott 2009, Eqs. 4–5;
    Haykin, *Adaptive Filter Theory*, ch. 9).  ``P`` estimates
    :math:`(\sum r r^\top + \alpha I)^{-1}`; from ``W = 0``, ``P = I/alpha``
    the weights after ``n`` samples equal the ridge solution with penalty
    ``alpha`` and no intercept on those samples (exactly, up to round-off).
    A constant feature (bias) may be appended to ``r`` by the caller.

    Parameters
    ----------
    D, M : int
        Feature and output dimensions.
    alpha : float
        Initial inverse correlation ``P(0) = I/alpha`` (> 0).
    batch_shape : tuple
        Leading axes (e.g. ``(R,)``).
    """

    def __init__(self, D: int, M: int, alpha: float = 1.0, *, batch_shape: tuple = (), xp: ModuleType = np, dtype=np.float64):
        if not alpha > 0:
            raise ConfigError(f"RLS alpha must be > 0, got {alpha}")
        self.xp = xp
        self.P = xp.broadcast_to(xp.eye(D, dtype=dtype) / alpha, tuple(batch_shape) + (D, D)).copy()
        self.W = xp.zeros(tuple(batch_shape) + (D, M), dtype=dtype)
        self.n_updates = 0

    def predict(self, r):
        """``W^T r`` for ``r`` of shape ``(..., D)`` -> ``(..., M)``."""
        return (r[..., None, :] @ self.W)[..., 0, :]

    def update(self, r, err) -> None:
        """One RLS step with features ``r`` ``(..., D)`` and error ``err = W^T r - y`` ``(..., M)``."""
        Pr = (self.P @ r[..., :, None])[..., 0]  # (..., D)
        c = 1.0 / (1.0 + (r * Pr).sum(-1))  # (...,)
        k = Pr * c[..., None]  # gain = P_new r
        self.P -= k[..., :, None] * Pr[..., None, :]
        self.W -= k[..., :, None] * err[..., None, :]
        self.n_updates += 1

    def fit(self, X, Y) -> "RLS":
        """Run through samples ``X`` ``(..., n, D)``, ``Y`` ``(..., n, M)`` in order."""
        for t in range(X.shape[-2]):
            r = X[..., t, :]
            self.update(r, self.predict(r) - Y[..., t, :])
        return self

    def readout(self) -> Readout:
        xp = self.xp
        return Readout(self.W, xp.zeros(self.W.shape[:-2] + self.W.shape[-1:], dtype=self.W.dtype))


# -- GP theory ----------------------------------------------------------------------
def _centered(X, Y, fit_intercept, xp):
    if fit_intercept:
        xm = X.mean(-2, keepdims=True)
        ym = Y.mean(-2, keepdims=True)
        return X - xm, Y - ym, xm, ym
    return X, Y, None, None


def gp_hyperparameters(X, Y, *, fit_intercept: bool = True, xp: ModuleType | None = None, grid: int = 241,
                       rcond: float = 1e-6):
    r"""Noise and prior variances of the linear GP by type-II maximum likelihood.

    Model: :math:`y = X_c w + \epsilon`, :math:`w \sim \mathcal N(0, s^2 I)`,
    :math:`\epsilon \sim \mathcal N(0, \sigma^2 I)`, outputs independent with
    their own :math:`(\sigma_m^2, s_m^2)` but a shared ratio
    :math:`\alpha = \sigma^2/s^2`.  With :math:`X_c^\top X_c = V \mathrm{diag}(d) V^\top`
    and :math:`\tilde y_p = (V^\top X_c^\top y)_p/\sqrt{d_p}` the projections of
    ``y`` on the left singular vectors, the log evidence of one output is

    .. math::
        \log p(y) = -\frac12\Big[\sum_p \log\big(1 + d_p/\alpha\big)
        + n' \log\sigma^2 + \frac{1}{\sigma^2}\Big(\sum_p \frac{\alpha\,\tilde y_p^2}{\alpha + d_p}
        + \rho\Big)\Big] + \text{const},

    where :math:`\rho = \|y\|^2 - \sum_p \tilde y_p^2` and ``n' = n - 1`` when
    an intercept is fitted (``n`` otherwise).  For fixed :math:`\alpha` the
    maximizing :math:`\hat\sigma^2` is the bracket divided by ``n'``; the profile
    over :math:`\log\alpha` is maximized on a grid spanning
    :math:`10^{-8}..10^{4}` times the mean eigenvalue, refined by a parabola.
    Modes with :math:`d_p \le` ``rcond`` :math:`\cdot\, d_{max}` are treated as
    null (no information; as ``rcond`` in least squares).  Reservoir states at
    a fixed point span only a few directions; labels fitted along directions
    whose variance is below 1e-6 of the largest (float32 resolution) were
    measured to generalize badly (test NRMSE ~20 where the mean predictor
    scores 1), so the default treats them as noise.

    Returns
    -------
    dict with host arrays: ``alpha`` ``(...)``, ``noise`` :math:`\hat\sigma^2`
    ``(..., M)``, ``prior`` :math:`\hat s^2` ``(..., M)``, ``eigs`` — the
    eigenvalues :math:`\hat\mu_p` of :math:`X_c^\top X_c / n` ``(..., D)`` —
    ``V`` (eigenvectors, on the input backend) and ``informative`` (bool
    ``(..., D)``, modes above the ``rcond`` floor) for preconditioning.
    """
    xp = _xp(xp, X)
    Xc, Yc, _, _ = _centered(X, Y, fit_intercept, xp)
    n = X.shape[-2]
    n_eff = n - 1 if fit_intercept else n
    G = _T(Xc, xp) @ Xc
    d, V = xp.linalg.eigh(G)
    proj = _T(V, xp) @ (_T(Xc, xp) @ Yc)  # (..., D, M) = sqrt(d) * ytilde
    d_h = np.clip(to_numpy(d).astype(np.float64), 0.0, None)
    p2 = to_numpy(proj).astype(np.float64) ** 2
    yy = (to_numpy(Yc).astype(np.float64) ** 2).sum(-2)  # (..., M)
    tol = d_h.max(-1, keepdims=True) * max(rcond, max(X.shape[-2:]) * np.finfo(np.float64).eps * 10)
    pos = d_h > tol
    yt2 = np.where(pos[..., None], p2 / np.where(pos, d_h, 1.0)[..., None], 0.0)  # (..., D, M)
    rho = np.clip(yy - yt2.sum(-2), 0.0, None)
    scale = np.maximum(d_h.mean(-1), 1e-300)  # (...,)
    la = np.linspace(-8, 4, grid)
    alphas = scale[..., None] * 10.0 ** la  # (..., G)

    def profile(al):  # al (..., G) -> (..., G)
        r = d_h[..., None, :] / al[..., :, None]  # (..., G, D)
        logdet = np.where(pos[..., None, :], np.log1p(r), 0.0).sum(-1)
        shrink = np.where(pos[..., None, :], 1.0 / (1.0 + r), 0.0)  # alpha/(alpha+d)
        quad = np.einsum("...gd,...dm->...gm", shrink, yt2) + rho[..., None, :]
        s2 = quad / n_eff
        M = yt2.shape[-1]
        val = -0.5 * (M * logdet + n_eff * np.log(np.maximum(s2, 1e-300)).sum(-1))
        return val, s2

    val, _ = profile(alphas)
    i = np.clip(val.argmax(-1), 1, grid - 2)
    # parabola through the three grid points around the maximum (in log alpha)
    take = lambda a, j: np.take_along_axis(a, j[..., None], -1)[..., 0]  # noqa: E731
    y0, y1, y2 = take(val, i - 1), take(val, i), take(val, i + 1)
    den = y0 - 2 * y1 + y2
    shift = np.where(den < 0, 0.5 * (y0 - y2) / np.where(den < 0, den, -1.0), 0.0)
    best_la = la[i] + np.clip(shift, -1, 1) * (la[1] - la[0])
    alpha = scale * 10.0**best_la
    _, s2 = profile(alpha[..., None])
    noise = s2[..., 0, :]
    return dict(alpha=alpha, noise=noise, prior=noise / alpha[..., None], eigs=np.where(pos, d_h, 0.0) / n, V=V, d=d,
                informative=pos)


def gp_learning_curve(eigs, noise, prior, n, *, self_consistent: bool = False, iterations: int = 200):
    r"""Predicted generalization error of GP regression with ``n`` samples.

    .. math::
        \varepsilon(n) = \sum_p \frac{\sigma^2 \lambda_p}{\sigma^2 + n\lambda_p},
        \qquad \lambda_p = s^2 \mu_p

    where :math:`\mu_p` are the feature-covariance eigenvalues ``eigs``
    ``(..., D)``, :math:`\sigma^2` = ``noise`` and :math:`s^2` = ``prior``
    (broadcastable to ``(...)``), ``n`` a scalar or array.  This is the
    large-``n`` form proved by Le Gratiet & Garnier (2015).  With
    ``self_consistent=True`` Sollich's approximation, in which
    :math:`\sigma^2` is replaced by :math:`\sigma^2 + \varepsilon` and the
    equation solved by fixed-point iteration (Sollich & Halees 2002), more
    accurate when ``n`` is comparable with the number of modes.

    Returns the excess error (same units as ``y``^2; add :math:`\sigma^2` for
    the expected squared error on noisy labels), shape broadcast of
    ``(...)`` and ``n``.
    """
    mu = np.asarray(eigs, dtype=np.float64)
    s2 = np.asarray(noise, dtype=np.float64)[..., None]
    lam = np.asarray(prior, dtype=np.float64)[..., None] * mu
    n = np.asarray(n, dtype=np.float64)
    nn = n[..., None]
    eps = (s2 * lam / (s2 + nn * lam)).sum(-1)
    if self_consistent:
        for _ in range(iterations):
            eff = s2 + eps[..., None]
            new = (eff * lam / (eff + nn * lam)).sum(-1)
            if np.allclose(new, eps, rtol=1e-12, atol=0):
                eps = new
                break
            eps = new
    return eps


# -- stochastic gradient descent ------------------------------------------------------
def sgd_fit(
    X,
    Y,
    rngs,
    *,
    epochs: int = 50,
    batch_size: int = 32,
    lr: float = 0.5,
    decay_epochs: float = 10.0,
    method: str = "gp",
    alpha: float = 0.0,
    fit_intercept: bool = True,
    X_test=None,
    Y_test=None,
    xp: ModuleType | None = None,
):
    r"""Mini-batch SGD readout, plain or GP-regularized (see the module docstring).

    Parameters
    ----------
    X, Y : arrays ``(R, n, D)``, ``(R, n, M)``
        Training features and targets (leading axis: realizations).
    rngs : sequence of ``R`` numpy Generators (or one Generator)
        Shuffling per epoch; realization ``r`` uses ``rngs[r]``.
    epochs, batch_size : int
    lr : float
        Initial step size :math:`\eta_0`: relative to the largest
        feature-covariance eigenvalue for ``method="plain"``, absolute
        (0 < lr <= 1) for the preconditioned ``"gp"`` method.
    decay_epochs : float
        Step schedule :math:`\eta_e = \eta_0/(1 + e/e_{1/2})` in epoch ``e``
        with :math:`e_{1/2}` = ``decay_epochs`` (0: constant step); each
        epoch's iterates are averaged (Polyak–Ruppert), and the averaged
        iterate is what is reported and returned.  With one batch per epoch
        (``batch_size >= n``) the ``"gp"`` iteration contracts the distance to
        the ridge solution by :math:`(1-\eta_e)` per step.
    method : {"gp", "plain"}
    alpha : float
        Weight decay for ``"plain"`` (ignored by ``"gp"``, which estimates it).
    X_test, Y_test : arrays ``(R, n_test, D)``, ``(R, n_test, M)``, optional
        Held-out data to record the test error after every epoch.

    Returns
    -------
    (Readout, history) where ``history`` holds host arrays ``train_mse`` and
    (with test data) ``test_mse`` of shape ``(epochs, R, M)`` for the
    epoch-averaged iterate, ``alpha`` ``(R,)`` used, ``step_halvings`` ``(R,)`` (epochs undone by the
    divergence guard: an epoch whose averaged iterate has training NRMSE > 2 is repeated from the last
    accepted average with half the step), and for ``"gp"`` the
    evidence estimates ``noise``, ``prior`` ``(R, M)`` and ``eigs`` ``(R, D)``.
    """
    xp = _xp(xp, X)
    if method not in ("gp", "plain"):
        raise ConfigError(f"sgd method must be 'gp' or 'plain', got {method!r}")
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise ConfigError("sgd needs epochs >= 1, batch_size >= 1 and lr > 0")
    if X.ndim != 3:
        raise ValueError(f"sgd_fit takes features of shape (R, n, D), got {X.shape}")
    R, n, D = X.shape
    M = Y.shape[-1]
    if isinstance(rngs, np.random.Generator):
        rngs = [rngs] * R
    if len(rngs) != R:
        raise ValueError(f"need {R} generators, got {len(rngs)}")
    Xc, Yc, xm, ym = _centered(X, Y, fit_intercept, xp)
    dtype = X.dtype
    hist: dict = {}
    if method == "gp":
        hp = gp_hyperparameters(X, Y, fit_intercept=fit_intercept, xp=xp)
        a = hp["alpha"]
        hist.update(noise=hp["noise"], prior=hp["prior"], eigs=hp["eigs"])
        V = hp["V"]
        mu = xp.asarray(hp["eigs"], dtype=dtype)
        inv = 1.0 / (mu + xp.asarray(a, dtype=dtype)[:, None] / n)  # (R, D)
        inv = inv * xp.asarray(hp["informative"], dtype=dtype)  # no steps along null modes
        Pm = (V * inv[:, None, :]) @ _T(V, xp)  # (R, D, D)
        step = float(lr)
        if not step <= 1.0:
            raise ConfigError(f"the preconditioned gp method needs 0 < lr <= 1, got {lr}")
    else:
        a = np.full(R, float(alpha))
        G = _T(Xc, xp) @ Xc / n
        mu_max = to_numpy(xp.linalg.eigvalsh(G)[:, -1]).astype(np.float64)
        Pm = None
        step = xp.asarray(lr / (mu_max + a / n), dtype=dtype)[:, None, None]
    hist["alpha"] = np.asarray(a, dtype=np.float64)
    decay = xp.asarray(np.asarray(a) / n, dtype=dtype)[:, None, None]
    W = xp.zeros((R, D, M), dtype=dtype)
    nb = max(1, -(-n // batch_size))
    train_mse = np.empty((epochs, R, M))
    test_mse = np.empty((epochs, R, M)) if X_test is not None else None
    rows = xp.arange(R)[:, None]
    # divergence guard: an epoch whose averaged iterate fits the training set worse than NRMSE 2 (4x the
    # target variance) is undone and retried with half the step, for that realization only (the
    # preconditioned mini-batch iteration diverged at N = 100 when the evidence penalty was small)
    var_y = to_numpy(Yc.var(-2)).astype(np.float64)  # (R, M)
    shrink = xp.ones((R, 1, 1), dtype=dtype)
    W_good = W  # the last accepted epoch average
    hist["step_halvings"] = np.zeros(R, dtype=np.int64)
    for e in range(epochs):
        eta = step / (1.0 + e / decay_epochs) if decay_epochs > 0 else step
        perm = xp.asarray(np.stack([g.permutation(n) for g in rngs]))
        for _attempt in range(30):
            Wsum = xp.zeros_like(W)
            for j in range(nb):
                idx = perm[:, j * batch_size : (j + 1) * batch_size]
                Xb, Yb = Xc[rows, idx], Yc[rows, idx]
                grad = _T(Xb, xp) @ (Xb @ W - Yb) / idx.shape[1] + decay * W
                if Pm is not None:
                    grad = Pm @ grad
                W = W - (eta * shrink) * grad
                Wsum += W
            Wavg = Wsum / nb
            ro = _readout(Wavg, xm, ym, M, xp)
            mse = to_numpy(((ro.predict(X) - Y) ** 2).mean(-2)).astype(np.float64)
            bad = ~np.all(np.isfinite(mse) & (mse <= 4.0 * var_y + 1e-300), axis=-1)  # (R,)
            if not bad.any():
                break
            badx = xp.asarray(bad)[:, None, None]
            W = xp.where(badx, W_good, W)
            shrink = xp.where(badx, 0.5 * shrink, shrink)
            hist["step_halvings"] += bad
        W_good = Wavg
        train_mse[e] = mse
        if X_test is not None:
            test_mse[e] = to_numpy(((ro.predict(X_test) - Y_test) ** 2).mean(-2))
    hist["train_mse"] = train_mse
    if test_mse is not None:
        hist["test_mse"] = test_mse
    return ro, hist


def _readout(W, xm, ym, M, xp) -> Readout:
    if xm is None:
        return Readout(W, xp.zeros(W.shape[:-2] + (M,), dtype=W.dtype))
    return Readout(W, (ym - xm @ W)[..., 0, :])
