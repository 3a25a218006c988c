"""Random shifts of image rows while the autoencoder pretrains and DEC/IDEC self-train.

An autoencoder that sees every image shifted by a pixel or so learns an
embedding that does not change with where a stroke sits, so images of one
class lie closer together (the augmentation of Guo et al., "Deep Embedded
Clustering with Data Augmentation", ACML 2018, at a scale that suits short
training budgets). Measured with ``scripts/benchmark.py`` and the defaults
(one-pixel shifts) on this project's 2-core CPU: MNIST (70,000 rows, seed 0)
DEC ACC .889 (.826 without shifts; .885 with seed 1), IDEC .864 (seed 1;
.816 without, seed 0), AEKMeans .797, N2D .970 (.970 without);
MNIST-test (seeds 0/1) N2D .947/.948 (.945/.938 without), AEKMeans .757/.763
(.703 without, seed 0); USPS (16x16, seed 0) DEC .794 (.767 without),
AEKMeans .722 (.701), N2D .956 (.961). Larger shifts hurt: up to 2.8 pixels
(with bilinear resampling) cost N2D 1.5 points on MNIST-test. The shifted
pipeline pretrained about 15% slower in back-to-back USPS fits (see README).

Only training is augmented (pretraining, and DEC/IDEC self-training, whose
target distribution P is computed from the rows as they are): the embedding
the heads cluster, ``predict`` and ``transform`` see the rows as they are.
The shifts are whole pixels, the uncovered border is filled with 0 (the
minimum under the default scaling), and they are drawn from ``random_state``
and the batch number, so a fit stays repeatable.
"""

import math

import numpy as np

from kdc._validation import check_int

# "auto": shifts of up to this many pixels, for images at least this many
# pixels high and wide (smaller images, such as the 8x8 digits, are not shifted).
AUTO_SHIFT = 1
AUTO_MIN_SIDE = 16


def resolve_shift(augment, input_shape):
    """The largest shift in pixels for ``augment`` and samples of ``input_shape``; 0 for none.

    Args:
        augment: "auto", None, or an int >= 0 (the largest shift in pixels).
        input_shape: the shape of one sample as given to ``fit``: images are
            (height, width) or (height, width, channels).

    Raises:
        ValueError: ``augment`` is none of these, or asks for shifts of
            samples that are not images.
    """
    if augment is None:
        return 0
    image = len(input_shape) in (2, 3)
    if isinstance(augment, str):
        if augment != "auto":
            raise ValueError("augment must be 'auto', None or an int >= 0 (the largest random "
                             f"shift in pixels). Received: augment={augment!r}")
        return AUTO_SHIFT if image and min(input_shape[:2]) >= AUTO_MIN_SIDE else 0
    shift = check_int(augment, "augment", minimum=0)
    if shift and not image:
        raise ValueError(
            "augment shifts images: x must have samples of shape (height, width[, channels]). "
            f"Received: augment={augment!r} with samples of shape {tuple(input_shape)}. "
            "Pass the images unflattened, or augment=None.")
    if shift and shift >= min(input_shape[:2]):
        raise ValueError(
            f"augment must be smaller than the images' height and width {tuple(input_shape[:2])}. "
            f"Received: augment={augment!r}")
    return shift


def shifter(shift, input_shape, model_shape, seed):
    """A function ``(batch, step)`` that shifts each image of a batch by up to ``shift`` pixels.

    The batch has samples of ``model_shape`` (flat rows for dense
    autoencoders); it is viewed as images of ``input_shape``, shifted, and
    given back in ``model_shape``. Each image gets its own offsets, drawn
    statelessly from ``(seed, step)``: the same batch number gets the same
    offsets, which land on other rows in every epoch since the batches are
    reshuffled.
    """
    import tensorflow as tf

    h, w = int(input_shape[0]), int(input_shape[1])
    c = int(input_shape[2]) if len(input_shape) == 3 else 1
    pad = [[0, 0], [shift, shift], [shift, shift], [0, 0]]

    def apply(batch, step):
        n = tf.shape(batch)[0]
        images = tf.pad(tf.reshape(batch, (n, h, w, c)), pad)
        offsets = tf.random.stateless_uniform(
            (2, n), tf.stack([tf.constant(int(seed), tf.int64), tf.cast(step, tf.int64)]),
            minval=0, maxval=2 * shift + 1, dtype=tf.int32)
        rows = offsets[0][:, None] + tf.range(h)[None, :]
        cols = offsets[1][:, None] + tf.range(w)[None, :]
        images = tf.gather(images, rows, axis=1, batch_dims=1)
        images = tf.gather(images, cols, axis=2, batch_dims=1)
        return tf.reshape(images, (n,) + tuple(model_shape))

    apply.shift = shift
    return apply


def array_dataset(x, batch_size, augment, seed, *, indices=False):
    """Shuffled batches of the array ``x`` changed by ``augment``, for ``model.fit``.

    The batches are gathered from ``x`` by shuffled row indices (no copy of
    the rows into a shuffle buffer), reshuffled every epoch and prefetched.
    Each element is ``(batch, batch)`` (the model reconstructs the changed
    batch), or ``(batch, row_indices)`` with ``indices=True`` (DEC/IDEC
    self-training, whose target P is looked up by row). Returns the dataset
    and its steps per epoch; it repeats, so ``model.fit`` needs
    ``steps_per_epoch``.
    """
    import tensorflow as tf

    n = x.shape[0]
    rows = tf.constant(np.ascontiguousarray(x, dtype="float32"))

    def batch_of(step, index):
        batch = augment(tf.gather(rows, index), step)
        return batch, (index if indices else batch)

    data = (tf.data.Dataset.range(n).shuffle(n, seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size).repeat().enumerate().map(batch_of).prefetch(2))
    return data, math.ceil(n / batch_size)
