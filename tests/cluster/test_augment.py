"""Random image shifts during autoencoder pretraining (augment=)."""

import numpy as np
import pytest

from kdc import AEKMeans
from kdc.layers import RandomShift
from kdc.training import plan as _plan
from kdc.training.augment import ReconstructionTrainer

from tests.conftest import TINY


def test_auto_shifts_images_of_16_pixels_and_more_only():
    assert _plan.resolve_shift("auto", (28, 28)) == 1
    assert _plan.resolve_shift("auto", (16, 16, 3)) == 1
    assert _plan.resolve_shift("auto", (8, 8)) == 0  # the digits data
    assert _plan.resolve_shift("auto", (784,)) == 0  # flat rows
    assert _plan.resolve_shift(None, (28, 28)) == 0
    assert _plan.resolve_shift(3, (28, 28)) == 3
    assert _plan.resolve_shift(0, (20,)) == 0


@pytest.mark.parametrize("augment, shape, match", [
    ("yes", (28, 28), r"augment must be 'auto', None or an int >= 0.*augment='yes'"),
    (-1, (28, 28), r"augment.*-1"),
    (1.5, (28, 28), r"augment.*1.5"),
    (2, (784,), r"augment shifts images.*Received: augment=2 with samples of shape \(784,\)"),
    (8, (8, 8), r"augment must be smaller than the images' height and width \(8, 8\)"),
])
def test_bad_augment_is_named(augment, shape, match):
    with pytest.raises(ValueError, match=match):
        _plan.resolve_shift(augment, shape)


def _shifted(image, dy, dx):
    out = np.zeros_like(image)
    h, w = image.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def _matching_shifts(image, got, shift):
    """The offsets (dy, dx) whose zero-filled translation of ``image`` (h, w[, c]) is ``got``."""
    image = image.reshape(image.shape[:2] + (-1,))
    got = got.reshape(image.shape)
    return [(dy, dx) for dy in range(-shift, shift + 1) for dx in range(-shift, shift + 1)
            if all(np.array_equal(_shifted(image[..., ch], dy, dx), got[..., ch])
                   for ch in range(image.shape[2]))]


def test_random_shift_translates_each_image_by_whole_pixels():
    rng = np.random.default_rng(0)
    images = rng.uniform(0.1, 1.0, size=(64, 6, 5)).astype("float32")
    layer = RandomShift(2, (6, 5), seed=7)
    out = np.asarray(layer(images.reshape(64, 30), training=True)).reshape(64, 6, 5)
    seen = set()
    for image, got in zip(images, out):
        matches = _matching_shifts(image, got, 2)
        assert len(matches) == 1  # a translation with a zero-filled border
        seen.add(matches[0])
    assert len(seen) > 10  # each image draws its own offsets
    other = np.asarray(layer(images.reshape(64, 30), training=True)).reshape(64, 6, 5)
    assert not np.array_equal(other, out)  # the next batch draws new offsets
    again = RandomShift(2, (6, 5), seed=7)
    np.testing.assert_array_equal(
        np.asarray(again(images.reshape(64, 30), training=True)).reshape(64, 6, 5), out)
    np.testing.assert_array_equal(np.asarray(layer(images, training=False)), images)


def test_random_shift_passes_batches_unshifted_from_step_until_on():
    rng = np.random.default_rng(2)
    flat = rng.uniform(0.1, 1.0, size=(16, 36)).astype("float32")
    layer = RandomShift(1, (6, 6), until=2, seed=4)
    always = RandomShift(1, (6, 6), seed=4)
    for _ in range(2):  # before `until`: the same shifts as without it
        out = np.asarray(layer(flat, training=True))
        np.testing.assert_array_equal(out, np.asarray(always(flat, training=True)))
        assert not np.array_equal(out, flat)
    for _ in range(3):
        np.testing.assert_array_equal(np.asarray(layer(flat, training=True)), flat)
    assert int(layer.step.numpy()) == 5


def test_random_shift_moves_all_channels_of_an_image_together():
    rng = np.random.default_rng(1)
    images = rng.uniform(0.1, 1.0, size=(32, 7, 6, 3)).astype("float32")
    out = np.asarray(RandomShift(1, (7, 6, 3), seed=3)(images, training=True))
    assert out.shape == images.shape
    for image, got in zip(images, out):
        assert len(_matching_shifts(image, got, 1)) == 1


def test_random_shift_config_and_keras_file_round_trip(tmp_path):
    import keras

    layer = RandomShift(2, (6, 5), until=7, seed=3)
    again = RandomShift.from_config(layer.get_config())
    assert (again.max_shift, again.image_shape, again.until, again.seed) == (2, (6, 5), 7, 3)
    model = keras.Sequential([keras.Input((30,)), layer, keras.layers.Dense(2)])
    x = np.random.default_rng(0).uniform(size=(4, 30)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("kwargs, match", [
    (dict(max_shift=-1, image_shape=(6, 6)), "max_shift"),
    (dict(max_shift=6, image_shape=(6, 6)), "max_shift must be smaller"),
    (dict(max_shift=1, image_shape=(36,)), "image_shape must be"),
    (dict(max_shift=1, image_shape=(6, 6), until=-2), "until"),
])
def test_random_shift_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomShift(**kwargs)


def test_reconstruction_trainer_trains_on_the_augmented_batch():
    import keras

    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.0, size=(32, 4)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, use_bias=False)])

    class Blank(keras.layers.Layer):
        def call(self, inputs, training=False):
            return keras.ops.zeros_like(inputs) if training else inputs

    trainer = ReconstructionTrainer(model, Blank())
    trainer.compile(optimizer="sgd", jit_compile=False)
    before = model.get_weights()[0].copy()
    loss = trainer.fit(x, x, batch_size=8, epochs=1, verbose=0).history["loss"][0]
    assert loss == 0.0  # zero inputs, zero targets: nothing to learn
    np.testing.assert_array_equal(model.get_weights()[0], before)
    plain = ReconstructionTrainer(model)
    plain.compile(optimizer="sgd", jit_compile=False)
    loss = plain.fit(x, x, batch_size=8, epochs=1, verbose=0).history["loss"][0]
    assert loss > 0.0 and not np.array_equal(model.get_weights()[0], before)
    assert "train_step" not in vars(model) and "train_step" not in vars(trainer)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_reconstruction_target_keeps_the_inputs_precision_under_mixed_policies(policy):
    import keras

    from kdc.training.precision import dtype_policy

    with dtype_policy(policy):
        model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(16)])
        trainer = ReconstructionTrainer(model, RandomShift(1, (4, 4), seed=0))
    x = np.random.default_rng(0).uniform(size=(8, 16)).astype("float32")
    target, reconstruction = trainer(x, training=True)
    assert keras.backend.standardize_dtype(target.dtype) == "float32"  # not rounded to 16 bits
    assert keras.backend.standardize_dtype(reconstruction.dtype) == policy.split("_")[1]
    assert trainer.dtype_policy.name == policy  # Keras scales the loss under mixed_float16
    trainer.compile(optimizer="adam", jit_compile=False)
    assert type(trainer.optimizer).__name__ == (
        "LossScaleOptimizer" if policy == "mixed_float16" else "Adam")


def test_n2d_alone_pretrains_its_last_steps_on_unshifted_images(images):
    from kdc import N2D

    x, _ = images  # 90 rows, batches of 32: 3 steps per epoch
    n2d = N2D(3, **{**TINY, "pretrain_epochs": 5, "random_state": 0}).fit(x)
    assert n2d.training_plan_["pretrain"]["shift_until"] == round((1 - 0.2) * 15) == 12
    est = AEKMeans(3, **{**TINY, "random_state": 0}).fit(x)
    assert est.training_plan_["pretrain"]["shift_until"] is None  # shifts every step
    est = AEKMeans(3, **{**TINY, "random_state": 0, "unshifted_end": 0.5}).fit(x)
    assert est.training_plan_["pretrain"]["shift_until"] == round(0.5 * 9)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    x = np.zeros((90, 16, 16), dtype="float32")
    for i, label in enumerate(y):  # a bar whose position tells the class
        x[i, 3 + 4 * label:6 + 4 * label, 2:14] = 1.0
    return np.clip(x + rng.normal(scale=0.05, size=x.shape), 0, 1).astype("float32"), y


def test_fit_shifts_image_rows_and_stays_repeatable(images, capsys):
    x, _ = images
    kw = dict(TINY, random_state=0)
    a = AEKMeans(3, **{**kw, "verbose": 1}).fit(x)
    assert "shifts <= 1 px" in capsys.readouterr().out
    b = AEKMeans(3, **kw).fit(x)
    np.testing.assert_array_equal(a.transform(x), b.transform(x))
    np.testing.assert_array_equal(a.labels_, b.labels_)
    plain = AEKMeans(3, **{**kw, "augment": None}).fit(x)
    assert not np.allclose(plain.transform(x), a.transform(x))  # the shifts changed training
    flat = AEKMeans(3, **kw).fit(x.reshape(90, -1))  # flat rows: "auto" does nothing
    np.testing.assert_allclose(flat.transform(x.reshape(90, -1)), plain.transform(x), atol=1e-6)


def test_shifts_run_inside_the_xla_compiled_step(images, monkeypatch):
    from tests.conftest import DEFAULT_JIT

    monkeypatch.setattr(_plan, "default_jit", DEFAULT_JIT)  # the default outside tests
    x, _ = images
    est = AEKMeans(3, **{**TINY, "random_state": 0, "precision": "float32"}).fit(x)
    assert est.training_plan_["pretrain"]["jit_compile"] is True
    losses = est.history_["pretrain"]["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_streamed_images_are_shifted_too(images, tmp_path, monkeypatch):
    from kdc.training import data as _streaming

    monkeypatch.setattr(_streaming, "STREAM_MIN_BYTES", 0)  # stream the tiny memmap
    x, _ = images
    path = tmp_path / "x.npy"
    np.save(path, x)
    kw = dict(TINY, random_state=0, augment=2)
    a = AEKMeans(3, **kw).fit(np.load(path, mmap_mode="r"))
    b = AEKMeans(3, **kw).fit(np.load(path, mmap_mode="r"))
    np.testing.assert_array_equal(a.labels_, b.labels_)
    with pytest.raises(ValueError, match="augment shifts images"):
        AEKMeans(3, **kw).fit(x.reshape(90, -1))


def test_dec_self_training_shifts_images_too(images):
    from kdc import DEC

    x, y = images
    kw = dict(TINY, pretrain_epochs=0, random_state=0, max_iter=12, update_interval=4, tol=0.0)
    a = DEC(3, **kw).fit(x)  # no pretraining: only the self-training batches differ
    b = DEC(3, **kw).fit(x)
    plain = DEC(3, **{**kw, "augment": None}).fit(x)
    np.testing.assert_array_equal(a.kmeans_labels_, plain.kmeans_labels_)  # same start
    np.testing.assert_array_equal(a.transform(x), b.transform(x))
    assert a.n_iter_ == plain.n_iter_ == 12
    assert not np.allclose(a.transform(x), plain.transform(x))
