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
(with bilinear resampling) cost N2D 1.5 points on MNIST-test, and random
rotations on top of the shifts stayed within the seeds' spread: up to 5
degrees (nearest pixel) gave N2D on MNIST .9775 / .9768 / .9771 on seeds 0-2
against .9765 / .9764 / .9773, up to 10 and 15 degrees .9758 and .9760
(seed 0). The shifts run inside the compiled training step
(:func:`shifted_training`), at no measurable cost: back-to-back 12-epoch
USPS pretraining ran at 6,348 / 6,409 samples/s with shifts and 6,338 /
6,449 without (a ``tf.data`` pipeline that shifted the batches before the
step ran about 15% slower).

N2D's pretraining shows the images unshifted in its last 20% of steps
(``UNSHIFTED_END``): its head clusters the embedding of the rows as they are,
and the autoencoder then ends on those rows. MNIST N2D (seeds 0 / 1 / 2, 2-core
AVX512-BF16 CPU) gained on every seed: ACC .9795 / .9785 / .9792 against .9790
/ .9781 / .9785 with 34 epochs, .9812 / .9801 / .9812 against .9801 / .9796 /
.9804 with 45 (the leave-one-out 10-neighbour vote of the true labels in the
embedding rose alike); on the smaller data, 100 epochs, it stayed within the
seeds' spread: MNIST-test .9574 / .9627 / .9693 against .9607 / .9652 /
.9643, USPS .9687 / .9701 / .9731 against .9728 / .9688 / .9732. AE + k-means,
DEC and IDEC keep shifting to the end of pretraining (DEC and IDEC go on
training the encoder with shifts).

Only training is augmented (pretraining, and DEC/IDEC self-training, whose
target distribution P is computed from the rows as they are): the embedding
the heads cluster, ``predict`` and ``transform`` see the rows as they are.
The shifts are whole pixels, the uncovered border is filled with 0 (the
minimum under the default scaling), and they are drawn from ``random_state``
and the batch number, so a fit stays repeatable.
"""

import contextlib

from kdc._validation import check_int

# "auto": shifts of up to this many pixels, for images at least this many
# pixels high and wide (smaller images, such as the 8x8 digits, are not shifted).
AUTO_SHIFT = 1
AUTO_MIN_SIDE = 16

# N2D's pretraining shows the autoencoder the images as they are in this last
# fraction of its steps: its head clusters the embedding of the unshifted
# images, and the autoencoder ends on them (see the module docstring).
UNSHIFTED_END = 0.2


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


def shifter(shift, input_shape, model_shape, seed, until=None):
    """A function ``(batch, step)`` that shifts each image of a batch by up to ``shift`` pixels.

    The batch has samples of ``model_shape`` (flat rows for dense
    autoencoders); it is viewed as images of ``input_shape``, shifted, and
    given back in ``model_shape``. Each image gets its own offsets, drawn
    statelessly from ``(seed, step)``: the same batch number gets the same
    offsets, which land on other rows in every epoch since the batches are
    reshuffled. With ``until`` (a step number) the batches of that step and
    later ones are given back unshifted.
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
        if until is not None:  # offset `shift` is the image where it was
            offsets = tf.where(tf.cast(step, tf.int64) < int(until), offsets,
                               tf.fill(tf.shape(offsets), shift))
        rows = offsets[0][:, None] + tf.range(h)[None, :]
        cols = offsets[1][:, None] + tf.range(w)[None, :]
        images = tf.gather(images, rows, axis=1, batch_dims=1)
        images = tf.gather(images, cols, axis=2, batch_dims=1)
        return tf.reshape(images, (n,) + tuple(model_shape))

    apply.shift, apply.until = shift, until
    return apply


@contextlib.contextmanager
def shifted_training(model, augment, *, reconstruct):
    """Within the block, ``model.fit`` shifts every training batch inside its compiled step.

    ``model``'s ``train_step`` is wrapped, for this instance only, so that
    each batch of inputs goes through ``augment`` (see :func:`shifter`)
    before Keras' own step: the shifts run in the compiled (XLA) step, and
    the data stay on Keras' array or ``tf.data`` path. The batch number is
    the optimizer's step counter, so offsets are repeatable and differ from
    step to step. With ``reconstruct`` the target is the shifted batch too
    (an autoencoder reconstructs what it sees); otherwise targets are left
    as they are (DEC/IDEC's row indices). ``augment`` None does nothing.
    """
    if augment is None:
        yield model
        return
    import keras

    own_step = model.train_step

    def train_step(data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x = augment(x, model.optimizer.iterations)
        return own_step(keras.utils.pack_x_y_sample_weight(
            x, x if reconstruct else y, sample_weight))

    model.train_step = train_step
    model.train_function = None  # compiled again with the shifts
    try:
        yield model
    finally:
        del model.train_step
        model.train_function = None  # later fits compile the model's own step
