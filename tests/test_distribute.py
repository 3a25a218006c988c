"""Training under a tf.distribute strategy: MirroredStrategy over 2 logical CPUs.

TensorFlow splits a CPU into logical devices only before it initialises its
devices, which the test session has long done, so the distributed fits run
in a fresh Python process (``WORKER``) that reports its results as JSON.
"""

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from kdc.training import distribute as _distribute

ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, pickle, sys, tempfile
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import kdc
from kdc.training import data as _streaming
from kdc.training import plan as _plan
from kdc.metrics import cluster_accuracy
from tests.conftest import DEFAULT_JIT, TINY, make_blobs, _no_jit

_plan.default_jit = _no_jit
_streaming.STREAM_MIN_BYTES = 0  # the memmap below is tiny: stream it anyway
x, y = make_blobs()
folder = tempfile.mkdtemp()
np.save(folder + "/x.npy", x)
memmap = np.load(folder + "/x.npy", mmap_mode="r")
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
out = {"replicas": strategy.num_replicas_in_sync}

def fit(cls, data, **params):
    # float32: the replicas' half batches then round as the whole batch does (bf16 would not).
    return cls(3, n_init=2, random_state=0, precision="float32", **{**TINY, **params}).fit(data)

def compare(name, single, mirrored):
    out[name] = {
        "strategy": type(mirrored.autoencoder_.distribute_strategy).__name__,
        "max_embedding_diff": float(np.abs(single.transform(x) - mirrored.transform(x)).max()),
        "label_agreement": cluster_accuracy(single.labels_, mirrored.labels_),
        "acc": cluster_accuracy(y, mirrored.labels_),
    }

single = fit(kdc.AEKMeans, x)
mirrored = fit(kdc.AEKMeans, x, distribute=strategy)
compare("aekmeans_array", single, mirrored)
with strategy.scope():  # detected: no distribute argument
    scoped = fit(kdc.AEKMeans, memmap, pretrain_epochs=1)
compare("aekmeans_memmap_in_scope", fit(kdc.AEKMeans, memmap, pretrain_epochs=1), scoped)
dec = dict(max_iter=6, update_interval=3, clustering_batch_size=32, pretrain_epochs=0)
dec_mirrored = fit(kdc.DEC, x, distribute=strategy, **dec)
compare("dec_array", fit(kdc.DEC, x, **dec), dec_mirrored)
out["dec_array"]["model_strategy"] = type(dec_mirrored.model_.distribute_strategy).__name__

# The default pretraining asks for XLA, whose steps cannot reach the other
# replica's variables: under a strategy it falls back to Keras' "auto" (no XLA).
_plan.default_jit = DEFAULT_JIT
images = np.random.default_rng(0).uniform(size=(64, 16, 16)).astype("float32")
shifted = kdc.AEKMeans(3, distribute=strategy, augment=1, random_state=0,
                       **{**TINY, "pretrain_epochs": 1}).fit(images)
out["xla_default"] = {"jit_compile": shifted.training_plan_["pretrain"]["jit_compile"],
                      "finite": bool(np.isfinite(shifted.history_["pretrain"]["loss"]).all())}
_plan.default_jit = _no_jit

for params in ({"batch_size": 33}, {"clustering_batch_size": 31}):
    try:
        kdc.DEC(3, distribute=strategy, **{**TINY, **params}).fit(x)
    except ValueError as exc:
        out.setdefault("errors", []).append(str(exc))

mirrored.save(folder + "/model")
loaded = kdc.load(folder + "/model")
unpickled = pickle.loads(pickle.dumps(mirrored))
out["reloaded"] = {
    "distribute": [repr(loaded.distribute), repr(unpickled.distribute)],
    "same_labels": bool(np.array_equal(loaded.predict(x), mirrored.labels_)
                        and np.array_equal(unpickled.predict(x), mirrored.labels_)),
}
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def distributed():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT),
           "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-c", WORKER], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def test_two_replicas(distributed):
    assert distributed["replicas"] == 2


# Array input: the same batches in the same order, so the same training up to
# float rounding. Streamed input: under a strategy Keras reads one batch of the
# pipeline before training (to build the model symbolically), which advances
# its reshuffle-each-epoch seed: the epochs see other (equally random)
# permutations, so the embedding is close but not equal; the labels agree.
@pytest.mark.parametrize("run, max_diff", [
    ("aekmeans_array", 1e-3), ("aekmeans_memmap_in_scope", 0.1), ("dec_array", 1e-3)])
def test_mirrored_fit_matches_the_single_device_fit(distributed, run, max_diff):
    result = distributed[run]
    assert result["strategy"] == "MirroredStrategy"
    assert result["max_embedding_diff"] < max_diff
    assert result["label_agreement"] >= 0.99
    assert result["acc"] >= 0.95


def test_dec_self_training_runs_under_the_strategy(distributed):
    assert distributed["dec_array"]["model_strategy"] == "MirroredStrategy"


def test_default_xla_pretraining_with_shifts_runs_under_the_strategy(distributed):
    assert distributed["xla_default"] == {"jit_compile": "auto", "finite": True}


def test_indivisible_batch_sizes_are_rejected(distributed):
    first, second = distributed["errors"]
    assert first.startswith("batch_size must be divisible by the number of replicas in sync "
                            "(2, MirroredStrategy)")
    assert "Received: batch_size=33 with 2 replicas. Use e.g. batch_size=32." in first
    assert second.startswith("clustering_batch_size must be divisible")
    assert "Received: clustering_batch_size=31 with 2 replicas" in second


def test_the_strategy_is_not_saved(distributed):
    assert distributed["reloaded"] == {"distribute": ["None", "None"], "same_labels": True}


def test_check_batch_sizes_in_process():
    strategy = types.SimpleNamespace(num_replicas_in_sync=4)
    _distribute.check_batch_sizes(strategy, batch_size=256)
    _distribute.check_batch_sizes(None, batch_size=3)
    with pytest.raises(ValueError, match=r"batch_size must be divisible by the number of "
                                         r"replicas in sync \(4, SimpleNamespace\).*"
                                         r"Received: batch_size=6 with 4 replicas\. "
                                         r"Use e\.g\. batch_size=8\."):
        _distribute.check_batch_sizes(strategy, batch_size=6)
