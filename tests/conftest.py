"""Shared test fixtures: seeds and tiny data sets."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # as kdc sets it (kdc._quiet)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Tiny budgets used by every estimator test: small network, few epochs.
TINY = dict(hidden_dims=(32,), embedding_dim=4, pretrain_epochs=3, batch_size=32, verbose=0)


from kdc.training import plan as _plan  # noqa: E402

# The "auto" rule of jit_compile, as the library has it (tests replace it below).
DEFAULT_JIT = _plan.default_jit


def _no_jit(phase, precision, distributed):
    return False if phase == "pretrain" else DEFAULT_JIT(phase, precision, distributed)


@pytest.fixture(scope="session", autouse=True)
def _no_xla():
    """XLA compiles every new model for seconds on CPU, and tests build many tiny
    models: jit_compile="auto" means no XLA in tests. Tests of the default (XLA)
    path put DEFAULT_JIT back (tests/cluster/test_aekmeans.py)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_plan, "default_jit", _no_jit)
        yield


@pytest.fixture(autouse=True)
def _seed_and_policy():
    """Every test starts from the same seed and the float32 dtype policy."""
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


def make_blobs(n_samples=240, n_features=20, n_clusters=3, seed=0, spread=0.05):
    """Well separated Gaussian blobs in [0, 1]^n_features with labels."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(0.1, 0.9, size=(n_clusters, n_features))
    y = np.arange(n_samples) % n_clusters
    x = centers[y] + rng.normal(scale=spread, size=(n_samples, n_features))
    return x.astype("float32"), y.astype("int64")


def make_windows(n=240, steps=32, channels=2, aligned=False, seed=0):
    """Sine windows (steps, channels) of 3 classes, 2, 5 and 9 cycles per window, with a
    little noise; each window and channel starts at a random phase (cut from a recording
    at an arbitrary offset) unless ``aligned`` (every window starts at phase 0)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    t = np.arange(steps)[None, :, None] / steps
    phase = 0.0 if aligned else rng.uniform(0, 2 * np.pi, size=(n, 1, channels))
    x = np.sin(2 * np.pi * np.array([2, 5, 9])[y][:, None, None] * t + phase)
    return (x + 0.1 * rng.normal(size=(n, steps, channels))).astype("float32"), y


@pytest.fixture
def blobs():
    """(x, y): 240 samples, 20 features, 3 well separated clusters."""
    return make_blobs()


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 8x8 digits scaled to [0, 1]: (x of shape (1797, 64), y)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype("float32"), y.astype("int64")
