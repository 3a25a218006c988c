"""Two local workers with a MultiWorkerMirroredStrategy, as the README's recipe starts them.

Keras 3's ``fit`` cannot train across several workers (keras-team/keras#20585),
so kdc refuses such a strategy before any work, on every worker, with one
clear error (before, both workers stopped deep in pretraining with
"Attempt to convert a value (PerReplica...) to a Tensor").
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import sys
import tensorflow as tf
strategy = tf.distribute.MultiWorkerMirroredStrategy()
import numpy as np
import kdc
g = 32 * strategy.num_replicas_in_sync
try:
    kdc.DEC(3, batch_size=g, clustering_batch_size=g, distribute=strategy, pretrain_epochs=1,
            hidden_dims=(8,), verbose=0).fit(sys.argv[1])
    print("RESULT fitted")
except ValueError as exc:
    print("RESULT " + str(exc))
"""


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_local_workers_get_one_clear_error_before_any_work(tmp_path):
    import numpy as np

    from tests.conftest import make_blobs

    np.save(tmp_path / "rows.npy", make_blobs(n_samples=64)[0])
    hosts = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for index in range(2):
        config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(config), "PYTHONPATH": str(ROOT),
               "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path / "rows.npy")],
                                      cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        assert proc.returncode == 0 and lines, err[-3000:]
        results.append(lines[-1][len("RESULT "):])
    for result in results:
        assert result.startswith("distribute: MultiWorkerMirroredStrategy with 2 workers is "
                                 "not supported"), result
        assert "keras-team/keras#20585" in result and "MirroredStrategy()" in result
