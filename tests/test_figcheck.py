"""The pixel checks of figures (tests/figcheck.py) against figures of known layout.

Figures are written by balnet.engine.figures.save (the package's dpi and tight bounding box);
the expected frames are those of the axes drawn, so a miscount or a missed empty panel fails.
"""
import numpy as np
import pytest
from figcheck import axes_frames, check_png, load_rgb

from balnet.engine.figures import _plt, save


def _fig(path, nrows, ncols, empty=(), off=(), hline=False, color="tab:blue"):
    plt = _plt()
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i in off:
            ax.set_axis_off()
        elif i not in empty:
            ax.plot(np.linspace(0, 1, 50), np.sin(6 * np.linspace(0, 1, 50) + i), color=color)
            if hline:
                ax.axhline(0.0, color="k", lw=0.5)
    save(fig, path)
    return path


def test_frames_counted(tmp_path):
    """2 x 3 axes, one switched off: 5 frames, in reading order, the same size in each row."""
    p = _fig(tmp_path / "a.png", 2, 3, off=(4,), hline=True)  # axhline must not add a nested frame
    frames = axes_frames(load_rgb(p))
    assert len(frames) == 5
    tops = sorted({f[0] for f in frames})
    assert len(tops) == 2 and [f[0] for f in frames].count(tops[0]) == 3
    widths = {f[3] - f[2] for f in frames}
    assert max(widths) - min(widths) <= 2
    check_png(p, 5, colors=("tab:blue",), absent=("tab:red",))


def test_check_png_fails(tmp_path):
    """An empty panel, a wrong count, a missing or an unexpected colour, a blank figure fail."""
    p = _fig(tmp_path / "e.png", 1, 3, empty=(1,))
    with pytest.raises(AssertionError, match="empty panel"):
        check_png(p, 3)
    check_png(p, 3, drawn=(0, 2))
    with pytest.raises(AssertionError):
        check_png(p, 2, drawn=(0, 2))
    with pytest.raises(AssertionError, match="missing colour"):
        check_png(p, 3, drawn=(0, 2), colors=("tab:red",))
    with pytest.raises(AssertionError, match="unexpected colour"):
        check_png(p, 3, drawn=(0, 2), absent=("tab:blue",))
    blank = _fig(tmp_path / "b.png", 1, 2, off=(0, 1))
    assert axes_frames(load_rgb(blank)) == []
    with pytest.raises(AssertionError):
        check_png(blank)
    (tmp_path / "x.png").write_bytes(b"not a png" * 200)
    with pytest.raises(AssertionError, match="not a PNG"):
        check_png(tmp_path / "x.png")
