"""Dictionaries: a source's spectral templates, learned from training audio.

A :class:`Dictionary` holds the templates ``W`` of one source (shape ``(F, K)``, each
column of unit L2 norm) together with everything needed to use them correctly: the
source's name, the sample rate and STFT they were learned with, the beta of the
divergence and the spectrogram power. Separation refuses a dictionary whose settings
do not match the mixture's (see :func:`check_compatible`) instead of giving a silently
wrong answer.

Dictionaries are saved as ``.npz`` files (numpy's zip of arrays, no pickle) with a format
version, so that a file written by a later nmfaudio is refused with a clear message.
"""

from __future__ import annotations

import json
import os
import unicodedata
import zipfile
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence, Union

import numpy as np

from . import audio as audio_io
from ._budget import check_memory_bytes
from ._files import atomic_write
from ._validation import nonnegative_finite_array, positive_number, real_float_array
from ._validation import sample_rate as check_sample_rate
from .errors import AudioFileError, DictionaryMismatchError, ParameterError
from .factorization import nmf, parse_beta
from ._levels import check_level, check_sample_level
from .spectral import STFTConfig, fitting_n_fft, spectrogram, stft

__all__ = ["Dictionary", "learn_dictionary", "check_compatible", "check_name", "FORMAT_VERSION",
           "DICTIONARY_FRAME_SECONDS", "dictionary_stft"]

#: Version of the ``.npz`` layout; bumped when a field changes meaning.
FORMAT_VERSION = 1

#: Frame length of a dictionary's STFT when none is given: about 200 ms at the training
#: rate, longer than the 80 ms of blind separation. A dictionary's templates are held
#: fixed when it separates, so the sources are told apart by the fine structure of their
#: spectra (the harmonics of a low note are 41 Hz apart at E1; 200 ms frames resolve 5 Hz),
#: not by when things happen, which the activations still follow at a hop of 50 ms.
#: Measured on held-out mixtures (``benchmarks/held_out_supervised.py``), never on the
#: shared test clips: see the README, "Supervised defaults, held out".
DICTIONARY_FRAME_SECONDS = 0.2

AudioLike = Union["audio_io.Audio", str, os.PathLike]


def check_name(name) -> str:
    """A source name, which names output files (``NAME.wav``): ParameterError otherwise.

    Non-empty, no path separator, not ``.`` or ``..``, and no control character (NUL,
    newline, ...), which would break file names or the one-line messages naming them.
    """
    if not isinstance(name, str) or not name.strip():
        raise ParameterError(f"a dictionary needs a non-empty name, got {name!r}")
    if os.sep in name or (os.altsep and os.altsep in name) or name in (".", ".."):
        raise ParameterError(f"dictionary name {name!r} cannot be a file name: no path separators")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise ParameterError(f"dictionary name {name!r} contains a control character "
                             "(NUL, newline, ...); it names output files: use a plain name")
    return name


@dataclass(frozen=True, eq=False)
class Dictionary:
    """The templates of one source and the settings they were learned with.

    Attributes
    ----------
    name : str
        The source's name (e.g. ``"piano"``); used for output file names.
    templates : np.ndarray, shape=(F, K)
        Nonnegative templates, unit L2 norm per column. Read-only.
    sample_rate : int
        Sample rate of the training audio (Hz).
    stft : STFTConfig
        STFT used to make the training spectrogram; ``F == stft.n_bins``.
    beta : float
        Beta of the divergence the templates were learned with.
    spectrogram_power : float
        1 for magnitude, 2 for power spectrograms.
    """

    name: str
    templates: np.ndarray
    sample_rate: int
    stft: STFTConfig
    beta: float = 1.0
    spectrogram_power: float = 1.0
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name)
        raw = real_float_array(self.templates, f"templates of {self.name!r}", "shape=(F, K)")
        with np.errstate(over="ignore"):  # beyond float32's range: inf, refused below
            templates = np.array(raw, dtype=np.float32, copy=True)
        if templates.ndim != 2 or templates.size == 0:
            raise ParameterError(f"templates must be a non-empty (F, K) array, got shape {templates.shape}")
        nonnegative_finite_array(templates, f"templates of {self.name!r} (as float32)",
                                 why="dictionary templates must be nonnegative")
        if not isinstance(self.stft, STFTConfig):
            raise ParameterError(f"stft must be an STFTConfig, got {type(self.stft).__name__}")
        if templates.shape[0] != self.stft.n_bins:
            raise ParameterError(
                f"templates of {self.name!r} have {templates.shape[0]} rows but an STFT of "
                f"n_fft={self.stft.n_fft} has {self.stft.n_bins} frequency bins"
            )
        templates.flags.writeable = False
        object.__setattr__(self, "templates", templates)
        object.__setattr__(self, "sample_rate", check_sample_rate(self.sample_rate))
        object.__setattr__(self, "beta", parse_beta(self.beta))
        object.__setattr__(self, "spectrogram_power",
                           positive_number(self.spectrogram_power, "spectrogram_power"))

    @property
    def n_components(self) -> int:
        """K, the number of templates."""
        return self.templates.shape[1]

    def __repr__(self) -> str:
        return (f"Dictionary(name={self.name!r}, n_components={self.n_components}, "
                f"sample_rate={self.sample_rate}, n_fft={self.stft.n_fft}, "
                f"hop_length={self.stft.hop_length}, beta={self.beta:g})")

    # ------------------------------------------------------------------ files

    def save(self, path, *, overwrite: bool = False) -> str:
        """Write the dictionary to ``path`` (``.npz``), atomically.

        Raises
        ------
        AudioFileError
            If ``path`` exists and ``overwrite`` is False, or its folder is missing or
            not writable.
        """
        path = os.fspath(path)
        if not path.endswith(".npz"):
            raise ParameterError(f"dictionary files end in .npz; got {path!r}")
        header = {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "sample_rate": self.sample_rate,
            "stft": self.stft.to_dict(),
            "beta": self.beta,
            "spectrogram_power": self.spectrogram_power,
            "metadata": self.metadata,
        }
        with atomic_write(path, overwrite=overwrite) as handle:
            np.savez(handle, templates=np.asarray(self.templates), header=np.array(json.dumps(header)))
        return path

    @classmethod
    def load(cls, path) -> "Dictionary":
        """Read a dictionary written by :meth:`save`, validating all of it.

        The arrays' headers are read before their data, so that a file declaring a huge
        array (a "deflate bomb") is refused before anything is decompressed; pickles are
        never loaded. Every field is checked: the templates must be a finite,
        nonnegative, real (F, K) array with unit-norm (or empty) columns, as
        :func:`learn_dictionary` writes them.

        Raises
        ------
        AudioFileError
            Naming the file, if it is missing, is not a dictionary file of a version we
            read, or any of its fields is invalid.
        InsufficientMemoryError
            If its templates would not fit in the memory available.
        ParameterError
            If ``path`` is not a path.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise ParameterError(f"Dictionary.load needs the path of a .npz file (str or "
                                 f"os.PathLike), got {type(path).__name__}")
        path = os.fspath(path)
        if not os.path.exists(path):
            raise AudioFileError(f"'{path}': dictionary file does not exist; check the path "
                                 "(make one with `nmfaudio learn`)")
        header, shape, dtype = _read_headers(path)
        templates = _read_templates(path, shape, dtype)
        try:
            dictionary = cls(
                name=header["name"],
                templates=templates,
                sample_rate=header["sample_rate"],
                stft=STFTConfig.from_dict(header["stft"]),
                beta=header["beta"],
                spectrogram_power=header["spectrogram_power"],
                metadata=header.get("metadata", {}),
            )
        except (KeyError, ParameterError, TypeError, ValueError) as error:
            what = f"no field {error}" if isinstance(error, KeyError) else str(error)
            raise AudioFileError(f"'{path}' is a damaged dictionary file: {what}") from None
        _check_norms(dictionary, path)
        return dictionary


_NOT_OURS = "'{path}' is not an nmfaudio dictionary (.npz from `nmfaudio learn`)"
#: Largest header record accepted (characters); ours are a few hundred.
_MAX_HEADER_CHARS = 1 << 16


def _npy_header(archive: zipfile.ZipFile, member: str, path: str) -> tuple:
    """``(shape, dtype)`` of an ``.npy`` member, read without its data."""
    try:
        with archive.open(member) as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
            else:
                raise ValueError(f".npy version {version}")
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, RuntimeError) as error:
        raise AudioFileError(f"{_NOT_OURS.format(path=path)}: its {member} is not a numpy "
                             f"array ({type(error).__name__}: {error})") from None
    return tuple(shape), np.dtype(dtype)


def _read_headers(path: str) -> tuple:
    """The settings record, and the templates' shape and dtype, of a dictionary file."""
    not_ours = _NOT_OURS.format(path=path)
    if not zipfile.is_zipfile(path):
        raise AudioFileError(f"{not_ours}: it is not a .npz (zip) archive")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if not {"templates.npy", "header.npy"} <= names:
                raise AudioFileError(f"{not_ours}: it holds {sorted(names)}, not templates "
                                     "and header")
            h_shape, h_dtype = _npy_header(archive, "header.npy", path)
            shape, dtype = _npy_header(archive, "templates.npy", path)
    except (OSError, zipfile.BadZipFile, RuntimeError) as error:
        raise AudioFileError(f"{not_ours}: {type(error).__name__}: {error}") from None
    if h_shape != () or h_dtype.kind != "U" or h_dtype.itemsize > 4 * _MAX_HEADER_CHARS:
        raise AudioFileError(f"{not_ours}: its header is a {h_dtype} array of shape {h_shape}, "
                             "not a settings record")
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise AudioFileError(f"{not_ours}: {type(error).__name__}: {error}") from None
    if not isinstance(header, dict):
        raise AudioFileError(f"{not_ours}: its header is not a settings record")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise AudioFileError(f"'{path}' has format_version {version!r}, not a version number; "
                             "the file was edited or damaged: learn the dictionary again")
    if version != FORMAT_VERSION:
        raise AudioFileError(
            f"'{path}' is a dictionary of format version {version}; this nmfaudio reads "
            f"version {FORMAT_VERSION}: learn it again with this version"
        )
    if dtype.kind != "f" or len(shape) != 2 or 0 in shape:
        raise AudioFileError(f"'{path}' is a damaged dictionary file: its templates are a "
                             f"{dtype} array of shape {shape}, not a real (F, K) array")
    return header, shape, dtype


def _read_templates(path: str, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """The templates, once their size is known to fit in memory."""
    n_values = int(np.prod(shape, dtype=object))
    # the array as stored, its float32 copy, and float64 norms of it
    check_memory_bytes(n_values * (dtype.itemsize + 4 + 8),
                       what=f"loading '{path}' ({shape[0]} x {shape[1]} templates)",
                       advice="it is far larger than any dictionary `nmfaudio learn` makes: "
                              "check the file")
    try:
        with np.load(path, allow_pickle=False) as data:
            return data["templates"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise AudioFileError(f"{_NOT_OURS.format(path=path)}: {type(error).__name__}: "
                             f"{error}") from None


def _check_norms(dictionary: "Dictionary", path: str) -> None:
    """Templates of unit L2 norm (or all zero), as :func:`learn_dictionary` writes them."""
    norms = np.linalg.norm(dictionary.templates.astype(np.float64), axis=0)
    bad = np.flatnonzero((norms > 0) & (np.abs(norms - 1.0) > 1e-3))
    if bad.size:
        raise AudioFileError(
            f"'{path}' is a damaged or edited dictionary file: template {int(bad[0])} has L2 "
            f"norm {norms[bad[0]]:.3g}, not 1 as `nmfaudio learn` writes them; learn it again")


def check_compatible(dictionaries: Sequence[Dictionary]) -> None:
    """Check that dictionaries can be used together: same rate, STFT, power; distinct names.

    Raises
    ------
    DictionaryMismatchError
        Naming the first dictionary that differs and how.
    """
    if not dictionaries:
        raise ParameterError("no dictionaries given")
    for item in dictionaries:
        if not isinstance(item, Dictionary):
            raise ParameterError(f"expected Dictionary objects, got {type(item).__name__}")
    first = dictionaries[0]
    names = [d.name for d in dictionaries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DictionaryMismatchError(f"two dictionaries are named {duplicates[0]!r}; source names must differ")
    for other in dictionaries[1:]:
        if other.sample_rate != first.sample_rate:
            raise DictionaryMismatchError(
                f"dictionary {other.name!r} was learned at {other.sample_rate} Hz but "
                f"{first.name!r} at {first.sample_rate} Hz; learn them at one rate"
            )
        if other.stft != first.stft:
            raise DictionaryMismatchError(
                f"dictionary {other.name!r} uses {_describe(other.stft)} but {first.name!r} "
                f"uses {_describe(first.stft)}; learn them with the same STFT, e.g. "
                f"{other.name!r} again with n_fft={first.stft.n_fft}, hop_length="
                f"{first.stft.hop_length} (learning's default was a fixed 2048 / 512 before "
                f"it became frames of about 200 ms)"
            )
        if other.spectrogram_power != first.spectrogram_power:
            raise DictionaryMismatchError(
                f"dictionary {other.name!r} was learned on power {other.spectrogram_power:g} "
                f"spectrograms but {first.name!r} on power {first.spectrogram_power:g}"
            )


def _describe(config: STFTConfig) -> str:
    return f"n_fft={config.n_fft}, hop_length={config.hop_length}, window={config.window!r}"


def _as_audio(item, sample_rate: Optional[int]) -> "audio_io.Audio":
    """Load a path (resampling to ``sample_rate``) or check an Audio's rate."""
    if isinstance(item, audio_io.Audio):
        if sample_rate is not None and item.sample_rate != sample_rate:
            return audio_io.resample(item, sample_rate)
        return item
    if isinstance(item, (str, os.PathLike)):
        # learn_dictionary has no allow_silent: silence is refused here in its own words
        audio = audio_io.load(item, sample_rate=sample_rate, allow_silent=True)
        if not np.any(audio.samples):
            raise AudioFileError(f"training file '{item}' is silent (all samples are 0): "
                                 "there is nothing to learn from it")
        return audio
    raise ParameterError(f"training audio must be an Audio or a file path, got {type(item).__name__}")


def dictionary_stft(sample_rate: int) -> STFTConfig:
    """The STFT a dictionary is learned with when none is given: frames of about
    :data:`DICTIONARY_FRAME_SECONDS` at ``sample_rate`` (the power of two nearest on a
    log scale, :meth:`STFTConfig.for_sample_rate`), hop a quarter.

    Parameters
    ----------
    sample_rate : int > 0
        The training audio's rate, Hz.
    """
    return STFTConfig.for_sample_rate(sample_rate, frame_seconds=DICTIONARY_FRAME_SECONDS)


def _training_recordings(training, sample_rate: Optional[int], name: str) -> list:
    """The training audio of :func:`learn_dictionary`, read, at one rate, checked."""
    if isinstance(training, (str, os.PathLike, audio_io.Audio)):
        training = [training]
    if isinstance(training, (bytes, np.ndarray)) or not isinstance(training, Iterable):
        raise ParameterError(
            f"training must be an Audio, a file path, or a list of them, got "
            f"{type(training).__name__}; e.g. learn_dictionary(['piano.wav'], 32, name='piano')")
    items = list(training)
    if not items:
        raise ParameterError(f"no training audio given for {name!r}")
    recordings = []
    for item in items:
        recording = _as_audio(item, sample_rate)
        if sample_rate is None:
            sample_rate = recording.sample_rate
        recordings.append(recording)
    return recordings


def _training_spectra(recordings, config: STFTConfig, power: float, name: str) -> list:
    """Each recording's spectrogram, its level checked: the range a separation accepts
    (the fit leaves float32's range outside it)."""
    spectra = []
    for i, r in enumerate(recordings):
        label = f"training audio '{r.path or f'{name} #{i + 1}'}'"
        check_sample_level(float(np.abs(r.samples).max()), label=label, task="learn from")
        V = spectrogram(stft(r.samples, config), power=power)
        check_level(float(V.max()), label=label, task="learn from")
        spectra.append(V)
    return spectra


def _check_frames(recordings, config: STFTConfig, name: str, *, default: bool) -> None:
    """Refuse a training recording shorter than one STFT frame; when the frame is the
    default's, say so and which n_fft would fit (a drum hit of 150 ms at 44.1 kHz is
    shorter than the 8192 points of 200 ms)."""
    for recording in recordings:
        if recording.n_samples < config.n_fft:
            fits = fitting_n_fft(recording.n_samples)
            why = (f", the default: frames of about {DICTIONARY_FRAME_SECONDS * 1000:.0f} ms at "
                   f"{recording.sample_rate} Hz" if default else "")
            raise AudioFileError(
                f"'{recording.path or name}' is {recording.n_samples} samples long at "
                f"{recording.sample_rate} Hz, shorter than one STFT frame (n_fft={config.n_fft}"
                f"{why}); use a longer recording or a smaller n_fft (at most {fits} fits it)"
            )


def learn_dictionary(
    training: Union[AudioLike, Iterable[AudioLike]],
    n_components: int,
    *,
    name: str,
    beta: Union[float, str] = "kl",
    stft_config: Optional[STFTConfig] = None,
    sample_rate: Optional[int] = None,
    spectrogram_power: float = 1.0,
    l1_activations: float = 0.2,
    n_iter: int = 300,
    tol: float = 1e-5,
    seed: Union[None, int, np.random.Generator] = 0,
    dtype=np.float32,
    callback: Optional[Callable[[int, float], None]] = None,
    n_threads: Optional[int] = None,
) -> Dictionary:
    """Learn one source's templates by NMF of its training recordings.

    Every recording is mixed to mono for the spectrogram (the mean over channels of
    ``|X|**spectrogram_power``, as :func:`nmfaudio.pipeline.separate` does for mixtures),
    and the spectrograms of all recordings are placed side by side before the NMF.

    Parameters
    ----------
    training : Audio, path, or a sequence of them
        Recordings of the source alone.
    n_components : int > 0
        K, the number of templates.
    name : str
        The source's name.
    beta : float or str
        Divergence for learning ("kl" default, "is", "euclidean" or a number).
    stft_config : STFTConfig, optional
        Defaults to :func:`dictionary_stft` of the training rate: frames of about
        :data:`DICTIONARY_FRAME_SECONDS` (200 ms), hop a quarter, Hann (2048 at 8 kHz,
        4096 at 16 and 22.05 kHz, 8192 at 44.1 and 48 kHz). Separation takes the
        dictionary's STFT.
    sample_rate : int, optional
        Resample every recording to this rate; default: the first recording's rate
        (the others must then match it or be resampled to it).
    spectrogram_power : float
        1 (magnitude, default) or 2 (power).
    l1_activations : float >= 0
        Sparsity while learning (default 0.2): sparse codes make templates that are more
        specific to the source, which gained 0.5 to 1.5 dB median SDR in supervised
        separation on ../shared/audio.
    n_iter, tol, seed, dtype, callback, n_threads
        Passed to :func:`nmfaudio.factorization.nmf`.

    Returns
    -------
    Dictionary
        Templates of unit L2 norm, shape=(F, K).

    Raises
    ------
    AudioFileError
        A training file is missing, not audio, empty, silent or has NaN samples.
    ParameterError
        A setting is out of range.
    """
    check_name(name)
    if stft_config is not None and not isinstance(stft_config, STFTConfig):
        raise ParameterError(f"stft_config must be an STFTConfig, got {type(stft_config).__name__}")
    recordings = _training_recordings(training, sample_rate, name)
    sample_rate = recordings[0].sample_rate
    config = stft_config if stft_config is not None else dictionary_stft(sample_rate)
    _check_frames(recordings, config, name, default=stft_config is None)
    _check_learning_memory(recordings, config, n_components, name)
    V = np.concatenate(_training_spectra(recordings, config, spectrogram_power, name), axis=1)
    result = nmf(V, n_components, beta=beta, l1_activations=l1_activations, n_iter=n_iter,
                 tol=tol, init="random", seed=seed, dtype=dtype, callback=callback,
                 n_threads=n_threads)
    templates = result.templates.astype(np.float64)
    norms = np.linalg.norm(templates, axis=0)
    # a template that NMF emptied entirely carries no information; keep it at zero
    templates = templates / np.where(norms > 0, norms, 1.0)
    return Dictionary(
        name=name,
        templates=templates,
        sample_rate=sample_rate,
        stft=config,
        beta=result.beta,
        spectrogram_power=spectrogram_power,
        metadata={
            # base names only: a shared .npz must not reveal the author's folders
            "training_files": [os.path.basename(r.path) for r in recordings if r.path],
            "training_seconds": float(sum(r.duration for r in recordings)),
            "n_iter": result.n_iter,
            "final_loss": result.final_loss,
        },
    )


def _check_learning_memory(recordings, config: STFTConfig, n_components, name: str) -> None:
    """Refuse a dictionary that cannot be learned in the memory available (before the STFT)."""
    from ._budget import learning_estimate, check_memory

    if not isinstance(n_components, (int, np.integer)) or isinstance(n_components, bool) \
            or n_components < 1:
        return  # nmf() says what is wrong with it
    frames = [1 + r.n_samples // config.hop_length for r in recordings]
    estimate = learning_estimate(frames, max(r.n_channels for r in recordings),
                                 n_fft=config.n_fft, n_components=int(n_components))
    check_memory(estimate, what=f"learning {name!r} with {n_components} templates",
                 advice={"nmf": "use fewer components (n_components)",
                         "spectrogram": "use a larger hop_length or shorter training audio"})
