"""AEKMeans: autoencoder pretraining, then k-means on the embedding."""

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans

from kdc._validation import check_int
from kdc.cluster._base import PRETRAIN_BUDGET, BaseDeepClusterer, base_arguments

# Above this many rows, k-means (the AEKMeans head and the DEC/IDEC start) is
# scikit-learn's MiniBatchKMeans: each of KMeans' n_init restarts passes over
# all rows for up to 300 iterations, MiniBatchKMeans works on small batches.
MINIBATCH_KMEANS_MIN_ROWS = 200_000
MINIBATCH_KMEANS_BATCH = 4096


def make_kmeans(n_clusters, n_samples, n_init, random_state):
    """``KMeans``, or ``MiniBatchKMeans`` for more than MINIBATCH_KMEANS_MIN_ROWS rows."""
    if n_samples > MINIBATCH_KMEANS_MIN_ROWS:
        return MiniBatchKMeans(n_clusters, n_init=n_init, batch_size=MINIBATCH_KMEANS_BATCH,
                               random_state=random_state)
    return KMeans(n_clusters, n_init=n_init, random_state=random_state)


def squared_distances(z, centers):
    """Squared euclidean distances (n, k) from rows of ``z`` to ``centers``, in float64.

    Computed from the differences (not the |z|^2 - 2 z.c + |c|^2 expansion),
    the same way the exported SavedModel computes them, so nearest-centre
    labels agree exactly between ``predict`` and TF Serving.
    """
    centers = np.asarray(centers, dtype="float64")[None, :, :]
    out = np.empty((z.shape[0], centers.shape[1]), dtype="float64")
    step = max(1, 2**22 // max(centers.size, 1))  # bound the (rows, k, d) temporary
    for i in range(0, z.shape[0], step):
        out[i:i + step] = ((z[i:i + step, None, :].astype("float64") - centers) ** 2).sum(-1)
    return out


def student_t(z, centers, alpha=1.0):
    """DEC's Student-t soft assignment of rows of ``z`` to ``centers`` (rows sum to 1)."""
    d2 = squared_distances(z, centers)
    # Work in log space so huge distances do not underflow to an all-zero row.
    logits = -(alpha + 1.0) / 2.0 * np.log1p(d2 / alpha)
    logits -= logits.max(axis=1, keepdims=True)
    q = np.exp(logits)
    return q / q.sum(axis=1, keepdims=True)


class AEKMeans(BaseDeepClusterer):
    """Autoencoder + k-means: the classic deep clustering baseline.

    Pretrains the autoencoder, then runs scikit-learn's ``KMeans`` with
    ``n_init`` restarts on the embedding (``MiniBatchKMeans`` above
    ``MINIBATCH_KMEANS_MIN_ROWS`` = 200,000 rows). ``predict`` assigns new rows to the
    nearest centre; ``predict_proba`` is the Student-t soft assignment of DEC
    to the same centres (its argmax is ``predict``).

    The arguments not listed below are those of every estimator: see
    :class:`kdc.cluster.BaseDeepClusterer`.

    Args:
        n_clusters: int >= 2, or "auto" (see ``k_range`` and ``k_selection``).
        n_init: int, k-means restarts (the best inertia is kept).
        distribute: None or a ``tf.distribute.Strategy`` to pretrain under
            (see :class:`kdc.cluster.BaseDeepClusterer`).

    Attributes:
        labels_: ndarray of shape (n_samples,).
        cluster_centers_: ndarray of shape (n_clusters, embedding_dim), in
            embedding space.
        kmeans_: the fitted ``sklearn.cluster.KMeans`` (or ``MiniBatchKMeans``).
        n_clusters_: int, the k used; ``k_selection_`` the
            :class:`kdc.select.KSelection` that chose it (``n_clusters="auto"``)
            or None.
        autoencoder_, encoder_: the trained Keras models.
        history_, timings_: training history and seconds per stage.

    Example:
        >>> est = kdc.AEKMeans(n_clusters=10, random_state=0).fit(x)
        >>> est.labels_[:5], est.predict(x_new)
    """

    def __init__(self, n_clusters=8, *, n_init=20, k_range=None, k_selection="elbow",
                 autoencoder="dense", hidden_dims=(500, 500, 2000), embedding_dim=10,
                 autoencoder_params=None, pretrain_epochs="auto", pretrain_budget=PRETRAIN_BUDGET,
                 batch_size=256, learning_rate=1e-3, lr_decay_end=0.0, optimizer="adam",
                 callbacks=None, pretrained=None, warm_start=False, scale="auto",
                 precision="auto", augment="auto", unshifted_end=0.0, jit_compile="auto",
                 steps_per_execution="auto", pin_threads=False, random_state=None, verbose=1,
                 distribute=None):
        super().__init__(n_clusters, **base_arguments(locals()))
        self.n_init = n_init

    def _head_description(self):
        return f"k-means (n_init={self.n_init})"

    def _fit_head(self, z, x, y, *, warm=False, strategy=None):
        n_init = check_int(self.n_init, "n_init", minimum=1)
        self.kmeans_ = make_kmeans(self._k, z.shape[0], n_init, self._sklearn_seed()).fit(z)
        self.cluster_centers_ = self.kmeans_.cluster_centers_.astype("float32")
        self.labels_ = self.kmeans_.labels_.astype("int64")
        self.inertia_ = float(self.kmeans_.inertia_)

    def _predict_head(self, z):
        return np.argmin(squared_distances(z, self.cluster_centers_), axis=1).astype("int64")

    def _predict_proba_head(self, z):
        return student_t(z, self.cluster_centers_)
