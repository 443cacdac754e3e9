"""Tests of rmtjax/experiments/plotting.py: the shared figure style and helpers."""

from __future__ import annotations

import io

import matplotlib as mpl
import numpy as np
import pytest

from rmtjax.experiments import plotting


def test_styled_applies_the_style_only_inside():
    @plotting.styled
    def figure():
        fig, axes = plotting.new_figure(1, 2, panel=(2.0, 1.5), extra_width=1.0)
        text = axes[0, 0].set_xlabel("x")
        return fig, axes, text

    before = mpl.rcParams["font.size"]
    fig, axes, text = figure()
    assert axes.shape == (1, 2)
    np.testing.assert_allclose(fig.get_size_inches(), [5.0, 1.5])
    assert text.get_fontsize() == plotting.STYLE["axes.labelsize"]
    assert mpl.rcParams["font.size"] == before


def test_errorbars_share_xrange_and_log_scale():
    _, axes = plotting.new_figure(1, 2)
    left, right = axes[0]
    bars = plotting.errorbars(left, [0, 1, 2], [0.5, 0.6, 0.7], [0.1, 0.1, 0.2], label="m")
    segments = bars.lines[2][0].get_segments()  # one vertical bar per point: mean ± stderr
    np.testing.assert_allclose([s[:, 1] for s in segments], [[0.4, 0.6], [0.5, 0.7], [0.5, 0.9]])
    right.plot([5, 10], [1, 2])
    plotting.share_xrange(axes)
    assert left.get_xlim() == right.get_xlim()
    assert left.get_xlim()[0] <= 0 and left.get_xlim()[1] >= 10
    assert plotting.log_scale_if_decades(right, [1e-3, 1.0]) and right.get_yscale() == "log"
    assert not plotting.log_scale_if_decades(left, [0.5, 2.0]) and left.get_yscale() == "linear"
    legend = plotting.legend_outside(left)
    assert legend.get_bbox_to_anchor().transformed(left.transAxes.inverted()).x0 > 1.0
    with pytest.raises(ValueError, match="loc must be"):
        plotting.legend_outside(left, loc="inside")


@pytest.mark.parametrize(
    ("fmt", "magic"), [("png", b"\x89PNG"), ("pdf", b"%PDF"), ("svg", b"<?xml")]
)
def test_save_figure_formats(fmt, magic):
    fig, _ = plotting.new_figure()
    buffer = io.BytesIO()
    plotting.save_figure(fig, buffer, fmt)
    assert buffer.getvalue().startswith(magic)
    with pytest.raises(ValueError, match="figure format must be one of"):
        plotting.save_figure(fig, buffer, "jpeg")
