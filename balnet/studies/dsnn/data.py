"""Data of the dual-sampling experiments: digits, noisy prototypes, the alternation patterns, bars images."""
from __future__ import annotations

import numpy as np

from ...engine.errors import ConfigError

__all__ = ["alternation_data", "bar_masks", "bars_data", "digits_data", "one_hot", "prototype_data"]


def digits_data(n_train, n_test, rng):
    """scikit-learn's 8x8 digits (1797 images, grey levels scaled to [0, 1]), shuffled and split.

    Returns ``(x_train, y_train, x_test, y_test)`` with integer labels 0..9.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # pragma: no cover
        raise ConfigError("dataset 'digits' needs scikit-learn (pip install 'balnet[studies]')") from None
    d = load_digits()
    x = d.data / 16.0
    y = d.target.astype(np.int64)
    if n_train + n_test > len(y):
        raise ConfigError(f"digits has {len(y)} images; n_train + n_test = {n_train + n_test}")
    idx = rng.permutation(len(y))
    tr, te = idx[:n_train], idx[n_train : n_train + n_test]
    return x[tr], y[tr], x[te], y[te]


def prototype_data(n_train, n_test, rng, *, classes=10, dim=32, flip=0.1, prototypes=None):
    """Noisy binary prototypes: class ``c`` is prototype ``c`` (random ±bits) with each bit flipped w.p. ``flip``.

    Returns ``(x_train, y_train, x_test, y_test, prototypes)``; the Bayes accuracy
    is close to 1 for ``dim >> log(classes)`` and ``flip < 0.5``.
    """
    P = (rng.random((classes, dim)) < 0.5).astype(float) if prototypes is None else np.asarray(prototypes, float)

    def draw(n):
        y = rng.integers(0, classes, n)
        x = P[y].copy()
        m = rng.random(x.shape) < flip
        x[m] = 1.0 - x[m]
        return x, y

    xtr, ytr = draw(n_train)
    xte, yte = draw(n_test)
    return xtr, ytr, xte, yte, P


def one_hot(y, C):
    out = np.zeros((len(y), C))
    out[np.arange(len(y)), y] = 1.0
    return out


def alternation_data(p, rng):
    """Two interpretations A, B (binary patterns of ``p.dim`` bits) and an ambiguous pattern (``p``: a DSNNParams).

    ``alt_input = mixture``: A and B are random patterns; the ambiguous
    pattern takes every bit on which they agree, and half of the disagreeing
    bits from A, half from B (equal Hamming distance to both).
    ``alt_input = necker``: a Necker-cube-like pair.  A random ``dim/2`` units
    are active in A; B keeps half of them and replaces the other half by as
    many units silent in A, so A and B share half their active units; the
    ambiguous pattern is the shared half alone, a figure that each
    interpretation explains completely (every active unit belongs to both)
    and that is ``dim/4`` bits from either.
    Training rows: ``n_train/2`` noisy copies (bit flips ``flip``) of each, labelled 0 (A) / 1 (B).
    """
    if p.alt_input == "necker":
        q = max(1, p.dim // 4)
        perm = rng.permutation(p.dim)
        shared, only_a, only_b = perm[:q], perm[q : 2 * q], perm[2 * q : 3 * q]
        A, Bp, amb = np.zeros(p.dim), np.zeros(p.dim), np.zeros(p.dim)
        A[np.concatenate([shared, only_a])] = 1.0
        Bp[np.concatenate([shared, only_b])] = 1.0
        amb[shared] = 1.0
    else:
        A = (rng.random(p.dim) < 0.5).astype(float)
        Bp = (rng.random(p.dim) < 0.5).astype(float)
        diff = np.flatnonzero(A != Bp)
        if len(diff) < 2:
            Bp = 1.0 - A
            diff = np.arange(p.dim)
        amb = A.copy()
        take = rng.permutation(diff)[: len(diff) // 2]
        amb[take] = Bp[take]
    y = np.arange(p.n_train) % 2
    x = np.where(y[:, None] == 0, A[None, :], Bp[None, :])
    m = rng.random(x.shape) < p.flip
    x[m] = 1.0 - x[m]
    return x, y, amb


def bars_data(n, side, p_bar, rng):
    """``n`` images of ``side x side`` pixels, each of the ``2*side`` bars (rows, then columns) present
    independently with probability ``p_bar``; a pixel is on if any bar through it is (OR).

    Returns ``(images (n, side*side), bars (n, 2*side))``.
    """
    bars = (rng.random((n, 2 * side)) < p_bar).astype(float)
    img = np.zeros((n, side, side))
    img = np.maximum(img, bars[:, :side, None])
    img = np.maximum(img, bars[:, None, side:])
    return img.reshape(n, -1), bars


def bar_masks(side):
    """``(2*side, side*side)`` 0/1 masks of the pixels of every bar (rows, then columns)."""
    m = np.zeros((2 * side, side, side))
    for k in range(side):
        m[k, k, :] = 1
        m[side + k, :, k] = 1
    return m.reshape(2 * side, -1)
