"""Blind (unsupervised) separation: nmfaudio's defaults beside classic peers, for
bench_quality.py. Everything here runs on the mixture alone; the true stems are used
only to score.

Peers (all on the same STFT as ours, ``nmfaudio.pipeline.blind_stft``, and all applying
their masks to the complex STFT of every channel, so stereo in gives stereo out):

- ``librosa HPSS``: ``librosa.decompose.hpss`` soft masks (power 2, margin 1), harmonic
  and percussive; only for two-source tasks (it makes exactly two).
- ``librosa+sklearn NMF+KMeans``: ``librosa.decompose.decompose`` with scikit-learn's
  KL ``NMF`` (multiplicative updates, NNDSVDa, same K as ours), templates clustered by
  ``sklearn.cluster.KMeans`` on their log spectra (l2-normalized), soft masks
  ``librosa.util.softmask`` (power 2): the glue people write around those libraries.
- ``libnmfd NMFD``: ``libnmfd.core.nmfconv.nmfd`` (AudioLabs NMF toolbox), one
  component per source, 8-frame templates, random templates and activations
  (``init_templates``/``init_activations``, seed 0), its default 30 iterations, its
  ``alpha_wiener_filter`` masks. Skipped with a reason where libnmfd is not installed
  (``pip install --no-deps libnmfd``).

Scores: BSS Eval v3 (mir_eval), whole signal; ``bss_eval_sources`` on mono,
``bss_eval_images`` on multichannel tasks; the estimates are paired with the references
by the permutation with the best mean SDR, from the S x S matrix of SDRs (mir_eval's own
``compute_permutation`` picks by SIR instead).
"""

from __future__ import annotations

import itertools
import time

import numpy as np


def score_best_permutation(estimates: np.ndarray, references: np.ndarray) -> np.ndarray:
    """SDR of each reference under the permutation of estimates with the best mean SDR.

    Parameters
    ----------
    estimates, references : np.ndarray, shape=(S, C, N)

    Returns
    -------
    np.ndarray, shape=(S,)
    """
    import mir_eval.separation as me

    S, C, _ = references.shape
    sdr = np.empty((S, S))  # [estimate, reference]
    if C == 1:
        refs = references[:, 0].astype(np.float64)
        for je in range(S):
            est = estimates[je, 0].astype(np.float64)
            for jt in range(S):
                parts = me._bss_decomp_mtifilt(refs, est, jt, 512)
                sdr[je, jt] = me._bss_source_crit(*parts)[0]
    else:
        refs = np.transpose(references, (0, 2, 1)).astype(np.float64)  # (S, N, C)
        gram_j = [0] * S
        gram = np.zeros(1)
        for jt in range(S):
            for je in range(S):
                est = np.transpose(estimates[je], (1, 0)).astype(np.float64)
                out = me._bss_decomp_mtifilt_images(refs, est, jt, 512, gram_j[jt], gram)
                gram_j[jt], gram = out[4], out[5]
                sdr[je, jt] = me._bss_image_crit(*out[:4])[0]
    best = max(itertools.permutations(range(S)), key=lambda p: sdr[list(p), range(S)].mean())
    return sdr[list(best), range(S)]


def _apply(masks: np.ndarray, X: np.ndarray, config, n_samples: int) -> np.ndarray:
    """(S, F, T) masks on the (C, F, T) STFT of every channel -> (S, C, N) signals."""
    from nmfaudio.spectral import istft

    return istft(masks[:, None] * X[None], config, length=n_samples).astype(np.float32)


def ours(mixture, n_sources: int, config):
    from nmfaudio import separate

    return separate(mixture, n_sources=n_sources).sources


def ours_shared_masks(mixture, n_sources: int, config):
    """Ours with one mask for every channel (``channel_masks="shared"``, the CLI's
    ``--channel-masks shared``): the stereo mix grouped as one channel."""
    from nmfaudio import separate

    return separate(mixture, n_sources=n_sources, channel_masks="shared").sources


def librosa_hpss(mixture, n_sources: int, config):
    if n_sources != 2:
        return None
    import librosa

    from nmfaudio.spectral import stft

    X = stft(mixture.samples, config)
    V = np.abs(X).mean(axis=0)
    harmonic, percussive = librosa.decompose.hpss(V, mask=True, power=2.0, margin=1.0)
    return _apply(np.stack([harmonic, percussive]), X, config, mixture.n_samples)


def sklearn_nmf_kmeans(mixture, n_sources: int, config):
    import librosa
    from sklearn.cluster import KMeans
    from sklearn.decomposition import NMF

    from nmfaudio.spectral import stft

    X = stft(mixture.samples, config)
    V = np.abs(X).mean(axis=0)
    # Our default K until 2026-11-29 (16 for two and three sources). Our default is now
    # 32 for three; the glue is worse with 32 (the drum loops 4.22 -> 1.79, A 0.58 ->
    # -3.83), so it keeps the K it does best with.
    K = max(16, 4 * n_sources + 4)
    transformer = NMF(n_components=K, beta_loss="kullback-leibler", solver="mu", max_iter=300,
                      init="nndsvda", random_state=0)
    W, H = librosa.decompose.decompose(V, transformer=transformer)
    features = np.log(W.T + 1e-6 * W.max())
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    labels = KMeans(n_clusters=n_sources, n_init=10, random_state=0).fit_predict(features)
    models = np.stack([W[:, labels == s] @ H[labels == s] for s in range(n_sources)])
    total = np.maximum(models.max(axis=0), np.finfo(np.float32).tiny)
    masks = np.stack([librosa.util.softmask(m, total - m + 1e-30, power=2) for m in models])
    masks /= np.maximum(masks.sum(axis=0, keepdims=True), np.finfo(np.float32).tiny)
    return _apply(masks, X, config, mixture.n_samples)


def _import_libnmfd():
    """libnmfd 1.0 uses np.int (removed in numpy 1.24) and tqdm's notebook progress bar
    (needs ipywidgets): alias both here, in the benchmark only, before importing it."""
    import tqdm

    if not hasattr(np, "int"):
        np.int = int  # noqa: NPY001 - shim for libnmfd only
    tqdm.tnrange = lambda *args, **kwargs: range(*args)  # no progress bar, no ipywidgets
    from libnmfd.core.nmfconv import init_activations, init_templates, nmfd
    from libnmfd.dsp.filters import alpha_wiener_filter

    return nmfd, init_templates, init_activations, alpha_wiener_filter


def libnmfd_nmfd(mixture, n_sources: int, config):
    from nmfaudio.spectral import stft

    nmfd, init_templates, init_activations, alpha_wiener_filter = _import_libnmfd()
    X = stft(mixture.samples, config)
    V = np.abs(X).mean(axis=0).astype(np.float64)
    F, T = V.shape
    np.random.seed(0)  # libnmfd draws its random initialization from the global state
    W0 = init_templates(num_comp=n_sources, num_bins=F, num_template_frames=8, strategy="random")
    H0 = init_activations(num_comp=n_sources, num_frames=T, strategy="uniform")
    _, _, parts, _, _ = nmfd(V, num_comp=n_sources, num_frames=T, num_template_frames=8,
                             init_W=W0, init_H=H0)
    masks, _ = alpha_wiener_filter(V, parts, alpha=1.2)
    masks = np.stack([m / 1.0 for m in masks])
    masks /= np.maximum(masks.sum(axis=0, keepdims=True), np.finfo(np.float64).tiny)
    return _apply(masks.astype(np.float32), X, config, mixture.n_samples)


#: name -> function(mixture Audio, S, STFTConfig) -> (S, C, N) or None (not applicable)
METHODS = {
    "nmfaudio (defaults)": ours,
    "librosa HPSS": librosa_hpss,
    "librosa+sklearn NMF+KMeans": sklearn_nmf_kmeans,
    "libnmfd NMFD": libnmfd_nmfd,
}


def run_blind(mixture, references: np.ndarray, log=print, methods=None) -> dict:
    """Every blind method (``methods``, default :data:`METHODS`) on one mixture:
    {name: {"sdr": [...], "seconds": t} or {"skipped": reason}}."""
    from nmfaudio.pipeline import blind_stft

    config = blind_stft(mixture.sample_rate, mixture.n_samples)  # ours when not told
    S = references.shape[0]
    out = {}
    for name, method in (METHODS if methods is None else methods).items():
        log(f"  blind: {name}")
        t0 = time.perf_counter()
        try:
            estimates = method(mixture, S, config)
        except ImportError as exc:
            out[name] = {"skipped": f"not installed ({exc})"}
            continue
        seconds = time.perf_counter() - t0
        if estimates is None:
            out[name] = {"skipped": f"makes 2 sources, the task has {S}"}
            continue
        sdr = score_best_permutation(np.asarray(estimates), references)
        out[name] = {"sdr": [float(x) for x in sdr], "seconds": seconds,
                     "sum_error": float(np.abs(np.asarray(estimates).sum(0) - mixture.samples).max())}
    return out
