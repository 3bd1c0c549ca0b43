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
import zipfile
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence, Union

import numpy as np

from . import audio as audio_io
from ._files import atomic_write
from ._validation import nonnegative_finite_array, positive_number
from ._validation import sample_rate as check_sample_rate
from .errors import AudioFileError, DictionaryMismatchError, ParameterError
from .factorization import nmf, parse_beta
from .spectral import STFTConfig, spectrogram, stft

__all__ = ["Dictionary", "learn_dictionary", "check_compatible", "FORMAT_VERSION"]

#: Version of the ``.npz`` layout; bumped when a field changes meaning.
FORMAT_VERSION = 1

AudioLike = Union["audio_io.Audio", str, os.PathLike]


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
        if not isinstance(self.name, str) or not self.name.strip():
            raise ParameterError(f"a dictionary needs a non-empty name, got {self.name!r}")
        if os.sep in self.name or (os.altsep and os.altsep in self.name) or self.name in (".", ".."):
            raise ParameterError(f"dictionary name {self.name!r} cannot be a file name: no path separators")
        templates = np.array(self.templates, dtype=np.float32, copy=True)
        if templates.ndim != 2 or templates.size == 0:
            raise ParameterError(f"templates must be a non-empty (F, K) array, got shape {templates.shape}")
        nonnegative_finite_array(templates, f"templates of {self.name!r}",
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
        """Read a dictionary written by :meth:`save`.

        Raises
        ------
        AudioFileError
            If the file is missing or is not a dictionary file of a version we read.
        """
        path = os.fspath(path)
        if not os.path.exists(path):
            raise AudioFileError(f"'{path}': dictionary file does not exist; check the path "
                                 "(make one with `nmfaudio learn`)")
        not_ours = f"'{path}' is not an nmfaudio dictionary (.npz from `nmfaudio learn`)"
        bad = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError)
        try:
            data = np.load(path, allow_pickle=False)
        except bad as error:  # EOFError: an empty or truncated file
            raise AudioFileError(f"{not_ours}: {type(error).__name__}: {error}") from None
        if not isinstance(data, np.lib.npyio.NpzFile):  # a .npy under another name
            raise AudioFileError(f"{not_ours}: it holds a single array")
        try:
            with data:
                templates = np.array(data["templates"])
                header = json.loads(str(data["header"]))
        except bad as error:
            raise AudioFileError(f"{not_ours}: {type(error).__name__}: {error}") from None
        if not isinstance(header, dict):
            raise AudioFileError(f"{not_ours}: its header is not a settings record")
        version = header.get("format_version")
        if version != FORMAT_VERSION:
            raise AudioFileError(
                f"'{path}' is a dictionary of format version {version}; this nmfaudio reads "
                f"version {FORMAT_VERSION}: learn it again with this version"
            )
        try:
            return cls(
                name=header["name"],
                templates=templates,
                sample_rate=header["sample_rate"],
                stft=STFTConfig.from_dict(header["stft"]),
                beta=header["beta"],
                spectrogram_power=header["spectrogram_power"],
                metadata=header.get("metadata", {}),
            )
        except (KeyError, ParameterError) as error:
            raise AudioFileError(f"'{path}' is a damaged dictionary file: {error}") from None


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
                f"uses {_describe(first.stft)}; learn them with the same STFT"
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
        return audio_io.load(item, sample_rate=sample_rate)
    raise ParameterError(f"training audio must be an Audio or a file path, got {type(item).__name__}")


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
        Defaults to ``STFTConfig()`` (2048 / 512, Hann).
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
    if isinstance(training, (str, os.PathLike, audio_io.Audio)):
        training = [training]
    items = list(training)
    if not items:
        raise ParameterError(f"no training audio given for {name!r}")
    config = stft_config if stft_config is not None else STFTConfig()
    if not isinstance(config, STFTConfig):
        raise ParameterError(f"stft_config must be an STFTConfig, got {type(config).__name__}")
    recordings = []
    for item in items:
        recording = _as_audio(item, sample_rate)
        if sample_rate is None:
            sample_rate = recording.sample_rate
        recordings.append(recording)
    for recording in recordings:
        if recording.n_samples < config.n_fft:
            raise AudioFileError(
                f"'{recording.path or name}' is {recording.n_samples} samples long at "
                f"{recording.sample_rate} Hz, shorter than one STFT frame (n_fft={config.n_fft}); "
                "use a longer recording or a smaller n_fft"
            )
    spectra = [spectrogram(stft(r.samples, config), power=spectrogram_power) for r in recordings]
    V = np.concatenate(spectra, axis=1)
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
            "training_files": [r.path for r in recordings if r.path],
            "training_seconds": float(sum(r.duration for r in recordings)),
            "n_iter": result.n_iter,
            "final_loss": result.final_loss,
        },
    )
