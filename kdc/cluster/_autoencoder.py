"""Building and pretraining the autoencoder of a deep clusterer."""

import math
import sys
import time

import keras
import numpy as np

from kdc._threads import SpreadThreads
from kdc._validation import check_choice, check_float, check_int
from kdc.cluster import _streaming
from kdc.cluster._augment import shifted_training
from kdc.cluster._fused_adam import FusedAdam
from kdc.cluster._precision import policy_copy
from kdc.models.autoencoder import DenoisingAutoencoder, DenseAutoencoder
from kdc.models.conv_autoencoder import ConvAutoencoder

AUTOENCODERS = ("dense", "denoising", "conv")

# The "auto" pretraining budget, in samples seen (epochs x n_samples), bounded
# below and above in epochs: 25 epochs on MNIST's 70,000 rows, 100 on 10,000.
# Measured with N2D on a 2-core AVX512-BF16 CPU (bf16 pretraining): MNIST
# ACC .9765 / .9764 / .9773 in 213-216 s (seeds 0-2; .9739 / .9749 / .9753
# with 20 epochs in 178-203 s, .970 with 10), MNIST-test .9607 / .9652 /
# .9643 in 119-125 s (seeds 0-2; .947 / .948 with 40 epochs, seeds 0 / 1).
# N2D asks for more (``N2D_AUTO_SAMPLE_BUDGET`` in kdc/cluster/n2d.py): its
# head clusters the pretrained embedding as it is, so longer pretraining goes
# straight into its accuracy, while DEC and IDEC go on training the encoder.
AUTO_SAMPLE_BUDGET = 1_750_000
AUTO_MIN_EPOCHS = 10
AUTO_MAX_EPOCHS = 100

# Pretraining runs up to this many training steps per call of the compiled
# train function (see execution_steps). One call per step returned to Python
# after every batch, and cost 6% of MNIST's bf16 pretraining speed on the 2-core
# CPU: 8 epochs, two pairs of runs, 11,056 / 10,760 samples/s with one step per
# call against 11,758 / 11,363 with 137, with the same losses and weights; the
# MNIST N2D benchmark (45 epochs, seeds 0-2) went from 10,705 ± 300 samples/s
# and 321 ± 7 s to 11,344 ± 143 and 304 ± 3 s, with the same ACC. A call of 200
# steps lasts about 5 s there: the longest the progress bar and Ctrl-C wait.
EXECUTION_STEPS_LIMIT = 200

# Callbacks that set the learning rate themselves: pretraining then keeps a
# constant rate instead of its decay (Keras refuses to set a schedule's rate).
LR_CALLBACKS = (keras.callbacks.LearningRateScheduler, keras.callbacks.ReduceLROnPlateau)

# Pretraining compiles the train step with XLA. That costs a one-off compile of
# several seconds per new model (about 10 s for a tiny model on a 2-core CPU),
# which dominates tiny fits; tests set this to False to stay fast.
JIT_COMPILE = True


def resolve_epochs(pretrain_epochs, n_samples, sample_budget=AUTO_SAMPLE_BUDGET):
    """The number of pretraining epochs for ``pretrain_epochs`` ("auto" or an int >= 0).

    "auto" sees about ``sample_budget`` samples, in ``AUTO_MIN_EPOCHS`` to
    ``AUTO_MAX_EPOCHS`` epochs.
    """
    if isinstance(pretrain_epochs, str):
        check_choice(pretrain_epochs, "pretrain_epochs", ("auto",))
        epochs = math.ceil(sample_budget / max(n_samples, 1))
        return int(min(max(epochs, AUTO_MIN_EPOCHS), AUTO_MAX_EPOCHS))
    return check_int(pretrain_epochs, "pretrain_epochs", minimum=0)


def image_shape_of(input_shape):
    """(h, w, c) for image-shaped samples, inferring square images from flat ones."""
    if len(input_shape) == 3:
        return tuple(input_shape)
    if len(input_shape) == 2:
        return tuple(input_shape) + (1,)
    side = math.isqrt(input_shape[0])
    if side * side == input_shape[0]:
        return (side, side, 1)
    raise ValueError(
        "autoencoder='conv' needs images: x of shape (n_samples, height, width[, channels]) "
        "or flat rows whose length is a perfect square. Received samples of shape "
        f"{tuple(input_shape)}. Use autoencoder='dense' for tabular data."
    )


def build_autoencoder(autoencoder, input_shape, hidden_dims, embedding_dim, params=None,
                      seed=None):
    """Create the autoencoder an estimator asked for.

    Args:
        autoencoder: "dense", "denoising", "conv" or a Keras autoencoder (a
            ``keras.Model`` with ``encoder`` and ``decoder`` attributes), which
            is copied, weights included, so the caller's model is not modified.
        input_shape: shape of one sample as given to ``fit``.
        hidden_dims, embedding_dim: architecture of the dense variants.
        params: optional dict of extra constructor arguments.
        seed: seed of the denoising corruption.

    Returns:
        (model, model_input_shape): the model and the per-sample shape it takes.
    """
    params = dict(params or {})
    if isinstance(autoencoder, keras.Model):
        for attr in ("encoder", "decoder"):
            if not isinstance(getattr(autoencoder, attr, None), keras.layers.Layer):
                raise ValueError(
                    "autoencoder must be 'dense', 'denoising', 'conv' or a keras.Model with "
                    f"`encoder` and `decoder` attributes. Received: a {type(autoencoder).__name__} "
                    f"without a `{attr}` layer."
                )
        model = autoencoder.__class__.from_config(autoencoder.get_config())
        for attr in ("encoder", "decoder"):
            # A functional model with `encoder`/`decoder` attached by hand comes
            # back from from_config without them: find the copied sub-models.
            if not isinstance(getattr(model, attr, None), keras.layers.Layer):
                try:
                    setattr(model, attr, model.get_layer(getattr(autoencoder, attr).name))
                except ValueError:
                    raise ValueError(
                        f"autoencoder could not be copied: its copy made with from_config has no "
                        f"`{attr}` and no layer named {getattr(autoencoder, attr).name!r}. "
                        f"Received: a {type(autoencoder).__name__}. Subclass keras.Model and "
                        "create `encoder` and `decoder` in __init__ (see "
                        "kdc.models.DenseAutoencoder)."
                    ) from None
        model_shape = tuple(autoencoder.encoder.input_shape[1:]) if getattr(
            autoencoder.encoder, "inputs", None) else (int(np.prod(input_shape)),)
        if None in model_shape or int(np.prod(model_shape)) != int(np.prod(input_shape)):
            raise ValueError(
                f"autoencoder must take samples with as many values as x: its encoder takes "
                f"samples of shape {model_shape}. Received: x with samples of shape "
                f"{tuple(input_shape)} ({int(np.prod(input_shape))} values)."
            )
        model(np.zeros((1,) + model_shape, dtype="float32"))
        if autoencoder.built:
            model.set_weights(autoencoder.get_weights())
        return model, model_shape
    if not isinstance(autoencoder, str) or autoencoder not in AUTOENCODERS:
        raise ValueError(
            "autoencoder must be one of 'dense', 'denoising', 'conv' or a keras.Model with "
            f"`encoder` and `decoder` attributes. Received: autoencoder={autoencoder!r}"
        )
    if autoencoder == "conv":
        shape = image_shape_of(input_shape)
        params.setdefault("embedding_dim", embedding_dim)
        return ConvAutoencoder(shape, **params), shape
    n_features = int(np.prod(input_shape))
    cls = DenseAutoencoder if autoencoder == "dense" else DenoisingAutoencoder
    if autoencoder == "denoising":
        params.setdefault("seed", seed)
    model = cls(n_features, hidden_dims=hidden_dims, embedding_dim=embedding_dim, **params)
    return model, (n_features,)


@keras.saving.register_keras_serializable(package="kdc")
class ConstantThenLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """A learning rate held at ``learning_rate``, then brought down in a straight line to 0.

    The rate is constant for the first ``1 - decay_fraction`` of
    ``total_steps`` and falls linearly to 0 at ``total_steps`` (and stays
    there): N2D's pretraining ends on it (see ``N2D_DECAY_END`` in
    kdc/cluster/n2d.py).

    Args:
        learning_rate: float > 0, the rate before the decay.
        total_steps: int >= 1, the training steps of the run.
        decay_fraction: float in [0, 1], the last part of the run that decays.
    """

    def __init__(self, learning_rate, total_steps, decay_fraction):
        self.learning_rate = check_float(learning_rate, "learning_rate", minimum=0.0,
                                         exclusive_min=True)
        self.total_steps = check_int(total_steps, "total_steps", minimum=1)
        self.decay_fraction = check_float(decay_fraction, "decay_fraction", minimum=0.0,
                                          maximum=1.0)

    def __call__(self, step):
        start = self.total_steps * (1.0 - self.decay_fraction)
        length = max(self.total_steps - start, 1.0)
        done = keras.ops.clip((keras.ops.cast(step, "float32") - start) / length, 0.0, 1.0)
        return self.learning_rate * (1.0 - done)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "total_steps": self.total_steps,
                "decay_fraction": self.decay_fraction}


def make_optimizer(optimizer, learning_rate=None):
    """A fresh Keras optimizer from a name or an optimizer instance (copied).

    ``learning_rate`` (checked by the callers) replaces the optimizer's own;
    None keeps it.

    Keras' Adam and AdamW, by name ("adam", "adamw") or as instances, become
    :class:`~kdc.cluster._fused_adam.FusedAdam` with the same configuration
    (weight decay included): the same update through TensorFlow's one-pass
    kernel. Other optimizers keep their class.
    """
    if isinstance(optimizer, keras.optimizers.Optimizer):
        cls, config = type(optimizer), optimizer.get_config()
    else:
        try:
            opt = keras.optimizers.get(optimizer)
        except ValueError:
            raise ValueError(
                "optimizer must be the name of a Keras optimizer (e.g. 'adam', 'sgd') or a "
                f"keras.optimizers.Optimizer. Received: optimizer={optimizer!r}"
            ) from None
        cls, config = type(opt), opt.get_config()
    if cls in (keras.optimizers.Adam, keras.optimizers.AdamW) and not config.get("amsgrad"):
        cls = FusedAdam
    if learning_rate is not None:
        config["learning_rate"] = learning_rate
    return cls.from_config(config)


def pretrain(model, x, *, epochs, batch_size, optimizer, learning_rate, callbacks=(),
             verbose=1, precision="float32", input_shape=None, augment=None,
             decay_fraction=0.0):
    """Train ``model`` to reconstruct ``x``; returns (history dict, seconds).

    ``x`` is an array, or a stream of :mod:`kdc.cluster._streaming` (memmap,
    ``.npy`` file, ``tf.data``), trained on through a shuffled ``tf.data``
    pipeline without loading it whole. Under a mixed ``precision`` a copy of
    ``model`` made under that dtype policy is trained (without XLA on a CPU,
    where XLA's bf16 code was slower than oneDNN's) and its weights are
    copied back, so ``model`` stays float32; ``input_shape`` (one sample's
    shape) is needed to build that copy. ``augment``, a function of a batch
    of model inputs and its number (see :func:`kdc.cluster._augment.shifter`),
    changes every training batch; the model reconstructs the changed batch.
    Each call of the compiled train function runs :func:`execution_steps`
    steps. With ``decay_fraction`` > 0 the learning rate falls linearly to 0
    over that last part of the steps (:class:`ConstantThenLinearDecay`),
    unless a callback sets the rate itself (Keras' ``LearningRateScheduler``,
    ``ReduceLROnPlateau``).
    """
    check_float(learning_rate, "learning_rate", minimum=0.0, exclusive_min=True)
    trained = policy_copy(model, precision, input_shape) if epochs else model
    steps = _streaming.steps_per_epoch(x, batch_size)
    rate = learning_rate
    if decay_fraction and epochs and not any(
            isinstance(cb, LR_CALLBACKS) for cb in callbacks or ()):
        rate = ConstantThenLinearDecay(learning_rate, epochs * steps, decay_fraction)
    trained.compile(optimizer=make_optimizer(optimizer, rate), loss="mse",
                    jit_compile=_jit_compile(precision),
                    steps_per_execution=execution_steps(steps, callbacks))
    if trained is not model:
        model.compile(optimizer=make_optimizer(optimizer, learning_rate), loss="mse")
    start = time.perf_counter()
    if epochs == 0:
        return {"loss": []}, 0.0
    with shifted_training(trained, augment, reconstruct=True):
        history = trained.fit(
            **_streaming.fit_arguments(x, batch_size, epochs=epochs), epochs=epochs,
            callbacks=[*(callbacks or ()), SpreadThreads()], verbose=_keras_verbose(verbose),
        )
    if trained is not model:
        model.set_weights(trained.get_weights())
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}, (
        time.perf_counter() - start)


def execution_steps(steps_per_epoch, callbacks=()):
    """Training steps per compiled call (Keras' ``steps_per_execution``) for pretraining.

    The largest divisor of ``steps_per_epoch`` up to ``EXECUTION_STEPS_LIMIT``,
    so that every call ends inside one epoch and epochs stay passes over the
    data (274 steps of 256 rows on MNIST: 137); 1 when a callback acts on
    single batches (it overrides a ``on_*batch_begin``/``on_*batch_end``
    method: Keras' ModelCheckpoint, TensorBoard, BackupAndRestore,
    TerminateOnNaN...), which would otherwise see only every call's last batch;
    1 under a distribution strategy too, where Keras' loop of several steps
    failed (TensorFlow 2.21, Keras 3.15, MirroredStrategy: "You must feed a
    value for placeholder tensor" inside its ``while`` loop).
    """
    import tensorflow as tf

    if tf.distribute.has_strategy() or any(_acts_on_batches(cb) for cb in callbacks or ()):
        return 1
    return max(d for d in range(1, min(steps_per_epoch, EXECUTION_STEPS_LIMIT) + 1)
               if steps_per_epoch % d == 0)


def _acts_on_batches(callback):
    """Whether ``callback``'s class overrides one of Keras' per-batch training hooks."""
    base = keras.callbacks.Callback
    return any(getattr(type(callback), name, None) is not getattr(base, name)
               for name in ("on_batch_begin", "on_batch_end", "on_train_batch_begin",
                            "on_train_batch_end"))


def _jit_compile(precision):
    """XLA for float32 pretraining; Keras' "auto" (no XLA) for a mixed policy on a
    CPU and under a distribution strategy, where XLA steps cannot reach the
    variables of the other replicas."""
    import tensorflow as tf

    if not JIT_COMPILE:
        return False
    return True if precision == "float32" and not tf.distribute.has_strategy() else "auto"


def _keras_verbose(verbose):
    """Our verbosity (0 silent, 1 stage lines + progress) to Keras' fit verbosity.

    A progress bar on a terminal, one line per epoch when the output is a file
    or a pipe (where a progress bar would print a line per step).
    """
    if not verbose:
        return 0
    return 1 if sys.stdout.isatty() else 2
