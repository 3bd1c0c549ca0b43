"""nmfaudio: audio source separation with nonnegative matrix factorization."""

from .errors import AudioFileError, DictionaryMismatchError, NMFAudioError, ParameterError
from .nmf import NMFResult, beta_divergence, nmf

__version__ = "0.1.0"

__all__ = [
    "nmf",
    "NMFResult",
    "beta_divergence",
    "NMFAudioError",
    "ParameterError",
    "AudioFileError",
    "DictionaryMismatchError",
    "__version__",
]
