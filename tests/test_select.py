"""Tests of kdc.select: the k scan, the three criteria and argument checks."""

import dataclasses
import json

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from kdc.select import KSelection, _two_segment_elbow, parse_k_range, select_k

FAST = dict(n_init=3, n_jobs=1, random_state=0)


@pytest.fixture(scope="module")
def four_blobs():
    """200 rows, 5 features, 4 well separated centres."""
    x, _ = make_blobs(200, n_features=5, centers=4, cluster_std=0.5, random_state=0)
    return x


@pytest.fixture(scope="module")
def all_result(four_blobs):
    return select_k(four_blobs, "2:8", method="all", **FAST)


def test_every_criterion_finds_four_blobs(all_result):
    assert all_result.best_k == {"elbow": 4, "silhouette": 4, "bic": 4}
    assert all_result.k == 4
    assert all_result.method == "all"
    assert all_result.k_values == [2, 3, 4, 5, 6, 7, 8]
    for curve in (all_result.inertia, all_result.silhouette, all_result.bic):
        assert len(curve) == 7 and all(isinstance(v, float) for v in curve)
    # Inertia of the best restart never grows with k on such data.
    assert all(a >= b for a, b in zip(all_result.inertia, all_result.inertia[1:]))
    assert set(all_result.labels) == set(range(2, 9))
    assert len(np.unique(all_result.labels[4])) == 4


@pytest.mark.parametrize("method", ["elbow", "silhouette", "bic"])
def test_single_methods_compute_only_what_they_need(four_blobs, method):
    result = select_k(four_blobs, range(2, 9), method=method, **FAST)
    assert result.k == 4 and result.best_k == {method: 4}
    assert (result.inertia is None) == (method == "bic")
    assert (result.silhouette is None) == (method != "silhouette")
    assert (result.bic is None) == (method != "bic")


def test_all_takes_the_median_of_the_three_choices(four_blobs, monkeypatch):
    import kdc.select as select_module

    monkeypatch.setattr(select_module, "_two_segment_elbow", lambda k, y: 7)
    result = select_k(four_blobs, "2:8", method="all", **FAST)
    assert result.best_k == {"elbow": 7, "silhouette": 4, "bic": 4}
    assert result.k == 4  # the majority wins


def test_result_is_a_frozen_reportable_object(all_result):
    assert isinstance(all_result, KSelection)
    with pytest.raises(dataclasses.FrozenInstanceError):
        all_result.k = 3
    data = all_result.to_dict()
    assert "labels" not in data
    assert json.loads(json.dumps(data)) == data
    assert data["best_k"] == {"elbow": 4, "silhouette": 4, "bic": 4}
    text = str(all_result)
    lines = text.splitlines()
    assert lines[0].split() == ["k", "inertia", "silhouette", "bic"]
    row4 = next(line for line in lines if line.split()[0] == "4")
    assert row4.count("*") == 3
    assert "k = 4" in lines[-1]


def test_repeatable_with_an_int_random_state(four_blobs):
    a = select_k(four_blobs, "2:6", method="all", n_init=2, n_jobs=1, random_state=7,
                 sample_size=50)  # subsampled silhouette too
    b = select_k(four_blobs, "2:6", method="all", n_init=2, n_jobs=1, random_state=7,
                 sample_size=50)
    assert a.to_dict() == b.to_dict()
    assert all(np.array_equal(a.labels[k], b.labels[k]) for k in a.k_values)


def test_n_jobs_does_not_change_the_result(four_blobs):
    args = dict(method="all", n_init=2, random_state=3)
    one = select_k(four_blobs, [2, 3, 4, 5], n_jobs=1, **args)
    two = select_k(four_blobs, [2, 3, 4, 5], n_jobs=2, **args)
    assert one.to_dict() == two.to_dict()


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_verbose_prints_a_line_per_k_of_each_scan_as_it_completes(four_blobs, capsys, n_jobs):
    args = dict(method="all", n_init=2, random_state=3, n_jobs=n_jobs)
    quiet = select_k(four_blobs, [2, 3, 4, 5], **args)
    assert capsys.readouterr().out == ""
    loud = select_k(four_blobs, [2, 3, 4, 5], verbose=1, **args)
    lines = capsys.readouterr().out.splitlines()
    assert loud.to_dict() == quiet.to_dict()  # the same scan, in order
    assert all(np.array_equal(loud.labels[k], quiet.labels[k]) for k in loud.k_values)
    assert [line.split(":")[1].strip() for line in lines] == [
        f"{scan} k={k}" for scan in ("k-means", "silhouette", "Gaussian mixture")
        for k in (2, 3, 4, 5)]
    assert all(line.startswith("[kdc] select_k: ") and line.endswith(" s") for line in lines)
    assert f"inertia {loud.inertia[2]:.5g} (best of 2)" in lines[2]
    assert f"BIC {loud.bic[3]:.6g} (best of 2)" in lines[11]


def test_two_segment_elbow_on_a_known_knee():
    k = list(range(1, 10))
    curve = [100, 70, 40, 10, 9, 8, 7, 6, 5]  # two exact lines meeting at k=4
    assert _two_segment_elbow(k, curve) == 4
    # A smooth convex curve: the knee is where the steep part ends.
    k = list(range(2, 13))
    curve = [1000 / k_ ** 2 + 5 * (12 - k_) for k_ in k]
    elbow = _two_segment_elbow(k, curve)
    assert 3 <= elbow <= 5
    # Three points: the only split is the middle one.
    assert _two_segment_elbow([2, 3, 4], [9.0, 1.0, 0.5]) == 3
    with pytest.raises(ValueError, match="same length"):
        _two_segment_elbow([2, 3, 4], [1.0, 2.0])


@pytest.mark.parametrize("k_range, expected", [
    ("5:15", list(range(5, 16))),
    (" 2 : 10 : 4 ", [2, 6, 10]),
    (range(3, 6), [3, 4, 5]),
    ([6, 2, 4, 4, np.int64(3)], [2, 3, 4, 6]),
])
def test_parse_k_range(k_range, expected):
    assert parse_k_range(k_range) == expected


@pytest.mark.parametrize("kwargs, match", [
    (dict(k_range=[2, 3]), r"k_range must hold at least 3 .* Received: k_range=\[2, 3\]"),
    (dict(k_range="2:3"), "at least 3 distinct"),
    (dict(k_range=[1, 2, 3]), "k_range values must all be ints >= 2"),
    (dict(k_range="2:200"), "k_range values must all be < n_samples=200"),
    (dict(k_range="a:b"), r"k_range must be .*'start:stop'.* Received: k_range='a:b'"),
    (dict(k_range="5-15"), "Received: k_range='5-15'"),
    (dict(k_range=[2, 3.5, 4]), "k_range must contain only ints"),
    (dict(k_range=5), "k_range must be an iterable"),
    (dict(method="gap"), "method must be one of 'elbow', 'silhouette', 'bic', 'all'. "
                         "Received: method='gap'"),
    (dict(n_init=0), "n_init must be an int >= 1"),
    (dict(n_jobs=0), "n_jobs must be None or a non-zero int"),
    (dict(verbose=-1), "verbose must be an int >= 0"),
    (dict(sample_size=5), r"sample_size must be an int >= 9\. Received: sample_size=5"),
])
def test_invalid_arguments_name_the_argument(four_blobs, kwargs, match):
    args = dict(k_range="2:8", **FAST)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        select_k(four_blobs, **args)


def test_non_finite_data_is_rejected(four_blobs):
    x = four_blobs.copy()
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match="x must not contain NaN"):
        select_k(x, "2:5", **FAST)
    with pytest.raises(ValueError, match="x must be a 2-D array"):
        select_k(four_blobs[:, 0], "2:5", **FAST)
