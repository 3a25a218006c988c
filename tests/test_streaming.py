"""Streaming input: numpy memmaps, .npy paths and tf.data.Datasets (kdc.training.data)."""

import pickle

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.cluster import MiniBatchKMeans

from kdc import DEC, N2D, AEKMeans
from kdc.callbacks import TargetDistributionUpdate
from kdc.cluster import aekmeans
from kdc.training import data as _streaming
from kdc.training import scaling as _scaling
from kdc.metrics import cluster_accuracy
from kdc.models import DEC as DECModel
from tests.conftest import TINY, make_blobs, make_windows

UNTRAINED = {**TINY, "pretrain_epochs": 0}


@pytest.fixture(autouse=True)
def stream_everything(monkeypatch):
    """The test data is tiny: stream memmaps and .npy files of any size."""
    monkeypatch.setattr(_streaming, "STREAM_MIN_BYTES", 0)


@pytest.fixture(scope="module")
def data():
    """Blobs stretched to [-1, 2], so that scale="auto" min-max scales them."""
    x, y = make_blobs()
    return x * 3.0 - 1.0, y


@pytest.fixture(scope="module")
def npy(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("streaming") / "x.npy"
    np.save(path, data[0])
    return path


def _dataset(x, batch=50, labels=None):
    items = x if labels is None else (x, labels)
    return tf.data.Dataset.from_tensor_slices(items).batch(batch)


def _memmap(path):
    return np.load(path, mmap_mode="r")


def test_small_files_are_read_into_memory_and_large_ones_streamed(data, npy, monkeypatch):
    x, _ = data
    monkeypatch.setattr(_streaming, "STREAM_MIN_BYTES", x.nbytes + 1)
    for source in (_memmap(npy), npy, str(npy)):
        stream, array = _streaming.resolve(source)
        assert stream is None and type(array) is np.ndarray
        np.testing.assert_array_equal(array, x)
    stream, dataset = _streaming.resolve(_dataset(x))  # a dataset is always streamed
    assert isinstance(stream, _streaming.DatasetStream)
    monkeypatch.setattr(_streaming, "STREAM_MIN_BYTES", x.nbytes)
    stream, same = _streaming.resolve(npy)
    assert isinstance(stream, _streaming.ArrayStream) and same == npy
    stream, same = _streaming.resolve(x)  # an array in memory is passed through
    assert stream is None and same is x


# ------------------------------------------------------------------ scaling
@pytest.mark.parametrize("scale", ["auto", "minmax", "standard", "none"])
def test_memmap_scaling_is_identical_to_the_array(data, npy, scale):
    x, _ = data
    a = AEKMeans(3, n_init=1, scale=scale, **UNTRAINED).fit(x)
    b = AEKMeans(3, n_init=1, scale=scale, **UNTRAINED).fit(_memmap(npy))
    if scale == "none":
        assert a.scale_ is None and b.scale_ is None
    else:
        assert b.scale_.dtype == np.float32
        np.testing.assert_array_equal(a.scale_, b.scale_)
        np.testing.assert_array_equal(a.offset_, b.offset_)


def test_chunked_standard_statistics_match_numpy(monkeypatch):
    monkeypatch.setattr(_scaling, "CHUNK_BYTES", 1)  # one EMBED_BATCH of rows per chunk
    monkeypatch.setattr(_scaling, "EMBED_BATCH", 7)
    rng = np.random.default_rng(0)
    flat = (rng.normal(size=(50, 4)) * [1.0, 10.0, 1e3, 0.0] + 5.0).astype("float32")
    scale, offset = _scaling.fit_scaling(flat, "standard")
    std = flat.std(axis=0, dtype="float64")
    std[std == 0] = 1.0
    np.testing.assert_allclose(scale, 1.0 / std, rtol=1e-6)
    np.testing.assert_allclose(offset, -flat.mean(axis=0, dtype="float64") / std, rtol=1e-5,
                               atol=1e-6)
    lo_hi = _scaling.fit_scaling(flat, "minmax")
    np.testing.assert_allclose(lo_hi[0], 1.0 / (flat.max() - flat.min()), rtol=1e-6)


def test_auto_standardises_flat_rows_whose_columns_are_on_different_units(tmp_path):
    """Columns whose ranges spread by 10x or more: each is standardised; one unit: one range."""
    rng = np.random.default_rng(0)
    units = rng.uniform(0, 1, size=(300, 6)) * [1.0, 2.0, 0.05, 0.1, 800.0, 2500.0]
    x = units.astype("float32")
    scale, offset = _scaling.fit_scaling(x, "auto", rows_are_flat=True)
    np.testing.assert_allclose(scale, 1.0 / x.std(axis=0, dtype="float64"), rtol=1e-5)
    same_unit = (rng.uniform(0, 100, size=(300, 6)) * [1.0, 0.9, 0.8, 1.0, 0.7, 1.0])
    scale, _ = _scaling.fit_scaling(same_unit.astype("float32"), "auto", rows_are_flat=True)
    assert np.unique(scale).size == 1  # one global min-max, as before
    # Images keep the global range however their pixels' ranges differ.
    images = x.reshape(300, 2, 3)
    scale, _ = _scaling.fit_scaling(images.reshape(300, -1), "auto", rows_are_flat=False)
    assert np.unique(scale).size == 1
    in_unit_interval = rng.uniform(0, 1, size=(300, 6)) * [1.0, 0.01, 1.0, 0.02, 1.0, 1.0]
    assert _scaling.fit_scaling(in_unit_interval.astype("float32"), "auto",
                                rows_are_flat=True) == (None, None)
    # A streamed file gets the same scaling as the array.
    np.save(tmp_path / "units.npy", x)
    a = AEKMeans(3, n_init=1, **UNTRAINED).fit(x)
    b = AEKMeans(3, n_init=1, **UNTRAINED).fit(_memmap(tmp_path / "units.npy"))
    np.testing.assert_array_equal(a.scale_, b.scale_)
    np.testing.assert_array_equal(a.offset_, b.offset_)
    assert np.unique(a.scale_).size == 6


def test_dataset_of_uint8_images_is_scaled_like_the_array():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(60, 4, 4), dtype=np.uint8)
    a = AEKMeans(2, n_init=1, random_state=0, **UNTRAINED).fit(images)
    b = AEKMeans(2, n_init=1, random_state=0, **UNTRAINED).fit(_dataset(images, 16))
    assert b.scale_ is None and b.input_shape_ == (4, 4)
    np.testing.assert_array_equal(a.transform(images), b.transform(_dataset(images, 7)))


# ---------------------------------------------------------- fit and predict
def test_untrained_fits_match_the_array_path_exactly(data, npy):
    """Without pretraining every input type gives the same embedding, labels and predictions."""
    x, y = data
    ref = AEKMeans(3, n_init=2, random_state=0, **UNTRAINED).fit(x)
    for source in (_memmap(npy), npy, str(npy), _dataset(x, 64), _dataset(x, 64, labels=y)):
        est = AEKMeans(3, n_init=2, random_state=0, **UNTRAINED).fit(source)
        assert est.n_features_in_ == 20 and est.input_shape_ == (20,)
        np.testing.assert_array_equal(est.labels_, ref.labels_)
        np.testing.assert_array_equal(est.transform(source), ref.transform(x))
        np.testing.assert_array_equal(est.predict(source), ref.predict(x))
        np.testing.assert_allclose(est.predict_proba(source), ref.predict_proba(x))
        assert est.score(source) == pytest.approx(ref.score(x), rel=1e-6)


@pytest.mark.parametrize("manifold_input", ["auto", "both"])
def test_n2d_on_the_scaled_rows_of_a_stream_matches_the_array(data, npy, manifold_input):
    """N2D's manifold input built from streamed rows (the scaled rows are read in their own
    pass) gives the array's choice, scores, labels and predictions."""
    x, _ = data
    params = dict(n_neighbors=10, manifold_input=manifold_input, random_state=0, **UNTRAINED)
    ref = N2D(3, **params).fit(x)
    for source in (npy, _dataset(x, 64)):
        est = N2D(3, **params).fit(source)
        assert est.manifold_input_ == ref.manifold_input_
        assert est.manifold_input_scores_ == ref.manifold_input_scores_
        np.testing.assert_array_equal(est.labels_, ref.labels_)
        np.testing.assert_array_equal(est.predict(source), ref.predict(x))
        np.testing.assert_allclose(est.predict_proba(source), ref.predict_proba(x), atol=1e-6)
    if manifold_input == "auto":
        assert set(ref.manifold_input_scores_) == {"embedding", "both", "raw"}


def test_n2d_on_streamed_sequences_compares_their_spectrum_like_the_array(tmp_path):
    """Sequences streamed from a .npy file or a tf.data pipeline keep their shape: "auto"
    compares the spectrum and gives the array's choice, scores and labels."""
    x, _ = make_windows()
    path = tmp_path / "windows.npy"
    np.save(path, x)
    params = dict(n_neighbors=10, random_state=0, **UNTRAINED)
    ref = N2D(3, **params).fit(x)
    assert list(ref.manifold_input_scores_) == ["embedding", "both", "raw", "spectrum"]
    for source in (path, _dataset(x, 64)):
        est = N2D(3, **params).fit(source)
        assert est.input_shape_ == (32, 2)
        assert est.manifold_input_ == ref.manifold_input_
        assert est.manifold_input_scores_ == ref.manifold_input_scores_
        np.testing.assert_array_equal(est.labels_, ref.labels_)
        np.testing.assert_array_equal(est.predict(source), ref.predict(x))


def test_streamed_pretraining_learns_and_predicts_like_arrays(data, npy):
    x, y = data
    est = AEKMeans(3, n_init=2, random_state=0, **TINY).fit(npy)
    assert len(est.history_["pretrain"]["loss"]) == TINY["pretrain_epochs"]
    assert est.history_["pretrain"]["loss"][-1] < est.history_["pretrain"]["loss"][0]
    assert cluster_accuracy(y, est.labels_) >= 0.95
    np.testing.assert_array_equal(est.predict(x), est.labels_)
    np.testing.assert_array_equal(est.predict(_dataset(x, 33)), est.labels_)
    again = AEKMeans(3, n_init=2, random_state=0, **TINY).fit(_memmap(npy))
    np.testing.assert_array_equal(again.transform(x), est.transform(x))  # seeded: repeatable


def _epochs_of(dataset, n_samples, batch_size, epochs):
    """The (x batches, row indices) of each epoch of a training pipeline, checking its batching."""
    batches = list(dataset.as_numpy_iterator())
    steps = -(-n_samples // batch_size)
    assert len(batches) == epochs * steps  # exactly the epochs asked for, then the end
    out = []
    for e in range(epochs):
        part = batches[e * steps:(e + 1) * steps]
        assert [b[0].shape[0] for b in part[:-1]] == [batch_size] * (steps - 1)
        out.append((np.concatenate([b[0] for b in part]), np.concatenate([b[1] for b in part])))
    return out


def test_training_pipeline_visits_every_row_once_per_epoch_scaled(data, npy):
    x, _ = data
    for source in (_memmap(npy), _dataset(x, 64)):
        stream = _streaming.as_stream(source)
        scale, offset = stream.scan("auto", min_samples=2)
        stream = stream.configured(scale=scale, offset=offset, model_shape=(20,))
        epochs = _epochs_of(stream.training_dataset(32, indices=True, seed=1, epochs=2),
                            240, 32, 2)
        for xb, index in epochs:
            np.testing.assert_allclose(xb, x[index] * scale + offset, rtol=1e-6, atol=1e-6)
            assert sorted(index) == list(range(240)) and not np.array_equal(index, np.arange(240))
        assert not np.array_equal(epochs[0][1], epochs[1][1])  # a new order every epoch
        first = next(iter(stream.training_dataset(32, seed=1)))
        np.testing.assert_array_equal(first[0], first[1])  # (x, x) for the autoencoder


def test_array_training_pipeline_shuffles_every_epoch_repeatably(data):
    x, _ = data
    np.random.seed(0)
    args = _streaming.fit_arguments(x, 50, epochs=3, indices=True)
    assert args["steps_per_epoch"] == 5 and args["shuffle"] is False
    epochs = _epochs_of(args["x"], 240, 50, 3)
    for xb, index in epochs:
        np.testing.assert_array_equal(xb, x[index])
        assert sorted(index) == list(range(240)) and not np.array_equal(index, np.arange(240))
    assert len({tuple(index) for _, index in epochs}) == 3  # a new order every epoch
    np.random.seed(0)  # random_state seeds NumPy's generator: the same orders again
    again = _epochs_of(_streaming.fit_arguments(x, 50, epochs=3, indices=True)["x"], 240, 50, 3)
    for (_, index), (_, index2) in zip(epochs, again):
        np.testing.assert_array_equal(index, index2)
    xb, target = next(iter(_streaming.fit_arguments(x, 50, epochs=1)["x"]))
    np.testing.assert_array_equal(xb, target)  # (x, x) for the autoencoder


@pytest.mark.parametrize("streamed", [False, True])
def test_training_reads_one_iterator_for_all_epochs(data, npy, monkeypatch, streamed):
    """Keras makes an iterator per epoch from an array, and ending one could stall for
    seconds (tf.data's autotuning thread): kdc's pipelines serve all epochs from one."""
    made = []
    own_iter = tf.data.Dataset.__iter__

    def counting_iter(self):
        made.append(self)
        return own_iter(self)

    monkeypatch.setattr(tf.data.Dataset, "__iter__", counting_iter)
    x, _ = data
    est = AEKMeans(3, n_init=1, random_state=0, **{**TINY, "pretrain_epochs": 4})
    est.fit(_memmap(npy) if streamed else x)
    assert len(est.history_["pretrain"]["loss"]) == 4
    assert len(made) == 1
    assert not made[0].options().autotune.enabled
    if not streamed:  # DEC: one more for self-training over several epochs; P without any
        made.clear()
        dec = DEC(3, n_init=1, random_state=0, max_iter=40, update_interval=4, tol=0.0,
                  **{**TINY, "batch_size": 16}).fit(x)
        assert dec.n_iter_ == 40
        assert len(dec.history_["clustering"]["step"]) == 11  # steps 0, 4, ..., 40
        assert len(made) == 2


def test_streamed_dec_target_distribution_equals_the_in_memory_one(data, npy):
    x, _ = data
    est = AEKMeans(3, n_init=1, random_state=0, **UNTRAINED).fit(x)
    stream = _streaming.as_stream(npy)
    stream.scan("auto")
    stream = stream.configured(scale=est.scale_, offset=est.offset_, model_shape=(20,))
    xs = (x * est.scale_ + est.offset_).astype("float32")
    model = DECModel(est.encoder_, 3)
    model.build((None, 20))
    model.clustering.set_centers(est.cluster_centers_)
    targets = []
    for source in (xs, stream.predict_dataset(64)):
        update = TargetDistributionUpdate(source, batch_size=64)
        update.set_model(model)
        update.on_train_begin()
        targets.append(keras.ops.convert_to_numpy(model.target))
    assert targets[0].shape == (240, 3)
    np.testing.assert_allclose(targets[1], targets[0], rtol=1e-6, atol=1e-7)


def test_dec_self_trains_on_a_dataset_with_labels_monitored(data):
    x, y = data
    est = DEC(3, n_init=2, max_iter=12, update_interval=4, tol=0.0, clustering_batch_size=32,
              random_state=0, **TINY).fit(_dataset(x, 40), y)
    assert est.n_iter_ == 12 and len(est.history_["clustering"]["acc"]) == 4
    assert cluster_accuracy(y, est.labels_) >= 0.95
    np.testing.assert_array_equal(est.predict(x), est.labels_)


def test_minibatch_kmeans_above_the_threshold(data, monkeypatch):
    x, y = data
    monkeypatch.setattr(aekmeans, "MINIBATCH_KMEANS_MIN_ROWS", 100)
    est = AEKMeans(3, n_init=2, random_state=0, **UNTRAINED).fit(x)
    assert isinstance(est.kmeans_, MiniBatchKMeans)
    assert cluster_accuracy(y, est.labels_) >= 0.95
    assert isinstance(aekmeans.make_kmeans(3, 100, 1, 0), aekmeans.KMeans)


# ------------------------------------------------------------------ bad input
def test_dataset_with_other_features_than_fit_is_rejected(data):
    x, _ = data
    est = AEKMeans(3, n_init=1, **UNTRAINED).fit(_dataset(x))
    with pytest.raises(ValueError, match=r"x must have the 20 features seen in fit.*"
                                         r"Received: x with samples of shape \(19,\)"):
        est.predict(_dataset(x[:, :19]))
    unknown = tf.data.Dataset.from_generator(  # shape known only when iterated
        lambda: iter([x[:10, :19]]), output_signature=tf.TensorSpec((None, None), tf.float32))
    with pytest.raises(ValueError, match=r"x must have the 20 features seen in fit"):
        est.transform(unknown)


def test_dataset_of_strings_is_rejected():
    with pytest.raises(ValueError, match=r"x must contain numbers \(int, uint or float\), got "
                                         r"dtype string.*tf.data.Dataset"):
        AEKMeans(3, **UNTRAINED).fit(tf.data.Dataset.from_tensor_slices([["a", "b"]]).batch(2))


def test_empty_dataset_is_rejected(data):
    x, _ = data
    with pytest.raises(ValueError, match=r"x must have at least 2 sample\(s\)\. Received: x: a "
                                         r"tf.data.Dataset .* with 0 sample\(s\)"):
        AEKMeans(3, **UNTRAINED).fit(_dataset(x[:0]))
    est = AEKMeans(3, n_init=1, **UNTRAINED).fit(x)
    with pytest.raises(ValueError, match=r"x must have at least 1 sample\. .* 0 samples"):
        est.predict(_dataset(x[:0]))


def test_unbatched_nonfinite_and_ragged_datasets_are_rejected(data):
    x, _ = data
    with pytest.raises(ValueError, match=r"yielding batches of shape \(batch_size, n_features\)"
                                         r".*dataset\.batch\(256\)"):
        AEKMeans(3, **UNTRAINED).fit(tf.data.Dataset.from_tensor_slices(x))
    bad = x.copy()
    bad[77, 3] = np.nan
    with pytest.raises(ValueError, match=r"must not contain NaN or infinity.*in row 77"):
        AEKMeans(3, **UNTRAINED).fit(_dataset(bad))
    ragged = tf.data.Dataset.from_generator(
        lambda: iter([x[:10], x[10:20, :19]]),
        output_signature=tf.TensorSpec((None, None), tf.float32))
    with pytest.raises(ValueError, match=r"samples of one shape.*shape \(19,\) from row 10"):
        AEKMeans(3, **UNTRAINED).fit(ragged)
    with pytest.raises(ValueError, match=r"yielding batches of x \(dense tensors\).*"
                                         r"dataset\.map\(lambda d: d\['x'\]\)"):
        AEKMeans(3, **UNTRAINED).fit(tf.data.Dataset.from_tensor_slices({"x": x}).batch(8))


def test_bad_paths_are_rejected(tmp_path, data):
    with pytest.raises(FileNotFoundError, match=r"x names the file .*missing\.npy"):
        AEKMeans(3, **UNTRAINED).fit(tmp_path / "missing.npy")
    (tmp_path / "rows.csv").write_text("1,2\n3,4\n")
    with pytest.raises(ValueError, match=r"x given as a path must name a \.npy file"):
        AEKMeans(3, **UNTRAINED).fit(str(tmp_path / "rows.csv"))
    np.save(tmp_path / "objects.npy", np.array([[{"a": 1}]], dtype=object))
    with pytest.raises(ValueError, match=r"can be memory-mapped"):
        AEKMeans(3, **UNTRAINED).fit(tmp_path / "objects.npy")
    np.save(tmp_path / "flat.npy", data[0][:, 0])
    with pytest.raises(ValueError, match=r"x must be a 2-D array"):
        AEKMeans(3, **UNTRAINED).fit(tmp_path / "flat.npy")


def test_dec_label_count_is_checked_for_a_dataset(data):
    x, y = data
    with pytest.raises(ValueError, match=r"y must have one label per sample of x \(240\)\. "
                                         r"Received: y of length 239"):
        DEC(3, n_init=1, max_iter=2, **UNTRAINED).fit(_dataset(x), y[:-1])


def test_distribute_must_be_a_strategy_and_is_not_pickled(data):
    with pytest.raises(ValueError, match=r"distribute must be None or a tf.distribute.Strategy"
                                         r".*Received: distribute='mirrored'"):
        AEKMeans(3, distribute="mirrored", **UNTRAINED).fit(data[0])
    strategy = tf.distribute.get_strategy()  # the default strategy: one replica
    est = AEKMeans(3, n_init=1, distribute=strategy, **UNTRAINED).fit(data[0])
    copy = pickle.loads(pickle.dumps(est))
    assert copy.get_params()["distribute"] is None
    np.testing.assert_array_equal(copy.predict(data[0]), est.labels_)
