r"""Performance kernels of the vector field, beside (not inside) the model.

Fused elementwise CUDA kernels on CuPy (:func:`fused_kernels`, compiled through
:func:`balnet.engine.backend.elementwise_kernel`) and the blocked, threaded CPU
elementwise passes (:class:`CpuKernels`) with their ``BALNET_*`` switches.
:class:`balnet.model.dynamics.RateNetwork` picks one of them; both give the
same numbers as the plain numpy expressions.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType, SimpleNamespace

import numpy as np

from ..engine.backend import elementwise_kernel
from .gains import Gain

__all__ = ["fused_kernels", "CpuKernels", "cpu_threads"]


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
