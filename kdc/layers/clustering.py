"""Student's t soft assignment of embedded points to learnable cluster centres."""

import keras
import numpy as np
from keras import ops

from kdc._validation import check_float, check_n_clusters

# Squared distances are clipped here before the log so that overflowing
# coordinates give a finite (uniform) assignment instead of NaN.
_MAX_SQUARED_DISTANCE = 1e30


@keras.saving.register_keras_serializable(package="kdc")
class ClusteringLayer(keras.layers.Layer):
    """Soft-assigns embedded points to ``n_clusters`` learnable centres (DEC).

    The assignment of point ``z_i`` to centre ``mu_j`` is the Student's t
    kernel of Xie et al. (2016), normalised over the clusters::

        q_ij = (1 + |z_i - mu_j|^2 / alpha) ** (-(alpha + 1) / 2)
               / sum_j' (1 + |z_i - mu_j'|^2 / alpha) ** (-(alpha + 1) / 2)

    It is evaluated as a softmax over clusters of the log-kernel, with the
    squared distance taken as a sum of squared differences, so that rows
    always sum to 1 and never hold NaN, even for huge distances.

    The layer always computes in float32, whatever the global dtype policy
    (inputs in float16 or bfloat16 are cast to float32), so it can sit on top
    of a ``mixed_float16`` encoder.

    Args:
        n_clusters: int >= 2, the number of clusters.
        alpha: float > 0, degrees of freedom of the Student's t kernel.
        initial_centers: optional array-like of shape (n_clusters, n_features)
            used to initialise the centres when the layer is built (typically
            the k-means centres of the embedding). Defaults to Glorot-uniform.
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ``trainable``...).
            A ``dtype`` argument is ignored: the layer is always float32.

    Input shape:
        2-D tensor of shape (batch_size, n_features).

    Output shape:
        2-D tensor of shape (batch_size, n_clusters), float32, rows summing to 1.

    Raises:
        ValueError: if ``n_clusters`` or ``alpha`` is invalid, if the input is
            not 2-D, or if ``initial_centers`` has the wrong shape.

    Example:
        >>> layer = ClusteringLayer(3, initial_centers=np.eye(3, 4))
        >>> q = layer(np.random.rand(5, 4))  # shape (5, 3), rows sum to 1
    """

    def __init__(self, n_clusters, alpha=1.0, initial_centers=None, **kwargs):
        kwargs.pop("dtype", None)
        kwargs.pop("autocast", None)
        super().__init__(dtype="float32", autocast=False, **kwargs)
        self.n_clusters = check_n_clusters(n_clusters)
        self.alpha = check_float(alpha, "alpha", minimum=0.0, exclusive_min=True)
        if initial_centers is not None:
            initial_centers = self._as_centers(initial_centers, "initial_centers")
            if initial_centers.shape[0] != self.n_clusters:
                raise ValueError(
                    f"initial_centers must have shape (n_clusters, n_features) with "
                    f"n_clusters={self.n_clusters}. Received: initial_centers of shape "
                    f"{initial_centers.shape}"
                )
        self.initial_centers = initial_centers
        self.centers = None

    @staticmethod
    def _as_centers(centers, name):
        try:
            arr = np.asarray(keras.ops.convert_to_numpy(centers), dtype="float32")
        except Exception as exc:  # strings, ragged lists
            raise ValueError(
                f"{name} must be an array of shape (n_clusters, n_features). "
                f"Could not convert it to a float array: {exc}"
            ) from None
        if arr.ndim != 2:
            raise ValueError(
                f"{name} must be a 2-D array of shape (n_clusters, n_features). "
                f"Received: {name} of shape {arr.shape}"
            )
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must not contain NaN or infinity.")
        return arr

    def _check_centers(self, centers, name, n_features):
        arr = self._as_centers(centers, name)
        expected = (self.n_clusters, n_features)
        if arr.shape != expected:
            raise ValueError(
                f"{name} must have shape (n_clusters, n_features) = {expected}. "
                f"Received: {name} of shape {arr.shape}"
            )
        return arr

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                "ClusteringLayer expects 2-D inputs of shape (batch_size, n_features). "
                f"Received: input of shape {tuple(input_shape)}"
            )
        n_features = input_shape[-1]
        if n_features is None:
            raise ValueError(
                "ClusteringLayer needs a known number of input features. "
                f"Received: input of shape {tuple(input_shape)}"
            )
        initializer = "glorot_uniform"
        if self.initial_centers is not None:
            initializer = keras.initializers.Constant(
                self._check_centers(self.initial_centers, "initial_centers", n_features))
        self.centers = self.add_weight(
            shape=(self.n_clusters, n_features), initializer=initializer, trainable=True,
            dtype="float32", name="centers")
        self.input_spec = keras.layers.InputSpec(ndim=2, axes={-1: n_features})

    def set_centers(self, centers):
        """Set the cluster centres (the layer must be built).

        Args:
            centers: array-like of shape (n_clusters, n_features).

        Raises:
            ValueError: if the layer is not built or ``centers`` has the wrong shape.
        """
        if self.centers is None:
            raise ValueError(
                "ClusteringLayer must be built before set_centers(); call it on a batch "
                "first or pass initial_centers= to the constructor."
            )
        self.centers.assign(self._check_centers(centers, "centers", self.centers.shape[-1]))

    def get_centers(self):
        """The cluster centres as a numpy array of shape (n_clusters, n_features)."""
        if self.centers is None:
            raise ValueError("ClusteringLayer must be built before get_centers().")
        return keras.ops.convert_to_numpy(self.centers)

    def call(self, inputs):
        z = ops.cast(inputs, "float32")
        centers = ops.cast(self.centers, "float32")
        diff = ops.expand_dims(z, 1) - ops.expand_dims(centers, 0)
        squared = ops.minimum(ops.sum(ops.square(diff), axis=-1), _MAX_SQUARED_DISTANCE)
        log_kernel = -(self.alpha + 1.0) / 2.0 * ops.log1p(squared / self.alpha)
        return ops.softmax(log_kernel, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_clusters)

    def get_config(self):
        # The centres travel as weights; initial_centers only seeds a fresh build.
        return {**super().get_config(), "n_clusters": self.n_clusters, "alpha": self.alpha}
