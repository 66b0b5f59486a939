"""The four dual-sampling experiments, one small object each (run one chain, write, summarize, plot).

Every experiment is an :class:`Experiment`: ``run(p, k)`` runs chain ``k``
(drawing from ``stream(seed, k, DSNN, ...)``) and returns a dict of arrays;
``write`` adds its variables to the HDF5 file (chains gathered), ``summary``
gives its headline numbers (file attributes ``summary_*``), ``plot`` draws its
figure from a file's contents; ``ragged`` names the arrays whose length
differs between chains (padded with NaN), ``headline`` the summary keys of the
summary figure.  :data:`EXPERIMENTS` maps the names of ``DSNNParams.experiment``
to them.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import gamma

from ...engine.backend import get_xp, to_numpy
from ...engine.progress import progress_bar
from ...engine.random import DSNN, stream
from . import params as _params
from .analysis import (
    backprop_mlp,
    dominance_durations,
    effective_sample_size,
    gamma_fit,
    nll,
    power_law_exponent,
    relaxation_time,
    serial_correlation,
    split_rhat,
    switches,
)
from .data import (
    alternation_data,
    bar_masks,
    bars_data,
    digits_data,
    one_hot,
    prototype_data,
)
from .params import DSNNParams
from .sampler import (
    _Phi,
    accuracy,
    forward,
    gibbs_sweep,
    hidden_mean,
    init_net,
    predict_proba,
)

__all__ = [
    "EXPERIMENTS",
    "Alternation",
    "Classify",
    "Experiment",
    "Forget",
    "Sbm",
    "experiment",
    "run_alternation",
    "run_chain",
    "run_chains",
    "run_classify",
    "run_forget",
    "run_sbm",
]

# stream(seed, k, DSNN, sub): sub-purposes of chain k
_S_DATA, _S_INIT, _S_CHAIN, _S_BACKPROP, _S_EVAL, _S_AVG = 0, 1, 2, 3, 4, 5


def _sizes(p: DSNNParams, n_in, n_out):
    return (n_in, *([p.hidden] * p.layers), n_out)


def _data(p: DSNNParams, k):
    """Data of chain k: digits are split per chain; prototypes are drawn per chain."""
    rng = stream(p.seed, k, DSNN, _S_DATA)
    if p.dataset == "digits":
        xtr, ytr, xte, yte = digits_data(p.n_train, p.n_test, rng)
        return xtr, ytr, xte, yte, 10, False
    xtr, ytr, xte, yte, _ = prototype_data(p.n_train, p.n_test, rng, classes=p.classes, dim=p.dim, flip=p.flip)
    return xtr, ytr, xte, yte, p.classes, True


def _clamped_state(net, x, Y, rng):
    S = forward(net, x, rng)
    S[-1] = net.xp.asarray(Y, dtype=float).copy()
    return S


def run_classify(p: DSNNParams, k: int) -> dict:
    r"""Chain k of the classification experiment.

    Returns per evaluation point (every ``eval_every`` sweeps): test accuracy of
    the current synaptic sample (neurons averaged, ``acc_single``), of one
    neuron draw at that sample (``acc_draw``), of the posterior average
    (``acc_average``), the training accuracy, the relative synaptic distance
    from the sample at ``burn_in`` (``drift``); and the backprop baseline
    curve, the PCA spectrum of the hidden layer's stimulus-averaged activity
    over test inputs and its power-law exponent.

    Posterior average: after ``burn_in``, every ``average_every``-th synaptic
    sample enters

    .. math::
        \bar P(y \mid x) = \frac1{T}\sum_{t} \langle \Phi(a^L(x; W_t, s_t))\rangle_{s_t},

    where the output neuron is integrated out analytically (its probability
    :math:`\Phi(a^L)` rather than a 0/1 draw: Rao-Blackwellized over the
    output) and the hidden states are ``neuron_samples`` forward draws per
    synaptic sample (a separate stream, so ``acc_single``/``acc_draw`` see the
    same draws whatever ``average_every`` is).  At every sweep the chain also
    records the current sample's test accuracy and test negative
    log-likelihood (``trace_acc``, ``trace_nll``, with the class
    probabilities normalized over the ``C`` output units) and the accuracy of
    the running posterior average (``acc_average_sweep``, NaN before
    ``burn_in``); the convergence diagnostics over chains (split R-hat,
    effective sample size) are computed from ``trace_nll``/``trace_acc``
    after burn-in when the chains are gathered (:func:`split_rhat`,
    :func:`effective_sample_size`).
    """
    xp = get_xp(p.backend)
    xtr, ytr, xte, yte, C, _ = _data(p, k)
    sizes = _sizes(p, xtr.shape[1], C)
    rng = stream(p.seed, k, DSNN, _S_CHAIN)
    erng = stream(p.seed, k, DSNN, _S_EVAL)
    arng = stream(p.seed, k, DSNN, _S_AVG)
    net = init_net(sizes, stream(p.seed, k, DSNN, _S_INIT), sigma_w=p.sigma_w, sigma_b=p.sigma_b,
                   input_model=p.dataset == "prototype", xp=xp)
    S = _clamped_state(net, xtr, one_hot(ytr, C), rng)
    xtr_d, xte_d = xp.asarray(xtr), xp.asarray(xte)
    free = [None] + [np.ones(len(xtr), bool)] * p.layers + [None]
    evals = np.arange(p.eval_every, p.sweeps + 1, p.eval_every)
    out = {n: np.full(len(evals), np.nan) for n in ("acc_single", "acc_draw", "acc_average", "acc_train", "drift")}
    for n in ("trace_acc", "trace_nll", "acc_average_sweep"):
        out[n] = np.full(p.sweeps, np.nan)
    P_sum = xp.zeros((len(xte), C))
    n_avg = 0
    W_ref = None
    j = 0
    for t in range(1, p.sweeps + 1):
        gibbs_sweep(net, S, free, rng)
        if t == p.burn_in or (W_ref is None and t > p.burn_in):
            W_ref = net.flat()
        Pa = predict_proba(net, xte_d, arng, p.neuron_samples)
        out["trace_acc"][t - 1] = accuracy(Pa, yte)
        out["trace_nll"][t - 1] = nll(Pa, yte)
        if t > p.burn_in and (t - p.burn_in) % p.average_every == 0:
            P_sum += Pa
            n_avg += 1
        if n_avg:
            out["acc_average_sweep"][t - 1] = accuracy(P_sum, yte)
        if j < len(evals) and t == evals[j]:
            P = predict_proba(net, xte_d, erng, p.neuron_samples)
            out["acc_single"][j] = accuracy(P, yte)
            out["acc_draw"][j] = accuracy(predict_proba(net, xte_d, erng, 1), yte)
            out["acc_train"][j] = accuracy(predict_proba(net, xtr_d, erng, p.neuron_samples), ytr)
            if t > p.burn_in:
                if n_avg:
                    out["acc_average"][j] = accuracy(P_sum, yte)
                out["drift"][j] = float(xp.linalg.norm(net.flat() - W_ref) / xp.linalg.norm(W_ref))
            j += 1
    H = to_numpy(hidden_mean(net, xte_d, erng, max(p.neuron_samples, 16)))
    Hc = H - H.mean(0)
    eig = np.clip(np.linalg.eigvalsh(Hc.T @ Hc / max(1, len(H) - 1))[::-1], 0, None)
    bp = backprop_mlp(xtr, ytr, xte, yte, p.hidden, C, stream(p.seed, k, DSNN, _S_BACKPROP),
                      epochs=p.backprop_epochs, lr=p.backprop_lr, layers=p.layers)
    out.update(pca_eigenvalues=eig, pca_exponent=np.array(power_law_exponent(eig)), backprop_acc=bp,
               chance=np.array(1.0 / C), n_average=np.array(float(n_avg)))
    return out


def run_forget(p: DSNNParams, k: int) -> dict:
    """Chain k of the forgetting experiment on the prototype task.

    Acquisition: ``sweeps`` sweeps with inputs and labels clamped; then
    ``forget_sweeps`` sweeps with the data removed (every neuron of
    ``forget_particles`` rows free) or switched (labels permuted c -> c+1).
    Test accuracy on the original task (current synaptic sample, neurons
    averaged) after every sweep of both phases; time constants by
    :func:`relaxation_time` (acquisition: chance -> plateau; forgetting:
    learned level -> chance).
    """
    rng0 = stream(p.seed, k, DSNN, _S_DATA)
    xtr, ytr, xte, yte, _ = prototype_data(p.n_train, p.n_test, rng0, classes=p.classes, dim=p.dim, flip=p.flip)
    C = p.classes
    sizes = _sizes(p, p.dim, C)
    rng = stream(p.seed, k, DSNN, _S_CHAIN)
    erng = stream(p.seed, k, DSNN, _S_EVAL)
    xp = get_xp(p.backend)
    net = init_net(sizes, stream(p.seed, k, DSNN, _S_INIT), sigma_w=p.sigma_w, sigma_b=p.sigma_b, xp=xp)
    S = _clamped_state(net, xtr, one_hot(ytr, C), rng)
    free = [None] + [np.ones(len(xtr), bool)] * p.layers + [None]
    xte_d = xp.asarray(xte)

    def acc(y=yte):
        return accuracy(predict_proba(net, xte_d, erng, p.neuron_samples), y)

    a_learn = np.empty(p.sweeps + 1)
    a_learn[0] = acc()
    for t in range(1, p.sweeps + 1):
        gibbs_sweep(net, S, free, rng)
        a_learn[t] = acc()
    a_forget = np.empty(p.forget_sweeps + 1)
    a_new = np.full(p.forget_sweeps + 1, np.nan)
    a_forget[0] = a_learn[-1]
    if p.forget_mode == "remove":
        n = min(p.forget_particles, len(xtr)) if p.forget_particles else len(xtr)
        S = [s[:n].copy() for s in S]
        free = [np.ones(n, bool)] * (p.layers + 2)
    else:
        S[-1] = xp.asarray(one_hot((ytr + 1) % C, C))
        a_new[0] = acc((yte + 1) % C)
    for t in range(1, p.forget_sweeps + 1):
        gibbs_sweep(net, S, free, rng)
        a_forget[t] = acc()
        if p.forget_mode == "switch":
            a_new[t] = acc((yte + 1) % C)
    chance = 1.0 / C
    tail = max(1, p.sweeps // 5)
    learned = float(a_learn[-tail:].mean())
    tau_acq = relaxation_time(np.arange(p.sweeps + 1), a_learn, chance, learned)
    tau_forget = relaxation_time(np.arange(p.forget_sweeps + 1), a_forget, learned, chance)
    return {"acc_learn": a_learn, "acc_forget": a_forget, "acc_new": a_new, "tau_acquire": np.array(tau_acq),
            "tau_forget": np.array(tau_forget), "learned": np.array(learned), "chance": np.array(chance)}


def run_alternation(p: DSNNParams, k: int) -> dict:
    r"""Chain k of the perceptual-alternation experiment.

    The chain holds ``n_train`` labelled rows (two interpretations) and
    ``alt_probes`` rows presenting the ambiguous pattern (inputs clamped,
    hidden and output neurons free: their states are part of the chain and
    enter the synaptic likelihood).  The percept at sweep t is
    :math:`d(t) = \langle \Phi(a^L_A) - \Phi(a^L_B)\rangle_{\text{probes}}`
    (current synapses, probes' current hidden states); dominance durations
    (hysteresis ``alt_threshold``, :func:`dominance_durations`) after learning; their
    gamma fit (shape, scale) and CV; per window of the chain the mean
    decisiveness :math:`|d|`, the mean duration and the number of switches;
    and at every sweep the *exclusivity*
    :math:`\langle|\Phi(a^L_A) - \Phi(a^L_B)|\rangle_{\text{probes}}` (0 when
    the ambiguous input gets both or neither interpretation, 1 when it gets
    exactly one) beside the accuracy on A and B: the emergence with learning.
    The chain runs ``sweeps`` learning sweeps, then ``alt_sweeps`` more whose
    dominance durations are fitted (one chain throughout: learning never stops);
    ``serial_corr`` is the lag-1 correlation of successive durations.

    Mechanisms that can be switched on (both off by default):

    * adaptation (``alt_adapt`` = g > 0): each hidden and output neuron i of
      a probe row receives the input :math:`-g z_i`, with
      :math:`z_i \leftarrow z_i + (s_i - z_i)/\tau` after every sweep
      (:math:`\tau` = ``alt_adapt_tau``): the neurons of the dominant
      interpretation tire.
      The adapted probes are no longer samples of the stationary posterior;
      the training rows' likelihood is unchanged (the regression subtracts
      the known input, :func:`sample_weights`).
    * synaptic fluctuation time scale (``alt_rho`` > 0): the autoregressive
      synapse draw of :func:`sample_weights`, the same posterior with slower
      synaptic fluctuations.
    """
    rng0 = stream(p.seed, k, DSNN, _S_DATA)
    x, y, amb = alternation_data(p, rng0)
    xa = np.concatenate([x, np.repeat(amb[None, :], p.alt_probes, 0)])
    B = len(xa)
    probe = np.arange(len(x), B)
    sizes = _sizes(p, p.dim, 2)
    rng = stream(p.seed, k, DSNN, _S_CHAIN)
    erng = stream(p.seed, k, DSNN, _S_EVAL)
    xp = get_xp(p.backend)
    net = init_net(sizes, stream(p.seed, k, DSNN, _S_INIT), sigma_w=p.sigma_w, sigma_b=p.sigma_b, xp=xp)
    S = forward(net, xa, rng)
    S[-1][: len(x)] = xp.asarray(one_hot(y, 2))
    out_free = np.zeros(B, bool)
    out_free[probe] = True
    free = [None] + [np.ones(B, bool)] * p.layers + [out_free]
    total = p.sweeps + p.alt_sweeps
    d = np.empty(total)
    excl = np.empty(total)
    acc = np.empty(total)
    xt, yt = xp.asarray(x[:: max(1, len(x) // 64)]), y[:: max(1, len(x) // 64)]
    probe_d = xp.asarray(probe)
    z = [np.zeros((len(probe), n)) for n in sizes[1:]]  # adaptation of the probes' hidden and output neurons
    off = None
    for t in range(total):
        if p.alt_adapt > 0:
            off = [None]
            for zl in z:
                o = np.zeros((B, zl.shape[1]))
                o[probe] = -p.alt_adapt * zl
                off.append(xp.asarray(o))
        A = gibbs_sweep(net, S, free, rng, offset=off, rho=p.alt_rho)
        if p.alt_adapt > 0:
            for l, zl in enumerate(z, start=1):
                zl += (to_numpy(S[l][probe_d]) - zl) / p.alt_adapt_tau
        pr = to_numpy(_Phi(A[-1][probe_d]))
        d[t] = float(np.mean(pr[:, 0] - pr[:, 1]))
        excl[t] = float(np.mean(np.abs(pr[:, 0] - pr[:, 1])))
        acc[t] = accuracy(predict_proba(net, xt, erng, 2), yt)
    dur = dominance_durations(d[p.sweeps :], p.alt_threshold)
    shape, scale, cv = gamma_fit(dur)
    win = np.array_split(np.arange(total), p.alt_windows)
    decis = np.array([np.mean(np.abs(d[w])) for w in win])
    wdur = np.array([np.mean(x_) if len(x_ := dominance_durations(d[w], p.alt_threshold)) else np.nan for w in win])
    wsw = np.array([len(dominance_durations(d[w], p.alt_threshold)) + 1 if switches(d[w], p.alt_threshold) else 0
                    for w in win], float)
    return {"percept": d, "exclusivity": excl, "acc_train": acc, "durations": dur, "gamma_shape": np.array(shape),
            "gamma_scale": np.array(scale), "cv": np.array(cv), "window_decisiveness": decis,
            "window_duration": wdur, "window_switches": wsw, "serial_corr": np.array(serial_correlation(dur))}


def run_sbm(p: DSNNParams, k: int) -> dict:
    r"""Chain k of the synaptic Boltzmann machine experiment (unsupervised learning of bars).

    **Our reconstruction.**  An undirected RBM's synaptic posterior contains
    the partition function :math:`Z(W)` and has no exact Gibbs conditional.
    The undirected model whose joint Boltzmann distribution covers the
    synapses too (no :math:`Z(W)`) is :class:`~.sampler.Boltzmann`, checked by
    enumeration; this experiment keeps the directed stand-in: the
    directed two-layer probit network of this module turned upside down:
    ``sbm_hidden`` binary cause neurons (layer 0, free, Gaussian-prior biases)
    generate the ``side x side`` visible pixels (layer 1, clamped to the
    images); neurons and synapses are Gibbs sampled as everywhere else.

    Recorded: the outgoing-weight norm :math:`\|W_{\cdot j}\|` and the mean
    activity of every cause neuron at every sweep; per window of
    ``sbm_window`` sweeps the fraction of *prior-like* synapses (sample std
    over the window above ``0.7 sigma_w``: unconstrained by the data,
    functionally pruned) and of silent cause neurons (activity < 0.02); the
    role matrix (mean weight from cause j to the pixels of bar k over the last
    window) and ``bars_covered``: the number of distinct cause neurons that own
    a bar (largest ``|role|`` of the bar, above 1.5; a cause can code a bar by
    being on with it, w > 0, or off with it, w < 0), at most ``2*side`` when
    every bar has a cause of its own (division of roles).
    """
    rng0 = stream(p.seed, k, DSNN, _S_DATA)
    x, _ = bars_data(p.n_train, p.sbm_side, p.sbm_p, rng0)
    rng = stream(p.seed, k, DSNN, _S_CHAIN)
    xp = get_xp(p.backend)
    net = init_net((p.sbm_hidden, x.shape[1]), stream(p.seed, k, DSNN, _S_INIT), sigma_w=p.sigma_w,
                   sigma_b=p.sigma_b, input_model=True, xp=xp)
    B = len(x)
    S = [xp.asarray((rng.random((B, p.sbm_hidden)) < 0.5).astype(float)), xp.asarray(x)]
    free = [np.ones(B, bool), None]
    norms = np.empty((p.sweeps, p.sbm_hidden))
    usage = np.empty((p.sweeps, p.sbm_hidden))
    Ws = np.empty((p.sweeps, x.shape[1], p.sbm_hidden))
    for t in range(p.sweeps):
        gibbs_sweep(net, S, free, rng)
        Wv = to_numpy(net.W[1][:, : p.sbm_hidden])  # (visible, causes)
        Ws[t] = Wv
        norms[t] = np.linalg.norm(Wv, axis=0)
        usage[t] = to_numpy(S[0].mean(0))
    win = [w for w in np.array_split(np.arange(p.sweeps), max(1, p.sweeps // p.sbm_window)) if len(w) > 1]
    prior_like = np.array([np.mean(Ws[w].std(0) > 0.7 * p.sigma_w) for w in win])
    silent = np.array([np.mean(usage[w].mean(0) < 0.02) for w in win])
    masks = bar_masks(p.sbm_side)
    Wlast = Ws[win[-1]].mean(0)  # (visible, causes)
    role = (masks @ Wlast) / masks.sum(1, keepdims=True)  # (bars, causes)
    owner = np.abs(role).argmax(1)  # a cause may code a bar by being on (w > 0) or off (w < 0) with it
    strong = np.abs(role).max(1) > 1.5
    covered = len(set(owner[strong].tolist()))
    return {"unit_norm": norms, "unit_usage": usage, "prior_like": prior_like, "silent": silent, "role": role,
            "bars_covered": np.array(float(covered)), "n_bars": np.array(float(2 * p.sbm_side)),
            "window_end": np.array([w[-1] + 1 for w in win], float)}


class Experiment:
    """One experiment of the study: subclasses set ``name``, ``ragged``, ``headline`` and the four methods."""

    name = ""
    ragged: tuple = ()
    headline: tuple = ((), "")

    def run(self, p: DSNNParams, k: int) -> dict:
        """Chain ``k``: a dict of host arrays (the chain axis is added by :func:`run_chains`)."""
        raise NotImplementedError

    def write(self, w, p: DSNNParams, data: dict, summ: dict) -> None:
        """Variables of the experiment into the open :class:`~balnet.engine.io.H5Writer` ``w`` (coordinate ``chain``
        exists)."""
        raise NotImplementedError

    def summary(self, p: DSNNParams, data: dict) -> dict:
        """Headline numbers, chains pooled."""
        raise NotImplementedError

    def plot(self, plt, a: dict, at: dict):
        """Figure of a file's variables ``a`` and attributes ``at``; returns the matplotlib figure."""
        raise NotImplementedError


class Classify(Experiment):
    """``classify``: accuracy vs sweeps against backprop, posterior average and its convergence diagnostics,
    synaptic drift, PCA spectrum (:func:`run_classify`)."""

    name = "classify"
    ragged = ()
    headline = (("acc_draw", "acc_single", "acc_average", "acc_backprop", "chance"), "test accuracy")

    def run(self, p: DSNNParams, k: int) -> dict:
        return run_classify(p, k)

    def write(self, w, p: DSNNParams, data: dict, summ: dict) -> None:
        ev = np.arange(p.eval_every, p.sweeps + 1, p.eval_every)
        w.coord("sweep", ev, units="sweep", long_name="Gibbs sweep of the evaluation")
        for name, ln in (("acc_single", "test accuracy of the current synaptic sample (neurons averaged)"),
                         ("acc_draw", "test accuracy of one neuron draw at the current synaptic sample"),
                         ("acc_average", "test accuracy of the posterior average over sweeps > burn_in"),
                         ("acc_train", "training accuracy of the current synaptic sample"),
                         ("drift", "|W(t) - W(burn_in)| / |W(burn_in)|")):
            w.variable(name, data[name], dims=("chain", "sweep"), units="1", long_name=ln)
        w.coord("epoch", np.arange(1, p.backprop_epochs + 1), long_name="backprop epoch")
        w.variable("backprop_acc", data["backprop_acc"], dims=("chain", "epoch"), units="1",
                   long_name="test accuracy of the same-size MLP trained by backprop")
        w.coord("rank", np.arange(1, data["pca_eigenvalues"].shape[1] + 1), long_name="PCA rank n")
        w.variable("pca_eigenvalues", data["pca_eigenvalues"], dims=("chain", "rank"), units="1",
                   long_name="eigenvalues of the covariance of stimulus-averaged hidden activity (test inputs)")
        w.variable("pca_exponent", data["pca_exponent"], dims=("chain",), units="1",
                   long_name="power-law exponent alpha of lambda_n ~ n^-alpha")
        w.coord("sweep_all", np.arange(1, p.sweeps + 1), units="sweep", long_name="every Gibbs sweep")
        for name, ln in (("trace_acc", "test accuracy of the current synaptic sample (averaging stream)"),
                         ("trace_nll", "test negative log-likelihood of the current synaptic sample"),
                         ("acc_average_sweep", "test accuracy of the running posterior average (NaN: burn-in)")):
            w.variable(name, data[name], dims=("chain", "sweep_all"), units="1", long_name=ln)
        w.variable("n_average", data["n_average"], dims=("chain",), units="1",
                   long_name="synaptic samples in the posterior average")
        for name in ("nll", "acc"):
            w.variable(f"rhat_{name}", summ[f"rhat_{name}"], dims=(), units="1",
                       long_name=f"split R-hat over chains of trace_{name} after burn_in")
            w.variable(f"ess_{name}", summ[f"ess_{name}"], dims=(), units="1",
                       long_name=f"effective sample size of trace_{name} after burn_in (all chains)")

    def summary(self, p: DSNNParams, data: dict) -> dict:
        return {"acc_single": float(np.nanmean(data["acc_single"][:, -1])),
                "acc_draw": float(np.nanmean(data["acc_draw"][:, -1])),
                "acc_average": float(np.nanmean(data["acc_average"][:, -1])),
                "acc_backprop": float(np.nanmean(data["backprop_acc"][:, -1])),
                "chance": float(np.mean(data["chance"])), "pca_exponent": float(np.nanmean(data["pca_exponent"])),
                "drift": float(np.nanmean(data["drift"][:, -1])),
                "acc_average_final": float(np.nanmean(data["acc_average_sweep"][:, -1])),
                **{f"{d}_{n}": fn(data[f"trace_{n}"][:, p.burn_in :]) for n in ("nll", "acc")
                   for d, fn in (("rhat", split_rhat), ("ess", effective_sample_size))}}

    def plot(self, plt, a: dict, at: dict):
        every = "acc_average_sweep" in a  # files written before it have the evaluation points only
        fig, ax = plt.subplots(1, 4 if every else 3, figsize=(17 if every else 13, 3.8))
        sw = a["sweep"]
        for name, lab in (("acc_single", "single synaptic sample"), ("acc_draw", "single neuron+synapse draw"),
                          ("acc_average", "posterior average")):
            ax[0].plot(sw, np.nanmean(a[name], 0), label=lab)
        ax[0].axhline(at["summary_acc_backprop"], color="k", ls="--", label="backprop (final)")
        ax[0].axhline(at["summary_chance"], color="gray", ls=":", label="chance")
        ax[0].set(xlabel="Gibbs sweep", ylabel="test accuracy", title="learning by sampling")
        ax[0].legend(fontsize=7)
        if every:  # the learning curve at every sweep, as error rates
            swa = a["sweep_all"]
            for name, lab in (("trace_acc", "current synaptic sample"), ("acc_average_sweep", "posterior average")):
                for c, row in enumerate(a[name]):
                    ax[3].semilogy(swa, np.maximum(1.0 - row, 1e-4), color=f"C{3 + (name == 'trace_acc')}",
                                   lw=0.8, label=lab if c == 0 else None)
            ax[3].axhline(1.0 - at["summary_acc_backprop"], color="k", ls="--", label="backprop (final)")
            ax[3].axvline(read_attrs_params(at).get("burn_in", 0), color="gray", ls=":", lw=0.8)
            ax[3].set(xlabel="Gibbs sweep", ylabel="test error (each chain)",
                      title=f"R-hat(NLL) {at.get('summary_rhat_nll', np.nan):.2f}, "
                      f"ESS {at.get('summary_ess_nll', np.nan):.0f}")
            ax[3].legend(fontsize=7)
        ax[1].plot(sw, np.nanmean(a["drift"], 0), label="synaptic drift")
        ax[1].plot(sw, np.nanmean(a["acc_single"], 0), label="accuracy")
        ax[1].set(xlabel="Gibbs sweep", title="weights move, performance stays")
        ax[1].legend(fontsize=7)
        ev = np.nanmean(a["pca_eigenvalues"], 0)
        n = np.arange(1, len(ev) + 1)
        ax[2].loglog(n, ev / ev[0], ".-", label=f"hidden PCA, alpha={at['summary_pca_exponent']:.2f}")
        ax[2].loglog(n, 1.0 / n, "k--", label="1/n (Stringer et al. 2019)")
        ax[2].set(xlabel="rank n", ylabel="eigenvalue / first", title="PCA spectrum")
        ax[2].legend(fontsize=7)
        return fig


class Forget(Experiment):
    """``forget``: acquisition, then the data removed or switched: accuracy time courses, time constants
    (:func:`run_forget`)."""

    name = "forget"
    ragged = ()
    headline = (("tau_acquire", "tau_forget"), "time constant [sweeps]")

    def run(self, p: DSNNParams, k: int) -> dict:
        return run_forget(p, k)

    def write(self, w, p: DSNNParams, data: dict, summ: dict) -> None:
        w.coord("sweep_learn", np.arange(p.sweeps + 1), units="sweep", long_name="sweep of the acquisition phase")
        w.coord("sweep_forget", np.arange(p.forget_sweeps + 1), units="sweep",
                long_name="sweep after the data were removed/switched")
        w.variable("acc_learn", data["acc_learn"], dims=("chain", "sweep_learn"), units="1",
                   long_name="test accuracy during acquisition")
        w.variable("acc_forget", data["acc_forget"], dims=("chain", "sweep_forget"), units="1",
                   long_name="test accuracy on the learned task after removal/switch")
        w.variable("acc_new", data["acc_new"], dims=("chain", "sweep_forget"), units="1",
                   long_name="test accuracy on the switched task (NaN: removal)")
        for name in ("tau_acquire", "tau_forget"):
            w.variable(name, data[name], dims=("chain",), units="sweep", long_name=f"time constant ({name[4:]})")
        w.variable("learned", data["learned"], dims=("chain",), units="1", long_name="plateau accuracy")

    def summary(self, p: DSNNParams, data: dict) -> dict:
        return {"tau_acquire": float(np.nanmedian(data["tau_acquire"])),
                "tau_forget": float(np.nanmedian(data["tau_forget"])), "learned": float(np.mean(data["learned"])),
                "chance": float(np.mean(data["chance"])), "final": float(np.mean(data["acc_forget"][:, -1]))}

    def plot(self, plt, a: dict, at: dict):
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
        ax[0].plot(a["sweep_learn"], np.mean(a["acc_learn"], 0))
        ax[0].set(xlabel="sweep", ylabel="test accuracy",
                  title=f"acquisition, tau = {at['summary_tau_acquire']:.3g} sweeps")
        ax[1].plot(a["sweep_forget"], np.mean(a["acc_forget"], 0), label="learned task")
        if np.isfinite(a["acc_new"]).any():
            ax[1].plot(a["sweep_forget"], np.nanmean(a["acc_new"], 0), label="switched task")
        ax[1].axhline(at["summary_chance"], color="gray", ls=":")
        ax[1].set(xlabel="sweep after removal", title=f"forgetting, tau = {at['summary_tau_forget']:.3g} sweeps")
        ax[1].legend(fontsize=7)
        return fig


class Alternation(Experiment):
    """``alternation``: two interpretations, an ambiguous input inside the chain: dominance durations and their
    statistics (:func:`run_alternation`)."""

    name = "alternation"
    ragged = ("durations",)
    headline = (("gamma_shape", "cv", "serial_corr"), "dominance durations")

    def run(self, p: DSNNParams, k: int) -> dict:
        return run_alternation(p, k)

    def write(self, w, p: DSNNParams, data: dict, summ: dict) -> None:
        w.coord("sweep", np.arange(1, p.sweeps + p.alt_sweeps + 1), units="sweep", long_name="Gibbs sweep")
        w.variable("percept", data["percept"], dims=("chain", "sweep"), units="1",
                   long_name="mean output difference Phi(a_A) - Phi(a_B) of the ambiguous probes")
        w.variable("acc_train", data["acc_train"], dims=("chain", "sweep"), units="1",
                   long_name="accuracy on the two unambiguous interpretations")
        w.variable("exclusivity", data["exclusivity"], dims=("chain", "sweep"), units="1",
                   long_name="<|Phi_A - Phi_B|> of the ambiguous probes (1: one interpretation, 0: both/neither)")
        w.variable("durations", data["durations"], dims=("chain", "run"), units="sweep",
                   long_name="dominance durations after the learning sweeps (NaN padding)")
        w.variable("serial_corr", data["serial_corr"], dims=("chain",), units="1",
                   long_name="lag-1 correlation of the chain's successive dominance durations")
        for name in ("gamma_shape", "gamma_scale", "cv"):
            w.variable(name, data[name], dims=("chain",), units="sweep" if name == "gamma_scale" else "1",
                       long_name=f"{name} of the chain's dominance durations")
        w.coord("window", np.arange(p.alt_windows), long_name="window of the chain (learning progress)")
        w.variable("window_decisiveness", data["window_decisiveness"], dims=("chain", "window"), units="1",
                   long_name="mean |percept| in the window")
        w.variable("window_duration", data["window_duration"], dims=("chain", "window"), units="sweep",
                   long_name="mean dominance duration in the window")
        w.variable("window_switches", data["window_switches"], dims=("chain", "window"), units="1",
                   long_name="number of dominance switches in the window")

    def summary(self, p: DSNNParams, data: dict) -> dict:
        dur = data["durations"][np.isfinite(data["durations"])]
        shape, scale, cv = gamma_fit(dur)
        return {"gamma_shape": shape, "gamma_scale": scale, "cv": cv, "n_durations": len(dur),
                "serial_corr": float(np.nanmean(data["serial_corr"])) if np.isfinite(data["serial_corr"]).any()
                else float("nan"),
                "mean_duration": float(np.mean(dur)) if len(dur) else float("nan"),
                "decisiveness_first": float(np.nanmean(data["window_decisiveness"][:, 0])),
                "decisiveness_last": float(np.nanmean(data["window_decisiveness"][:, -1])),
                "switches_first": float(np.mean(data["window_switches"][:, 0])),
                "switches_last": float(np.mean(data["window_switches"][:, -1])),
                "exclusivity_first": float(np.mean(data["exclusivity"][:, : max(1, p.sweeps // 20)])),
                "exclusivity_last": float(np.mean(data["exclusivity"][:, p.sweeps :]))}

    def plot(self, plt, a: dict, at: dict):
        fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
        ax[0].plot(a["sweep"], a["percept"][0], lw=0.6)
        th = read_attrs_params(at).get("alt_threshold", 0.0)
        for v in (th, -th):
            ax[0].axhline(v, color="gray", ls=":", lw=0.8)
        ax[0].set(xlabel="sweep", ylabel="percept d = <Phi_A - Phi_B>", title="ambiguous input (chain 0)")
        dur = a["durations"][np.isfinite(a["durations"])]
        if len(dur):
            ax[1].hist(dur, bins=20, density=True, alpha=0.6)
            k, th = at["summary_gamma_shape"], at["summary_gamma_scale"]
            if np.isfinite(k):
                xs = np.linspace(0, dur.max(), 200)
                ax[1].plot(xs, gamma.pdf(xs, k, scale=th), "k")
        ax[1].set(xlabel="dominance duration [sweeps]",
                  title=f"gamma shape {at['summary_gamma_shape']:.2f}, CV {at['summary_cv']:.2f}, "
                  f"serial r {at.get('summary_serial_corr', np.nan):.2f}")
        ax[2].semilogx(a["sweep"], np.mean(a["acc_train"], 0), label="accuracy on A and B")
        ax[2].semilogx(a["sweep"], np.mean(a["exclusivity"], 0), label="exclusivity <|Phi_A - Phi_B|>")
        ax[2].axvline(read_attrs_params(at).get("sweeps", 1), color="gray", ls=":", lw=0.8)
        ax[2].set(xlabel="sweep", title="emergence with learning", ylim=(0, 1.05))
        ax[2].legend(fontsize=7)
        return fig


class Sbm(Experiment):
    """``sbm``: unsupervised bars: division of roles and pruning of the cause neurons (:func:`run_sbm`)."""

    name = "sbm"
    ragged = ()
    headline = (("bars_covered", "n_bars"), "bars")

    def run(self, p: DSNNParams, k: int) -> dict:
        return run_sbm(p, k)

    def write(self, w, p: DSNNParams, data: dict, summ: dict) -> None:
        w.coord("sweep", np.arange(1, p.sweeps + 1), units="sweep", long_name="Gibbs sweep")
        w.coord("cause", np.arange(p.sbm_hidden), long_name="cause (hidden) neuron j")
        w.coord("bar", np.arange(2 * p.sbm_side), long_name="bar k (rows, then columns)")
        w.coord("window_end", data["window_end"][0], units="sweep", long_name="last sweep of the window")
        w.variable("unit_norm", data["unit_norm"], dims=("chain", "sweep", "cause"), units="1",
                   long_name="norm of the outgoing synapses of cause j")
        w.variable("unit_usage", data["unit_usage"], dims=("chain", "sweep", "cause"), units="1",
                   long_name="mean activity of cause j over the images")
        w.variable("prior_like", data["prior_like"], dims=("chain", "window_end"), units="1",
                   long_name="fraction of synapses with window std > 0.7 sigma_w (pruned, prior-like)")
        w.variable("silent", data["silent"], dims=("chain", "window_end"), units="1",
                   long_name="fraction of cause neurons with activity < 0.02")
        w.variable("role", data["role"], dims=("chain", "bar", "cause"), units="1",
                   long_name="mean synapse from cause j to the pixels of bar k (last window)")
        w.variable("bars_covered", data["bars_covered"], dims=("chain",), units="1",
                   long_name="distinct cause neurons owning a bar")

    def summary(self, p: DSNNParams, data: dict) -> dict:
        return {"bars_covered": float(np.mean(data["bars_covered"])), "n_bars": float(2 * p.sbm_side),
                "prior_like_first": float(np.mean(data["prior_like"][:, 0])),
                "prior_like_last": float(np.mean(data["prior_like"][:, -1])),
                "silent_last": float(np.mean(data["silent"][:, -1]))}

    def plot(self, plt, a: dict, at: dict):
        fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
        im = ax[0].imshow(a["role"][0], cmap="RdBu_r", vmin=-5, vmax=5, aspect="auto")
        fig.colorbar(im, ax=ax[0])
        ax[0].set(xlabel="cause neuron j", ylabel="bar k",
                  title=f"roles (chain 0), covered {at['summary_bars_covered']:.1f} of {at['summary_n_bars']:.0f}")
        ax[1].plot(a["window_end"], np.mean(a["prior_like"], 0), "o-", label="prior-like (pruned) synapses")
        ax[1].plot(a["window_end"], np.mean(a["silent"], 0), "s-", label="silent cause neurons")
        ax[1].set(xlabel="sweep", ylabel="fraction", title="pruning during learning")
        ax[1].legend(fontsize=7)
        ax[2].plot(a["sweep"], a["unit_norm"][0], lw=0.7)
        ax[2].set(xlabel="sweep", ylabel="|W_.j|", title="outgoing synapse norms (chain 0)")
        return fig


EXPERIMENTS = {e.name: e for e in (Classify(), Forget(), Alternation(), Sbm())}
assert tuple(EXPERIMENTS) == _params.EXPERIMENTS


def experiment(name: str) -> Experiment:
    """The :class:`Experiment` called ``name`` (one of ``DSNNParams.experiment``'s values)."""
    return EXPERIMENTS[name]


def run_chain(p: DSNNParams, k: int) -> dict:
    """Chain ``k`` of ``p.experiment``."""
    return experiment(p.experiment).run(p, k)


def run_chains(p: DSNNParams, ids, progress=False) -> dict:
    """Run chains ``ids`` and stack every array along a new leading chain axis (ragged arrays padded with NaN)."""
    ragged = experiment(p.experiment).ragged
    bar = progress_bar(len(ids), progress, f"dsnn {p.experiment}", unit="chain")
    res = []
    for k in ids:
        res.append(run_chain(p, k))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if not res:
        return {}
    out = {}
    for name in res[0]:
        arrs = [np.asarray(r[name], float) for r in res]
        if name in ragged:
            n = max(1, max(len(a) for a in arrs))
            arrs = [np.pad(a, (0, n - len(a)), constant_values=np.nan) for a in arrs]
        out[name] = np.stack(arrs)
    return out


def read_attrs_params(attrs) -> dict:
    """The ``dsnn`` parameter record stored in a file's attributes (empty if absent)."""
    p = attrs.get("params", {})
    return p.get("dsnn", {}) if isinstance(p, dict) else {}
