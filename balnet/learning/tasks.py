r"""Reservoir-computing tasks with train/test splits, noise options and scores.

Every generator takes an explicit :class:`numpy.random.Generator` and returns a
:class:`Dataset` of host arrays.  Sequences are batched as ``(B, T, n)``:
``B`` independent sequences (trials) of ``T`` samples with ``n`` channels.
The sample interval ``Delta`` (in units of the membrane time constant
:math:`\tau`) is set by the reservoir (``dt * substeps``), not by the task;
task time constants below are given in samples unless stated otherwise.

Tasks
-----
* :func:`sines`: autonomous generation of a periodic or quasi-periodic sum of
  sines (no input; needs output feedback, e.g. FORCE).
* :func:`delayed_association`: temporally sparse inputs (a brief cue pulse, a
  long silent delay, a brief go pulse); the output must produce the value
  associated with the cue in a response window after the go pulse.
* :func:`narma10`: tenth-order nonlinear autoregressive moving average
  (Atiya & Parlos, IEEE TNN 11, 697, 2000; Jaeger, NIPS 2002).
* :func:`mackey_glass`: prediction of the Mackey–Glass delay system
  (Mackey & Glass, Science 197, 287, 1977), integrated by
  :func:`mackey_glass_series`.
* :func:`memory_task`: linear short-term memory, scored by the memory
  capacity :func:`memory_capacity` (Jaeger, GMD Report 152, 2001).

Scores: :func:`nrmse`, :func:`memory_capacity`, :func:`accuracy`.

Noise options (all tasks): ``input_noise`` adds i.i.d. Gaussian noise of that
standard deviation to every input sample (train and test: it is part of the
environment); ``target_noise`` adds i.i.d. Gaussian label noise of that
standard deviation, in units of the target's standard deviation, to the
*training* targets only (test targets stay clean, so test errors measure
generalization).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

from ..engine.params import ConfigError

__all__ = [
    "Dataset",
    "TASKS",
    "make_task",
    "sines",
    "delayed_association",
    "narma10_series",
    "narma10",
    "mackey_glass_series",
    "mackey_glass",
    "memory_task",
    "nrmse",
    "memory_capacity",
    "accuracy",
]


@dataclass
class Dataset:
    r"""A supervised sequence task split into a training and a test part.

    Attributes
    ----------
    name : str
    u_train, u_test : ndarray, shape ``(B, T, n_in)``
        Inputs (``n_in`` may be 0 for autonomous generation).
    y_train, y_test : ndarray, shape ``(B, T, n_out)``
        Targets; ``y[b, t]`` is to be read out from the state *after* the
        reservoir has received ``u[b, t]``.  ``y_train`` carries the label
        noise, ``y_test`` is clean.
    mask_train, mask_test : ndarray of bool, shape ``(T,)``
        Samples that are fitted and scored (the same for every sequence):
        everything after the washout, or the response window of a trial.
    washout : int
        Leading samples of each sequence that are never fitted or scored.
    feedback : bool
        True when the target must be generated autonomously (output fed back).
    unit : str
        What one training unit counts: ``"sample"`` (one time step of one long
        sequence) or ``"trial"`` (one sequence of the batch).
    meta : dict
        Task parameters (written to the output file).
    """

    name: str
    u_train: np.ndarray
    y_train: np.ndarray
    u_test: np.ndarray
    y_test: np.ndarray
    mask_train: np.ndarray
    mask_test: np.ndarray
    washout: int = 0
    feedback: bool = False
    unit: str = "sample"
    meta: dict = field(default_factory=dict)

    @property
    def n_in(self) -> int:
        return self.u_train.shape[-1]

    @property
    def n_out(self) -> int:
        return self.y_train.shape[-1]

    def n_units_train(self) -> int:
        """Training units available (samples after washout, or trials)."""
        if self.unit == "trial":
            return self.u_train.shape[0]
        return int(self.mask_train.sum()) * self.u_train.shape[0]


# -- noise helpers -------------------------------------------------------------
def _noisy(rng: np.random.Generator, u_train, u_test, y_train, input_noise: float, target_noise: float):
    if input_noise < 0 or target_noise < 0:
        raise ConfigError("input_noise and target_noise must be >= 0")
    if input_noise > 0 and u_train.shape[-1] > 0:
        u_train = u_train + input_noise * rng.standard_normal(u_train.shape)
        u_test = u_test + input_noise * rng.standard_normal(u_test.shape)
    if target_noise > 0:
        sd = y_train.reshape(-1, y_train.shape[-1]).std(0)
        y_train = y_train + target_noise * sd * rng.standard_normal(y_train.shape)
    return u_train, u_test, y_train


def _check_pos(**kw):
    for k, v in kw.items():
        if not (v >= 1):
            raise ConfigError(f"{k} must be >= 1, got {v}")


# -- periodic / quasi-periodic generation --------------------------------------
GOLDEN = 0.5 * (1.0 + np.sqrt(5.0))


def sines(
    rng: np.random.Generator,
    n_train: int,
    n_test: int,
    *,
    delta: float = 1.0,
    period: float = 60.0,
    n_harmonics: int = 4,
    quasi: bool = False,
    amplitude: float = 1.0,
    random_phase: bool = True,
    washout: int = 0,
    input_noise: float = 0.0,
    target_noise: float = 0.0,
) -> Dataset:
    r"""Sum-of-sines target to be generated autonomously (no input).

    .. math::
        f(t) = \frac{A}{c} \sum_{k=1}^{K} \frac{1}{k}\,\sin\!\Big(\frac{2\pi t}{P_k} + \varphi_k\Big)

    where:

    * ``P_k = P / k`` (periodic, period ``P``: harmonics), or, with
      ``quasi=True``, ``P_k = P / \gamma^{k-1}`` with the golden ratio
      :math:`\gamma` (incommensurate frequencies: quasi-periodic);
    * :math:`\varphi_k` uniform on :math:`[0, 2\pi)` when ``random_phase`` (else 0);
    * ``c`` normalizes the maximum of :math:`|f|` over the generated training
      part to ``A``;
    * ``t = n * delta`` (``delta``: sample interval in :math:`\tau`, the same
      value the reservoir uses).

    The test part continues the training part in time (samples
    ``n_train .. n_train + n_test - 1``), as required for free-running
    generation after learning.  Sussillo & Abbott (Neuron 63, 544, 2009)
    train FORCE on such targets (their Fig. 2 uses a sum of four sines).

    Returns a :class:`Dataset` with ``n_in = 0``, ``n_out = 1``, one sequence,
    ``feedback=True``.
    """
    _check_pos(n_train=n_train, n_test=n_test, n_harmonics=n_harmonics)
    if period <= 0 or delta <= 0:
        raise ConfigError("period and delta must be > 0")
    k = np.arange(1, n_harmonics + 1)
    periods = period / (GOLDEN ** (k - 1) if quasi else k)
    phases = rng.uniform(0, 2 * np.pi, n_harmonics) if random_phase else np.zeros(n_harmonics)
    n_all = washout + n_train + n_test
    t = np.arange(n_all) * delta
    f = (np.sin(2 * np.pi * t[:, None] / periods[None, :] + phases[None, :]) / k[None, :]).sum(1)
    f *= amplitude / np.abs(f[: washout + n_train]).max()
    y = f[None, :, None]
    u = np.zeros((1, n_all, 0))
    y_tr, y_te = y[:, : washout + n_train], y[:, washout + n_train :]
    u_tr, u_te = u[:, : washout + n_train], u[:, washout + n_train :]
    u_tr, u_te, y_tr_noisy = _noisy(rng, u_tr, u_te, y_tr, input_noise, target_noise)
    mtr = np.zeros(washout + n_train, bool)
    mtr[washout:] = True
    return Dataset(
        "sines", u_tr, y_tr_noisy, u_te, y_te, mtr, np.ones(n_test, bool), washout=washout, feedback=True,
        meta=dict(delta=delta, period=period, n_harmonics=n_harmonics, quasi=quasi, amplitude=amplitude,
                  periods=periods.tolist(), phases=phases.tolist()),
    )


# -- delayed association ---------------------------------------------------------
def delayed_association(
    rng: np.random.Generator,
    n_train: int,
    n_test: int,
    *,
    n_cues: int = 2,
    t_pre: int = 10,
    pulse: int = 2,
    delay: int = 20,
    jitter: int = 0,
    t_resp: int = 5,
    amplitude: float = 1.0,
    input_noise: float = 0.0,
    target_noise: float = 0.0,
) -> Dataset:
    r"""Delayed association with temporally sparse inputs (one trial per sequence).

    Trial layout (samples)::

        | t_pre (silent) | cue pulse | delay +- jitter (silent) | go pulse | response t_resp |

    Inputs have ``n_cues + 1`` channels: cue ``c`` (drawn uniformly from
    ``0..n_cues-1``) is a pulse of height ``amplitude`` and width ``pulse`` on
    channel ``c``; the go pulse is on the last channel.  The target is 0 except
    in the response window after the go pulse, where it equals the value
    associated with the cue,

    .. math::
        y = v_c, \qquad v_c = -1 + \frac{2c}{n_{cues}-1}\quad(v = \pm 1 \text{ for two cues}).

    The go pulse and response window are at fixed samples; with ``jitter`` > 0
    the cue onset is shifted earlier by a uniform integer in ``[0, 2 jitter]``
    (cue-to-go interval ``delay .. delay + 2 jitter``), so the mask is the same
    for every trial.  Only the response window is fitted and scored
    (``mask``).  Trials start from independent network states; ``t_pre`` lets
    the network settle onto its spontaneous activity before the cue.

    Returns a :class:`Dataset` with ``unit = "trial"``: ``u`` of shape
    ``(n_trials, T, n_cues + 1)``, ``y`` of shape ``(n_trials, T, 1)``,
    ``T = t_pre + 2 jitter + pulse + delay + pulse + t_resp``.
    The cue of each trial is in ``meta["cues_train"]``/``meta["cues_test"]``.
    """
    _check_pos(n_train=n_train, n_test=n_test, pulse=pulse, t_resp=t_resp, delay=delay)
    if n_cues < 2:
        raise ConfigError(f"n_cues must be >= 2, got {n_cues}")
    if jitter < 0 or t_pre < 0:
        raise ConfigError("jitter and t_pre must be >= 0")
    T = t_pre + 2 * jitter + pulse + delay + pulse + t_resp
    values = np.linspace(-1.0, 1.0, n_cues)
    go = t_pre + 2 * jitter + pulse + delay

    def make(n):
        cues = rng.integers(0, n_cues, n)
        shift = rng.integers(0, 2 * jitter + 1, n) if jitter > 0 else np.zeros(n, int)
        u = np.zeros((n, T, n_cues + 1))
        y = np.zeros((n, T, 1))
        for b in range(n):
            on = t_pre + 2 * jitter - shift[b]
            u[b, on : on + pulse, cues[b]] = amplitude
        u[:, go : go + pulse, n_cues] = amplitude
        y[:, go + pulse :, 0] = values[cues][:, None]
        return u, y, cues

    u_tr, y_tr, c_tr = make(n_train)
    u_te, y_te, c_te = make(n_test)
    u_tr, u_te, y_tr_noisy = _noisy(rng, u_tr, u_te, y_tr, input_noise, target_noise)
    mask = np.zeros(T, bool)
    mask[go + pulse :] = True
    return Dataset(
        "delayed_association", u_tr, y_tr_noisy, u_te, y_te, mask, mask.copy(), washout=0, unit="trial",
        meta=dict(n_cues=n_cues, t_pre=t_pre, pulse=pulse, delay=delay, jitter=jitter, t_resp=t_resp,
                  amplitude=amplitude, values=values.tolist(), cues_train=c_tr.tolist(), cues_test=c_te.tolist()),
    )


# -- NARMA10 -------------------------------------------------------------------
def narma10_series(u: np.ndarray) -> np.ndarray:
    r"""NARMA10 output for input ``u`` (shape ``(T,)``), ``y[0..9] = 0``.

    .. math::
        y_{t+1} = 0.3\,y_t + 0.05\,y_t \sum_{i=0}^{9} y_{t-i} + 1.5\,u_{t-9}\,u_t + 0.1

    (Atiya & Parlos 2000).  Returns ``y`` of shape ``(T,)``; non-finite values
    signal a diverged sequence (rare for ``u`` uniform on ``[0, 0.5]``).
    """
    u = np.asarray(u, dtype=np.float64)
    y = np.zeros_like(u)
    s = 0.0  # running sum y_t + ... + y_{t-9}
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(9, len(u) - 1):
            s = y[t - 9 : t + 1].sum()
            y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * s + 1.5 * u[t - 9] * u[t] + 0.1
    return y


def narma10(
    rng: np.random.Generator,
    n_train: int,
    n_test: int,
    *,
    washout: int = 200,
    input_noise: float = 0.0,
    target_noise: float = 0.0,
) -> Dataset:
    r"""NARMA10 system identification: input :math:`u_t \sim U[0, 0.5]`, target :math:`y_{t+1}`.

    The pair at sample ``t`` is ``(u_t, y_{t+1})`` (see :func:`narma10_series`):
    the readout must produce :math:`y_{t+1}` from the state that has seen
    :math:`u_0..u_t`.  Training and test sequences are independent, each with
    ``washout`` unscored leading samples (which also hide the zero start of
    the recursion).  A diverged draw is redrawn from the same generator.
    Reference NRMSE of a tanh echo-state network with ridge readout is of order
    0.3 (N = 100), 0.2 (N = 200), 0.16 (N = 400) (e.g. Rodan & Tino, IEEE TNN
    22, 131, 2011, report NMSE for comparable set-ups).
    """
    _check_pos(n_train=n_train, n_test=n_test)
    if washout < 10:
        raise ConfigError(f"washout must be >= 10 for NARMA10, got {washout}")

    def make(n):
        for _ in range(100):
            u = rng.uniform(0.0, 0.5, n + washout + 1)
            y = narma10_series(u)
            if np.all(np.isfinite(y)) and np.abs(y).max() < 10:
                return u[:-1, None][None], y[1:, None][None]
        raise RuntimeError("NARMA10 diverged 100 times in a row")  # pragma: no cover

    u_tr, y_tr = make(n_train)
    u_te, y_te = make(n_test)
    u_tr, u_te, y_tr_noisy = _noisy(rng, u_tr, u_te, y_tr, input_noise, target_noise)
    m_tr = np.arange(n_train + washout) >= washout
    m_te = np.arange(n_test + washout) >= washout
    return Dataset("narma10", u_tr, y_tr_noisy, u_te, y_te, m_tr, m_te, washout=washout,
                   meta=dict(washout=washout))


# -- Mackey-Glass -----------------------------------------------------------------
def mackey_glass_series(
    n: int,
    rng: np.random.Generator | None = None,
    *,
    tau: float = 17.0,
    beta: float = 0.2,
    gamma: float = 0.1,
    power: float = 10.0,
    h: float = 0.1,
    sample: float = 1.0,
    t_discard: float = 1000.0,
    history=None,
    batch: int | None = None,
) -> np.ndarray:
    r"""Integrate the Mackey–Glass delay differential equation and sample it.

    .. math::
        \frac{dx}{dt} = \beta\,\frac{x(t-\tau_d)}{1 + x(t-\tau_d)^{p}} - \gamma\,x(t)

    (Mackey & Glass, Science 197, 287, 1977; chaotic for :math:`\tau_d = 17`,
    :math:`\beta = 0.2, \gamma = 0.1, p = 10`, the benchmark of Jaeger & Haas,
    Science 304, 78, 2004).

    Method: classical RK4 with step ``h`` adjusted so that :math:`\tau_d = m h`
    exactly; delayed values at grid points are read from the stored history,
    those at half steps from the cubic Hermite interpolant of the stored values
    and derivatives,
    :math:`x(t_i + h/2) \approx \tfrac12(x_i + x_{i+1}) + \tfrac h8 (\dot x_i - \dot x_{i+1})`,
    whose :math:`O(h^4)` error keeps the scheme fourth order (derivative
    breakpoints of the constant initial history fall on grid points).

    Parameters
    ----------
    n : int
        Number of samples returned.
    rng : Generator, optional
        Draws the constant initial history :math:`x(t \le 0)` uniformly from
        ``[0.5, 1.5]`` (one per series) when ``history`` is not given.
    h : float
        Integration step (time units of the equation).
    sample : float
        Sampling interval (rounded to a multiple of ``h``).
    t_discard : float
        Transient discarded before the first sample.
    history : float or array ``(batch,)``, optional
        Constant initial history.
    batch : int, optional
        Number of independent series integrated together (vectorized).

    Returns
    -------
    ndarray, shape ``(n,)`` or ``(batch, n)``.
    """
    if n < 1 or tau <= 0 or h <= 0 or sample <= 0 or t_discard < 0:
        raise ConfigError("mackey_glass_series: n >= 1, tau > 0, h > 0, sample > 0, t_discard >= 0 required")
    m = max(1, int(round(tau / h)))
    h = tau / m
    every = max(1, int(round(sample / h)))
    n_disc = int(round(t_discard / h))
    B = 1 if batch is None else int(batch)
    if history is None:
        if rng is None:
            raise ConfigError("mackey_glass_series needs rng or history")
        x0 = rng.uniform(0.5, 1.5, B)
    else:
        x0 = np.broadcast_to(np.asarray(history, dtype=np.float64), (B,)).copy()
    n_steps = n_disc + (n - 1) * every
    # ring buffers of the last m+1 states and derivatives
    xs = np.empty((m + 1, B))
    fs = np.empty((m + 1, B))
    xs[:] = x0
    fs[:] = 0.0  # constant history: zero derivative for t < 0

    def rhs(x, xd):
        return beta * xd / (1.0 + xd**power) - gamma * x

    x = x0.copy()
    # Slot j % (m+1) holds t_j; slots of t_{-m} .. t_{-1} hold the history.  The
    # history's derivative is 0; at t_0 the left derivative (0) serves the
    # interval [t_-1, t_0] and the right one the interval [t_0, t_1].
    f0_right = rhs(x, x0)
    out = np.empty((B, n))
    k = 0
    if n_disc == 0:
        out[:, 0] = x
        k = 1
    for i in range(n_steps):
        if i == m:
            fs[0] = f0_right
        a = (i + 1) % (m + 1)  # slot of t_{i-m} = t_i - tau
        b = (i + 2) % (m + 1)  # slot of t_{i-m+1}
        xa, xb = xs[a], xs[b]
        xm = 0.5 * (xa + xb) + (h / 8.0) * (fs[a] - fs[b])
        k1 = rhs(x, xa)
        k2 = rhs(x + 0.5 * h * k1, xm)
        k3 = rhs(x + 0.5 * h * k2, xm)
        k4 = rhs(x + h * k3, xb)
        x = x + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
        # t_{i+1} replaces t_{i-m}, which is no longer needed
        xs[a] = x
        fs[a] = rhs(x, xb)
        s = i + 1 - n_disc
        if s >= 0 and s % every == 0:
            out[:, k] = x
            k += 1
    return out[0] if batch is None else out


def mackey_glass(
    rng: np.random.Generator,
    n_train: int,
    n_test: int,
    *,
    horizon: int = 1,
    washout: int = 100,
    tau: float = 17.0,
    sample: float = 1.0,
    input_noise: float = 0.0,
    target_noise: float = 0.0,
) -> Dataset:
    r"""``horizon``-step-ahead prediction of the Mackey–Glass series.

    Input :math:`u_t = \tanh(x(t) - 1)`, target :math:`y_t = \tanh(x(t + H\,\Delta_s) - 1)`
    (the squashing of Jaeger & Haas 2004), ``H = horizon``, :math:`\Delta_s` =
    ``sample``.  The training and test sequences come from two independent
    initial histories (see :func:`mackey_glass_series`).
    """
    _check_pos(n_train=n_train, n_test=n_test, horizon=horizon)
    n_tr, n_te = washout + n_train, washout + n_test
    L = max(n_tr, n_te) + horizon
    s = np.tanh(mackey_glass_series(L, rng, tau=tau, sample=sample, batch=2) - 1.0)
    u_tr, y_tr = s[0, :n_tr, None][None], s[0, horizon : n_tr + horizon, None][None]
    u_te, y_te = s[1, :n_te, None][None], s[1, horizon : n_te + horizon, None][None]
    u_tr, u_te, y_tr_noisy = _noisy(rng, u_tr, u_te, y_tr, input_noise, target_noise)
    return Dataset("mackey_glass", u_tr, y_tr_noisy, u_te, y_te, np.arange(n_tr) >= washout,
                   np.arange(n_te) >= washout, washout=washout,
                   meta=dict(horizon=horizon, washout=washout, tau=tau, sample=sample))


# -- memory capacity --------------------------------------------------------------
def memory_task(
    rng: np.random.Generator,
    n_train: int,
    n_test: int,
    *,
    max_delay: int = 100,
    washout: int | None = None,
    scale: float = 1.0,
    input_noise: float = 0.0,
    target_noise: float = 0.0,
) -> Dataset:
    r"""Short-term memory task: recall past inputs :math:`u_{t-k}`, ``k = 1..K``.

    Input :math:`u_t` i.i.d. uniform on ``[-scale, scale]``; ``K = max_delay``
    outputs :math:`y_{t,k} = u_{t-k}`.  Scored by :func:`memory_capacity`.
    ``washout`` (default ``K``) must be at least ``K`` so every target exists.
    """
    _check_pos(n_train=n_train, n_test=n_test, max_delay=max_delay)
    washout = max_delay if washout is None else washout
    if washout < max_delay:
        raise ConfigError(f"washout ({washout}) must be >= max_delay ({max_delay})")

    def make(n):
        u = rng.uniform(-scale, scale, n + washout)
        y = np.stack([np.roll(u, k) for k in range(1, max_delay + 1)], axis=-1)
        return u[None, :, None], y[None]

    u_tr, y_tr = make(n_train)
    u_te, y_te = make(n_test)
    u_tr, u_te, y_tr_noisy = _noisy(rng, u_tr, u_te, y_tr, input_noise, target_noise)
    return Dataset("memory", u_tr, y_tr_noisy, u_te, y_te, np.arange(n_train + washout) >= washout,
                   np.arange(n_test + washout) >= washout, washout=washout,
                   meta=dict(max_delay=max_delay, washout=washout, scale=scale))


TASKS = {
    "sines": sines,
    "delayed_association": delayed_association,
    "narma10": narma10,
    "mackey_glass": mackey_glass,
    "memory": memory_task,
}


def make_task(name: str, rng: np.random.Generator, n_train: int, n_test: int, **kw) -> Dataset:
    """Dataset of task ``name`` (one of :data:`TASKS`); unknown names raise :class:`ConfigError`."""
    try:
        fn = TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown task {name!r} (choose {', '.join(TASKS)})") from None
    return fn(rng, n_train, n_test, **kw)


# -- scores ----------------------------------------------------------------------
def _masked(y, mask, xp):
    """Flatten samples selected by ``mask`` (``(T,)``) of ``y`` (``(..., B, T, M)``) to ``(..., n, M)``."""
    if mask is not None:
        idx = xp.asarray(np.flatnonzero(np.asarray(mask)))
        y = xp.take(y, idx, axis=-2)
    return y.reshape(*y.shape[:-3], -1, y.shape[-1])


def nrmse(y_pred, y_true, mask=None, *, xp: ModuleType = np):
    r"""Normalized root-mean-square error per output channel.

    .. math::
        \mathrm{NRMSE} = \sqrt{\frac{\langle(\hat y - y)^2\rangle}{\mathrm{Var}(y)}}

    where averages run over the sequences ``B`` and the samples selected by
    ``mask`` (shape ``(T,)``).  ``y_pred``, ``y_true``: ``(..., B, T, M)``;
    returns ``(..., M)``.  0 is perfect; 1 is as good as predicting the mean.
    """
    yp, yt = _masked(y_pred, mask, xp), _masked(y_true, mask, xp)
    mse = ((yp - yt) ** 2).mean(-2)
    return xp.sqrt(mse / yt.var(-2))


def memory_capacity(y_pred, y_true, mask=None, *, xp: ModuleType = np):
    r"""Memory capacity :math:`MC = \sum_k MC_k` (Jaeger 2001).

    .. math::
        MC_k = \frac{\mathrm{cov}^2(\hat y_k, u_{t-k})}{\mathrm{Var}(\hat y_k)\,\mathrm{Var}(u_{t-k})}

    ``y_pred``, ``y_true``: ``(..., B, T, K)`` with channel ``k-1`` holding
    delay ``k``.  Returns ``(MC (...), MC_k (..., K))``.  For ``N`` linear
    units :math:`MC \le N` (Jaeger 2001).
    """
    yp, yt = _masked(y_pred, mask, xp), _masked(y_true, mask, xp)
    yp = yp - yp.mean(-2, keepdims=True)
    yt = yt - yt.mean(-2, keepdims=True)
    c = (yp * yt).mean(-2)
    mck = c * c / (yp.var(-2) * yt.var(-2))
    return mck.sum(-1), mck


def accuracy(y_pred, y_true, mask=None, *, xp: ModuleType = np):
    """Fraction of sequences whose time-averaged output over ``mask`` is nearest to the true value's sign.

    For two-valued targets (``±v``, e.g. :func:`delayed_association` with two
    cues): a trial is correct when ``sign(mean_t y_pred) == sign(mean_t y_true)``.
    Shapes ``(..., B, T, M)``; returns ``(..., M)``.
    """
    idx = xp.asarray(np.flatnonzero(np.asarray(mask))) if mask is not None else None
    yp = y_pred if idx is None else xp.take(y_pred, idx, axis=-2)
    yt = y_true if idx is None else xp.take(y_true, idx, axis=-2)
    return (xp.sign(yp.mean(-2)) == xp.sign(yt.mean(-2))).mean(-2)
