r"""The founding claims of the project in their own protocols (issue 17, item 2), with paired statistics.

Four experiments, each over ``pools`` independent connectivity pools or
realizations of the critically balanced network at one ``(g, J0)``; every
comparison is paired (the same pool, input/feedback weights, initial states
and task data under every condition) and tested with the Wilcoxon
signed-rank test (:func:`scipy.stats.wilcoxon`, two-sided).  The measured
outcomes are in docs/learning_experiments.md.

``target`` (claim 2: selection by macro FTLE).
    An input cue (``cue`` samples of u = 1 after ``t_pre`` silent samples),
    then the readout must produce the trajectory
    :math:`y(t) = \sin(4\pi t/T_r)\,\sin(\pi t/T_r)` over the response
    window :math:`T_r` (``t_resp`` samples); the readout output is fed back
    (``feedback_scale``).  The readout is ridge regression on teacher-forced
    states of ``init_states`` training trials (each from its own random
    initial state); the test runs closed-loop (the output fed back) from
    ``init_states`` other initial states.  From each pool of ``pool_size``
    realizations the network is chosen by the macro FTLE
    (:func:`balnet.learning.pretrain.macro_ftle`): ``lowest``, ``nearest0``
    (smallest :math:`|\lambda|`) and ``random`` (the control; index from
    stream ``(anchor, TASK_DATA, 1)``).  Measured per pool: the mean test
    NRMSE over initial states, the spread of the error (standard deviation
    over initial states) and the output spread
    :math:`\sqrt{\langle \mathrm{Var}_b\, z_b(t)\rangle_t}/\mathrm{std}(y)`.

``association`` (claim 3: pre-training toward macro FTLE 0).
    Delayed association (:func:`balnet.learning.tasks.delayed_association`, cue
    to go ``delay`` samples) with a ridge readout, on the drawn network
    (``untrained``), after pre-training the knob ``pretrain_knob`` by
    :func:`balnet.learning.pretrain.pretrain_networks` (``pretrained``), and
    after a random change of the same Frobenius norm
    :math:`J + \|\Delta J\|_F\, Z/\|Z\|_F` (``random``, Z Gaussian from stream
    ``(k, TASK_DATA, 2)``).

``curves`` (claim 4: GP-regularized SGD).
    Learning curves of delayed association (test NRMSE on clean targets vs
    number of training trials with label noise ``noise_levels``, in units of
    the target std) for ``ridge``, plain ``sgd`` and ``gpsgd`` on the same
    states.

``reward`` (claim 5: a reinforcement-learning task).
    Reward-modulated Hebbian readout learning, the EH rule of Hoerzer,
    Legenstein & Maass (Cereb. Cortex 24, 677, 2014), on periodic target
    generation (the ``sines`` task) with output feedback, against FORCE
    (:func:`balnet.learning.reservoir.force_learn`) on the same networks:

    .. math::
        z = W^\top r + \xi,\quad P = -(z - f)^2,\quad
        M = [P > \bar P],\quad \Delta W = \eta(t)\,(z - \bar z)\,M\,r^\top

    where :math:`\xi` is exploration noise uniform on ``[-eh_noise, eh_noise]``,
    :math:`\bar P, \bar z` are exponential running means (factor ``eh_filter`` per
    sample) and :math:`\eta(t) = \eta_0/(1 + t/T_\eta)`.  The score is the
    free-running NRMSE after learning (weights frozen, no exploration noise).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..engine.params import ConfigError, NetworkParams, _f, from_mapping
from ..engine.random import TASK_DATA, stream
from ..model.network import realization_couplings
from ..model.simulate import trial_states
from .pretrain import macro_ftle, pretrain_networks
from .readout import RLS
from .reservoir import LearnParams, build_reservoir, evaluate, force_learn, make_dataset
from .tasks import sines

__all__ = ["EXPERIMENTS", "ExperimentParams", "paired", "run_experiment", "target_experiment",
           "association_experiment", "curves_experiment", "reward_experiment"]

EXPERIMENTS = ("target", "association", "curves", "reward")


@dataclass(frozen=True)
class ExperimentParams:
    """The ``experiments:`` section: one network (N, g, J0), the pools and each experiment's knobs."""

    N: int = _f(100, "number of neurons")
    g: float = _f(1.5, "scale of the random coupling")
    J0: float = _f(1.0, "strength of the balanced mean coupling")
    pools: int = _f(16, "independent pools / realizations (the n of every paired test)")
    pool_size: int = _f(4, "target: realizations per selection pool (same g, J0)")
    init_states: int = _f(8, "target: initial states for training and, others, for testing")
    seed: int = _f(0, "root seed")
    dt: float = _f(0.1, "target: Euler step = sample interval", "tau")
    t_pre: int = _f(20, "target: silent samples before the cue")
    cue: int = _f(10, "target: cue length (samples)")
    t_resp: int = _f(300, "target: response window (samples)")
    input_scale: float = _f(5.0, "target: input weights uniform on [-s, s] (a strong cue resets the state)")
    feedback_scale: float = _f(1.0, "feedback weights uniform on [-s, s]")
    passes: int = _f(5, "target: FORCE passes over the training initial states")
    delay: int = _f(20, "association: cue-to-go delay (samples of 1 tau)")
    n_train: int = _f(200, "association/curves: training trials (largest)")
    n_test: int = _f(200, "association/curves: test trials")
    pretrain_knob: str = _f("g", "association: what pre-training changes: g, balance or J0")
    pretrain_min: float = _f(0.5, "association: lower end of the knob search")
    pretrain_max: float = _f(2.5, "association: upper end of the knob search")
    pretrain_iters: int = _f(5, "association: bisection steps")
    noise_levels: str = _f("0.3,1.0", "curves: label-noise levels (target std units), comma separated")
    epochs: int = _f(30, "curves: SGD epochs")
    n_points: int = _f(5, "curves: points of the learning curve")
    reward_N: int = _f(200, "reward: number of neurons (SCS-like, J0 = 0 as in Hoerzer et al.)")
    reward_g: float = _f(1.5, "reward: random coupling scale")
    reward_train: int = _f(20000, "reward: training samples of the EH rule (dt = 0.1 tau each)")
    force_train: int = _f(6000, "reward: training samples of FORCE")
    reward_test: int = _f(1000, "reward: free-running test samples")
    period: float = _f(20.0, "reward: period of the target", "tau")
    n_harmonics: int = _f(1, "reward: sine components of the target")
    eh_lr: float = _f(5e-4, "reward: EH learning rate eta_0")
    eh_lr_decay: float = _f(5000.0, "reward: eta halves after this many samples")
    eh_noise: float = _f(0.5, "reward: exploration noise amplitude")
    eh_filter: float = _f(0.2, "reward: running-mean factor of P and z per sample")
    ftle_T: float = _f(300.0, "macro-FTLE measurement length", "tau")
    ftle_window: float = _f(100.0, "macro-FTLE window (long: the start offset -log(sqrt N_E)/window is small)", "tau")
    ftle_dt: float = _f(0.1, "macro-FTLE step", "tau")
    ftle_warmup: float = _f(50.0, "macro-FTLE transient", "tau")
    ftle_trials: int = _f(2, "macro-FTLE initial states")
    I0: float = _f(0.0, "constant input")
    backend: str = _f("numpy", "numpy (the experiments are small)")
    dtype: str = _f("float64", "float32 or float64")

    def validate(self) -> None:
        for name in ("N", "pools", "pool_size", "init_states", "passes", "cue", "t_resp", "delay", "n_train", "n_test",
                     "pretrain_iters", "epochs", "n_points", "reward_N", "reward_train", "force_train", "reward_test",
                     "n_harmonics", "ftle_trials"):
            if getattr(self, name) < 1:
                raise ConfigError(f"experiments: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("dt", "period", "ftle_T", "ftle_window", "ftle_dt", "eh_lr", "eh_lr_decay", "eh_filter"):
            v = getattr(self, name)
            if not (v > 0 and math.isfinite(v)):
                raise ConfigError(f"experiments: {name} must be a positive number, got {v}")
        if self.ftle_window > self.ftle_T:
            raise ConfigError("experiments: ftle_window exceeds ftle_T")
        if self.pretrain_knob not in ("g", "balance", "J0"):
            raise ConfigError(f"experiments: pretrain_knob must be g, balance or J0, got {self.pretrain_knob!r}")
        self.noise()

    def noise(self) -> list[float]:
        try:
            v = [float(s) for s in str(self.noise_levels).split(",") if s.strip()]
        except ValueError:
            raise ConfigError(f"experiments: noise_levels must be numbers separated by commas, got {self.noise_levels!r}") from None
        if not v or any(x < 0 for x in v):
            raise ConfigError("experiments: noise_levels must be >= 0")
        return v

    def network(self, **kw) -> NetworkParams:
        return from_mapping(NetworkParams, dict(N=self.N, g=self.g, J0=self.J0, **kw))


def paired(a, b) -> dict:
    """Paired comparison of ``a`` vs ``b`` (same pools): mean difference a - b, its standard error, the
    number of pools where a < b, and the two-sided Wilcoxon signed-rank p-value (NaN if all equal)."""
    from scipy.stats import wilcoxon

    a, b = np.asarray(a, float), np.asarray(b, float)
    d = a - b
    ok = np.isfinite(d)
    d = d[ok]
    p = float(wilcoxon(d).pvalue) if np.any(d != 0) else float("nan")
    return dict(mean_diff=float(d.mean()), se=float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan"),
                n=int(len(d)), n_less=int((d < 0).sum()), p=p)


def _say(progress, msg):
    if progress:
        import sys

        print(f"balnet experiment: {msg}", file=sys.stderr, flush=True)


# -- a. target generation with selection by macro FTLE ------------------------------------------------
def target_signal(p: ExperimentParams) -> tuple[np.ndarray, np.ndarray]:
    """Input ``(T, 1)`` and target ``(T, 1)`` of one target-generation trial (target 0 before the response)."""
    T = p.t_pre + p.cue + p.t_resp
    u = np.zeros((T, 1))
    u[p.t_pre : p.t_pre + p.cue, 0] = 1.0
    y = np.zeros((T, 1))
    t = np.arange(p.t_resp) / p.t_resp
    y[p.t_pre + p.cue :, 0] = np.sin(4 * np.pi * t) * np.sin(np.pi * t)
    return u, y


def _target_scores(p: ExperimentParams, net: NetworkParams, anchors, J, xp=np) -> dict:
    """Train by FORCE over trials and test closed loop the networks ``J`` ``(S, N, N)``; anchors name the weight
    and initial-state streams.  Returns the test NRMSE per initial state ``(S, B)``, the output spread ``(S,)``
    and the test outputs ``(S, B, T)``."""
    S, N, B = len(anchors), p.N, p.init_states
    res = build_reservoir(net, anchors, p.seed, n_in=1, n_out=1, input_scale=p.input_scale,
                          feedback_scale=p.feedback_scale, dt=p.dt, couplings=J, xp=xp)
    u1, y1 = target_signal(p)
    T = len(u1)
    u = np.broadcast_to(u1[None, None], (S, 1, T, 1))
    x0 = trial_states(N, anchors, 0, B, p.seed, 1.0, xp, np.float64)
    rls = RLS(N, 1, 1.0, batch_shape=(S,), xp=xp, dtype=np.float64)
    for _ in range(p.passes):
        for b in range(B):
            x, z = x0[:, b : b + 1], None
            for n in range(T):
                x = res.advance(x, u[:, :, n], z)
                r = res.rates(x)[:, 0]
                zz = rls.predict(r)
                if n >= p.t_pre:
                    rls.update(r, zz - y1[n])
                z = zz[:, None]
    # closed loop from other initial states with the readout frozen
    W = rls.W
    x = trial_states(N, anchors, B, B, p.seed, 1.0, xp, np.float64)
    uB = np.broadcast_to(u1[None, None], (S, B, T, 1))
    z = None
    out = np.zeros((S, B, T))
    for n in range(T):
        x = res.advance(x, uB[:, :, n], z)
        z = res.rates(x) @ W  # (S, B, 1)
        out[:, :, n] = z[..., 0]
    w = slice(p.t_pre + p.cue, T)
    var = y1[w, 0].var()
    err = np.sqrt(((out[:, :, w] - y1[w, 0]) ** 2).mean(-1) / var)  # (S, B)
    spread = np.sqrt(out[:, :, w].var(1).mean(-1) / var)  # (S,)
    return dict(nrmse=err, spread=spread, z=out)


def target_experiment(p: ExperimentParams, progress: bool = False) -> dict:
    net = p.network()
    K, Pn = p.pool_size, p.pools
    anchors = [j * K for j in range(Pn)]
    cands = [j * K + i for j in range(Pn) for i in range(K)]
    _say(progress, f"target: macro FTLE of {len(cands)} networks")
    ftle = macro_ftle(net, cands, p, xp=np).reshape(Pn, K)
    rules = {"lowest": ftle.argmin(1), "nearest0": np.abs(ftle).argmin(1),
             "random": np.array([stream(p.seed, a, TASK_DATA, 1).integers(K) for a in anchors])}
    out = dict(ftle_candidates=ftle, conditions=list(rules))
    scores = {}
    for c, idx in rules.items():
        _say(progress, f"target: {c}")
        J = np.stack([realization_couplings(net, p.seed, a + int(i)) for a, i in zip(anchors, idx)])
        s = _target_scores(p, net, anchors, J)
        scores[c] = s
        out[f"{c}_index"] = idx
    out["test_nrmse"] = np.stack([scores[c]["nrmse"] for c in rules])  # (C, pools, B)
    out["output_spread"] = np.stack([scores[c]["spread"] for c in rules])  # (C, pools)
    out["example_output"] = np.stack([scores[c]["z"][0] for c in rules])  # (C, B, T)
    out["target"] = target_signal(p)[1][:, 0]
    mean_err = out["test_nrmse"].mean(-1)
    sd_err = out["test_nrmse"].std(-1)
    metrics = (("mean_nrmse", mean_err), ("sd_nrmse", sd_err), ("output_spread", out["output_spread"]))
    out["stats"] = {f"{c}_vs_random_{m}": paired(v[i], v[2]) for i, c in enumerate(("lowest", "nearest0"))
                    for m, v in metrics}
    out["stats"].update({f"nearest0_vs_lowest_{m}": paired(v[1], v[0]) for m, v in metrics})
    return out


# -- b. delayed association with pre-training -------------------------------------------------------
def _assoc_learn(p: ExperimentParams) -> LearnParams:
    return from_mapping(LearnParams, dict(
        task="delayed_association", readout="ridge", realizations=p.pools, seed=p.seed, delay=p.delay,
        n_train=p.n_train, n_test=p.n_test, n_min=p.n_train, n_points=1, pretrain_knob=p.pretrain_knob,
        pretrain_min=p.pretrain_min, pretrain_max=p.pretrain_max, pretrain_iters=p.pretrain_iters,
        ftle_T=p.ftle_T, ftle_window=p.ftle_window, ftle_dt=p.ftle_dt, ftle_warmup=p.ftle_warmup,
        ftle_trials=p.ftle_trials, backend="numpy", pretrain=True))


def association_experiment(p: ExperimentParams, progress: bool = False) -> dict:
    net = p.network()
    learn = _assoc_learn(p)
    ids = list(range(p.pools))
    datasets = [make_dataset(learn, learn.seed, k) for k in ids]
    J = np.stack([realization_couplings(net, p.seed, k) for k in ids])
    _say(progress, f"association: pre-training {p.pools} networks ({p.pretrain_knob})")
    pt = pretrain_networks(net, ids, learn, xp=np)
    Jp = pt["couplings"]
    dJ = np.sqrt(((Jp - J) ** 2).sum((1, 2)))
    Z = np.stack([stream(p.seed, k, TASK_DATA, 2).standard_normal((p.N, p.N)) for k in ids])
    Jr = J + (dJ / np.sqrt((Z ** 2).sum((1, 2))))[:, None, None] * Z
    conds = {"untrained": J, "pretrained": Jp, "random": Jr}
    out = dict(conditions=list(conds), ftle_initial=pt["ftle_initial"], ftle_pretrained=pt["ftle"],
               knob_value=pt["value"], change_norm=dJ / np.sqrt((J ** 2).sum((1, 2))))
    nr, acc = [], []
    for c, Jc in conds.items():
        _say(progress, f"association: {c}")
        e = evaluate(net, learn, ids, Jc, datasets, xp=np)
        nr.append(e["test_nrmse"][:, -1])
        acc.append(e["accuracy"][:, -1])
    out["test_nrmse"], out["accuracy"] = np.stack(nr), np.stack(acc)
    out["stats"] = {"pretrained_vs_untrained_nrmse": paired(out["test_nrmse"][1], out["test_nrmse"][0]),
                    "pretrained_vs_random_nrmse": paired(out["test_nrmse"][1], out["test_nrmse"][2]),
                    "random_vs_untrained_nrmse": paired(out["test_nrmse"][2], out["test_nrmse"][0])}
    return out


# -- c. learning curves of SGD, GP-SGD and ridge under label noise -------------------------------------
def curves_experiment(p: ExperimentParams, progress: bool = False) -> dict:
    net = p.network()
    ids = list(range(p.pools))
    J = np.stack([realization_couplings(net, p.seed, k) for k in ids])
    readouts = ("ridge", "sgd", "gpsgd")
    levels = p.noise()
    res = np.empty((len(levels), len(readouts), p.pools, 0)).tolist()
    arr = None
    for a, noise in enumerate(levels):
        for b, ro in enumerate(readouts):
            _say(progress, f"curves: noise {noise}, {ro}")
            learn = from_mapping(LearnParams, dict(
                task="delayed_association", readout=ro, realizations=p.pools, seed=p.seed, delay=p.delay,
                n_train=p.n_train, n_test=p.n_test, n_min=10, n_points=p.n_points, epochs=p.epochs,
                target_noise=noise, backend="numpy"))
            datasets = [make_dataset(learn, learn.seed, k) for k in ids]
            e = evaluate(net, learn, ids, J, datasets, xp=np)
            if arr is None:
                ns = learn.train_sizes()
                arr = np.empty((len(levels), len(readouts), p.pools, len(ns)))
            arr[a, b] = e["test_nrmse"]
    del res
    out = dict(readouts=list(readouts), noise_levels=np.array(levels), n_train=ns, test_nrmse=arr, stats={})
    for a, noise in enumerate(levels):
        for j, n in ((0, ns[0]), (len(ns) - 1, ns[-1])):
            out["stats"][f"noise{noise}_n{n}_gpsgd_vs_sgd"] = paired(arr[a, 2, :, j], arr[a, 1, :, j])
            out["stats"][f"noise{noise}_n{n}_gpsgd_vs_ridge"] = paired(arr[a, 2, :, j], arr[a, 0, :, j])
    return out


# -- d. reward-modulated Hebbian readout vs FORCE -------------------------------------------------------
def eh_learn(res, y_train, y_test, x0, rngs, *, lr: float, lr_decay: float, noise: float, filt: float):
    """EH rule (Hoerzer et al. 2014) for ``R`` networks at once; returns the free-running test NRMSE ``(R,)``,
    the training outputs ``(R, T)`` and the free-running outputs ``(R, T_test)``."""
    R, T, _ = y_train.shape
    N = res.N
    W = np.zeros((R, N, 1))
    u0 = np.zeros((R, 1, res.W_in.shape[1]))
    x, z = x0, np.zeros((R, 1, 1))
    Pbar = np.zeros(R)
    zbar = np.zeros(R)
    ztr = np.empty((R, T))
    for n in range(T):
        x = res.advance(x, u0, z)
        r = res.rates(x)[:, 0]  # (R, N)
        xi = np.array([g.uniform(-noise, noise) for g in rngs])
        zz = (r[:, None, :] @ W)[:, 0, 0] + xi
        P = -((zz - y_train[:, n, 0]) ** 2)
        M = (P > Pbar).astype(float)
        eta = lr / (1.0 + n / lr_decay)
        W += (eta * (zz - zbar) * M)[:, None, None] * r[:, :, None]
        Pbar = (1 - filt) * Pbar + filt * P
        zbar = (1 - filt) * zbar + filt * zz
        ztr[:, n] = zz
        z = zz[:, None, None]
    # free run: frozen weights, no exploration
    zt = np.empty((R, y_test.shape[1]))
    z = z - xi[:, None, None]
    for n in range(y_test.shape[1]):
        x = res.advance(x, u0, z)
        zz = (res.rates(x)[:, 0][:, None, :] @ W)[:, 0, 0]
        zt[:, n] = zz
        z = zz[:, None, None]
    err = np.sqrt(((zt - y_test[..., 0]) ** 2).mean(1) / y_test[..., 0].var(1))
    return err, ztr, zt


def reward_experiment(p: ExperimentParams, progress: bool = False) -> dict:
    net = from_mapping(NetworkParams, dict(N=p.reward_N, g=p.reward_g, J0=0.0))
    ids = list(range(p.pools))
    dt = 0.1
    T_tr = max(p.reward_train, p.force_train)
    ds = [sines(stream(p.seed, k, TASK_DATA), T_tr, p.reward_test, delta=dt, period=p.period,
                n_harmonics=p.n_harmonics) for k in ids]
    ytr = np.stack([d.y_train[0] for d in ds])
    yte_all = np.stack([np.concatenate([d.y_train[0], d.y_test[0]]) for d in ds])
    res = build_reservoir(net, ids, p.seed, n_in=0, n_out=1, feedback_scale=p.feedback_scale, dt=dt, xp=np)
    x0 = trial_states(p.reward_N, ids, 0, 1, p.seed, 1.0, np, np.float64)
    _say(progress, f"reward: EH rule, {p.reward_train} samples")
    rngs = [stream(p.seed, k, TASK_DATA, 3) for k in ids]
    e_eh, ztr, zte = eh_learn(res, ytr[:, : p.reward_train], yte_all[:, p.reward_train : p.reward_train + p.reward_test],
                              x0, rngs, lr=p.eh_lr, lr_decay=p.eh_lr_decay, noise=p.eh_noise, filt=p.eh_filter)
    _say(progress, f"reward: FORCE, {p.force_train} samples")
    fr = force_learn(res, ytr[:, : p.force_train], yte_all[:, p.force_train : p.force_train + p.reward_test], x0,
                     alpha=1.0, learn_every=1)
    e_force = fr.test_nrmse[:, -1, 0]
    # running training error of EH in blocks of one period
    blk = max(1, int(round(p.period / dt)))
    nb = p.reward_train // blk
    d = (ztr[:, : nb * blk] - ytr[:, : nb * blk, 0]).reshape(len(ids), nb, blk)
    train_curve = np.sqrt((d ** 2).mean(-1) / ytr[:, :, 0].var(1)[:, None])
    out = dict(conditions=["eh", "force"], test_nrmse=np.stack([e_eh, e_force]), eh_train_curve=train_curve,
               eh_test_output=zte[0], force_test_output=fr.z_test[0, :, 0],
               target_test=yte_all[0, p.reward_train : p.reward_train + p.reward_test],
               stats={"eh_vs_force_nrmse": paired(e_eh, e_force)})
    return out


RUNNERS = {"target": target_experiment, "association": association_experiment, "curves": curves_experiment,
           "reward": reward_experiment}


def run_experiment(name: str, p: ExperimentParams, progress: bool = False) -> dict:
    if name not in RUNNERS:
        raise ConfigError(f"unknown experiment {name!r} (choose {', '.join(EXPERIMENTS)})")
    return RUNNERS[name](p, progress)
