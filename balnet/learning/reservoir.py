r"""The balanced rate network as a reservoir: driven state collection and FORCE.

Continuous model (time in units of :math:`\tau`), with input :math:`u(t)`
(``n_in`` channels) and, for FORCE, feedback of the readout :math:`z(t)`:

.. math::
    \frac{dx}{dt} = -x + J\,\phi(x) + W_{in}^\top u(t) + W_{fb}^\top z(t) + I_0 + \sigma\,\xi(t)

where:

* ``J`` is a connectivity realization of :func:`balnet.model.network.realization_couplings`
  (the critically balanced E/I matrix; ``J0 = 0`` gives the classical random
  SCS / echo-state reservoir with spectral radius about ``g``);
* :math:`W_{in}` ``(n_in, N)`` has i.i.d. entries uniform on
  ``[-input_scale, input_scale]`` drawn from stream ``(k, INPUT)``,
  :math:`W_{fb}` ``(n_out, N)`` uniform on ``[-feedback_scale, feedback_scale]``
  from stream ``(k, FEEDBACK)`` of :func:`balnet.engine.random.stream` (spawn keys,
  never ``seed + k``);
* the readout sees the rates :math:`r = \phi(x)`.

Time discretization.  Inputs arrive as samples :math:`u_n` held constant over a
sample interval :math:`\Delta = s\,\delta t` (``substeps`` ``s`` integration
steps of size ``dt`` :math:`=\delta t`, Euler or RK4).  After sample ``n`` the
state :math:`x_{n+1}` has seen :math:`u_0..u_n`, and the readout produces
:math:`y_n` from :math:`r_{n+1} = \phi(x_{n+1})`.  With Euler and ``s = 1``

.. math::
    x_{n+1} = (1 - \delta t)\,x_n + \delta t\,\big(J\phi(x_n) + W_{in}^\top u_n\big),

the leaky-integrator echo-state network with leak rate :math:`a = \delta t`
(Jaeger et al., Neural Netw. 20, 335, 2007); ``dt = 1`` gives the classical
ESN :math:`x_{n+1} = J\phi(x_n) + W_{in}^\top u_n`, i.e.
:math:`r_{n+1} = \phi(J r_n + W_{in}^\top u_n)` (Jaeger, GMD Report 148, 2001).
Small ``dt`` (with ``s = \Delta/\delta t``) approaches the continuous network
whose chaos :mod:`balnet.chaos.lyapunov` measures; the same ``J`` is used either way.

The learning-curve experiment (:class:`LearnParams`, :func:`learning_run`)
trains readouts (:mod:`balnet.learning.readout`) on tasks (:mod:`balnet.learning.tasks`) for
networks drawn, selected or pre-trained by macro FTLE (:mod:`balnet.learning.pretrain`).

Stream purposes used by reservoir computing (``3 + i`` of :mod:`balnet.engine.random`;
``3`` is the Lyapunov module's tangent-frame stream): ``INPUT = 4``,
``FEEDBACK = 5``, ``TASK = 6`` (task data), ``READOUT = 7`` (SGD shuffling).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Sequence

import numpy as np

from ..engine.backend import check_backend, get_xp, resolve_dtype, to_numpy
from ..engine.integrators import get_solver
from ..engine.params import ConfigError, NetworkParams, _f
from ..engine.random import FEEDBACK_WEIGHTS as FEEDBACK
from ..engine.random import INPUT_WEIGHTS as INPUT
from ..engine.random import NOISE, normal_block, stream
from ..engine.random import SGD_ORDER as READOUT
from ..engine.random import TASK_DATA as TASK
from ..model.dynamics import RateNetwork, get_gain
from ..model.network import balance_vector, realization_couplings
from ..model.simulate import trial_states
from .pretrain import (
    SPECTRAL_PRETRAIN_ERROR,
    macro_ftle,
    pretrain_networks,
    select_index,
)
from .readout import RLS, Readout, gp_learning_curve, ridge_path, sgd_fit
from .tasks import TASKS, accuracy, make_task, memory_capacity, nrmse

__all__ = [
    "INPUT",
    "FEEDBACK",
    "TASK",
    "READOUT",
    "input_weights",
    "feedback_weights",
    "Reservoir",
    "spectral_radius",
    "rescale_spectral_radius",
    "build_reservoir",
    "trial_states",
    "ForceResult",
    "force_learn",
    "LearnParams",
    "make_dataset",
    "evaluate",
    "learning_run",
]



def input_weights(root_seed: int, k: int, n_in: int, N: int, scale: float) -> np.ndarray:
    """Input weights of realization ``k``: ``(n_in, N)`` uniform on ``[-scale, scale]`` (stream ``(k, INPUT)``)."""
    return scale * stream(root_seed, k, INPUT).uniform(-1.0, 1.0, (n_in, N))


def feedback_weights(root_seed: int, k: int, n_out: int, N: int, scale: float) -> np.ndarray:
    """Feedback weights of realization ``k``: ``(n_out, N)`` uniform on ``[-scale, scale]`` (stream ``(k, FEEDBACK)``)."""
    return scale * stream(root_seed, k, FEEDBACK).uniform(-1.0, 1.0, (n_out, N))


class Reservoir:
    r"""Driven balanced network, batched over ``R`` realizations and ``B`` sequences.

    Parameters
    ----------
    f : RateNetwork
        Vector field with couplings ``(R, N, N)``.
    W_in : array ``(R, n_in, N)``
    W_fb : array ``(R, n_out, N)`` or None
    dt : float
        Integration step [tau].
    substeps : int
        Integration steps per input sample (sample interval ``dt * substeps``).
    solver : str
        ``"euler"`` or ``"rk4"``.
    sigma : float
        Private white-noise intensity [tau^-1/2] (Euler–Maruyama increments
        from stream ``(k, NOISE)``, drawn per realization).
    noise_rngs : list of Generator, optional
        One per realization (required when ``sigma > 0``).
    """

    def __init__(self, f: RateNetwork, W_in, W_fb=None, *, dt: float = 1.0, substeps: int = 1, solver: str = "euler",
                 sigma: float = 0.0, noise_rngs=None, xp: ModuleType = np):
        self.f, self.W_in, self.W_fb = f, W_in, W_fb
        self.dt, self.substeps = float(dt), int(substeps)
        self.solver = get_solver(solver)
        self.sigma = float(sigma)
        self.noise_rngs = noise_rngs or []
        if self.sigma > 0 and len(self.noise_rngs) != W_in.shape[0]:
            raise ValueError("sigma > 0 needs one noise generator per realization")
        self.xp = xp
        self.dtype = f.dtype

    @property
    def N(self) -> int:
        return self.f.N

    @property
    def R(self) -> int:
        return self.W_in.shape[0]

    def rates(self, x):
        """Readout features :math:`\\phi(x)` (same shape as ``x``)."""
        return self.f.gain.phi(x, self.xp)

    def advance(self, x, u_n=None, z=None):
        """Advance ``x`` ``(R, B, N)`` by one sample with input ``u_n`` ``(R, B, n_in)`` and feedback ``z`` ``(R, B, n_out)``."""
        xp = self.xp
        ext = None
        if u_n is not None and self.W_in.shape[1] > 0:
            ext = u_n @ self.W_in
        if z is not None and self.W_fb is not None:
            fb = z @ self.W_fb
            ext = fb if ext is None else ext + fb
        self.f.external = ext
        try:
            for _ in range(self.substeps):
                x = self.solver.step(self.f, 0.0, x, self.dt)
                if self.sigma > 0:
                    B, N = x.shape[1], x.shape[2]
                    xi = normal_block(self.noise_rngs, 1, (B, N), self.dtype)[0]
                    x = x + (self.sigma * np.sqrt(self.dt)) * xp.asarray(xi)
        finally:
            self.f.external = None
        return x

    def run(self, u, x0, *, z_teacher=None, collect: bool = True, keep=None):
        """Drive with inputs ``u`` ``(R, B, T, n_in)`` from ``x0`` ``(R, B, N)``.

        ``z_teacher`` ``(R, B, T, n_out)`` is fed back (teacher forcing; sample
        ``n`` feeds back ``z_teacher[..., n - 1, :]``, zero at ``n = 0``).
        ``keep`` (bool ``(T,)``) stores the rates only at those samples.
        Returns ``(rates, x)``: rates ``(R, B, T_kept, N)`` (``None`` when not
        ``collect``) and the state after the last sample.
        """
        xp = self.xp
        R, B, T = u.shape[0], u.shape[1], u.shape[2]
        keep = np.ones(T, bool) if keep is None else np.asarray(keep, bool)
        if keep.shape != (T,):
            raise ValueError(f"keep must have shape ({T},), got {keep.shape}")
        slot = np.cumsum(keep) - 1
        out = xp.empty((R, B, int(keep.sum()), self.N), dtype=self.dtype) if collect else None
        x = x0
        for n in range(T):
            z = None
            if z_teacher is not None and n > 0:
                z = z_teacher[:, :, n - 1]
            x = self.advance(x, u[:, :, n], z)
            if collect and keep[n]:
                out[:, :, slot[n]] = self.rates(x)
        return out, x


def spectral_radius(J) -> np.ndarray:
    """Spectral radius :math:`\\max_i |\\lambda_i(J)|` of each matrix of ``J`` ``(..., N, N)`` (dense eigenvalues)."""
    return np.abs(np.linalg.eigvals(np.asarray(to_numpy(J), dtype=np.float64))).max(-1)


def rescale_spectral_radius(J, rho: float) -> np.ndarray:
    r"""``J`` ``(..., N, N)`` scaled per matrix to spectral radius exactly ``rho``: :math:`J\,\rho/\max_i|\lambda_i(J)|`.

    The radius is that of the *realized* matrix (dense eigenvalues, as
    ReservoirPy's ``sr``), not the asymptotic ``g`` of the random part: in
    the critically balanced network the rank-one mean part adds non-normal
    outliers, and at N = 200, J0 = 2 the realized radius is 2.0-4.3 for
    g = 1-2 (see docs/learning_experiments.md).  Scaling multiplies every
    eigenvalue by the same factor, so the relative spectrum (E/I structure,
    balance) is kept.
    """
    J = np.asarray(J)
    if not rho > 0:
        raise ConfigError(f"spectral_radius must be > 0, got {rho}")
    rad = spectral_radius(J)
    if np.any(rad == 0):
        raise ConfigError("cannot rescale a nilpotent coupling matrix (spectral radius 0)")
    return (J * (rho / rad)[..., None, None]).astype(J.dtype, copy=False)


def build_reservoir(net: NetworkParams, ids: Sequence[int], root_seed: int, *, n_in: int, n_out: int = 0,
                    input_scale: float = 1.0, feedback_scale: float = 0.0, dt: float = 1.0, substeps: int = 1,
                    solver: str = "euler", sigma: float = 0.0, I0: float = 0.0, couplings=None,
                    spectral_radius: float | None = None, xp: ModuleType | None = None,
                    dtype="float64") -> Reservoir:
    """Reservoir for realizations ``ids`` (connectivity stream ``(k, CONNECTIVITY)``).

    ``couplings`` (host ``(R, N, N)``) replaces the drawn matrices, e.g. after
    pre-training (:mod:`balnet.learning.pretrain`).  ``spectral_radius`` (> 0)
    rescales every matrix exactly to that radius (:func:`rescale_spectral_radius`);
    ``None`` or a value <= 0 keeps the realized matrices.  ``feedback_scale = 0``
    or ``n_out = 0``: no feedback weights.
    """
    xp = xp if xp is not None else get_xp("auto")
    dt_ = resolve_dtype(dtype) if isinstance(dtype, str) else np.dtype(dtype)
    if dt <= 0 or substeps < 1:
        raise ConfigError("reservoir needs dt > 0 and substeps >= 1")
    R, N = len(ids), net.N
    if couplings is None:
        J = np.empty((R, N, N), dtype=dt_)
        for i, k in enumerate(ids):
            J[i] = realization_couplings(net, root_seed, k, dtype=dt_)
    else:
        J = np.asarray(to_numpy(couplings), dtype=dt_)
        if J.shape != (R, N, N):
            raise ConfigError(f"couplings have shape {J.shape}, expected {(R, N, N)}")
    if spectral_radius is not None and spectral_radius > 0:
        J = rescale_spectral_radius(J, spectral_radius)
    f = RateNetwork(xp.asarray(J), get_gain(net.gain), w=balance_vector(net), n_E=net.N_E, I0=I0, xp=xp)
    W_in = np.stack([input_weights(root_seed, k, n_in, N, input_scale) for k in ids]).astype(dt_)
    W_fb = None
    if n_out > 0 and feedback_scale > 0:
        W_fb = xp.asarray(np.stack([feedback_weights(root_seed, k, n_out, N, feedback_scale) for k in ids]).astype(dt_))
    rngs = [stream(root_seed, k, NOISE) for k in ids] if sigma > 0 else None
    return Reservoir(f, xp.asarray(W_in), W_fb, dt=dt, substeps=substeps, solver=solver, sigma=sigma,
                     noise_rngs=rngs, xp=xp)


# -- FORCE -------------------------------------------------------------------------
@dataclass
class ForceResult:
    """Outcome of :func:`force_learn` (host arrays).

    ``n_train`` ``(P,)`` checkpoints (training samples); ``test_nrmse``
    ``(R, P, M)`` free-running NRMSE over the test window after learning
    stopped at each checkpoint; ``z_test`` ``(R, T_test, M)`` and ``z_train``
    ``(R, T_train, M)`` the outputs of the last run; ``weight_change``
    ``(R, T_train)`` :math:`\\|\\Delta W\\|` per sample.
    """

    n_train: np.ndarray
    test_nrmse: np.ndarray
    z_train: np.ndarray
    z_test: np.ndarray
    weight_change: np.ndarray
    readout: RLS


def force_learn(res: Reservoir, y_train, y_test, x0, *, alpha: float = 1.0, learn_every: int = 1, washout: int = 0,
                checkpoints: Sequence[int] | None = None) -> ForceResult:
    r"""FORCE learning with output feedback (Sussillo & Abbott, Neuron 63, 544, 2009).

    The network runs autonomously with its own output fed back,
    :math:`z_n = W^\top r_n` (no teacher forcing), and every ``learn_every``
    samples after ``washout`` the readout is updated by :class:`RLS` with the
    error :math:`e_- = z_n - y_n`, which keeps :math:`z` close to the target
    from the start (the "first-order reduced and controlled error").  After
    the training samples the weights are frozen and the network keeps running
    for the test window; the free-running output is compared with ``y_test``
    (the continuation of the target).

    Parameters
    ----------
    res : Reservoir
        Must have feedback weights (``n_out`` channels).
    y_train : array ``(R, T_train, M)``; y_test : array ``(R, T_test, M)``
    x0 : array ``(R, 1, N)``
    alpha : float
        ``P(0) = I/alpha`` (Sussillo & Abbott use 1–100).
    checkpoints : increasing training lengths at which learning is stopped
        (on a copy) to measure the free-running test error; default: the end.
    """
    xp = res.xp
    if res.W_fb is None:
        raise ConfigError("FORCE needs feedback weights (feedback_scale > 0)")
    R, T_tr, M = y_train.shape
    T_te = y_test.shape[1]
    cps = [T_tr] if checkpoints is None else sorted(int(c) for c in checkpoints)
    if cps[-1] > T_tr or cps[0] < 1:
        raise ConfigError(f"FORCE checkpoints must lie in 1..{T_tr}")
    rls = RLS(res.N, M, alpha, batch_shape=(R,), xp=xp, dtype=res.dtype)
    u0 = xp.zeros((R, 1, res.W_in.shape[1]), dtype=res.dtype)
    x = x0
    z = xp.zeros((R, 1, M), dtype=res.dtype)
    ztr = xp.empty((R, T_tr, M), dtype=res.dtype)
    dW = xp.zeros((R, T_tr), dtype=res.dtype)
    nrm = np.empty((R, len(cps), M))
    z_te_last = None
    ci = 0
    for n in range(T_tr):
        x = res.advance(x, u0, z)
        r = res.rates(x)[:, 0]
        z2 = rls.predict(r)
        if n >= washout and (n - washout) % learn_every == 0:
            W_old = rls.W.copy()
            rls.update(r, z2 - y_train[:, n])
            dW[:, n] = xp.sqrt(((rls.W - W_old) ** 2).sum((-1, -2)))
        ztr[:, n] = z2
        z = z2[:, None]
        while ci < len(cps) and n + 1 == cps[ci]:
            z_te_last = _free_run(res, x, z, rls.W, T_te)
            err = ((z_te_last - y_test) ** 2).mean(1)
            nrm[:, ci] = to_numpy(xp.sqrt(err / y_test.var(1)))
            ci += 1
    return ForceResult(np.asarray(cps), nrm, to_numpy(ztr), to_numpy(z_te_last), to_numpy(dW), rls)


def _free_run(res: Reservoir, x, z, W, T: int):
    """Run ``T`` samples with frozen readout ``W`` from ``(x, z)``; returns outputs ``(R, T, M)``."""
    xp = res.xp
    R = x.shape[0]
    u0 = xp.zeros((R, 1, res.W_in.shape[1]), dtype=res.dtype)
    out = xp.empty((R, T, W.shape[-1]), dtype=res.dtype)
    for n in range(T):
        x = res.advance(x, u0, z)
        zz = (res.rates(x)[:, 0, None, :] @ W)[:, 0]
        out[:, n] = zz
        z = zz[:, None]
    return out


# -- learning-curve experiment -------------------------------------------------------
READOUTS = ("ridge", "force", "sgd", "gpsgd")
KNOBS = ("g", "balance", "J0")
SELECT_RULES = ("lowest", "highest", "target")


#: Per-task defaults of the reservoir form and readout (fields left empty in
#: :class:`LearnParams`).  NARMA10 and memory use the discrete echo-state form
#: (Euler, dt = 1, one step per sample; Jaeger 2001) with an exactly rescaled
#: spectral radius, small inputs and a small ridge penalty; FORCE on the sum of
#: sines integrates with dt = 0.1 tau and updates the readout every step
#: (Sussillo & Abbott 2009 use dt = 0.1 tau and an update every 1-2 steps);
#: the trial tasks keep the continuous network (dt*substeps = 1 tau per
#: sample).  Measured outcomes: docs/learning_experiments.md.
TASK_DEFAULTS = {
    "narma10": dict(dt=1.0, substeps=1, input_scale=0.5, alpha=1e-6, spectral_radius=0.8, learn_every=1),
    "memory": dict(dt=1.0, substeps=1, input_scale=0.1, alpha=1e-8, spectral_radius=0.95, learn_every=1),
    "mackey_glass": dict(dt=1.0, substeps=1, input_scale=0.5, alpha=1e-6, spectral_radius=0.8, learn_every=1),
    "sines": dict(dt=0.1, substeps=1, input_scale=1.0, alpha=1e-2, spectral_radius=0.0, learn_every=1),
    "delayed_association": dict(dt=0.2, substeps=5, input_scale=1.0, alpha=1e-2, spectral_radius=0.0, learn_every=1),
}


@dataclass(frozen=True)
class LearnParams:
    """Reservoir-computing experiment: task, reservoir discretization, readout, curves, FTLE selection/pre-training.

    The ``learn:`` section of a config file (or flat keys / ``--set``) maps
    onto these fields; the network comes from ``network:``
    (:class:`~balnet.engine.params.NetworkParams`).  Task times (``delay``,
    ``t_pre``, ``pulse``, ``t_resp``, ``washout``, ``max_delay``) are in
    samples; one sample lasts ``dt * substeps`` tau.  The macro-FTLE
    measurement (``ftle_*``) is set up by :func:`balnet.learning.pretrain.lyapunov_records`.
    """

    task: str = _f("delayed_association", "task: delayed_association, narma10, mackey_glass, memory or sines")
    readout: str = _f("ridge", "readout: ridge, force (RLS with output feedback), sgd (plain) or gpsgd (GP-regularized SGD)")
    realizations: int = _f(4, "learning samples per condition (networks; MPI ranks split them)")
    seed: int = _f(0, "root seed; realization k uses SeedSequence(seed).spawn streams")
    dt: float | None = _f(None, "integration step (dt=1 with euler and substeps=1 is the classical ESN); "
                                "empty: per task (TASK_DEFAULTS)", "tau")
    substeps: int | None = _f(None, "integration steps per input sample (sample interval dt*substeps); "
                                    "empty: per task")
    solver: str = _f("euler", "integrator: euler or rk4")
    init_std: float = _f(1.0, "std of the Gaussian initial state of every sequence (0: start at rest)")
    sigma: float = _f(0.0, "private white-noise intensity in the network", "tau^-1/2")
    I0: float = _f(0.0, "constant external input to every neuron")
    input_scale: float | None = _f(None, "input weights uniform on [-input_scale, input_scale] "
                                         "(ReservoirPy input_scaling); empty: per task")
    spectral_radius: float | None = _f(None, "rescale every coupling matrix to this exact spectral radius "
                                             "(ReservoirPy sr; eigenvalues of the realized J); FTLE selection "
                                             "measures the rescaled J; pretrain needs 0; 0: keep J as drawn; "
                                             "empty: per task")
    feedback_scale: float = _f(1.0, "feedback weights uniform on [-s, s] (force readout)")
    alpha: float | None = _f(None, "ridge penalty (ReservoirPy ridge; also weight decay of plain sgd); "
                                   "empty: per task")
    force_alpha: float = _f(1.0, "RLS initial inverse correlation P(0) = I/force_alpha")
    learn_every: int | None = _f(None, "FORCE: update the readout every k-th sample; empty: per task")
    n_train: int = _f(200, "largest training size (trials for trial tasks, samples otherwise)")
    n_test: int = _f(200, "test size (trials or samples)")
    n_min: int = _f(10, "smallest training size of the learning curve")
    n_points: int = _f(6, "points of the learning curve (log-spaced n_min..n_train)")
    epochs: int = _f(50, "sgd/gpsgd epochs")
    batch_size: int = _f(32, "sgd/gpsgd mini-batch size (samples)")
    lr: float = _f(0.3, "sgd step: relative to 1/max eigenvalue (sgd) or absolute <= 1 (gpsgd)")
    decay_epochs: float = _f(10.0, "sgd step halves after this many epochs (0: constant)")
    washout: int = _f(200, "unscored leading samples of time-series tasks")
    input_noise: float = _f(0.0, "std of Gaussian noise added to every input sample")
    target_noise: float = _f(0.0, "std of label noise on training targets (units of the target std)")
    delay: int = _f(20, "delayed_association: cue-to-go delay (samples)")
    n_cues: int = _f(2, "delayed_association: number of cues")
    t_pre: int = _f(10, "delayed_association: silent settling period before the cue (samples)")
    pulse: int = _f(2, "delayed_association: width of cue and go pulses (samples)")
    t_resp: int = _f(5, "delayed_association: response window (samples)")
    jitter: int = _f(0, "delayed_association: cue onset jitter (delay varies over delay..delay+2*jitter)")
    horizon: int = _f(1, "mackey_glass: prediction horizon (samples)")
    max_delay: int = _f(100, "memory: largest recalled delay K")
    period: float = _f(20.0, "sines: base period", "tau")
    n_harmonics: int = _f(4, "sines: number of sine components")
    quasi: bool = _f(False, "sines: incommensurate (golden-ratio) periods instead of harmonics")
    select_pool: int = _f(1, "FTLE selection: candidates per learning sample (1 = off)")
    select_by: str = _f("target", "which candidate to keep: target (closest to ftle_target, default 0; the rule "
                                  "the measurements favour, docs/learning_experiments.md), lowest macro FTLE, or highest")
    pretrain: bool = _f(False, "pre-train couplings so the macro FTLE approaches ftle_target (needs "
                               "spectral_radius 0: the rescale would undo it)")
    pretrain_knob: str = _f("g", "coupling parameter tuned per realization: g (random part), balance or J0")
    pretrain_min: float = _f(0.5, "lower end of the knob search interval")
    pretrain_max: float = _f(3.0, "upper end of the knob search interval")
    pretrain_iters: int = _f(8, "bisection steps of the pre-training")
    ftle_target: float = _f(0.0, "target macro FTLE of the pre-training", "1/tau")
    ftle_T: float = _f(200.0, "duration of each macro-FTLE measurement", "tau")
    ftle_window: float = _f(20.0, "macro-FTLE window", "tau")
    ftle_dt: float = _f(0.1, "integration step of the FTLE measurement", "tau")
    ftle_warmup: float = _f(50.0, "transient before the FTLE measurement", "tau")
    ftle_trials: int = _f(2, "initial conditions per FTLE measurement")
    backend: str = _f("auto", "auto, numpy or cupy")
    dtype: str = _f("float64", "float32 or float64")

    def __post_init__(self) -> None:
        # fields left empty (None) take the per-task value of TASK_DEFAULTS
        for name, value in TASK_DEFAULTS.get(self.task, TASK_DEFAULTS["delayed_association"]).items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

    def validate(self) -> None:

        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.readout not in READOUTS:
            raise ConfigError(f"readout must be one of {', '.join(READOUTS)}, got {self.readout!r}")
        if self.task == "sines" and self.readout != "force":
            raise ConfigError("task 'sines' is generated autonomously and needs readout 'force'")
        if self.select_by not in SELECT_RULES:
            raise ConfigError(f"select_by must be one of {', '.join(SELECT_RULES)}, got {self.select_by!r}")
        if self.pretrain_knob not in KNOBS:
            raise ConfigError(f"pretrain_knob must be one of {', '.join(KNOBS)}, got {self.pretrain_knob!r}")
        if self.solver not in ("euler", "rk4"):
            raise ConfigError(f"solver must be euler or rk4, got {self.solver!r}")
        for name in ("dt", "lr", "ftle_T", "ftle_window", "ftle_dt", "period", "force_alpha"):
            v = getattr(self, name)
            if not (v > 0 and math.isfinite(v)):
                raise ConfigError(f"{name} must be a positive number, got {v}")
        for name in ("realizations", "substeps", "learn_every", "n_train", "n_test", "n_min", "n_points", "epochs",
                     "batch_size", "delay", "n_cues", "pulse", "t_resp", "horizon", "max_delay", "n_harmonics",
                     "select_pool", "pretrain_iters", "ftle_trials"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {getattr(self, name)}")
        for name in ("seed", "t_pre", "jitter", "washout", "alpha", "init_std", "sigma", "input_scale", "spectral_radius",
                     "feedback_scale", "input_noise", "target_noise", "decay_epochs", "ftle_warmup"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.dt > 1:
            raise ConfigError(f"dt={self.dt} exceeds tau=1: the {self.solver} step overshoots the leak "
                              "(dt=1 with euler is the classical echo-state network)")
        if self.ftle_dt >= 1:
            raise ConfigError(f"ftle_dt={self.ftle_dt} is not below tau=1 (use ftle_dt <= 0.1)")
        if self.n_min > self.n_train:
            raise ConfigError(f"n_min ({self.n_min}) exceeds n_train ({self.n_train})")
        if self.n_cues < 2:
            raise ConfigError(f"n_cues must be >= 2, got {self.n_cues}")
        if self.readout == "gpsgd" and self.lr > 1:
            raise ConfigError(f"gpsgd needs lr <= 1, got {self.lr}")
        if not self.pretrain_min < self.pretrain_max:
            raise ConfigError("pretrain_min must be < pretrain_max")
        if self.pretrain and self.spectral_radius > 0:
            raise ConfigError(SPECTRAL_PRETRAIN_ERROR)
        if self.ftle_window > self.ftle_T:
            raise ConfigError(f"ftle_window ({self.ftle_window}) exceeds ftle_T ({self.ftle_T})")
        check_backend(self.backend)
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"dtype must be float32 or float64, got {self.dtype!r}")

    @property
    def delta(self) -> float:
        """Sample interval [tau]."""
        return self.dt * self.substeps

    def train_sizes(self) -> np.ndarray:
        """Learning-curve training sizes: log-spaced integers from ``n_min`` to ``n_train`` (unique)."""
        ns = np.unique(np.round(np.geomspace(self.n_min, self.n_train, self.n_points)).astype(int))
        return ns

    def conditions(self) -> list[str]:
        """Compared conditions: baseline, then select / pretrain / select+pretrain when switched on."""
        c = ["baseline"]
        if self.select_pool > 1:
            c.append("select")
        if self.pretrain:
            c.append("pretrain")
        if self.select_pool > 1 and self.pretrain:
            c.append("select+pretrain")
        return c


def make_dataset(learn: LearnParams, root_seed: int, k: int):
    """Task data of learning sample with anchor realization ``k`` (stream ``(k, TASK)``)."""

    rng = stream(root_seed, k, TASK)
    common = dict(input_noise=learn.input_noise, target_noise=learn.target_noise)
    t = learn.task
    if t == "delayed_association":
        kw = dict(n_cues=learn.n_cues, t_pre=learn.t_pre, pulse=learn.pulse, delay=learn.delay, jitter=learn.jitter,
                  t_resp=learn.t_resp)
    elif t == "narma10":
        kw = dict(washout=learn.washout)
    elif t == "mackey_glass":
        kw = dict(washout=learn.washout, horizon=learn.horizon)
    elif t == "memory":
        kw = dict(max_delay=learn.max_delay, washout=max(learn.washout, learn.max_delay))
    else:  # sines
        kw = dict(delta=learn.delta, period=learn.period, n_harmonics=learn.n_harmonics, quasi=learn.quasi,
                  washout=learn.washout)
    return make_task(t, rng, learn.n_train, learn.n_test, **kw, **common)


def _stack(dsets, attr: str, xp, dtype):
    return xp.asarray(np.stack([getattr(d, attr) for d in dsets]).astype(dtype))


def _scores(pred, y, task: str, xp) -> dict:
    """Test scores of predictions ``pred`` vs ``y`` (both ``(S, B, T, M)``, already masked) -> host ``(S,)`` each."""

    out = {"nrmse": to_numpy(nrmse(pred, y, None, xp=xp).mean(-1))}
    if task == "memory":
        out["memory_capacity"] = to_numpy(memory_capacity(pred, y, None, xp=xp)[0])
    if task == "delayed_association":
        out["accuracy"] = to_numpy(accuracy(pred, y, None, xp=xp).mean(-1))
    return out


def _say(msg: str) -> None:
    import sys

    print(f"balnet learn: {msg}", file=sys.stderr, flush=True)


def evaluate(net: NetworkParams, learn: LearnParams, anchors: Sequence[int], couplings, datasets, *,
             xp: ModuleType) -> dict[str, np.ndarray]:
    r"""Train and test one readout per learning sample on one set of networks; host arrays.

    ``anchors`` ``(S,)`` name the realization streams of input/feedback weights,
    initial states, noise and shuffling; ``couplings`` ``(S, N, N)`` (host) are
    the recurrent matrices (drawn, selected or pre-trained).  Returns
    ``test_nrmse``, ``train_nrmse`` ``(S, P)`` over the training sizes
    ``learn.train_sizes()``, plus ``accuracy`` (delayed association),
    ``memory_capacity`` (memory), ``epoch_test_nrmse``/``epoch_train_nrmse``
    ``(S, E)`` at the largest size (sgd, gpsgd) and ``gp_predicted_nrmse``
    ``(S, P)`` (gpsgd: :func:`balnet.learning.readout.gp_learning_curve` with the
    evidence estimates, i.e. the excess error predicted if the target were
    linear in the rates plus noise).
    """

    dtype = resolve_dtype(learn.dtype)
    d0 = datasets[0]
    ns = learn.train_sizes()
    S, N = len(anchors), net.N
    res = build_reservoir(net, anchors, learn.seed, n_in=d0.n_in, n_out=d0.n_out, input_scale=learn.input_scale,
                          feedback_scale=learn.feedback_scale, dt=learn.dt, substeps=learn.substeps,
                          solver=learn.solver, sigma=learn.sigma, I0=learn.I0, couplings=couplings,
                          spectral_radius=learn.spectral_radius, xp=xp, dtype=dtype)
    out: dict[str, np.ndarray] = {}
    if d0.feedback:
        x0 = trial_states(N, anchors, 0, 1, learn.seed, learn.init_std, xp, dtype)
        ytr, yte = _stack(datasets, "y_train", xp, dtype)[:, 0], _stack(datasets, "y_test", xp, dtype)[:, 0]
        fr = force_learn(res, ytr, yte, x0, alpha=learn.force_alpha, learn_every=learn.learn_every,
                         washout=d0.washout, checkpoints=d0.washout + ns)
        out["test_nrmse"] = fr.test_nrmse.mean(-1)
        ytr_h = to_numpy(ytr)
        tr = np.empty((S, len(ns)))
        for i, n in enumerate(ns):
            seg = slice(d0.washout + max(0, n - max(1, n // 4)), d0.washout + n)  # last quarter before the checkpoint
            e = ((fr.z_train[:, seg] - ytr_h[:, seg]) ** 2).mean(1) / ytr_h[:, d0.washout :].var(1)
            tr[:, i] = np.sqrt(e).mean(-1)
        out["train_nrmse"] = tr
        return out

    B_tr, B_te = d0.u_train.shape[0], d0.u_test.shape[0]
    x0 = trial_states(N, anchors, 0, B_tr, learn.seed, learn.init_std, xp, dtype)
    x0t = trial_states(N, anchors, B_tr, B_te, learn.seed, learn.init_std, xp, dtype)
    mtr, mte = d0.mask_train, d0.mask_test
    Str, _ = res.run(_stack(datasets, "u_train", xp, dtype), x0, keep=mtr)
    Ste, _ = res.run(_stack(datasets, "u_test", xp, dtype), x0t, keep=mte)
    itr, ite = xp.asarray(np.flatnonzero(mtr)), xp.asarray(np.flatnonzero(mte))
    Ytr = xp.take(_stack(datasets, "y_train", xp, dtype), itr, axis=2)
    Yte = xp.take(_stack(datasets, "y_test", xp, dtype), ite, axis=2)
    M = Ytr.shape[-1]
    X, Y = Str.reshape(S, -1, N), Ytr.reshape(S, -1, M)
    per_unit = int(mtr.sum()) if d0.unit == "trial" else 1
    n_samples = [int(n) * per_unit for n in ns]
    P = len(ns)
    acc = {k: np.empty((S, P)) for k in ("test_nrmse", "train_nrmse")}

    def record(i, ro, n):
        sc = _scores(ro.predict(Ste), Yte, learn.task, xp)
        acc["test_nrmse"][:, i] = sc.pop("nrmse")
        for k, v in sc.items():
            acc.setdefault(k, np.empty((S, P)))[:, i] = v
        pt = ro.predict(X[:, :n])
        acc["train_nrmse"][:, i] = to_numpy(xp.sqrt(((pt - Y[:, :n]) ** 2).mean(1) / Y[:, :n].var(1)).mean(-1))

    if learn.readout == "ridge":
        for i, (n, ro) in enumerate(zip(n_samples, ridge_path(X, Y, learn.alpha, n_samples, xp=xp))):
            record(i, ro, n)
    elif learn.readout == "force":
        # no feedback in the task: FORCE reduces to online RLS on the states (bias feature appended)

        one = xp.ones(X.shape[:-1] + (1,), dtype=dtype)
        X1 = xp.concatenate([X, one], -1)
        rls = RLS(N + 1, M, learn.force_alpha, batch_shape=(S,), xp=xp, dtype=dtype)
        n0 = 0
        for i, n in enumerate(n_samples):
            rls.fit(X1[:, n0:n], Y[:, n0:n])
            n0 = n
            record(i, Readout(rls.W[:, :N], rls.W[:, N]), n)
    else:
        method = "gp" if learn.readout == "gpsgd" else "plain"
        var_te = to_numpy(Yte.reshape(S, -1, M).var(1))  # (S, M)
        Xte = Ste.reshape(S, -1, N)
        Yte2 = Yte.reshape(S, -1, M)
        gp_pred = np.full((S, P), np.nan)
        for i, n in enumerate(n_samples):
            rngs = [stream(learn.seed, k, READOUT, i) for k in anchors]
            last = i == P - 1
            ro, hist = sgd_fit(X[:, :n], Y[:, :n], rngs, epochs=learn.epochs, batch_size=learn.batch_size, lr=learn.lr,
                               decay_epochs=learn.decay_epochs, method=method, alpha=learn.alpha,
                               X_test=Xte if last else None, Y_test=Yte2 if last else None, xp=xp)
            record(i, ro, n)
            if method == "gp":
                eps = gp_learning_curve(hist["eigs"][:, None, :], hist["noise"], hist["prior"], n)  # (S, M)
                gp_pred[:, i] = np.sqrt(np.asarray(eps) / var_te).mean(-1)
            if last:
                out["epoch_test_nrmse"] = np.sqrt(hist["test_mse"] / var_te[None]).mean(-1).T  # (S, E)
                var_tr = to_numpy(Y[:, :n].var(1))
                out["epoch_train_nrmse"] = np.sqrt(hist["train_mse"] / var_tr[None]).mean(-1).T
                out["sgd_alpha"] = hist["alpha"]
        if method == "gp":
            out["gp_predicted_nrmse"] = gp_pred
    out.update(acc)
    return out


def learning_run(net: NetworkParams, learn: LearnParams, samples: Sequence[int] | None = None, *,
                 xp: ModuleType | None = None, progress: bool = False) -> dict[str, np.ndarray]:
    r"""Learning curves of the learning samples ``samples`` under every condition of ``learn``.

    Learning sample ``j`` owns the pool of connectivity realizations
    ``k = j P .. j P + P - 1`` (``P = select_pool``); its *anchor* ``k_0 = j P``
    fixes the task data (stream ``(k_0, TASK)``), the input/feedback weights,
    the initial states, the noise and the SGD shuffling, so the conditions
    differ only in the recurrent couplings:

    * ``baseline``: the anchor's drawn couplings (an unselected realization);
    * ``select``: the candidate of the pool whose measured macro FTLE is closest to
      ``ftle_target`` (``select_by = target``, the default; or the lowest, or the highest),
      measured on the network that is trained (rescaled when ``spectral_radius`` > 0);
    * ``pretrain``: the anchor after pre-training (:func:`balnet.learning.pretrain.pretrain_networks`);
    * ``select+pretrain``: the selected candidate after pre-training.

    Returns host arrays: ``test_nrmse``, ``train_nrmse`` (and task-specific
    scores) ``(C, S, P)``; epoch curves ``(C, S, E)`` for SGD readouts;
    ``network_id`` ``(C, S)``; ``ftle_macro`` ``(C, S)`` (measured macro FTLE
    of the network used, NaN when not measured); ``ftle_candidates``
    ``(S, P_pool)``; ``pretrain_value`` ``(C, S)`` (knob value, NaN when not
    pre-trained); ``n_train`` ``(P,)``.
    """

    xp = xp if xp is not None else get_xp(learn.backend)
    dtype = resolve_dtype(learn.dtype)
    samples = list(range(learn.realizations)) if samples is None else list(samples)
    pool = learn.select_pool
    anchors = [j * pool for j in samples]
    S = len(samples)
    datasets = [make_dataset(learn, learn.seed, k) for k in anchors]
    conds = learn.conditions()
    ftle_c = np.full((S, pool), np.nan)
    say = _say if progress else (lambda msg: None)
    if pool > 1:
        say(f"macro FTLE of {S * pool} candidate networks")
        cands = [j * pool + i for j in samples for i in range(pool)]
        ftle_c = macro_ftle(net, cands, learn, xp=xp).reshape(S, pool)
    pick = select_index(ftle_c, learn.select_by, learn.ftle_target)
    selected = [anchors[s] + int(i) for s, i in enumerate(pick)] if pool > 1 else anchors
    ids, ftle, knob, Js = {}, {}, {}, {}

    def drawn(ks):
        return np.stack([realization_couplings(net, learn.seed, k, dtype=dtype) for k in ks])

    for c in conds:
        base = selected if c.startswith("select") else anchors
        ids[c] = base
        if c.endswith("pretrain"):
            say(f"pre-training {S} networks ({c})")
            pt = pretrain_networks(net, base, learn, xp=xp)
            Js[c], knob[c], ftle[c] = pt["couplings"], pt["value"], pt["ftle"]
        else:
            Js[c] = drawn(base)
            knob[c] = np.full(S, np.nan)
            if pool > 1:
                ftle[c] = np.array([ftle_c[s, base[s] - anchors[s]] for s in range(S)])
            else:
                ftle[c] = np.full(S, np.nan)
    res = {}
    for c in conds:
        say(f"learning: {c}")
        res[c] = evaluate(net, learn, anchors, Js[c], datasets, xp=xp)
    out = {k: np.stack([res[c][k] for c in conds]) for k in res[conds[0]]}
    out["network_id"] = np.array([ids[c] for c in conds], dtype=np.int64)
    out["ftle_macro"] = np.array([ftle[c] for c in conds])
    out["pretrain_value"] = np.array([knob[c] for c in conds])
    out["ftle_candidates"] = ftle_c
    out["n_train"] = learn.train_sizes()
    return out
