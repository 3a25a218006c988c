"""Dtype policies for training: float32, mixed_float16, mixed_bfloat16 and "auto".

Models are always kept in float32 (``autoencoder_``, the exported and saved
models, the embedding the heads cluster). Training under a mixed policy runs
on a copy created under that policy (Keras layers take the policy they are
created under), whose weights are copied back when training ends.
"""

import contextlib
import functools
import warnings

import keras
import numpy as np

from kdc._validation import check_choice

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16", "auto")
# CPU flags of native bfloat16 dot products (oneDNN runs bf16 matmuls on them;
# without them bf16 is emulated and slower than float32).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def gpu_available():
    """Whether the Keras backend sees a GPU."""
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
        if backend == "jax":
            import jax

            return any(d.platform == "gpu" for d in jax.devices())
        if backend == "torch":
            import torch

            return bool(torch.cuda.is_available())
    except Exception:  # a broken accelerator set-up: fall back to float32
        return False
    return False


@functools.lru_cache(maxsize=1)
def native_bf16_cpu():
    """Whether this CPU has native bfloat16 dot-product instructions (Linux /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return any(flag in line.split() for flag in BF16_CPU_FLAGS)
    except OSError:
        pass
    return False


# "auto" pretrains in bf16 on a CPU (with native bf16) from this many rows on:
# on large data bf16 pretrains faster at the same accuracy; on small data
# float32 is short anyway and bf16 cost accuracy (the measurements are on the
# benchmark page of the docs).
BF16_PRETRAIN_MIN_SAMPLES = 5000


def resolve_precision(precision, *, cpu_bf16=False):
    """The dtype policy name for ``precision``.

    "auto" is mixed_float16 on a GPU; on a CPU it is mixed_bfloat16 when
    ``cpu_bf16`` is set (the caller's phase gains from it at equal accuracy:
    DEC/IDEC self-training, pretraining on enough rows, see
    :func:`pretraining_precision`) and the CPU has native bf16 instructions,
    else float32.
    """
    check_choice(precision, "precision", PRECISIONS)
    if precision == "auto":
        if gpu_available():
            return "mixed_float16"
        return "mixed_bfloat16" if cpu_bf16 and native_bf16_cpu() else "float32"
    return precision


def pretraining_precision(precision, n_samples):
    """The dtype policy of autoencoder pretraining on ``n_samples`` rows.

    "auto" on a CPU with native bf16 is mixed_bfloat16 from
    ``BF16_PRETRAIN_MIN_SAMPLES`` rows on (faster than float32 at equal
    accuracy on large data) and float32 on fewer rows (short anyway, and
    more accurate there); see :func:`resolve_precision` for the rest.
    """
    return resolve_precision(precision, cpu_bf16=n_samples >= BF16_PRETRAIN_MIN_SAMPLES)


@contextlib.contextmanager
def dtype_policy(name):
    """Set the global Keras dtype policy inside the block, restore the previous one after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


# Arguments of kdc's models that a copy takes from the model itself, not from its
# config: a plain Python function or lambda given as an activation is serialised
# by Keras in a form its own deserialisation refuses (or cannot find by name).
LIVE_ARGUMENTS = ("activation", "output_activation")


def policy_copy(model, policy, input_shape):
    """``model`` itself under float32, else a built copy under ``policy`` with its weights.

    The copy is made from ``model.get_config()``, with the activations taken
    from the model as they are (see :data:`LIVE_ARGUMENTS`), so an activation
    that is any callable trains as it does under float32.
    """
    if policy == "float32":
        return model
    with dtype_policy(policy), warnings.catch_warnings():
        # Keras warns that a lambda it serialises cannot be loaded safely; the
        # copy does not load it (the model's own activation is used).
        warnings.filterwarnings("ignore", message="The object being serialized includes a `lambda`")
        config = {k: v for k, v in model.get_config().items() if k != "dtype"}
        for key in LIVE_ARGUMENTS:
            if key in config and hasattr(model, key):
                config[key] = getattr(model, key)
        copy = model.__class__.from_config(config)
        copy(np.zeros((1,) + tuple(input_shape), dtype="float32"))
    copy.set_weights(model.get_weights())
    return copy
