"""kdc.DEC and kdc.IDEC: the scikit-learn estimators around the DEC/IDEC Keras models.

Most tests start from one small autoencoder pretrained on the blobs
(``autoencoder=ae, pretrain_epochs=0``) to stay fast; one test goes through the
base class's own pretraining. Clustering quality on real data (DEC/IDEC improve
on their k-means initialisation: on the 8x8 digits with a 64-64-64-10
autoencoder and 300 steps, ACC .707 -> .72, about 15 s per fit here) is left to
the benchmark, as it is too slow and too small an effect for a unit test.
"""

import warnings

import keras
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from kdc import models as kdc_models
from kdc.training.optimizers import FusedAdam
from kdc.cluster.dec import DEC, IDEC
from kdc.models.autoencoder import DenseAutoencoder
from tests.conftest import TINY, make_blobs

# Self-training budget of the tests: small batches (40 divides the 240 blobs, so
# there is no smaller last batch to trace a second train step for), frequent
# target updates.
FAST = dict(clustering_batch_size=40, update_interval=4, n_init=2, verbose=0)


@pytest.fixture(scope="module")
def pretrained():
    """(x, y, ae): the blobs and a small autoencoder pretrained on them."""
    x, y = make_blobs()
    keras.utils.set_random_seed(0)
    ae = DenseAutoencoder(x.shape[1], hidden_dims=(32,), embedding_dim=4)
    ae.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    ae.fit(x, x, epochs=40, batch_size=40, verbose=0)
    return x, y, ae


@pytest.fixture(scope="module")
def fitted(pretrained):
    """{DEC: est, IDEC: est}: both fitted for 24 steps from the pretrained autoencoder."""
    return {cls: fit(cls, pretrained) for cls in (DEC, IDEC)}


def fit(cls, data, y=None, **kwargs):
    """Fit ``cls`` on the blobs from the pretrained autoencoder (no pretraining)."""
    x, _, ae = data
    params = {**FAST, "autoencoder": ae, "pretrain_epochs": 0, "random_state": 0,
              "max_iter": 24, "tol": 0.0, "scale": "none", **kwargs}
    return cls(3, **params).fit(x, y)


def test_dec_with_base_pretraining_fulfils_the_contract(blobs):
    x, y = blobs
    est = DEC(3, max_iter=16, tol=0.0, **{**TINY, **FAST}, random_state=0)
    assert est.fit(x) is est
    n = len(x)
    assert est.labels_.shape == (n,) and est.labels_.dtype == np.int64
    assert set(np.unique(est.labels_)) <= {0, 1, 2}
    assert np.mean(est.predict(x) == est.labels_) >= 0.99
    proba = est.predict_proba(x)
    assert proba.shape == (n, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(proba.argmax(axis=1), est.predict(x))
    assert est.transform(x).shape == (n, TINY["embedding_dim"])
    assert est.cluster_centers_.shape == (3, TINY["embedding_dim"])
    assert est.cluster_centers_.dtype == np.float32
    assert est.kmeans_labels_.shape == (n,)
    assert est.n_iter_ == 16
    assert len(est.history_["pretrain"]["loss"]) == TINY["pretrain_epochs"]
    assert {"kmeans", "self_training", "head", "total"} <= set(est.timings_)
    # Well separated blobs: the clusters are the blobs.
    from kdc.metrics import cluster_accuracy

    assert cluster_accuracy(y, est.labels_) == 1.0


@pytest.mark.parametrize("cls", [DEC, IDEC])
def test_transform_and_centres_come_from_self_training(pretrained, fitted, cls):
    x, _, ae = pretrained
    before = ae.encoder.predict(x, verbose=0)
    est = fitted[cls]
    assert isinstance(est.model_, {DEC: kdc_models.DEC, IDEC: kdc_models.IDEC}[cls])
    assert est.encoder_ is est.autoencoder_.encoder
    assert est.n_iter_ == 24
    # The caller's autoencoder is left alone; the estimator's encoder is fine-tuned.
    np.testing.assert_array_equal(ae.encoder.predict(x, verbose=0), before)
    z = est.transform(x)
    assert np.abs(z - before).max() > 1e-4
    # model_ computes under the training policy ("auto": bf16 on CPUs that have it).
    exact = est.model_.encoder.layers[0].dtype_policy.name == "float32"
    np.testing.assert_allclose(z, est.model_.embed(x), rtol=1e-5 if exact else 2e-2,
                               atol=1e-5 if exact else 2e-2 * np.abs(z).max())
    np.testing.assert_array_equal(est.cluster_centers_, est.model_.cluster_centers)
    np.testing.assert_allclose(est.predict_proba(x), est.model_.predict(x, verbose=0),
                               rtol=1e-4 if exact else 5e-2, atol=1e-5 if exact else 2e-2)
    np.testing.assert_array_equal(est.predict(x), est.labels_)
    if cls is IDEC:  # the loss is L_rec + gamma * L_KL, both terms recorded
        h = est.history_["clustering"]
        rec, clu, total = (np.array(h[k][1:]) for k in
                           ("reconstruction_loss", "clustering_loss", "loss"))
        np.testing.assert_allclose(total, rec + 0.1 * clu, rtol=1e-3)
        assert np.all(clu > 0) and np.all(rec > 0)


def test_history_records_label_change_loss_and_monitoring_metrics(pretrained):
    x, y, _ = pretrained
    est = fit(DEC, pretrained, y=y)
    h = est.history_["clustering"]
    assert h["step"] == [0, 4, 8, 12, 16, 20, 24]
    assert set(h) == {"step", "loss", "label_change", "acc", "nmi"}
    assert all(len(v) == len(h["step"]) for v in h.values())
    # The first entry is the k-means start: nothing trained, nothing changed yet.
    assert np.isnan(h["loss"][0]) and np.isnan(h["label_change"][0])
    change = np.array(h["label_change"][1:])
    assert np.all((change >= 0) & (change <= 1))
    assert np.all(np.isfinite(h["loss"][1:])) and min(h["loss"][1:]) > 0
    for key in ("acc", "nmi"):
        assert all(0.0 <= v <= 1.0 for v in h[key])
    assert h["acc"][-1] == 1.0
    # y is for monitoring only: the same fit without y gives the same labels.
    est2 = fit(DEC, pretrained)
    np.testing.assert_array_equal(est2.labels_, est.labels_)
    assert "acc" not in est2.history_["clustering"]


def test_large_tol_stops_early_and_verbose_prints_a_line_per_update(pretrained, capsys):
    est = fit(DEC, pretrained, tol=0.5, max_iter=400, verbose=1)
    assert est.converged_
    assert est.n_iter_ < 400 and est.n_iter_ % 4 == 0
    h = est.history_["clustering"]
    assert h["label_change"][-1] < 0.5 and h["step"][-1] == est.n_iter_
    lines = [line for line in capsys.readouterr().out.splitlines() if "step " in line]
    assert len(lines) == len(h["step"])
    assert lines[0].startswith("[kdc] step 0/400")
    assert lines[-1].startswith(f"[kdc] step {est.n_iter_}/400: loss ")
    assert "label change" in lines[-1]


def test_max_iter_without_convergence_warns(pretrained):
    x, _, ae = pretrained
    est = DEC(3, **FAST, autoencoder=ae, pretrain_epochs=0, max_iter=3, tol=0.01)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(x)
    messages = [str(w.message) for w in caught]
    assert [w.category for w in caught].count(ConvergenceWarning) == 1, messages
    assert not any("LabelChangeStopping" in m for m in messages)
    assert est.n_iter_ == 3 and not est.converged_


def test_idec_keeps_the_decoder_trained(pretrained, fitted):
    x, _, ae = pretrained
    dec, idec = fitted[DEC], fitted[IDEC]
    # DEC moves the encoder away from what the (frozen) decoder expects;
    # IDEC trains the whole autoencoder, so it reconstructs better.
    assert idec.score(x) > dec.score(x)
    assert not np.allclose(idec.autoencoder_.decoder.get_weights()[0],
                           ae.decoder.get_weights()[0])
    np.testing.assert_array_equal(dec.autoencoder_.decoder.get_weights()[0],
                                  ae.decoder.get_weights()[0])


@pytest.mark.parametrize("cls, precision", [(DEC, "mixed_bfloat16"), (IDEC, "mixed_float16")])
def test_mixed_precision_is_finite_and_restores_the_policy(pretrained, cls, precision):
    x, _, _ = pretrained
    est = fit(cls, pretrained, precision=precision, max_iter=8)
    assert keras.config.dtype_policy().name == "float32"
    assert est.model_.encoder.layers[0].dtype_policy.name == precision
    assert est.encoder_.layers[0].dtype_policy.name == "float32"
    assert np.all(np.isfinite(est.history_["clustering"]["loss"][1:]))
    assert est.labels_.shape == (len(x),) and set(np.unique(est.labels_)) <= {0, 1, 2}
    scaled = isinstance(est.model_.optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (precision == "mixed_float16")
    # The fine-tuned weights are copied back into the float32 encoder.
    np.testing.assert_array_equal(est.encoder_.get_weights()[0],
                                  est.model_.encoder.get_weights()[0])


def test_policy_is_restored_after_an_error(pretrained, monkeypatch):
    def boom(self, autoencoder, params, augmentation=None):
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
        raise RuntimeError("boom")

    monkeypatch.setattr(DEC, "_make_model", boom)
    with pytest.raises(RuntimeError, match="boom"):
        fit(DEC, pretrained, precision="mixed_bfloat16")
    assert keras.config.dtype_policy().name == "float32"


def test_same_random_state_same_labels(pretrained, fitted):
    # (DEC is checked by the history test: the same fit with and without y.)
    again = fit(IDEC, pretrained)
    np.testing.assert_array_equal(again.labels_, fitted[IDEC].labels_)
    np.testing.assert_array_equal(again.cluster_centers_, fitted[IDEC].cluster_centers_)


def test_parameters_are_stored_unchanged():
    est = IDEC(5, alpha=2.0, gamma=0.3, update_interval=7, tol=0.01, max_iter=9, n_init=3,
               clustering_optimizer="sgd", clustering_learning_rate=0.02,
               clustering_batch_size=64, precision="float32", hidden_dims=(8,))
    params = est.get_params()
    assert params["gamma"] == 0.3 and params["precision"] == "float32"
    assert DEC().get_params()["precision"] == "auto"
    assert params["hidden_dims"] == (8,) and params["max_iter"] == 9
    assert clone(est).get_params() == params
    assert DEC().get_params()["clustering_optimizer"] == "sgd"
    assert IDEC().get_params()["clustering_optimizer"] == "adam"
    with pytest.raises(TypeError):
        DEC(3, 1.0)  # keyword-only after n_clusters


def test_clustering_optimizer_defaults():
    sgd = DEC()._make_clustering_optimizer()
    assert isinstance(sgd, keras.optimizers.SGD)
    assert float(sgd.momentum) == 0.9 and np.isclose(float(sgd.learning_rate), 0.01)
    adam = IDEC()._make_clustering_optimizer()
    assert isinstance(adam, keras.optimizers.Adam)
    assert np.isclose(float(adam.learning_rate), 1e-3)
    mine = keras.optimizers.RMSprop(0.005)
    copy = DEC(clustering_optimizer=mine)._make_clustering_optimizer()
    assert copy is not mine and np.isclose(float(copy.learning_rate), 0.005)
    assert type(copy) is keras.optimizers.RMSprop
    # an instance keeps its class and its own learning rate; the string "adam" is fused
    adamw = keras.optimizers.AdamW(0.004, weight_decay=0.01)
    copy = IDEC(clustering_optimizer=adamw)._make_clustering_optimizer()
    assert type(copy) is keras.optimizers.AdamW and copy.weight_decay == 0.01
    assert np.isclose(float(copy.learning_rate), 0.004)
    assert type(IDEC(clustering_optimizer="adam")._make_clustering_optimizer()) is FusedAdam
    faster = IDEC(clustering_optimizer=adamw, clustering_learning_rate=0.02)
    assert np.isclose(float(faster._make_clustering_optimizer().learning_rate), 0.02)


@pytest.mark.parametrize("cls, kwargs, match", [
    (DEC, dict(alpha=0.0), r"alpha must be a finite number > 0\.0\. Received: alpha=0\.0"),
    (DEC, dict(alpha=-1), r"alpha .*Received: alpha=-1"),
    (IDEC, dict(gamma=-0.1), r"gamma must be a finite number >= 0\.0\. Received: gamma=-0\.1"),
    (DEC, dict(tol=1.0), r"tol must be .*< 1\.0\. Received: tol=1\.0"),
    (DEC, dict(tol=-0.1), r"tol .*Received: tol=-0\.1"),
    (DEC, dict(update_interval=0), r"update_interval must be an int >= 1\. "
                                   r"Received: update_interval=0"),
    (DEC, dict(max_iter=0), r"max_iter must be an int >= 1\. Received: max_iter=0"),
    (DEC, dict(n_init=0), r"n_init must be an int >= 1\. Received: n_init=0"),
    (IDEC, dict(clustering_batch_size=0), r"clustering_batch_size .*Received: "
                                          r"clustering_batch_size=0"),
    (DEC, dict(clustering_learning_rate=0.0), r"clustering_learning_rate .*Received: "
                                              r"clustering_learning_rate=0\.0"),
    (DEC, dict(clustering_optimizer="nope"), r"clustering_optimizer .*Received: "
                                             r"clustering_optimizer='nope'"),
    (IDEC, dict(precision="float16"), r"precision must be one of .*Received: "
                                      r"precision='float16'"),
    (DEC, dict(n_clusters=1), r"n_clusters must be an int >= 2 or 'auto'.*Received: n_clusters=1"),
    (DEC, dict(n_clusters=500), r"n_clusters must be <= n_samples=240.*Received: "
                                r"n_clusters=500"),
])
def test_invalid_arguments_raise_before_training(blobs, cls, kwargs, match):
    x, _ = blobs
    kwargs = {"n_clusters": 3, **kwargs}
    est = cls(**kwargs, **TINY)
    with pytest.raises(ValueError, match=match):
        est.fit(x)
    assert not hasattr(est, "autoencoder_")


def test_y_of_the_wrong_length_is_an_error(blobs):
    x, y = blobs
    with pytest.raises(ValueError, match=r"y must have one label per sample of x \(240\)\. "
                                         r"Received: y of length 239"):
        DEC(3, **TINY).fit(x, y[:-1])
    with pytest.raises(ValueError, match=r"y \(reference labels.*missing label"):
        DEC(3, **TINY).fit(x, np.full(len(x), np.nan))
