"""Tests of kdc.plot: every figure renders to a real PNG; bad input is rejected."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

import kdc  # noqa: E402
from kdc import plot  # noqa: E402
from kdc.select import select_k  # noqa: E402
from tests.conftest import TINY, make_blobs, make_windows  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def assert_png(fig_or_axes, path):
    """Save the figure and check it is a real, non-blank image."""
    fig = np.ravel(fig_or_axes)[0].figure if not hasattr(fig_or_axes, "savefig") else fig_or_axes
    fig.savefig(path, dpi=80)
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 5000, f"{path.name} is only {len(data)} bytes"
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image[..., :3].std() > 0.01  # not a single colour


@pytest.fixture(scope="module")
def digits_aek(digits):
    """(x, y, est): AEKMeans with a 2-D embedding fitted on the 8x8 digits."""
    x, y = digits
    est = kdc.AEKMeans(n_clusters=10, hidden_dims=(16,), embedding_dim=2, pretrain_epochs=2,
                       n_init=2, random_state=0, verbose=0).fit(x)
    return x, y, est


@pytest.fixture(scope="module")
def blobs_dec():
    """(x, y, est): a tiny DEC fitted on blobs with y for monitoring."""
    x, y = make_blobs()
    est = kdc.DEC(3, max_iter=12, update_interval=4, clustering_batch_size=40, n_init=2,
                  precision="float32", random_state=0, **{**TINY, "pretrain_epochs": 1}
                  ).fit(x, y)
    return x, y, est


# ----------------------------------------------------------------- embedding
def test_embedding_two_panels_on_digits(digits_aek, tmp_path):
    x, y, est = digits_aek
    z = est.transform(x)
    assert z.shape[1] == 2  # drawn as it is
    axes = plot.embedding(z, est.labels_, y)
    assert isinstance(axes, np.ndarray) and axes.shape == (2,)
    assert axes[0].get_title().startswith("clusters") and "true labels" in axes[1].get_title()
    assert axes[0].get_xlabel() == "dimension 1"
    assert axes[0].collections[0].get_offsets().shape == (len(x), 2)
    # each cluster takes the colour of its matched class: the matched points
    # share colours across the two panels
    c0 = axes[0].collections[0].get_facecolors()
    c1 = axes[1].collections[0].get_facecolors()
    assert np.mean(np.all(c0 == c1, axis=1)) == pytest.approx(
        kdc.metrics.cluster_accuracy(y, est.labels_))
    assert_png(axes, tmp_path / "embedding.png")


def test_embedding_pca_subsamples_and_accepts_axes(digits, tmp_path):
    x, y = digits
    fig, (a, b) = plt.subplots(1, 2)
    axes = plot.embedding(x, y, y, method="pca", max_points=300, ax=[a, b], random_state=1)
    assert axes[0] is a and axes[1] is b
    assert a.collections[0].get_offsets().shape == (300, 2)
    assert "300 of 1,797 points" in a.get_title() and "PCA" in a.get_title()
    assert a.get_xlabel().startswith("PC 1")
    assert_png(fig, tmp_path / "embedding_pca.png")
    single = plot.embedding(x[:200], method="pca")
    assert hasattr(single, "scatter") and single.get_title() == "PCA"


def test_embedding_auto_picks_umap_then_pca(monkeypatch, blobs):
    from kdc import _manifold

    calls = []

    def fake_make_umap(z, **kwargs):
        calls.append(kwargs["n_components"])
        return PCA(2)

    monkeypatch.setattr(_manifold, "make_umap", fake_make_umap)
    x, _ = blobs
    assert "UMAP" in plot.embedding(x).get_title() and calls == [2]
    monkeypatch.setattr(plot, "UMAP_AUTO_MAX_POINTS", 100)
    assert "PCA" in plot.embedding(x).get_title() and calls == [2]


def test_embedding_noise_label_and_many_clusters(blobs):
    x, _ = blobs
    labels = np.arange(len(x)) % 4 - 1  # -1 is noise
    ax = plot.embedding(x, labels, method="pca")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["noise", "0", "1", "2"]
    ax = plot.embedding(x, np.arange(len(x)) % 30, method="pca")  # turbo, no legend
    assert ax.get_legend() is None


def test_embedding_rejects_bad_input(blobs):
    x, y = blobs
    with pytest.raises(ValueError, match=r"labels must have one label per row of z \(240 rows\)"
                                         r"\. Received: labels of length 239"):
        plot.embedding(x, y[:-1])
    with pytest.raises(ValueError, match="y_true must have one label per row of z"):
        plot.embedding(x, y, y[:10])
    with pytest.raises(ValueError, match="method must be one of"):
        plot.embedding(x, y, method="tsne")
    with pytest.raises(ValueError, match="ax must be None or a sequence of 2 Axes"):
        plot.embedding(x, y, y, ax=plt.subplots()[1])
    with pytest.raises(ValueError, match="z must not contain NaN"):
        plot.embedding(np.full((5, 3), np.nan))


# --------------------------------------------------------------- contingency
def test_contingency_orders_clusters_by_matched_class(digits, tmp_path):
    _, y = digits
    labels = (y + 3) % 10  # a perfect clustering under other names
    ax = plot.contingency(y, labels)
    assert [t.get_text() for t in ax.get_xticklabels()] == [str((c + 3) % 10) for c in range(10)]
    table = np.asarray(ax.images[0].get_array())
    assert np.array_equal(table, np.diag(np.bincount(y)))
    assert "ACC 1.000" in ax.get_title()
    assert ax.get_xlabel().startswith("cluster") and ax.get_ylabel() == "true label"
    assert len(ax.texts) == 10  # zero cells are not annotated
    assert_png(ax, tmp_path / "contingency.png")


def test_contingency_normalized_and_unmatched_clusters(digits_aek, tmp_path):
    _, y, est = digits_aek
    labels = est.labels_.copy()
    labels[:5] = 10  # an eleventh cluster: unmatched, drawn last
    ax = plot.contingency(y, labels, normalize=True)
    values = np.asarray(ax.images[0].get_array())
    assert values.shape == (10, 11)
    assert np.allclose(values.sum(axis=1), 1.0)
    assert ax.get_xticklabels()[-1].get_text() == "10"
    assert_png(ax, tmp_path / "contingency_normalized.png")


def test_contingency_rejects_bad_input():
    with pytest.raises(ValueError, match=r"y_true and labels must have the same length"):
        plot.contingency([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="normalize must be False, True"):
        plot.contingency([0, 1], [0, 1], normalize="rows")


# ----------------------------------------------------------------- centroids
def test_centroids_of_an_estimator(digits_aek, tmp_path):
    x, _, est = digits_aek
    tiles = plot.centroids(est)
    assert tiles.shape == (1, 10)
    assert [t.get_title() for t in tiles.ravel()] == [f"cluster {i}" for i in range(10)]
    assert tiles[0, 0].images[0].get_array().shape == (8, 8)  # 64 features -> 8x8
    assert tiles[0, 0].get_xlabel() == f"n={np.sum(est.labels_ == 0)}"
    assert_png(tiles, tmp_path / "centroids.png")


def test_centroids_of_a_decoder(digits_aek, tmp_path):
    _, _, est = digits_aek
    decoder, centers = est.autoencoder_.decoder, est.cluster_centers_
    tiles = plot.centroids(decoder, centers, image_shape=(4, 16), n_cols=4)
    assert tiles.shape == (3, 4) and not tiles[2, 3].axison
    assert tiles[0, 0].images[0].get_array().shape == (4, 16)
    fig, ax = plt.subplots()
    insets = plot.centroids(est.autoencoder_, centers[:4], ax=ax)  # tiles inside one Axes
    assert insets.shape == (1, 4) and insets[0, 3].get_title() == "cluster 3"
    assert_png(fig, tmp_path / "centroids_inset.png")
    with pytest.raises(ValueError, match="centers is required"):
        plot.centroids(decoder)
    with pytest.raises(ValueError, match=r"centers must have shape \(n_clusters, 2\)"):
        plot.centroids(decoder, np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"image_shape must be .* Received: image_shape=\(5, 5\)"):
        plot.centroids(decoder, centers, image_shape=(5, 5))


def test_centroids_without_cluster_centers(blobs, tmp_path):
    x, _ = blobs
    x = np.hstack([x, x[:, :5]])  # 25 features: shown as 5x5
    est = kdc.N2D(3, manifold=PCA(2), random_state=0, **{**TINY, "pretrain_epochs": 1}).fit(x)
    assert not hasattr(est, "cluster_centers_")
    with pytest.raises(ValueError, match="N2D has no cluster_centers_.*z=est.transform"):
        plot.centroids(est)
    tiles = plot.centroids(est, z=est.transform(x))
    assert tiles.shape == (1, 3)
    counts = [int(t.get_xlabel()[2:]) for t in tiles.ravel()]
    assert counts == np.bincount(est.labels_).tolist()
    assert_png(tiles, tmp_path / "centroids_n2d.png")
    tiles = plot.centroids(est, x=x, labels=np.arange(len(x)) % 2)
    assert tiles.shape == (1, 2)
    with pytest.raises(ValueError, match="labels must have one label per row"):
        plot.centroids(est, z=est.transform(x), labels=[0, 1])


def test_centroids_of_sequences_are_line_plots_one_line_per_channel(tmp_path):
    windows, _ = make_windows(n=90, steps=32, channels=2)
    for x, layout in ((windows, "steps last"), (windows.transpose(0, 2, 1), "channels first")):
        est = kdc.AEKMeans(3, n_init=2, random_state=0, **TINY).fit(x)
        tiles = plot.centroids(est)
        assert tiles.shape == (1, 3), layout
        decoded = est.autoencoder_.decoder(est.cluster_centers_).numpy().reshape(3, -1)
        decoded = ((decoded - est.offset_) / est.scale_).reshape((3,) + x.shape[1:])
        if layout == "channels first":
            decoded = decoded.transpose(0, 2, 1)
        for tile, centre in zip(tiles.ravel(), decoded):
            assert not tile.images and len(tile.lines) == 2  # one line per channel
            for line, channel in zip(tile.lines, centre.T):
                np.testing.assert_allclose(line.get_ydata(), channel, rtol=1e-4, atol=1e-5)
        assert tiles[0, 0].get_ylim() == tiles[0, 2].get_ylim()  # one vertical scale
        assert_png(tiles, tmp_path / "centroids_sequences.png")


# ------------------------------------------------------------------- history
def test_history_of_pretraining_only(digits_aek, tmp_path):
    _, _, est = digits_aek
    ax = plot.history(est)
    assert ax.get_title() == "autoencoder pretraining" and ax.get_xlabel() == "epoch"
    assert len(ax.lines[0].get_ydata()) == 2
    ax = plot.history({"loss": [0.5, 0.2, 0.1], "val_loss": [0.6, 0.3, 0.2]})
    assert len(ax.lines) == 2 and ax.get_legend() is not None
    assert_png(ax, tmp_path / "history_keras.png")


def test_history_with_self_training(blobs_dec, tmp_path):
    _, _, est = blobs_dec
    axes = plot.history(est)
    assert axes.shape == (3,)  # pretraining, self-training, ACC/NMI (y was given)
    clustering = est.history_["clustering"]
    assert list(axes[1].lines[0].get_xdata()) == clustering["step"]
    assert axes[1].get_legend() is not None
    assert [t.get_text() for t in axes[2].get_legend().get_texts()] == ["ACC", "NMI"]
    assert_png(axes, tmp_path / "history_dec.png")
    without_y = {"pretrain": est.history_["pretrain"],
                 "clustering": {k: v for k, v in clustering.items() if k not in ("acc", "nmi")}}
    assert plot.history(without_y).shape == (2,)


def test_history_rejects_bad_input(blobs_dec):
    with pytest.raises(ValueError, match="history must be a fitted kdc estimator"):
        plot.history([0.3, 0.2])
    with pytest.raises(ValueError, match="unfitted DEC"):
        plot.history(kdc.DEC(3))
    with pytest.raises(ValueError, match="ax must be None or a sequence of 3 Axes"):
        plot.history(blobs_dec[2], ax=plt.subplots()[1])


# ------------------------------------------------------------------ select_k
def test_select_k_curves(tmp_path):
    x, _ = make_blobs(n_samples=120, n_features=5, n_clusters=4, spread=0.03)
    result = select_k(x, "2:7", method="all", n_init=2, n_jobs=1, random_state=0)
    ax = plot.select_k(result)
    assert len([ln for ln in ax.lines if ln.get_marker() != "None"]) == 3
    chosen = [ln for ln in ax.lines if ln.get_label() == f"chosen k = {result.k}"]
    assert chosen and chosen[0].get_xdata()[0] == result.k
    assert "min-max" in ax.get_ylabel()
    assert_png(ax, tmp_path / "select_k.png")
    single = select_k(x, "2:7", method="bic", n_init=2, n_jobs=1, random_state=0)
    ax = plot.select_k(single.to_dict())  # one curve: in its own units
    assert ax.get_ylabel() == "BIC"
    assert list(ax.lines[0].get_ydata()) == single.bic
    with pytest.raises(ValueError, match="result must be a KSelection"):
        plot.select_k({"k": 3})
