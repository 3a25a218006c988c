"""Optimizers and learning-rate schedules of kdc's training engine.

:class:`FusedAdam` is the optimizer of the string ``optimizer="adam"``: Keras'
Adam arithmetic through TensorFlow's one-pass ``ResourceApplyAdam`` kernel.
Keras 3's Adam updates each variable with about ten separate element-wise
ops, each a pass over the variable in memory that nothing fuses outside XLA;
the fused kernel does the same arithmetic in one multi-threaded pass, which
matters for the memory-bound update of the 3.3-million-weight default
autoencoder on a CPU. Under XLA (float32 pretraining) both compile to fused
code. Anything the kernel does not cover falls back to Keras' own update:
other backends, sparse gradients, ``amsgrad`` and distribution strategies
(whose per-replica updates Keras routes itself). Decoupled weight decay
(``weight_decay``) is one multiply-and-assign pass per variable.

An optimizer *instance* passed by the user is copied with its own class and
configuration and never replaced by FusedAdam; pass
``kdc.training.FusedAdam(...)`` to get the kernel with other arguments.
:class:`ConstantThenLinearDecay` is the schedule of ``lr_decay_end``.
"""

import keras

from kdc._validation import check_float, check_int


@keras.saving.register_keras_serializable(package="kdc")
class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` with TensorFlow's fused update kernel (same arguments)."""

    def update_step(self, gradient, variable, learning_rate):
        import tensorflow as tf

        if _keras_routes_updates() or self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=_tf_variable(variable).handle,
            m=_tf_variable(self._momentums[index]).handle,
            v=_tf_variable(self._velocities[index]).handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))
        return None

    def _apply_weight_decay(self, variables):
        """Decoupled weight decay, ``w <- w * (1 - learning_rate * weight_decay)``, in one pass.

        Keras' own form, ``w - w * weight_decay * learning_rate``, is three
        element-wise passes over each variable outside XLA.
        """
        import tensorflow as tf

        if self.weight_decay is None or _keras_routes_updates():
            return super()._apply_weight_decay(variables)
        for variable in variables:
            if self._use_weight_decay(variable):
                dtype = variable.dtype
                rate = tf.cast(self.learning_rate, dtype) * tf.cast(self.weight_decay, dtype)
                _tf_variable(variable).assign(_tf_variable(variable) * (1.0 - rate))
        return None


def _keras_routes_updates():
    """Whether Keras' own updates must run: another backend, or a distribution strategy
    (whose per-replica updates Keras routes itself)."""
    if keras.backend.backend() != "tensorflow":
        return True
    import tensorflow as tf

    return tf.distribute.has_strategy()


def _tf_variable(variable):
    """The ``tf.Variable`` behind a Keras variable (or the tf.Variable itself)."""
    return variable.value if isinstance(variable, keras.Variable) else variable


@keras.saving.register_keras_serializable(package="kdc")
class ConstantThenLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """A learning rate held at ``learning_rate``, then brought down in a straight line to 0.

    The rate is constant for the first ``1 - decay_fraction`` of
    ``total_steps`` and falls linearly to 0 at ``total_steps`` (and stays
    there): the schedule of an estimator's ``lr_decay_end``.

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


def make_optimizer(optimizer, learning_rate=None, name="optimizer"):
    """A fresh Keras optimizer from a name or an optimizer instance.

    The string "adam" gives :class:`FusedAdam` on the TensorFlow backend
    (Keras' Adam on others); any other name gives Keras' optimizer of that
    name. An instance is copied (``from_config`` of its own class), so
    repeated fits start from a fresh state and the caller's object is never
    changed or swapped. ``learning_rate`` (a float or a schedule, checked by
    the callers) replaces the optimizer's own; None keeps it.

    Raises:
        ValueError: ``optimizer`` is neither, naming ``name``.
    """
    if isinstance(optimizer, keras.optimizers.Optimizer):
        cls, config = type(optimizer), optimizer.get_config()
    else:
        try:
            opt = keras.optimizers.get(optimizer)
        except ValueError:
            raise ValueError(
                f"{name} must be the name of a Keras optimizer (e.g. 'adam', 'sgd') or a "
                f"keras.optimizers.Optimizer. Received: {name}={optimizer!r}"
            ) from None
        cls, config = type(opt), opt.get_config()
        if (isinstance(optimizer, str) and optimizer.lower() == "adam"
                and keras.backend.backend() == "tensorflow"):
            cls = FusedAdam
    if learning_rate is not None:
        config["learning_rate"] = learning_rate
    return cls.from_config(config)
