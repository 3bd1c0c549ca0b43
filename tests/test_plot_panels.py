"""Tests of nmfaudio.plot's panel drawers: each panel of plot_decomposition on a
matplotlib Axes of the caller's own figure."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from nmfaudio.errors import ParameterError
from nmfaudio.masks import wiener_masks
from nmfaudio.plot import (draw_activations, draw_legend, draw_source, draw_spectrogram,
                           draw_templates, plot_decomposition)
from nmfaudio.spectral import STFTConfig

CONFIG = STFTConfig(n_fft=512, hop_length=128)
GROUPS = [[0, 2], [1, 3]]


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    W = rng.random((CONFIG.n_bins, 4)).astype(np.float32)
    H = rng.random((4, 60)).astype(np.float32)
    return W @ H, W, H


def test_one_panel_in_a_figure_of_ones_own(arrays):
    V, W, H = arrays
    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    right.plot([0, 1], [1, 0])  # the researcher's own content beside ours
    mesh = draw_spectrogram(left, V, sample_rate=8000, stft_config=CONFIG, title="my V")
    assert left.get_title(loc="left") == "my V"
    assert left.get_ylabel() == "Frequency (Hz)" and left.get_xlabel() == "Time (s)"
    assert left.get_yscale() == "log"
    assert mesh.get_clim() == (-80.0, 0.0)
    assert len(fig.axes) == 3  # left, right and the colour bar
    assert len(right.get_lines()) == 1  # untouched


def test_templates_and_activations_panels_match_the_full_figure(arrays):
    V, W, H = arrays
    fig = Figure(figsize=(8, 6))
    ax_w, ax_h, ax_legend = fig.subplots(1, 3)
    draw_templates(ax_w, W, sample_rate=8000, stft_config=CONFIG, groups=GROUPS)
    draw_activations(ax_h, H, sample_rate=8000, stft_config=CONFIG, groups=GROUPS, templates=W)
    draw_legend(ax_legend, groups=GROUPS, source_names=["low", "high"])
    full = plot_decomposition(V, W, H, groups=GROUPS, source_names=["low", "high"],
                              sample_rate=8000, stft_config=CONFIG)
    panels = {ax.get_label(): ax for ax in full.axes}
    # the same lines, in the same colours and order, as the composed figure draws
    ours = [(tuple(line.get_ydata()), line.get_color()) for line in ax_h.get_lines()]
    theirs = [(tuple(line.get_ydata()), line.get_color())
              for line in panels["activations"].get_lines()]
    assert ours == theirs and len(ours) == 5  # 4 components and the line between sources
    assert ax_w.get_xlabel() == "Component"
    assert [t.get_text() for t in ax_legend.get_legend().get_texts()] == [
        "low (2 comp.)", "high (2 comp.)"]


def test_source_panel_spectrogram_and_mask(arrays):
    V, W, H = arrays
    masks = wiener_masks(W, H, GROUPS)
    fig = Figure()
    a, b = fig.subplots(1, 2)
    draw_source(a, V, masks[0], sample_rate=8000, stft_config=CONFIG, name="low", color="red")
    mesh = draw_source(b, V, masks[1], sample_rate=8000, stft_config=CONFIG, name="high",
                       view="mask", log_frequency=False, colorbar=False)
    assert a.get_title(loc="left").startswith("low:")
    assert b.get_title(loc="left") == "high: mask $M$"
    assert mesh.get_clim() == (0.0, 1.0) and b.get_yscale() == "linear"
    assert len(fig.axes) == 3  # one colour bar, for the first panel only


@pytest.mark.parametrize("call,match", [
    (lambda ax, V, W, H: draw_spectrogram(ax, -V, sample_rate=8000, stft_config=CONFIG),
     "negative"),
    (lambda ax, V, W, H: draw_spectrogram(ax, V[:-1], sample_rate=8000, stft_config=CONFIG),
     "frequency bins"),
    (lambda ax, V, W, H: draw_templates(ax, W, sample_rate=8000, stft_config=CONFIG,
                                        groups=[[0, 1]]), "no group"),
    (lambda ax, V, W, H: draw_activations(ax, H, sample_rate=8000, stft_config=CONFIG,
                                          templates=W[:, :2]), "templates must have shape"),
    (lambda ax, V, W, H: draw_source(ax, V, np.full(V.shape, 2.0), sample_rate=8000,
                                     stft_config=CONFIG), "values in 0..1"),
    (lambda ax, V, W, H: draw_source(ax, V, V * 0, sample_rate=8000, stft_config=CONFIG,
                                     view="x"), "view"),
    (lambda ax, V, W, H: draw_legend(ax), "groups or n_components"),
])
def test_panels_check_their_input(arrays, call, match):
    V, W, H = arrays
    ax = Figure().add_subplot()
    with pytest.raises(ParameterError, match=match):
        call(ax, V, W, H)
