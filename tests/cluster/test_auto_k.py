"""n_clusters="auto": k chosen by kdc.select.select_k on the embedding (kdc/cluster/_base.py)."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA

import kdc
from tests.conftest import TINY, make_blobs

# An untrained encoder (pretrain_epochs=0) keeps the 4 well separated blobs apart;
# a 3-epoch autoencoder can still squash them together, which is not what these
# tests are about. 8 dimensions: a random 4-D projection may merge two blobs.
AUTO = {**TINY, "embedding_dim": 8, "pretrain_epochs": 0}


@pytest.fixture(scope="module")
def blobs4():
    return make_blobs(n_clusters=4)


@pytest.mark.parametrize("cls, extra", [
    (kdc.AEKMeans, {}),
    (kdc.DEC, {"max_iter": 20, "update_interval": 10}),
    (kdc.N2D, {"manifold": PCA(n_components=4)}),  # the default GMM head, without UMAP
], ids=["AEKMeans", "DEC", "N2D"])
def test_auto_finds_the_four_blobs_and_the_head_uses_that_k(cls, extra, blobs4):
    x, y = blobs4
    est = cls("auto", k_range="2:8", random_state=0, **AUTO, **extra).fit(x)
    assert est.n_clusters_ == 4
    assert isinstance(est.k_selection_, kdc.select.KSelection)
    assert est.k_selection_.k == 4 and est.k_selection_.method == "elbow"
    assert est.k_selection_.k_values == [2, 3, 4, 5, 6, 7, 8]
    assert est.predict_proba(x[:7]).shape == (7, 4)
    assert set(np.unique(est.labels_)) == {0, 1, 2, 3}
    assert kdc.metrics.evaluate(y, est.labels_)["acc"] == pytest.approx(1.0)
    assert "select_k" in est.timings_
    assert est.get_params()["n_clusters"] == "auto"  # the parameter is left as given


def test_verbose_shows_the_k_scan_and_a_long_embedding_pass(blobs4, capsys, monkeypatch):
    from kdc.cluster import _base

    monkeypatch.setattr(_base, "EMBED_QUIET_S", 0.0)  # every embedding pass counts as long
    x, _ = blobs4
    kdc.AEKMeans("auto", k_range="2:5", random_state=0, **{**AUTO, "verbose": 1}).fit(x)
    lines = capsys.readouterr().out.splitlines()
    scan = [line.split(":")[1].strip() for line in lines if line.startswith("[kdc] select_k:")]
    assert scan == [f"k-means k={k}" for k in (2, 3, 4, 5)]  # a line per k as it completes
    assert f"[kdc] embedding {len(x)} rows: done in" in "\n".join(lines)


def test_fixed_k_sets_n_clusters_and_no_selection(blobs4):
    x, _ = blobs4
    est = kdc.AEKMeans(3, k_range="5:9", random_state=0, **AUTO).fit(x)  # k_range ignored
    assert est.n_clusters_ == 3 and est.k_selection_ is None
    assert est.cluster_centers_.shape == (3, 8)


def test_default_k_range_is_2_to_15_and_params_clone(blobs4):
    x, _ = blobs4
    est = kdc.AEKMeans("auto", k_selection="elbow", random_state=0, n_init=1, **AUTO)
    assert clone(est).get_params()["k_selection"] == "elbow"
    est.fit(x[:12])  # the default range is capped below n_samples: 2..11
    assert est.k_selection_.k_values == list(range(2, 12))
    assert est.k_selection_.method == "elbow"


@pytest.mark.parametrize("params, needle", [
    ({"n_clusters": "many"}, "n_clusters must be an int >= 2 or 'auto'"),
    ({"n_clusters": "auto", "k_range": "5:6"}, "k_range must hold at least 3"),
    ({"n_clusters": "auto", "k_range": "1:5"}, "k_range values must all be ints >= 2"),
    ({"n_clusters": "auto", "k_range": "five"}, "k_range must be an iterable of ints or"),
    ({"n_clusters": "auto", "k_range": range(2, 500)}, "< n_samples=240"),
    ({"n_clusters": "auto", "k_selection": "gap"}, "k_selection must be one of"),
], ids=["bad n_clusters", "two values", "k below 2", "not a:b", "k >= n", "bad criterion"])
def test_bad_auto_arguments_fail_before_training(params, needle, blobs4):
    x, _ = blobs4
    est = kdc.AEKMeans(**{**AUTO, "pretrain_epochs": 50}, **params)
    with pytest.raises(ValueError, match=needle.replace("(", r"\(")) as info:
        est.fit(x)
    assert "Received:" in str(info.value)
    assert not hasattr(est, "autoencoder_")  # validated before anything was built


def test_auto_needs_a_few_samples():
    x, _ = make_blobs(n_samples=4)
    with pytest.raises(ValueError, match="at least 5 samples"):
        kdc.AEKMeans("auto", **AUTO).fit(x)
