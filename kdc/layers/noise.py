"""Input corruption layers for denoising autoencoders."""

import keras
from keras import ops

from kdc._validation import check_float, check_int


@keras.saving.register_keras_serializable(package="kdc")
class MaskingNoise(keras.layers.Layer):
    """Sets a random fraction of the inputs to zero, only while training.

    Unlike ``keras.layers.Dropout`` the surviving values are not rescaled: this
    is the masking corruption of stacked denoising autoencoders (Vincent et al.,
    2010), where the network must fill in missing pixels.

    Args:
        rate: float in [0, 1), the fraction of inputs set to zero.
        seed: optional int seed for the random mask.

    Example:
        >>> layer = MaskingNoise(0.5, seed=0)
        >>> y = layer(np.ones((2, 4)), training=True)  # about half zeros
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_float(rate, "rate", minimum=0.0, maximum=1.0, exclusive_max=True)
        self.seed = check_int(seed, "seed", minimum=0, allow_none=True)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        keep = keras.random.uniform(ops.shape(inputs), seed=self.seed_generator) >= self.rate
        return inputs * ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
