"""Figures (matplotlib, Agg backend): population activity of a simulation file.

Reductions of other stages add their own plotting functions here.
"""
from __future__ import annotations

import numpy as np

from .io import atomic_path, read

__all__ = ["plot_population", "save"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path) -> None:
    """Save atomically (temporary file, then rename)."""
    from pathlib import Path

    fmt = Path(path).suffix.lstrip(".") or "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=120, bbox_inches="tight")
    _plt().close(fig)


def plot_population(h5, out, max_realizations: int = 4) -> None:
    """nu_E, nu_I, m and a few neurons vs time for the first realizations (trial 0)."""
    plt = _plt()
    a, attrs = read(h5, ["time", "nu_E", "nu_I", "m", "x"])
    p = attrs["params"]["network"]
    R = min(max_realizations, a["nu_E"].shape[0])
    fig, axes = plt.subplots(3, R, figsize=(3.6 * R, 6.5), sharex=True, squeeze=False)
    t = a["time"]
    for r in range(R):
        ax = axes[0, r]
        ax.plot(t, a["nu_E"][r, 0], label=r"$\nu_E$", color="tab:red")
        ax.plot(t, a["nu_I"][r, 0], label=r"$\nu_I$", color="tab:blue")
        ax.set_title(f"realization {int(attrs['realization_ids'][r])}")
        axes[1, r].plot(t, a["m"][r, 0], color="k")
        if a["x"].shape[-1]:
            axes[2, r].plot(t, a["x"][r, 0, :, : min(5, a["x"].shape[-1])], lw=0.8)
        axes[2, r].set_xlabel(r"time [$\tau$]")
    axes[0, 0].set_ylabel("population rate")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[1, 0].set_ylabel(r"macro $m$")
    axes[2, 0].set_ylabel(r"$x_i$ (sample)")
    fig.suptitle(f"N={p['N']}, g={p['g']}, J0={p['J0']}, balance={p['balance']}, gain={p['gain']}")
    save(fig, out)
