"""DEC and IDEC estimators: autoencoder pretraining, k-means, then self-training.

Xie et al., "Unsupervised Deep Embedding for Clustering Analysis", ICML 2016;
Guo et al., "Improved Deep Embedded Clustering with Local Structure
Preservation", IJCAI 2017. The Keras models doing the self-training are
:class:`kdc.models.DEC` and :class:`kdc.models.IDEC`.
"""

import math
import time
import warnings

import keras
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from kdc import metrics
from kdc._validation import check_float, check_int
from kdc.callbacks import LabelChangeStopping, TargetDistributionUpdate
from kdc.cluster._base import PRETRAIN_BUDGET, BaseDeepClusterer, base_arguments
from kdc.cluster._progress import SelfTrainingProgress as _Progress
from kdc.cluster.aekmeans import make_kmeans, student_t
from kdc.models.dec import DEC as _DECModel
from kdc.models.dec import IDEC as _IDECModel
from kdc.training import data as _data
from kdc.training import engine
from kdc.training.augment import shift_layer
from kdc.training.optimizers import make_optimizer
from kdc.training.precision import dtype_policy, policy_copy, resolve_precision

# Batch size of the full-data prediction passes (target updates, final labels).
_PREDICT_BATCH = 4096


class _SelfTrainingClusterer(BaseDeepClusterer):
    """Shared fit of DEC and IDEC (the Keras model class and loss differ)."""

    def _head_description(self):
        return f"{type(self).__name__} self-training"

    # ------------------------------------------------------------------ checks
    def _check_head_params(self):
        """Validate the self-training arguments (before any pretraining)."""
        params = {
            "alpha": check_float(self.alpha, "alpha", minimum=0.0, exclusive_min=True),
            "update_interval": check_int(self.update_interval, "update_interval", minimum=1),
            "tol": check_float(self.tol, "tol", minimum=0.0, maximum=1.0, exclusive_max=True),
            "max_iter": check_int(self.max_iter, "max_iter", minimum=1),
            "n_init": check_int(self.n_init, "n_init", minimum=1),
            "batch_size": check_int(self.clustering_batch_size, "clustering_batch_size",
                                    minimum=1),
            "precision": resolve_precision(self.precision, cpu_bf16=True),
        }
        if self.clustering_learning_rate is not None:
            check_float(self.clustering_learning_rate, "clustering_learning_rate", minimum=0.0,
                        exclusive_min=True)
        params["optimizer"] = self._make_clustering_optimizer()
        return params

    def _make_clustering_optimizer(self):
        opt, lr = self.clustering_optimizer, self.clustering_learning_rate
        if isinstance(opt, str) and opt.lower() == "sgd":
            return keras.optimizers.SGD(0.01 if lr is None else lr, momentum=0.9)
        if lr is None and not isinstance(opt, keras.optimizers.Optimizer):
            lr = 1e-3  # an instance keeps its own learning rate
        return make_optimizer(opt, lr, name="clustering_optimizer")

    def fit(self, x, y=None):
        """Pretrain the autoencoder, initialise with k-means, then self-train.

        Args:
            x: array-like of shape (n_samples, n_features), or images of shape
                (n_samples, height, width[, channels]); uint8 is scaled to [0, 1].
            y: optional array-like of shape (n_samples,) of reference labels,
                used only to report ACC and NMI at each target update (in
                ``history_["clustering"]`` and the progress lines), never for
                training.

        Returns:
            self.

        Raises:
            ValueError: for an invalid argument (before any training).
        """
        self._check_head_params()
        if y is not None:
            y = np.asarray(y).ravel()
            n = _data.n_samples_hint(x)  # None for a tf.data.Dataset: checked later
            if n is not None and len(y) != n:
                raise ValueError(
                    f"y must have one label per sample of x ({n}). "
                    f"Received: y of length {len(y)}")
            try:  # the labels must be usable by the ACC/NMI monitoring
                metrics.contingency_table(y, np.zeros(len(y), dtype="int64"))
            except ValueError as exc:
                raise ValueError(
                    f"y (reference labels, used only to report ACC/NMI) is invalid: {exc}"
                ) from None
        super().fit(x, y)
        if self.tol > 0 and not self.converged_:
            change = self.history_["clustering"]["label_change"][-1]
            state = ("before the first target update" if math.isnan(change) else
                     f"with {change:.2%} of the labels still changing between target updates")
            warnings.warn(
                f"{type(self).__name__} stopped after max_iter={self.max_iter} self-training "
                f"steps {state} (update_interval={self.update_interval}, tol={self.tol}). "
                "Increase max_iter to train until fewer than tol of the labels change.",
                ConvergenceWarning, stacklevel=2)
        return self

    # -------------------------------------------------------------------- head
    def _build_model(self, params, phase=None, seed=None):
        """The Keras self-training model, compiled by ``phase`` (a PhasePlan).

        In float32 it wraps ``self.autoencoder_`` itself; with mixed precision it
        wraps a mixed-precision copy (Keras layers take the dtype policy they are
        created under) whose weights are copied back after training. Without
        ``phase`` (a reloaded estimator) it is compiled as the default plan
        would compile it, for ``predict``.
        """
        precision = params["precision"] if phase is None else phase.precision
        ae = policy_copy(self.autoencoder_, precision, self.model_input_shape_)
        augmentation = None if phase is None else shift_layer(
            phase.shift, self.input_shape_, until=phase.shift_until, seed=seed)
        with dtype_policy(precision):
            model = self._make_model(ae, params, augmentation)
            model.build((None,) + tuple(self.model_input_shape_))
            model.compile(optimizer=params["optimizer"],
                          jit_compile="auto" if phase is None else phase.jit_compile,
                          steps_per_execution=1 if phase is None else phase.steps_per_execution)
        return model, ae

    def _make_model(self, autoencoder, params, augmentation=None):  # pragma: no cover
        raise NotImplementedError

    def _global_batch_sizes(self):
        return {**super()._global_batch_sizes(), "clustering_batch_size": check_int(
            self.clustering_batch_size, "clustering_batch_size", minimum=1)}

    def _fit_head(self, z, x, y, *, warm=False, strategy=None):
        params = self._check_head_params()
        n = x.n_samples
        if y is not None and len(y) != n:  # a dataset's rows are only known now
            raise ValueError(f"y must have one label per sample of x ({n}). "
                             f"Received: y of length {len(y)}")
        t0 = time.perf_counter()
        centers = getattr(self, "cluster_centers_", None)
        if not (warm and centers is not None and centers.shape == (self._k, z.shape[1])):
            kmeans = make_kmeans(self._k, n, params["n_init"], self._sklearn_seed()).fit(z)
            self.kmeans_labels_ = kmeans.labels_.astype("int64")
            centers = kmeans.cluster_centers_
            self.timings_["kmeans"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        # P is computed in ordered passes over x; training batches carry the row
        # indices that select rows of P.
        update = TargetDistributionUpdate(
            x.prediction_input(_PREDICT_BATCH), update_interval=params["update_interval"],
            batch_size=_PREDICT_BATCH, y_true=y)
        stopping = LabelChangeStopping(params["tol"]) if params["tol"] > 0 else None
        progress = _Progress(update, params["max_iter"], self._log)
        callbacks = [c for c in (update, stopping, progress) if c is not None]
        phase = self._plan_phase(
            "self_training", x, batch_size=params["batch_size"],
            epochs=math.ceil(params["max_iter"] / _data.steps_per_epoch(
                x, params["batch_size"])),
            steps=params["max_iter"], precision=params["precision"],
            learning_rate=float(keras.ops.convert_to_numpy(
                params["optimizer"].learning_rate)), callbacks=callbacks, strategy=strategy)
        self._log(f"self-training: {phase.describe()}")
        self.model_, ae = self._build_model(params, phase, seed=self._shift_seed(phase))
        self.model_.clustering.set_centers(centers)
        with warnings.catch_warnings():
            # LabelChangeStopping warns when no update falls inside a short run.
            warnings.filterwarnings("ignore", message="LabelChangeStopping saw no")
            engine.fit_by_plan(self.model_, x, phase, callbacks=callbacks,
                               verbose=self.verbose >= 2, indices=True,
                               rate_name="clustering_learning_rate")
        self.timings_["self_training"] = time.perf_counter() - t0
        if ae is not self.autoencoder_:
            self.autoencoder_.set_weights(ae.get_weights())
        self.encoder_ = self.autoencoder_.encoder
        self.n_iter_ = int(progress.steps)
        self.converged_ = stopping is not None and stopping.stopped_step is not None
        self.cluster_centers_ = np.asarray(self.model_.cluster_centers, dtype="float32")
        self.history_["clustering"] = {k: list(v) for k, v in update.history.items()}
        t0 = time.perf_counter()
        self.labels_ = self._predict_head(self._embed(x))
        self.timings_["labels"] = time.perf_counter() - t0

    def _derived_attributes(self):
        return (*super()._derived_attributes(), "model_")

    def _restore_links(self):
        super()._restore_links()
        self.model_, _ = self._build_model(self._check_head_params())
        self.model_.clustering.set_centers(self.cluster_centers_)

    def _predict_head(self, z):
        return np.argmax(self._predict_proba_head(z), axis=1).astype("int64")

    def _predict_proba_head(self, z):
        return student_t(z, self.cluster_centers_, float(self.alpha))


class DEC(_SelfTrainingClusterer):
    """Deep Embedded Clustering (Xie et al., 2016) as a scikit-learn estimator.

    Pretrains the autoencoder, runs k-means (``n_init`` restarts) on the
    embedding, then fine-tunes the *encoder* and the cluster centres together
    by self-training: every ``update_interval`` steps the soft assignments Q
    (Student's t kernel) of the whole data set are sharpened into the target
    P, and the KL(P || Q) loss is minimised against it. Training stops when
    fewer than ``tol`` of the labels change between two target updates, or
    after ``max_iter`` steps. ``predict`` and ``predict_proba`` use the
    fine-tuned encoder and the learnt centres.

    The arguments not listed below are those of every estimator: see
    :class:`kdc.cluster.BaseDeepClusterer`.

    Args:
        n_clusters: int >= 2, or "auto" (see ``k_range`` and ``k_selection``).
        alpha: float > 0, degrees of freedom of the Student's t kernel.
        update_interval: int >= 1, training steps (batches) between target updates.
        tol: float in [0, 1), stop when fewer than this fraction of labels
            change between two target updates; 0 runs ``max_iter`` steps.
        max_iter: int >= 1, the most self-training steps (batches). The default
            3000 (11 epochs of 70,000 rows at batch 256) covers the first
            few thousand steps, where self-training gains most; later steps
            gain little.
        n_init: int >= 1, k-means restarts of the initialisation.
        clustering_optimizer: Keras optimizer name or instance (copied) of the
            self-training; "sgd" is SGD with momentum 0.9, as in DEC.
        clustering_learning_rate: float > 0, or None: 0.01 for "sgd", 0.001
            for other names, the instance's own for an optimizer instance.
        clustering_batch_size: int >= 1, the self-training batch size.
        precision: "auto", "float32", "mixed_float16" or "mixed_bfloat16": the
            dtype policy of pretraining and self-training. "auto": mixed_float16
            on a GPU; on a CPU, pretraining as described in
            :class:`kdc.cluster.BaseDeepClusterer`, and mixed_bfloat16
            self-training when the CPU has native bf16 instructions (faster
            than float32 at equal accuracy), else float32. ``predict`` and
            ``transform`` stay float32 and the global policy is restored.
            The clustering layer and the KL loss always compute in float32.
        distribute: None or a ``tf.distribute.Strategy``: pretraining and
            self-training run under it; ``batch_size`` and
            ``clustering_batch_size`` are global (see
            :class:`kdc.cluster.BaseDeepClusterer`).
        verbose: as for every estimator; ``verbose=1`` also prints a line per
            target update (step, loss, label change, and ACC/NMI when ``y``
            is given); 2 adds Keras progress bars.

    Attributes:
        labels_: ndarray of shape (n_samples,), argmax of Q after training.
        cluster_centers_: float32 ndarray of shape (n_clusters, embedding_dim),
            in the (fine-tuned) embedding space.
        kmeans_labels_: ndarray of shape (n_samples,), the k-means labels the
            self-training started from.
        n_clusters_, k_selection_: the k used and, with ``n_clusters="auto"``,
            the :class:`kdc.select.KSelection` that chose it (else None).
        n_iter_: int, self-training steps done.
        converged_: bool, whether the ``tol`` criterion stopped training.
        model_: the Keras :class:`kdc.models.DEC` model used for self-training.
        autoencoder_, encoder_: the Keras models; ``encoder_`` is fine-tuned.
        history_: ``{"pretrain": ..., "clustering": ...}``, where
            ``history_["clustering"]`` maps "step", "loss", "label_change"
            (and "acc", "nmi" when ``y`` is given) to lists with one entry
            per target update (the first, at step 0, has NaN loss and label
            change; "loss" is the mean training loss since the previous
            update).
        timings_: seconds per stage.

    Example:
        >>> est = kdc.DEC(n_clusters=10, random_state=0).fit(x, y)  # y: monitoring only
        >>> est.labels_, est.predict(x_new), est.history_["clustering"]["acc"]
    """

    def __init__(self, n_clusters=8, *, alpha=1.0, update_interval=140, tol=0.001,
                 max_iter=3000, n_init=20, clustering_optimizer="sgd",
                 clustering_learning_rate=None, clustering_batch_size=256, k_range=None,
                 k_selection="elbow",
                 autoencoder="dense", hidden_dims=(500, 500, 2000), embedding_dim=10,
                 autoencoder_params=None, pretrain_epochs="auto", pretrain_budget=PRETRAIN_BUDGET,
                 batch_size=256, learning_rate=1e-3, lr_decay_end=0.0, optimizer="adam",
                 callbacks=None, pretrained=None, warm_start=False, scale="auto",
                 precision="auto", augment="auto", unshifted_end=0.0, jit_compile="auto",
                 steps_per_execution="auto", pin_threads=False, random_state=None, verbose=1,
                 distribute=None):
        super().__init__(n_clusters, **base_arguments(locals()))
        self.alpha = alpha
        self.update_interval = update_interval
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.clustering_optimizer = clustering_optimizer
        self.clustering_learning_rate = clustering_learning_rate
        self.clustering_batch_size = clustering_batch_size

    def _make_model(self, autoencoder, params, augmentation=None):
        return _DECModel(autoencoder.encoder, self._k, params["alpha"], augmentation=augmentation)


class IDEC(_SelfTrainingClusterer):
    """Improved DEC (Guo et al., 2017): DEC that keeps the decoder training.

    As :class:`DEC`, but the self-training minimises
    ``L_rec + gamma * KL(P || Q)``: the reconstruction loss of the whole
    autoencoder keeps the embedding faithful to the data (local structure
    preservation) while the clustering loss sharpens the clusters.

    ``alpha``, ``update_interval``, ``tol``, ``max_iter``, ``n_init``,
    ``clustering_batch_size``, ``precision`` and ``distribute`` are as for
    :class:`DEC`; the arguments not listed here or there are those of every
    estimator (see :class:`kdc.cluster.BaseDeepClusterer`).

    Args:
        n_clusters: int >= 2, or "auto" (see ``k_range`` and ``k_selection``).
        gamma: float >= 0, the weight of the clustering loss (0.1 in the paper).
        clustering_optimizer: as for :class:`DEC`; the default is Adam, as
            in IDEC (the decoder's reconstruction loss trains poorly with
            DEC's SGD).
        clustering_learning_rate: as for :class:`DEC` (0.001 for Adam).

    Attributes:
        model_: the Keras :class:`kdc.models.IDEC` model used for
            self-training; the other fitted attributes are those of
            :class:`DEC`.
        history_: as for :class:`DEC`; ``history_["clustering"]`` also holds
            "reconstruction_loss" and "clustering_loss".
        autoencoder_: the autoencoder, decoder included, fine-tuned by the
            self-training, so ``score`` reflects it.

    Example:
        >>> est = kdc.IDEC(n_clusters=10, gamma=0.1, random_state=0).fit(x)
        >>> est.labels_, est.score(x)
    """

    def __init__(self, n_clusters=8, *, alpha=1.0, gamma=0.1, update_interval=140, tol=0.001,
                 max_iter=3000, n_init=20, clustering_optimizer="adam",
                 clustering_learning_rate=None, clustering_batch_size=256, k_range=None,
                 k_selection="elbow",
                 autoencoder="dense", hidden_dims=(500, 500, 2000), embedding_dim=10,
                 autoencoder_params=None, pretrain_epochs="auto", pretrain_budget=PRETRAIN_BUDGET,
                 batch_size=256, learning_rate=1e-3, lr_decay_end=0.0, optimizer="adam",
                 callbacks=None, pretrained=None, warm_start=False, scale="auto",
                 precision="auto", augment="auto", unshifted_end=0.0, jit_compile="auto",
                 steps_per_execution="auto", pin_threads=False, random_state=None, verbose=1,
                 distribute=None):
        super().__init__(n_clusters, **base_arguments(locals()))
        self.alpha = alpha
        self.gamma = gamma
        self.update_interval = update_interval
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.clustering_optimizer = clustering_optimizer
        self.clustering_learning_rate = clustering_learning_rate
        self.clustering_batch_size = clustering_batch_size

    def _check_head_params(self):
        params = super()._check_head_params()
        params["gamma"] = check_float(self.gamma, "gamma", minimum=0.0)
        return params

    def _make_model(self, autoencoder, params, augmentation=None):
        return _IDECModel(autoencoder, self._k, params["alpha"], params["gamma"],
                          augmentation=augmentation)
