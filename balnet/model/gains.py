r"""Transfer functions :math:`\phi` of the rate model, with their derivatives and in-place forms."""
from __future__ import annotations

from types import ModuleType

import numpy as np

__all__ = ["Gain", "Tanh", "ReLU", "Sigmoid", "get_gain"]


class Gain:
    """Transfer function :math:`\\phi` with derivative; ``name`` is the config key."""

    name = ""

    def phi(self, x, xp: ModuleType = np):
        raise NotImplementedError

    def dphi(self, x, xp: ModuleType = np):
        raise NotImplementedError

    #: CUDA C expression of phi in the variable ``v`` of type ``T`` (used by the
    #: fused CuPy kernels); ``None``: no fused kernel, the ufunc path is used.
    cuda_expr: str | None = None

    def phi_into(self, x, out, xp: ModuleType = np):
        r""":math:`\phi(x)` written into ``out`` (same values as :meth:`phi`)."""
        out[...] = self.phi(x, xp)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Tanh(Gain):
    r""":math:`\phi(x) = \tanh x`, :math:`\phi'(x) = 1 - \tanh^2 x` (SCS 1988)."""

    name = "tanh"
    cuda_expr = "tanh(v)"

    def phi(self, x, xp=np):
        return xp.tanh(x)

    def phi_into(self, x, out, xp=np):
        return xp.tanh(x, out=out)

    def dphi(self, x, xp=np):
        t = xp.tanh(x)
        return 1.0 - t * t


class ReLU(Gain):
    r"""Threshold-linear :math:`\phi(x) = \max(x, 0)`, :math:`\phi'(x) = H(x)`."""

    name = "relu"

    def phi(self, x, xp=np):
        return xp.maximum(x, 0)

    def phi_into(self, x, out, xp=np):
        return xp.maximum(x, 0, out=out)

    def dphi(self, x, xp=np):
        return (x > 0).astype(x.dtype)


class Sigmoid(Gain):
    r"""Logistic :math:`\phi(x) = 1/(1+e^{-x})`, :math:`\phi' = \phi(1-\phi)`."""

    name = "sigmoid"
    cuda_expr = "(T)0.5 * ((T)1 + tanh((T)0.5 * v))"

    def phi(self, x, xp=np):
        return 0.5 * (1.0 + xp.tanh(0.5 * x))

    def phi_into(self, x, out, xp=np):
        xp.multiply(x, 0.5, out=out)
        xp.tanh(out, out=out)
        out += 1.0
        out *= 0.5
        return out

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
