"""Array backends: resolve the array namespace ``xp`` once, at the public boundary.

Only this module imports CuPy.  Everything else receives ``xp`` (``numpy`` or
``cupy``) as an argument, so one code path serves CPU and GPU.

Random numbers are always drawn on the host with :class:`numpy.random.Generator`
and copied to the device, so a realization is bit-identical in its *inputs*
whichever backend or process computes it (floating-point reductions on the GPU
may still differ in the last bits from numpy's).
"""
from __future__ import annotations

import os
from types import ModuleType

import numpy as np

from .errors import ConfigError

__all__ = [
    "BACKENDS",
    "BackendError",
    "check_backend",
    "cupy_available",
    "get_xp",
    "array_namespace",
    "to_numpy",
    "resolve_dtype",
    "select_device",
    "synchronize",
    "elementwise_kernel",
    "scipy_special",
    "scipy_linalg",
]


class BackendError(ConfigError):
    """Raised for an unknown or unavailable backend (a :class:`ConfigError`: one line, exit status 2)."""


BACKENDS = ("auto", "numpy", "cupy")


def check_backend(name: str) -> str:
    """Return ``name`` if it is one of :data:`BACKENDS`, else raise :class:`BackendError`.

    The one validation of a backend string: every parameter record with a
    ``backend`` field and :func:`get_xp` call it.  Availability of CuPy is
    checked later, by :func:`get_xp`.
    """
    if name not in BACKENDS:
        raise BackendError(f"backend must be auto, numpy or cupy, got {name!r}")
    return name


_cupy: ModuleType | None = None
_cupy_checked = False


def _import_cupy() -> ModuleType | None:
    global _cupy, _cupy_checked
    if not _cupy_checked:
        _cupy_checked = True
        if os.environ.get("BALNET_DISABLE_CUPY"):
            return None
        try:
            import cupy  # noqa: PLC0415  (the one place cupy is imported)

            if cupy.cuda.runtime.getDeviceCount() > 0:
                _cupy = cupy
        except Exception:  # ImportError, CUDA driver errors, no device
            _cupy = None
    return _cupy


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    return _import_cupy() is not None


def get_xp(backend: str = "auto") -> ModuleType:
    """Return the array module for ``backend``.

    Parameters
    ----------
    backend : {"auto", "numpy", "cupy"}
        ``"auto"`` picks CuPy when a GPU is usable, numpy otherwise.
    """
    if check_backend(backend) == "numpy":
        return np
    if backend == "cupy":
        cp = _import_cupy()
        if cp is None:
            raise BackendError("backend 'cupy' requested but CuPy or a CUDA device is not available")
        return cp
    cp = _import_cupy()  # "auto"
    return cp if cp is not None else np


def array_namespace(x) -> ModuleType:
    """The array module that owns ``x`` (numpy for anything that is not a CuPy array)."""
    cp = _cupy
    if cp is not None and isinstance(x, cp.ndarray):
        return cp
    return np


def to_numpy(x) -> np.ndarray:
    """Copy ``x`` to a host numpy array (no copy if it already is one)."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "get"):
        return x.get()
    return np.asarray(x)


def resolve_dtype(name: str):
    """``"float32"``/``"float64"`` -> numpy dtype, with a clear error otherwise."""
    if name in ("float32", "single", "fp32"):
        return np.dtype(np.float32)
    if name in ("float64", "double", "fp64"):
        return np.dtype(np.float64)
    raise BackendError(f"unknown dtype {name!r} (choose float32 or float64)")


def select_device(local_rank: int) -> int | None:
    """Bind this process to GPU ``local_rank mod n_gpus``; returns the device id or None on CPU."""
    cp = _import_cupy()
    if cp is None:
        return None
    n = cp.cuda.runtime.getDeviceCount()
    dev = local_rank % n
    cp.cuda.Device(dev).use()
    return dev


def synchronize(xp: ModuleType) -> None:
    """Wait for queued device work (no-op on numpy); used by benchmarks."""
    if xp is not np:
        xp.cuda.Device().synchronize()


def scipy_special(xp: ModuleType) -> ModuleType:
    """``scipy.special`` for numpy, ``cupyx.scipy.special`` for CuPy (same ufunc names)."""
    if xp is np:
        import scipy.special

        return scipy.special
    import cupyx.scipy.special  # noqa: PLC0415

    return cupyx.scipy.special


def scipy_linalg(xp: ModuleType) -> ModuleType:
    """``scipy.linalg`` for numpy, ``cupyx.scipy.linalg`` for CuPy (``solve_triangular`` and friends)."""
    if xp is np:
        import scipy.linalg

        return scipy.linalg
    import cupyx.scipy.linalg  # noqa: PLC0415

    return cupyx.scipy.linalg


_kernels: dict = {}


def elementwise_kernel(xp: ModuleType, in_params: str, out_params: str, body: str, name: str):
    """A cached ``cupy.ElementwiseKernel`` for namespace ``xp``; ``None`` on numpy.

    Compiled without multiply-add contraction (``--fmad=false``) so a fused
    kernel rounds every operation as the equivalent sequence of CuPy ufuncs
    does.  Set ``BALNET_NO_FUSE=1`` to disable fused kernels everywhere.
    """
    if xp is np or not hasattr(xp, "ElementwiseKernel") or os.environ.get("BALNET_NO_FUSE"):
        return None
    key = (name, in_params, out_params, body)
    k = _kernels.get(key)
    if k is None:
        k = _kernels[key] = xp.ElementwiseKernel(in_params, out_params, body, name, options=("--fmad=false",))
    return k
