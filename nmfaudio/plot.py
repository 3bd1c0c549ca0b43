"""Figures of an NMF decomposition: the mixture, the templates, the activations, the sources.

One figure tells the story of a separation, laid out as the factorization itself reads,
``V ~ W H``::

    +-----------+---------------------------------+
    |  legend   |  activations H (K, T)           |
    +-----------+---------------------------------+
    | templates |  mixture spectrogram V (F, T)   | colour bar (dB)
    |  W (F, K) |                                 |
    +-----------+------------+--------------------+
    |  source 1: M_1 * V     |  source 2: M_2 * V | colour bar (dB)
    +------------------------+--------------------+

W shares its frequency axis with V, H its time axis; components are grouped by source
and drawn in that source's colour (``tab10``) in W, in H and in the legend.

Only the object-oriented matplotlib API is used (:class:`matplotlib.figure.Figure`, no
``pyplot``): no global state is touched, no window is opened, and no backend has to be
chosen, so the functions work on a headless machine and from several threads.
Callers (the command line) import this module lazily, so that ``nmfaudio`` starts
without loading matplotlib.

- :func:`plot_separation` draws a :class:`~nmfaudio.pipeline.Separation`;
- :func:`plot_decomposition` draws the same figure from plain arrays, for any NMF;
- :func:`save_figure` writes a figure to a file atomically, never overwriting by accident.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator
from matplotlib.transforms import blended_transform_factory

from ._files import atomic_write
from ._validation import nonnegative_finite_array, positive_number, real_float_array
from .errors import ParameterError
from .masks import check_groups
from .spectral import STFTConfig, frequencies, times

__all__ = ["plot_separation", "plot_decomposition", "save_figure", "SOURCE_VIEWS",
           "draw_spectrogram", "draw_templates", "draw_activations", "draw_source", "draw_legend"]

#: What the per-source panels show: the separated spectrogram ``M_s * V`` or the mask.
SOURCE_VIEWS = ("spectrogram", "mask")

#: Lowest frequency shown on a logarithmic axis (Hz), unless the first bin is higher.
LOG_FREQUENCY_FLOOR = 20.0

# Spectrograms are max-pooled for display to about one cell per pixel of the whole
# figure (see _display_groups): a panel has fewer pixels than that, and drawing millions
# of cells (a long recording, or the compressed top octaves of a log axis) only costs time.
# Above this many components the activations are an image rather than one line each.
_MAX_LINES = 40

_SPECTROGRAM_CMAP = "magma"
_MASK_CMAP = "viridis"
_NEUTRAL = "0.25"  # components that belong to no source (no groups given)


# --------------------------------------------------------------------------- public


def plot_separation(
    separation,
    *,
    log_frequency: bool = True,
    max_frequency: Optional[float] = None,
    dynamic_range_db: float = 80.0,
    source_view: str = "spectrogram",
    figsize: Optional[Sequence[float]] = None,
    dpi: float = 100,
    title: Optional[str] = None,
) -> Figure:
    """Draw a separation: mixture, templates, activations and one panel per source.

    Parameters
    ----------
    separation : Separation
        The result of :func:`nmfaudio.pipeline.separate`: its spectrogram V (F, T), NMF
        templates W (F, K) and activations H (K, T), component groups, masks (S, F, T)
        and source names, at the sample rate and STFT the separation ran with.
    log_frequency : bool
        Logarithmic frequency axis (from 20 Hz, or the first bin above 0 Hz if higher),
        which gives low notes and drums their due room; False for a linear axis from 0.
    max_frequency : float > 0, optional
        Highest frequency shown (Hz). Default: the Nyquist frequency.
    dynamic_range_db : float > 0
        Levels more than this far below the mixture's peak are drawn as the floor colour.
    source_view : {"spectrogram", "mask"}
        The per-source panels show the separated spectrogram ``M_s * V`` in dB (default,
        on the mixture's colour scale) or the soft mask ``M_s`` (0 to 1).
    figsize : (float, float), optional
        Width and height in inches. Default: 12 wide, tall enough for the sources.
    dpi : float > 0
        Resolution the layout is designed at (pixels per inch).
    title : str, optional
        Figure title. Default: the mixture's file name, K and S.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Not attached to pyplot: save it with :func:`save_figure` (or ``fig.savefig``), or
        display it in a notebook by evaluating it.

    Raises
    ------
    ParameterError
        If ``separation`` is not a :class:`~nmfaudio.pipeline.Separation`, or an option is
        out of range (see :func:`plot_decomposition`).

    See Also
    --------
    plot_decomposition, save_figure

    Notes
    -----
    Levels are converted to dB as ``20 / spectrogram_power * log10``, with the
    separation's ``spectrogram_power`` (1, a magnitude spectrogram, by default).

    Examples
    --------
    >>> from nmfaudio import separate
    >>> from nmfaudio.plot import plot_separation, save_figure
    >>> sep = separate("mixture.wav", n_sources=2)      # doctest: +SKIP
    >>> fig = plot_separation(sep, max_frequency=8000)  # doctest: +SKIP
    >>> save_figure(fig, "separation.png")              # doctest: +SKIP
    'separation.png'
    """
    from .pipeline import Separation  # the pipeline is already loaded by whoever has one

    if not isinstance(separation, Separation):
        raise ParameterError(
            f"separation must be a Separation (the result of nmfaudio.separate), got "
            f"{type(separation).__name__}; use plot_decomposition for plain arrays"
        )
    if title is None:
        n_components = separation.nmf.templates.shape[1]
        what = f"{n_components} components, {separation.n_sources} sources"
        path = separation.mixture.path if separation.mixture is not None else None
        kind = "NMFD" if separation.nmf.templates.ndim == 3 else "NMF"
        title = f"{kind} separation of {os.path.basename(path)}: {what}" if path else f"{kind} separation: {what}"
    templates = separation.nmf.templates
    if templates.ndim == 3:  # a drum kit's NMFD: each template's spectrum over its frames
        templates = templates.sum(axis=2)
    return plot_decomposition(
        separation.spectrogram,
        templates,
        separation.nmf.activations,
        groups=separation.groups,
        source_names=separation.source_names,
        masks=separation.masks,
        sample_rate=separation.analysis_rate,
        stft_config=separation.stft,
        spectrogram_power=separation.spectrogram_power,
        log_frequency=log_frequency,
        max_frequency=max_frequency,
        dynamic_range_db=dynamic_range_db,
        source_view=source_view,
        figsize=figsize,
        dpi=dpi,
        title=title,
    )


def plot_decomposition(
    V,
    W,
    H,
    *,
    groups=None,
    source_names: Optional[Sequence[str]] = None,
    masks=None,
    sample_rate: int,
    stft_config: STFTConfig,
    spectrogram_power: float = 1.0,
    log_frequency: bool = True,
    max_frequency: Optional[float] = None,
    dynamic_range_db: float = 80.0,
    source_view: str = "spectrogram",
    figsize: Optional[Sequence[float]] = None,
    dpi: float = 100,
    title: Optional[str] = None,
) -> Figure:
    """Draw an NMF decomposition ``V ~ W H`` from arrays, with optional sources.

    The layout of the module docstring: activations H (one line per component, or an
    image above 40), templates W, V in dB, and one panel per source when ``masks`` or
    ``groups`` are given. Components are ordered by source, then spectral centroid.

    Each panel has a drawer taking a matplotlib Axes, for a figure of your own (``draw_*``:
    spectrogram, templates, activations, source, legend).

    Parameters
    ----------
    V : np.ndarray [shape=(F, T), nonnegative]
        The spectrogram that was factorized (magnitude or power, see
        ``spectrogram_power``).
    W : np.ndarray [shape=(F, K), nonnegative]
        Templates, one column per component.
    H : np.ndarray [shape=(K, T), nonnegative]
        Activations, one row per component.
    groups : sequence of S array-like of int, optional
        ``groups[s]`` are the components (columns of W) of source ``s``; every component
        in exactly one group (see :func:`nmfaudio.masks.check_groups`). Components are
        then coloured by source. Default: no sources, components in one colour.
    source_names : sequence of S str, optional
        Names of the sources, for the legend and titles. Default: ``source1``, ...
    masks : np.ndarray [shape=(S, F, T), values in 0..1], optional
        Soft masks of the sources. Default, when ``groups`` is given: the source panels
        show each source's model ``W[:, g_s] @ H[g_s]`` instead of ``M_s * V``.
    sample_rate, stft_config, spectrogram_power, log_frequency, max_frequency, dynamic_range_db
        The audio's rate and STFT (``F`` must equal ``stft_config.n_bins``) and the
        display options, as in :func:`draw_spectrogram`.
    source_view : {"spectrogram", "mask"}
        What the source panels show: ``M_s * V`` in dB on V's colour scale, or ``M_s``.
    figsize : (float, float), optional
        Width and height in inches. Default: 12 wide, tall enough for the sources.
    dpi : float > 0
        Resolution the layout is designed at (pixels per inch).
    title : str, optional
        Figure title (default: the number of components and sources).

    Returns
    -------
    fig : matplotlib.figure.Figure
        A figure with constrained layout, not attached to pyplot. Its panels can be
        found by ``ax.get_label()``: ``"activations"``, ``"templates"``, ``"mixture"``,
        ``"legend"``, ``"source:NAME"`` for each source, ``"<colorbar>"`` for the colour
        bars. Panel titles are left-aligned (``ax.get_title(loc="left")``).

    Raises
    ------
    ParameterError
        An array is not finite and nonnegative or its shape does not fit the others,
        ``groups`` is not a partition of the components, the names do not match the
        sources, F does not match the STFT, or an option is out of range.

    See Also
    --------
    plot_separation, save_figure, draw_spectrogram

    Examples
    --------
    >>> import numpy as np
    >>> from nmfaudio import STFTConfig, nmf
    >>> from nmfaudio.plot import plot_decomposition
    >>> V = np.random.default_rng(0).random((257, 100))
    >>> result = nmf(V, 4, n_iter=20, seed=0)
    >>> fig = plot_decomposition(V, result.W, result.H, groups=[[0, 1], [2, 3]],
    ...                          sample_rate=16000, stft_config=STFTConfig(512, 128))
    >>> [ax.get_label() for ax in fig.axes][:4]
    ['activations', 'templates', 'mixture', 'legend']
    """
    V, W, H = _check_factors(V, W, H)
    freqs, frame_times = _stft_axes(V.shape, sample_rate, stft_config)
    power, dynamic_range_db, dpi = _check_display(spectrogram_power, dynamic_range_db, dpi,
                                                  log_frequency, source_view, title)
    groups, masks, source_names = _check_sources(groups, masks, source_names, W.shape[1],
                                                 V.shape)
    return _compose(V, W, H, groups=groups, masks=masks, source_names=source_names,
                    freqs=freqs, frame_times=frame_times, sample_rate=sample_rate,
                    stft_config=stft_config, power=power, log_frequency=log_frequency,
                    max_frequency=max_frequency, dynamic_range_db=dynamic_range_db,
                    source_view=source_view, figsize=figsize, dpi=dpi, title=title)


def _compose(V, W, H, *, groups, masks, source_names, freqs, frame_times, sample_rate,
             stft_config, power, log_frequency, max_frequency, dynamic_range_db, source_view,
             figsize, dpi, title) -> Figure:
    """:func:`plot_decomposition` once its input is checked: lay out, draw each panel."""
    n_sources = None if source_names is None else len(source_names)
    n_rows = -(-n_sources // 3) if n_sources else 0  # up to three source panels a row
    if figsize is None:
        figsize = (12.0, 6.0 + 2.9 * n_rows)
    figsize = _figsize(figsize)
    grid = _grid(freqs, frame_times, stft_config, sample_rate, log_frequency=log_frequency,
                 max_frequency=max_frequency, pixels=(int(figsize[0] * dpi), int(figsize[1] * dpi)))
    levels = _Levels.of(V, power, dynamic_range_db)
    comps = _Components.of(W, freqs, groups, n_sources)

    fig, panels = _layout(figsize, dpi, n_sources)
    mesh = _draw_spectrogram(panels["mixture"], V, grid, levels, "Mixture spectrogram V")
    bar = fig.colorbar(mesh, ax=panels["mixture"], pad=0.01, fraction=0.04, aspect=18)
    bar.set_label("Level (dB re peak of V)")
    K = W.shape[1]
    w_inches = figsize[0] / 5.2 * 0.75  # about the width of the W panel
    _draw_templates(panels["templates"], W, grid, levels, comps,
                    max_labels=int(w_inches * 72 / (5 * len(str(K - 1)) + 7)))
    top_share = 6.0 / (6.0 + 2.9 * n_rows)  # of the height, for H, W and V
    h_inches = figsize[1] * top_share / 3.2 * 0.75  # about the height of the H panel
    _draw_activations(panels["activations"], H, grid, comps, max_labels=int(h_inches * 72 / 11))
    _draw_legend(panels["legend"], comps, source_names, K)
    if n_sources:
        _source_panels(fig, panels, V, W, H, grid, levels, comps, masks=masks,
                       source_names=source_names, source_view=source_view)
    if title is None:
        title = f"NMF decomposition: {K} components" + (
            f", {n_sources} sources" if n_sources else ""
        )
    fig.suptitle(title, fontsize=13)
    return fig


def _layout(figsize, dpi, n_sources) -> tuple:
    """The figure and its top axes (H, W, V, legend), with a grid for the sources."""
    show_sources = bool(n_sources)
    # Up to three source panels a row, rows as evenly filled as possible (4 -> 2 + 2).
    n_rows = -(-n_sources // 3) if show_sources else 0
    n_cols = -(-n_sources // n_rows) if show_sources else 1
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    fig.get_layout_engine().set(h_pad=0.06, w_pad=0.06, hspace=0.04, wspace=0.03)
    outer = fig.add_gridspec(
        2 if show_sources else 1,
        1,
        height_ratios=[6.0, 2.9 * n_rows] if show_sources else None,
    )
    top = outer[0].subgridspec(2, 2, width_ratios=[1, 4.2], height_ratios=[1.3, 1.9])
    panels = {"activations": fig.add_subplot(top[0, 1], label="activations")}
    panels["templates"] = fig.add_subplot(top[1, 0], label="templates")
    panels["mixture"] = fig.add_subplot(top[1, 1], sharex=panels["activations"],
                                        sharey=panels["templates"], label="mixture")
    panels["legend"] = fig.add_subplot(top[0, 0], label="legend")
    if show_sources:
        panels["sources"] = (outer[1].subgridspec(n_rows, n_cols), n_cols)
    return fig, panels


def _source_panels(fig, panels, V, W, H, grid, levels, comps, *, masks, source_names,
                   source_view) -> None:
    """One panel per source under the mixture, and their colour bar."""
    bottom, n_cols = panels["sources"]
    source_axes, mesh = [], None
    for s, name in enumerate(source_names):
        ax = fig.add_subplot(bottom[s // n_cols, s % n_cols], sharex=panels["mixture"],
                             sharey=panels["mixture"], label=f"source:{name}")
        source_axes.append(ax)
        if masks is not None:
            as_mask = source_view == "mask"
            layer = masks[s][grid.rows] if as_mask else masks[s][grid.rows] * V[grid.rows]
            what = "mask $M$" if as_mask else "$M \\odot V$"
        else:
            g = comps.groups[s]
            as_mask = False
            layer = (W[grid.rows][:, g] @ H[g]) if len(g) else np.zeros((len(grid.rows), V.shape[1]))
            what = "model $W_s H_s$"
        mesh = _draw_source(ax, layer, grid, levels, as_mask=as_mask,
                            title=f"{name}: {what}", color=comps.source_colors[s])
    bar = fig.colorbar(mesh, ax=source_axes, pad=0.01, fraction=0.04, aspect=18)
    if source_view == "mask" and masks is not None:
        bar.set_label("Mask (share of the mixture)")
    else:
        bar.set_label("Level (dB re peak of V)")


# --------------------------------------------------------------------------- panels


def draw_spectrogram(ax, V, *, sample_rate: int, stft_config: STFTConfig,
                     spectrogram_power: float = 1.0, log_frequency: bool = True,
                     max_frequency: Optional[float] = None, dynamic_range_db: float = 80.0,
                     title: str = "Mixture spectrogram V", colorbar: bool = True):
    """Draw a spectrogram in dB re its peak on a matplotlib Axes (the figure's V panel).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw (any figure, pyplot's or not).
    V : np.ndarray [shape=(F, T), nonnegative]
        The spectrogram, ``F = stft_config.n_bins``.
    sample_rate : int > 0
        Sample rate of the audio the STFT was computed on (Hz).
    stft_config : STFTConfig
        The STFT that gave V.
    spectrogram_power : float > 0
        The exponent V was computed with (1 magnitude, 2 power), so that dB are
        ``20 / spectrogram_power * log10``.
    log_frequency : bool
        Logarithmic frequency axis (from 20 Hz, or the first bin above 0 Hz if higher);
        False for a linear axis from 0 Hz.
    max_frequency : float > 0, optional
        Highest frequency shown (Hz). Default: the Nyquist frequency.
    dynamic_range_db : float > 0
        Colour range in dB below the peak of V (and of each template).
    title : str
        The panel's title (left-aligned).
    colorbar : bool
        Add a colour bar in dB next to ``ax``.

    Returns
    -------
    matplotlib.collections.QuadMesh
        The drawn image (for a colour bar of your own).

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from nmfaudio import STFTConfig
    >>> from nmfaudio.plot import draw_spectrogram
    >>> fig = Figure()
    >>> ax = fig.add_subplot()
    >>> V = np.random.default_rng(0).random((257, 50))
    >>> mesh = draw_spectrogram(ax, V, sample_rate=16000, stft_config=STFTConfig(512, 128))
    >>> ax.get_ylabel()
    'Frequency (Hz)'
    """
    V = _nonnegative(V, "V", "shape=(F, T)", ndim=2)
    grid, levels = _panel_setup(ax, V.shape, V, sample_rate, stft_config, spectrogram_power,
                                dynamic_range_db, log_frequency, max_frequency)
    mesh = _draw_spectrogram(ax, V, grid, levels, title)
    if colorbar:
        bar = ax.figure.colorbar(mesh, ax=ax, pad=0.01, fraction=0.04, aspect=18)
        bar.set_label("Level (dB re peak)")
    return mesh


def draw_templates(ax, W, *, sample_rate: int, stft_config: STFTConfig, groups=None,
                   spectrogram_power: float = 1.0, log_frequency: bool = True,
                   max_frequency: Optional[float] = None, dynamic_range_db: float = 80.0) -> None:
    """Draw the templates W on a matplotlib Axes: one column per component, in dB re its
    peak, ordered by source and spectral centroid, coloured by source.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    W : np.ndarray [shape=(F, K), nonnegative]
    groups : sequence of S array-like of int, optional
        The components of each source (see :func:`plot_decomposition`).
    sample_rate, stft_config, spectrogram_power, log_frequency, max_frequency, dynamic_range_db
        As in :func:`draw_spectrogram`.
    """
    W = _nonnegative(W, "W", "shape=(F, K)", ndim=2)
    if W.shape[1] == 0:
        raise ParameterError("W has no columns: there must be at least one component")
    grid, levels = _panel_setup(ax, (W.shape[0], 1), None, sample_rate, stft_config,
                                spectrogram_power, dynamic_range_db, log_frequency, max_frequency)
    groups = None if groups is None else check_groups(groups, W.shape[1])
    comps = _Components.of(W, grid.freqs, groups, None if groups is None else len(groups))
    K = W.shape[1]
    width = ax.get_position().width * ax.figure.get_size_inches()[0] * 0.75
    _draw_templates(ax, W, grid, levels, comps,
                    max_labels=int(width * 72 / (5 * len(str(K - 1)) + 7)))


def draw_activations(ax, H, *, sample_rate: int, stft_config: STFTConfig, groups=None,
                     templates=None) -> None:
    """Draw the activations H on a matplotlib Axes: one row per component, each scaled to
    its peak (an image above 40 components), coloured by source.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    H : np.ndarray [shape=(K, T), nonnegative]
    sample_rate, stft_config
        Of the STFT the activations' frames come from.
    groups : sequence of S array-like of int, optional
        The components of each source.
    templates : np.ndarray [shape=(F, K)], optional
        W, to order the rows as :func:`draw_templates` orders its columns (by spectral
        centroid within each source); default: by index.
    """
    H = _nonnegative(H, "H", "shape=(K, T)", ndim=2)
    K = H.shape[0]
    if K == 0:
        raise ParameterError("H has no rows: there must be at least one component")
    freqs, frame_times = _stft_axes((stft_config.n_bins if isinstance(stft_config, STFTConfig)
                                     else 0, H.shape[1]), sample_rate, stft_config)
    grid = _grid(freqs, frame_times, stft_config, sample_rate, log_frequency=False,
                 max_frequency=None, pixels=_pixels(ax))
    groups = None if groups is None else check_groups(groups, K)
    if templates is None:
        W = np.ones((len(freqs), K), dtype=np.float32)  # equal centroids: index order
    else:
        W = _nonnegative(templates, "templates", "shape=(F, K)", ndim=2)
        if W.shape != (len(freqs), K):
            raise ParameterError(f"templates must have shape (F, K) = ({len(freqs)}, {K}), "
                                 f"got {W.shape}")
    comps = _Components.of(W, freqs, groups, None if groups is None else len(groups))
    height = ax.get_position().height * ax.figure.get_size_inches()[1] * 0.75
    _draw_activations(ax, H, grid, comps, max_labels=int(height * 72 / 11))


def draw_source(ax, V, mask, *, sample_rate: int, stft_config: STFTConfig,
                name: str = "source", view: str = "spectrogram", color=None,
                spectrogram_power: float = 1.0, log_frequency: bool = True,
                max_frequency: Optional[float] = None, dynamic_range_db: float = 80.0,
                colorbar: bool = True):
    """Draw one separated source on a matplotlib Axes: ``mask * V`` in dB re the peak of
    V (``view="spectrogram"``), or the mask itself (``view="mask"``).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    V : np.ndarray [shape=(F, T), nonnegative]
        The mixture's spectrogram.
    mask : np.ndarray [shape=(F, T), values in 0..1]
        The source's mask, e.g. ``separation.masks[s]``.
    name : str
        The source's name, for the title.
    view : {"spectrogram", "mask"}
    color : matplotlib colour, optional
        Of the title and frame (default: black).
    sample_rate, stft_config, spectrogram_power, log_frequency, max_frequency, dynamic_range_db
        As in :func:`draw_spectrogram`.
    colorbar : bool
        Add a colour bar next to ``ax``.

    Returns
    -------
    matplotlib.collections.QuadMesh
    """
    V = _nonnegative(V, "V", "shape=(F, T)", ndim=2)
    _, masks, _ = _check_sources(None, np.asarray(mask)[None], None, 1, V.shape)
    if view not in SOURCE_VIEWS:
        raise ParameterError(f"view must be one of {SOURCE_VIEWS}, got {view!r}")
    grid, levels = _panel_setup(ax, V.shape, V, sample_rate, stft_config, spectrogram_power,
                                dynamic_range_db, log_frequency, max_frequency)
    as_mask = view == "mask"
    layer = masks[0][grid.rows] if as_mask else masks[0][grid.rows] * V[grid.rows]
    what = "mask $M$" if as_mask else "$M \\odot V$"
    mesh = _draw_source(ax, layer, grid, levels, as_mask=as_mask, title=f"{name}: {what}",
                        color="black" if color is None else color)
    if colorbar:
        bar = ax.figure.colorbar(mesh, ax=ax, pad=0.01, fraction=0.04, aspect=18)
        bar.set_label("Mask (share of the mixture)" if as_mask else "Level (dB re peak of V)")
    return mesh


def draw_legend(ax, *, groups=None, source_names: Optional[Sequence[str]] = None,
                n_components: Optional[int] = None) -> None:
    """Draw the sources' colour legend (or the number of components) on an Axes.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Its frame and ticks are hidden.
    groups : sequence of S array-like of int, optional
        The components of each source; the legend then counts them.
    source_names : sequence of S str, optional
        Default: ``source1``, ...
    n_components : int, optional
        K (default: the number of components in ``groups``).
    """
    K = n_components if n_components is not None else (
        sum(len(g) for g in groups) if groups is not None else None)
    if K is None:
        raise ParameterError("draw_legend needs groups or n_components")
    groups = None if groups is None else check_groups(groups, K)
    n_sources = len(groups) if groups is not None else (
        None if source_names is None else len(source_names))
    if source_names is None and n_sources is not None:
        source_names = [f"source{s + 1}" for s in range(n_sources)]
    comps = _Components.of(np.ones((1, K)), np.zeros(1), groups, n_sources)
    _draw_legend(ax, comps, None if source_names is None else list(source_names), K)


# --------------------------------------------------------------------------- panel internals


@dataclass(frozen=True, eq=False)
class _Grid:
    """Where the cells of a (F, T) spectrogram go on the axes, and how they are pooled."""

    freqs: np.ndarray  # (F,) every bin's frequency
    rows: np.ndarray  # the bins shown (up to the highest frequency)
    f_shown: np.ndarray  # edges of the displayed (pooled) cells
    t_shown: np.ndarray
    row_starts: np.ndarray
    col_starts: np.ndarray
    f_range: tuple
    t_range: tuple
    log_frequency: bool

    def shrink(self, array: np.ndarray) -> np.ndarray:
        """(F', T) -> the displayed cells, max-pooled."""
        return _pool(_pool(array, self.row_starts, axis=0), self.col_starts, axis=1)


@dataclass(frozen=True, eq=False)
class _Levels:
    """Colour levels in dB re the peak of V (the sources share that reference)."""

    ref: float
    db_scale: float
    dynamic_range_db: float

    @classmethod
    def of(cls, V, power: float, dynamic_range_db: float) -> "_Levels":
        ref = float(V.max()) if V is not None and V.size and V.max() > 0 else 1.0
        return cls(ref=ref, db_scale=20.0 / power, dynamic_range_db=dynamic_range_db)

    @property
    def vmin(self) -> float:
        return -self.dynamic_range_db

    def to_db(self, array: np.ndarray) -> np.ndarray:
        floor = self.ref * 10.0 ** (-(self.dynamic_range_db + 20.0) / self.db_scale)
        return self.db_scale * np.log10(np.maximum(array, floor) / self.ref)


@dataclass(frozen=True, eq=False)
class _Components:
    """Display order and colours of the components: by source, then spectral centroid."""

    order: np.ndarray
    colors: list  # one per component (index into W)
    source_colors: list
    starts: list  # display position of each source's first component
    groups: Optional[tuple]

    @classmethod
    def of(cls, W, freqs, groups, n_sources) -> "_Components":
        K = W.shape[1]
        source_colors = _source_colors(n_sources or 0)
        if groups is None:
            order = _centroid_order(W, freqs, np.arange(K))
            colors = [_NEUTRAL] * K
        else:
            order = np.concatenate([_centroid_order(W, freqs, g) for g in groups]).astype(np.intp)
            owner = np.empty(K, dtype=np.intp)
            for s, group in enumerate(groups):
                owner[group] = s
            colors = [source_colors[owner[k]] for k in range(K)]
        sizes = [len(g) for g in groups] if groups is not None else [K]
        starts = [int(p) for p, n in zip(np.cumsum([0] + sizes[:-1]), sizes) if n]
        return cls(order=order, colors=colors, source_colors=source_colors, starts=starts,
                   groups=groups)


def _pixels(ax) -> tuple:
    """The figure's size in pixels: the finest the panel's cells need to be pooled to."""
    width, height = ax.figure.get_size_inches()
    dpi = ax.figure.get_dpi()
    return int(width * dpi), int(height * dpi)


def _panel_setup(ax, shape, V, sample_rate, stft_config, spectrogram_power, dynamic_range_db,
                 log_frequency, max_frequency) -> tuple:
    """Checks and geometry shared by the public drawers of frequency panels."""
    freqs, frame_times = _stft_axes(shape, sample_rate, stft_config)
    power = _positive(spectrogram_power, "spectrogram_power")
    dynamic_range_db = _positive(dynamic_range_db, "dynamic_range_db")
    _check_flag(log_frequency, "log_frequency")
    grid = _grid(freqs, frame_times, stft_config, sample_rate, log_frequency=log_frequency,
                 max_frequency=max_frequency, pixels=_pixels(ax))
    return grid, _Levels.of(V, power, dynamic_range_db)


def _check_display(spectrogram_power, dynamic_range_db, dpi, log_frequency, source_view,
                   title) -> tuple:
    """The display options of :func:`plot_decomposition`: (power, dynamic range, dpi)."""
    power = _positive(spectrogram_power, "spectrogram_power")
    dynamic_range_db = _positive(dynamic_range_db, "dynamic_range_db")
    dpi = _positive(dpi, "dpi")
    _check_flag(log_frequency, "log_frequency")
    if source_view not in SOURCE_VIEWS:
        raise ParameterError(f"source_view must be one of {SOURCE_VIEWS}, got {source_view!r}")
    if title is not None and not isinstance(title, str):
        raise ParameterError(f"title must be a str, got {type(title).__name__}")
    return power, dynamic_range_db, dpi


def _check_flag(value, name: str) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"{name} must be True or False, got {value!r}")


def _check_factors(V, W, H) -> tuple:
    """V (F, T), W (F, K), H (K, T) as finite nonnegative arrays of fitting shapes."""
    V = _nonnegative(V, "V", "shape=(F, T)", ndim=2)
    W = _nonnegative(W, "W", "shape=(F, K)", ndim=2)
    H = _nonnegative(H, "H", "shape=(K, T)", ndim=2)
    F, T = V.shape
    K = W.shape[1]
    if W.shape[0] != F:
        raise ParameterError(
            f"W has {W.shape[0]} rows but V has {F}: W must be (F, K) = ({F}, K), with one "
            "row per frequency bin of V"
        )
    if K == 0:
        raise ParameterError("W has no columns: there must be at least one component")
    if H.shape[0] != K:
        raise ParameterError(
            f"H has {H.shape[0]} rows but W has {K} columns: H must be (K, T) = ({K}, {T})"
        )
    if H.shape[1] != T:
        raise ParameterError(
            f"H has {H.shape[1]} columns but V has {T}: H must be (K, T) = ({K}, {T}), with "
            "one column per frame of V"
        )
    return V, W, H


def _stft_axes(shape, sample_rate, stft_config) -> tuple:
    """Bin frequencies (F,) and frame times (T,) for an (F, T) array, checked."""
    if not isinstance(stft_config, STFTConfig):
        raise ParameterError(
            f"stft_config must be an STFTConfig, got {type(stft_config).__name__}"
        )
    F, T = shape
    if stft_config.n_bins != F:
        raise ParameterError(
            f"V has {F} frequency bins but stft_config (n_fft={stft_config.n_fft}) gives "
            f"{stft_config.n_bins}; pass the STFT settings V was computed with"
        )
    freqs = frequencies(sample_rate, stft_config)  # checks sample_rate
    return freqs, times(T, sample_rate, stft_config)


def _check_sources(groups, masks, source_names, K: int, shape) -> tuple:
    """Groups, masks and names of the sources; their number S must agree."""
    F, T = shape
    n_sources = None
    if groups is not None:
        groups = check_groups(groups, K)
        n_sources = len(groups)
    if masks is not None:
        masks = _nonnegative(masks, "masks", "shape=(S, F, T)", ndim=3)
        if masks.shape[1:] != (F, T):
            raise ParameterError(
                f"masks has shape {masks.shape} but must be (S, F, T) = (S, {F}, {T}), one "
                "(F, T) mask per source, like V"
            )
        if n_sources is not None and masks.shape[0] != n_sources:
            raise ParameterError(
                f"masks has {masks.shape[0]} sources but groups has {n_sources}; give one "
                "mask per group"
            )
        if masks.size and float(masks.max()) > 1.0 + 1e-3:
            raise ParameterError(
                f"masks must be soft masks with values in 0..1, got a maximum of "
                f"{float(masks.max()):.6g}"
            )
        n_sources = masks.shape[0]
    if source_names is not None:
        if n_sources is None:
            raise ParameterError("source_names needs groups or masks to name")
        if isinstance(source_names, str):
            raise ParameterError("source_names must be a sequence of names, got one str")
        source_names = [str(name) for name in source_names]
        if len(source_names) != n_sources:
            raise ParameterError(
                f"source_names has {len(source_names)} names but there are {n_sources} "
                f"sources: {source_names}"
            )
    elif n_sources is not None:
        source_names = [f"source{s + 1}" for s in range(n_sources)]
    return groups, masks, source_names


def _grid(freqs, frame_times, stft_config, sample_rate, *, log_frequency, max_frequency,
          pixels) -> _Grid:
    """Display geometry: rows up to the highest frequency, cell edges in Hz and s, pooled
    to about one cell per pixel of ``pixels`` (width, height)."""
    F = len(freqs)
    nyquist = float(freqs[-1])
    df = float(freqs[1] - freqs[0]) if F > 1 else nyquist
    f_low = max(LOG_FREQUENCY_FLOOR, df / 2) if log_frequency else 0.0
    if max_frequency is None:
        f_high = nyquist
    else:
        f_high = min(_positive(max_frequency, "max_frequency"), nyquist)
        if f_high <= f_low + df:
            raise ParameterError(
                f"max_frequency={max_frequency!r} Hz leaves nothing to show: it must be above "
                f"{f_low + df:g} Hz (the lowest frequency shown plus one bin)"
            )
    rows = np.flatnonzero(freqs <= f_high + df / 2)
    f_edges = np.concatenate([freqs[rows] - df / 2, [freqs[rows[-1]] + df / 2]])
    if log_frequency:
        f_edges[0] = f_low / 2  # the DC bin, below the floor: kept off a log axis' 0
        f_edges = np.maximum(f_edges, f_low / 2)
    hop = stft_config.hop_length / sample_rate
    t_edges = np.concatenate([frame_times - hop / 2, [frame_times[-1] + hop / 2]])
    t_edges = np.maximum(t_edges, 0.0)
    t_range = (float(t_edges[0]), float(t_edges[-1]))
    f_range = (f_low, f_high)
    col_starts = _display_groups(t_edges, t_range, pixels[0], log=False)
    row_starts = _display_groups(f_edges, f_range, pixels[1], log=log_frequency)
    return _Grid(freqs=freqs, rows=rows, f_shown=np.append(f_edges[row_starts], f_edges[-1]),
                 t_shown=np.append(t_edges[col_starts], t_edges[-1]), row_starts=row_starts,
                 col_starts=col_starts, f_range=f_range, t_range=t_range,
                 log_frequency=bool(log_frequency))


def _draw_spectrogram(ax, V, grid: _Grid, levels: _Levels, title: str):
    mesh = ax.pcolormesh(
        grid.t_shown, grid.f_shown, levels.to_db(grid.shrink(V[grid.rows])),
        cmap=_SPECTROGRAM_CMAP, vmin=levels.vmin, vmax=0.0, shading="flat", rasterized=True,
    )
    ax.set_title(title, fontsize=11, loc="left")
    _time_axis(ax, grid.t_range)
    _frequency_axis(ax, grid.f_range, grid.log_frequency)
    return mesh


def _draw_templates(ax, W, grid: _Grid, levels: _Levels, comps: _Components, *,
                    max_labels: int) -> None:
    K, order = W.shape[1], comps.order
    W_norm = W[grid.rows][:, order]
    peaks = W_norm.max(axis=0, keepdims=True)
    W_norm = W_norm / np.where(peaks > 0, peaks, 1.0)
    W_norm = _pool(W_norm, grid.row_starts, axis=0)
    W_db = np.maximum(levels.db_scale * np.log10(np.maximum(W_norm, 1e-30)), levels.vmin - 1.0)
    k_edges = np.arange(K + 1) - 0.5
    ax.pcolormesh(
        k_edges, grid.f_shown, W_db, cmap=_SPECTROGRAM_CMAP, vmin=levels.vmin, vmax=0.0,
        shading="flat", rasterized=True,
    )
    ax.set_title("Templates W\n(dB re each column's peak)", fontsize=10, loc="left")
    ax.set_xlabel("Component")
    _frequency_axis(ax, grid.f_range, grid.log_frequency)
    _component_ticks(ax.xaxis, order, comps.colors, starts=comps.starts, max_labels=max_labels)
    ax.set_xlim(-0.5, K - 0.5)
    if comps.groups is not None:
        # A band of the source's colour along the top of each component's column.
        band = blended_transform_factory(ax.transData, ax.transAxes)
        for position, k in enumerate(order):
            ax.add_patch(Rectangle(
                (position - 0.5, 0.965), 1.0, 0.035, transform=band,
                facecolor=comps.colors[k], edgecolor="white", linewidth=0.5,
            ))
        _group_separators(ax, comps.groups, vertical=True)


def _draw_activations(ax, H, grid: _Grid, comps: _Components, *, max_labels: int) -> None:
    K, order = H.shape[0], comps.order
    H_shown, t_h = _pool(H[order], grid.col_starts, axis=1), grid.t_shown
    peaks = H_shown.max(axis=1, keepdims=True)
    H_shown = H_shown / np.where(peaks > 0, peaks, 1.0)
    if K <= _MAX_LINES:
        centres = 0.5 * (t_h[:-1] + t_h[1:])
        for position, k in enumerate(order):
            # The y axis points down (first component on top), so peaks subtract.
            y = position + 0.4 - 0.85 * H_shown[position]
            ax.fill_between(centres, position + 0.4, y, color=comps.colors[k],
                            alpha=0.25, linewidth=0)
            ax.plot(centres, y, color=comps.colors[k], linewidth=0.9)
    else:
        # One row per component, shaded from white to its source's colour.
        tint = np.array([to_rgb(comps.colors[k]) for k in order])  # (K, 3)
        rgb = 1.0 - H_shown[:, :, None] * (1.0 - tint[:, None, :])
        ax.pcolormesh(t_h, np.arange(K + 1) - 0.5, np.clip(rgb, 0.0, 1.0), shading="flat",
                      rasterized=True)
    ax.set_ylim(K - 0.5, -0.5)  # first component on top, as in W read left to right
    ax.set_ylabel("Component")
    ax.set_title("Activations H (each row scaled to its peak)", fontsize=11, loc="left")
    _time_axis(ax, grid.t_range)
    _component_ticks(ax.yaxis, order, comps.colors, starts=comps.starts, max_labels=max_labels)
    if comps.groups is not None:
        _group_separators(ax, comps.groups, vertical=False)


def _draw_legend(ax, comps: _Components, source_names, K: int) -> None:
    ax.set_axis_off()
    colors = comps.source_colors
    if comps.groups is not None:
        handles = [
            Patch(facecolor=colors[s], label=f"{name} ({len(comps.groups[s])} comp.)")
            for s, name in enumerate(source_names)
        ]
        ax.legend(handles=handles, loc="center", title="Sources", frameon=False,
                  fontsize=10, title_fontsize=10)
    elif source_names is not None:
        handles = [Patch(facecolor=colors[s], label=name) for s, name in enumerate(source_names)]
        ax.legend(handles=handles, loc="center", title="Sources", frameon=False)
    else:
        ax.text(0.5, 0.5, f"{K} components\n(no sources given)", ha="center",
                va="center", transform=ax.transAxes, fontsize=10)


def _draw_source(ax, layer, grid: _Grid, levels: _Levels, *, as_mask: bool, title: str, color):
    """A source panel: ``layer`` (F', T) is a mask (``as_mask``) or a spectrogram."""
    if as_mask:
        mesh = ax.pcolormesh(grid.t_shown, grid.f_shown, grid.shrink(layer), cmap=_MASK_CMAP,
                             vmin=0, vmax=1, shading="flat", rasterized=True)
    else:
        mesh = ax.pcolormesh(grid.t_shown, grid.f_shown, levels.to_db(grid.shrink(layer)),
                             cmap=_SPECTROGRAM_CMAP, vmin=levels.vmin, vmax=0.0,
                             shading="flat", rasterized=True)
    ax.set_title(title, fontsize=11, loc="left", color=color, fontweight="bold")
    _time_axis(ax, grid.t_range)
    _frequency_axis(ax, grid.f_range, grid.log_frequency)
    for spine in ax.spines.values():
        spine.set_edgecolor(color)
        spine.set_linewidth(1.5)
    return mesh


def save_figure(fig, path, *, dpi: float = 100, overwrite: bool = False) -> str:
    """Write a figure to a file, atomically, in the format its extension names.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure, e.g. from :func:`plot_separation`.
    path : str or os.PathLike
        The file to write. Its extension chooses the format (``.png``, ``.pdf``,
        ``.svg``, ``.jpg``, ...; any matplotlib supports); no extension means PNG.
        Its folder must exist.
    dpi : float > 0
        Pixels per inch of raster output: a PNG is ``figsize * dpi`` pixels.
    overwrite : bool
        Replace ``path`` if it exists. Off by default, so an earlier figure (or any
        other file) is never destroyed by accident.

    Returns
    -------
    path : str
        The path written.

    Raises
    ------
    ParameterError
        If ``fig`` is not a Figure, ``dpi`` or ``overwrite`` is not valid, or the
        extension names a format matplotlib cannot write.
    AudioFileError
        Naming the file, if it exists and ``overwrite`` is False, is a directory, its
        folder does not exist or is not writable, or writing fails.

    Notes
    -----
    The figure is written to a hidden temporary file in the same folder
    (``.NAME.tmp-XXXXXXXX``), flushed to disk, then renamed to ``path`` in one step
    (``os.replace``), so ``path`` never holds a partial image. The temporary file is
    removed on any error, including ``KeyboardInterrupt``.
    """
    if not isinstance(fig, Figure):
        raise ParameterError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise ParameterError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fsdecode(os.fspath(path))
    if not path:
        raise ParameterError("path is an empty string; pass the name of the image file")
    dpi = _positive(dpi, "dpi")
    if not isinstance(overwrite, (bool, np.bool_)):
        raise ParameterError(f"overwrite must be True or False, got {overwrite!r}")
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    fmt = extension or "png"
    supported = fig.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise ParameterError(
            f"cannot write {path!r}: matplotlib has no {fmt!r} format; use one of "
            f"{', '.join('.' + name for name in sorted(supported))}"
        )

    with atomic_write(path, overwrite=overwrite) as handle:
        fig.savefig(handle, format=fmt, dpi=dpi)
    return path


# --------------------------------------------------------------------------- helpers


def _nonnegative(array, name: str, shape: str, *, ndim: int) -> np.ndarray:
    """``array`` as a finite, nonnegative, real float array with ``ndim`` axes."""
    array = real_float_array(array, name, shape)
    if array.ndim != ndim:
        raise ParameterError(f"{name} must have {shape}, got {array.ndim} axes (shape {array.shape})")
    nonnegative_finite_array(array, name)
    return array


def _positive(value, name: str) -> float:
    return positive_number(value, name)


def _figsize(figsize) -> tuple:
    try:
        width, height = figsize
    except (TypeError, ValueError):
        raise ParameterError(f"figsize must be (width, height) in inches, got {figsize!r}") from None
    return (_positive(width, "figsize width"), _positive(height, "figsize height"))


def _source_colors(n_sources: int) -> list:
    """One colour per source from a qualitative map (tab10, tab20 beyond 10 sources)."""
    cmap = colormaps["tab10" if n_sources <= 10 else "tab20"]
    return [cmap(s % cmap.N) for s in range(n_sources)]


def _centroid_order(W: np.ndarray, freqs: np.ndarray, components) -> np.ndarray:
    """``components`` sorted by the spectral centroid of their templates, low first."""
    components = np.asarray(components, dtype=np.intp)
    if components.size == 0:
        return components
    columns = W[:, components].astype(np.float64)
    total = columns.sum(axis=0)
    centroid = (freqs @ columns) / np.where(total > 0, total, 1.0)
    return components[np.argsort(centroid, kind="stable")]


def _display_groups(edges: np.ndarray, limits, n_pixels: int, *, log: bool) -> np.ndarray:
    """First cell of each run of cells that falls within one display row or column.

    The axis between ``limits`` is divided into ``n_pixels`` equal steps (of log
    frequency with ``log``); consecutive cells whose centres fall in the same step are
    pooled together. Cells wider than a step stay alone, so nothing is lost where the
    axis is stretched (the low bins of a log axis) and many cells are merged where it is
    compressed (its top octaves, or the frames of a long recording).

    Parameters
    ----------
    edges : np.ndarray [shape=(n + 1,)]
        Increasing cell edges.
    limits : (float, float)
        The axis limits.
    n_pixels : int
        Number of display steps.
    log : bool
        Whether the axis is logarithmic (then ``edges`` and ``limits`` are positive).

    Returns
    -------
    starts : np.ndarray [shape=(m,), int], m <= n
        Index of the first cell of each group, starting with 0.
    """
    centres = 0.5 * (edges[:-1] + edges[1:])
    low, high = limits
    if log:
        centres, low, high = np.log(centres), np.log(low), np.log(high)
    step = np.floor((centres - low) / (high - low) * max(int(n_pixels), 1))
    return np.flatnonzero(np.diff(step, prepend=-np.inf) > 0)


def _pool(array: np.ndarray, starts: np.ndarray, *, axis: int) -> np.ndarray:
    """Max-pool ``array`` along ``axis`` over the groups that begin at ``starts``.

    The maximum (rather than the mean) keeps short events such as drum hits visible.
    """
    if len(starts) == array.shape[axis]:
        return array
    return np.maximum.reduceat(array, starts, axis=axis)


def _hz(value, _position=None) -> str:
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _frequency_axis(ax, f_range, log_frequency: bool) -> None:
    ax.set_ylabel("Frequency (Hz)")
    if log_frequency:
        ax.set_yscale("log")
        ticks = [t for t in (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)
                 if f_range[0] <= t <= f_range[1]]
        ax.yaxis.set_major_locator(FixedLocator(ticks))
        ax.yaxis.set_minor_locator(NullLocator())
    else:
        ax.yaxis.set_major_locator(MaxNLocator(6))
    ax.yaxis.set_major_formatter(FuncFormatter(_hz))
    ax.set_ylim(*f_range)


def _time_axis(ax, t_range) -> None:
    ax.set_xlabel("Time (s)")
    ax.set_xlim(*t_range)


def _component_ticks(axis, order, component_colors, *, max_labels: int, starts=()) -> None:
    """Ticks at display positions, labelled with component indices, in source colours.

    At most about ``max_labels`` labels, evenly spaced, always including the first
    component of each source (``starts``, display positions) so that every source's
    colour shows.
    """
    K = len(order)
    step = max(1, -(-K // max(max_labels, 2)))
    kept = []
    for position in [int(p) for p in starts] + list(range(0, K, step)):
        if all(abs(position - other) >= step for other in kept):
            kept.append(position)
    positions = np.array(sorted(kept), dtype=int)
    axis.set_major_locator(FixedLocator(positions))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(FuncFormatter(lambda x, _p: str(order[round(x)])))
    # Colour each label by its component's source once labels exist.
    for label, position in zip(axis.get_ticklabels(), positions):
        label.set_color(component_colors[order[position]])
        label.set_fontweight("bold")
    axis.set_tick_params(labelsize=8)


def _group_separators(ax, groups, *, vertical: bool) -> None:
    """Thin white lines between the components of consecutive sources."""
    boundary = -0.5
    for group in groups[:-1]:
        boundary += len(group)
        if vertical:
            ax.axvline(boundary, color="white", linewidth=1.2)
        else:
            ax.axhline(boundary, color="0.5", linewidth=0.8, linestyle=":")
