"""How a training phase runs: one :class:`PhasePlan`, decided by documented rules.

Every decision of a phase (how many epochs, which dtype policy, XLA or not,
how many steps per call of the compiled train function, the learning-rate
schedule, the image shifts, thread pinning, the kind of input) is taken here
from an estimator's public parameters, by the "auto" rules below. The plan
is printed as one line at ``verbose=1`` and kept on the fitted estimator as
``training_plan_`` (one dict per phase).

Rules:

- ``pretrain_epochs="auto"``: ``ceil(pretrain_budget / max(n_samples,
  AUTO_BUDGET_MIN_ROWS))`` epochs, at least :data:`AUTO_MIN_EPOCHS`: a budget
  of samples seen, so large data sets get fewer passes; data sets of fewer
  than :data:`AUTO_BUDGET_MIN_ROWS` rows train as many epochs as one of that
  many rows, so tiny data are not run through thousands of short epochs, and
  a larger budget still means longer training on small data;
- ``precision="auto"``: see :func:`kdc.training.precision.resolve_precision`
  (mixed_float16 on a GPU; mixed_bfloat16 on a CPU with native bf16
  instructions for pretraining from 5,000 rows on and for self-training;
  float32 otherwise);
- ``jit_compile="auto"``: XLA for float32 pretraining outside a distribution
  strategy; otherwise Keras' own "auto" (XLA on accelerators only, never
  under tf.distribute): XLA steps cannot reach the variables of other
  replicas, and on CPUs oneDNN runs mixed-precision matmuls and DEC/IDEC's
  small self-training steps faster without it;
- ``steps_per_execution="auto"``: the largest divisor of the epoch's steps up
  to :data:`EXECUTION_STEPS_LIMIT`, so every call ends inside one epoch and
  epochs stay passes over the data; 1 when a callback acts on single batches
  (it overrides an ``on_*batch_begin``/``on_*batch_end`` method: Keras'
  ModelCheckpoint, TensorBoard, TerminateOnNaN, ...), which then sees every
  batch, and 1 under a distribution strategy;
- ``augment="auto"``: shifts of up to :data:`AUTO_SHIFT` pixel for images at
  least :data:`AUTO_MIN_SIDE` pixels high and wide, none otherwise; the last
  ``unshifted_end`` of the steps are not shifted;
- ``lr_decay_end``: the learning rate falls linearly to 0 over that last part
  of the steps (:class:`~kdc.training.optimizers.ConstantThenLinearDecay`),
  unless a callback sets the rate itself (``LearningRateScheduler``,
  ``ReduceLROnPlateau``), which Keras would refuse with a schedule.
"""

import dataclasses
import math

import keras
import numpy as np

from kdc._validation import check_choice, check_float, check_int

AUTO_MIN_EPOCHS = 10
# pretrain_epochs="auto" spends its budget of samples on data sets down to
# this many rows; smaller ones train as many epochs as this many rows would
# (100 with the default budget of AEKMeans, DEC and IDEC).
AUTO_BUDGET_MIN_ROWS = 17_500
# Pretraining runs up to this many steps per call of its compiled train
# function: fewer returns to Python between steps. A call of 200 steps is
# the longest the progress bar and Ctrl-C wait.
EXECUTION_STEPS_LIMIT = 200
# "auto" shifts images by up to this many pixels when they are at least this
# many pixels high and wide (smaller images, such as the 8x8 digits, are not
# shifted).
AUTO_SHIFT = 1
AUTO_MIN_SIDE = 16
# Callbacks that set the learning rate themselves: the phase then keeps a
# constant rate instead of a decay (Keras refuses to set a schedule's rate).
LR_CALLBACKS = (keras.callbacks.LearningRateScheduler, keras.callbacks.ReduceLROnPlateau)
JIT_CHOICES = (True, False, "auto")


@dataclasses.dataclass(frozen=True)
class PhasePlan:
    """The decisions of one training phase (see the module docstring for the rules).

    Attributes:
        phase: "pretrain" or "self_training".
        epochs: passes over the data (self-training: enough for its steps).
        steps: training steps in all.
        steps_per_epoch: batches in one pass.
        batch_size: the (global) batch size.
        precision: the Keras dtype policy the phase trains under.
        jit_compile: True, False or "auto" (Keras' choice), as given to compile.
        steps_per_execution: training steps per call of the compiled function.
        learning_rate: the base learning rate.
        lr_decay_end: the last fraction of the steps over which the rate
            decays linearly to 0 (0: a constant rate).
        shift: the largest image shift in pixels (0: none).
        shift_until: the step from which batches pass unshifted, or None.
        data: "array", "memmap", ".npy file" or "tf.data".
        distributed: the distribution strategy's class name, or None.
        pin_threads: whether busy threads are pinned to CPUs while training.
    """

    phase: str
    epochs: int
    steps: int
    steps_per_epoch: int
    batch_size: int
    precision: str
    jit_compile: object
    steps_per_execution: int
    learning_rate: float
    lr_decay_end: float = 0.0
    shift: int = 0
    shift_until: object = None
    data: str = "array"
    distributed: object = None
    pin_threads: bool = False

    def describe(self):
        """The plan as one line, e.g. for ``verbose=1``."""
        parts = [f"{self.epochs} epochs x {self.steps_per_epoch} steps of {self.batch_size}",
                 self.precision,
                 "XLA" if self.jit_compile is True else (
                     "no XLA" if self.jit_compile is False else "XLA: Keras auto"),
                 f"{self.steps_per_execution} steps/call"]
        rate = f"lr {self.learning_rate:g}"
        if self.lr_decay_end:
            rate += f" -> 0 over the last {self.lr_decay_end:.0%} of {self.steps} steps"
        parts.append(rate)
        if self.shift:
            parts.append(f"shifts <= {self.shift} px" + (
                f" until step {self.shift_until}" if self.shift_until is not None else ""))
        parts.append(f"data: {self.data}")
        if self.distributed:
            parts.append(f"under {self.distributed}")
        if self.pin_threads:
            parts.append("threads pinned")
        return ", ".join(parts)

    def as_dict(self):
        """The plan as a JSON-ready dict."""
        return dataclasses.asdict(self)


def resolve_epochs(pretrain_epochs, n_samples, sample_budget):
    """The number of pretraining epochs for ``pretrain_epochs`` ("auto" or an int >= 0).

    "auto" sees about ``sample_budget`` samples (at least ``AUTO_MIN_EPOCHS``
    epochs); data sets of fewer than ``AUTO_BUDGET_MIN_ROWS`` rows train as many
    epochs as one of that many rows.
    """
    if isinstance(pretrain_epochs, str):
        check_choice(pretrain_epochs, "pretrain_epochs", ("auto",))
        budget = check_int(sample_budget, "pretrain_budget", minimum=1)
        epochs = math.ceil(budget / max(n_samples, AUTO_BUDGET_MIN_ROWS))
        return int(max(epochs, AUTO_MIN_EPOCHS))
    return check_int(pretrain_epochs, "pretrain_epochs", minimum=0)


def check_fraction(value, name):
    """A float in [0, 1] for ``unshifted_end`` and ``lr_decay_end``."""
    return check_float(value, name, minimum=0.0, maximum=1.0)


def is_image(input_shape):
    """Whether samples of ``input_shape`` are images to the "auto" rules: (height, width)
    or (height, width, channels), at least :data:`AUTO_MIN_SIDE` pixels high and wide.

    Smaller 2-D samples (the 8x8 digits, windows of a few sensor channels) are
    treated like flat rows: not shifted, and N2D's manifold may see their values.
    """
    return len(input_shape) in (2, 3) and min(input_shape[:2]) >= AUTO_MIN_SIDE


def is_sequence(input_shape):
    """Whether samples of ``input_shape`` are sequences to the "auto" rules: (steps,
    channels), Keras' layout of time series, or (channels, steps), sktime's and aeon's:
    2-D samples that are not images (see :func:`is_image`) whose longer axis, the steps,
    has at least :data:`AUTO_MIN_SIDE` values.

    Windows of a few sensor channels, (128, 9) or (9, 128), are sequences; the
    8x8 digits are not (too few steps), nor is a flat row, whose order of
    columns says nothing. Pass a univariate series as (steps, 1).
    """
    return (len(input_shape) == 2 and not is_image(input_shape)
            and max(input_shape) >= AUTO_MIN_SIDE)


def is_channels_first(input_shape):
    """Whether sequences of ``input_shape`` are laid out (channels, steps): their steps,
    the longer axis (see :func:`is_sequence`), are the second. The one rule every reader
    of sequences (N2D's spectrum in numpy and in the SavedModel, the centroid plots)
    follows."""
    return input_shape[0] < input_shape[1]


def steps_first(rows, input_shape, dtype):
    """Flat sequences ``rows`` of ``input_shape`` as an array (n_samples, steps, channels)
    of ``dtype``, whichever the layout (see :func:`is_channels_first`)."""
    x = np.asarray(rows, dtype).reshape(-1, *input_shape)
    return x.transpose(0, 2, 1) if is_channels_first(input_shape) else x


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
        return AUTO_SHIFT if is_image(input_shape) else 0
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


def shift_until(steps, unshifted_end):
    """The step from which batches pass unshifted (the last ``unshifted_end`` of ``steps``)."""
    return round((1.0 - unshifted_end) * steps) if unshifted_end else None


def check_jit_compile(jit_compile):
    """``jit_compile`` if it is True, False or "auto"."""
    if not isinstance(jit_compile, (bool, str)) or jit_compile not in JIT_CHOICES:
        raise ValueError("jit_compile must be True, False or 'auto'. Received: "
                         f"jit_compile={jit_compile!r}")
    return jit_compile


def resolve_jit_compile(jit_compile, phase, precision, distributed):
    """What ``compile(jit_compile=...)`` gets for ``jit_compile`` (see the module docstring)."""
    if check_jit_compile(jit_compile) != "auto":
        return jit_compile
    return default_jit(phase, precision, distributed)


def default_jit(phase, precision, distributed):
    """The "auto" rule of ``jit_compile``: XLA for float32 pretraining outside a strategy,
    else Keras' "auto"."""
    return True if phase == "pretrain" and precision == "float32" and not distributed else "auto"


def check_steps_per_execution(value):
    """``steps_per_execution`` if it is "auto" or an int >= 1."""
    if isinstance(value, str):
        return check_choice(value, "steps_per_execution", ("auto",))
    return check_int(value, "steps_per_execution", minimum=1)


def resolve_steps_per_execution(value, steps_per_epoch, callbacks=(), distributed=False):
    """What ``compile(steps_per_execution=...)`` gets (see the module docstring).

    An int asks for that many steps per call; it is lowered to 1 where the
    "auto" rule must give 1 (batch callbacks, a distribution strategy), and
    to the largest divisor of ``steps_per_epoch`` not above it.
    """
    value = check_steps_per_execution(value)
    limit = EXECUTION_STEPS_LIMIT if value == "auto" else value
    if distributed or any(acts_on_batches(cb) for cb in callbacks or ()):
        return 1
    return max(d for d in range(1, min(steps_per_epoch, limit) + 1) if steps_per_epoch % d == 0)


def acts_on_batches(callback):
    """Whether ``callback``'s class overrides one of Keras' per-batch training hooks."""
    base = keras.callbacks.Callback
    return any(getattr(type(callback), name, None) is not getattr(base, name)
               for name in ("on_batch_begin", "on_batch_end", "on_train_batch_begin",
                            "on_train_batch_end"))


def resolve_decay(lr_decay_end, steps, callbacks=()):
    """The fraction of ``steps`` over which the rate decays: ``lr_decay_end``, or 0 when
    there are no steps or a callback sets the rate itself."""
    fraction = check_fraction(lr_decay_end, "lr_decay_end")
    if not steps or any(isinstance(cb, LR_CALLBACKS) for cb in callbacks or ()):
        return 0.0
    return fraction
