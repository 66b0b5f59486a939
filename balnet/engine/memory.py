"""Memory check before a large allocation: the estimate of a run against the memory available.

A run whose estimate exceeds what the machine has left is refused with one line
(:class:`~balnet.engine.params.ConfigError`) naming both numbers and the ways out, instead of
numpy's "Unable to allocate 7.28 TiB" with a traceback after minutes of set-up.  The estimates
themselves live beside the code that allocates (:func:`balnet.model.simulate.memory_estimate`).
"""
from __future__ import annotations

import os

from .params import ConfigError

__all__ = ["available_bytes", "local_ranks", "require_memory", "format_bytes"]

#: fraction of the available memory a run may plan to use (the rest: Python, MPI, h5py, page cache)
HEADROOM = 0.9


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def _cgroup_left() -> int | None:
    """Bytes left under a cgroup v2 memory limit (containers, batch jobs), or ``None`` without one."""
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:
            limit = fh.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current") as fh:
            used = int(fh.read().strip())
        return max(0, int(limit) - used)
    except (OSError, ValueError):
        return None


def available_bytes() -> int | None:
    """Memory this process can still take: MemAvailable of /proc/meminfo (or the free pages), capped
    by a cgroup limit; ``None`` where the system says nothing (then no check is made)."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = None
    cg = _cgroup_left()
    if cg is not None:
        avail = cg if avail is None else min(avail, cg)
    return avail


def local_ranks(comm_size: int) -> int:
    """MPI ranks on this node (Open MPI / MPICH variables; else all ranks of the job)."""
    for var in ("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "MV2_COMM_WORLD_LOCAL_SIZE"):
        v = os.environ.get(var)
        if v and v.isdigit():
            return int(v)
    return max(1, int(comm_size))


def require_memory(per_rank: int, what: str, *, ranks: int = 1, available: int | None = None) -> None:
    """Refuse (one line) when ``ranks`` x ``per_rank`` bytes exceed :data:`HEADROOM` of the available memory."""
    avail = available_bytes() if available is None else available
    need = int(per_rank) * max(1, int(ranks))
    if avail is None or need <= HEADROOM * avail:
        return
    on = f" ({ranks} ranks x {format_bytes(per_rank)})" if ranks > 1 else ""
    raise ConfigError(f"{what} needs about {format_bytes(need)} of memory{on}, {format_bytes(avail)} available: "
                      f"use --dtype float32, fewer realizations per rank (fewer --realizations, or more MPI ranks "
                      f"on more nodes), or a smaller N")
