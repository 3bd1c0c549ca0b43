"""nmfaudio: audio source separation with nonnegative matrix factorization."""

from .errors import (AudioFileError, DictionaryMismatchError, InsufficientMemoryError,
                     MissingDependencyError, NMFAudioError, ParameterError)
from .factorization import NMFResult, beta_divergence, nmf
from .convolutive import NMFDResult, nmfd
from .online import OnlineNMF
from .audio import Audio, load, save
from .spectral import STFTConfig
from .dictionary import Dictionary, learn_dictionary
from .pipeline import Separation, separate, separate_stft
from .metrics import Evaluation, evaluate

__version__ = "0.1.0"


def __getattr__(name):
    # NMF lives in nmfaudio.estimators, which imports scikit-learn (about half a second):
    # loaded on first use, so that `import nmfaudio` stays as light as before.
    if name in ("NMF", "NMFD"):
        from . import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'nmfaudio' has no attribute {name!r}")


__all__ = [
    "nmf",
    "nmfd",
    "OnlineNMF",
    "NMF",
    "NMFD",
    "separate",
    "separate_stft",
    "Separation",
    "learn_dictionary",
    "Dictionary",
    "evaluate",
    "Evaluation",
    "Audio",
    "load",
    "save",
    "STFTConfig",
    "NMFResult",
    "NMFDResult",
    "beta_divergence",
    "NMFAudioError",
    "ParameterError",
    "AudioFileError",
    "DictionaryMismatchError",
    "MissingDependencyError",
    "InsufficientMemoryError",
    "__version__",
]
