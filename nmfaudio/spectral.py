"""Short-time Fourier transform, its inverse, and spectrograms.

A thin, checked layer over :func:`librosa.stft` and :func:`librosa.istft` whose settings
travel together in one :class:`STFTConfig`, so that the transform a dictionary was
learned with is the one it is applied with, and so that separated sources can always be
turned back into audio: :class:`STFTConfig` only accepts invertible settings, and with
``center=True`` (the default) ``istft(stft(x, config), config, length=x.shape[-1])``
returns ``x`` to float precision, first and last samples included.

Shapes follow librosa: audio ``(..., N)``, STFT ``(..., F, T)`` with
``F = n_fft // 2 + 1`` frequency bins and ``T`` frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ._validation import finite_array as _check_finite
from ._validation import is_integer as _is_int
from ._validation import plain as _plain
from ._validation import positive_number
from ._validation import sample_rate as _check_rate
from .errors import ParameterError

__all__ = ["STFTConfig", "stft", "istft", "spectrogram", "frequencies", "times", "frames_within",
           "fitting_n_fft", "MIN_DEFAULT_N_FFT"]

#: The shortest frame a default chooses (:meth:`STFTConfig.for_sample_rate`,
#: :func:`fitting_n_fft`): 16 samples.
MIN_DEFAULT_N_FFT = 16


def window_values(window, n_fft: int) -> np.ndarray:
    """The analysis window as :func:`scipy.signal.get_window` (``fftbins=True``) gives it.

    The default "hann" is computed here, operation for operation as scipy computes it
    (``general_cosine(n_fft, [0.5, 0.5], sym=False)``, so the values are the same to the
    bit: tested), because ``import scipy.signal`` takes about 0.45 s, most of a short
    file's start-up. Every other window comes from scipy.
    """
    if window == "hann" and n_fft > 1:
        fac = np.linspace(-np.pi, np.pi, n_fft + 1, dtype=np.float64)
        w = np.zeros(n_fft + 1, dtype=np.float64)
        for k, a in enumerate((0.5, 0.5)):
            w += a * np.cos(k * fac)
        return w[:-1]
    import scipy.signal

    return scipy.signal.get_window(window, n_fft, fftbins=True)


def _nola(values: np.ndarray, n_fft: int, hop_length: int) -> bool:
    import scipy.signal

    return bool(scipy.signal.check_NOLA(values, n_fft, n_fft - hop_length))


def _normalize_window(window):
    """Windows as hashable, serializable values: a str, or a tuple (name, *floats)."""
    if isinstance(window, np.ndarray):
        if window.ndim == 0:
            window = window.item()
        else:
            # np.savez turns ("kaiser", 8.0) into the string array ["kaiser", "8.0"].
            window = tuple(window.tolist())
    if isinstance(window, list):
        window = tuple(window)
    if isinstance(window, tuple) and window:
        name, *params = window
        converted = []
        for param in params:
            try:
                converted.append(float(param))
            except (TypeError, ValueError):
                raise ParameterError(
                    f"window {window!r}: parameters after the name must be numbers"
                ) from None
        window = (str(name), *converted)
    return window


@dataclass(frozen=True)
class STFTConfig:
    """Settings of a short-time Fourier transform.

    Parameters
    ----------
    n_fft : int >= 2
        Frame length in samples (also the window length); gives ``n_fft // 2 + 1``
        frequency bins.
    hop_length : int > 0
        Samples between the starts of consecutive frames; at most ``n_fft // 2`` (frames
        overlap by at least half), which makes the STFT invertible up to the last sample.
    window : str or tuple
        Anything :func:`scipy.signal.get_window` accepts as a window *name*: ``"hann"``,
        ``"hamming"``, ``("kaiser", 8.0)``, ... Lists are stored as tuples.
    center : bool
        Pad ``n_fft // 2`` zeros at both ends so that frame ``t`` is centred on sample
        ``t * hop_length`` (librosa's default). With ``center=False`` the edges of the
        signal (about one hop at the start, and whatever follows the last whole frame)
        are not reconstructed exactly.

    Attributes
    ----------
    n_bins : int
        ``n_fft // 2 + 1``, the number of frequency bins ``F``.

    Raises
    ------
    ParameterError
        If a value has the wrong type or range, ``window`` is unknown to scipy, or the
        window and hop do not satisfy the nonzero overlap-add (NOLA) condition.

    Examples
    --------
    >>> config = STFTConfig(n_fft=1024, hop_length=256)
    >>> config.n_bins
    513
    >>> STFTConfig.from_dict(config.to_dict()) == config
    True
    """

    n_fft: int = 2048
    hop_length: int = 512
    window: str | tuple = "hann"
    center: bool = True

    def __post_init__(self) -> None:
        n_fft = _plain(self.n_fft)
        hop_length = _plain(self.hop_length)
        center = _plain(self.center)
        window = _normalize_window(self.window)

        if not _is_int(n_fft) or n_fft < 2:
            raise ParameterError(
                f"n_fft must be an integer >= 2 (frame length in samples), got {self.n_fft!r}"
            )
        if not _is_int(hop_length) or hop_length <= 0:
            raise ParameterError(
                f"hop_length must be a positive integer, got {self.hop_length!r}"
            )
        if hop_length > n_fft // 2:
            # Beyond half a frame, with center=True the last up to hop - n_fft//2 samples
            # lie in no frame, and istft would return garbage there instead of failing.
            raise ParameterError(
                f"hop_length={hop_length} is more than n_fft // 2 = {n_fft // 2}; frames "
                "must overlap by at least half for the STFT to be invertible: use "
                f"hop_length <= {n_fft // 2} (n_fft // 4 = {max(n_fft // 4, 1)} is usual)"
            )
        if not isinstance(center, bool):
            raise ParameterError(f"center must be True or False, got {self.center!r}")
        if not isinstance(window, (str, tuple)):
            raise ParameterError(
                f"window must be a window name such as 'hann' or a tuple such as "
                f"('kaiser', 8.0), got {type(self.window).__name__}"
            )
        try:
            # Extreme parameters (e.g. a huge kaiser beta) give NaN with a numpy warning;
            # the finiteness check below turns that into a clear error instead.
            with np.errstate(all="ignore"):
                values = window_values(window, n_fft)
        except (ValueError, TypeError) as err:
            raise ParameterError(
                f"window {window!r} is not one scipy.signal.get_window knows ({err}); "
                "use e.g. 'hann', 'hamming', 'blackman' or ('kaiser', 8.0)"
            ) from err
        if not np.all(np.isfinite(values)):
            raise ParameterError(
                f"window {window!r} of length {n_fft} has non-finite values; "
                "choose other window parameters"
            )
        # A periodic Hann window overlapping itself by half or more never sums to zero
        # (checked by scipy for every n_fft up to 4096 in the tests); other windows ask scipy.
        if window != "hann" and not _nola(values, n_fft, hop_length):
            raise ParameterError(
                f"window {window!r} with n_fft={n_fft}, hop_length={hop_length} does not "
                "satisfy the nonzero overlap-add condition, so the STFT cannot be inverted; "
                "use a smaller hop_length or a wider window such as 'hann'"
            )

        object.__setattr__(self, "n_fft", int(n_fft))
        object.__setattr__(self, "hop_length", int(hop_length))
        object.__setattr__(self, "window", window)
        object.__setattr__(self, "center", center)

    @property
    def n_bins(self) -> int:
        """Number of frequency bins ``F = n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    def to_dict(self) -> dict:
        """The settings as a dict of plain Python values, e.g. for ``np.savez``.

        Returns
        -------
        settings : dict
            Keys ``"n_fft"``, ``"hop_length"``, ``"window"``, ``"center"``. A tuple window
            is returned as a list.
        """
        window = list(self.window) if isinstance(self.window, tuple) else self.window
        return {
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "window": window,
            "center": self.center,
        }

    @classmethod
    def for_sample_rate(cls, sample_rate: int, *, frame_seconds: float = 0.064,
                        power_of_two: bool = True) -> STFTConfig:
        """Frames of about ``frame_seconds`` at ``sample_rate``: n_fft the size nearest
        (on a log scale) to ``frame_seconds * sample_rate``, hop n_fft / 4.

        With ``power_of_two`` (the default) n_fft is a power of two: 512 at 8 kHz, 1024
        at 16 and 22.05 kHz, 2048 at 44.1 kHz, 4096 at 48 kHz for 64 ms, which is then
        46 ms at 22.05 and 44.1 kHz and 85 ms at 48 kHz. Without it n_fft may also be
        three times a power of two (1536, 3072, ...; as fast for the FFT), which keeps
        every frame within a quarter of ``frame_seconds``: 1536 at 22.05 kHz and 3072 at
        44.1 and 48 kHz for 64 ms. A fixed n_fft would be 256 ms at 8 kHz and 43 ms at
        48 kHz for 2048.

        Parameters
        ----------
        sample_rate : int > 0
            Hz.
        frame_seconds : float > 0
            The frame length aimed at.
        power_of_two : bool
            Only powers of two, or also three times one.
        """
        sample_rate = _check_rate(sample_rate)
        frame_seconds = positive_number(frame_seconds, "frame_seconds")
        target = np.log2(frame_seconds * sample_rate)
        n_fft = 2 ** round(target)
        if not power_of_two:  # 3 * 2**a: log2 = a + log2(3)
            three = 3 * 2 ** round(target - np.log2(3))
            if abs(np.log2(three) - target) < abs(np.log2(n_fft) - target):
                n_fft = three
        n_fft = max(MIN_DEFAULT_N_FFT, int(n_fft))
        return cls(n_fft=n_fft, hop_length=n_fft // 4)

    @classmethod
    def from_dict(cls, settings: Mapping) -> STFTConfig:
        """Rebuild a config from :meth:`to_dict` output.

        Parameters
        ----------
        settings : Mapping
            All four keys of :meth:`to_dict` and no others. Values may be numpy scalars
            or 0-d arrays, as ``np.load`` returns them from an ``.npz`` file.

        Returns
        -------
        config : STFTConfig

        Raises
        ------
        ParameterError
            If ``settings`` is not a mapping, a key is missing or unknown, or a value
            is invalid.
        """
        if not isinstance(settings, Mapping):
            raise ParameterError(
                f"STFTConfig.from_dict needs a mapping (dict) as written by to_dict(), "
                f"got {type(settings).__name__}"
            )
        expected = ("n_fft", "hop_length", "window", "center")
        missing = [key for key in expected if key not in settings]
        unknown = sorted(str(key) for key in settings if key not in expected)
        if missing or unknown:
            # Strict on purpose: a default filled in for a missing key would silently
            # pair a dictionary with a transform it was not learned with.
            raise ParameterError(
                f"STFT settings have missing keys {missing} and unknown keys {unknown}; "
                f"expected exactly {list(expected)} as written by STFTConfig.to_dict()"
            )
        return cls(**{key: settings[key] for key in expected})


# --------------------------------------------------------------------------- checks


def _check_config(config) -> STFTConfig:
    if not isinstance(config, STFTConfig):
        raise ParameterError(
            f"config must be an STFTConfig (e.g. STFTConfig(n_fft=2048, hop_length=512)), "
            f"got {type(config).__name__}"
        )
    return config


def _check_stft_matrix(X, config: STFTConfig | None, *, name: str = "X") -> np.ndarray:
    X = np.asarray(X)
    if not np.iscomplexobj(X):
        raise ParameterError(
            f"{name} must be a complex STFT of shape (..., F, T) as returned by stft(), "
            f"got dtype {X.dtype}; a magnitude spectrogram cannot be inverted or averaged here"
        )
    if X.ndim < 2 or X.shape[-1] == 0 or X.shape[-2] == 0:
        raise ParameterError(
            f"{name} must have shape (..., F, T) with at least one bin and one frame, "
            f"got shape {X.shape}"
        )
    if config is not None and X.shape[-2] != config.n_bins:
        raise ParameterError(
            f"{name} has {X.shape[-2]} frequency bins but config.n_fft={config.n_fft} gives "
            f"{config.n_bins}; use the STFTConfig the STFT was computed with"
        )
    _check_finite(X, name)
    return X


# --------------------------------------------------------------------------- transforms


def stft(samples, config: STFTConfig) -> np.ndarray:
    """Short-time Fourier transform of (multichannel) audio.

    Parameters
    ----------
    samples : np.ndarray [shape=(..., N), real floating]
        The signal; leading axes (e.g. channels) are transformed independently. At least
        ``config.n_fft`` samples long.
    config : STFTConfig
        Frame length, hop, window and centring.

    Returns
    -------
    X : np.ndarray [shape=(..., F, T), complex]
        ``F = config.n_bins``. ``complex64`` for ``float32`` input, ``complex128`` for
        ``float64``; other floating types are computed in ``float32``. With
        ``center=True``, ``T = 1 + N // hop_length`` (``n_fft`` even).

    Raises
    ------
    ParameterError
        If ``samples`` is not real floating, has NaN or infinite values, or is shorter
        than ``n_fft``, or ``config`` is not an :class:`STFTConfig`.

    See Also
    --------
    istft, spectrogram, librosa.stft

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((2, 22050), dtype=np.float32)
    >>> X = stft(x, STFTConfig(n_fft=2048, hop_length=512))
    >>> X.shape, X.dtype
    ((2, 1025, 44), dtype('complex64'))
    """
    import librosa

    config = _check_config(config)
    samples = np.asarray(samples)
    if not np.issubdtype(samples.dtype, np.floating):
        raise ParameterError(
            f"samples must be a real floating-point array of shape (..., N), got dtype "
            f"{samples.dtype}; convert integer PCM to floats in [-1, 1] first"
        )
    if samples.dtype not in (np.float32, np.float64):
        samples = samples.astype(np.float32)
    if samples.ndim == 0:
        raise ParameterError("samples must have shape (..., N), got a scalar")
    n_samples = samples.shape[-1]
    if n_samples < config.n_fft:
        # librosa only warns (center=True) or raises its own error (center=False); one
        # rule for both keeps frames made of real signal rather than mostly padding.
        raise ParameterError(
            f"samples has {n_samples} samples along its last axis, fewer than "
            f"n_fft={config.n_fft}; use a smaller n_fft or a longer signal"
        )
    _check_finite(samples, "samples")
    return librosa.stft(
        samples,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        window=config.window,
        center=config.center,
    )


def istft(X, config: STFTConfig, *, length: int) -> np.ndarray:
    """Inverse short-time Fourier transform, to exactly ``length`` samples.

    Parameters
    ----------
    X : np.ndarray [shape=(..., F, T), complex]
        An STFT (possibly masked) computed with ``config``; ``F`` must equal
        ``config.n_bins``.
    config : STFTConfig
        The settings ``X`` was computed with.
    length : int > 0
        Number of samples to return: normally the length of the signal passed to
        :func:`stft`. The output is padded with zeros or truncated to it.

    Returns
    -------
    samples : np.ndarray [shape=(..., length), real]
        ``float32`` for ``complex64`` input, ``float64`` for ``complex128``.

    Raises
    ------
    ParameterError
        If ``X`` is not complex, has the wrong number of bins or non-finite values,
        ``length`` is not a positive integer, or ``config`` is not an :class:`STFTConfig`.

    See Also
    --------
    stft, librosa.istft

    Examples
    --------
    >>> import numpy as np
    >>> config = STFTConfig(n_fft=512, hop_length=128)
    >>> x = np.random.default_rng(0).standard_normal(3001)
    >>> y = istft(stft(x, config), config, length=len(x))
    >>> y.shape, bool(np.allclose(x, y))
    ((3001,), True)
    """
    import librosa

    config = _check_config(config)
    length = _plain(length)
    if not _is_int(length) or length <= 0:
        raise ParameterError(
            f"length must be a positive integer number of samples (usually the length of "
            f"the signal given to stft), got {length!r}"
        )
    X = _check_stft_matrix(X, config)
    return librosa.istft(
        X,
        hop_length=config.hop_length,
        n_fft=config.n_fft,
        window=config.window,
        center=config.center,
        length=int(length),
    )


def spectrogram(X, *, power: float = 1.0) -> np.ndarray:
    """Magnitude or power spectrogram, averaged over channels.

    Parameters
    ----------
    X : np.ndarray [shape=(F, T) or (C, F, T), complex]
        An STFT, as returned by :func:`stft` for mono ``(N,)`` or multichannel
        ``(C, N)`` audio.
    power : float > 0
        Exponent of the magnitude: 1 for a magnitude spectrogram, 2 for power.

    Returns
    -------
    V : np.ndarray [shape=(F, T), nonnegative real]
        ``|X| ** power``, averaged over channels for ``(C, F, T)`` input (so stereo and
        mono versions of a recording give comparable scales). ``float32`` for
        ``complex64`` input, ``float64`` for ``complex128``. In Fortran order, as
        ``np.abs(librosa.stft(y))`` is: :func:`nmfaudio.factorization.nmf` reads its
        column blocks in place.

    Raises
    ------
    ParameterError
        If ``X`` is not complex, not 2- or 3-dimensional, has non-finite values, or
        ``power`` is not a positive finite number.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.ones((2, 5, 3), dtype=np.complex64)
    >>> V = spectrogram(X, power=2.0)
    >>> V.shape, V.dtype
    ((5, 3), dtype('float32'))
    """
    power = positive_number(power, "power", hint=" (1 for magnitude, 2 for power)")
    X = _check_stft_matrix(X, None)
    if X.ndim not in (2, 3):
        raise ParameterError(
            f"X must have shape (F, T) or (C, F, T), got shape {X.shape}; "
            "reshape extra leading axes into channels first"
        )
    # V is returned in Fortran order (each frame's spectrum contiguous), the layout in
    # which the NMF core reads column blocks in place (nmfaudio.factorization._Lane).
    out = np.empty(X.shape[-2:], dtype=X.real.dtype, order="F")
    if X.ndim == 2 and power == 1:
        return np.abs(X, out=out)
    if power == 2:
        # Skips the square root that np.abs would compute only for it to be squared.
        V = X.real**2 + X.imag**2
    else:
        V = np.abs(X)
        if power != 1:
            V **= power  # np.abs returned a new array, so in place is safe
    if V.ndim == 3:
        return np.mean(V, axis=0, dtype=V.dtype, out=out)
    np.copyto(out, V)
    return out


# --------------------------------------------------------------------------- axes


def frequencies(sample_rate: int, config: STFTConfig) -> np.ndarray:
    """Centre frequency of each STFT bin.

    Parameters
    ----------
    sample_rate : int > 0
        Sample rate of the audio, in Hz.
    config : STFTConfig

    Returns
    -------
    freqs : np.ndarray [shape=(F,)]
        ``0, sample_rate / n_fft, ..., sample_rate / 2`` in Hz.

    Examples
    --------
    >>> frequencies(8000, STFTConfig(n_fft=8, hop_length=2))
    array([   0., 1000., 2000., 3000., 4000.])
    """
    import librosa

    config = _check_config(config)
    sample_rate = _check_rate(sample_rate)
    return librosa.fft_frequencies(sr=sample_rate, n_fft=config.n_fft)


def times(n_frames: int, sample_rate: int, config: STFTConfig) -> np.ndarray:
    """Time of the centre of each STFT frame.

    Parameters
    ----------
    n_frames : int >= 0
        Number of frames ``T``.
    sample_rate : int > 0
        Sample rate of the audio, in Hz.
    config : STFTConfig

    Returns
    -------
    times : np.ndarray [shape=(T,)]
        Seconds. ``t * hop_length / sample_rate`` with ``center=True``; half a frame
        later with ``center=False``, where frame ``t`` starts at ``t * hop_length``.

    Examples
    --------
    >>> times(3, 8000, STFTConfig(n_fft=8, hop_length=4))
    array([0.    , 0.0005, 0.001 ])
    """
    import librosa

    config = _check_config(config)
    sample_rate = _check_rate(sample_rate)
    n_frames = _plain(n_frames)
    if not _is_int(n_frames) or n_frames < 0:
        raise ParameterError(f"n_frames must be a nonnegative integer, got {n_frames!r}")
    # librosa's n_fft argument adds the half-frame offset that an uncentred frame needs
    # for its time to mean "centre" as it does with center=True.
    return librosa.frames_to_time(
        np.arange(n_frames),
        sr=sample_rate,
        hop_length=config.hop_length,
        n_fft=None if config.center else config.n_fft,
    )


#: Bins of the 2048-point STFT that frame counts elsewhere (fit blocks, stat frames,
#: stream chunks) were chosen for.
REFERENCE_BINS = 1025


def fitting_n_fft(n_samples: int, *, power_of_two: bool = True) -> int:
    """The longest n_fft of the kind :meth:`STFTConfig.for_sample_rate` chooses (a power
    of two, or also three times one) that ``n_samples`` samples hold; at least
    :data:`MIN_DEFAULT_N_FFT`. What a recording shorter than a default frame can take.

    Parameters
    ----------
    n_samples : int
    power_of_two : bool
        As in :meth:`STFTConfig.for_sample_rate`.
    """
    n = max(int(n_samples), MIN_DEFAULT_N_FFT)
    sizes = [2 ** int(np.log2(n))]
    if not power_of_two:
        sizes.append(3 * 2 ** int(np.log2(n / 3)))
    return max(MIN_DEFAULT_N_FFT, max(s for s in sizes if s <= n))


def frames_within(frames: int, n_bins: int) -> int:
    """At most ``frames`` frames, and no more values than ``frames`` frames of
    :data:`REFERENCE_BINS` hold: a buffer sized in frames for a 2048-point STFT keeps
    its memory at longer frames (``frames_within(2048, 4097)`` is 512); at least 1."""
    return max(1, min(int(frames), int(frames) * REFERENCE_BINS // int(n_bins)))
