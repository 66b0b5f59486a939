"""Validated parameter records shared by every command.

Each record is a frozen dataclass whose fields carry the defaults, units and
meaning (``metadata``).  :func:`from_mapping` builds one from a dict (a YAML
file, CLI flags or a Snakemake wildcard set), rejecting unknown keys with a
suggestion and values of the wrong type or range with a one-line message
(:class:`ConfigError`), so a typo never becomes a traceback.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml

from .backend import check_backend
from .errors import ConfigError

__all__ = [
    "ConfigError",
    "NetworkParams",
    "SimulationParams",
    "from_mapping",
    "check_together",
    "describe",
    "load_yaml",
]

GAINS = ("tanh", "relu", "sigmoid")
SOLVERS = ("euler", "rk4")
#: the largest step [tau] the explicit solvers take: the leak -x alone makes Euler's update
#: x + dt (-x) = (1 - dt) x flip sign for dt > 1 (an oscillating artefact), and at dt >= 1 neither
#: solver follows the continuous dynamics any more
DT_MAX = 1.0


def _f(default, help: str, unit: str = ""):
    return field(default=default, metadata={"help": help, "unit": unit})


@dataclass(frozen=True)
class NetworkParams:
    r"""Parameters of the E/I coupling matrix (see :func:`balnet.model.network.coupling_matrix`).

    .. math::
        J_{ij} = \frac{J_0}{\sqrt N} u_i w_j + \frac{g_j}{\sqrt N} z_{ij}
    """

    N: int = _f(1000, "number of neurons")
    f: float = _f(0.8, "fraction of excitatory neurons (first block)")
    J0: float = _f(1.0, "strength of the balanced mean coupling")
    g: float = _f(1.5, "standard deviation scale of the random coupling")
    balance: float = _f(1.0, "inhibition ratio r: w_I = -r N_E/N_I; 1 = critical, >1 inhibition-dominated")
    u_E: float = _f(1.0, "mean-input weight u_i of E neurons")
    u_I: float = _f(1.0, "mean-input weight u_i of I neurons")
    g_E: float | None = _f(None, "random-coupling scale of E columns (default g)")
    g_I: float | None = _f(None, "random-coupling scale of I columns (default g)")
    gain: str = _f("tanh", "transfer function phi: tanh, relu (threshold-linear) or sigmoid")

    def validate(self) -> None:
        if self.N < 2:
            raise ConfigError(f"N must be an integer >= 2, got {self.N}")
        if not 0.0 < self.f < 1.0:
            raise ConfigError(f"f must lie in (0, 1), got {self.f}")
        n_e = self.N_E
        if n_e < 1 or n_e > self.N - 1:
            raise ConfigError(f"f={self.f} leaves an empty population for N={self.N}")
        for name in ("g", "g_E", "g_I"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ConfigError(f"{name} must be >= 0, got {v}")
        if self.balance < 0:
            raise ConfigError(f"balance must be >= 0, got {self.balance}")
        if self.gain not in GAINS:
            raise ConfigError(f"gain must be one of {', '.join(GAINS)}, got {self.gain!r}")

    @property
    def N_E(self) -> int:
        return int(round(self.f * self.N))

    @property
    def N_I(self) -> int:
        return self.N - self.N_E


@dataclass(frozen=True)
class SimulationParams:
    """Run control: duration, step, solver, recording, trials, realizations, seeds, input."""

    T: float = _f(100.0, "simulated duration after warm-up", "tau")
    dt: float = _f(0.05, "integration step", "tau")
    t_warmup: float = _f(0.0, "discarded transient before recording", "tau")
    solver: str = _f("rk4", "fixed-step integrator: euler or rk4")
    record_every: int = _f(1, "record every k-th step")
    n_record: int = _f(10, "neurons whose activity x_i is recorded (sampled evenly over E and I)")
    trials: int = _f(1, "trials per realization (same J, different initial states/noise)")
    realizations: int = _f(1, "number of connectivity realizations")
    seed: int = _f(0, "root seed; realization k uses SeedSequence(seed).spawn")
    init_std: float = _f(1.0, "standard deviation of the Gaussian initial state x_i(0)")
    I0: float = _f(0.0, "constant external input to every neuron")
    sigma: float = _f(0.0, "white-noise input intensity: dx = ... dt + sigma dW", "tau^-1/2")
    dtype: str = _f("float64", "float32 or float64")
    backend: str = _f("auto", "auto, numpy or cupy")
    chunk: int = _f(1000, "recorded samples per write (memory bound of the recorder)")
    partition: str = _f("none", "none, or rows: each MPI rank of a realization group holds a block of rows of J")
    row_ranks: int = _f(0, "ranks per row-partitioned realization group (0: all ranks); ranks = groups x row_ranks")

    def validate(self) -> None:
        for name in ("T", "dt"):
            v = getattr(self, name)
            if not (v > 0 and math.isfinite(v)):
                raise ConfigError(f"{name} must be a positive number, got {v}")
        if self.t_warmup < 0:
            raise ConfigError(f"t_warmup must be >= 0, got {self.t_warmup}")
        if self.dt > self.T:
            raise ConfigError(f"dt={self.dt} exceeds T={self.T}")
        if self.solver not in SOLVERS:
            raise ConfigError(f"solver must be one of {', '.join(SOLVERS)}, got {self.solver!r}")
        if self.dt >= DT_MAX:
            raise ConfigError(f"dt={self.dt} is not below tau=1: the explicit solver {self.solver} does not follow "
                              f"the dynamics at such steps (use dt <= 0.1)")
        for name in ("record_every", "trials", "realizations", "chunk"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {getattr(self, name)}")
        if self.n_record < 0:
            raise ConfigError(f"n_record must be >= 0, got {self.n_record}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")
        if self.init_std < 0 or self.sigma < 0:
            raise ConfigError("init_std and sigma must be >= 0")
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"dtype must be float32 or float64, got {self.dtype!r}")
        check_backend(self.backend)
        if self.partition not in ("none", "rows"):
            raise ConfigError(f"partition must be none or rows, got {self.partition!r}")
        if self.row_ranks < 0:
            raise ConfigError(f"row_ranks must be >= 0, got {self.row_ranks}")

    @property
    def n_warmup_steps(self) -> int:
        return int(round(self.t_warmup / self.dt))

    @property
    def n_steps(self) -> int:
        return int(round(self.T / self.dt))


def _coerce(name: str, value: Any, typ) -> Any:
    """Convert ``value`` to the field type; strings from the CLI/wildcards are parsed."""
    tname = typ if isinstance(typ, str) else getattr(typ, "__name__", str(typ))
    optional = "None" in tname
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{name} must not be empty")
    if optional and isinstance(value, str) and value.lower() in ("none", "null", ""):
        return None
    base = tname.replace(" | None", "").strip()
    try:
        if base == "int":
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite integer, got {value!r}")
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError
                return int(value)
            return int(value)
        if base == "float":
            if isinstance(value, bool):
                raise ValueError
            v = float(value)
            if not math.isfinite(v):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
            return v
        if base == "str":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return str(value)  # `twists: 3` in YAML or --set is the text "3"
            if not isinstance(value, str):
                raise ValueError
            return value
        if base == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
                return value.lower() in ("true", "yes", "1")
            raise ValueError
    except ConfigError:
        raise
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be of type {base}, got {value!r}") from None
    return value


def from_mapping(cls, mapping: Mapping[str, Any] | None = None, *, strict: bool = True, **overrides):
    """Build and validate a parameter record of type ``cls``.

    Unknown keys raise :class:`ConfigError` naming the closest valid key (when
    ``strict``); ``overrides`` win over ``mapping``.
    """
    data = dict(mapping or {})
    data.update({k: v for k, v in overrides.items() if v is not None})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown and strict:
        k = unknown[0]
        hint = difflib.get_close_matches(k, fields, n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ConfigError(f"unknown parameter {k!r} for {cls.__name__}{extra}")
    kwargs = {k: _coerce(k, v, fields[k].type) for k, v in data.items() if k in fields}
    obj = cls(**kwargs)
    obj.validate()
    return obj


def check_together(*records) -> None:
    """Cross-record checks (one-line :class:`ConfigError`) of the records one command uses together:
    ``n_record <= N`` for a network and a simulation."""
    by = {type(r).__name__: r for r in records}
    net, sim = by.get("NetworkParams"), by.get("SimulationParams")
    if net is not None and sim is not None and sim.n_record > net.N:
        raise ConfigError(f"n_record={sim.n_record} exceeds N={net.N}: at most N neurons can be recorded")


def describe(cls) -> list[tuple[str, Any, str, str]]:
    """(name, default, unit, help) for every field: used by CLI help and docs."""
    return [(f.name, f.default, f.metadata.get("unit", ""), f.metadata.get("help", "")) for f in dataclasses.fields(cls)]


def load_yaml(path) -> dict:
    """Read a YAML mapping with a one-line error for unreadable or malformed files."""
    try:
        with open(path) as fh:
            data = yaml.safe_load(fh)
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path} is not valid YAML{where}") from None
    if data is None:
        raise ConfigError(f"{path} is empty: it must hold a mapping of parameters")
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of parameters, not {type(data).__name__}")
    return data
