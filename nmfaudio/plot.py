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

__all__ = ["plot_separation", "plot_decomposition", "save_figure", "SOURCE_VIEWS"]

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
        title = f"NMF separation of {os.path.basename(path)}: {what}" if path else f"NMF separation: {what}"
    return plot_decomposition(
        separation.spectrogram,
        separation.nmf.templates,
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

    Panels: the activations H (top right, one line per component, each scaled to its own
    peak; an image when there are more than 40 components), the templates W (left, one
    column per component, each normalized to its peak, in dB, sharing V's frequency
    axis), the spectrogram V in dB (centre, with a colour bar), and, when ``masks`` or
    ``groups`` are given, one panel per source (bottom). Components are ordered by source
    and, within a source, by spectral centroid; tick labels give their index in W.

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
    sample_rate : int > 0
        Sample rate of the audio the STFT was computed on (Hz).
    stft_config : STFTConfig
        The STFT that gave V; ``F`` must equal ``stft_config.n_bins``.
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
        If an array is not finite and nonnegative or has a shape that does not fit the
        others (W rows or H columns differing from V, H rows from W columns, masks not
        (S, F, T)), ``groups`` is not a partition of the components, the names do not
        match the sources, F does not match the STFT, or an option is out of range.

    See Also
    --------
    plot_separation, save_figure

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
    >>> fig.axes[2].get_ylabel()
    'Frequency (Hz)'
    """
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
    if not isinstance(stft_config, STFTConfig):
        raise ParameterError(
            f"stft_config must be an STFTConfig, got {type(stft_config).__name__}"
        )
    if stft_config.n_bins != F:
        raise ParameterError(
            f"V has {F} frequency bins but stft_config (n_fft={stft_config.n_fft}) gives "
            f"{stft_config.n_bins}; pass the STFT settings V was computed with"
        )
    freqs = frequencies(sample_rate, stft_config)  # checks sample_rate
    frame_times = times(T, sample_rate, stft_config)
    power = _positive(spectrogram_power, "spectrogram_power")
    dynamic_range_db = _positive(dynamic_range_db, "dynamic_range_db")
    dpi = _positive(dpi, "dpi")
    if not isinstance(log_frequency, (bool, np.bool_)):
        raise ParameterError(f"log_frequency must be True or False, got {log_frequency!r}")
    if source_view not in SOURCE_VIEWS:
        raise ParameterError(f"source_view must be one of {SOURCE_VIEWS}, got {source_view!r}")
    if title is not None and not isinstance(title, str):
        raise ParameterError(f"title must be a str, got {type(title).__name__}")

    # Sources: from groups and/or masks; their number S must agree.
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

    # Display geometry: rows up to f_high, cell edges in Hz and s.
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
    db_scale = 20.0 / power

    # Colours and component order: by source, then by spectral centroid.
    colors = _source_colors(n_sources or 0)
    if groups is None:
        order = _centroid_order(W, freqs, np.arange(K))
        component_colors = [_NEUTRAL] * K
    else:
        order = np.concatenate([_centroid_order(W, freqs, g) for g in groups]).astype(np.intp)
        owner = np.empty(K, dtype=np.intp)
        for s, group in enumerate(groups):
            owner[group] = s
        component_colors = [colors[owner[k]] for k in range(K)]
    # Display position of each source's first component (for tick labels).
    sizes = [len(g) for g in groups] if groups is not None else [K]
    starts = [int(p) for p, n in zip(np.cumsum([0] + sizes[:-1]), sizes) if n]

    # Levels in dB, re the peak of V (sources share that reference).
    ref = float(V.max()) if V.size and V.max() > 0 else 1.0
    vmax, vmin = 0.0, -dynamic_range_db

    def to_db(array):
        floor = ref * 10.0 ** (-(dynamic_range_db + 20.0) / db_scale)
        return db_scale * np.log10(np.maximum(array, floor) / ref)

    # ------------------------------------------------------------------ layout
    show_sources = n_sources is not None
    # Up to three source panels a row, rows as evenly filled as possible (4 -> 2 + 2).
    n_rows = -(-n_sources // 3) if show_sources else 0
    n_cols = -(-n_sources // n_rows) if show_sources else 1
    if figsize is None:
        figsize = (12.0, 6.0 + 2.9 * n_rows)
    figsize = _figsize(figsize)
    top_share = 6.0 / (6.0 + 2.9 * n_rows)  # of the height, for H, W and V
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    fig.get_layout_engine().set(h_pad=0.06, w_pad=0.06, hspace=0.04, wspace=0.03)
    outer = fig.add_gridspec(
        2 if show_sources else 1,
        1,
        height_ratios=[6.0, 2.9 * n_rows] if show_sources else None,
    )
    top = outer[0].subgridspec(2, 2, width_ratios=[1, 4.2], height_ratios=[1.3, 1.9])
    ax_h = fig.add_subplot(top[0, 1], label="activations")
    ax_w = fig.add_subplot(top[1, 0], label="templates")
    ax_v = fig.add_subplot(top[1, 1], sharex=ax_h, sharey=ax_w, label="mixture")
    ax_legend = fig.add_subplot(top[0, 0], label="legend")

    # ------------------------------------------------------------------ V
    width_px, height_px = int(figsize[0] * dpi), int(figsize[1] * dpi)
    col_starts = _display_groups(t_edges, t_range, width_px, log=False)
    row_starts = _display_groups(f_edges, f_range, height_px, log=log_frequency)
    t_shown = np.append(t_edges[col_starts], t_edges[-1])
    f_shown = np.append(f_edges[row_starts], f_edges[-1])

    def shrink(array):  # (F', T) -> the displayed cells, max-pooled
        return _pool(_pool(array, row_starts, axis=0), col_starts, axis=1)

    V_shown = shrink(V[rows])
    mesh = ax_v.pcolormesh(
        t_shown, f_shown, to_db(V_shown), cmap=_SPECTROGRAM_CMAP, vmin=vmin, vmax=vmax,
        shading="flat", rasterized=True,
    )
    ax_v.set_title("Mixture spectrogram V", fontsize=11, loc="left")
    _time_axis(ax_v, t_range)
    _frequency_axis(ax_v, f_range, log_frequency)
    bar = fig.colorbar(mesh, ax=ax_v, pad=0.01, fraction=0.04, aspect=18)
    bar.set_label("Level (dB re peak of V)")

    # ------------------------------------------------------------------ W
    W_norm = W[rows][:, order]
    peaks = W_norm.max(axis=0, keepdims=True)
    W_norm = W_norm / np.where(peaks > 0, peaks, 1.0)
    W_norm = _pool(W_norm, row_starts, axis=0)
    W_db = np.maximum(20.0 / power * np.log10(np.maximum(W_norm, 1e-30)), vmin - 1.0)
    k_edges = np.arange(K + 1) - 0.5
    ax_w.pcolormesh(
        k_edges, f_shown, W_db, cmap=_SPECTROGRAM_CMAP, vmin=vmin, vmax=vmax,
        shading="flat", rasterized=True,
    )
    ax_w.set_title("Templates W\n(dB re each column's peak)", fontsize=10, loc="left")
    ax_w.set_xlabel("Component")
    _frequency_axis(ax_w, f_range, log_frequency)
    w_inches = figsize[0] / 5.2 * 0.75  # about the width of the W panel
    _component_ticks(ax_w.xaxis, order, component_colors, starts=starts,
                     max_labels=int(w_inches * 72 / (5 * len(str(K - 1)) + 7)))
    ax_w.set_xlim(-0.5, K - 0.5)
    if groups is not None:
        # A band of the source's colour along the top of each component's column.
        band = blended_transform_factory(ax_w.transData, ax_w.transAxes)
        for position, k in enumerate(order):
            ax_w.add_patch(Rectangle(
                (position - 0.5, 0.965), 1.0, 0.035, transform=band,
                facecolor=component_colors[k], edgecolor="white", linewidth=0.5,
            ))
        _group_separators(ax_w, groups, vertical=True)

    # ------------------------------------------------------------------ H
    H_shown, t_h = _pool(H[order], col_starts, axis=1), t_shown
    peaks = H_shown.max(axis=1, keepdims=True)
    H_shown = H_shown / np.where(peaks > 0, peaks, 1.0)
    if K <= _MAX_LINES:
        centres = 0.5 * (t_h[:-1] + t_h[1:])
        for position, k in enumerate(order):
            # The y axis points down (first component on top), so peaks subtract.
            y = position + 0.4 - 0.85 * H_shown[position]
            ax_h.fill_between(centres, position + 0.4, y, color=component_colors[k],
                              alpha=0.25, linewidth=0)
            ax_h.plot(centres, y, color=component_colors[k], linewidth=0.9)
    else:
        # One row per component, shaded from white to its source's colour.
        tint = np.array([to_rgb(component_colors[k]) for k in order])  # (K, 3)
        rgb = 1.0 - H_shown[:, :, None] * (1.0 - tint[:, None, :])
        ax_h.pcolormesh(t_h, k_edges, np.clip(rgb, 0.0, 1.0), shading="flat", rasterized=True)
    ax_h.set_ylim(K - 0.5, -0.5)  # first component on top, as in W read left to right
    ax_h.set_ylabel("Component")
    ax_h.set_title("Activations H (each row scaled to its peak)", fontsize=11, loc="left")
    _time_axis(ax_h, t_range)
    h_inches = figsize[1] * top_share / 3.2 * 0.75  # about the height of the H panel
    _component_ticks(ax_h.yaxis, order, component_colors, starts=starts,
                     max_labels=int(h_inches * 72 / 11))
    if groups is not None:
        _group_separators(ax_h, groups, vertical=False)

    # ------------------------------------------------------------------ legend
    ax_legend.set_axis_off()
    if groups is not None:
        handles = [
            Patch(facecolor=colors[s], label=f"{name} ({len(groups[s])} comp.)")
            for s, name in enumerate(source_names)
        ]
        ax_legend.legend(handles=handles, loc="center", title="Sources", frameon=False,
                         fontsize=10, title_fontsize=10)
    elif show_sources:
        handles = [Patch(facecolor=colors[s], label=name) for s, name in enumerate(source_names)]
        ax_legend.legend(handles=handles, loc="center", title="Sources", frameon=False)
    else:
        ax_legend.text(0.5, 0.5, f"{K} components\n(no sources given)", ha="center",
                       va="center", transform=ax_legend.transAxes, fontsize=10)

    # ------------------------------------------------------------------ sources
    if show_sources:
        bottom = outer[1].subgridspec(n_rows, n_cols)
        source_axes = []
        mesh = None
        for s in range(n_sources):
            ax = fig.add_subplot(bottom[s // n_cols, s % n_cols], sharex=ax_v, sharey=ax_v,
                                 label=f"source:{source_names[s]}")
            source_axes.append(ax)
            if masks is not None:
                mask = masks[s][rows]
                what = "mask $M$" if source_view == "mask" else "$M \\odot V$"
            else:
                g = groups[s]
                mask = None
                model = (W[rows][:, g] @ H[g]) if len(g) else np.zeros((len(rows), T))
                what = "model $W_s H_s$"
            if source_view == "mask" and mask is not None:
                mesh = ax.pcolormesh(t_shown, f_shown, shrink(mask), cmap=_MASK_CMAP, vmin=0,
                                     vmax=1, shading="flat", rasterized=True)
            else:
                layer = mask * V[rows] if mask is not None else model
                mesh = ax.pcolormesh(t_shown, f_shown, to_db(shrink(layer)), cmap=_SPECTROGRAM_CMAP,
                                     vmin=vmin, vmax=vmax, shading="flat", rasterized=True)
            ax.set_title(f"{source_names[s]}: {what}", fontsize=11, loc="left",
                         color=colors[s], fontweight="bold")
            _time_axis(ax, t_range)
            _frequency_axis(ax, f_range, log_frequency)
            for spine in ax.spines.values():
                spine.set_edgecolor(colors[s])
                spine.set_linewidth(1.5)
        bar = fig.colorbar(mesh, ax=source_axes, pad=0.01, fraction=0.04, aspect=18)
        if source_view == "mask" and masks is not None:
            bar.set_label("Mask (share of the mixture)")
        else:
            bar.set_label("Level (dB re peak of V)")

    if title is None:
        title = f"NMF decomposition: {K} components" + (
            f", {n_sources} sources" if show_sources else ""
        )
    fig.suptitle(title, fontsize=13)
    return fig


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
