"""balnet: critically balanced E/I random recurrent networks on CPU and GPU.

Explicit re-exports of the public API; one concept per module.
"""
from .chaos.lyapunov import (
    LyapunovParams,
    lyapunov_run,
    lyapunov_spectrum,
    two_trajectory_lyapunov,
)
from .engine._version import __version__
from .engine.backend import cupy_available, get_xp, to_numpy
from .engine.integrators import RK4, Euler, Solution, get_solver, integrate
from .engine.params import ConfigError, NetworkParams, SimulationParams, from_mapping
from .engine.random import realization_seed, spawn_seeds, stream
from .model.dynamics import RateNetwork, ReLU, Sigmoid, Tanh, get_gain
from .model.network import (
    balance_vector,
    coupling_matrix,
    eigenvalues,
    outliers,
    realization_couplings,
)
from .model.simulate import Simulation, simulate

# sibling studies on the same engine: one module each (balnet.studies.fim, balnet.studies.dsnn, balnet.studies.kuramoto)
from .studies import dsnn, fim, kuramoto
from .studies.dsnn import DSNNParams
from .studies.fim import FimParams
from .studies.kuramoto import KuramotoParams
from .theory.dmft import MeanFieldParams, dmft
from .theory.stability import stability_predictions

__all__ = [
    "__version__",
    "get_xp", "to_numpy", "cupy_available",
    "RateNetwork", "Tanh", "ReLU", "Sigmoid", "get_gain",
    "Euler", "RK4", "get_solver", "integrate", "Solution",
    "balance_vector", "coupling_matrix", "realization_couplings", "eigenvalues", "outliers",
    "ConfigError", "NetworkParams", "SimulationParams", "from_mapping",
    "realization_seed", "spawn_seeds", "stream",
    "Simulation", "simulate",
    "LyapunovParams", "lyapunov_run", "lyapunov_spectrum", "two_trajectory_lyapunov",
    "MeanFieldParams", "dmft", "stability_predictions",
    "dsnn", "fim", "kuramoto", "DSNNParams", "FimParams", "KuramotoParams",
]
