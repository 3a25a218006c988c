"""N2D: autoencoder -> manifold -> clusterer."""

import numpy as np
import pytest
from sklearn.cluster import HDBSCAN, SpectralClustering
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

import kdc
from kdc import N2D
from kdc.cluster import n2d
from kdc._manifold import ExactNeighborIndex, layout_epochs, make_umap
from kdc.metrics import cluster_accuracy

from tests.conftest import TINY, make_blobs, make_windows


@pytest.fixture(scope="module")
def fitted():


    x, y = make_blobs()
    est = N2D(3, n_neighbors=10, random_state=0, **TINY).fit(x)
    return est, x, y


def test_default_head_finds_blobs(fitted):
    est, x, y = fitted
    assert est.labels_.shape == (x.shape[0],)
    assert est.labels_.dtype == np.int64
    assert cluster_accuracy(y, est.labels_) == 1.0
    assert est.manifold_embedding_.shape == (x.shape[0], 3)  # n_components = n_clusters
    assert isinstance(est.clusterer_, GaussianMixture)
    assert est.clusterer_.n_init == 10


def test_gmm_restarts_run_on_a_sample_of_large_data_then_em_on_all_rows(monkeypatch):
    monkeypatch.setattr(n2d, "GMM_RESTART_SAMPLE", 60)
    rows = []
    own = GaussianMixture.fit_predict

    def recording(self, x, y=None):
        rows.append((x.shape[0], self.n_init))
        return own(self, x, y)

    monkeypatch.setattr(GaussianMixture, "fit_predict", recording)
    x, y = make_blobs()
    one_input = dict(n_neighbors=10, manifold_input="embedding", random_state=0)
    est = N2D(3, **one_input, **TINY).fit(x)
    assert rows == [(60, 10), (240, 1)]  # ten restarts on 60 rows, then EM on all 240
    gmm = est.clusterer_
    assert gmm.n_init == 1 and gmm.means_init.shape == (3, 3)
    assert cluster_accuracy(y, est.labels_) == 1.0
    again = GaussianMixture(3, weights_init=gmm.weights_init, means_init=gmm.means_init,
                            precisions_init=gmm.precisions_init, random_state=0)
    np.testing.assert_array_equal(again.fit_predict(est.manifold_embedding_), est.labels_)
    twice = N2D(3, **one_input, **TINY).fit(x)
    np.testing.assert_array_equal(twice.clusterer_.means_init, gmm.means_init)
    np.testing.assert_array_equal(twice.labels_, est.labels_)


def test_predict_on_new_rows_goes_through_the_manifold(fitted):
    est, x, y = fitted


    x_new, y_new = make_blobs(n_samples=60, seed=0)  # same centres, new noise
    x_new = x_new + np.random.default_rng(5).normal(scale=0.01, size=x_new.shape).astype("float32")
    pred = est.predict(x_new)
    assert pred.shape == (60,)
    assert cluster_accuracy(y_new, pred) == 1.0
    # The labels of new rows agree with the training labels of the same blobs.
    train_label_of_class = {c: np.bincount(est.labels_[y == c]).argmax() for c in range(3)}
    assert all(pred[i] == train_label_of_class[y_new[i]] for i in range(60))


def test_a_rows_prediction_never_depends_on_the_other_rows(fitted):
    """Alone, in a batch, in reversed or shuffled order: the same label and probabilities."""
    est, x, _ = fitted
    rng = np.random.default_rng(3)
    x_new = (x[:40] + rng.normal(scale=0.3, size=(40, x.shape[1]))).astype("float32")
    labels, proba = est.predict(x_new), est.predict_proba(x_new)
    alone = np.array([est.predict(x_new[i:i + 1])[0] for i in range(len(x_new))])
    np.testing.assert_array_equal(alone, labels)
    np.testing.assert_array_equal(est.predict(x_new[::-1])[::-1], labels)
    order = rng.permutation(len(x_new))
    np.testing.assert_array_equal(est.predict_proba(x_new[order]), proba[order])
    mixed = np.concatenate([x_new[:7], x[100:200]])  # other rows in the call change nothing
    np.testing.assert_array_equal(est.predict_proba(mixed)[:7], proba[:7])
    assert est.placement_ is not None


def test_rows_whose_embedding_is_not_finite_are_refused(fitted):
    est, x, _ = fitted
    bad = x[:5].copy()
    bad[3] = 3e38  # finite, but overflows the autoencoder
    for method in (est.predict, est.predict_proba, est.transform):
        with pytest.raises(ValueError, match=r"x has 1 row\(s\) whose embedding is not finite or "
                                             r"beyond 1e\+15 \(first: row 3\).*Received: values "
                                             r"up to 3e\+38"):
            method(bad)
    assert np.isfinite(est.transform(bad[[0, 1, 2, 4]])).all()


def test_predict_proba_rows_sum_to_one_and_match_predict(fitted):
    est, x, _ = fitted
    proba = est.predict_proba(x[:50])
    assert proba.shape == (50, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(proba.argmax(axis=1), est.predict(x[:50]))


def test_transform_is_the_autoencoder_embedding(fitted):
    est, x, _ = fitted
    z = est.transform(x[:10])
    assert z.shape == (10, TINY["embedding_dim"])
    # The blobs reach outside [0, 1], so "auto" min-max scaled them in fit.
    assert est.scale_ is not None
    scaled = x[:10] * est.scale_ + est.offset_
    np.testing.assert_allclose(z, est.encoder_.predict(scaled, verbose=0), rtol=1e-5, atol=1e-5)


def test_same_random_state_same_labels(blobs):
    x, _ = blobs
    a = N2D(3, n_neighbors=10, random_state=3, **TINY).fit(x)
    b = N2D(3, n_neighbors=10, random_state=3, **TINY).fit(x)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.manifold_embedding_, b.manifold_embedding_)


def test_pluggable_manifold_and_clusterer_with_predict(blobs):
    x, y = blobs
    est = N2D(3, manifold=PCA(n_components=2), clusterer=GaussianMixture(3, random_state=0),
              random_state=0, **TINY).fit(x)
    assert isinstance(est.manifold_, PCA) and est.manifold_embedding_.shape == (len(x), 2)
    assert cluster_accuracy(y, est.labels_) == 1.0
    np.testing.assert_array_equal(est.predict(x), est.labels_)


@pytest.mark.parametrize("clusterer", [
    SpectralClustering(3, affinity="nearest_neighbors", n_neighbors=10, random_state=0),
    HDBSCAN(min_cluster_size=20),
])
def test_clusterers_without_predict_are_extended_by_knn(blobs, clusterer):
    x, y = blobs
    est = N2D(3, manifold=PCA(n_components=2), clusterer=clusterer, random_state=0,
              **TINY).fit(x)
    if isinstance(clusterer, SpectralClustering):
        assert cluster_accuracy(y, est.labels_) == 1.0
        assert est.n_clusters_ == 3
    else:  # HDBSCAN chooses the number of clusters itself
        assert est.n_clusters_ >= 2
    # New rows are labelled by a k-NN vote in the manifold space.
    assert (est.predict(x) == est.labels_).mean() >= 0.95
    proba = est.predict_proba(x[:20])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_user_objects_are_cloned_not_fitted(blobs):
    x, _ = blobs
    pca = PCA(n_components=2)
    N2D(3, manifold=pca, random_state=0, **TINY).fit(x)
    assert not hasattr(pca, "components_")


def test_exact_index_matches_brute_force():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(200, 5)).astype("float32")
    index = ExactNeighborIndex(data, n_neighbors=6)
    ind, dist = index.neighbor_graph()
    assert ind.shape == (200, 6) and ind.dtype == np.int32 and dist.dtype == np.float32
    np.testing.assert_array_equal(ind[:, 0], np.arange(200))  # each point is its own neighbour
    d2 = ((data[:, None] - data[None]) ** 2).sum(-1)
    brute = np.sort(np.sqrt(d2), axis=1)[:, :6]
    np.testing.assert_allclose(dist, brute, rtol=1e-4, atol=1e-5)
    q_ind, q_dist = index.query(data[:3] + 0.01, 4)
    assert q_ind.shape == (3, 4)
    assert (np.diff(q_dist, axis=1) >= 0).all()


def test_exact_cosine_index_matches_scikit_learn():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(2)
    data = rng.normal(size=(400, 6)).astype("float32")
    query = rng.normal(size=(30, 6)).astype("float32")
    query[0] = 0.0  # at cosine distance 1 from every row, as scikit-learn says
    index = ExactNeighborIndex(data, 8, metric="cosine")
    ind, dist = index.query(query, 8)
    want_dist, want_ind = NearestNeighbors(n_neighbors=8, metric="cosine").fit(data).kneighbors(
        query)
    np.testing.assert_allclose(dist, want_dist, atol=1e-5)
    np.testing.assert_array_equal(ind[1:], want_ind[1:])
    g_ind, g_dist = index.neighbor_graph()
    want_dist, want_ind = NearestNeighbors(n_neighbors=7, metric="cosine").fit(data).kneighbors()
    np.testing.assert_array_equal(g_ind[:, 0], np.arange(400))
    np.testing.assert_array_equal(g_ind[:, 1:], want_ind)
    np.testing.assert_allclose(g_dist[:, 1:], want_dist, atol=1e-5)


def test_umap_with_exact_graph_transforms_new_points():
    rng = np.random.default_rng(1)
    centers = rng.normal(scale=10, size=(2, 6))
    z = np.vstack([c + rng.normal(size=(80, 6)) for c in centers]).astype("float32")
    u = make_umap(z, n_components=2, n_neighbors=10, min_dist=0.0, metric="euclidean",
                  random_state=0, verbose=False)
    emb = u.fit_transform(z)
    new = u.transform(z[:5] + 0.01)
    assert new.shape == (5, 2)
    # A point next to the first blob lands closer to the first blob's embedding.
    d0 = np.linalg.norm(new - emb[:80].mean(0), axis=1)
    d1 = np.linalg.norm(new - emb[80:].mean(0), axis=1)
    assert (d0 < d1).all()


@pytest.mark.parametrize("kwargs, match", [
    (dict(manifold="tsne"), "manifold"),
    (dict(manifold=object()), "manifold"),
    (dict(clusterer="kmeans"), "clusterer"),
    (dict(clusterer=object()), "clusterer"),
    (dict(n_neighbors=1), "n_neighbors"),
    (dict(min_dist=-1.0), "min_dist"),
    (dict(n_init=0), "n_init"),
    (dict(n_components=0), "n_components"),
    (dict(umap_epochs=0), "umap_epochs"),
    (dict(umap_epochs="many"), "umap_epochs"),
    (dict(manifold_input="rows"), "manifold_input must be one of"),
])
def test_bad_head_arguments(blobs, kwargs, match):
    x, _ = blobs
    with pytest.raises(ValueError, match=match):
        N2D(3, **{**TINY, "pretrain_epochs": 0}, **kwargs).fit(x)


class _CountingPCA(PCA):
    """PCA that records how many rows it was fitted on and transformed."""

    def fit_transform(self, x, y=None):
        self.fit_rows_ = x.shape[0]
        return super().fit_transform(x, y)


@pytest.mark.parametrize("size, fitted_rows", [(100, 100), (0.25, 60), (10_000, 240)])
def test_manifold_sample_size_fits_the_head_on_a_sample(blobs, size, fitted_rows):
    x, y = blobs
    est = N2D(3, manifold=_CountingPCA(n_components=2), manifold_sample_size=size,
              random_state=0, **TINY).fit(x)
    assert est.manifold_.fit_rows_ == fitted_rows
    assert est.manifold_embedding_.shape == (240, 2) and est.labels_.shape == (240,)
    # The sampled rows keep their manifold coordinates; the others are placed
    # by their nearest sampled rows, which agrees with predict on these blobs.
    sample = est._manifold_sample(240)
    sample = np.arange(240) if sample is None else sample
    np.testing.assert_allclose(est.manifold_embedding_[sample],
                               est.manifold_.transform(est.embedding_[sample]), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(est.labels_, est.predict(x))
    assert cluster_accuracy(y, est.labels_) > 0.95


def test_rows_outside_the_sample_take_their_neighbours_weighted_vote(monkeypatch):
    monkeypatch.setattr(n2d, "PLACEMENT_NEIGHBORS", 2)
    z_fit = np.array([[0.0], [1.0], [10.0]], "float32")
    m_fit = np.array([[0.0, 0.0], [2.0, 2.0], [5.0, 5.0]], "float32")
    coords, labels = n2d._place(z_fit, m_fit, np.array([7, 7, 3]), np.array([[0.25], [9.0]]),
                                chunk=1)
    # 0.25: neighbours 0 and 1 at 0.25 and 0.75, weights 3/4 and 1/4.
    # 9.0: neighbours 10 and 1 at 1 and 8, weights 8/9 and 1/9.
    np.testing.assert_allclose(coords, [[0.5, 0.5], [40 / 9 + 2 / 9] * 2], rtol=1e-6)
    np.testing.assert_array_equal(labels, [7, 3])


@pytest.mark.parametrize("size", [0, 5, 0.0, 1.5, -3, "half"])
def test_bad_manifold_sample_size(blobs, size):
    x, _ = blobs
    with pytest.raises((ValueError, TypeError), match="manifold_sample_size"):
        N2D(3, manifold=PCA(n_components=2), manifold_sample_size=size, **TINY).fit(x)


def test_auto_pretraining_follows_pretrain_budget(blobs):
    from kdc.training import plan

    x, _ = blobs
    # 12 epochs: data of up to AUTO_BUDGET_MIN_ROWS rows train as many as that many rows would
    params = {**TINY, "pretrain_epochs": "auto", "pretrain_budget": 12 * plan.AUTO_BUDGET_MIN_ROWS}
    est = N2D(3, n_neighbors=10, random_state=0, **params).fit(x)
    assert len(est.history_["pretrain"]["loss"]) == 12


def test_umap_layout_epochs_shrink_on_large_data():
    assert layout_epochs(500) is None and layout_epochs(20_000) is None  # UMAP's default
    assert layout_epochs(40_000) == 100 and layout_epochs(70_000) == 60
    assert layout_epochs(1_000_000) == 60  # never below 60
    z = np.random.default_rng(0).normal(size=(50, 3)).astype("float32")
    kwargs = dict(n_components=2, n_neighbors=5, min_dist=0.0, metric="euclidean",
                  random_state=0, verbose=False)
    assert make_umap(z, **kwargs).n_epochs is None
    assert make_umap(z, n_epochs=7, **kwargs).n_epochs == 7


_UMAP_IN_A_FRESH_PROCESS = """
import json, os
import numpy as np
import umap.layouts
from numba.core.caching import NullCache
from kdc._manifold import cache_umap_kernels, fit_transform, make_umap
layout = umap.layouts._nb_optimize_layout_euclidean_single_epoch
cached = cache_umap_kernels() if os.environ["OPT_IN"] == "1" else 0
z = np.random.default_rng(0).normal(size=(300, 6)).astype("float32")
m = make_umap(z, n_components=2, n_neighbors=10, min_dist=0.0, metric="euclidean",
              random_state=0, verbose=False, n_epochs=20)
out = fit_transform(m, z)
stats = layout.stats
print(json.dumps({"cached": cached, "hits": sum(stats.cache_hits.values()),
                  "untouched": isinstance(layout._cache, NullCache),
                  "out": out.round(5).tolist()}))
"""


def _umap_in_a_fresh_process(cache_dir, enabled="1", opt_in="1"):
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir), "KDC_NUMBA_CACHE": enabled,
           "OPT_IN": opt_in}
    run = subprocess.run([sys.executable, "-c", _UMAP_IN_A_FRESH_PROCESS], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # four fresh interpreters, each compiling UMAP's kernels
def test_umap_kernels_are_cached_on_disk_for_the_next_process(tmp_path):
    first = _umap_in_a_fresh_process(tmp_path)
    assert first["cached"] > 10 and first["hits"] == 0
    assert any("layout_euclidean" in p.name for p in tmp_path.rglob("*.nbi"))
    second = _umap_in_a_fresh_process(tmp_path)
    assert second["hits"] > 0  # the layout's machine code came from the disk
    assert second["out"] == first["out"]
    off = _umap_in_a_fresh_process(tmp_path / "off", enabled="0")
    assert off["cached"] == 0  # other packages may use the cache, umap-learn's kernels do not
    assert not any("layout_euclidean" in p.name for p in (tmp_path / "off").rglob("*.nbi"))
    assert off["out"] == first["out"]
    # without the opt-in (the library's own calls), umap-learn is left as it is
    plain = _umap_in_a_fresh_process(tmp_path / "plain", opt_in="0")
    assert plain["untouched"] and not first["untouched"]
    assert not any("layout_euclidean" in p.name for p in (tmp_path / "plain").rglob("*.nbi"))
    assert plain["out"] == first["out"]


@pytest.mark.parametrize("restart_sample", [None, 60])
def test_verbose_lines_do_not_change_the_labels(monkeypatch, capsys, restart_sample):
    """At verbose=1 the GMM restarts run one by one (a line each): the same fit as verbose=0."""
    if restart_sample:
        monkeypatch.setattr(n2d, "GMM_RESTART_SAMPLE", restart_sample)
    x, _ = make_blobs()
    kwargs = {**TINY, "verbose": 0}
    quiet = N2D(3, n_neighbors=10, random_state=0, **kwargs).fit(x)
    loud = N2D(3, n_neighbors=10, random_state=0, **{**kwargs, "verbose": 1}).fit(x)
    np.testing.assert_array_equal(loud.labels_, quiet.labels_)
    np.testing.assert_array_equal(loud.clusterer_.means_, quiet.clusterer_.means_)
    assert "restart 10/10" in capsys.readouterr().out


def _rows_near(x, n=20):
    """``n`` new rows: the first rows of ``x`` with noise added."""
    rng = np.random.default_rng(3)
    return (x[:n] + rng.normal(scale=0.3, size=(n, x.shape[1]))).astype("float32")


def _assert_rows_are_predicted_alone(est, x_new):
    """A row's label and probabilities are its own, alone or beside other rows."""
    proba = est.predict_proba(x_new)
    alone = np.concatenate([est.predict_proba(x_new[i:i + 1]) for i in range(len(x_new))])
    np.testing.assert_array_equal(alone, proba)
    np.testing.assert_array_equal(est.predict(x_new), proba.argmax(axis=1))


@pytest.fixture(scope="module")
def fitted_both():
    x, y = make_blobs()
    return N2D(3, n_neighbors=10, manifold_input="both", random_state=0, **TINY).fit(x), x, y


def test_both_fits_the_umap_on_the_embedding_and_the_scaled_rows(fitted_both):
    est, x, y = fitted_both
    assert est.manifold_input_ == "both"
    assert cluster_accuracy(y, est.labels_) == 1.0
    width = TINY["embedding_dim"] + x.shape[1]
    assert est.manifold_input_offset_.shape == est.manifold_input_scale_.shape == (width,)
    # The manifold's input of the training rows: both blocks centred, of mean squared norm 1.
    u = est._head_input(x)
    assert u.shape == (x.shape[0], width)
    np.testing.assert_allclose(u.mean(axis=0), 0.0, atol=1e-4)
    d = TINY["embedding_dim"]
    for block in (u[:, :d], u[:, d:]):
        np.testing.assert_allclose(np.square(block).sum(axis=1).mean(), 1.0, rtol=1e-4)
    # UMAP was fitted on exactly these rows; the embedding block is the scaled embedding.
    np.testing.assert_allclose(est.placement_.fit_z, u, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        u[:, :d], (est.transform(x) - est.manifold_input_offset_[:d]) * est.manifold_input_scale_[:d],
        rtol=1e-5, atol=1e-5)
    scaled = x * est.scale_ + est.offset_
    np.testing.assert_allclose(
        u[:, d:], (scaled - est.manifold_input_offset_[d:]) * est.manifold_input_scale_[d:],
        rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(est.predict(x), est._label_coordinates(
        est.placement_.transform(u)))
    x_new = _rows_near(x)
    _assert_rows_are_predicted_alone(est, x_new)


def test_raw_fits_the_umap_on_the_scaled_rows_alone(blobs):
    x, y = blobs
    est = N2D(3, n_neighbors=10, manifold_input="raw", random_state=0, **TINY).fit(x)
    assert est.manifold_input_ == "raw" and est.manifold_input_scores_ is None
    assert cluster_accuracy(y, est.labels_) == 1.0
    assert est.manifold_input_offset_.shape == est.manifold_input_scale_.shape == (x.shape[1],)
    # The manifold's input: the scaled rows, centred, of mean squared norm 1; no embedding.
    u = est._head_input(x)
    scaled = x * est.scale_ + est.offset_
    np.testing.assert_allclose(
        u, (scaled - est.manifold_input_offset_) * est.manifold_input_scale_, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(u.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(np.square(u).sum(axis=1).mean(), 1.0, rtol=1e-4)
    np.testing.assert_allclose(est.placement_.fit_z, u, rtol=1e-5, atol=1e-5)
    # UMAP + GMM on the same rows with the same seeds gives the same clusters.
    shallow = N2D(3, n_neighbors=10, manifold_input="embedding", random_state=0, **TINY)
    shallow._k, shallow.input_shape_ = 3, est.input_shape_
    shallow._fit_head_on(u, None, "embedding")
    np.testing.assert_array_equal(shallow.labels_, est.labels_)
    assert est.transform(x).shape == (x.shape[0], TINY["embedding_dim"])
    x_new = _rows_near(x)
    _assert_rows_are_predicted_alone(est, x_new)
    with pytest.raises(ValueError, match="x has 1 row.*embedding is not finite"):
        est.predict(np.vstack([x_new[:2], np.full((1, x.shape[1]), 3e38, "float32")]))


def test_auto_manifold_input_keeps_the_input_whose_clusters_separate_best(fitted, tmp_path):
    """On flat rows "auto" fits the head on the embedding, on both and on the raw rows, and
    keeps the fit of the one with the largest silhouette in its own UMAP space: the fit that
    input gives alone."""
    est, x, _ = fitted
    assert est.manifold_input == "auto"
    scores = est.manifold_input_scores_
    assert set(scores) == {"embedding", "both", "raw"}
    x_new = make_blobs(n_samples=30, seed=4)[0]
    for choice in ("embedding", "both", "raw"):
        alone = N2D(3, n_neighbors=10, manifold_input=choice, random_state=0, **TINY).fit(x)
        assert alone.manifold_input_scores_ is None
        assert scores[choice] == pytest.approx(
            n2d.layout_score(alone.manifold_embedding_, alone.labels_), abs=1e-6)
        if choice == max(scores, key=scores.get):
            assert est.manifold_input_ == choice
            np.testing.assert_array_equal(est.labels_, alone.labels_)
            np.testing.assert_array_equal(est.manifold_embedding_, alone.manifold_embedding_)
            np.testing.assert_array_equal(est.predict(x_new), alone.predict(x_new))
            np.testing.assert_allclose(est.predict_proba(x_new), alone.predict_proba(x_new))
    est.save(tmp_path / "auto")
    again = kdc.load(tmp_path / "auto")
    assert again.manifold_input_ == est.manifold_input_
    assert again.manifold_input_scores_ == scores
    np.testing.assert_array_equal(again.predict(x_new), est.predict(x_new))


def test_auto_manifold_input_compares_the_inputs_on_a_sample_of_large_data(
        monkeypatch, blobs, capsys):
    """Above INPUT_CHOICE_ROWS rows each input's head is fitted on a sample of that many to
    be scored; the chosen input's head is then fitted on every row."""
    x, _ = blobs
    monkeypatch.setattr(n2d, "INPUT_CHOICE_ROWS", 120)
    calls, fit_head_on = [], N2D._fit_head_on

    def recording(self, z, rows, choice, score=False):
        calls.append((z.shape[0], None if rows is None else rows.shape[0], choice, score))
        return fit_head_on(self, z, rows, choice, score)

    monkeypatch.setattr(N2D, "_fit_head_on", recording)
    est = N2D(3, n_neighbors=10, random_state=0, **{**TINY, "verbose": 1}).fit(x)
    best = est.manifold_input_
    assert best == max(est.manifold_input_scores_, key=est.manifold_input_scores_.get)
    assert calls == [(120, 120, c, True) for c in ("embedding", "both", "raw")] + [
        (240, 240, best, False)]
    assert "of 120 sampled rows" in capsys.readouterr().out
    calls.clear()
    alone = N2D(3, n_neighbors=10, manifold_input=best, random_state=0, **TINY).fit(x)
    assert calls == [(240, None if best == "embedding" else 240, best, False)]
    np.testing.assert_array_equal(est.labels_, alone.labels_)
    np.testing.assert_array_equal(est.manifold_embedding_, alone.manifold_embedding_)
    np.testing.assert_array_equal(est.predict(x[:30]), alone.predict(x[:30]))


def test_auto_manifold_input_prefers_the_embedding_on_a_tie(monkeypatch, blobs, capsys):
    x, _ = blobs
    monkeypatch.setattr(n2d, "layout_score", lambda m, labels, random_state=None: 0.5)
    est = N2D(3, n_neighbors=10, random_state=0, **{**TINY, "verbose": 1}).fit(x)
    assert est.manifold_input_ == "embedding"
    assert est.manifold_input_offset_ is None and est.manifold_input_scale_ is None
    assert est.manifold_input_scores_ == {"embedding": 0.5, "both": 0.5, "raw": 0.5}
    assert est.placement_.fit_z.shape == (240, TINY["embedding_dim"])
    assert "manifold input: embedding (silhouette" in capsys.readouterr().out


def test_auto_manifold_input_is_the_embedding_for_images_and_other_manifolds(blobs):
    x, _ = blobs
    images = make_blobs(n_features=256)[0].reshape(-1, 16, 16)  # 16 pixels a side: images
    on_images = N2D(3, n_neighbors=10, random_state=0, **TINY).fit(images)
    on_pca = N2D(3, manifold=PCA(n_components=2), random_state=0, **TINY).fit(x)
    for est, rows in ((on_images, images[:30]), (on_pca, x[:30])):
        assert est.manifold_input_ == "embedding" and est.manifold_input_scores_ is None
        assert est.manifold_input_offset_ is None and est.manifold_input_scale_ is None
        np.testing.assert_array_equal(est.predict(rows), est._predict_head(est.transform(rows)))
    assert on_images.placement_.fit_z.shape == (240, TINY["embedding_dim"])
    assert on_pca.manifold_.n_features_in_ == TINY["embedding_dim"]


def test_auto_manifold_input_compares_on_small_2d_samples(blobs):
    """Windows of a few channels (or images under 16 pixels a side) are compared like rows."""
    x, _ = blobs
    windows = x.reshape(-1, 5, 4)
    est = N2D(3, n_neighbors=10, random_state=0, **TINY).fit(windows)
    assert set(est.manifold_input_scores_) == {"embedding", "both", "raw"}
    flat = N2D(3, n_neighbors=10, random_state=0, **TINY).fit(x)
    assert est.manifold_input_ == flat.manifold_input_
    np.testing.assert_array_equal(est.labels_, flat.labels_)
    np.testing.assert_array_equal(est.predict(windows[:30]), flat.predict(x[:30]))


def test_layout_score_is_the_silhouette_of_the_clustered_rows():
    from sklearn.metrics import silhouette_score

    m, labels = make_blobs(n_samples=300, n_features=2, seed=1)
    clean = n2d.layout_score(m, labels)
    assert clean == pytest.approx(silhouette_score(m, labels)) and clean > 0.6
    shuffled = np.random.default_rng(0).permutation(labels)
    assert n2d.layout_score(m, shuffled) < 0.1 < clean
    noisy = labels.copy()
    noisy[:30] = -1  # noise rows (HDBSCAN) are left out
    assert n2d.layout_score(m, noisy) == pytest.approx(silhouette_score(m[30:], labels[30:]))
    assert n2d.layout_score(m, np.zeros(300, "int64")) == -1.0
    assert n2d.layout_score(m[:3], np.arange(3)) == -1.0


def test_layout_score_samples_large_data_reproducibly(monkeypatch):
    monkeypatch.setattr(n2d, "INPUT_SCORE_SAMPLE", 100)
    m, labels = make_blobs(n_samples=600, n_features=2, seed=2, spread=0.2)
    first = n2d.layout_score(m, labels, random_state=3)
    assert first == n2d.layout_score(m, labels, random_state=3)
    assert first != n2d.layout_score(m, labels, random_state=4)  # another sample of 100


def test_manifold_input_both_with_another_manifold_learner(blobs):
    x, y = blobs
    both = N2D(3, manifold=PCA(n_components=2), manifold_input="both", random_state=0,
               **TINY).fit(x)
    assert both.manifold_.n_features_in_ == TINY["embedding_dim"] + x.shape[1]
    assert cluster_accuracy(y, both.labels_) == 1.0
    np.testing.assert_array_equal(both.predict(x), both.labels_)


def test_a_model_saved_before_manifold_input_predicts_from_the_embedding(blobs):
    x, _ = blobs
    est = N2D(3, n_neighbors=10, manifold_input="embedding", random_state=0, **TINY).fit(x)
    state = est.get_fitted_state()
    for name in ("manifold_input_", "manifold_input_offset_", "manifold_input_scale_",
                 "manifold_input_scores_"):
        del state[name]
    old = N2D(**est.get_params())
    old.set_fitted_state(state)
    assert old.manifold_input_ == "embedding"
    np.testing.assert_array_equal(old.predict(x), est.predict(x))


def test_is_sequence_means_enough_steps_and_fewer_channels():
    from kdc.training import plan

    for shape in ((128, 9), (9, 128), (16, 1), (1, 16), (64, 3), (3, 64), (29, 12)):
        assert plan.is_sequence(shape) and not plan.is_image(shape)
    for shape in ((8, 8), (15, 1), (5, 4), (28, 28), (16, 16), (784,), (28, 28, 1), (3, 64, 1)):
        assert not plan.is_sequence(shape)
    assert [plan.is_channels_first(s) for s in ((128, 9), (9, 128), (16, 1), (1, 16))] == [
        False, True, False, True]


def test_spectrum_is_the_amplitude_of_each_channels_fourier_transform():
    x, _ = make_windows(n=6, steps=20, channels=3)
    s = n2d.spectrum(x.reshape(6, -1), (20, 3))
    assert s.dtype == np.float32 and s.shape == (6, 11 * 3)
    expected = np.abs(np.fft.rfft(x.astype("float64"), axis=1))  # (6, 11, 3)
    np.testing.assert_allclose(s.reshape(6, 11, 3), expected, rtol=1e-5, atol=1e-5)
    # Blind to where in the window a pattern falls: a circular shift changes nothing.
    shifted = n2d.spectrum(np.roll(x, 7, axis=1).reshape(6, -1), (20, 3))
    np.testing.assert_allclose(shifted, s, rtol=1e-4, atol=1e-4)
    # The same sequences channels first (sktime's and aeon's layout) give the same spectrum.
    first = x.transpose(0, 2, 1).reshape(6, -1)
    np.testing.assert_array_equal(n2d.spectrum(first, (3, 20)), s)


def test_aligned_share_tells_windows_from_series_with_a_common_profile():
    windows, _ = make_windows()
    aligned, _ = make_windows(aligned=True)
    flat = {name: v.reshape(len(v), -1) for name, v in (("w", windows), ("a", aligned))}
    assert n2d.aligned_share(flat["w"], (32, 2)) < 0.02
    assert n2d.aligned_share(flat["a"], (32, 2)) > 0.2  # a third of the variance, in theory
    # The share does not depend on the units, and the chance profile of few rows is taken off.
    assert n2d.aligned_share(flat["a"] * 50 + 3, (32, 2)) == pytest.approx(
        n2d.aligned_share(flat["a"], (32, 2)), rel=1e-6)
    noise = np.random.default_rng(0).normal(size=(5, 64))
    seq = noise.reshape(5, 32, 2)
    raw_share = seq.mean(axis=0).var(axis=0).sum() / seq.reshape(-1, 2).var(axis=0).sum()
    assert raw_share > 0.15 and n2d.aligned_share(noise, (32, 2)) < 0.1
    assert n2d.aligned_share(np.ones((10, 64)), (32, 2)) == 0.0
    # The chunked float64 accumulation equals the share computed directly.
    x = np.random.default_rng(1).normal(size=(300, 40, 3)) + np.linspace(0, 1, 40)[:, None]
    between = x.mean(axis=0).var(axis=0) - x.var(axis=0, ddof=1).mean(axis=0) / 300
    direct = np.maximum(between, 0).sum() / x.reshape(-1, 3).var(axis=0).sum()
    assert n2d.aligned_share(x.reshape(300, -1).astype("float32"), (40, 3)) == pytest.approx(
        direct, rel=1e-5)
    for name, v in (("w", windows), ("a", aligned)):  # channels first: the same share
        assert n2d.aligned_share(v.transpose(0, 2, 1).reshape(len(v), -1), (2, 32)) == (
            pytest.approx(n2d.aligned_share(flat[name], (32, 2)), rel=1e-9))


def test_spectrum_fits_the_umap_on_the_amplitude_spectrum_of_the_scaled_rows():
    x, y = make_windows()
    est = N2D(3, n_neighbors=10, manifold_input="spectrum", random_state=0, **TINY).fit(x)
    assert est.manifold_input_ == "spectrum" and est.manifold_input_scores_ is None
    assert cluster_accuracy(y, est.labels_) == 1.0  # the phase no longer hides the classes
    width = 17 * 2
    assert est.manifold_input_offset_.shape == est.manifold_input_scale_.shape == (width,)
    u = est._head_input(x)
    scaled = x.reshape(len(x), -1) * est.scale_ + est.offset_
    np.testing.assert_allclose(
        u, (n2d.spectrum(scaled, (32, 2)) - est.manifold_input_offset_) * est.manifold_input_scale_,
        rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(u.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(np.square(u).sum(axis=1).mean(), 1.0, rtol=1e-4)
    np.testing.assert_allclose(est.placement_.fit_z, u, rtol=1e-5, atol=1e-5)
    x_new, y_new = make_windows(n=30, seed=5)
    assert cluster_accuracy(y_new, est.predict(x_new)) == 1.0
    # A window shifted along its steps is placed where it was; flat rows are read alike.
    np.testing.assert_array_equal(est.predict(np.roll(x_new, 5, axis=1)), est.predict(x_new))
    np.testing.assert_array_equal(est.predict(x_new.reshape(30, -1)), est.predict(x_new))
    _assert_rows_are_predicted_alone(est, x_new)


def test_spectrum_is_refused_before_pretraining_for_samples_that_are_not_sequences(blobs):
    x, _ = blobs
    for data, shape in ((x, r"\(20,\)"), (x.reshape(-1, 5, 4), r"\(5, 4\)")):
        est = N2D(3, manifold_input="spectrum", **TINY)
        with pytest.raises(ValueError, match="manifold_input='spectrum' needs sequences: samples "
                           r"of shape \(steps, channels\).*Received: x with samples of shape "
                           + shape):
            est.fit(data)
        assert not hasattr(est, "autoencoder_")


def test_auto_compares_the_spectrum_of_windows_but_not_of_aligned_series(capsys):
    windows, y = make_windows()
    est = N2D(3, n_neighbors=10, random_state=0, **{**TINY, "verbose": 1}).fit(windows)
    scores = est.manifold_input_scores_
    assert list(scores) == ["embedding", "both", "raw", "spectrum"]
    assert est.manifold_input_ == max(scores, key=scores.get)
    assert "spectrum compared" in capsys.readouterr().out
    alone = N2D(3, n_neighbors=10, manifold_input="spectrum", random_state=0, **TINY).fit(windows)
    assert scores["spectrum"] == pytest.approx(
        n2d.layout_score(alone.manifold_embedding_, alone.labels_), abs=1e-6)
    first = N2D(3, n_neighbors=10, random_state=0, **TINY).fit(windows.transpose(0, 2, 1))
    assert list(first.manifold_input_scores_) == list(scores)  # channels first: the same
    aligned, _ = make_windows(aligned=True)
    est = N2D(3, n_neighbors=10, random_state=0, **{**TINY, "verbose": 1}).fit(aligned)
    assert list(est.manifold_input_scores_) == ["embedding", "both", "raw"]
    assert "spectrum not compared" in capsys.readouterr().out
