"""nmfaudio: audio source separation with nonnegative matrix factorization."""

from .errors import AudioFileError, DictionaryMismatchError, NMFAudioError, ParameterError
from .factorization import NMFResult, beta_divergence, nmf
from .convolutive import NMFDResult, nmfd
from .audio import Audio, load, save
from .spectral import STFTConfig
from .dictionary import Dictionary, learn_dictionary
from .pipeline import Separation, separate, separate_stft
from .metrics import Evaluation, evaluate

__version__ = "0.1.0"

__all__ = [
    "nmf",
    "nmfd",
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
    "__version__",
]
