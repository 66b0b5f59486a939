r"""Rate dynamics: transfer functions, the batched vector field and its Jacobian.

.. math::
    \frac{dx_i}{dt} = -x_i + \sum_j J_{ij}\,\phi(x_j) + I_i(t)

with time in units of the membrane time constant :math:`\tau`.  States are
batched as ``(R, B, N)``: ``R`` connectivity realizations, ``B`` trials per
realization, ``N`` neurons.  The recurrent term of a whole batch is one
batched GEMM ``phi(x) @ J^T`` (shape ``(R, B, N) @ (R, N, N)``).

The Jacobian at ``x`` is :math:`D(x) = -\mathbb 1 + J\,\mathrm{diag}(\phi'(x))`;
it is never formed in the hot path: :meth:`RateNetwork.jvp` applies it to
tangent vectors by the same GEMM.
"""
from __future__ import annotations

from types import ModuleType

import numpy as np

__all__ = ["Gain", "Tanh", "ReLU", "Sigmoid", "get_gain", "RateNetwork"]


class Gain:
    """Transfer function :math:`\\phi` with derivative; ``name`` is the config key."""

    name = ""

    def phi(self, x, xp: ModuleType = np):
        raise NotImplementedError

    def dphi(self, x, xp: ModuleType = np):
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Tanh(Gain):
    r""":math:`\phi(x) = \tanh x`, :math:`\phi'(x) = 1 - \tanh^2 x` (SCS 1988)."""

    name = "tanh"

    def phi(self, x, xp=np):
        return xp.tanh(x)

    def dphi(self, x, xp=np):
        t = xp.tanh(x)
        return 1.0 - t * t


class ReLU(Gain):
    r"""Threshold-linear :math:`\phi(x) = \max(x, 0)`, :math:`\phi'(x) = H(x)`."""

    name = "relu"

    def phi(self, x, xp=np):
        return xp.maximum(x, 0)

    def dphi(self, x, xp=np):
        return (x > 0).astype(x.dtype)


class Sigmoid(Gain):
    r"""Logistic :math:`\phi(x) = 1/(1+e^{-x})`, :math:`\phi' = \phi(1-\phi)`."""

    name = "sigmoid"

    def phi(self, x, xp=np):
        return 0.5 * (1.0 + xp.tanh(0.5 * x))

    def dphi(self, x, xp=np):
        s = 0.5 * (1.0 + xp.tanh(0.5 * x))
        return s * (1.0 - s)


_GAINS = {c.name: c for c in (Tanh, ReLU, Sigmoid)}


def get_gain(name: str) -> Gain:
    """Gain object by config name (``tanh``, ``relu``, ``sigmoid``)."""
    try:
        return _GAINS[name]()
    except KeyError:
        raise ValueError(f"unknown gain {name!r} (choose {', '.join(_GAINS)})") from None


class RateNetwork:
    r"""Batched vector field :math:`f(t, x) = -x + \phi(x) J^T + I_0 + I(t)`.

    Parameters
    ----------
    J : array, shape ``(N, N)`` or ``(R, N, N)``
        Couplings on the target backend (``J[..., i, j]``: j -> i).
    gain : Gain
    w : array, shape ``(N,)``, optional
        Balance vector for the macro variable :math:`m = N^{-1/2} w\cdot\phi(x)`.
    n_E : int, optional
        Size of the excitatory block (for population rates).
    I0 : float
        Constant input.
    xp : module
        numpy or cupy (resolved once by the caller).

    Attributes
    ----------
    external : array or None
        Extra input added to every evaluation (set per step by the simulator for
        time-series or task inputs; zero-order hold over a step).
    """

    def __init__(self, J, gain: Gain, *, w=None, n_E: int | None = None, I0: float = 0.0, xp: ModuleType = np):
        self.xp = xp
        self.gain = gain
        self.N = J.shape[-1]
        self.JT = xp.ascontiguousarray(xp.swapaxes(J, -1, -2))
        self.dtype = J.dtype
        self.I0 = float(I0)
        self.external = None
        self.n_E = n_E
        self.w = None if w is None else xp.asarray(w, dtype=J.dtype)

    @property
    def batched(self) -> bool:
        return self.JT.ndim == 3

    def recurrent(self, r):
        """:math:`\\phi(x) J^T` for rates ``r`` of shape ``(R, B, N)`` (or ``(B, N)`` for 2-D ``J``)."""
        return self.xp.matmul(r, self.JT)

    def __call__(self, t, x):
        xp = self.xp
        out = self.recurrent(self.gain.phi(x, xp))
        out -= x
        if self.I0 != 0.0:
            out += self.I0
        if self.external is not None:
            out += self.external
        return out

    def jvp(self, x, v):
        r"""Jacobian-vector product :math:`D(x) v = -v + (\phi'(x) \odot v) J^T`.

        ``x`` has shape ``(R, B, N)``; ``v`` has shape ``(R, B, N)`` or
        ``(R, B, K, N)`` (K tangent vectors per trajectory).
        """
        xp = self.xp
        d = self.gain.dphi(x, xp)
        if v.ndim == x.ndim + 1:
            d = d[..., None, :]
            JT = self.JT[:, None] if self.batched else self.JT
        else:
            JT = self.JT
        out = xp.matmul(d * v, JT)
        out -= v
        return out

    def jacobian(self, x):
        """Dense Jacobian ``-I + J diag(phi'(x))`` for one state ``x`` of shape ``(N,)`` (tests, small N)."""
        xp = self.xp
        if self.batched:
            raise ValueError("jacobian() takes an unbatched network (2-D J)")
        J = self.JT.T
        return J * self.gain.dphi(x, xp)[None, :] - xp.eye(self.N, dtype=self.dtype)

    def trace_jacobian(self, x):
        r""":math:`\mathrm{tr}\,D(x) = -N + \sum_j J_{jj}\phi'(x_j)` for batched states ``(..., N)``."""
        xp = self.xp
        diag = xp.diagonal(self.JT, axis1=-2, axis2=-1)
        if self.batched:
            diag = diag[:, None, :]
        return (diag * self.gain.dphi(x, xp)).sum(-1) - self.N

    def populations(self, x):
        r"""Population observables of states ``x`` (``(..., N)``).

        Returns ``nu_E``, ``nu_I`` (mean rates :math:`\langle\phi(x)\rangle` over E
        and I) and the macro variable :math:`m = N^{-1/2}\sum_j w_j\phi(x_j)`.
        """
        r = self.gain.phi(x, self.xp)
        nE = self.n_E if self.n_E is not None else self.N
        nu_E = r[..., :nE].mean(-1)
        nu_I = r[..., nE:].mean(-1) if nE < self.N else nu_E * 0
        if self.w is None:
            m = nu_E * 0
        else:
            m = (r @ self.w) / np.sqrt(self.N)
        return nu_E, nu_I, m
