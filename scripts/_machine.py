"""The machine's limits for scripts/benchmark.py: matmul GFLOP/s, FLOP counts, memory.

- :func:`autoencoder_flops_per_sample` counts the training FLOPs of the dense
  autoencoder (forward ``2 * in * out`` per dense layer of encoder and
  decoder; a training step is taken as 3x the forward pass: forward, the
  gradient with respect to the activations and the one with respect to the
  weights).
- :func:`probe` times ``tf.linalg.matmul`` in float32 (and bfloat16, labelled
  native or emulated from the CPU flags) on a square matrix and on the shapes
  of the autoencoder's layers at the pretraining batch size.
- :class:`PeakRSS` samples the resident set size of this process in a thread;
  :func:`memory_status` reads VmRSS / VmHWM from ``/proc/self/status``.

Only the standard library and NumPy at import; TensorFlow is imported by
:func:`probe` itself.
"""

import itertools
import os
import platform
import resource
import threading
import time

DEFAULT_HIDDEN = (500, 500, 2000)
DEFAULT_EMBEDDING = 10
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "avx_ne_convert")


# --------------------------------------------------------------------- FLOPs
def dense_autoencoder_dims(input_dim, hidden_dims=DEFAULT_HIDDEN, embedding_dim=DEFAULT_EMBEDDING):
    """The (in, out) sizes of every dense layer of the encoder then the decoder."""
    sizes = [int(input_dim), *map(int, hidden_dims), int(embedding_dim)]
    encoder = list(itertools.pairwise(sizes))
    decoder = [(b, a) for a, b in reversed(encoder)]
    return encoder + decoder


def autoencoder_flops_per_sample(input_dim, hidden_dims=DEFAULT_HIDDEN,
                                 embedding_dim=DEFAULT_EMBEDDING, training=True):
    """FLOPs per sample of the dense autoencoder d-h1-...-e-...-h1-d.

    Forward: ``2 * in * out`` multiply-adds per dense layer (bias and activation
    ignored). Training (``training=True``) is 3x the forward pass.

    Example:
        >>> autoencoder_flops_per_sample(4, (3,), 2, training=False)  # 4-3-2-3-4
        72
    """
    forward = sum(2 * a * b for a, b in dense_autoencoder_dims(input_dim, hidden_dims,
                                                               embedding_dim))
    return 3 * forward if training else forward


# -------------------------------------------------------------------- memory
def memory_status():
    """``{"rss_mb", "hwm_mb"}`` of this process from /proc/self/status (None elsewhere)."""
    out = {"rss_mb": None, "hwm_mb": None}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    out["rss_mb"] = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    out["hwm_mb"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    if out["hwm_mb"] is None:  # getrusage: kilobytes on Linux, bytes on macOS
        scale = 1 / 1024 if platform.system() != "Darwin" else 1 / 2**20
        out["hwm_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    return out


class PeakRSS:
    """Context manager sampling this process' RSS every ``interval`` seconds.

    ``peak_mb`` is the largest RSS seen inside the block (at least the RSS at
    its start and end), ``start_mb`` the RSS on entry. Unlike VmHWM this is a
    per-block peak, so it works when several methods share one process; short
    spikes between two samples can be missed.
    """

    def __init__(self, interval=0.02):
        self.interval = interval
        self.start_mb = self.peak_mb = None
        self._stop = threading.Event()
        self._thread = None

    def _rss(self):
        rss = memory_status()["rss_mb"]
        if rss is None:
            try:
                import psutil

                rss = psutil.Process().memory_info().rss / 2**20
            except ImportError:
                rss = 0.0
        return rss

    def _run(self):
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, self._rss())

    def __enter__(self):
        self.start_mb = self.peak_mb = self._rss()
        self._thread = threading.Thread(target=self._run, name="PeakRSS", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._rss())
        return False


# ------------------------------------------------------------------ the CPU
def cpu_flags():
    """The feature flags of the first CPU in /proc/cpuinfo (empty set elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _time_matmul(tf, a, b, min_seconds, repeats):
    """Best seconds per ``a @ b`` over ``repeats`` timed batches, after a warm-up."""
    for _ in range(2):
        tf.linalg.matmul(a, b)
    t = time.perf_counter()
    tf.linalg.matmul(a, b)
    once = max(time.perf_counter() - t, 1e-6)
    iters = max(1, int(min_seconds / once))
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(iters):
            c = tf.linalg.matmul(a, b)
        _ = c.shape  # eager CPU ops are synchronous; keep the last result alive
        best = min(best, (time.perf_counter() - t) / iters)
    return best


def matmul_shapes(input_dim, batch_size=256, hidden_dims=DEFAULT_HIDDEN,
                  embedding_dim=DEFAULT_EMBEDDING):
    """(m, k, n) of the forward matmuls of the dense autoencoder at ``batch_size``."""
    return [(batch_size, a, b) for a, b in dense_autoencoder_dims(input_dim, hidden_dims,
                                                                   embedding_dim)]


def probe(input_dims=(784,), batch_size=256, square=2048, repeats=5, min_seconds=0.2,
          bf16=True):
    """Measure dense matmul GFLOP/s with TensorFlow on this machine.

    Args:
        input_dims: input dimensions whose autoencoder layer shapes are timed.
        batch_size: the rows of the layer-shaped matmuls.
        square: the side of the square matmul (0 skips it).
        repeats: timed batches per shape; the best is kept.
        min_seconds: the length of one timed batch.
        bf16: also time bfloat16 (native or emulated, see ``bf16_support``).

    Returns:
        dict with ``threads``, ``bf16_support``, ``float32`` and ``bfloat16``
        (each ``{"square": {...}, "layers": {d: {...}}}``) where every entry has
        ``shape``, ``gflops``; per input dim also ``mix_gflops``: the FLOP-weighted
        rate of the autoencoder's forward layer mix (total FLOPs / total time).
    """
    import tensorflow as tf

    flags = cpu_flags()
    native = sorted(f for f in BF16_FLAGS if f in flags)
    out = {
        "threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                    "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
                    "cpus": os.cpu_count()},
        "bf16_support": (f"native ({', '.join(native)})" if native else
                         "emulated (no avx512_bf16/amx_bf16 in /proc/cpuinfo: no native bf16 "
                         "dot-product instructions)"),
        "simd": sorted(f for f in flags if f.startswith(("avx", "amx", "fma"))),
        "repeats": repeats, "min_seconds": min_seconds, "batch_size": batch_size,
    }
    rng = tf.random.Generator.from_seed(0)
    dtypes = [("float32", tf.float32)] + ([("bfloat16", tf.bfloat16)] if bf16 else [])
    for name, dtype in dtypes:
        res = {"layers": {}}
        if square:
            a = tf.cast(rng.normal((square, square)), dtype)
            b = tf.cast(rng.normal((square, square)), dtype)
            sec = _time_matmul(tf, a, b, min_seconds, repeats)
            res["square"] = {"shape": [square, square, square], "seconds": sec,
                             "gflops": 2 * square**3 / sec / 1e9}
        for d in input_dims:
            rows, flops, seconds = [], 0, 0.0
            for m, k, n in matmul_shapes(d, batch_size):
                a = tf.cast(rng.normal((m, k)), dtype)
                b = tf.cast(rng.normal((k, n)), dtype)
                sec = _time_matmul(tf, a, b, min_seconds / 4, repeats)
                rows.append({"shape": [m, k, n], "seconds": sec,
                             "gflops": 2 * m * k * n / sec / 1e9})
                flops += 2 * m * k * n
                seconds += sec
            res["layers"][str(d)] = {"matmuls": rows, "mix_gflops": flops / seconds / 1e9}
        out[name] = res
    return out


def peak_gflops(probe_result, dtype="float32"):
    """The best measured rate of ``dtype`` in a :func:`probe` result (None if absent)."""
    res = (probe_result or {}).get(dtype)
    if not res:
        return None
    rates = [res["square"]["gflops"]] if "square" in res else []
    for layer in res["layers"].values():
        rates += [r["gflops"] for r in layer["matmuls"]]
    return max(rates) if rates else None
