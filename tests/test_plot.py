"""Tests of nmfaudio.plot: the figures' content, their image files, and input checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from nmfaudio.errors import AudioFileError, ParameterError
from nmfaudio.plot import plot_decomposition, plot_separation, save_figure
from nmfaudio.pipeline import separate
from nmfaudio.spectral import STFTConfig

MIXTURE = Path(__file__).resolve().parents[1] / "audio_fixtures" / "example" / "mixture.wav"


@pytest.fixture(scope="module")
def separation():
    """A small deterministic unsupervised separation of the example mixture."""
    return separate(MIXTURE, n_sources=2, n_components=8, n_iter=30, seed=0)


@pytest.fixture(scope="module")
def figure(separation):
    return plot_separation(separation)


@pytest.fixture
def arrays():
    """Random V (F, T), W (F, K), H (K, T) for a 512-point STFT at 8 kHz."""
    rng = np.random.default_rng(0)
    config = STFTConfig(n_fft=512, hop_length=128)
    F, T, K = config.n_bins, 60, 4
    W = rng.random((F, K)).astype(np.float32)
    H = rng.random((K, T)).astype(np.float32)
    return {"V": W @ H, "W": W, "H": H, "sample_rate": 8000, "stft_config": config}


def _axes(fig):
    return {ax.get_label(): ax for ax in fig.axes if ax.get_label() != "<colorbar>"}


def _colorbars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def _titles(fig):
    return " ".join(ax.get_title(loc=loc) for ax in fig.axes for loc in ("left", "center"))


def _legend_texts(fig):
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


# --------------------------------------------------------------------------- content


def test_separation_figure_has_all_panels(figure, separation):
    assert isinstance(figure, Figure)
    axes = _axes(figure)
    names = separation.source_names
    assert set(axes) == {"activations", "templates", "mixture", "legend"} | {
        f"source:{name}" for name in names
    }
    for label in ["mixture", "activations"] + [f"source:{name}" for name in names]:
        assert "Time (s)" in axes[label].get_xlabel(), label
    for label in ["mixture", "templates"] + [f"source:{name}" for name in names]:
        assert "Hz" in axes[label].get_ylabel(), label
    assert axes["templates"].get_xlabel() == "Component"
    assert axes["activations"].get_ylabel() == "Component"


def test_colorbars_are_labelled_in_db(figure, separation):
    bars = _colorbars(figure)
    assert len(bars) == 2  # mixture, and one shared by the source panels
    for bar in bars:
        assert "dB" in bar.get_ylabel()
    # The mixture's mesh and every source's mesh are on the same dB scale.
    axes = _axes(figure)
    mixture_mesh = axes["mixture"].collections[0]
    assert mixture_mesh.colorbar is not None
    for name in separation.source_names:
        mesh = axes[f"source:{name}"].collections[0]
        assert mesh.get_clim() == mixture_mesh.get_clim() == (-80.0, 0.0)


def test_source_names_in_titles_and_legend(figure, separation):
    titles, legend = _titles(figure), " ".join(_legend_texts(figure))
    for name in separation.source_names:
        assert name in titles
        assert name in legend
    assert "mixture.wav" in figure._suptitle.get_text()


def test_one_activation_line_per_component_coloured_by_source(figure, separation):
    lines = _axes(figure)["activations"].get_lines()
    components = [line for line in lines if line.get_linestyle() == "-"]
    assert len(components) == separation.nmf.templates.shape[1]
    colours = {tuple(np.round(line.get_color(), 3)) for line in components}
    assert len(colours) == separation.n_sources


def test_frequency_axis_options(separation):
    fig = plot_separation(separation, log_frequency=False, max_frequency=4000,
                          dynamic_range_db=60, source_view="mask", title="custom")
    axes = _axes(fig)
    assert axes["mixture"].get_yscale() == "linear"
    assert axes["mixture"].get_ylim() == pytest.approx((0.0, 4000.0))
    assert fig._suptitle.get_text() == "custom"
    assert axes["mixture"].collections[0].get_clim() == (-60.0, 0.0)
    # Mask view: values 0..1 with their own colour bar.
    mask_mesh = axes[f"source:{separation.source_names[0]}"].collections[0]
    assert mask_mesh.get_clim() == (0.0, 1.0)
    assert any("Mask" in bar.get_ylabel() for bar in _colorbars(fig))

    log_axes = _axes(plot_separation(separation))
    assert log_axes["mixture"].get_yscale() == "log"
    assert log_axes["mixture"].get_ylim()[0] == pytest.approx(20.0)


# --------------------------------------------------------------------------- files


def test_png_has_the_figure_size_and_content(figure, tmp_path):
    path = save_figure(figure, tmp_path / "separation.png", dpi=100)
    assert path == str(tmp_path / "separation.png")
    image = imread(path)
    width, height = figure.get_size_inches()
    assert image.shape[:2] == (round(height * 100), round(width * 100))
    rgb = image[..., :3]
    assert rgb.std() > 0.1
    n_colours = len(np.unique((rgb * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    assert n_colours > 500
    assert os.listdir(tmp_path) == ["separation.png"]  # no temporary file left


def test_save_figure_follows_the_extension_and_dpi(arrays, tmp_path):
    fig = plot_decomposition(**arrays, figsize=(6, 4))
    png = imread(save_figure(fig, tmp_path / "small.png", dpi=50))
    assert png.shape[:2] == (200, 300)
    svg = save_figure(fig, tmp_path / "small.svg")
    assert Path(svg).read_text()[:200].lstrip().startswith("<?xml")
    with pytest.raises(ParameterError, match="no 'xyz' format"):
        save_figure(fig, tmp_path / "small.xyz")


def test_save_figure_refuses_to_overwrite(arrays, tmp_path):
    fig = plot_decomposition(**arrays, figsize=(4, 3))
    path = tmp_path / "figure.png"
    path.write_bytes(b"precious")
    with pytest.raises(AudioFileError, match="figure.png.*already exists"):
        save_figure(fig, path)
    assert path.read_bytes() == b"precious"
    save_figure(fig, path, overwrite=True)
    assert imread(path).shape[:2] == (300, 400)
    assert sorted(os.listdir(tmp_path)) == ["figure.png"]


def test_save_figure_bad_destination(arrays, tmp_path):
    fig = plot_decomposition(**arrays, figsize=(4, 3))
    with pytest.raises(AudioFileError, match="does not exist"):
        save_figure(fig, tmp_path / "missing" / "figure.png")
    with pytest.raises(AudioFileError, match="directory"):
        save_figure(fig, tmp_path, overwrite=True)
    with pytest.raises(ParameterError, match="Figure"):
        save_figure("not a figure", tmp_path / "x.png")
    with pytest.raises(ParameterError, match="dpi"):
        save_figure(fig, tmp_path / "x.png", dpi=0)


# --------------------------------------------------------------------------- raw arrays


def test_decomposition_without_groups(arrays):
    fig = plot_decomposition(**arrays)
    axes = _axes(fig)
    assert set(axes) == {"activations", "templates", "mixture", "legend"}
    assert len(_colorbars(fig)) == 1
    assert len(axes["activations"].get_lines()) == arrays["W"].shape[1]
    assert "Hz" in axes["mixture"].get_ylabel()


def test_decomposition_with_groups_but_no_masks_shows_source_models(arrays):
    fig = plot_decomposition(**arrays, groups=[[0, 2], [1, 3]], source_names=["low", "high"])
    axes = _axes(fig)
    assert {"source:low", "source:high"} <= set(axes)
    assert "model" in axes["source:low"].get_title(loc="left")
    assert _legend_texts(fig) == ["low (2 comp.)", "high (2 comp.)"]


def test_many_components_and_long_input_stay_drawable(tmp_path):
    rng = np.random.default_rng(1)
    config = STFTConfig(n_fft=256, hop_length=64)
    F, T, K = config.n_bins, 5000, 60
    W, H = rng.random((F, K)), rng.random((K, T))
    groups = [np.arange(0, K, 3), np.arange(1, K, 3), np.arange(2, K, 3)]
    fig = plot_decomposition(W @ H, W, H, groups=groups, sample_rate=8000, stft_config=config)
    axes = _axes(fig)
    # Activations drawn as one image (not 60 lines), spectrograms pooled to <= 1200 columns.
    solid = [line for line in axes["activations"].get_lines() if line.get_linestyle() == "-"]
    assert solid == []
    assert axes["mixture"].collections[0].get_array().shape[1] <= 1200
    # The time axis still covers the whole signal.
    assert axes["mixture"].get_xlim()[1] == pytest.approx((T - 1) * 64 / 8000 + 32 / 8000)
    save_figure(fig, tmp_path / "big.png")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"W": np.ones((100, 4))}, "W has 100 rows but V has 257"),
        ({"H": np.ones((4, 59))}, "H has 59 columns but V has 60"),
        ({"H": np.ones((3, 60))}, "H has 3 rows but W has 4 columns"),
        ({"V": np.ones((257, 60, 1))}, "V must have shape=\\(F, T\\)"),
        ({"V": -np.ones((257, 60))}, "nonnegative"),
        ({"W": np.full((257, 4), np.nan)}, "NaN"),
        ({"masks": np.ones((2, 257, 59)) / 2}, "masks has shape"),
        ({"masks": np.ones((2, 257)) / 2}, "masks must have shape"),
        ({"masks": np.full((2, 257, 60), 2.0)}, "values in 0..1"),
        ({"masks": np.ones((3, 257, 60)) / 3, "groups": [[0, 1], [2, 3]]}, "3 sources but groups has 2"),
        ({"groups": [[0, 1], [1, 2, 3]]}, "groups"),
        ({"groups": [[0, 1], [2, 9]]}, "outside"),
        ({"groups": [[0, 1], [2, 3]], "source_names": ["a"]}, "1 names but there are 2"),
        ({"source_names": ["a"]}, "needs groups or masks"),
        ({"stft_config": STFTConfig(n_fft=1024, hop_length=256)}, "257 frequency bins"),
        ({"stft_config": "default"}, "STFTConfig"),
        ({"sample_rate": 0}, "sample_rate"),
        ({"dynamic_range_db": -10}, "dynamic_range_db"),
        ({"max_frequency": 10}, "max_frequency"),
        ({"source_view": "waveform"}, "source_view"),
        ({"figsize": (8,)}, "figsize"),
        ({"dpi": float("nan")}, "dpi"),
        ({"log_frequency": "yes"}, "log_frequency"),
    ],
)
def test_bad_input_raises_parameter_error(arrays, change, message):
    with pytest.raises(ParameterError, match=message):
        plot_decomposition(**{**arrays, **change})


def test_plot_separation_needs_a_separation(arrays):
    with pytest.raises(ParameterError, match="Separation"):
        plot_separation(arrays)


def test_inputs_are_not_modified(arrays):
    copies = {name: arrays[name].copy() for name in ("V", "W", "H")}
    masks = np.full((2, 257, 60), 0.5, dtype=np.float32)
    plot_decomposition(**arrays, groups=[[0, 1], [2, 3]], masks=masks)
    for name, copy in copies.items():
        np.testing.assert_array_equal(arrays[name], copy)
    assert np.all(masks == 0.5)


def test_no_pyplot_needed():
    """The module draws and saves without pyplot (headless, no global figure state)."""
    code = (
        "import sys, io, numpy as np\n"
        "from nmfaudio.plot import plot_decomposition\n"
        "from nmfaudio.spectral import STFTConfig\n"
        "W = np.ones((33, 2)); H = np.ones((2, 10))\n"
        "fig = plot_decomposition(W @ H, W, H, sample_rate=8000, stft_config=STFTConfig(64, 16))\n"
        "fig.savefig(io.BytesIO(), format='png')\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
