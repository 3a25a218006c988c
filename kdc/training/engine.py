"""Running a training phase by its :class:`~kdc.training.plan.PhasePlan`.

:func:`plan_phase` turns an estimator's public training parameters into the
plan of one phase; :func:`pretrain` trains an autoencoder by such a plan and
:func:`fit_by_plan` trains any other compiled Keras model (DEC/IDEC
self-training) by one. Both read their batches through
:mod:`kdc.training.data`, whatever the input (array, memmap, ``.npy`` file,
``tf.data``), and run Keras' own ``fit``.

Under a mixed-precision plan a copy of the model made under that dtype
policy is trained, and its weights are copied back, so the model itself
stays float32 (see :mod:`kdc.training.precision`).
"""

import math
import sys
import time

import keras

from kdc._progress import INTERVAL, say
from kdc._validation import check_float
from kdc.training import data as _data
from kdc.training import plan as _plan
from kdc.training.augment import ReconstructionTrainer, shift_layer
from kdc.training.optimizers import ConstantThenLinearDecay, make_optimizer
from kdc.training.precision import dtype_policy, policy_copy
from kdc.training.threads import SpreadThreads


def plan_phase(phase, x, *, epochs, batch_size, precision, learning_rate, jit_compile="auto",
               steps_per_execution="auto", lr_decay_end=0.0, shift=0, unshifted_end=0.0,
               callbacks=(), pin_threads=False, steps=None, distributed=None):
    """The :class:`~kdc.training.plan.PhasePlan` of one phase on ``x``.

    Args:
        phase: "pretrain" or "self_training".
        x: the phase's input (an array or a stream of :mod:`kdc.training.data`).
        epochs: int, passes over ``x``.
        batch_size: int, the global batch size.
        precision: the resolved dtype policy name.
        learning_rate: float, the base learning rate.
        jit_compile, steps_per_execution: the estimator's parameters ("auto" or a value).
        lr_decay_end, unshifted_end: fractions of the phase's steps at its end.
        shift: int, the largest image shift in pixels (0: none).
        callbacks: the user's Keras callbacks.
        pin_threads: bool.
        steps: the phase's steps when they are not ``epochs`` full passes
            (self-training's ``max_iter``).
        distributed: the distribution strategy, or None.
    """
    rate = check_float(learning_rate, "learning_rate", minimum=0.0, exclusive_min=True)
    per_epoch = _data.steps_per_epoch(x, batch_size)
    steps = epochs * per_epoch if steps is None else steps
    name = type(distributed).__name__ if distributed is not None else None
    return _plan.PhasePlan(
        phase=phase, epochs=int(epochs), steps=int(steps), steps_per_epoch=int(per_epoch),
        batch_size=int(batch_size), precision=precision,
        jit_compile=_plan.resolve_jit_compile(jit_compile, phase, precision, name),
        steps_per_execution=_plan.resolve_steps_per_execution(
            steps_per_execution, per_epoch, callbacks, distributed=name is not None),
        learning_rate=float(f"{rate:.6g}"),
        lr_decay_end=_plan.resolve_decay(lr_decay_end, steps, callbacks),
        shift=int(shift),
        shift_until=_plan.shift_until(steps, _plan.check_fraction(
            unshifted_end, "unshifted_end")) if shift else None,
        data=_data.describe_kind(x), distributed=name, pin_threads=bool(pin_threads))


def pretrain(model, x, plan, *, optimizer, callbacks=(), verbose=1, input_shape,
             image_shape=None, seed=None):
    """Train ``model`` to reconstruct ``x`` by ``plan``; returns (history dict, seconds).

    Args:
        model: the float32 autoencoder; it holds the trained weights afterwards.
        x: an array or a stream of :mod:`kdc.training.data`.
        plan: the phase's :class:`~kdc.training.plan.PhasePlan`.
        optimizer: a Keras optimizer name or instance (see
            :func:`~kdc.training.optimizers.make_optimizer`).
        callbacks: the user's Keras callbacks.
        verbose: 0 silent; 1 one progress bar for the phase (:class:`PhaseProgress`);
            2 or more Keras' own output per epoch (see :func:`keras_verbose`).
        input_shape: one model input's shape (to build a mixed-precision copy).
        image_shape: the images' (height, width[, channels]) when ``plan`` shifts.
        seed: int or None, the seed of the shifts.
    """
    trained = policy_copy(model, plan.precision, input_shape) if plan.epochs else model
    rate = plan.learning_rate
    if plan.lr_decay_end:
        rate = ConstantThenLinearDecay(plan.learning_rate, plan.steps, plan.lr_decay_end)
    augmentation = shift_layer(plan.shift, image_shape or (), until=plan.shift_until, seed=seed)
    with dtype_policy(plan.precision):
        target = trained if augmentation is None else ReconstructionTrainer(trained, augmentation)
    compile_args = dict(optimizer=make_optimizer(optimizer, rate), jit_compile=plan.jit_compile,
                        steps_per_execution=plan.steps_per_execution)
    if augmentation is None:
        compile_args["loss"] = "mse"
    target.compile(**compile_args)
    if target is not model:
        model.compile(optimizer=make_optimizer(optimizer, plan.learning_rate), loss="mse")
    if plan.epochs == 0:
        return {"loss": []}, 0.0
    start = time.perf_counter()
    bar = verbose == 1  # kdc's bar for the phase instead of Keras' output per epoch
    history = target.fit(
        **_data.fit_arguments(x, plan.batch_size, epochs=plan.epochs), epochs=plan.epochs,
        callbacks=[*_phase_callbacks(callbacks, plan),
                   *([PhaseProgress(plan.phase, plan.epochs)] if bar else [])],
        verbose=0 if bar else keras_verbose(verbose))
    if trained is not model:
        model.set_weights(trained.get_weights())
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}, (
        time.perf_counter() - start)


def fit_by_plan(model, x, plan, *, callbacks=(), verbose=0, indices=False,
                rate_name="learning_rate"):
    """``model.fit`` on ``x`` for ``plan.epochs`` epochs of shuffled batches (a compiled model).

    With ``indices`` the targets are each row's index (DEC/IDEC's rows of P).
    A non-finite loss ends training with a ValueError naming ``rate_name``
    (:class:`StopOnDivergence`).
    """
    return model.fit(
        **_data.fit_arguments(x, plan.batch_size, epochs=plan.epochs, indices=indices),
        epochs=plan.epochs, callbacks=_phase_callbacks(callbacks, plan, rate_name),
        verbose=keras_verbose(verbose))


def _phase_callbacks(callbacks, plan, rate_name="learning_rate"):
    """The user's callbacks, then the divergence guard and (opt-in) thread pinning."""
    guard = StopOnDivergence(plan.phase, plan.learning_rate, plan.epochs, rate_name)
    return [*(callbacks or ()), guard, *([SpreadThreads()] if plan.pin_threads else [])]


class StopOnDivergence(keras.callbacks.Callback):
    """Ends training with a ValueError at the end of the first epoch whose loss is not finite.

    A diverged run (NaN or infinite loss) would otherwise train to its last
    epoch and fail later, far from the cause. The error names the phase, the
    epoch and the learning rate.

    Args:
        phase: "pretrain" or "self_training".
        learning_rate: float, the phase's base rate (named in the error).
        epochs: int, the phase's epochs.
        rate_name: the estimator argument that sets the rate.
    """

    def __init__(self, phase, learning_rate, epochs, rate_name="learning_rate"):
        super().__init__()
        self.phase, self.learning_rate = phase, learning_rate
        self.epochs, self.rate_name = epochs, rate_name

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            what = "pretraining" if self.phase == "pretrain" else "self-training"
            raise ValueError(
                f"{what} diverged: its loss was {float(loss)} in epoch {epoch + 1} of "
                f"{self.epochs}. Lower the learning rate. Received: "
                f"{self.rate_name}={self.learning_rate:g}")


class PhaseProgress(keras.callbacks.Callback):
    """One progress display for a whole training phase: its epochs, with the loss.

    :func:`pretrain` shows it at ``verbose=1``, with Keras' own output (a bar,
    or two lines, per epoch) turned off. On a terminal it is a
    :class:`keras.utils.Progbar` over the phase's epochs, redrawn in place;
    otherwise (a file, a pipe) a ``[kdc]`` line at most every ``interval``
    seconds, so that a log shows a long phase advance without a line per
    epoch.

    Args:
        phase: the phase's name, for the lines ("pretrain").
        epochs: int, the phase's epochs.
        interval: seconds between two lines when the output is not a terminal.
        terminal: None (detect: standard output is a terminal, or a Jupyter
            kernel) or a bool.
    """

    def __init__(self, phase, epochs, *, interval=INTERVAL, terminal=None):
        super().__init__()
        self.phase, self.epochs, self.interval = phase, int(epochs), interval
        self.terminal = terminal

    def on_train_begin(self, logs=None):
        terminal = self.terminal
        if terminal is None:
            terminal = sys.stdout.isatty() or "ipykernel" in sys.modules
        # every value as it is at the epoch's end (no averaging over epochs)
        self.bar = keras.utils.Progbar(self.epochs, unit_name="epoch",
                                       stateless_metrics=()) if terminal else None
        self._start = self._last = time.perf_counter()
        self._epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        self._epoch = epoch + 1
        values = [(k, float(v)) for k, v in (logs or {}).items() if _is_scalar(v)]
        if self.bar is not None:
            self.bar.update(self._epoch, values=values)
            return
        now = time.perf_counter()
        if now - self._last >= self.interval and self._epoch < self.epochs:
            self._last = now
            say(f"{self.phase}: epoch {self._epoch}/{self.epochs}, "
                + "".join(f"{k} {v:.4g}, " for k, v in values) + f"{now - self._start:.0f} s")

    def on_train_end(self, logs=None):
        if self.bar is not None and 0 < self._epoch < self.epochs:  # stopped early
            self.bar.update(self._epoch, finalize=True)


def _is_scalar(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def keras_verbose(verbose):
    """Our verbosity (0 silent, else progress) to Keras' fit verbosity, where Keras' own
    output is shown (``pretrain`` at ``verbose >= 2``, ``fit_by_plan``).

    A progress bar on a terminal, one line per epoch when the output is a file
    or a pipe (where a progress bar would print a line per step).
    """
    if not verbose:
        return 0
    return 1 if sys.stdout.isatty() else 2


__all__ = ["PhaseProgress", "StopOnDivergence", "fit_by_plan", "keras_verbose", "plan_phase",
           "pretrain"]
