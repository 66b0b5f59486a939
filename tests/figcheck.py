"""Pixel checks of the PNG figures the package writes (cheap, no image library beyond matplotlib).

``axes_frames`` finds the axes of a figure from its pixels: every matplotlib axes with visible
spines (and every colorbar) is drawn as a closed rectangle of black spines, so a frame is a
pair of thin dark horizontal lines with the same extent, joined by dark vertical lines at both
ends.  ``check_png`` asserts that a file is a real figure: a PNG of plausible size, with the
expected number of frames, each with something drawn inside (a blank or empty panel fails),
and, optionally, pixels of given colours (a phase colour, a line colour).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

DARK = 0.3  # a pixel is a spine candidate when all of R, G, B are below this
MAX_THICK = 4  # spines are 1-2 px at dpi 120; thicker dark bands are data, not frames


def load_rgb(path) -> np.ndarray:
    """(H, W, 3) floats in [0, 1], transparent pixels composited on white."""
    from matplotlib.image import imread

    img = np.asarray(imread(Path(path)), dtype=float)
    if img.dtype.kind != "f" or img.max() > 1:
        img = img / 255.0
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.shape[-1] == 4:
        a = img[..., 3:]
        img = img[..., :3] * a + (1 - a)
    return img


def _runs(mask_1d: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    """[start, stop) of runs of True at least min_len long."""
    m = np.concatenate([[False], mask_1d, [False]])
    d = np.flatnonzero(np.diff(m.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(d[::2], d[1::2]) if b - a >= min_len]


def _lines(dark: np.ndarray, min_len: int) -> list[tuple[int, int, int]]:
    """Thin dark lines along axis 1: (position along axis 0, start, stop), adjacent rows merged."""
    segs: list[tuple[int, int, list[int]]] = []  # (start, stop, rows)
    open_: dict[tuple[int, int], int] = {}  # runs continued from the previous row -> index in segs
    for y in range(dark.shape[0]):
        now = {}
        for a, b in _runs(dark[y], min_len):
            key = next((k for k in open_ if abs(k[0] - a) <= 2 and abs(k[1] - b) <= 2), None)
            if key is None:
                segs.append((a, b, [y]))
                now[(a, b)] = len(segs) - 1
            else:
                segs[open_[key]][2].append(y)
                now[key] = open_[key]
        open_ = now
    out = []
    for a, b, ys in segs:
        if len(ys) <= MAX_THICK:
            out.append((ys[len(ys) // 2], a, b))
    return out


def axes_frames(rgb: np.ndarray, min_side: int = 25) -> list[tuple[int, int, int, int]]:
    """Frames (top, bottom, left, right) in pixels, deduplicated, sorted top-left first."""
    dark = (rgb < DARK).all(axis=-1)
    hor = _lines(dark, min_side)
    ver = _lines(dark.T, min_side)
    frames = set()
    tick = 8  # tick marks (3.5 pt, ~6 px) at a frame's corner lengthen a spine's run
    for i, (y0, a0, b0) in enumerate(hor):
        for y1, a1, b1 in hor[i + 1:]:
            if abs(a0 - a1) > tick or abs(b0 - b1) > tick or abs(y1 - y0) < min_side:
                continue
            top, bot = sorted((y0, y1))
            sides = [x for x, c, d in ver if c <= top + 2 and d >= bot - 1]
            lefts = [x for x in sides if min(a0, a1) - 1 <= x <= max(a0, a1) + tick]
            rights = [x for x in sides if min(b0, b1) - 1 - tick <= x <= max(b0, b1)]
            if lefts and rights:
                frames.add((top, bot, max(lefts), min(rights)))
    # keep the outermost of frames sharing both sides (a black horizontal line drawn inside an
    # axes, e.g. axhline(color="k"), pairs with a spine into a smaller nested "frame"), and
    # drop near-duplicates (a frame found from both rows of a 2 px spine)
    out: list[tuple[int, int, int, int]] = []
    for f in sorted(frames, key=lambda f: f[0] - f[1]):  # tallest first
        if not any(abs(f[2] - g[2]) <= 3 and abs(f[3] - g[3]) <= 3 and g[0] - 3 <= f[0] and f[1] <= g[1] + 3
                   for g in out):
            out.append(f)
    return sorted(out)


def ink(rgb: np.ndarray, frame, margin: int = 3) -> float:
    """Fraction of the frame's interior that is not white (drawn data)."""
    top, bot, left, right = frame
    inner = rgb[top + margin: bot - margin + 1, left + margin: right - margin + 1]
    return float(np.mean((inner < 0.97).any(axis=-1))) if inner.size else 0.0


def has_color(rgb: np.ndarray, color, frames=None, tol: float = 0.02, min_pixels: int = 20) -> bool:
    """At least ``min_pixels`` pixels within ``tol`` of ``color`` (a matplotlib colour spec),
    counted inside ``frames`` only when given (legends and colorbars outside do not count)."""
    from matplotlib.colors import to_rgb

    hit = (np.abs(rgb - np.asarray(to_rgb(color))) <= tol).all(axis=-1)
    if frames is not None:
        inside = np.zeros_like(hit)
        for top, bot, left, right in frames:
            inside[top + 1: bot, left + 1: right] = True
        hit &= inside
    return int(hit.sum()) >= min_pixels


def check_png(path, panels: int | None = None, *, min_panels: int = 1, drawn=None, colors=(), absent=(),
              min_ink: float = 2e-4):
    """Assert ``path`` is a drawn figure; return its RGB pixels and frames (top-left first).

    * a PNG at least 200 x 150 px;
    * ``panels`` frames exactly (or at least ``min_panels``);
    * the frames numbered in ``drawn`` (default: all) have at least ``min_ink`` of their
      interior drawn (an empty panel fails);
    * every colour of ``colors`` is drawn inside the frames and no colour of ``absent`` is.
    """
    path = Path(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    rgb = load_rgb(path)
    assert rgb.shape[0] >= 150 and rgb.shape[1] >= 200, rgb.shape
    frames = axes_frames(rgb)
    if panels is not None:
        assert len(frames) == panels, (path.name, len(frames), frames)
    assert len(frames) >= min_panels, (path.name, len(frames))
    for i in range(len(frames)) if drawn is None else drawn:
        assert ink(rgb, frames[i]) >= min_ink, (path.name, "empty panel", i, frames[i])
    for c in colors:
        assert has_color(rgb, c, frames), (path.name, "missing colour", c)
    for c in absent:
        assert not has_color(rgb, c, frames), (path.name, "unexpected colour", c)
    return rgb, frames
