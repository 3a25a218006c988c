"""est.export: a TF SavedModel that TF Serving can load and that predicts what est predicts."""

import json
import shutil
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import tensorflow as tf
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.exceptions import ConvergenceWarning

import kdc
from kdc.cluster import _n2d_export
from kdc import serving
from tests.conftest import TINY, make_blobs, make_windows

_X, _Y = make_blobs(n_samples=270)
X, Y, X_NEW, Y_NEW = _X[:180], _Y[:180], _X[180:], _Y[180:]  # held-out rows of the same blobs


@pytest.fixture(autouse=True)
def _small_map_budget(monkeypatch):
    """The N2D parametric map trains on 2,000,000 samples by default; 150,000 do here."""
    monkeypatch.setattr(serving, "_MAP_SAMPLES", 150_000)


def _fit(cls, **extra):
    return _fit_on(cls, X, **extra)


def _fit_on(cls, x, **extra):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(3, **{"random_state": 0, **TINY, **extra}).fit(x)


@pytest.fixture(scope="module")
def dec():
    return _fit(kdc.DEC, max_iter=30, update_interval=10, alpha=2.0)


def _serve(path, x):
    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    out = fn(x=tf.constant(x, tf.float32))
    return {k: v.numpy() for k, v in out.items()}


def _check_exact(est, out, x):
    assert out["cluster"].dtype == np.int64 and out["cluster"].shape == (len(x),)
    assert out["probabilities"].dtype == np.float32
    assert out["embedding"].dtype == np.float32
    np.testing.assert_array_equal(out["cluster"], est.predict(x))
    np.testing.assert_allclose(out["probabilities"], est.predict_proba(x), atol=1e-6)
    np.testing.assert_allclose(out["embedding"], est.transform(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", [kdc.AEKMeans, kdc.IDEC])
def test_exported_heads_are_exact(cls, tmp_path):
    est = _fit(cls, **({"max_iter": 30, "update_interval": 10} if cls is kdc.IDEC else {}))
    path = est.export(tmp_path / "kdc" / "1")
    out = _serve(path, X_NEW)
    _check_exact(est, out, X_NEW)
    info = json.loads((path / serving.EXPORT_INFO).read_text())
    assert info["outputs"]["probabilities"] == ["float32", [None, 3]]
    assert info["inputs"]["x"] == ["float32", [None, 20]]


def test_exported_model_gives_rows_it_cannot_place_cluster_minus_1(dec, tmp_path):
    path = dec.export(tmp_path / "m")
    x = X_NEW[:6].copy()
    x[1, 3], x[2, 0], x[3, 5] = np.nan, np.inf, -np.inf
    x[4] = 3e38  # finite, but the scaled values overflow
    out = _serve(path, x)
    assert out["cluster"].tolist()[1:5] == [serving.NO_CLUSTER] * 4
    assert np.isnan(out["probabilities"][1:5]).all()
    good = [0, 5]
    np.testing.assert_array_equal(out["cluster"][good], dec.predict(x[good]))
    np.testing.assert_allclose(out["probabilities"][good], dec.predict_proba(x[good]), atol=1e-6)


def test_export_scales_raw_features_inside_the_graph(tmp_path):
    rng = np.random.default_rng(0)
    x = (X * 300.0 - 50.0 + rng.normal(size=X.shape)).astype("float32")  # not in [0, 1]
    est = kdc.AEKMeans(3, scale="standard", random_state=0, **TINY).fit(x)
    out = _serve(est.export(tmp_path / "m"), x)
    _check_exact(est, out, x)


def test_tf_serving_style_load_in_a_process_without_kdc(dec, tmp_path):
    """Load as TF Serving would: a process that imports only TensorFlow."""
    path = dec.export(tmp_path / "kdc" / "1")
    np.save(tmp_path / "x.npy", X_NEW)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import tensorflow as tf
        model = tf.saved_model.load({str(path)!r})
        fn = model.signatures["serving_default"]
        out = fn(x=tf.constant(np.load({str(tmp_path / 'x.npy')!r})))
        np.save({str(tmp_path / 'clusters.npy')!r}, out["cluster"].numpy())
        assert not any(m == "kdc" or m.startswith("kdc.") for m in sys.modules), "kdc imported"
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    np.testing.assert_array_equal(np.load(tmp_path / "clusters.npy"), dec.predict(X_NEW))
    _check_exact(dec, _serve(path, X_NEW), X_NEW)  # alpha=2: Student-t with alpha != 1


@pytest.mark.skipif(shutil.which("saved_model_cli") is None, reason="saved_model_cli not on PATH")
def test_saved_model_cli_lists_the_signature(dec, tmp_path):
    path = dec.export(tmp_path / "m")
    result = subprocess.run(["saved_model_cli", "show", "--dir", str(path), "--all"],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    assert "signature_def['serving_default']" in text
    for name in ("inputs['x']", "outputs['cluster']", "outputs['probabilities']",
                 "outputs['embedding']"):
        assert name in text
    assert "DT_INT64" in text and "shape: (-1, 20)" in text


@pytest.fixture(scope="module")
def n2d():
    return _fit(kdc.N2D, n_neighbors=10)


def test_n2d_export_carries_umap_transform_and_matches_predict(n2d, tmp_path):
    path = n2d.export(tmp_path / "m")
    info = json.loads((path / serving.EXPORT_INFO).read_text())
    assert info["head"] == "umap transform + gmm"
    assert info["train_agreement"] >= 0.99 and info["predict_agreement"] >= 0.99
    out = _serve(path, X_NEW)
    np.testing.assert_array_equal(out["cluster"], n2d.predict(X_NEW))
    assert kdc.metrics.cluster_accuracy(Y_NEW, out["cluster"]) >= 0.97
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, atol=1e-5)
    assert n2d.serving_map_ is None  # nothing learned: the graph follows from the fit
    # A row gets the same answer alone as in a batch (UMAP's own transform need not).
    alone = np.concatenate([_serve(path, X_NEW[i:i + 1])["probabilities"] for i in range(5)])
    np.testing.assert_allclose(alone, out["probabilities"][:5], atol=1e-6)
    again = kdc.load(n2d.save(tmp_path / "saved"))
    out2 = _serve(again.export(tmp_path / "m2"), X_NEW)
    np.testing.assert_array_equal(out2["cluster"], out["cluster"])


@pytest.mark.parametrize("manifold_input", ["both", "raw"])
def test_n2d_export_with_manifold_input_reads_the_scaled_rows(tmp_path, manifold_input):
    est = _fit(kdc.N2D, n_neighbors=10, manifold_input=manifold_input)
    path = est.export(tmp_path / "m")
    info = json.loads((path / serving.EXPORT_INFO).read_text())
    assert info["train_agreement"] >= 0.99 and info["predict_agreement"] >= 0.99
    out = _serve(path, X_NEW)
    np.testing.assert_array_equal(out["cluster"], est.predict(X_NEW))
    np.testing.assert_allclose(out["probabilities"], est.predict_proba(X_NEW), atol=1e-4)
    np.testing.assert_allclose(out["embedding"], est.transform(X_NEW), atol=1e-5)
    again = kdc.load(est.save(tmp_path / "saved"))  # a safe load keeps the input's scaling
    assert again.manifold_input_ == manifold_input
    np.testing.assert_array_equal(again.predict(X_NEW), est.predict(X_NEW))


def test_n2d_export_with_manifold_input_both_on_2d_samples_reads_their_flat_rows(tmp_path):
    windows = X.reshape(-1, 4, 5)
    est = _fit_on(kdc.N2D, windows, n_neighbors=10, manifold_input="both")
    out = _serve(est.export(tmp_path / "m"), X_NEW)  # served rows are flat
    np.testing.assert_array_equal(out["cluster"], est.predict(X_NEW.reshape(-1, 4, 5)))
    np.testing.assert_allclose(out["probabilities"], est.predict_proba(X_NEW.reshape(-1, 4, 5)),
                               atol=1e-4)


@pytest.mark.parametrize("channels_first", [False, True])
def test_n2d_export_with_manifold_input_spectrum_serves_predicts_clusters(tmp_path,
                                                                         channels_first):
    """The SavedModel takes the spectrum of the flat served rows in TF ops, as predict does
    in numpy, for both layouts of sequences, and a safe load keeps it."""
    x, y = make_windows(n=180)  # windows cut at arbitrary offsets
    if channels_first:
        x = np.ascontiguousarray(x.transpose(0, 2, 1))
    est = _fit_on(kdc.N2D, x[:120], n_neighbors=10, manifold_input="spectrum")
    assert kdc.metrics.cluster_accuracy(y[:120], est.labels_) == 1.0
    path = est.export(tmp_path / "m")
    info = json.loads((path / serving.EXPORT_INFO).read_text())
    assert info["train_agreement"] >= 0.99 and info["predict_agreement"] >= 0.99
    new = x[120:]
    out = _serve(path, new.reshape(60, -1))  # served rows are flat
    np.testing.assert_array_equal(out["cluster"], est.predict(new))
    np.testing.assert_allclose(out["probabilities"], est.predict_proba(new), atol=1e-4)
    again = kdc.load(est.save(tmp_path / "saved"))
    assert again.manifold_input_ == "spectrum"
    np.testing.assert_array_equal(again.predict(new), est.predict(new))


@pytest.fixture(scope="module", params=["euclidean", "cosine"])
def n2d_by_metric(request, n2d):
    """N2D heads whose UMAP uses each metric the TF transform supports."""
    if n2d.manifold_.metric == request.param:
        return n2d
    # Seed 1: with seed 0 this cosine fit merged two blobs (ACC .73), and rows of the
    # merged blob lay on the mixture's arbitrary boundary through it, where labels
    # from any approximate placement are a coin toss.
    est = _fit(kdc.N2D, n_neighbors=10, umap_metric=request.param, random_state=1)
    assert kdc.metrics.cluster_accuracy(Y, est.labels_) == 1.0  # the test's premise
    return est


def test_placement_follows_umap_and_is_the_same_in_numpy_and_tf(n2d_by_metric):
    from kdc._umap_placement import BLOCK_ROWS, UMAPPlacement

    n2d = n2d_by_metric
    z_new = n2d._head_input(X_NEW)  # the manifold's input (manifold_input_)
    expected = np.asarray(n2d.manifold_.transform(z_new))  # umap-learn's own, stochastic
    placement = UMAPPlacement.from_umap(n2d.manifold_)
    got = placement.transform(z_new)
    spread = np.ptp(n2d.manifold_embedding_, axis=0).mean()
    # Only UMAP's random repulsion is left out: coordinates within a few % of the layout's size.
    assert np.abs(got - expected).mean() < 0.05 * spread
    np.testing.assert_array_equal(n2d._label_coordinates(got), n2d._label_coordinates(expected))
    # The TF ops give the numpy coordinates, also past a search block with a ragged last one.
    many = np.repeat(z_new, 6, axis=0)[:BLOCK_ROWS + 7]
    np.testing.assert_allclose(placement.tf_transform(tf.constant(many)).numpy(),
                               np.repeat(got, 6, axis=0)[:len(many)], atol=1e-4)
    # Saved as arrays and numbers, it places rows the same way.
    again = UMAPPlacement.from_state(placement.get_state())
    np.testing.assert_array_equal(again.transform(z_new), got)


def test_membership_weights_match_umap():
    from umap.umap_ import compute_membership_strengths, smooth_knn_dist

    from kdc import _umap_placement

    rng = np.random.default_rng(0)
    dist = np.sort(rng.uniform(0.2, 3.0, size=(50, 12)), axis=1).astype("float32")
    for connectivity in (0.0, 1.0, 1.5):
        weights, sigma = _umap_placement._memberships(dist, 12, connectivity,
                                                      _umap_placement._NumpyOps)
        sigmas, rhos = smooth_knn_dist(dist, 12.0, local_connectivity=connectivity)
        ind = np.tile(np.arange(12, dtype=np.int32), (50, 1))
        vals = compute_membership_strengths(ind, dist, sigmas, rhos, bipartite=True)[2]
        np.testing.assert_allclose(sigma, sigmas, rtol=1e-4)
        np.testing.assert_allclose(weights.ravel(), vals, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_neighbours_match_scikit_learn_in_numpy_and_tf(metric):
    from sklearn.neighbors import NearestNeighbors

    from kdc._umap_placement import UMAPPlacement, _NumpyOps, _TFOps

    rng = np.random.default_rng(1)
    fit_z = rng.normal(size=(300, 6)).astype("float32")
    query = rng.normal(size=(40, 6)).astype("float32")
    query[0] = 0.0  # a zero row is at cosine distance 1 from every row, as in scikit-learn
    placement = UMAPPlacement(fit_z, fit_z[:, :2], metric=metric, n_neighbors=8, epochs=1,
                              local_connectivity=0.0, w_max=1.0, a=1.0, b=1.0, alpha=1.0)
    want_dist, want_idx = NearestNeighbors(n_neighbors=8, metric=metric).fit(
        fit_z).kneighbors(query)
    consts = {"fit_z": tf.constant(placement._unit), "fit_sq": tf.constant(placement._fit_sq)}
    for idx, dist in (placement._neighbours(query, 8, _NumpyOps),
                      placement._neighbours(tf.constant(query), 8, _TFOps(), consts)):
        idx, dist = np.asarray(idx), np.asarray(dist)
        np.testing.assert_allclose(dist, want_dist, atol=1e-4)  # sorted by distance
        np.testing.assert_array_equal(np.sort(idx[1:], axis=1), np.sort(want_idx[1:], axis=1))


def test_placement_refuses_what_it_does_not_reproduce():
    import umap

    from kdc._umap_placement import UMAPPlacement, unsupported

    z = np.random.default_rng(0).normal(size=(60, 4)).astype("float32")
    fitted = umap.UMAP(n_neighbors=5, metric="manhattan", n_epochs=5, random_state=0).fit(z)
    assert unsupported(fitted) == "metric='manhattan'"
    with pytest.raises(ValueError, match="does not support this UMAP: metric='manhattan'"):
        UMAPPlacement.from_umap(fitted)


def test_n2d_parametric_map_export(tmp_path):
    est = _fit(kdc.N2D, n_neighbors=10)
    path = est.export(tmp_path / "m", manifold_map="parametric")
    info = json.loads((path / serving.EXPORT_INFO).read_text())
    assert info["head"] == "parametric map + gmm"
    assert info["train_agreement"] >= 0.97
    out = _serve(path, X_NEW)
    assert np.mean(out["cluster"] == est.predict(X_NEW)) >= 0.97
    assert kdc.metrics.cluster_accuracy(Y_NEW, out["cluster"]) >= 0.97
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, atol=1e-5)
    # The parametric map is kept, so exporting again (or after save/load) gives the same graph.
    assert est.serving_map_ is not None
    again = kdc.load(est.save(tmp_path / "saved"))
    out2 = _serve(again.export(tmp_path / "m2", manifold_map="parametric"), X_NEW)
    np.testing.assert_array_equal(out2["cluster"], out["cluster"])


def test_n2d_with_another_manifold_exports_a_parametric_map(tmp_path):
    from sklearn.decomposition import PCA

    est = _fit(kdc.N2D, manifold=PCA(3))
    with pytest.raises(ValueError, match="manifold_map='umap'.*PCA"):
        est.export(tmp_path / "m", manifold_map="umap")
    with pytest.raises(ValueError, match="manifold_map must be one of .*Received: manifold_map="):
        est.export(tmp_path / "m", manifold_map="tsne")
    assert not (tmp_path / "m").exists()
    path = est.export(tmp_path / "m")  # auto: a learned map
    assert json.loads((path / serving.EXPORT_INFO).read_text())["head"] == "parametric map + gmm"
    assert np.mean(_serve(path, X_NEW)["cluster"] == est.predict(X_NEW)) >= 0.97
    both = _fit(kdc.N2D, manifold=PCA(3), manifold_input="both")
    with pytest.raises(ValueError, match="manifold_input='both' needs the default UMAP manifold.*"
                                         "Received: the manifold is a PCA"):
        both.export(tmp_path / "both")
    assert not (tmp_path / "both").exists()


def test_n2d_with_kmeans_head_exports(tmp_path):
    est = _fit(kdc.N2D, n_neighbors=10, clusterer=KMeans(3, n_init=3, random_state=0))
    path = est.export(tmp_path / "m")
    assert json.loads((path / serving.EXPORT_INFO).read_text())["train_agreement"] >= 0.99
    assert np.mean(_serve(path, X_NEW)["cluster"] == est.predict(X_NEW)) >= 0.99


def test_n2d_without_a_tf_head_is_refused(tmp_path):
    est = _fit(kdc.N2D, n_neighbors=10,
               clusterer=SpectralClustering(3, random_state=0, affinity="nearest_neighbors"))
    with pytest.raises(ValueError, match="clusterer=SpectralClustering"):
        est.export(tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_gmm_head_matches_scikit_learn_for_every_covariance_type():
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(0)
    m = np.concatenate([rng.normal(c, 0.3 + c / 10, size=(60, 3)) for c in range(3)])
    for kind in ("full", "tied", "diag", "spherical"):
        gmm = GaussianMixture(3, covariance_type=kind, random_state=0).fit(m)
        cluster, proba = serving.gmm_head(m, gmm)
        np.testing.assert_array_equal(cluster.numpy(), gmm.predict(m))
        np.testing.assert_allclose(proba.numpy(), gmm.predict_proba(m), atol=1e-8)


def test_export_refuses_to_overwrite(dec, tmp_path):
    path = dec.export(tmp_path / "m")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        dec.export(path)
    dec.export(path, overwrite=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="does not hold a kdc SavedModel export"):
        dec.export(tmp_path / "other", overwrite=True)
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep"


def test_probe_points_are_labelled_as_predict_labels_new_rows():
    est = _fit(kdc.N2D, n_neighbors=10)
    z, coords, labels = _n2d_export._probe_points(est, 50, seed=0)
    emb = est._head_fit_rows()[0]  # the manifold's input of the training rows
    assert z.shape == (50, emb.shape[1]) and coords.shape == (50, 3)
    np.testing.assert_array_equal(labels, est._predict_head(z))
    np.testing.assert_allclose(coords, est._manifold_transform(z), rtol=1e-4, atol=1e-4)
    # Each probe lies on a segment from a row towards one of its 10 nearest rows, at most half way.
    d_probe = np.linalg.norm(z[:, None] - emb[None], axis=2).min(axis=1)
    d_rows = np.sort(np.linalg.norm(emb[:, None] - emb[None], axis=2), axis=1)[:, 10]
    assert np.all(d_probe <= d_rows.max() / 2 + 1e-5)
    assert _n2d_export._probe_points(est, 10_000, seed=0)[0].shape[0] == len(X)  # capped at n_samples
