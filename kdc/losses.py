"""DEC's self-training target distribution and the KL(P || Q) clustering loss.

Everything here computes in float32, whatever the global dtype policy. The
functions accept numpy arrays (and return numpy) or backend tensors (and
return tensors, computed with ``keras.ops`` so they can be used inside a
compiled training step).
"""

import keras
import numpy as np
from keras import ops

EPSILON = 1e-7


def _is_numpy(*values):
    return all(not ops.is_tensor(v) and not isinstance(v, keras.Variable) for v in values)


def target_distribution(q):
    """The auxiliary target distribution P of DEC (Xie et al., 2016, eq. 3).

    ``p_ij = (q_ij ** 2 / f_j) / sum_j' (q_ij' ** 2 / f_j')`` with the soft
    cluster frequencies ``f_j = sum_i q_ij``. It sharpens Q and down-weights
    large clusters. The frequencies are summed over the rows given, so pass
    the soft assignments of the whole data set, not of one batch.

    Args:
        q: array-like or tensor of shape (n_samples, n_clusters), soft
            assignments whose rows sum to 1.

    Returns:
        P of the same shape, float32, rows summing to 1: a numpy array for
        numpy (or list) input, a tensor for tensor input.

    Example:
        >>> q = model.predict(x)           # over the whole data set
        >>> p = target_distribution(q)     # then model.fit(x, p)
    """
    if _is_numpy(q):
        q = np.asarray(q, dtype="float32")
        weight = np.square(q) / np.maximum(q.sum(axis=0), EPSILON)
        return (weight / np.maximum(weight.sum(axis=1, keepdims=True), EPSILON)).astype(
            "float32")
    q = ops.cast(q, "float32")
    weight = ops.square(q) / ops.maximum(ops.sum(q, axis=0), EPSILON)
    return weight / ops.maximum(ops.sum(weight, axis=1, keepdims=True), EPSILON)


def _pointwise_kl(p, q, xp):
    p_clipped = xp.clip(p, EPSILON, 1.0)
    q_clipped = xp.clip(q, EPSILON, 1.0)
    # Terms with p == 0 contribute 0 (p * log(p / q) -> 0).
    return xp.sum(p * xp.log(p_clipped / q_clipped), axis=-1)


def kl_divergence(p, q):
    """DEC's clustering loss KL(P || Q), averaged over the samples.

    ``mean_i sum_j p_ij * log(p_ij / q_ij)``: the per-sample divergence summed
    over clusters, then the mean over the batch (the reduction of
    ``KLDivergence`` with its default ``"sum_over_batch_size"``). Both P and Q
    are clipped to [1e-7, 1] inside the log so that q near 0 stays finite.

    Args:
        p: array-like or tensor of shape (n_samples, n_clusters), the target.
        q: array-like or tensor of shape (n_samples, n_clusters), the soft
            assignments.

    Returns:
        A float32 scalar: numpy for numpy input, otherwise a tensor.
    """
    if _is_numpy(p, q):
        p = np.asarray(p, dtype="float32")
        q = np.asarray(q, dtype="float32")
        return np.float32(np.mean(_pointwise_kl(p, q, np)))
    p = ops.cast(p, "float32")
    q = ops.cast(q, "float32")
    return ops.mean(_pointwise_kl(p, q, ops))


@keras.saving.register_keras_serializable(package="kdc")
class KLDivergence(keras.losses.Loss):
    """KL(P || Q) between target and soft assignments, computed in float32.

    ``loss(p, q)`` gives per sample ``sum_j p_j * log(p_j / q_j)`` (with P and
    Q clipped to [1e-7, 1] inside the log), reduced by ``reduction``; the
    default ``"sum_over_batch_size"`` is the mean over the batch, exactly
    :func:`kl_divergence`. Unlike most Keras losses it ignores the dtype
    policy and always computes in float32.

    Args:
        reduction: a Keras reduction (``"sum_over_batch_size"``, ``"sum"``,
            ``"mean"``, ``"none"``...).
        name: optional name of the loss.
        **kwargs: passed to ``keras.losses.Loss``; ``dtype`` is ignored.

    Example:
        >>> loss = KLDivergence()
        >>> value = loss(p, q)   # scalar, mean over the batch
    """

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", **kwargs):
        kwargs.pop("dtype", None)
        super().__init__(name=name, reduction=reduction, dtype="float32", **kwargs)

    def call(self, y_true, y_pred):
        p = ops.cast(y_true, "float32")
        q = ops.cast(y_pred, "float32")
        return _pointwise_kl(p, q, ops)
