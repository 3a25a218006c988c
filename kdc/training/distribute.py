"""Training an estimator under a ``tf.distribute.Strategy``.

An estimator's ``distribute`` argument, or the strategy whose ``scope()`` the
call to ``fit`` is made in, decides where its Keras models are built and
compiled; Keras' own ``fit`` then splits each (global) batch across the
strategy's replicas.
"""

import contextlib

import keras

from kdc._validation import _describe


def resolve_strategy(distribute):
    """The strategy to train under: ``distribute``, else the one in scope, else None.

    Raises:
        ValueError: ``distribute`` is not a ``tf.distribute.Strategy``, or the
            Keras backend is not TensorFlow.
    """
    if distribute is None and keras.backend.backend() != "tensorflow":
        return None
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "distribute needs the TensorFlow backend of Keras (KERAS_BACKEND=tensorflow). "
            f"Received: distribute={_describe(distribute)} with the "
            f"{keras.backend.backend()} backend")
    import tensorflow as tf

    if distribute is None:
        return check_supported(tf.distribute.get_strategy()) if tf.distribute.has_strategy() \
            else None
    if not isinstance(distribute, tf.distribute.Strategy):
        raise ValueError(
            "distribute must be None or a tf.distribute.Strategy (e.g. "
            "tf.distribute.MirroredStrategy()). Received: "
            f"distribute={_describe(distribute)}")
    return check_supported(distribute)


def workers(strategy):
    """The number of worker tasks of ``strategy``'s cluster (1 for single-machine strategies)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    try:
        return max(1, len(resolver.cluster_spec().as_dict().get("worker", [])))
    except (AttributeError, ValueError):
        return 1


def check_supported(strategy):
    """``strategy``, unless Keras' ``fit`` cannot train under it.

    Keras 3's ``model.fit`` fails under a ``MultiWorkerMirroredStrategy`` of
    several workers (keras-team/keras#20585: it reduces per-replica batches
    and losses in ways the collective strategy rejects), and kdc trains with
    Keras' own ``fit``; such a strategy is refused before any work starts.

    Raises:
        ValueError: naming the strategy, the workers and what works instead.
    """
    n = workers(strategy)
    if n > 1:
        import tensorflow as tf

        name = ("MultiWorkerMirroredStrategy"
                if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
                else type(strategy).__name__)
        raise ValueError(
            f"distribute: {name} with {n} workers is not supported: "
            "Keras 3's model.fit, which kdc trains with, cannot train across several workers "
            "(keras-team/keras#20585). Received: a strategy whose cluster has "
            f"{n} workers. Train on one machine with tf.distribute.MirroredStrategy() (all of "
            "its GPUs); a memmap or a .npy path streams data larger than memory there.")
    return strategy


def check_batch_sizes(strategy, **batch_sizes):
    """Check that each global batch size splits evenly across the strategy's replicas.

    Raises:
        ValueError: naming the batch size, the replica count and a batch size that works.
    """
    if strategy is None:
        return
    replicas = int(strategy.num_replicas_in_sync)
    for name, value in batch_sizes.items():
        if value % replicas:
            fixed = max(replicas, round(value / replicas) * replicas)
            raise ValueError(
                f"{name} must be divisible by the number of replicas in sync "
                f"({replicas}, {type(strategy).__name__}): it is the global batch size, split "
                f"evenly across the replicas. Received: {name}={value} with {replicas} "
                f"replicas. Use e.g. {name}={fixed}.")


def scope(strategy):
    """``strategy.scope()``, or a context that does nothing when ``strategy`` is None."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()
