"""balnet: critically balanced E/I random recurrent networks on CPU and GPU.

Explicit re-exports of the public API; one concept per module.
"""
__version__ = "0.1.0"

from .backend import get_xp, to_numpy, cupy_available
from .dynamics import RateNetwork, Tanh, ReLU, Sigmoid, get_gain
from .integrators import Euler, RK4, get_solver, integrate, Solution
from .network import balance_vector, coupling_matrix, realization_couplings, eigenvalues, outliers
from .params import ConfigError, NetworkParams, SimulationParams, from_mapping
from .random import realization_seed, spawn_seeds, stream
from .simulate import Simulation, simulate
from .lyapunov import LyapunovParams, lyapunov_run, lyapunov_spectrum, two_trajectory_lyapunov
from .meanfield import MeanFieldParams, dmft, stability_predictions

# sibling studies on the same engine: one module each (balnet.fim, balnet.dsnn, balnet.kuramoto)
from . import dsnn, fim, kuramoto
from .dsnn import DSNNParams
from .fim import FimParams
from .kuramoto import KuramotoParams

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
