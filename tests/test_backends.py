"""In-memory arrays train and predict under Keras' JAX backend with TensorFlow absent.

Each check runs in a fresh process with ``KERAS_BACKEND=jax`` and an import
hook that makes ``import tensorflow`` fail, as on a machine without it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("jax")
ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import importlib.abc, json, sys, warnings

class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError(f"No module named {name!r} (hidden by the test)")
        return None

sys.meta_path.insert(0, NoTensorFlow())
import numpy as np
import keras
import kdc
from tests.conftest import make_blobs

warnings.simplefilter("ignore")
assert keras.backend.backend() == "jax" and "tensorflow" not in sys.modules
x, y = make_blobs(n_samples=120)
images = np.random.default_rng(0).uniform(size=(64, 16, 16)).astype("float32")
tiny = dict(hidden_dims=(16,), embedding_dim=3, pretrain_epochs=3, batch_size=32,
            verbose=0, random_state=0)
out = {}
for name, est in (("aekmeans", kdc.AEKMeans(3, n_init=2, **tiny)),
                  ("n2d", kdc.N2D(3, n_neighbors=5, **tiny)),
                  ("dec", kdc.DEC(3, max_iter=12, update_interval=4, n_init=2, **tiny)),
                  ("idec", kdc.IDEC(3, max_iter=12, update_interval=4, n_init=2, **tiny))):
    est.fit(x)
    proba = est.predict_proba(x)
    out[name] = {"acc": kdc.metrics.cluster_accuracy(y, est.predict(x)),
                 "rows_sum_to_1": bool(np.allclose(proba.sum(axis=1), 1.0)),
                 "optimizer": type(est.autoencoder_.optimizer).__name__}
shifted = kdc.AEKMeans(3, n_init=1, **tiny).fit(images)
out["shifted"] = shifted.training_plan_["pretrain"]["shift"]
again = kdc.AEKMeans(3, n_init=1, **tiny).fit(images)
out["repeatable"] = bool(np.array_equal(again.transform(images), shifted.transform(images)))
for what, call in (("export", lambda: shifted.export("unused-export")),
                   ("stream", lambda: kdc.AEKMeans(3, **tiny).fit(np.load(sys.argv[1], mmap_mode="r")))):
    try:
        call()
        out[what] = "no error"
    except (ImportError, ValueError) as exc:
        out[what] = f"{type(exc).__name__}: {exc}"
out["tensorflow_imported"] = "tensorflow" in sys.modules
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    import numpy as np

    from kdc.training import data

    path = tmp_path_factory.mktemp("jax") / "rows.npy"
    rows = max(2, data.STREAM_MIN_BYTES // (4 * 8) + 1)  # large enough to be streamed
    np.lib.format.open_memmap(path, mode="w+", dtype="float32", shape=(rows, 8))
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT),
           "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.mark.parametrize("name", ["aekmeans", "n2d", "dec", "idec"])
def test_estimators_train_and_predict_under_jax_without_tensorflow(jax_run, name):
    assert jax_run[name]["acc"] >= 0.9
    assert jax_run[name]["rows_sum_to_1"]
    assert jax_run[name]["optimizer"] == "Adam"  # Keras' own: the fused kernel is TensorFlow's


def test_image_shifts_run_under_jax_and_stay_repeatable(jax_run):
    assert jax_run["shifted"] == 1 and jax_run["repeatable"]


def test_tensorflow_only_parts_say_so(jax_run):
    assert jax_run["export"].startswith("ImportError: export (a TF SavedModel) needs TensorFlow")
    assert jax_run["stream"].startswith("ValueError: x streamed from a memmap")
    assert "KERAS_BACKEND=tensorflow" in jax_run["stream"]
    assert not jax_run["tensorflow_imported"]
