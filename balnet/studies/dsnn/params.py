"""The ``dsnn:`` section of a config: :class:`DSNNParams`, the record of the dual-sampling study."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

from ...engine.backend import check_backend
from ...engine.errors import ConfigError
from ...engine.params import _f, from_mapping

__all__ = ["ALT_INPUTS", "DATASETS", "EXPERIMENTS", "FORGET_MODES", "DSNNParams", "field_names"]

EXPERIMENTS = ("classify", "forget", "alternation", "sbm")
DATASETS = ("digits", "prototype")
FORGET_MODES = ("remove", "switch")
ALT_INPUTS = ("mixture", "necker")



@dataclass(frozen=True)
class DSNNParams:
    """The ``dsnn:`` section: network, chain and experiment of the dual-sampling study.

    ``experiment`` picks the run: ``classify`` (accuracy vs sweeps against
    backprop, posterior average vs single sample, synaptic drift and PCA
    spectrum of hidden activity), ``forget`` (acquisition then forgetting time
    constants), ``alternation`` (dominance durations of an ambiguous input) or
    ``sbm`` (unsupervised bars: division of roles and pruning).
    ``chains`` independent chains (chain k uses ``stream(seed, k, DSNN, ...)``)
    are split across MPI ranks.
    """

    experiment: str = _f("classify", "classify, forget, alternation or sbm")
    dataset: str = _f("digits", "classify: digits (scikit-learn, 8x8 grey levels) or prototype (noisy binary patterns)")
    hidden: int = _f(64, "hidden neurons per hidden layer")
    layers: int = _f(1, "number of hidden layers")
    chains: int = _f(2, "independent chains (MPI ranks split them)")
    seed: int = _f(0, "root seed; chain k uses stream(seed, k, DSNN, ...)")
    sweeps: int = _f(200, "Gibbs sweeps of the learning phase")
    burn_in: int = _f(50, "sweeps before synaptic samples enter the posterior average")
    average_every: int = _f(1, "classify: sweeps between synaptic samples entering the posterior average")
    eval_every: int = _f(5, "evaluate test accuracy every this many sweeps")
    neuron_samples: int = _f(8, "forward neuron samples per synaptic sample at prediction")
    sigma_w: float = _f(1.0, "prior std of every weight")
    sigma_b: float = _f(1.0, "prior std of every bias")
    n_train: int = _f(500, "training rows (clamped data batch)")
    n_test: int = _f(500, "held-out test rows")
    classes: int = _f(10, "prototype/forget: number of classes (prototypes)")
    dim: int = _f(32, "prototype/forget/alternation: binary input dimension")
    flip: float = _f(0.1, "prototype/forget/alternation: bit-flip probability of the noisy samples")
    backprop_epochs: int = _f(100, "epochs of the same-size backprop baseline")
    backprop_lr: float = _f(0.5, "learning rate of the backprop baseline (SGD with momentum 0.9)")
    forget_sweeps: int = _f(300, "forget: sweeps after the data are removed or switched")
    forget_mode: str = _f("remove", "forget: remove (all neurons free) or switch (labels permuted)")
    forget_particles: int = _f(100, "forget/remove: free-running rows kept after removal (0: all n_train rows)")
    alt_probes: int = _f(8, "alternation: rows presenting the ambiguous input inside the chain")
    alt_sweeps: int = _f(1000, "alternation: sweeps after the learning phase whose dominance durations are fitted")
    alt_windows: int = _f(4, "alternation: windows of the sweep axis for the emergence statistics")
    alt_threshold: float = _f(0.2, "alternation: |percept| above which one interpretation dominates (hysteresis)")
    alt_input: str = _f("mixture", "alternation: mixture (two random patterns, ambiguous = their mixture) or necker "
                        "(two patterns sharing half their active units, ambiguous = the shared half)")
    alt_adapt: float = _f(0.0, "alternation: adaptation strength g of the probes' hidden and output neurons (0: none)")
    alt_adapt_tau: float = _f(20.0, "alternation: adaptation time constant in sweeps")
    alt_rho: float = _f(0.0, "alternation: synaptic persistence rho in [0, 1) of the autoregressive synapse draw")
    sbm_side: int = _f(4, "sbm: side of the bar images (2*side independent bars)")
    sbm_p: float = _f(0.15, "sbm: probability that each bar is present")
    sbm_hidden: int = _f(16, "sbm: hidden (cause) neurons, more than the 2*side bars")
    sbm_window: int = _f(25, "sbm: sweeps per window of the synaptic statistics")
    backend: str = _f("numpy", "array backend of the chains: numpy, cupy or auto (random draws stay on the host)")

    def validate(self) -> None:
        if self.experiment not in EXPERIMENTS:
            raise ConfigError(f"experiment must be one of {', '.join(EXPERIMENTS)}, got {self.experiment!r}")
        if self.dataset not in DATASETS:
            raise ConfigError(f"dataset must be one of {', '.join(DATASETS)}, got {self.dataset!r}")
        if self.alt_input not in ALT_INPUTS:
            raise ConfigError(f"alt_input must be one of {', '.join(ALT_INPUTS)}, got {self.alt_input!r}")
        if not (self.alt_adapt >= 0 and math.isfinite(self.alt_adapt)):
            raise ConfigError(f"alt_adapt must be a number >= 0, got {self.alt_adapt}")
        if not (self.alt_adapt_tau >= 1 and math.isfinite(self.alt_adapt_tau)):
            raise ConfigError(f"alt_adapt_tau must be a number >= 1 (sweeps), got {self.alt_adapt_tau}")
        if not 0.0 <= self.alt_rho < 1.0:
            raise ConfigError(f"alt_rho must lie in [0, 1), got {self.alt_rho}")
        if self.forget_mode not in FORGET_MODES:
            raise ConfigError(f"forget_mode must be one of {', '.join(FORGET_MODES)}, got {self.forget_mode!r}")
        for name in ("hidden", "layers", "chains", "sweeps", "eval_every", "average_every", "neuron_samples",
                     "n_train", "n_test", "dim", "backprop_epochs", "forget_sweeps", "alt_probes", "alt_sweeps",
                     "alt_windows",
                     "sbm_side", "sbm_hidden", "sbm_window"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {getattr(self, name)}")
        for name in ("seed", "burn_in", "forget_particles"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.experiment == "classify" and self.burn_in >= self.sweeps:
            raise ConfigError(f"burn_in ({self.burn_in}) must be smaller than sweeps ({self.sweeps})")
        if self.classes < 2:
            raise ConfigError(f"classes must be >= 2, got {self.classes}")
        for name in ("sigma_w", "sigma_b", "backprop_lr"):
            v = getattr(self, name)
            if not (v > 0 and math.isfinite(v)):
                raise ConfigError(f"{name} must be a positive number, got {v}")
        if not 0.0 < self.sbm_p < 1.0:
            raise ConfigError(f"sbm_p must lie in (0, 1), got {self.sbm_p}")
        if not 0.0 <= self.alt_threshold < 1.0:
            raise ConfigError(f"alt_threshold must lie in [0, 1), got {self.alt_threshold}")
        if not 0.0 <= self.flip < 0.5:
            raise ConfigError(f"flip must lie in [0, 0.5), got {self.flip}")
        check_backend(self.backend)

    @classmethod
    def from_mapping(cls, mapping):

        return from_mapping(cls, mapping)


def field_names():
    return [f.name for f in fields(DSNNParams)]
