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

Two evaluation paths give the same numbers (bit for bit on numpy):

* ``f(t, x)`` (:meth:`RateNetwork.__call__`) returns a new array: generic, for
  :func:`balnet.engine.integrators.integrate`, tests and small problems;
* :meth:`RateNetwork.rhs_into` / :meth:`RateNetwork.stage_into` /
  :meth:`RateNetwork.populations_into` write into caller-owned buffers: the hot
  path of the in-place steppers (:meth:`balnet.engine.integrators.RK4.stepper`), which
  allocate nothing per step.  Per evaluation the only large operation is the
  GEMM; the elementwise work is a few passes over the ``(R, B, N)`` state, fused
  into single CUDA kernels on CuPy (see :func:`fused_kernels`) and split over
  threads on a multi-core CPU (:class:`CpuKernels`; BLAS threads the GEMM).
"""
from __future__ import annotations

import os
from types import ModuleType

import numpy as np

from .gains import Gain, ReLU, Sigmoid, Tanh, get_gain
from .kernels import CpuKernels, cpu_threads, fused_kernels

__all__ = ["Gain", "Tanh", "ReLU", "Sigmoid", "get_gain", "RateNetwork", "fused_kernels", "CpuKernels", "cpu_threads"]


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

    # -- in-place hot path ------------------------------------------------
    # Same operations in the same order as __call__/populations, written into
    # caller-owned buffers of the state's shape: bit-identical on numpy.

    _fused = False  # not yet resolved

    @property
    def fused(self):
        """Fused kernels for this gain: CuPy kernels (see :func:`fused_kernels`), on numpy
        :class:`CpuKernels` when :func:`cpu_threads` > 1, else ``None`` (plain ufuncs)."""
        if self._fused is False:
            if self.xp is np:
                n = cpu_threads()
                self._fused = CpuKernels(self.gain, n) if n > 1 and not os.environ.get("BALNET_NO_FUSE") else None
            else:
                self._fused = fused_kernels(self.xp, self.gain)
        return self._fused

    def disable_fusion(self) -> None:
        """Use the ufunc path from now on (called when a fused kernel fails its self-check)."""
        self._fused = None

    def phi_into(self, x, out):
        r""":math:`\phi(x)` into ``out`` (shape of ``x``)."""
        return self.gain.phi_into(x, out, self.xp)

    def stage_into(self, y, a: float, k, x, r):
        r"""Runge–Kutta stage state and its rates: :math:`x = y + a k`, :math:`r = \phi(x)`.

        All arrays have the state's shape ``(R, B, N)``; ``x`` and ``r`` are
        overwritten.  One fused kernel on CuPy, three passes on numpy.
        """
        fk = self.fused
        if fk is not None:
            fk.stage(y, k, x.dtype.type(a), x, r)
            return x
        xp = self.xp
        xp.multiply(k, a, out=x)
        x += y
        self.gain.phi_into(x, r, xp)
        return x

    def rhs_into(self, t, x, out, r, *, phi_ready: bool = False):
        r""":math:`f(t, x) = \phi(x) J^T - x + I_0 + I(t)` written into ``out``.

        Parameters
        ----------
        t : float
            Time (the input ``external`` is held over the step, so unused).
        x : array ``(R, B, N)``
            State; not modified.
        out : array ``(R, B, N)``
            Receives :math:`f(t, x)`; must not alias ``x`` or ``r``.
        r : array ``(R, B, N)``
            Work buffer for the rates :math:`\phi(x)`; with ``phi_ready=True``
            it already holds them (e.g. from :meth:`stage_into` or
            :meth:`populations_into`) and is used as is.

        One GEMM (``matmul(r, J^T, out=out)``) and one elementwise pass;
        nothing is allocated.  Equals ``self(t, x)`` bit for bit on numpy.
        """
        xp = self.xp
        fk = self.fused
        if not phi_ready:
            if fk is not None and hasattr(fk, "phi"):
                fk.phi(x, r)
            else:
                self.gain.phi_into(x, r, xp)
        xp.matmul(self._full_rates(r), self.JT, out=out)
        ext = self.external
        if fk is not None and (ext is None or getattr(ext, "dtype", None) == out.dtype):
            c = out.dtype.type(self.I0)
            if ext is None:
                fk.epilogue(x, c, out)
            else:
                fk.epilogue_ext(x, c, ext, out)
            return out
        out -= x
        if self.I0 != 0.0:
            out += self.I0
        if self.external is not None:
            out += self.external
        return out

    def populations_into(self, x, nu_E, nu_I, m, r):
        r""":meth:`populations` of ``x`` written into ``nu_E``, ``nu_I``, ``m`` (shape ``x.shape[:-1]``).

        ``r`` (shape of ``x``) receives :math:`\phi(x)`, so a following
        :meth:`rhs_into` at the same ``x`` may pass ``phi_ready=True``.
        """
        xp = self.xp
        fk = self.fused
        if fk is not None and hasattr(fk, "phi"):
            fk.phi(x, r)
        else:
            self.gain.phi_into(x, r, xp)
        nE = self.n_E if self.n_E is not None else self.N
        # sum then divide by the count: what mean() does, without its Python overhead
        xp.sum(r[..., :nE], axis=-1, out=nu_E)
        nu_E /= nE
        if nE < self.N:
            xp.sum(r[..., nE:], axis=-1, out=nu_I)
            nu_I /= self.N - nE
        else:
            xp.multiply(nu_E, 0, out=nu_I)
        if self.w is None:
            xp.multiply(nu_E, 0, out=m)
        else:
            xp.matmul(r, self.w, out=m)
            m /= np.sqrt(self.N)
        return nu_E, nu_I, m

    def _full_rates(self, r):
        """The rates of the whole network from this process's rates ``r``: ``r`` itself here (a
        row-partitioned network, :class:`~balnet.model.partitioned.PartitionedRateNetwork`,
        gathers every rank's block)."""
        return r

    def recurrent(self, r):
        """:math:`\\phi(x) J^T` for rates ``r`` of shape ``(R, B, N)`` (or ``(B, N)`` for 2-D ``J``)."""
        return self.xp.matmul(self._full_rates(r), self.JT)

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
