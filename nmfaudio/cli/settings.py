"""The model options shared by ``separate``, ``demo`` and ``plot``, checked into
:class:`ModelSettings` before any work."""

from __future__ import annotations

import dataclasses
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Optional

import click
import soundfile as sf

from .. import audio as audio_io
from ..dictionary import Dictionary, check_compatible, dictionary_stft, learn_dictionary
from ..errors import DictionaryMismatchError, NMFAudioError, ParameterError
from ..pipeline import (CHANNEL_MASKS, GROUPINGS, RATE_POLICIES, SeparationSettings, blind_stft,
                        separation_settings)
from ..spectral import STFTConfig
from .core import BETA, CLIError
from .progress import Progress

#: Default output folder of ``separate`` and ``demo``.
DEFAULT_OUT = "separated"
#: The example mixture shipped inside the package (keys + drums, 22050 Hz mono, 6 s).
EXAMPLE_RESOURCE = ("data", "example.wav")

#: The instruments of the example; data/train_NAME.wav holds 6 s of each alone.
DEMO_SOURCES = ("keys", "drums")
#: Defaults of ``learn``.
DEFAULT_DICT_COMPONENTS = 48


# --------------------------------------------------------------------------- separation settings


@dataclass(frozen=True)
class ModelSettings:
    """What ``separate`` and ``plot`` pass to :func:`nmfaudio.pipeline.separate`."""

    dictionaries: tuple = ()
    dictionary_paths: tuple = ()
    n_free: int = 0
    n_sources: int | None = None
    n_components: int | None = None
    beta: object = None  # None: the dictionaries' beta, else kl (the library decides)
    n_iter: int = 300
    grouping: str = "auto"
    channel_masks: str | None = None  # None: the library's (spatial blind, gains with dictionaries)
    l1: float | None = None
    mask_power: float = 2.0
    stft: STFTConfig | None = None
    # blind, --hop without --n-fft: the hop, the frame following each input
    # (:meth:`for_input`), as it does with neither option
    hop: int | None = None
    seed: int = 0
    on_rate_mismatch: str = "resample"
    n_threads: int | None = None  # NMF threads per process; None = all cores

    @property
    def supervised(self) -> bool:
        return bool(self.dictionaries)

    @property
    def separation(self) -> SeparationSettings:
        """The library's checked settings, its defaults filled in (the mode rules and
        defaults live there, once)."""
        kw = self.kwargs()
        for key in ("n_iter", "seed", "n_threads"):
            kw.pop(key)
        kw["stft"] = kw.pop("stft_config", None)
        return separation_settings(**kw)

    @property
    def source_names(self) -> tuple:
        return self.separation.source_names

    def for_input(self, path: str, label: str | None = None) -> "ModelSettings":
        """The settings for one input. With ``--hop`` alone (blind), the frame the library
        chooses for this file's rate and length (:func:`nmfaudio.pipeline.blind_stft`)
        with that hop; otherwise, or when the file cannot be read (the separation reads
        it again and says what is wrong with it), these settings unchanged.

        Raises
        ------
        CLIError
            The hop is more than half of that frame.
        """
        if self.hop is None or self.stft is not None or self.supervised:
            return self
        read = _rate_and_length(path)
        if read is None:
            return self
        rate, n_samples = read
        n_fft = blind_stft(rate, n_samples).n_fft
        if self.hop > n_fft // 2:
            raise CLIError(f"--hop {self.hop} is more than half of the frame chosen for "
                           f"'{label or path}' (n_fft {n_fft} at {rate} Hz); use --hop "
                           f"{n_fft // 2} or less ({max(n_fft // 4, 1)} is usual), or give "
                           "--n-fft too")
        return dataclasses.replace(self, stft=STFTConfig(n_fft=n_fft, hop_length=self.hop),
                                   hop=None)

    def kwargs(self) -> dict:
        kw = {"beta": self.beta, "mask_power": self.mask_power, "n_iter": self.n_iter,
              "seed": self.seed, "on_rate_mismatch": self.on_rate_mismatch,
              "n_threads": self.n_threads}
        if self.l1 is not None:
            kw["l1_activations"] = self.l1
        if self.channel_masks is not None:
            kw["channel_masks"] = self.channel_masks
        if self.supervised:
            kw.update(dictionaries=list(self.dictionaries), n_free=self.n_free)
        else:
            kw.update(n_sources=self.n_sources, n_components=self.n_components,
                      stft_config=self.stft, grouping=self.grouping)
        return kw

    def describe(self) -> dict:
        out = {
            "mode": "supervised" if self.supervised else "unsupervised",
            "sources": list(self.source_names),
            "beta": self.beta if self.beta is not None else (
                self.dictionaries[0].beta if self.supervised else "kl"),
            "iterations": self.n_iter,
            "sparsity": self.l1,
            "mask_power": self.mask_power,
            "seed": self.seed,
            "channel_masks": self.channel_masks or (
                "auto: gains" if self.supervised else "auto: spatial"),
        }
        if self.supervised:
            first = self.dictionaries[0]
            out.update(dictionaries=list(self.dictionary_paths), free_components=self.n_free,
                       n_fft=first.stft.n_fft, hop=first.stft.hop_length,
                       on_rate_mismatch=self.on_rate_mismatch)
        else:
            out.update(grouping=self.grouping,
                       components=self.n_components or "auto: max(16, 16 * (sources - 1))",
                       n_fft=self.stft.n_fft if self.stft else "auto: about 80 ms",
                       hop=(self.stft.hop_length if self.stft else
                            self.hop if self.hop is not None else "auto: n_fft / 4"))
        return out


def _model_options(function):
    """The options shared by ``separate``, ``demo`` and ``plot``."""
    options = [
        click.option("-d", "--dict", "dict_paths", multiple=True, metavar="DICT.npz",
                     help="Supervised: a dictionary from `nmfaudio learn`, one per source "
                          "(repeat the option)."),
        click.option("--free", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Supervised: this many extra components learned from the mixture, "
                          "written as the source 'other'."),
        click.option("-s", "--sources", type=click.IntRange(min=1), default=None,
                     help="Unsupervised: number of sources (default 2)."),
        click.option("-k", "--components", type=click.IntRange(min=1), default=None,
                     help="Unsupervised: number of NMF components [default: max(16, 16 (S - 1))]."),
        click.option("--grouping", type=click.Choice(GROUPINGS, case_sensitive=False),
                     default=GROUPINGS[0], show_default=True,
                     help="Unsupervised, one channel: how components become sources. auto: "
                          "harmonic/percussive, a drum kit, or register, as the mixture asks; "
                          "register: by pitch register alone (pitched instruments that auto "
                          "splits into notes and attacks); timbre: clustering."),
        click.option("--channel-masks", type=click.Choice(CHANNEL_MASKS, case_sensitive=False),
                     default=None,
                     help="Several channels: spatial (blind default) assigns each time-"
                          "frequency bin by its direction and needs a direction per source; "
                          "shared groups the channels' mean as one channel and applies one "
                          "mask to every channel (use it when two sources share a direction, "
                          "e.g. bass and drums both in the centre); gains (default with "
                          "dictionaries: --dict, or the demo without --sources, --components "
                          "or --grouping) fits each "
                          "source's gain in each channel."),
        click.option("--beta", type=BETA, default=None,
                     help="Divergence: kl, is (Itakura-Saito), euclidean, or a number "
                          "[default: the dictionaries' beta, else kl]."),
        click.option("-n", "--iterations", type=click.IntRange(min=1), default=300,
                     show_default=True, help="Maximum number of NMF iterations."),
        click.option("--sparsity", type=click.FloatRange(min=0), default=None,
                     help="L1 weight on the activations [default: 0.3 with --dict, else 0]."),
        click.option("--mask-power", type=click.FloatRange(min=0, min_open=True), default=2.0,
                     show_default=True, help="Exponent of the soft masks (2 = Wiener-like)."),
        click.option("--n-fft", type=click.IntRange(min=16), default=None,
                     help="STFT frame length [default: the dictionaries' (demo: about 200 "
                          "ms, as learn), else about 80 ms at the mixture's rate (3072 at "
                          "44.1 kHz, 768 at 8 kHz), with --hop alone too]."),
        click.option("--hop", type=click.IntRange(min=1), default=None,
                     help="STFT hop [default: n_fft / 4, or the dictionaries']."),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Seed of the NMF initialization."),
        click.option("--on-rate-mismatch", type=click.Choice(RATE_POLICIES, case_sensitive=False),
                     default="resample", show_default=True,
                     help="Supervised, when the mixture's sample rate differs from the "
                          "dictionaries': resample it, or stop with an error."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _model_settings(params: dict) -> ModelSettings:
    """Check the shared options and load the dictionaries (fail before any work)."""
    dict_paths = params["dict_paths"]
    n_fft, hop = params["n_fft"], params["hop"]
    grouping = params["grouping"].lower()
    common = {"beta": params["beta"], "n_iter": params["iterations"], "l1": params["sparsity"],
              "mask_power": params["mask_power"], "seed": params["seed"],
              "on_rate_mismatch": params["on_rate_mismatch"].lower(),
              "channel_masks": (params["channel_masks"].lower()
                                if params["channel_masks"] is not None else None)}
    if dict_paths:
        if params["sources"] is not None:
            raise click.UsageError("--sources is for unsupervised separation; with --dict the "
                                   "sources are the dictionaries (add --free K for one more)")
        if params["components"] is not None:
            raise click.UsageError("--components is for unsupervised separation; with --dict "
                                   "use --free K for extra components learned from the mixture")
        if grouping != GROUPINGS[0]:
            raise click.UsageError("--grouping is for unsupervised separation; with --dict the "
                                   "dictionaries say which source each component is")
        _check_supervised_channel_masks(common["channel_masks"], "with --dict")
        dictionaries = tuple(Dictionary.load(path) for path in dict_paths)
        check_compatible(dictionaries)
        first = dictionaries[0]
        if (n_fft is not None and n_fft != first.stft.n_fft) or \
                (hop is not None and hop != first.stft.hop_length):
            raise click.UsageError(
                f"--n-fft/--hop ({n_fft}, {hop}) do not match the dictionary '{dict_paths[0]}' "
                f"(n_fft {first.stft.n_fft}, hop {first.stft.hop_length}); drop them to use "
                "the dictionaries' STFT, or learn the dictionaries again with these values")
        if params["free"] and "other" in {d.name for d in dictionaries}:
            raise click.UsageError("a dictionary is named 'other', the name --free gives to the "
                                   "free components; learn it again under another name")
        return _checked(ModelSettings(dictionaries=dictionaries,
                                      dictionary_paths=tuple(dict_paths),
                                      n_free=params["free"], **common))
    if params["free"]:
        raise click.UsageError("--free adds components to dictionaries; give --dict too, or use "
                               "--sources/--components for unsupervised separation")
    n_sources = params["sources"] if params["sources"] is not None else 2
    if params["components"] is not None and params["components"] < n_sources:
        raise click.UsageError(f"--components ({params['components']}) must be at least "
                               f"--sources ({n_sources})")
    # None: the library's default, frames of about 80 ms at each mixture's rate (with
    # --hop alone, that frame and the hop: ModelSettings.for_input)
    config = None if n_fft is None else _stft_option(n_fft, hop)
    return _checked(ModelSettings(n_sources=n_sources, n_components=params["components"],
                                  stft=config, hop=hop if n_fft is None else None,
                                  grouping=grouping, **common))


def _check_supervised_channel_masks(channel_masks: Optional[str], where: str) -> None:
    """--channel-masks spatial needs a blind separation: a usage error (in the CLI's
    words) before any work, where dictionaries will be used."""
    if channel_masks == "spatial":
        raise click.UsageError(f"--channel-masks spatial is for blind separation; {where} "
                               "use gains (the default there) or shared")


def _checked(model: ModelSettings) -> ModelSettings:
    """The library's own checks of the settings; what it refuses is a usage error."""
    try:
        model.separation
    except DictionaryMismatchError:
        raise
    except ParameterError as error:
        raise click.UsageError(str(error)) from None
    return model


def learning_stft(training, n_fft, hop, sample_rate) -> Optional[STFTConfig]:
    """The STFT of ``learn``: --n-fft/--hop, else the library's default for the training
    rate (--sample-rate, or the first file's, read from its header). None when that rate
    cannot be read: learn_dictionary then reads the file and says what is wrong with it."""
    if n_fft is not None:
        return _stft_option(n_fft, hop)
    rate = sample_rate
    if rate is None:
        read = _rate_and_length(training[0])
        if read is None:
            return None  # learn_dictionary reads it again and says what is wrong
        rate = read[0]
    n_fft = dictionary_stft(rate).n_fft
    return _stft_option(n_fft, hop, f"the default n_fft {n_fft} (about 200 ms at {rate} Hz)")


def _rate_and_length(path) -> Optional[tuple]:
    """``(sample rate, samples)`` of an audio file from its header, else by decoding it
    as the library will (a format soundfile cannot read); None when neither can, for
    the library to read it again and say what is wrong with it."""
    try:
        info = sf.info(path)
        return int(info.samplerate), int(info.frames)
    except Exception:  # noqa: BLE001  (not a soundfile format: read it as the library will)
        try:
            recording = audio_io.load(path)
        except NMFAudioError:
            return None
        return recording.sample_rate, recording.n_samples


def _stft_option(n_fft: int, hop, n_fft_said: str = "") -> STFTConfig:
    """STFTConfig of --n-fft (or the default ``n_fft_said`` describes) and --hop (default
    n_fft / 4); what the library refuses is a usage error naming the options."""
    hop = max(n_fft // 4, 1) if hop is None else hop
    try:
        return STFTConfig(n_fft=n_fft, hop_length=hop)
    except NMFAudioError as error:
        said = f"--hop {hop} with {n_fft_said}" if n_fft_said else f"--n-fft {n_fft} --hop {hop}"
        raise click.UsageError(f"{said}: {error}") from None


def _example_mixture(stack: ExitStack) -> str:
    """Path of the example mixture inside the installed package."""
    return _packaged_file(stack, EXAMPLE_RESOURCE)


def _packaged_file(stack: ExitStack, parts: tuple) -> str:
    from importlib import resources

    resource = resources.files("nmfaudio").joinpath(*parts)
    if not resource.is_file():
        raise CLIError("the example audio is not installed with this nmfaudio "
                       f"(nmfaudio/{'/'.join(parts)} is missing); give a mixture: "
                       "nmfaudio separate MIX.wav")
    return str(stack.enter_context(resources.as_file(resource)))


def _demo_uses_dictionaries(params: dict) -> bool:
    """Without a mixture, ``demo`` and ``plot`` learn the example's dictionaries unless
    an option asks for something else: ``--dict``, or a blind one (``--sources``,
    ``--components``, a ``--grouping`` other than auto)."""
    blind = (params["sources"] or params["components"]
             or params["grouping"].lower() != GROUPINGS[0])
    return not (params["dict_paths"] or blind)


def _demo_model(stack: ExitStack, model: ModelSettings, params: dict, verbose: bool) -> ModelSettings:
    """The demo learns a dictionary per instrument from the training clips shipped with
    nmfaudio (other notes and another groove than the mixture's), then separates with them."""
    _check_supervised_channel_masks(model.channel_masks,
                                    "the demo separates with dictionaries (give --sources, "
                                    "--components or --grouping for a blind one), so")
    dictionaries = []
    for name in DEMO_SOURCES:
        path = _packaged_file(stack, ("data", f"train_{name}.wav"))
        config = learning_stft([path], params["n_fft"], params["hop"], None)
        with Progress(model.n_iter, f"learning '{name}' from its training clip", enabled=verbose,
                      unit="iterations") as bar:
            dictionaries.append(learn_dictionary(
                path, DEFAULT_DICT_COMPONENTS, name=name, stft_config=config, seed=model.seed,
                beta="kl" if model.beta is None else model.beta,
                n_iter=model.n_iter, callback=bar.callback))
    return dataclasses.replace(model, dictionaries=tuple(dictionaries), dictionary_paths=(),
                               n_sources=None, n_components=None, stft=None)
