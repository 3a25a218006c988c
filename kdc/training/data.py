"""Every kind of input behind one interface: arrays, memmaps, ``.npy`` paths, ``tf.data``.

An estimator's validated, scaled input is an :class:`InMemory` (an array
held in memory) or a :class:`Stream` (data read chunk by chunk). Both offer
the same methods (``n_samples``, ``configured``, ``map_chunks``,
``mean_squared_error``, ``training_dataset``, ``prediction_input``, ``kind``),
so the estimators and the training engine have no per-input-kind branches.

Data that is not held in memory (a memmap or ``.npy`` file of at least
``STREAM_MIN_BYTES``, a ``tf.data.Dataset``) becomes a :class:`Stream` (see
:func:`as_stream`) and is never copied whole into memory:

- ``fit`` starts with one validation pass that counts the rows, checks them
  (numbers, finite values, one sample shape) and accumulates the scaling
  statistics chunk by chunk (:mod:`kdc.training.scaling`);
- training reads the data through a ``tf.data`` pipeline: the rows are shuffled
  with a buffer of ``SHUFFLE_BUFFER_ROWS`` rows (memory-mapped rows are first
  read in blocks of ``SHUFFLE_BLOCK_ROWS`` taken in random order), batched,
  scaled per batch with the learnt scaling and prefetched; DEC/IDEC batches
  carry each row's index, which selects its row of the target distribution P;
- embeddings, predictions and DEC's target distribution are computed chunk by
  chunk, in order; only the small (n_samples, embedding_dim) embedding and the
  (n_samples, n_clusters) soft assignments are kept.

A ``tf.data.Dataset`` must yield batches of x, or ``(x,)`` / ``(x, y)`` tuples
whose x is used, and the same rows in the same order on every pass: do not
shuffle it yourself (kdc shuffles its training pipeline) and ``.batch()`` it.
"""

import copy
import math
import os
import sys
from pathlib import Path

import numpy as np

from kdc._validation import NPY_PARSE_ERRORS
from kdc.training.scaling import EMBED_BATCH, ScalingStatistics, chunk_rows

SHUFFLE_BUFFER_ROWS = 16_384
SHUFFLE_BLOCK_ROWS = 1024
# Memory-mapped arrays and .npy files smaller than this are read into memory
# and take the in-memory path, which is faster: streaming pays for its
# tf.data pipelines, and only data that does not fit comfortably needs it.
STREAM_MIN_BYTES = 256 * 2**20


def fit_arguments(x, batch_size, *, epochs, indices=False):
    """The data arguments of ``model.fit`` for ``epochs`` epochs on ``x`` in shuffled batches.

    ``x`` is an array, an :class:`InMemory` or a :class:`Stream`. Targets
    are ``x`` itself (autoencoders) or, with ``indices=True``, each row's
    index (DEC/IDEC self-training). Shuffling seeds come from NumPy's global
    generator, which ``random_state`` has seeded: repeatable fits, and
    different runs otherwise. (Image shifts are part of the trained model,
    see :mod:`kdc.training.augment`.)

    On the TensorFlow backend one ``tf.data`` pipeline serves all the epochs,
    passed with ``steps_per_epoch``: Keras then reads it through one iterator
    for the whole fit instead of making one per epoch, as it does for arrays;
    ending such an iterator waits for tf.data's autotuning thread, which
    stalled the start of epochs, so the pipeline also runs with autotuning
    off. On other backends in-memory rows go to Keras' own array pipeline
    (shuffled by Keras); streamed input needs TensorFlow.
    """
    import keras

    data = as_data(x)
    if keras.backend.backend() != "tensorflow":
        if isinstance(data, Stream):
            _check_backend(data)  # raises: streams are read through tf.data
        rows = data.array
        target = np.arange(rows.shape[0], dtype="int64") if indices else rows
        return dict(x=rows, y=target, batch_size=batch_size, shuffle=True)
    seed = int(np.random.randint(2**31 - 1))
    dataset = data.training_dataset(batch_size, indices=indices, seed=seed, epochs=epochs)
    return dict(x=dataset, steps_per_epoch=steps_per_epoch(x, batch_size), shuffle=False)


def as_data(x):
    """``x`` itself if it is an :class:`InMemory` or a :class:`Stream`, else an :class:`InMemory`
    of the (already validated) array ``x``."""
    return x if isinstance(x, (InMemory, Stream)) else InMemory(np.asarray(x))


def steps_per_epoch(x, batch_size):
    """The number of training batches in one pass over ``x`` (an array, InMemory or Stream)."""
    return math.ceil(as_data(x).n_samples / batch_size)


def describe_kind(x):
    """What kind of input ``x`` is: "array", "memmap", ".npy file" or "tf.data"."""
    return as_data(x).kind


def scale_rows(rows, scale, offset):
    """``rows`` (any sample shape) scaled feature-wise as ``flat * scale + offset``, float32."""
    flat = rows.reshape(rows.shape[0], -1)
    return (flat * scale + offset).astype("float32").reshape(rows.shape)


class InMemory:
    """Validated float32 rows held in memory, with the methods of :class:`Stream`.

    Args:
        array: the rows, already checked and scaled.
    """

    kind = "array"

    def __init__(self, array):
        self.array = array

    @property
    def n_samples(self):
        return int(self.array.shape[0])

    @property
    def shape(self):
        return self.array.shape

    def with_scaling(self, scale, offset):
        """The rows scaled as ``flat * scale + offset`` (None: unchanged), in float32."""
        if scale is None:
            return self
        return InMemory(scale_rows(self.array, scale, offset))

    def configured(self, *, model_shape=None):
        """A view with samples reshaped to ``model_shape``."""
        if model_shape is None:
            return self
        return InMemory(self.array.reshape((self.array.shape[0],) + tuple(model_shape)))

    def map_chunks(self, function):
        """``function`` of all the rows (it chunks them itself when it must)."""
        return function(self.array)

    def mean_squared_error(self, function):
        """Mean over rows and values of ``(function(rows) - rows) ** 2`` (a reconstruction)."""
        return float(np.mean((function(self.array) - self.array) ** 2))

    def training_dataset(self, batch_size, *, indices=False, seed=None, epochs=1):
        """Shuffled batches for ``model.fit`` (see :func:`fit_arguments`)."""
        return _array_training_dataset(self.array, batch_size, epochs, indices,
                                       0 if seed is None else seed)

    def prediction_input(self, batch_size):
        """The rows in order, for ``predict`` passes: the array itself."""
        return self.array


def _array_training_dataset(x, batch_size, epochs, indices, seed):
    """``epochs`` passes over the rows of the array ``x`` in a new random order each.

    Each epoch's order is a stateless shuffle seeded by ``(seed, epoch)``; its
    batches are gathered from one copy of ``x`` held by TensorFlow (as Keras'
    own array pipeline does), the last batch of an epoch being partial.
    """
    import tensorflow as tf

    n = x.shape[0]
    data = tf.constant(x)
    seed = tf.constant(seed, tf.int64)

    def order(epoch):
        return tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([seed, epoch]))

    def gather(rows):
        batch = tf.gather(data, rows)
        return (batch, rows) if indices else (batch, batch)

    rows = tf.data.Dataset.range(epochs).map(order).prefetch(1).flat_map(
        lambda permutation: tf.data.Dataset.from_tensor_slices(permutation).batch(batch_size))
    return without_autotuning(rows.map(gather, num_parallel_calls=2).prefetch(2))


def without_autotuning(dataset):
    """``dataset`` with tf.data's autotuning and static rewrites off.

    Without autotuning an iterator has no optimisation thread, whose end a
    finished iterator waits for (see :func:`fit_arguments`); without the
    static rewrites the pipeline, which may hold all of ``x``, is not
    serialised when an iterator starts (Keras' array pipeline turns them off
    for the same reason).
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_optimization.apply_default_optimizations = False
    return dataset.with_options(options)


def is_dataset(x):
    """Whether ``x`` is a ``tf.data.Dataset`` (without importing TensorFlow)."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(x, tf.data.Dataset)


def as_stream(x, name="x"):
    """A :class:`Stream` over ``x`` if it is a memmap, a ``.npy`` path or a dataset, else None.

    Raises:
        FileNotFoundError: ``x`` names a ``.npy`` file that does not exist.
        ValueError: ``x`` names an existing file that is not ``.npy``, a ``.npy``
            file that cannot be memory-mapped, or a dataset yielding something
            other than numeric batches.
    """
    if isinstance(x, Stream):
        return x
    if isinstance(x, (str, os.PathLike)):
        path = Path(os.fspath(x)).expanduser()
        if path.suffix.lower() != ".npy":
            if path.is_file():
                raise ValueError(
                    f"{name} given as a path must name a .npy file (read with "
                    f"np.load(mmap_mode='r')). Received: {name}='{path}'. Load other formats "
                    "with kdc.datasets.load(path) or np.load and pass the array.")
            return None  # an ordinary string: check_array explains what x must be
        if not path.is_file():
            raise FileNotFoundError(
                f"{name} names the file '{path}', which does not exist: expected the path of "
                "a .npy file.")
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except NPY_PARSE_ERRORS as exc:
            raise ValueError(
                f"{name} must be a .npy file of numbers that can be memory-mapped. Could not "
                f"open '{path}': {exc}") from None
        return ArrayStream(array, name, source=f"'{path}'")
    if isinstance(x, np.memmap):
        return ArrayStream(x, name)
    if is_dataset(x):
        return DatasetStream(x, name)
    return None


def _check_backend(stream):
    """Streams are read through tf.data: refuse them on another Keras backend."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "x streamed from a memmap, a .npy path or a tf.data.Dataset needs the TensorFlow "
            f"backend of Keras (KERAS_BACKEND=tensorflow). Received: {stream.describe()} with "
            f"the {keras.backend.backend()} backend. Pass an in-memory array instead.")
    return stream


def resolve(x, name="x"):
    """``(stream, x)`` for an estimator's input ``x``.

    ``stream`` is a :class:`Stream` for data that is streamed (a dataset, or a
    memmap / ``.npy`` file of at least ``STREAM_MIN_BYTES``), else None; then
    ``x`` is the input to validate as an array (a small memmap or ``.npy``
    file read into memory, anything else unchanged).
    """
    stream = as_stream(x, name)
    if isinstance(stream, ArrayStream) and stream.array.nbytes < STREAM_MIN_BYTES:
        return None, np.array(stream.array)
    return (None if stream is None else _check_backend(stream)), x


def n_samples_hint(x):
    """The number of rows of ``x`` when known without reading it, else None."""
    if isinstance(x, (str, os.PathLike)):
        stream = as_stream(x)
        return None if stream is None else stream.n_samples
    if is_dataset(x):
        return None
    shape = getattr(x, "shape", None)  # sparse matrices have no len()
    return shape[0] if shape else (len(x) if hasattr(x, "__len__") else None)


class Stream:
    """Rows of ``x`` read chunk by chunk; see :class:`ArrayStream` and :class:`DatasetStream`.

    After :meth:`scan` (``fit``) the row count is known; the estimator then
    attaches its scaling and model input shape with :meth:`configured`.
    """

    def __init__(self, name, sample_shape, n_samples):
        self.name = name
        self.sample_shape = sample_shape  # None until the first batch of a dataset
        self.n_samples = n_samples  # None until a dataset is scanned
        self.scale = self.offset = self.model_shape = None
        self.check_sample_shape = None  # the estimator's check of the feature count

    @property
    def shape(self):
        """``(n_samples, *sample_shape)``; ``n_samples`` is None before a dataset is scanned."""
        return (self.n_samples,) + tuple(self.sample_shape or ())

    @property
    def n_features(self):
        return int(np.prod(self.sample_shape))

    def with_scaling(self, scale, offset):
        """A copy that scales each chunk or batch as ``flat * scale + offset`` when read."""
        return self.configured(scale=scale, offset=offset)

    def configured(self, **attributes):
        """A copy with ``scale``, ``offset``, ``model_shape``... set."""
        out = copy.copy(self)
        out.__dict__.update(attributes)
        return out

    def describe(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _source_batches(self, rows):  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------- numpy passes
    def chunks(self, rows=None):
        """Validated float32 chunks of ``rows`` rows (the last may be shorter), in order."""
        start, pending, count = 0, [], 0
        for batch in self._source_batches(rows):
            batch = self._convert(batch, start)
            start += batch.shape[0]
            rows = rows or chunk_rows(self.n_features)
            pending.append(batch)
            count += batch.shape[0]
            while count >= rows:
                merged = pending[0] if len(pending) == 1 else np.concatenate(pending)
                yield merged[:rows]
                pending, count = [merged[rows:]], count - rows
        if count:
            yield pending[0] if len(pending) == 1 else np.concatenate(pending)

    def scan(self, scale, min_samples=1):
        """Validate every row and count them; returns the ``(scale, offset)`` of ``scale``."""
        stats = None
        for chunk in self.chunks():
            flat = chunk.reshape(chunk.shape[0], -1)
            stats = stats or ScalingStatistics(scale or "none", flat.shape[1],
                                               flat=chunk.ndim == 2)
            stats.update(flat)
        self.n_samples = 0 if stats is None else stats.n_samples
        if self.n_samples < min_samples:
            raise ValueError(
                f"{self.name} must have at least {min_samples} sample(s). Received: "
                f"{self.describe()} with {self.n_samples} sample(s) while a minimum of "
                f"{min_samples} is required.")
        return stats.result()

    def model_chunks(self, rows=None):
        """Scaled chunks shaped for the model, float32, in order."""
        for chunk in self.chunks(rows):
            if self.scale is not None:
                chunk = scale_rows(chunk, self.scale, self.offset)
            yield chunk.reshape((chunk.shape[0],) + tuple(self.model_shape))

    def map_chunks(self, function):
        """``function`` applied to every model chunk, results concatenated (at least one row)."""
        parts = [function(chunk) for chunk in self.model_chunks()]
        if not parts:
            raise ValueError(
                f"{self.name} must have at least 1 sample. Received: {self.describe()} "
                "with 0 samples.")
        return np.concatenate(parts)

    def mean_squared_error(self, function):
        """Mean over rows and values of ``(function(chunk) - chunk) ** 2`` (a reconstruction)."""
        errors = self.map_chunks(lambda chunk: np.square(function(chunk) - chunk).reshape(
            chunk.shape[0], -1).sum(axis=1, dtype="float64"))
        return float(errors.sum() / (errors.shape[0] * self.n_features))

    def _convert(self, batch, start):
        """One source batch as float32 (uint8 divided by 255), checked like check_array."""
        arr = np.asarray(batch)
        _require_numbers(arr.dtype, self.name, self.describe())
        if arr.ndim < 2:
            raise ValueError(
                f"{self.name} must yield batches of shape (batch_size, n_features) or images "
                f"(batch_size, height, width[, channels]). Received: {self.describe()} with a "
                f"batch of shape {arr.shape}. Batch a dataset of rows with dataset.batch(256).")
        shape = tuple(arr.shape[1:])
        if self.check_sample_shape is not None:
            self.check_sample_shape(shape)
        if self.sample_shape is None:
            if int(np.prod(shape)) == 0:
                raise ValueError(
                    f"{self.name} must have at least 1 feature. Received: {self.describe()} "
                    f"with samples of shape {shape}.")
            self.sample_shape = shape
        elif shape != tuple(self.sample_shape):
            raise ValueError(
                f"{self.name} must yield samples of one shape: the rows before row {start} have "
                f"shape {tuple(self.sample_shape)}. Received: {self.describe()} with samples "
                f"of shape {shape} from row {start}.")
        out = arr.astype("float32", copy=False)
        if arr.dtype == np.uint8:
            out = out / np.asarray(255.0, dtype="float32")
        if not np.isfinite(out).all():
            first = start + int(np.argwhere(~np.isfinite(out.reshape(out.shape[0], -1)))[0][0])
            raise ValueError(
                f"{self.name} must not contain NaN or infinity. Received: {self.describe()} "
                f"with a non-finite value in row {first}. Impute or drop those rows first.")
        return out

    # ---------------------------------------------------------- tf.data passes
    def training_dataset(self, batch_size, *, indices=False, seed=None, epochs=1):
        """Shuffled, scaled, batched and prefetched ``tf.data`` pipeline for ``model.fit``.

        Args:
            batch_size: int, the (global) batch size.
            indices: False for ``(x, x)`` batches (autoencoder pretraining),
                True for ``(x, row_index)`` batches (DEC/IDEC self-training).
            seed: int or None, seed of the shuffling.
            epochs: int, the number of passes, each in a new order (see
                :func:`fit_arguments`).
        """
        import tensorflow as tf

        n_features, model_shape = self.n_features, tuple(self.model_shape)
        scale = None if self.scale is None else tf.constant(self.scale)
        offset = None if self.offset is None else tf.constant(self.offset)

        def prepare(x, index):
            flat = tf.reshape(x, (-1, n_features))
            if scale is not None:
                flat = flat * scale + offset
            x = tf.reshape(flat, (-1,) + model_shape)
            return (x, index) if indices else (x, x)

        rows = self._tf_rows(seed)
        rows = rows.shuffle(min(SHUFFLE_BUFFER_ROWS, self.n_samples), seed=seed,
                            reshuffle_each_iteration=True)
        data = rows.batch(batch_size).map(prepare, num_parallel_calls=2).repeat(epochs)
        return without_autotuning(data.prefetch(2))

    @property
    def kind(self):
        """"memmap", ".npy file" or "tf.data"."""
        raise NotImplementedError  # pragma: no cover - abstract

    def prediction_input(self, batch_size=EMBED_BATCH):
        """The rows in order, for ``predict`` passes: :meth:`predict_dataset`."""
        return self.predict_dataset(batch_size)

    def predict_dataset(self, batch_size=EMBED_BATCH):
        """The scaled model inputs in order, in batches of ``batch_size``, as a ``tf.data.Dataset``
        (scaled in NumPy exactly as :meth:`model_chunks`)."""
        import tensorflow as tf

        step = max(chunk_rows(self.n_features) // batch_size, 1) * batch_size

        def batches():
            for chunk in self.model_chunks(step):
                for i in range(0, chunk.shape[0], batch_size):
                    yield chunk[i:i + batch_size]

        spec = tf.TensorSpec((None,) + tuple(self.model_shape), tf.float32)
        data = tf.data.Dataset.from_generator(batches, output_signature=spec)
        return data.apply(tf.data.experimental.assert_cardinality(
            math.ceil(self.n_samples / batch_size)))


def _require_numbers(dtype, name, received):
    """Refuse a non-numeric dtype with the error check_array would give."""
    if dtype.kind not in "biuf":
        raise ValueError(f"{name} must contain numbers (int, uint or float), got dtype {dtype}. "
                         f"Received: {received}")


class ArrayStream(Stream):
    """A memory-mapped (or any numpy) array read in chunks of rows."""

    def __init__(self, array, name="x", source=None):
        self.array, self._source = array, source
        _require_numbers(array.dtype, name, f"{name}={self._describe(array)}")
        if array.ndim < 2:
            raise ValueError(
                f"{name} must be a 2-D array of shape (n_samples, n_features) or images "
                f"(n_samples, height, width[, channels]). Received: {name}="
                f"{self._describe(array)}")
        if int(np.prod(array.shape[1:])) == 0:
            raise ValueError(
                f"{name} must have at least 1 feature. Received: {name}="
                f"{self._describe(array)}")
        super().__init__(name, tuple(array.shape[1:]), int(array.shape[0]))

    @property
    def kind(self):
        return ".npy file" if self._source else "memmap"

    def _describe(self, array):
        what = f"array of shape {array.shape} and dtype {array.dtype}"
        return f"{self._source} ({what})" if self._source else f"a memory-mapped {what}"

    def describe(self):
        return f"{self.name}={self._describe(self.array)}"

    def _source_batches(self, rows):
        step = rows or chunk_rows(self.n_features)
        for start in range(0, self.array.shape[0], step):
            yield self.array[start:start + step]

    def _tf_rows(self, seed):
        import tensorflow as tf

        step, n = SHUFFLE_BLOCK_ROWS, self.array.shape[0]

        def read(block):
            start = int(block) * step
            rows = self._convert(self.array[start:start + step], start)
            return rows, np.arange(start, start + rows.shape[0], dtype="int64")

        def load(block):
            rows, index = tf.numpy_function(read, [block], (tf.float32, tf.int64))
            return (tf.ensure_shape(rows, (None,) + tuple(self.sample_shape)),
                    tf.ensure_shape(index, (None,)))

        blocks = tf.data.Dataset.range(math.ceil(n / step))
        blocks = blocks.shuffle(math.ceil(n / step), seed=seed, reshuffle_each_iteration=True)
        return blocks.map(load, num_parallel_calls=tf.data.AUTOTUNE).unbatch()


class DatasetStream(Stream):
    """A ``tf.data.Dataset`` of x batches (or ``(x,)`` / ``(x, y)`` tuples: x is used)."""

    def __init__(self, dataset, name="x"):
        import tensorflow as tf

        spec = dataset.element_spec
        if isinstance(spec, (tuple, list)) and spec:
            dataset = dataset.map(lambda *parts: parts[0])
            spec = spec[0]
        if not isinstance(spec, tf.TensorSpec):
            hint = (" Map it to x first, e.g. dataset.map(lambda d: d['x'])."
                    if isinstance(spec, dict) else "")
            raise ValueError(
                f"{name} must be a tf.data.Dataset yielding batches of x (dense tensors), or "
                f"(x,) / (x, y) tuples. Received: a tf.data.Dataset with element_spec "
                f"{spec!r}.{hint}")
        self.dataset, self._spec = dataset, spec
        dtype = spec.dtype
        if dtype.is_complex or not (dtype.is_integer or dtype.is_floating or dtype.is_bool):
            raise ValueError(
                f"{name} must contain numbers (int, uint or float), got dtype {dtype.name}. "
                f"Received: {self.describe(name)}")
        rank = spec.shape.rank
        if rank is not None and rank < 2:
            raise ValueError(
                f"{name} must be a tf.data.Dataset yielding batches of shape (batch_size, "
                f"n_features) or images (batch_size, height, width[, channels]). Received: "
                f"{self.describe(name)}. Batch a dataset of rows with dataset.batch(256).")
        sample_shape = None
        if rank is not None and None not in spec.shape[1:]:
            sample_shape = tuple(int(d) for d in spec.shape[1:])
        super().__init__(name, sample_shape, None)

    kind = "tf.data"

    def describe(self, name=None):
        return (f"{name or self.name}: a tf.data.Dataset yielding {self._spec.dtype.name} "
                f"tensors of shape {tuple(self._spec.shape)}")

    def _source_batches(self, rows):
        yield from self.dataset.as_numpy_iterator()

    def _tf_rows(self, seed):
        import tensorflow as tf

        sample_shape = tuple(self.sample_shape)
        uint8 = self._spec.dtype == tf.uint8

        def to_float(x):
            x = tf.cast(x, tf.float32)
            x = x / 255.0 if uint8 else x
            return tf.ensure_shape(x, (None,) + sample_shape)

        rows = self.dataset.map(to_float, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
        return rows.enumerate().map(lambda index, x: (x, index))
