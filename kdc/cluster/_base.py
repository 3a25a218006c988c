"""BaseDeepClusterer: the scikit-learn contract shared by every kdc estimator.

An estimator pretrains an autoencoder on ``x``, embeds ``x`` with its encoder
and fits a clustering *head* on the embedding. Subclasses implement the head
with ``_fit_head(z, x, y, warm=..., strategy=...)``, ``_predict_head(z)`` and
``_predict_proba_head(z)`` (``z`` is what ``_head_input(x)`` gives: the
embedding, unless a head needs more), and the hooks that saving and export call
(``get_fitted_state``/``set_fitted_state``, ``export_head``). How each
training phase runs is decided by :mod:`kdc.training` from the public
parameters; ``x`` reaches the heads as a :mod:`kdc.training.data` object
(in memory or streamed) with one interface.
"""

import inspect
import time

import keras
import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from kdc import _pretrained, saving, serving
from kdc._keras_utils import call_in_chunks
from kdc._progress import Stage
from kdc._validation import (EMBEDDING_LIMIT, check_array, check_bool, check_choice, check_float,
                             check_int, check_n_clusters, embedding_rows_ok)
from kdc.cluster import _autoencoder
from kdc.select import METHODS as K_SELECTIONS
from kdc.select import KSelection, parse_k_range, scan_jobs, select_k
from kdc.training import data as _data
from kdc.training import distribute as _distribute
from kdc.training import engine, plan
from kdc.training.precision import pretraining_precision
from kdc.training.scaling import fit_scaling

SCALINGS = ("auto", "minmax", "standard", "none")
# The k scanned by n_clusters="auto" when k_range is None (capped below n_samples).
DEFAULT_K_RANGE = range(2, 16)
# How the estimators' n_clusters errors name their other accepted value.
AUTO_K = " or 'auto' (chosen by k_selection over k_range)"
# The embedding pass shows progress lines (verbose >= 1) once it has run this many seconds.
EMBED_QUIET_S = 5.0
# The default of ``pretrain_budget``: samples seen by pretrain_epochs="auto"
# (25 epochs on 70,000 rows, the 100-epoch cap on 10,000). N2D's default is
# larger (see kdc.cluster.n2d): its head clusters the pretrained embedding as
# it is, while DEC and IDEC go on training the encoder.
PRETRAIN_BUDGET = 1_750_000


class BaseDeepClusterer(ClusterMixin, TransformerMixin, BaseEstimator):
    """Autoencoder pretraining + a clustering head on the embedding.

    Not used directly: see :class:`kdc.AEKMeans`, :class:`kdc.N2D`,
    :class:`kdc.DEC` and :class:`kdc.IDEC`, which share these arguments.

    Args:
        n_clusters: int >= 2, the number of clusters, or "auto": after
            pretraining, :func:`kdc.select.select_k` scans ``k_range`` on the
            embedding with the ``k_selection`` criterion and the head uses the
            chosen k (``n_clusters_``; the scan is ``k_selection_``).
        k_range: the k scanned when ``n_clusters="auto"`` (ignored otherwise):
            None (2 to 15, capped below n_samples), an iterable of ints or a
            string "start:stop" with both ends included; at least 3 values,
            each >= 2 and < n_samples.
        k_selection: the criterion of ``n_clusters="auto"``: "elbow" (the
            default: the k where two straight lines fitted to the k-means
            inertia curve meet; it needs only the k-means fits), "silhouette",
            "bic" or "all" (see ``select_k``).
        autoencoder: "dense" (d-500-500-2000-10 by default), "denoising"
            (the same, trained on corrupted inputs), "conv" (for images) or a
            Keras autoencoder with ``encoder`` and ``decoder`` attributes,
            which is copied (weights included) and trained further unless
            ``pretrain_epochs=0``.
        hidden_dims: hidden layer sizes of the dense encoder (the decoder
            mirrors them).
        embedding_dim: int, size of the embedding the head clusters.
        autoencoder_params: optional dict of extra arguments of the
            autoencoder class, e.g. ``{"noise": "masking", "noise_level": 0.3}``
            or ``{"dropout": 0.1}``, or ``{"activation": f}`` with a Keras
            activation name or any callable (register a named function with
            ``keras.saving.register_keras_serializable`` to save and reload it).
        pretrain_epochs: int >= 0 or "auto": ``pretrain_budget`` samples seen,
            in at least 10 epochs; data sets of fewer than 17,500 rows
            (``kdc.training.plan.AUTO_BUDGET_MIN_ROWS``) train as many epochs
            as one of 17,500 rows.
        pretrain_budget: int >= 1, the samples seen by ``pretrain_epochs="auto"``
            (epochs = ceil(pretrain_budget / max(n_samples, 17,500))):
            1,750,000 by default (25 epochs on 70,000 rows, 100 on 10,000);
            N2D's default is larger.
        batch_size: int, pretraining batch size.
        learning_rate: float, pretraining learning rate.
        lr_decay_end: float in [0, 1]: the learning rate falls linearly to 0
            over this last fraction of pretraining's steps (0, the default
            here, keeps it constant; N2D's default is 0.3). A callback that
            sets the rate itself (``LearningRateScheduler``,
            ``ReduceLROnPlateau``) keeps it constant instead.
        optimizer: a Keras optimizer name or instance for pretraining. An
            instance is copied with its own class and configuration; the
            string "adam" is :class:`kdc.training.FusedAdam`, Keras' Adam
            arithmetic through TensorFlow's one-pass update kernel.
        callbacks: optional list of Keras callbacks for pretraining
            (EarlyStopping, TensorBoard, ...).
        pretrained: None, the name of shipped weights (``"mnist"``, ``"usps"``,
            ``"pendigits"``; see ``weights/manifest.json``) or the path of a
            ``.weights.h5`` file for the autoencoder. The file is checked
            against the manifest (sha256, architecture, number of features)
            and loaded; pretraining is then skipped unless ``pretrain_epochs``
            is an int (further training from these weights). The data must be
            scaled as when the weights were made: ``kdc.datasets.load(name)``.
        warm_start: bool. When True and the estimator is already fitted (or
            was reloaded with :func:`kdc.load`), ``fit`` keeps the trained
            autoencoder and the learnt input scaling instead of starting over:
            pretraining continues for ``pretrain_epochs`` more epochs ("auto":
            none) and the head is fitted again on the new embedding (DEC and
            IDEC continue self-training from their current centres).
        scale: how features are scaled before training, learnt in ``fit`` and
            applied again in ``predict``/``transform``: "auto" (uint8 data is
            divided by 255, data already in [0, 1] is left alone, anything else
            is min-max scaled with the global minimum and maximum, except flat
            rows whose columns are on different units, which are
            standardised per column: see
            ``kdc.training.scaling.HETEROGENEOUS_RANGE_RATIO``), "minmax"
            (global), "standard" (per feature to mean 0 and variance 1) or
            "none".
        precision: "auto", "float32", "mixed_float16" or "mixed_bfloat16":
            the Keras dtype policy training runs under (on a copy of the
            autoencoder; ``autoencoder_``, the embedding, ``predict`` and the
            exports stay float32). "auto" is mixed_float16 on a GPU; on a
            CPU with native bf16 (AVX512-BF16, AMX) it pretrains in
            mixed_bfloat16 from 5,000 rows on (where bf16 is faster at equal
            accuracy) and in float32 on fewer rows (short anyway, and bf16
            cost accuracy there), and DEC and IDEC self-train in bf16 (see
            :class:`kdc.DEC`); float32 on other CPUs.
        augment: "auto", None or an int >= 0: random shifts of image rows
            while training (up to this many whole pixels, the uncovered
            border filled with 0): autoencoder pretraining and DEC/IDEC
            self-training, so the embedding does not depend on exactly where
            a stroke sits; the embedding the head clusters, DEC's target
            distribution and ``predict`` see the rows unshifted. "auto"
            shifts by up to 1 pixel when ``x`` holds images (n_samples,
            height, width[, channels]) at least 16 pixels high and wide, and
            does nothing for other data (flat rows, the 8x8 digits); see
            :mod:`kdc.training.augment`. An int asks for images. N2D's
            pretraining leaves the last 20% of its steps unshifted
            (``unshifted_end``).
        random_state: int or None; an int makes ``fit`` repeatable on the same
            machine (it seeds Keras, NumPy and the scikit-learn parts).
        verbose: 0 silent, 1 a line per stage (the training plan of each
            phase included) and Keras progress bars, 2 also the head's own
            progress output.
        distribute: None or a ``tf.distribute.Strategy``: the Keras models
            are built and compiled in its scope, as they are when ``fit`` is
            called inside a ``strategy.scope()``; batch sizes are global and must be divisible
            by ``strategy.num_replicas_in_sync``. Not saved with the estimator.
    """

    def __init__(self, n_clusters=8, *, k_range=None, k_selection="elbow",
                 autoencoder="dense", hidden_dims=(500, 500, 2000),
                 embedding_dim=10, autoencoder_params=None, pretrain_epochs="auto",
                 pretrain_budget=PRETRAIN_BUDGET, batch_size=256, learning_rate=1e-3,
                 lr_decay_end=0.0, optimizer="adam", callbacks=None, pretrained=None,
                 warm_start=False, scale="auto", precision="auto", augment="auto",
                 unshifted_end=0.0, jit_compile="auto", steps_per_execution="auto",
                 pin_threads=False, random_state=None, verbose=1, distribute=None):
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.k_selection = k_selection
        self.autoencoder = autoencoder
        self.hidden_dims = hidden_dims
        self.embedding_dim = embedding_dim
        self.autoencoder_params = autoencoder_params
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_budget = pretrain_budget
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.lr_decay_end = lr_decay_end
        self.optimizer = optimizer
        self.callbacks = callbacks
        self.pretrained = pretrained
        self.warm_start = warm_start
        self.scale = scale
        self.precision = precision
        self.augment = augment
        self.unshifted_end = unshifted_end
        self.jit_compile = jit_compile
        self.steps_per_execution = steps_per_execution
        self.pin_threads = pin_threads
        self.random_state = random_state
        self.verbose = verbose
        self.distribute = distribute

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        saving.register_estimator(cls)  # kdc.load may instantiate it (and only such classes)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # images (n_samples, height, width)
        tags.transformer_tags.preserves_dtype = ["float32"]  # transform returns float32
        return tags

    # ------------------------------------------------------------------ fit
    def fit(self, x, y=None):
        """Pretrain the autoencoder on ``x`` and cluster its embedding.

        Args:
            x: array-like of shape (n_samples, n_features), or images of shape
                (n_samples, height, width[, channels]); uint8 is scaled to [0, 1].
                Data larger than memory is streamed, never copied whole: a
                ``numpy.memmap``, the path (str or Path) of a ``.npy`` file
                (opened with ``np.load(mmap_mode="r")``) or a
                ``tf.data.Dataset`` yielding batches of x (or ``(x,)`` /
                ``(x, y)`` tuples; x is used), the same rows in the same order
                on every pass (do not shuffle it: kdc shuffles its training
                pipeline with a buffer).
            y: ignored by the unsupervised fit (DEC and IDEC use it only to
                report ACC/NMI while training).

        Returns:
            self, with ``labels_``, ``n_clusters_`` (the k used; N2D: the
            clusters found), ``k_selection_`` (the ``KSelection`` of
            ``n_clusters="auto"``, else None), ``history_``, ``timings_``,
            ``encoder_``, ``autoencoder_`` and ``n_features_in_`` set.

        Raises:
            ValueError: for invalid data or arguments, e.g. a ``batch_size``
                that the replicas of the distribution strategy cannot share;
                or when training diverges (a loss that is not finite), at the
                end of that epoch, naming the phase and the learning rate.
        """
        self._check_params()
        strategy = _distribute.resolve_strategy(self.distribute)
        _distribute.check_batch_sizes(strategy, **self._global_batch_sizes())
        with _distribute.scope(strategy):  # models are built and compiled in the scope
            return self._fit(x, y, strategy)

    def _global_batch_sizes(self):
        """The batch sizes that a distribution strategy splits across its replicas."""
        return {"batch_size": check_int(self.batch_size, "batch_size", minimum=1)}

    def _check_params(self):
        """Validate the shared constructor arguments that need no data (at the start of fit;
        ``batch_size`` is checked by :meth:`_global_batch_sizes` right after)."""
        if not (isinstance(self.verbose, (int, np.integer)) and not isinstance(self.verbose, bool)
                and self.verbose >= 0):
            raise ValueError("verbose must be an int >= 0 (0 silent, 1 progress, 2 more). "
                             f"Received: verbose={self.verbose!r}")
        check_float(self.learning_rate, "learning_rate", minimum=0.0, exclusive_min=True)
        check_int(self.pretrain_budget, "pretrain_budget", minimum=1)
        plan.check_fraction(self.unshifted_end, "unshifted_end")
        plan.check_fraction(self.lr_decay_end, "lr_decay_end")
        plan.check_jit_compile(self.jit_compile)
        plan.check_steps_per_execution(self.steps_per_execution)
        check_bool(self.pin_threads, "pin_threads")

    def _fit(self, x, y, strategy=None):
        t_start = time.perf_counter()
        warm = self._is_warm_start(x)
        x = self._validate_predict_input(x, fitted=False) if warm else self._validate_fit_input(x)
        seed = self._seed_everything()
        self.timings_ = {}
        self.training_plan_ = {}
        clusters = (f"n_clusters={self.n_clusters!r} (k by {self.k_selection})"
                    if isinstance(self.n_clusters, str) else f"{self.n_clusters} clusters")
        self._log(f"{type(self).__name__}: {x.n_samples} samples, {self.n_features_in_} "
                  f"features, {clusters}")
        if warm:
            self._check_n_clusters(x.n_samples)
            self._log("warm start: continuing from the fitted autoencoder")
        else:
            self.autoencoder_, self.model_input_shape_ = _autoencoder.build_autoencoder(
                self.autoencoder, self.input_shape_, self.hidden_dims, self.embedding_dim,
                self.autoencoder_params, seed=seed)
            # Build it now: pretraining may be skipped (0 epochs), and an unbuilt
            # model cannot be saved or exported.
            self.autoencoder_(np.zeros((1,) + tuple(self.model_input_shape_), dtype="float32"))
            if self.pretrained is not None:
                self._load_pretrained()
        self.encoder_ = self.autoencoder_.encoder
        xm = self._to_model_input(x)
        from_weights = warm or self.pretrained is not None
        epochs = 0 if from_weights and self.pretrain_epochs == "auto" else (
            plan.resolve_epochs(self.pretrain_epochs, x.n_samples, self.pretrain_budget))
        phase = self._plan_phase("pretrain", xm, epochs=epochs, batch_size=self.batch_size,
                                 precision=pretraining_precision(self.precision, xm.n_samples),
                                 learning_rate=self.learning_rate,
                                 lr_decay_end=self.lr_decay_end,
                                 unshifted_end=self.unshifted_end, callbacks=self.callbacks,
                                 strategy=strategy)
        if epochs:
            self._log(f"pretraining {type(self.autoencoder_).__name__}: {phase.describe()}")
        pre_history, self.timings_["pretrain"] = engine.pretrain(
            self.autoencoder_, xm, phase, optimizer=self.optimizer, callbacks=self.callbacks,
            verbose=self.verbose, input_shape=self.model_input_shape_,
            image_shape=self.input_shape_, seed=self._shift_seed(phase))
        self.history_ = {"pretrain": pre_history}
        if epochs:
            self._log(f"pretraining done in {self.timings_['pretrain']:.1f} s, final loss "
                      f"{pre_history['loss'][-1]:.4f}")

        t0 = time.perf_counter()
        z = self._embed(xm)
        self.timings_["embed"] = time.perf_counter() - t0
        self._choose_k(z)
        t0 = time.perf_counter()
        self._log(f"fitting the {self._head_description()} head")
        self._fit_head(z, xm, y, warm=warm, strategy=strategy)
        self.timings_["head"] = time.perf_counter() - t0
        self.timings_["total"] = time.perf_counter() - t_start
        self._log(f"head done in {self.timings_['head']:.1f} s; "
                  f"total {self.timings_['total']:.1f} s")
        return self

    def _plan_phase(self, name, xm, *, epochs, batch_size, precision, learning_rate,
                    lr_decay_end=0.0, unshifted_end=0.0, callbacks=None, steps=None,
                    strategy=None):
        """The training plan of phase ``name`` from this estimator's parameters;
        recorded in ``training_plan_``."""
        phase = engine.plan_phase(
            name, xm, epochs=epochs, batch_size=batch_size, precision=precision,
            learning_rate=learning_rate, jit_compile=self.jit_compile,
            steps_per_execution=self.steps_per_execution, lr_decay_end=lr_decay_end,
            shift=plan.resolve_shift(self.augment, self.input_shape_),
            unshifted_end=unshifted_end, callbacks=callbacks, pin_threads=self.pin_threads,
            steps=steps, distributed=strategy)
        self.training_plan_[name] = phase.as_dict()
        return phase

    @staticmethod
    def _shift_seed(phase):
        """The seed of a phase's image shifts, drawn from NumPy's generator (which
        ``random_state`` has seeded), or None when the phase does not shift."""
        return int(np.random.randint(2**31 - 1)) if phase.shift and phase.steps else None

    # ------------------------------------------------------------- predict
    def transform(self, x):
        """The autoencoder embedding of ``x``: array of shape (n_samples, embedding_dim).

        Raises:
            ValueError: ``x`` does not fit the model (features, sample shape,
                non-finite values), or a row's embedding is not finite (its
                values overflow the autoencoder).
        """
        return self._checked_embedding(self._validate_predict_input(x), x)

    def _checked_embedding(self, xs, x):
        """The embedding of the validated, scaled rows ``xs`` (of the user's ``x``); raises
        the ``ValueError`` of :meth:`transform` for rows whose embedding is not finite."""
        z = self._embed(self._to_model_input(xs))
        bad = ~embedding_rows_ok(z)
        if bad.any():
            rows = np.flatnonzero(bad)
            raise ValueError(
                f"x has {rows.size} row(s) whose embedding is not finite or beyond "
                f"{EMBEDDING_LIMIT:.0e} (first: row {rows[0]}): their values overflow the "
                "autoencoder. Expected rows on the scale of the training data."
                f"{_largest_value(x, rows[0])}")
        return z

    def predict(self, x):
        """Cluster labels of the rows of ``x``: int array of shape (n_samples,).

        A row's label depends on that row only, never on the other rows of ``x``.

        Raises:
            ValueError: ``x`` does not fit the model (features, sample shape,
                non-finite values), or a row's embedding is not finite (its
                values overflow the autoencoder).
        """
        return np.asarray(self._predict_head(self._head_input(x)))

    def predict_proba(self, x):
        """Soft cluster memberships: array of shape (n_samples, n_clusters), rows sum to 1.

        Raises:
            ValueError: as :meth:`predict`.
        """
        return np.asarray(self._predict_proba_head(self._head_input(x)), dtype="float64")

    def _head_input(self, x):
        """What ``_predict_head``/``_predict_proba_head`` get for the rows ``x``: their
        embedding (:meth:`transform`); N2D may add the scaled rows (``manifold_input``)."""
        return self.transform(x)

    def fit_predict(self, x, y=None):
        """Fit and return ``labels_``."""
        return self.fit(x, y).labels_

    def score(self, x, y=None):
        """Negative mean squared reconstruction error of ``x`` (higher is better)."""
        xm = self._to_model_input(self._validate_predict_input(x))
        return -xm.mean_squared_error(lambda chunk: call_in_chunks(self.autoencoder_, chunk))

    # --------------------------------------------------------- persistence
    def save(self, path, *, overwrite=False):
        """Save the fitted estimator to the folder ``path``; reload with :func:`kdc.load`.

        See :mod:`kdc.saving` for the folder's format. The write is atomic: a
        failed save leaves an earlier one intact.

        Args:
            path: str or path-like, the folder.
            overwrite: bool, replace an earlier kdc save at ``path``.

        Returns:
            ``pathlib.Path`` of the folder.
        """
        check_is_fitted(self, "labels_")
        return saving.save(self, path, overwrite=overwrite)

    def export(self, path, *, overwrite=False, verbose=None, manifold_map="auto"):
        """Export a TF SavedModel for TF Serving (see :func:`kdc.serving.export`)."""
        check_is_fitted(self, "labels_")
        return serving.export(self, path, overwrite=overwrite, verbose=verbose,
                              manifold_map=manifold_map)

    def get_fitted_state(self):
        """The fitted state to save: a dict of attribute name to value.

        Hook of :mod:`kdc.saving`: everything ``set_fitted_state`` needs to
        restore the estimator, without what it rebuilds (``encoder_``, DEC's
        ``model_``) and without the constructor's parameters.
        """
        params = self.get_params(deep=False)
        skip = set(self._derived_attributes())
        state = {k: v for k, v in self.__dict__.items() if k not in params and k not in skip}
        if isinstance(state.get("k_selection_"), KSelection):  # as plain data (safe to load)
            selection = state["k_selection_"]
            state["k_selection_"] = {**selection.to_dict(), "labels": {
                str(k): labels for k, labels in selection.labels.items()}}
        return state

    def optional_fitted_state(self):
        """Names of fitted attributes this estimator predicts and exports without.

        Hook of :mod:`kdc.saving`: a safe load leaves them out (as None) when
        only pickle could store them. None by default.
        """
        return ()

    def set_fitted_state(self, state):
        """Restore the state saved by :meth:`get_fitted_state` (hook of :mod:`kdc.saving`)."""
        state = dict(state)
        selection = state.get("k_selection_")
        if isinstance(selection, dict):
            state["k_selection_"] = KSelection(**{
                **selection, "labels": {int(k): v for k, v in selection["labels"].items()}})
        if "_model_input_shape" in state:  # saves of format 1
            state["model_input_shape_"] = state.pop("_model_input_shape")
        self.__dict__.update(state)
        self._restore_links()
        return self

    def export_head(self, verbose=0, manifold_map="auto"):
        """The clustering head in TensorFlow ops, for :func:`kdc.serving.export`.

        Returns:
            A :class:`kdc.serving.ServingHead`: nearest centre and the
            Student-t soft assignment to ``cluster_centers_``, as ``predict``
            and ``predict_proba`` compute them.
        """
        centers = getattr(self, "cluster_centers_", None)
        if centers is None:
            raise ValueError(f"export needs an estimator with cluster_centers_ or an N2D. "
                             f"Received: {type(self).__name__}")
        alpha = float(getattr(self, "alpha", 1.0))
        return serving.ServingHead(lambda z, x: serving.student_t_head(z, centers, alpha), [],
                                   {"head": "student_t"}, int(centers.shape[0]))

    def __getstate__(self):
        state = dict(super().__getstate__())  # may be self.__dict__ itself: copy
        for name in self._derived_attributes():
            state.pop(name, None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.__dict__.setdefault("distribute", None)  # not pickled: see _derived_attributes
        if "autoencoder_" in self.__dict__:
            self._restore_links()

    def _derived_attributes(self):
        """Fitted attributes rebuilt from the others after loading (not saved); the
        distribution strategy (bound to this machine's devices) is not saved either."""
        return ("encoder_", "distribute")

    def _restore_links(self):
        """Re-create the derived attributes of a loaded (or unpickled) estimator."""
        self.__dict__.setdefault("distribute", None)
        self.encoder_ = self.autoencoder_.encoder

    # ------------------------------------------------------------- helpers
    def _head_description(self):
        return type(self).__name__

    def _check_n_clusters(self, n_samples):
        """Validate ``n_clusters`` (with "auto": ``k_selection`` and ``k_range``).

        Returns:
            None for a fixed k, else the list of k to scan.
        """
        if not (isinstance(self.n_clusters, str) and self.n_clusters == "auto"):
            check_n_clusters(self.n_clusters, n_samples, alternative=AUTO_K)
            return None
        check_choice(self.k_selection, "k_selection", K_SELECTIONS)
        if self.k_range is not None:
            return parse_k_range(self.k_range, n_samples)
        values = [k for k in DEFAULT_K_RANGE if k < n_samples]
        if len(values) < 3:
            raise ValueError(
                "n_clusters='auto' needs at least 5 samples to scan k (the default k_range is "
                f"2 to 15, capped below n_samples). Received: x with {n_samples} samples")
        return values

    def _choose_k(self, z):
        """Set ``_k`` (read by the heads), ``n_clusters_`` and ``k_selection_`` from ``z``."""
        k_values = self._check_n_clusters(z.shape[0])
        self.k_selection_ = None
        if k_values is None:
            self._k = int(self.n_clusters)
        else:
            t0 = time.perf_counter()
            self._log(f"choosing k in {k_values[0]}..{k_values[-1]} by {self.k_selection} "
                      "on the embedding")
            self.k_selection_ = select_k(z, k_values, method=self.k_selection,
                                         n_jobs=scan_jobs(z.shape[0]),
                                         random_state=self._sklearn_seed(2),
                                         verbose=self.verbose)
            self.timings_["select_k"] = time.perf_counter() - t0
            self._k = int(self.k_selection_.k)
            self._log(f"chose k={self._k} in {self.timings_['select_k']:.1f} s "
                      f"({', '.join(f'{m}: {k}' for m, k in self.k_selection_.best_k.items())})")
        self.n_clusters_ = self._k

    def _fit_head(self, z, x, y, *, warm=False, strategy=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict_head(self, z):  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict_proba_head(self, z):  # pragma: no cover - abstract
        raise NotImplementedError

    def _log(self, message):
        if self.verbose:
            print(f"[kdc] {message}", flush=True)

    def _seed_everything(self):
        """Seed Keras/NumPy/Python for a repeatable fit; returns an int seed or None."""
        if self.random_state is None:
            return None
        if isinstance(self.random_state, np.random.RandomState):
            seed = int(self.random_state.randint(np.iinfo(np.int32).max))
        else:
            seed = check_int(self.random_state, "random_state", minimum=0,
                             maximum=2**32 - 1)
        keras.utils.set_random_seed(seed)
        return seed

    def _sklearn_seed(self, offset=0):
        seed = None if self.random_state is None else (
            self.random_state if isinstance(self.random_state, np.random.RandomState)
            else (int(self.random_state) + offset) % 2**32)  # scikit-learn takes < 2**32
        return seed

    def _validate_fit_input(self, x):
        """``x`` checked and scaled (the scaling learnt here) as a kdc.training.data object."""
        check_choice(self.scale, "scale", SCALINGS)
        stream, x = _data.resolve(x, "x")
        if stream is not None:  # one validation pass; the scaling is fitted chunk by chunk
            self.scale_, self.offset_ = stream.scan(self.scale, min_samples=2)
            self._check_n_clusters(stream.n_samples)
            self.input_shape_ = tuple(stream.sample_shape)
            self.n_features_in_ = stream.n_features
            return self._apply_scaling(stream)
        x = check_array(x, "x", min_samples=2)
        self._check_n_clusters(x.shape[0])
        self.input_shape_ = tuple(x.shape[1:])
        self.n_features_in_ = int(np.prod(self.input_shape_))
        self.scale_, self.offset_ = fit_scaling(x.reshape(x.shape[0], -1), self.scale,
                                                rows_are_flat=x.ndim == 2)
        return self._apply_scaling(_data.InMemory(x))

    def _validate_predict_input(self, x, fitted=True):
        """``x`` checked against the fitted shape and scaled, as a kdc.training.data object."""
        if fitted:
            check_is_fitted(self, "labels_")
        stream, x = _data.resolve(x, "x")
        if stream is not None:
            stream.check_sample_shape = self._check_features
            if stream.sample_shape is not None:
                self._check_features(stream.sample_shape)
            if not fitted:  # a warm-start fit: count and check the rows
                stream.scan(None, min_samples=2)
            return self._apply_scaling(stream)
        x = check_array(x, "x", min_samples=1 if fitted else 2)
        self._check_features(x.shape[1:])
        return self._apply_scaling(_data.InMemory(x))

    def _check_features(self, sample_shape):
        """Samples must have the shape seen in fit, or its flat form, or (for images) the
        same images with or without a trailing channel axis of 1."""
        sample_shape = tuple(int(d) for d in sample_shape)
        n_features = int(np.prod(sample_shape))
        if n_features != self.n_features_in_:
            raise ValueError(
                f"x must have the {self.n_features_in_} features seen in fit (samples of shape "
                f"{self.input_shape_}). Received: x with samples of shape {sample_shape} "
                f"(X has {n_features} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input)."
            )
        fitted = tuple(self.input_shape_)
        accepted = {fitted, (self.n_features_in_,)}
        if len(fitted) == 2:
            accepted.add(fitted + (1,))
        elif len(fitted) == 3 and fitted[2] == 1:
            accepted.add(fitted[:2])
        if sample_shape not in accepted:
            raise ValueError(
                f"x must have samples of the shape seen in fit, {fitted}, or flat rows of "
                f"{self.n_features_in_} values. Received: x with samples of shape "
                f"{sample_shape}, which has as many values but another layout.")

    def _is_warm_start(self, x):
        """Whether this fit continues from the fitted autoencoder (``warm_start``)."""
        return (check_bool(self.warm_start, "warm_start") and hasattr(self, "autoencoder_")
                and hasattr(self, "labels_"))

    def _load_pretrained(self):
        """Load ``pretrained`` weights into the freshly built ``autoencoder_``."""
        architecture = self.autoencoder if isinstance(self.autoencoder, str) else "custom"
        t0 = time.perf_counter()
        path, entry = _pretrained.resolve(self.pretrained, architecture)
        _pretrained.load_into(self.autoencoder_, path, entry, self.n_features_in_)
        self.timings_["load_weights"] = time.perf_counter() - t0
        self._log(f"loaded pretrained weights {path.name}")

    def _apply_scaling(self, x):
        """``x`` with the learnt scaling (applied now in memory, per chunk or batch when a
        stream is read)."""
        return x.with_scaling(self.scale_, self.offset_)

    def _to_model_input(self, x):
        return x.configured(model_shape=tuple(self.model_input_shape_))

    def _embed(self, xm):
        """The embedding of model input ``xm``, chunk by chunk (only the embedding is kept).

        A pass that lasts more than ``EMBED_QUIET_S`` seconds (large data) shows
        progress lines at ``verbose >= 1``.
        """
        n = xm.n_samples  # None for a stream read for the first time
        with Stage("embedding " + ("the rows" if n is None else f"{n} rows"), self.verbose,
                   total=n, quiet_for=EMBED_QUIET_S) as stage:
            return xm.map_chunks(lambda chunk: stage.advance(
                call_in_chunks(self.encoder_, chunk), chunk.shape[0]))


def _largest_value(x, row):
    """The end of the message of a row whose embedding is not finite: the row's largest
    absolute value when ``x`` is an array; nothing for a stream or a path."""
    try:
        peak = float(np.max(np.abs(np.asarray(x[row], dtype="float64"))))
    except Exception:  # noqa: BLE001 - only an array's row is reported
        return ""
    return f" Received: values up to {peak:.3g} in row {row}."


def base_arguments(values):
    """The arguments of :class:`BaseDeepClusterer` (but ``n_clusters``) taken from ``values``,
    a subclass ``__init__``'s ``locals()``: subclasses list every argument in their own
    signature, as scikit-learn's ``get_params`` requires, and pass these on."""
    return {name: values[name] for name in _BASE_PARAMS}


_BASE_PARAMS = [name for name in inspect.signature(BaseDeepClusterer.__init__).parameters
                if name not in ("self", "n_clusters")]
