import numpy as np
import pytest
from sklearn.cluster import KMeans

from kdc import AEKMeans
from kdc.training import plan as _plan
from kdc.training.precision import resolve_precision
from kdc.cluster.aekmeans import student_t
from kdc.metrics import cluster_accuracy
from tests.conftest import DEFAULT_JIT, TINY, make_blobs


@pytest.fixture(scope="module")
def blobs_fit():
    """AEKMeans with its default pretraining path (the train step compiled with XLA)."""
    x, y = make_blobs()
    with pytest.MonkeyPatch.context() as mp:  # conftest turns XLA off for speed
        mp.setattr(_plan, "default_jit", DEFAULT_JIT)
        est = AEKMeans(3, n_init=5, random_state=0, **TINY).fit(x)
    return est, x, y


def test_pretraining_uses_xla_by_default(blobs_fit):
    est, _, _ = blobs_fit
    # XLA for float32; a mixed policy ("auto": bf16 on CPUs that have it) trains a copy
    # without XLA on a CPU, where oneDNN's bf16 kernels were faster.
    expected = resolve_precision(est.precision) == "float32"
    assert est.autoencoder_.jit_compile is expected
    assert est.training_plan_["pretrain"]["jit_compile"] is (True if expected else "auto")
    losses = est.history_["pretrain"]["loss"]
    assert len(losses) == TINY["pretrain_epochs"] and np.isfinite(losses).all()
    assert losses[-1] < losses[0]


def test_finds_the_three_blobs(blobs_fit):
    est, x, y = blobs_fit
    assert cluster_accuracy(y, est.labels_) == 1.0
    assert cluster_accuracy(y, est.predict(x)) == 1.0


def test_generalises_to_new_rows_from_the_same_blobs(blobs_fit):
    est, _, _ = blobs_fit
    # Same centres (same seed); extra noise makes the rows new.
    x_new, y_new = make_blobs(n_samples=60, seed=0)
    x_new = x_new + np.random.default_rng(5).normal(scale=0.03, size=x_new.shape)
    assert cluster_accuracy(y_new, est.predict(x_new)) == 1.0


def test_kmeans_head_attributes(blobs_fit):
    est, x, _ = blobs_fit
    assert isinstance(est.kmeans_, KMeans)
    assert est.kmeans_.n_init == 5
    assert est.cluster_centers_.shape == (3, TINY["embedding_dim"])
    assert est.cluster_centers_.dtype == np.float32
    np.testing.assert_allclose(est.cluster_centers_, est.kmeans_.cluster_centers_, rtol=1e-6)
    assert isinstance(est.inertia_, float) and est.inertia_ >= 0
    assert est.labels_.dtype == np.int64
    z = est.transform(x)
    # Centres are the means of their clusters in the embedding.
    for k in range(3):
        np.testing.assert_allclose(z[est.labels_ == k].mean(axis=0), est.cluster_centers_[k],
                                   rtol=1e-3, atol=1e-4)
    # predict assigns each row to its nearest centre.
    d2 = ((z[:, None, :] - est.cluster_centers_[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(est.predict(x), d2.argmin(axis=1))


def test_predict_proba_is_student_t_on_the_centres(blobs_fit):
    est, x, _ = blobs_fit
    proba = est.predict_proba(x)
    assert proba.dtype == np.float64
    np.testing.assert_allclose(proba, student_t(est.transform(x), est.cluster_centers_),
                               rtol=1e-10)
    np.testing.assert_array_equal(proba.argmax(axis=1), est.predict(x))


def student_t_loops(z, centers, alpha):
    """Independent reference: DEC eq. 1 with explicit loops."""
    q = np.zeros((len(z), len(centers)))
    for i, zi in enumerate(z.astype(np.float64)):
        for j, mu in enumerate(centers.astype(np.float64)):
            q[i, j] = (1.0 + np.sum((zi - mu) ** 2) / alpha) ** (-(alpha + 1.0) / 2.0)
        q[i] /= q[i].sum()
    return q


@pytest.mark.parametrize("alpha", [1.0, 3.0])
def test_student_t_matches_reference(alpha):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(7, 3)).astype("float32")
    centers = rng.normal(size=(4, 3)).astype("float32")
    q = student_t(z, centers, alpha=alpha)
    np.testing.assert_allclose(q, student_t_loops(z, centers, alpha), rtol=1e-10)
    np.testing.assert_allclose(q.sum(axis=1), 1.0, rtol=1e-12)
    if alpha == 1.0:
        # Hand check: (0, 0) is at squared distances 1 and 5 from (0, 1) and (2, -1).
        q = student_t(np.zeros((1, 2)), np.array([[0.0, 1.0], [2.0, -1.0]]))
        np.testing.assert_allclose(q[0], [(1 / 2) / (1 / 2 + 1 / 6), (1 / 6) / (1 / 2 + 1 / 6)])


def test_student_t_is_finite_for_huge_distances():
    centers = np.array([[0.0, 0.0], [1e3, 0.0]])
    z = np.array([[1e30, 1e30], [1e6, 0.0], [-1e150, 1e150]])
    q = student_t(z, centers)
    assert np.isfinite(q).all()
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    assert q[1].argmax() == 1


def test_n_clusters_can_be_a_numpy_int():
    x, _ = make_blobs(n_samples=30, n_features=4)
    est = AEKMeans(np.int64(3), n_init=1, **{**TINY, "pretrain_epochs": 0}).fit(x)
    assert est.cluster_centers_.shape[0] == 3
    assert est.get_params()["n_clusters"] == 3


def test_default_parameters_follow_the_contract():
    est = AEKMeans()
    params = est.get_params()
    assert params["n_clusters"] == 8
    assert params["n_init"] == 20
    assert params["hidden_dims"] == (500, 500, 2000) and params["embedding_dim"] == 10
    assert params["pretrain_epochs"] == "auto" and params["scale"] == "auto"
    with pytest.raises(TypeError):
        AEKMeans(3, 20)  # everything after n_clusters is keyword-only
