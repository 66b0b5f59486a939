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
  :func:`balnet.integrators.integrate`, tests and small problems;
* :meth:`RateNetwork.rhs_into` / :meth:`RateNetwork.stage_into` /
  :meth:`RateNetwork.populations_into` write into caller-owned buffers: the hot
  path of the in-place steppers (:meth:`balnet.integrators.RK4.stepper`), which
  allocate nothing per step.  Per evaluation the only large operation is the
  GEMM; the elementwise work is a few passes over the ``(R, B, N)`` state, fused
  into single CUDA kernels on CuPy (see :func:`fused_kernels`) and split over
  threads on a multi-core CPU (:class:`CpuKernels`; BLAS threads the GEMM).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType, SimpleNamespace

import numpy as np

from .backend import elementwise_kernel

__all__ = ["Gain", "Tanh", "ReLU", "Sigmoid", "get_gain", "RateNetwork", "fused_kernels", "CpuKernels", "cpu_threads"]


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


def fused_kernels(xp: ModuleType, gain: Gain | None = None):
    r"""CuPy kernels that fuse the elementwise work of one RK4/Euler step, or ``None``.

    ``None`` on numpy, without a CUDA expression for the gain, or with
    ``BALNET_NO_FUSE=1``.  Each kernel rounds exactly like the ufunc sequence
    it replaces (compiled with ``--fmad=false``; same evaluation order):

    * ``stage(y, k, a) -> (x, r)``: :math:`x = y + a k`, :math:`r = \phi(x)`;
    * ``epilogue(x, c) -> out`` (in place): :math:`out = (out - x) + c`;
    * ``epilogue_ext(x, c, e) -> out``: :math:`out = ((out - x) + c) + e`;
    * ``euler(k, h) -> y``: :math:`y = y + k h`;
    * ``rk4(k1, k2, k3, k4, h6) -> y``:
      :math:`y = y + ((k_1 + k_4) + 2 (k_2 + k_3))\, h/6`.

    Scalars must be passed as numpy scalars of the array dtype.
    """
    expr = "v" if gain is None else gain.cuda_expr
    if expr is None:
        return None
    mk = lambda i, o, body, name: elementwise_kernel(xp, i, o, body, name)  # noqa: E731
    stage = mk("T y, T k, T a", "T x, T r", f"T v = y + a * k; x = v; r = {expr};",
               f"balnet_stage_{gain.name if gain is not None else 'id'}")
    if stage is None:
        return None
    return SimpleNamespace(
        stage=stage,
        epilogue=mk("T x, T c", "T out", "out = out - x + c;", "balnet_epilogue"),
        epilogue_ext=mk("T x, T c, T e", "T out", "out = out - x + c + e;", "balnet_epilogue_ext"),
        euler=mk("T k, T h", "T y", "y = y + k * h;", "balnet_euler"),
        rk4=mk("T k1, T k2, T k3, T k4, T h6", "T y", "y = y + ((k1 + k4) + (k2 + k3) * (T)2) * h6;", "balnet_rk4"),
    )


def cpu_threads() -> int:
    """Threads for the elementwise work on CPU: ``BALNET_NUM_THREADS``, else
    ``OMP_NUM_THREADS``, else the usable cores (BLAS keeps its own setting)."""
    for var in ("BALNET_NUM_THREADS", "OMP_NUM_THREADS"):
        v = os.environ.get(var, "").strip()
        if v.isdigit() and int(v) > 0:
            return int(v)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


_POOL: dict = {}


class CpuKernels:
    """The fused-kernel interface of :func:`fused_kernels` on numpy, split over threads.

    numpy runs elementwise ufuncs on one core while BLAS uses all of them, so
    on a multi-core CPU the ``tanh`` and update passes of a large batch can
    cost as much as the GEMM.  Each kernel here runs *the same ufunc sequence*
    as the plain numpy path (bit-identical results: elementwise work does not
    depend on how rows are split) on contiguous row blocks of the
    ``(R*B, N)`` state, one block per thread (the caller's thread takes one);
    numpy releases the GIL inside ufunc loops.  Arrays smaller than
    ``min_rows_elems`` elements per thread, or not C-contiguous, are done in
    one call on the caller's thread.
    """

    min_rows_elems = 32768
    needs_check = False  # plain numpy ufuncs: verified by the test suite, no runtime self-check

    def __init__(self, gain: Gain, threads: int):
        self.gain, self.threads = gain, int(threads)
        key = (os.getpid(), self.threads)  # a forked child must not reuse the parent's (dead) workers
        if key not in _POOL:
            _POOL[key] = ThreadPoolExecutor(max_workers=self.threads - 1, thread_name_prefix="balnet")
        self.pool = _POOL[key]

    def _run(self, fn, arrays, *scalars):
        a0 = arrays[0]
        if a0.size < 2 * self.min_rows_elems:  # small: no split, minimal overhead
            fn(*arrays, *scalars)
            return
        n_rows = a0.size // a0.shape[-1]
        nt = min(self.threads, n_rows, a0.size // self.min_rows_elems)
        if nt < 2 or not all(a.flags.c_contiguous and a.shape == a0.shape for a in arrays):
            fn(*arrays, *scalars)
            return
        rows = [a.reshape(n_rows, a.shape[-1]) for a in arrays]
        edges = [n_rows * i // nt for i in range(nt + 1)]
        futs = [self.pool.submit(fn, *(r[lo:hi] for r in rows), *scalars) for lo, hi in zip(edges[1:-1], edges[2:])]
        fn(*(r[: edges[1]] for r in rows), *scalars)
        for fu in futs:
            fu.result()

    # kernels: (inputs..., outputs...) in the order of fused_kernels; the ops are
    # exactly those of the plain numpy path (see _ops_* below)
    def phi(self, x, r):
        self._run(self.gain.phi_into, (x, r))

    def stage(self, y, k, a, x, r):
        self._run(_ops_stage, (y, k, x, r), a, self.gain)

    def epilogue(self, x, c, out):
        self._run(_ops_epilogue, (x, out), c, None)

    def epilogue_ext(self, x, c, e, out):
        if getattr(e, "ndim", 0) > 1:  # a full-shape input: no row split of the broadcast
            self._run(_ops_epilogue, (x, out), c, None)
            out += e
        else:
            self._run(_ops_epilogue, (x, out), c, e)

    def euler(self, k, h, y):
        self._run(_ops_euler, (k, y), h)

    def rk4(self, k1, k2, k3, k4, h6, y):
        self._run(_ops_rk4, (k1, k2, k3, k4, y), h6)


def _ops_stage(y, k, x, r, a, gain):
    np.multiply(k, a, out=x)
    x += y
    gain.phi_into(x, r, np)


def _ops_epilogue(x, out, c, e):
    out -= x
    if c != 0.0:
        out += c
    if e is not None:
        out += e


def _ops_euler(k, y, h):
    k *= h
    y += k


def _ops_rk4(k1, k2, k3, k4, y, h6):
    k2 += k3
    k1 += k4
    k2 *= 2.0
    k1 += k2
    k1 *= h6
    y += k1


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
        xp.matmul(r, self.JT, out=out)
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
