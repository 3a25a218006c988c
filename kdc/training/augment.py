"""Random shifts of images while the autoencoder pretrains and DEC/IDEC self-train.

An autoencoder that sees every image shifted by a pixel or so learns an
embedding that does not change with where a stroke sits, so images of one
class lie closer together (the augmentation of Guo et al., "Deep Embedded
Clustering with Data Augmentation", ACML 2018, at a scale that suits short
training budgets; the gains, and the rotations that did not help, are on
the benchmark page of the docs).

The shifts are a Keras layer, :class:`kdc.layers.RandomShift`, that is part
of the model being trained, so they run inside Keras' own compiled training
step on every backend and nothing of Keras is replaced:

- pretraining trains a :class:`ReconstructionTrainer`: the shift layer, then
  the autoencoder, whose target is the shifted batch (an autoencoder
  reconstructs what it sees);
- DEC/IDEC self-training gives the shift layer to :class:`kdc.models.DEC` /
  :class:`kdc.models.IDEC` as their ``augmentation``.

Only training is augmented: the embedding the heads cluster, DEC's target
distribution, ``predict`` and ``transform`` see the rows as they are. The
offsets are drawn from a seed that ``random_state`` fixes, so a fit stays
repeatable.
"""

import keras
from keras import ops

from kdc.layers.shift import RandomShift


def shift_layer(shift, input_shape, *, until=None, seed=None):
    """A :class:`~kdc.layers.RandomShift` for samples of ``input_shape``, or None for no shifts."""
    if not shift:
        return None
    return RandomShift(shift, tuple(int(d) for d in input_shape), until=until, seed=seed,
                       name="random_shift")


@keras.saving.register_keras_serializable(package="kdc")
class ReconstructionTrainer(keras.Model):
    """Trains ``autoencoder`` to reconstruct its augmented input.

    ``trainer(x)`` returns ``(target, reconstruction)``: the input after
    ``augmentation`` (a Keras layer that changes inputs only while training,
    such as :class:`kdc.layers.RandomShift`) and the autoencoder's output for
    it. The loss is their mean squared error, plus the autoencoder's own
    regularisation losses. The autoencoder's weights are the trainer's: a
    fit of the trainer trains the autoencoder.

    The trainer does not cast its inputs (``autocast=False``): under a mixed
    dtype policy the target stays in the input's precision (float32) and
    only the autoencoder computes in float16/bfloat16, as with
    ``compile(loss="mse")`` on the autoencoder itself. It still takes the
    policy it is created under, so Keras scales the loss under
    mixed_float16.

    Args:
        autoencoder: a Keras autoencoder.
        augmentation: a Keras layer, or None (the input as it is).
    """

    def __init__(self, autoencoder, augmentation=None, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.autoencoder = autoencoder
        self.augmentation = augmentation

    def call(self, x, training=False):
        if self.augmentation is not None:
            x = self.augmentation(x, training=training)
        return x, self.autoencoder(x, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        target, reconstruction = y_pred
        error = ops.square(ops.cast(target, "float32") - ops.cast(reconstruction, "float32"))
        loss = ops.mean(error)
        if self.losses:
            loss = loss + ops.cast(ops.sum(self.losses), "float32")
        return loss

    def get_config(self):
        return {**super().get_config(),
                "autoencoder": keras.saving.serialize_keras_object(self.autoencoder),
                "augmentation": keras.saving.serialize_keras_object(self.augmentation)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["autoencoder"] = keras.saving.deserialize_keras_object(config["autoencoder"])
        if config.get("augmentation") is not None:
            config["augmentation"] = keras.saving.deserialize_keras_object(config["augmentation"])
        return cls(**config)
