"""Tests for kdc.metrics.

Expected values are worked out by hand from the contingency tables written in the
comments (rows = true classes, columns = clusters, both in sorted label order).
"""

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from kdc import metrics

# --------------------------------------------------------------------------- contingency


def test_contingency_table_counts_rows_classes_columns_clusters():
    y_true = [1, 0, 1, 2, 2, 2]
    y_pred = ["b", "a", "b", "a", "c", "c"]
    #            a  b  c
    # class 0: [ 1, 0, 0 ]
    # class 1: [ 0, 2, 0 ]
    # class 2: [ 1, 0, 2 ]
    result = metrics.contingency_table(y_true, y_pred)
    table, classes, clusters = result
    assert isinstance(result, metrics.Contingency)
    assert result.table is table
    assert table.dtype == np.int64
    assert table.tolist() == [[1, 0, 0], [0, 2, 0], [1, 0, 2]]
    assert classes.tolist() == [0, 1, 2]
    assert clusters.tolist() == ["a", "b", "c"]
    assert table.sum() == len(y_true)


def test_contingency_table_is_rectangular_for_unequal_counts():
    # 2 classes, 4 clusters -> shape (2, 4)
    table = metrics.contingency_table([0, 0, 1, 1], [3, 2, 1, 0]).table
    assert table.shape == (2, 4)
    assert table.tolist() == [[0, 0, 1, 1], [1, 1, 0, 0]]


# --------------------------------------------------------------------------- ACC / purity


def test_permuted_labels_give_perfect_scores():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [2, 2, 0, 0, 1, 1]  # bijection 0->2, 1->0, 2->1
    assert metrics.cluster_accuracy(y_true, y_pred) == 1.0
    assert metrics.purity(y_true, y_pred) == 1.0
    assert metrics.match_labels(y_true, y_pred).tolist() == y_true
    assert metrics.evaluate(y_true, y_pred) == pytest.approx(
        {"acc": 1.0, "nmi": 1.0, "ami": 1.0, "ari": 1.0, "purity": 1.0})


# Three classes of three samples, one sample of class 1 lands in the cluster of class 2.
ONE_ERROR_TRUE = [0, 0, 0, 1, 1, 1, 2, 2, 2]
ONE_ERROR_PRED = [1, 1, 1, 2, 2, 0, 0, 0, 0]
#            c0 c1 c2
# class 0: [ 0, 3, 0 ]
# class 1: [ 1, 0, 2 ]
# class 2: [ 3, 0, 0 ]
# Matching c1->0 (3), c2->1 (2), c0->2 (3): ACC = 8/9.
# Purity: column maxima 3 + 3 + 2 = 8 -> 8/9.


def test_three_classes_one_error_acc_purity_and_matching():
    assert metrics.cluster_accuracy(ONE_ERROR_TRUE, ONE_ERROR_PRED) == pytest.approx(8 / 9)
    assert metrics.purity(ONE_ERROR_TRUE, ONE_ERROR_PRED) == pytest.approx(8 / 9)
    matched = metrics.match_labels(ONE_ERROR_TRUE, ONE_ERROR_PRED)
    assert matched.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2]
    # cluster 0 holds {1, 2, 2, 2} -> 3/4; clusters 1 and 2 are pure.
    assert metrics.cluster_purity(ONE_ERROR_TRUE, ONE_ERROR_PRED) == pytest.approx(
        {0: 0.75, 1: 1.0, 2: 1.0})


def test_more_clusters_than_classes_counts_unmatched_clusters_as_wrong():
    y_true = [0, 0, 0, 0, 1, 1, 1, 1]
    y_pred = [0, 0, 0, 1, 2, 2, 2, 3]
    #            c0 c1 c2 c3
    # class 0: [ 3, 1, 0, 0 ]
    # class 1: [ 0, 0, 3, 1 ]
    # Matching c0->0, c2->1: ACC = 6/8; clusters 1 and 3 stay unmatched.
    # Purity: every cluster is pure -> (3 + 1 + 3 + 1) / 8 = 1.0, so ACC < purity here.
    assert metrics.cluster_accuracy(y_true, y_pred) == 0.75
    assert metrics.purity(y_true, y_pred) == 1.0
    matched = metrics.match_labels(y_true, y_pred)
    # unmatched clusters 1 and 3 -> max class (1) + 1 + i = 2, 3
    assert matched.tolist() == [0, 0, 0, 2, 1, 1, 1, 3]
    assert matched.dtype == np.int64


def test_fewer_clusters_than_classes_counts_unmatched_classes_as_wrong():
    y_true = [0, 0, 0, 0, 1, 2]
    y_pred = [0, 0, 1, 1, 0, 1]
    #            c0 c1
    # class 0: [ 2, 2 ]
    # class 1: [ 1, 0 ]
    # class 2: [ 0, 1 ]
    # Best one-to-one matchings: (c0->0, c1->2) = 3 or (c0->1, c1->0) = 3 -> ACC = 3/6.
    # Purity: both clusters vote for class 0 -> (2 + 2) / 6 = 2/3.
    assert metrics.cluster_accuracy(y_true, y_pred) == 0.5
    assert metrics.purity(y_true, y_pred) == pytest.approx(2 / 3)
    assert metrics.cluster_purity(y_true, y_pred) == pytest.approx({0: 2 / 3, 1: 2 / 3})


def test_single_cluster_scores_majority_class():
    # one cluster, classes 0,0,0,1,1,2: ACC = purity = 3/6; NMI = ARI = 0
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [7] * 6
    assert metrics.cluster_accuracy(y_true, y_pred) == 0.5
    assert metrics.purity(y_true, y_pred) == 0.5
    assert metrics.match_labels(y_true, y_pred).tolist() == [0] * 6
    assert metrics.nmi(y_true, y_pred) == 0.0
    assert metrics.ari(y_true, y_pred) == 0.0


def test_string_labels():
    y_true = ["cat", "cat", "dog", "dog", "bird"]
    y_pred = ["a", "a", "b", "a", "c"]
    #           a  b  c
    # bird:  [ 0, 0, 1 ]
    # cat:   [ 2, 0, 0 ]
    # dog:   [ 1, 1, 0 ]
    # Matching a->cat (2), b->dog (1), c->bird (1): ACC = 4/5; purity = (2+1+1)/5.
    assert metrics.cluster_accuracy(y_true, y_pred) == pytest.approx(0.8)
    assert metrics.purity(y_true, y_pred) == pytest.approx(0.8)
    matched = metrics.match_labels(y_true, y_pred)
    assert matched.tolist() == ["cat", "cat", "dog", "cat", "bird"]
    assert matched.dtype.kind == "U"
    assert metrics.cluster_purity(y_true, y_pred) == pytest.approx({"a": 2 / 3, "b": 1.0, "c": 1.0})
    assert metrics.evaluate(y_true, y_pred)["acc"] == pytest.approx(0.8)


def test_match_labels_unmatched_string_cluster_gets_a_new_label():
    y_true = ["x", "x", "y", "y", "y"]
    y_pred = [0, 0, 1, 1, 2]
    #       c0 c1 c2
    # x:  [ 2, 0, 0 ]
    # y:  [ 0, 2, 1 ]   -> c0->x, c1->y, cluster 2 unmatched
    assert metrics.match_labels(y_true, y_pred).tolist() == ["x", "x", "y", "y", "cluster_2"]
    # the new label must not be a class name, even if a class is called "cluster_2"
    clash = ["cluster_2", "cluster_2", "y", "y", "y"]
    assert metrics.match_labels(clash, y_pred).tolist() == [
        "cluster_2", "cluster_2", "y", "y", "_cluster_2"]


def test_match_labels_numeric_classes_do_not_overflow_small_dtypes():
    y_true = np.array([255, 255, 0, 0, 0], dtype=np.uint8)
    y_pred = [0, 0, 1, 1, 2]
    #             c0 c1 c2
    # class 0:  [ 0, 2, 1 ]
    # class 255:[ 2, 0, 0 ]   -> cluster 2 unmatched -> 255 + 1 = 256
    matched = metrics.match_labels(y_true, y_pred)
    assert matched.tolist() == [255, 255, 0, 0, 256]
    assert matched.dtype == np.int64
    # all clusters matched: the classes' own dtype is kept
    assert metrics.match_labels(y_true, [1, 1, 0, 0, 0]).dtype == np.uint8


def test_match_labels_float_classes():
    matched = metrics.match_labels([0.5, 0.5, 1.5], [0, 1, 2])
    # c0->0.5, c2->1.5; cluster 1 unmatched -> 1.5 + 1 = 2.5
    assert matched.tolist() == [0.5, 2.5, 1.5]
    assert matched.dtype == np.float64


# --------------------------------------------------------------------------- NMI / AMI / ARI


def test_ari_textbook_example_matches_hand_computation_and_sklearn():
    # y_true=[0,0,1,1], y_pred=[0,0,1,2]; table [[2,0,0],[0,1,1]]
    # index = sum C(n_ij,2) = 1; a = C(2,2)+C(2,2) = 2; b = C(2,2) = 1; C(4,2) = 6
    # expected = a*b/6 = 1/3; max = (a+b)/2 = 3/2; ARI = (1 - 1/3) / (3/2 - 1/3) = 4/7
    assert metrics.ari([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(4 / 7)
    assert metrics.ari([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(
        skm.adjusted_rand_score([0, 0, 1, 1], [0, 0, 1, 2]))


def test_nmi_hand_computed():
    # y_pred refines y_true: MI = H(true) = ln 2, H(pred) = 1.5 ln 2
    # arithmetic NMI = ln2 / ((ln2 + 1.5 ln2) / 2) = 0.8
    assert metrics.nmi([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(0.8)
    # geometric mean: ln2 / sqrt(ln2 * 1.5 ln2) = 1 / sqrt(1.5)
    assert metrics.nmi([0, 0, 1, 1], [0, 0, 1, 2], average_method="geometric") == pytest.approx(
        1 / math.sqrt(1.5))


def test_ami_matches_sklearn_and_is_one_for_permutations():
    y_true = ["a", "a", "b", "b", "b", "c", "c"]
    y_pred = [1, 1, 1, 0, 0, 2, 2]
    expected = skm.adjusted_mutual_info_score(y_true, y_pred)
    assert metrics.ami(y_true, y_pred) == pytest.approx(expected)
    assert metrics.ami([0, 0, 1, 1], [1, 1, 0, 0]) == pytest.approx(1.0)
    assert metrics.ami(y_true, y_pred) < 1.0


def test_evaluate_keys_types_and_hand_computed_values():
    scores = metrics.evaluate(ONE_ERROR_TRUE, ONE_ERROR_PRED)
    assert list(scores) == ["acc", "nmi", "ami", "ari", "purity"]
    assert all(type(v) is float for v in scores.values())
    assert scores["acc"] == pytest.approx(8 / 9)
    assert scores["purity"] == pytest.approx(8 / 9)
    # ARI from the table [[0,3,0],[1,0,2],[3,0,0]]:
    # index = sum C(n_ij,2) over cells 3,1,2,3 = 3 + 0 + 1 + 3 = 7
    # rows 3,3,3 -> a = 9; columns 4,3,2 -> b = 6+3+1 = 10; C(9,2) = 36
    # expected = 90/36 = 2.5; max = 9.5; ARI = (7 - 2.5) / (9.5 - 2.5) = 9/14
    assert scores["ari"] == pytest.approx(9 / 14)
    # NMI: H(true) = ln 3; cluster sizes 4,3,2 -> H(pred) = -sum p ln p
    h_true = math.log(3)
    h_pred = -sum(p * math.log(p) for p in (4 / 9, 3 / 9, 2 / 9))
    # MI = sum n_ij/n * ln(n * n_ij / (a_i * b_j)) over non-empty cells
    mi = (3 / 9 * math.log(9 * 3 / (3 * 3)) + 1 / 9 * math.log(9 * 1 / (3 * 4))
          + 2 / 9 * math.log(9 * 2 / (3 * 2)) + 3 / 9 * math.log(9 * 3 / (3 * 4)))
    assert scores["nmi"] == pytest.approx(mi / ((h_true + h_pred) / 2))
    args = (ONE_ERROR_TRUE, ONE_ERROR_PRED)
    assert scores["nmi"] == pytest.approx(skm.normalized_mutual_info_score(*args))
    assert scores["ami"] == pytest.approx(skm.adjusted_mutual_info_score(*args))


def test_metrics_accept_numpy_arrays_and_tuples():
    assert metrics.cluster_accuracy(np.array([1, 1, 2]), (5, 5, 6)) == 1.0
    assert metrics.purity(np.array([True, False, False]), np.array([0, 1, 1])) == 1.0


# --------------------------------------------------------------------------- compare


BASE = {"acc": 0.5, "nmi": 0.4, "ami": 0.3, "ari": 0.2}
AE = {"acc": 0.75, "nmi": 0.5, "ami": 0.3, "ari": -0.1, "purity": 0.9}


def test_compare_relative_improvement_hand_computed():
    table = metrics.compare({"k-means": BASE, "AE+k-means": AE})
    assert table.baseline == "k-means"
    assert table.metrics == ("acc", "nmi", "ami", "ari")
    assert [r["method"] for r in table.rows] == ["k-means", "AE+k-means"]
    base_row, ae_row = table.rows
    assert all(base_row[f"{m}_improvement"] == 0.0 for m in table.metrics)
    # (0.75-0.5)/0.5 = +50%; (0.5-0.4)/0.4 = +25%; 0%; (-0.1-0.2)/0.2 = -150%
    assert ae_row["acc_improvement"] == pytest.approx(0.5)
    assert ae_row["nmi_improvement"] == pytest.approx(0.25)
    assert ae_row["ami_improvement"] == pytest.approx(0.0)
    assert ae_row["ari_improvement"] == pytest.approx(-1.5)
    assert ae_row["acc"] == 0.75 and "purity" not in ae_row
    assert table.summary() == [
        "AE+k-means vs k-means: ACC +50.0%, NMI +25.0%, AMI +0.0%, ARI -150.0%"]


def test_compare_markdown_text_and_dict_outputs():
    table = metrics.compare({"k-means": BASE, "AE+k-means": AE}, metrics=["acc", "ari"])
    md = table.to_markdown()
    lines = md.splitlines()
    assert len(lines) == 4  # header, rule, two methods
    assert lines[0] == "| method | ACC | ACC vs k-means | ARI | ARI vs k-means |"
    assert lines[1] == "| --- | ---: | ---: | ---: | ---: |"  # numbers right-aligned
    assert "| AE+k-means | 0.750 | +50.0% | -0.100 | -150.0% |" in lines
    assert "k-means" in md and "AE+k-means" in md
    text = str(table)
    text_lines = text.splitlines()
    assert len(text_lines) == 4
    assert len({len(line) for line in text_lines}) == 1  # aligned columns
    assert text_lines[2].startswith("k-means ") and "+50.0%" in text_lines[3]
    assert repr(table) == text
    data = table.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["baseline"] == "k-means" and data["metrics"] == ["acc", "ari"]
    assert data["rows"][1]["acc_improvement"] == pytest.approx(0.5)


def test_compare_explicit_baseline_and_negative_or_zero_baseline_values():
    results = {
        "dec": {"acc": 0.8, "ari": 0.1},
        "kmeans": {"acc": 0.4, "ari": -0.2},
        "random": {"acc": 0.0, "ari": 0.0},
    }
    table = metrics.compare(results, baseline="kmeans", metrics=("acc", "ari"))
    assert table.baseline == "kmeans"
    dec, kmeans, rand = table.rows
    # ARI relative to a negative baseline: (0.1 - (-0.2)) / |-0.2| = +150%
    assert dec["ari_improvement"] == pytest.approx(1.5)
    assert dec["acc_improvement"] == pytest.approx(1.0)
    assert rand["acc_improvement"] == pytest.approx(-1.0)
    assert kmeans["acc_improvement"] == 0.0
    # relative to a baseline of 0 the change is undefined (None, shown as n/a)
    zero = metrics.compare(results, baseline="random", metrics="acc")
    assert zero.metrics == ("acc",)
    assert zero.rows[0]["acc_improvement"] is None
    assert zero.rows[2]["acc_improvement"] == 0.0
    assert "n/a" in zero.to_markdown()


def test_compare_scores_label_vectors_against_y_true():
    y_true = [0, 0, 1, 1]
    results = {"a": [0, 0, 1, 2], "b": np.array([1, 1, 0, 0]),
               "c": metrics.evaluate(y_true, [0, 0, 0, 0])}
    table = metrics.compare(results, y_true=y_true, metrics=("acc", "ari", "purity"))
    a, b, c = table.rows
    # a: ACC 3/4, ARI 4/7 (textbook example above), purity 1; b is perfect; c: ACC 1/2
    assert a["acc"] == 0.75 and a["ari"] == pytest.approx(4 / 7) and a["purity"] == 1.0
    assert b["acc"] == 1.0
    assert b["acc_improvement"] == pytest.approx((1.0 - 0.75) / 0.75)
    assert b["ari_improvement"] == pytest.approx((1 - 4 / 7) / (4 / 7))
    assert c["acc_improvement"] == pytest.approx((0.5 - 0.75) / 0.75)


def test_compare_errors():
    with pytest.raises(ValueError, match=r"baseline must be one of the method names "
                                         r"\['k-means', 'AE'\]\. Received: baseline='dec'"):
        metrics.compare({"k-means": BASE, "AE": AE}, baseline="dec")
    with pytest.raises(ValueError, match=r"y_true is required.*results\['a'\]"):
        metrics.compare({"a": [0, 1], "b": [1, 0]})
    with pytest.raises(ValueError,
                       match=r"results\['k-means'\] must map each of \['acc', 'purity'\]"):
        metrics.compare({"k-means": BASE, "AE": AE}, metrics=("acc", "purity"))
    with pytest.raises(ValueError, match=r"results\['x'\] must map each of \['acc'\] to a number"):
        metrics.compare({"x": {"acc": "high"}}, metrics="acc")
    with pytest.raises(ValueError, match=r"results must be a non-empty dict.*results=\{\}"):
        metrics.compare({})
    with pytest.raises(ValueError, match=r"results must be a non-empty dict.*Received: results=\["):
        metrics.compare([BASE, AE])
    with pytest.raises(ValueError, match=r"metrics must be among .*results\['a'\].*silhouette"):
        metrics.compare({"a": [0, 1]}, y_true=[0, 1], metrics=("acc", "silhouette"))
    with pytest.raises(ValueError, match=r"y_true and results\['b'\] must have the same length\. "
                                         r"Received: len\(y_true\)=2, len\(results\['b'\]\)=3"):
        metrics.compare({"a": [0, 1], "b": [0, 1, 1]}, y_true=[0, 1])


# --------------------------------------------------------------------------- validation

PUBLIC_LABEL_FUNCTIONS = [
    metrics.contingency_table, metrics.cluster_accuracy, metrics.match_labels, metrics.nmi,
    metrics.ami, metrics.ari, metrics.purity, metrics.cluster_purity, metrics.evaluate,
]


@pytest.mark.parametrize("func", PUBLIC_LABEL_FUNCTIONS, ids=lambda f: f.__name__)
def test_every_function_rejects_bad_shapes_and_lengths(func):
    with pytest.raises(ValueError, match=r"^y_pred must be a 1-D array of cluster labels\. "
                                         r"Received: y_pred of shape \(3, 2\)"):
        func([0, 1, 2], np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"^y_true and y_pred must have the same length\. "
                                         r"Received: len\(y_true\)=5, len\(y_pred\)=4$"):
        func([0, 1, 2, 3, 4], [0, 1, 2, 3])


@pytest.mark.parametrize(
    "y_true, y_pred, pattern",
    [
        (np.zeros((2, 2)), [0, 1], r"^y_true must be a 1-D array of true class labels\. "
                                   r"Received: y_true of shape \(2, 2\)"),
        (np.zeros((3, 1)), [0, 1, 2], r"y_true of shape \(3, 1\)\. Use y_true\.ravel\(\)"),
        (5, [0], r"^y_true must be a 1-D array.*Received: y_true=5"),
        ("abc", [0, 1, 2], r"^y_true must be a 1-D array.*Received: y_true='abc'"),
        (None, [0], r"^y_true must be a 1-D array.*Received: y_true=None"),
        ([0, 1], 3, r"^y_pred must be a 1-D array of cluster labels.*Received: y_pred=3"),
        ([], [], r"^y_true must contain at least 1 label\. Received: y_true of shape \(0,\)"),
        ([0], [], r"^y_pred must contain at least 1 label\. Received: y_pred of shape \(0,\)"),
        ([0.0, np.nan, 1.0], [0, 1, 2], r"^y_true must not contain missing labels.*"
                                        r"1 missing label\(s\), the first at index 1"),
        ([0, 1, 2], [0.0, 1.0, np.inf], r"^y_pred must not contain missing labels.*index 2"),
        (["a", None, "b"], [0, 1, 2], r"^y_true must not contain missing labels.*index 1"),
        ([0, 1, 2], [1, float("nan"), "x"], r"^y_pred must not contain missing labels"),
        ([0, "a", 1], [0, 1, 2], r"^y_true must be a 1-D array of true class labels of one sortable"
                                 r" type.*Received: y_true mixing types \['int', 'str'\]"),
        ([[0, 1], [2]], [0, 1], r"^y_true must be a 1-D array.*Could not convert y_true"),
    ],
)
def test_invalid_labels_raise_value_error_naming_the_argument(y_true, y_pred, pattern):
    with pytest.raises(ValueError, match=pattern):
        metrics.evaluate(y_true, y_pred)


# --------------------------------------------------------------------------- properties

labelings = st.integers(1, 25).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 4), min_size=n, max_size=n),
    st.lists(st.integers(0, 5), min_size=n, max_size=n),
))


def brute_force_acc(y_true, y_pred):
    """Best one-to-one matching by trying every injective map (small cases only)."""
    table = metrics.contingency_table(y_true, y_pred).table
    n_classes, n_clusters = table.shape
    if n_clusters <= n_classes:
        best = max(sum(table[p[j], j] for j in range(n_clusters))
                   for p in itertools.permutations(range(n_classes), n_clusters))
    else:
        best = max(sum(table[i, p[i]] for i in range(n_classes))
                   for p in itertools.permutations(range(n_clusters), n_classes))
    return best / len(y_true)


@settings(max_examples=150, deadline=None)
@given(labelings)
def test_acc_is_the_best_one_to_one_matching_and_bounded_by_purity(labels):
    y_true, y_pred = labels
    acc = metrics.cluster_accuracy(y_true, y_pred)
    assert acc == pytest.approx(brute_force_acc(y_true, y_pred))
    # Each matched cluster contributes at most its majority count, so ACC <= purity, always.
    assert 0.0 < acc <= metrics.purity(y_true, y_pred) + 1e-12 <= 1.0 + 1e-12
    # ACC is symmetric in its arguments (the contingency table is transposed).
    assert metrics.cluster_accuracy(y_pred, y_true) == pytest.approx(acc)
    # match_labels realises ACC, maps each cluster to one label, distinct across clusters,
    # and gives unmatched clusters labels that are not classes.
    matched = metrics.match_labels(y_true, y_pred)
    assert np.mean(matched == np.asarray(y_true)) == pytest.approx(acc)
    mapping = dict(zip(y_pred, matched.tolist()))
    assert all(mapping[p] == m for p, m in zip(y_pred, matched.tolist()))
    assert len(set(mapping.values())) == len(mapping)
    n_new = len(set(mapping.values()) - set(y_true))
    assert n_new == max(0, len(set(y_pred)) - len(set(y_true)))


@settings(max_examples=100, deadline=None)
@given(labelings, st.permutations(range(6)))
def test_scores_are_invariant_under_renaming_clusters(labels, perm):
    y_true, y_pred = labels
    renamed = [perm[p] + 10 for p in y_pred]
    before, after = metrics.evaluate(y_true, y_pred), metrics.evaluate(y_true, renamed)
    assert after == pytest.approx(before)
    as_strings = [f"c{p}" for p in renamed]
    assert metrics.cluster_accuracy(y_true, as_strings) == pytest.approx(before["acc"])


@settings(max_examples=100, deadline=None)
@given(labelings)
def test_acc_is_one_exactly_for_bijective_relabellings(labels):
    y_true, y_pred = labels
    pairs = set(zip(y_true, y_pred))
    is_bijection = len(pairs) == len(set(y_true)) == len(set(y_pred))
    assert (metrics.cluster_accuracy(y_true, y_pred) == 1.0) == is_bijection


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=30), st.permutations(range(7)))
def test_bijective_relabelling_scores_perfectly(y_true, perm):
    y_pred = [perm[c] for c in y_true]
    assert metrics.cluster_accuracy(y_true, y_pred) == 1.0
    assert metrics.match_labels(y_true, y_pred).tolist() == y_true


@settings(max_examples=100, deadline=None)
@given(labelings)
def test_cluster_purity_weighted_by_size_is_purity(labels):
    y_true, y_pred = labels
    per_cluster = metrics.cluster_purity(y_true, y_pred)
    assert sorted(per_cluster) == sorted(set(y_pred))
    sizes = {c: y_pred.count(c) for c in per_cluster}
    weighted = sum(per_cluster[c] * sizes[c] for c in per_cluster) / len(y_pred)
    assert weighted == pytest.approx(metrics.purity(y_true, y_pred))
    assert all(0.0 < v <= 1.0 for v in per_cluster.values())
