"""scikit-learn estimators over nmfaudio's factorizations.

:class:`NMF` wraps :func:`nmfaudio.factorization.nmf` (and :class:`NMFD` the convolutive
:func:`nmfaudio.convolutive.nmfd`) in scikit-learn's transformer API
(``fit`` / ``transform`` / ``fit_transform`` / ``inverse_transform``, ``components_``),
so it drops into code that already expects :class:`sklearn.decomposition.NMF`: a
:class:`sklearn.pipeline.Pipeline`, a grid search, or
``librosa.decompose.decompose(S, transformer=NMF(...))``.

Orientation
-----------
scikit-learn factors ``X`` of shape (n_samples, n_features) as ``X ~ W @ H`` with the
transform output ``W`` (n_samples, n_components) and ``components_ = H`` (n_components,
n_features). librosa passes ``S.T`` for a spectrogram S (F, T), so there the samples are
the T frames and the features the F bins: ``components_`` (K, F) holds the spectral
templates (``nmf``'s ``templates.T``) and the transform output (T, K) the activations
(``nmf``'s ``activations.T``). ``l1_activations`` and ``fixed_components`` use these
names: the activations are the transform output, the components the templates.

scikit-learn is a dependency of nmfaudio (and of librosa); only this module imports it,
and ``nmfaudio.NMF`` loads this module on first use.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, check_non_negative, validate_data

from .errors import ParameterError
from .convolutive import convolutive_model, nmfd
from .factorization import beta_divergence, nmf, parse_beta

__all__ = ["NMF", "NMFD"]

_INITS = (None, "random", "nndsvda", "custom")


class _NonnegativeTransformer:
    """What NMF and NMFD tell scikit-learn about themselves: nonnegative input, and the
    input's float dtype kept."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _check_init(init, W, H) -> None:
    if init not in _INITS:
        raise ParameterError(f"init must be one of {_INITS}, got {init!r}")
    if (W is not None or H is not None) and init != "custom":
        raise ParameterError("W and H are starting factors for init='custom'; set init='custom' "
                             "or leave them out")


class NMF(_NonnegativeTransformer, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
          BaseEstimator):
    """Beta-divergence NMF as a scikit-learn transformer.

    Fits ``X ~ W @ components_`` with nonnegative ``W`` (n_samples, K) and
    ``components_`` (K, n_features) by the multiplicative updates of
    :func:`nmfaudio.factorization.nmf` (monotone for every beta; optional sparsity;
    blocks of samples on several threads).

    Parameters
    ----------
    n_components : int, "auto" or None
        K. None or "auto": the number of columns of ``H`` given to :meth:`fit` with
        ``init="custom"``, else of ``fixed_components``, else n_features.
    init : {None, "nndsvda", "random", "custom"}
        None: "nndsvda" when K <= min(n_samples, n_features), else "random" (as
        scikit-learn). "custom": start from the ``W`` and ``H`` given to :meth:`fit`.
    beta_loss : float or str
        "kullback-leibler" (default; for audio spectrograms), "itakura-saito",
        "frobenius", or any real beta. scikit-learn's default is "frobenius".
    tol : float >= 0
        Stop :meth:`fit` when the relative decrease of the loss between two checks
        (every 10 iterations) falls below ``tol``.
    max_iter : int >= 0
        Maximum number of iterations of :meth:`fit`; :meth:`transform` always runs this
        many (no early stop), so that each sample's activations depend only on that
        sample, whatever else is in X.
    random_state : int, numpy.random.Generator, numpy.random.RandomState or None
        Seed of the initialization; the same seed gives the same factors.
    l1_activations : float >= 0
        Sparsity of the activations (the transform output), with the learned components
        kept at unit L2 norm (see :func:`nmfaudio.factorization.nmf`).
    fixed_components : array-like, shape=(K0, n_features), optional
        Components kept as given (e.g. a learned dictionary's ``templates.T``); K0 <= K,
        the other K - K0 components are learned (semi-supervised NMF).
    dtype : None, np.float32 or np.float64
        Precision of the computation. None: X's own (float32 stays float32, float64 and
        integer data run in float64, as scikit-learn keeps the dtype).
    n_threads : int, optional
        Threads of the factorization (default: the cores this process may use).

    Attributes
    ----------
    components_ : np.ndarray, shape=(K, n_features)
        The components (spectral templates for ``S.T``).
    n_components_ : int
        K.
    n_iter_ : int
        Iterations run by the last :meth:`fit`.
    reconstruction_err_ : float
        ``sqrt(2 * D_beta(X | W @ components_))`` at the end of :meth:`fit`, as
        scikit-learn reports it (the Frobenius norm for beta = 2).
    result_ : NMFResult
        The factorization of the last :meth:`fit`, in nmfaudio's orientation
        (``templates`` = ``components_.T``), with its loss history.
    n_features_in_ : int
        Number of features seen by :meth:`fit`.

    Examples
    --------
    >>> import numpy as np
    >>> from nmfaudio import NMF
    >>> X = np.random.default_rng(0).random((40, 12))
    >>> model = NMF(n_components=3, random_state=0, max_iter=100)
    >>> codes = model.fit_transform(X)
    >>> codes.shape, model.components_.shape
    ((40, 3), (3, 12))
    """

    def __init__(self, n_components=None, *, init=None, beta_loss="kullback-leibler", tol=1e-4,
                 max_iter=200, random_state=None, l1_activations=0.0, fixed_components=None,
                 dtype=None, n_threads=None):
        self.n_components = n_components
        self.init = init
        self.beta_loss = beta_loss
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.l1_activations = l1_activations
        self.fixed_components = fixed_components
        self.dtype = dtype
        self.n_threads = n_threads

    # ----------------------------------------------------------------------- sklearn API

    def fit(self, X, y=None, W=None, H=None):
        """Learn the components of X.

        Parameters
        ----------
        X : array-like, shape=(n_samples, n_features)
            Nonnegative finite data (``S.T`` for a spectrogram S).
        y : ignored
        W : array-like, shape=(n_samples, K), optional
            With ``init="custom"``: the initial activations.
        H : array-like, shape=(K, n_features), optional
            With ``init="custom"``: the initial components.

        Returns
        -------
        self
        """
        X = self._check_X(X, reset=True)
        templates, activations, fixed, K = self._start(X, W, H)
        init = self.init
        if init in (None, "custom"):
            # a "custom" start may give only some factors; the rest starts at random
            init = "nndsvda" if init is None and K <= min(X.shape) else "random"
        result = nmf(X.T, K, beta=self._beta(), templates=templates, activations=activations,
                     fixed_templates=fixed, n_iter=self._max_iter(), tol=self.tol,
                     l1_activations=self.l1_activations, init=init, seed=self._seed(),
                     dtype=self._dtype(X), n_threads=self.n_threads)
        self.result_ = result
        self.components_ = np.ascontiguousarray(result.templates.T)
        self.n_components_ = K
        self.n_iter_ = int(result.n_iter)
        loss = beta_divergence(X.T, result.reconstruction(), result.beta)
        self.reconstruction_err_ = float(np.sqrt(2.0 * max(loss, 0.0)))
        return self

    def fit_transform(self, X, y=None, W=None, H=None):
        """Learn the components of X and return its activations over them.

        The same as ``fit(X).transform(X)``: the activations are solved again with the
        learned components fixed, rather than taken from the fit. The fit may stop
        (``tol``, ``max_iter``) before its activations have settled, and then a later
        ``transform(X)`` would disagree with what ``fit_transform`` returned; this way they
        are identical, and the activations are the best found for the components. It costs
        up to ``max_iter`` more activation-only iterations (cheaper than the fit's, which
        update the components too). The fit's own activations are ``result_.activations.T``.

        Parameters are those of :meth:`fit`.

        Returns
        -------
        W : np.ndarray, shape=(n_samples, K)
            The activations of X.
        """
        return self.fit(X, W=W, H=H).transform(X)

    def transform(self, X):
        """The activations of X over the fitted components (kept fixed).

        Each sample starts from the same constant (scaled to its own level) and runs
        ``max_iter`` iterations, so its activations do not depend on the other samples.

        Parameters
        ----------
        X : array-like, shape=(n_samples, n_features)

        Returns
        -------
        W : np.ndarray, shape=(n_samples, K)
        """
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        dtype = self._dtype(X)
        templates = self.components_.T.astype(dtype)
        K = self.n_components_
        # Each sample's own level sets its start, W @ h ~ its mean, so that no sample's
        # codes depend on another's; an all-zero sample stays at zero, its exact fit.
        level = X.mean(axis=1, dtype=np.float64) / max(K * float(templates.mean()),
                                                        np.finfo(np.float64).tiny)
        activations = np.repeat(level[None, :], K, axis=0).astype(dtype)
        if not np.any(X):
            return activations.T.copy()
        result = nmf(X.T, K, beta=self._beta(), templates=templates, activations=activations,
                     fixed_templates=True, n_iter=self._max_iter(), tol=0.0,
                     l1_activations=self.l1_activations, dtype=dtype, n_threads=self.n_threads)
        return np.ascontiguousarray(result.activations.T)

    def inverse_transform(self, X):
        """Data back from activations: ``X @ components_``.

        Parameters
        ----------
        X : array-like, shape=(n_samples, K)
            Activations, e.g. from :meth:`transform`.

        Returns
        -------
        np.ndarray, shape=(n_samples, n_features)
        """
        check_is_fitted(self)
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_components_:
            raise ParameterError(
                f"inverse_transform needs activations of shape (n_samples, {self.n_components_}), "
                f"got shape {X.shape}")
        return X @ self.components_

    @property
    def _n_features_out(self):
        """Number of output features, for get_feature_names_out (nmf0, nmf1, ...)."""
        return self.components_.shape[0]

    # ----------------------------------------------------------------------- helpers

    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=reset)
        check_non_negative(X, f"{type(self).__name__} (input X)")
        return X

    def _dtype(self, X: np.ndarray) -> np.dtype:
        if self.dtype is None:
            return X.dtype
        dtype = np.dtype(self.dtype)
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ParameterError(f"dtype must be None, np.float32 or np.float64, got {self.dtype!r}")
        return dtype

    def _beta(self) -> float:
        beta = self.beta_loss
        if isinstance(beta, str):
            beta = beta.lower()
        return parse_beta(beta)

    def _max_iter(self) -> int:
        if (not isinstance(self.max_iter, numbers.Integral) or isinstance(self.max_iter, bool)
                or self.max_iter < 0):
            raise ParameterError(f"max_iter must be an integer >= 0, got {self.max_iter!r}")
        return int(self.max_iter)

    def _seed(self):
        seed = self.random_state
        if isinstance(seed, np.random.RandomState):
            # scikit-learn style generators: draw a seed from it, as sklearn would draw
            # its own numbers
            return int(seed.randint(np.iinfo(np.int32).max))
        return seed

    def _n_components(self, n_features: int, H, fixed) -> int:
        K = self.n_components
        if K is None or (isinstance(K, str) and K == "auto"):
            if H is not None:
                return int(np.shape(H)[0])
            if fixed is not None:
                return int(fixed.shape[0])
            return n_features
        if not isinstance(K, numbers.Integral) or isinstance(K, bool) or K < 1:
            raise ParameterError(f"n_components must be a positive integer, 'auto' or None, got {K!r}")
        return int(K)

    def _start(self, X: np.ndarray, W, H):
        """nmf()'s templates, activations, fixed_templates and K for this fit."""
        _check_init(self.init, W, H)
        fixed = None
        if self.fixed_components is not None:
            fixed = np.asarray(self.fixed_components, dtype=X.dtype)
            if fixed.ndim != 2 or fixed.shape[1] != X.shape[1]:
                raise ParameterError(
                    f"fixed_components must have shape (K0, n_features={X.shape[1]}), got "
                    f"{fixed.shape}")
            if H is not None:
                raise ParameterError("give either fixed_components or a custom H, not both")
        K = self._n_components(X.shape[1], H, fixed)
        if fixed is not None and fixed.shape[0] > K:
            raise ParameterError(f"fixed_components has {fixed.shape[0]} rows, more than "
                                 f"n_components={K}")
        templates = fixed.T if fixed is not None else (None if H is None else np.asarray(H).T)
        activations = None if W is None else np.asarray(W).T
        if templates is not None and fixed is None and templates.shape[1] != K:
            raise ParameterError(f"H must have shape (n_components={K}, {X.shape[1]}), got "
                                 f"{np.shape(H)}")
        return templates, activations, fixed is not None, K



class NMFD(_NonnegativeTransformer, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
           BaseEstimator):
    """Convolutive NMF (NMFD) as a scikit-learn transformer.

    Fits ``X ~ sum_tau shift_tau(A) @ components_[:, tau, :]`` with nonnegative
    activations ``A`` (n_samples, K), the transform output, and templates
    ``components_`` (K, n_frames, n_features), by :func:`nmfaudio.convolutive.nmfd`: each
    component is a short run of ``n_frames`` consecutive samples, started wherever its
    activation is. In nmfaudio's orientation (``X = S.T`` for a spectrogram S (F, T)) this
    is ``S ~ sum_tau W_tau shift_tau(H)`` with ``W[:, k, tau] = components_[k, tau, :]`` and
    ``H = A.T``.

    The samples are consecutive frames, not independent draws: a sample's activations
    depend on its ``n_frames - 1`` neighbours on each side, so, unlike :class:`NMF`,
    transforming a subset or a shuffled X is not the same as transforming X and taking
    the same rows (scikit-learn's two checks of that are expected to fail, see the tests).

    Parameters
    ----------
    n_components : int, "auto" or None
        K. None or "auto": the number of templates of ``H`` given to :meth:`fit` with
        ``init="custom"``, else of ``fixed_components``, else 1.
    n_frames : int > 0
        L, the length of each template in samples (frames); at most n_samples.
    init : {None, "random", "nndsvda", "custom"}
        None: "random", the better start for NMFD (see :func:`nmfaudio.nmfd`). "custom":
        start from the ``W`` (activations) and ``H`` (templates) given to :meth:`fit`.
    beta_loss, tol, max_iter, random_state, l1_activations, dtype, n_threads
        As for :class:`NMF` (``l1_activations`` keeps the learned templates at unit
        Frobenius norm).
    fixed_components : array-like, shape=(K0, n_frames, n_features), optional
        Templates kept as given; K0 <= K, the others are learned.

    Attributes
    ----------
    components_ : np.ndarray, shape=(K, n_frames, n_features)
        The templates.
    n_components_ : int
        K.
    n_iter_ : int
        Iterations run by the last :meth:`fit`.
    reconstruction_err_ : float
        ``sqrt(2 * D_beta(X | model))`` at the end of :meth:`fit`.
    result_ : NMFDResult
        The factorization of the last :meth:`fit`, in nmfaudio's orientation.
    n_features_in_ : int
        Number of features seen by :meth:`fit`.

    Examples
    --------
    >>> import numpy as np
    >>> from nmfaudio import NMFD
    >>> X = np.random.default_rng(0).random((60, 12))
    >>> model = NMFD(n_components=2, n_frames=4, random_state=0, max_iter=50)
    >>> codes = model.fit_transform(X)
    >>> codes.shape, model.components_.shape
    ((60, 2), (2, 4, 12))
    """

    def __init__(self, n_components=None, n_frames=8, *, init=None, beta_loss="kullback-leibler",
                 tol=1e-4, max_iter=200, random_state=None, l1_activations=0.0,
                 fixed_components=None, dtype=None, n_threads=None):
        self.n_components = n_components
        self.n_frames = n_frames
        self.init = init
        self.beta_loss = beta_loss
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.l1_activations = l1_activations
        self.fixed_components = fixed_components
        self.dtype = dtype
        self.n_threads = n_threads

    # the same parameter checks as NMF's, shared rather than copied
    _check_X = NMF._check_X
    _dtype = NMF._dtype
    _beta = NMF._beta
    _max_iter = NMF._max_iter
    _seed = NMF._seed
    _n_features_out = NMF._n_features_out

    def fit(self, X, y=None, W=None, H=None):
        """Learn the templates of X.

        Parameters
        ----------
        X : array-like, shape=(n_samples, n_features)
            Nonnegative finite data, consecutive frames (``S.T`` for a spectrogram S).
        y : ignored
        W : array-like, shape=(n_samples, K), optional
            With ``init="custom"``: the initial activations.
        H : array-like, shape=(K, n_frames, n_features), optional
            With ``init="custom"``: the initial templates.

        Returns
        -------
        self
        """
        X = self._check_X(X, reset=True)
        L = self._frames(X)
        templates, activations, fixed, K = self._start(X, W, H, L)
        init = "nndsvda" if self.init == "nndsvda" else "random"
        result = nmfd(X.T, K, L, beta=self._beta(), templates=templates, activations=activations,
                      fixed_templates=fixed, n_iter=self._max_iter(), tol=self.tol,
                      l1_activations=self.l1_activations, init=init, seed=self._seed(),
                      dtype=self._dtype(X), n_threads=self.n_threads)
        self.result_ = result
        self.components_ = np.ascontiguousarray(result.templates.transpose(1, 2, 0))
        self.n_components_ = K
        self.n_iter_ = int(result.n_iter)
        loss = beta_divergence(X.T, result.reconstruction(), result.beta)
        self.reconstruction_err_ = float(np.sqrt(2.0 * max(loss, 0.0)))
        return self

    def fit_transform(self, X, y=None, W=None, H=None):
        """``fit(X).transform(X)``: the activations solved again over the learned templates
        (see :meth:`NMF.fit_transform` for why). Parameters are those of :meth:`fit`.

        Returns
        -------
        W : np.ndarray, shape=(n_samples, K)
        """
        return self.fit(X, W=W, H=H).transform(X)

    def transform(self, X):
        """The activations of X over the fitted templates (kept fixed).

        They start from one constant (scaled to X's mean level) and run ``max_iter``
        iterations.

        Parameters
        ----------
        X : array-like, shape=(n_samples, n_features)
            At least ``n_frames`` samples.

        Returns
        -------
        W : np.ndarray, shape=(n_samples, K)
        """
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        L = self._frames(X)
        if L != self.components_.shape[1]:
            raise ParameterError(f"n_frames is {L} but the fitted templates have "
                                 f"{self.components_.shape[1]} frames; fit again")
        dtype = self._dtype(X)
        templates = self.components_.transpose(2, 0, 1).astype(dtype)  # (F, K, L)
        K = self.n_components_
        level = float(X.mean(dtype=np.float64)) / max(K * L * float(templates.mean()),
                                                       np.finfo(np.float64).tiny)
        activations = np.full((K, X.shape[0]), level, dtype=dtype)
        if not np.any(X):
            return activations.T.copy()  # all zero: the exact fit is zero
        result = nmfd(X.T, K, L, beta=self._beta(), templates=templates, activations=activations,
                      fixed_templates=True, n_iter=self._max_iter(), tol=0.0,
                      l1_activations=self.l1_activations, dtype=dtype, n_threads=self.n_threads)
        return np.ascontiguousarray(result.activations.T)

    def inverse_transform(self, X):
        """Data back from activations: ``sum_tau shift_tau(X) @ components_[:, tau, :]``.

        Parameters
        ----------
        X : array-like, shape=(n_samples, K)

        Returns
        -------
        np.ndarray, shape=(n_samples, n_features)
        """
        check_is_fitted(self)
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_components_:
            raise ParameterError(
                f"inverse_transform needs activations of shape (n_samples, {self.n_components_}), "
                f"got shape {X.shape}")
        return convolutive_model(self.components_.transpose(2, 0, 1), X.T).T

    def _frames(self, X: np.ndarray) -> int:
        L = self.n_frames
        if not isinstance(L, numbers.Integral) or isinstance(L, bool) or L < 1:
            raise ParameterError(f"n_frames must be a positive integer, got {L!r}")
        if X.shape[0] < L:
            raise ParameterError(
                f"n_samples = {X.shape[0]} is fewer than n_frames = {L}: NMFD needs at least "
                "one template's length of consecutive frames; pass more or lower n_frames")
        return int(L)

    def _start(self, X: np.ndarray, W, H, L: int):
        """nmfd()'s templates (F, K0, L), activations (K, T), fixed_templates and K."""
        _check_init(self.init, W, H)
        if self.fixed_components is not None and H is not None:
            raise ParameterError("give either fixed_components or a custom H, not both")
        given = self.fixed_components if self.fixed_components is not None else H
        name = "fixed_components" if self.fixed_components is not None else "H"
        templates = None
        if given is not None:
            templates = np.asarray(given, dtype=X.dtype)
            if templates.ndim != 3 or templates.shape[1:] != (L, X.shape[1]):
                raise ParameterError(f"{name} must have shape (K, n_frames={L}, "
                                     f"n_features={X.shape[1]}), got {templates.shape}")
        K = self.n_components
        if K is None or (isinstance(K, str) and K == "auto"):
            K = templates.shape[0] if templates is not None else 1
        if not isinstance(K, numbers.Integral) or isinstance(K, bool) or K < 1:
            raise ParameterError(f"n_components must be a positive integer, 'auto' or None, got {K!r}")
        K = int(K)
        if templates is not None and (templates.shape[0] > K or (H is not None and templates.shape[0] != K)):
            raise ParameterError(f"{name} has {templates.shape[0]} templates but n_components={K}")
        activations = None if W is None else np.asarray(W).T
        templates = None if templates is None else templates.transpose(2, 0, 1)
        return templates, activations, self.fixed_components is not None, K
