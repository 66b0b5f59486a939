"""Sweep grids: place the files of a parameter sweep on a grid, and write its coordinates.

Every reduction over a sweep (phase diagrams, Lyapunov statistics, learning curves, stability
tables) reads the flat parameters of its input files (:func:`flat_params`), places them on a grid
(:func:`sweep_grid`) and writes the swept values as dimension scales (:func:`write_sweep_coords`).
"""
from __future__ import annotations

import json
import zlib
from typing import Mapping, Sequence

import numpy as np

from .params import ConfigError, NetworkParams, SimulationParams, describe, from_mapping

__all__ = [
    "records_from_attrs",
    "flat_params",
    "sweep_grid",
    "coord_array",
    "write_sweep_coords",
    "param_units",
    "point_seed",
]


def records_from_attrs(attrs) -> tuple[NetworkParams, SimulationParams]:
    p = attrs.get("params", {})
    if "network" not in p or "simulation" not in p:
        raise ConfigError("file has no network/simulation parameters (not written by balnet simulate?)")
    return (from_mapping(NetworkParams, p["network"], strict=False),
            from_mapping(SimulationParams, p["simulation"], strict=False))


def flat_params(attrs) -> dict:
    out = {}
    for sec, d in attrs.get("params", {}).items():
        if isinstance(d, dict):
            out.update(d)
        else:
            out[sec] = d
    return out


def sweep_grid(param_sets: Sequence[Mapping], sweep: Sequence[str] | None = None):
    """Place points on a grid: ``(names, values, index)``.

    ``param_sets`` are flat parameter dicts (one per file).  ``sweep`` names the
    swept parameters; by default every parameter whose value differs between
    files.  ``values[d]`` are the sorted distinct values of ``names[d]`` and
    ``index[i]`` the grid position of file ``i``.  Two files at the same point
    raise :class:`ConfigError`.
    """
    if not param_sets:
        raise ConfigError("no input files")
    keys = sorted(set().union(*param_sets))
    differ = [k for k in keys if len({json.dumps(p.get(k), sort_keys=True) for p in param_sets}) > 1]
    auto = sweep is None
    if auto:
        sweep = differ
    names = list(sweep)
    for n in names:
        for p in param_sets:
            if n not in p:
                raise ConfigError(f"swept parameter {n!r} is not a parameter of the input files")
    fixed = [k for k in differ if k not in names]
    if fixed:
        vals = sorted({json.dumps(p.get(k)) for p in param_sets for k in fixed[:1]})
        raise ConfigError(f"input files differ in {fixed[0]} ({', '.join(vals)}), which is not swept "
                          f"(--sweep {' '.join(names)}): they do not belong to one sweep")
    values = [sorted({p[n] for p in param_sets}, key=lambda v: (v is None, v)) for n in names]
    index = [tuple(vals.index(p[n]) for n, vals in zip(names, values)) for p in param_sets]
    seen = {}
    for i, ix in enumerate(index):
        if ix in seen:
            where = ", ".join(f"{n}={param_sets[i][n]}" for n in names) or "(no swept parameters)"
            raise ConfigError(f"two input files at the same sweep point {where}")
        seen[ix] = i
    size = int(np.prod([len(v) for v in values]))
    if auto and len(index) < size:
        raise ConfigError(f"the {len(index)} input files do not fill the grid of {' x '.join(names)} "
                          f"({size} points): they differ in {', '.join(names)}; leave out the files of another "
                          f"sweep or name the swept parameters with --sweep")
    return names, values, index


def coord_array(vals):
    try:
        return np.asarray(vals, dtype=float)
    except (TypeError, ValueError):
        return np.asarray([str(v) for v in vals], dtype=object)


def write_sweep_coords(w, dims, coords, units):
    for d, v in zip(dims, coords):
        w.coord(d, v, units=units.get(d, ""), long_name=f"swept parameter {d}")


def param_units() -> dict:

    return {n: u for cls in (NetworkParams, SimulationParams) for n, _, u, _ in describe(cls)}


def point_seed(seed: int, point: Mapping) -> int:
    r"""Root seed of one sweep point for *independent draws* across the points of a sweep.

    By default every point of a sweep uses the same root seed, so realization ``k`` draws the same
    random matrix ``z`` (and initial states) at every ``(g, J0, ...)``: common random numbers, which
    make differences between points smooth but the points' counts not independent samples.  With
    ``independent_points: true`` the pipeline gives point ``p`` the root seed
    ``SeedSequence([seed, crc32(p)]).generate_state(1)[0]``, where ``crc32(p)`` hashes the point's
    swept values as canonical JSON (sorted keys): deterministic, independent of the order of the
    sweep, different for different points (up to 32-bit collisions), and recorded in each file's
    ``seed`` attribute like any root seed.
    """
    key = json.dumps({str(k): (v.item() if hasattr(v, "item") else v) for k, v in point.items()}, sort_keys=True)
    return int(np.random.SeedSequence([int(seed), zlib.crc32(key.encode())]).generate_state(1)[0])
