"""Random whole-pixel shifts of images, only while training."""

import keras
from keras import ops

from kdc._validation import check_int


@keras.saving.register_keras_serializable(package="kdc")
class RandomShift(keras.layers.Layer):
    """Shifts every image of a training batch by up to ``max_shift`` whole pixels.

    Each image gets its own vertical and horizontal offset, drawn uniformly
    from ``-max_shift..max_shift``; the border the shift uncovers is filled
    with 0. Outside training (``training=False``) the inputs pass unchanged.
    The inputs may be images or flat rows of ``image_shape``'s size (what a
    dense autoencoder takes): they are viewed as images of ``image_shape``
    and given back in their own shape.

    The layer counts the training batches it has shifted (the non-trainable
    variable ``step``); with ``until`` set, batches from that step on pass
    unshifted, so a training run can end on the images as they are.

    The shifts are computed with one-hot matrix products in float32, so
    every output value is an input value or 0, exactly, on every backend.

    Args:
        max_shift: int >= 0, the largest shift in pixels.
        image_shape: (height, width) or (height, width, channels) of one image.
        until: None, or an int >= 0: the training step from which batches
            pass unshifted.
        seed: optional int seed of the offsets.

    Example:
        >>> layer = RandomShift(1, (28, 28), seed=0)
        >>> shifted = layer(x, training=True)  # x of shape (n, 784) or (n, 28, 28)
    """

    def __init__(self, max_shift, image_shape, until=None, seed=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.max_shift = check_int(max_shift, "max_shift", minimum=0)
        shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else None
        if shape is None or len(shape) not in (2, 3) or not all(
                isinstance(d, int) and d >= 1 for d in shape):
            raise ValueError("image_shape must be (height, width) or (height, width, channels) "
                             f"of positive ints. Received: image_shape={image_shape!r}")
        if self.max_shift >= min(shape[:2]):
            raise ValueError(f"max_shift must be smaller than the images' height and width "
                             f"{shape[:2]}. Received: max_shift={max_shift!r}")
        self.image_shape = shape
        self.until = check_int(until, "until", minimum=0, allow_none=True)
        self.seed = check_int(seed, "seed", minimum=0, allow_none=True)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.autocast = False

    def build(self, input_shape):
        self.step = self.add_weight(name="step", shape=(), dtype="int64",
                                    initializer="zeros", trainable=False)

    def call(self, inputs, training=False):
        if not training or self.max_shift == 0:
            return inputs
        s = self.max_shift
        h, w = self.image_shape[0], self.image_shape[1]
        c = self.image_shape[2] if len(self.image_shape) == 3 else 1
        n = ops.shape(inputs)[0]
        images = ops.reshape(ops.cast(inputs, "float32"), (n, h, w, c))
        images = ops.pad(images, [[0, 0], [s, s], [s, s], [0, 0]])
        offsets = keras.random.randint((2, n), 0, 2 * s + 1, seed=self.seed_generator,
                                       dtype="int32")
        if self.until is not None:  # offset s leaves the image where it was
            offsets = ops.where(self.step < self.until, offsets, ops.full_like(offsets, s))
        # rows[i, a, b] = 1 when output row a of image i reads padded row b
        rows = ops.one_hot(offsets[0][:, None] + ops.arange(h, dtype="int32")[None, :],
                           h + 2 * s, dtype="float32")
        cols = ops.one_hot(offsets[1][:, None] + ops.arange(w, dtype="int32")[None, :],
                           w + 2 * s, dtype="float32")
        images = ops.einsum("nab,nbwc->nawc", rows, images)
        images = ops.einsum("ncd,nadk->nack", cols, images)
        self.step.assign(self.step + 1)
        return ops.cast(ops.reshape(images, ops.shape(inputs)), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_shift": self.max_shift,
                "image_shape": list(self.image_shape), "until": self.until, "seed": self.seed}
