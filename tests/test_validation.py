"""Unit tests of kdc/_validation.py: every error names the argument, the
expectation and the value received."""

import numpy as np
import pytest
import scipy.sparse

from kdc._validation import check_array, check_choice, check_float, check_int, check_n_clusters


# ------------------------------------------------------------------ check_array
def test_check_array_returns_float32_and_keeps_values():
    x = np.arange(6, dtype="float64").reshape(3, 2)
    out = check_array(x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x)
    assert check_array([[1, 2], [3, 4]]).dtype == np.float32  # nested lists work
    assert check_array(x, dtype="float64").dtype == np.float64


def test_check_array_scales_uint8_to_unit_interval():
    x = np.array([[0, 51, 255]], dtype=np.uint8)
    np.testing.assert_allclose(check_array(x), [[0.0, 0.2, 1.0]], rtol=1e-6)
    # Other integer types are not rescaled.
    np.testing.assert_array_equal(check_array(x.astype("int64")), [[0.0, 51.0, 255.0]])


def test_check_array_accepts_images():
    out = check_array(np.zeros((4, 8, 8, 3)))
    assert out.shape == (4, 8, 8, 3)


def test_check_array_accepts_numbers_in_object_array():
    x = np.array([[1, 2.5], [3, 4]], dtype=object)
    np.testing.assert_array_equal(check_array(x), [[1.0, 2.5], [3.0, 4.0]])


@pytest.mark.parametrize("bad, kind", [
    (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN"),
    (np.array([[1.0, 2.0], [np.inf, 1.0]]), "infinity"),
])
def test_check_array_rejects_non_finite(bad, kind):
    with pytest.raises(ValueError, match=rf"data must not contain NaN or infinity.*{kind}"):
        check_array(bad, "data")


def test_check_array_reports_first_bad_row():
    x = np.zeros((5, 3))
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match="1 non-finite value.*first in row 3"):
        check_array(x)


def test_check_array_rejects_1d_with_reshape_hint():
    with pytest.raises(ValueError, match=r"x must be a 2-D array.*Received: x=array of shape "
                                         r"\(3,\).*reshape\(-1, 1\)"):
        check_array(np.array([1.0, 2.0, 3.0]))


def test_check_array_rejects_scalar():
    with pytest.raises(ValueError, match=r"x must be a 2-D array.*shape \(\)"):
        check_array(5.0)


def test_check_array_rejects_too_few_samples():
    with pytest.raises(ValueError, match=r"x must have at least 1 sample.*0 sample\(s\) "
                                         r"\(shape=\(0, 3\)\)"):
        check_array(np.empty((0, 3)))
    with pytest.raises(ValueError, match=r"x must have at least 2 sample.*Received: x with 1 "
                                         r"sample"):
        check_array(np.ones((1, 3)), min_samples=2)


def test_check_array_rejects_zero_features():
    with pytest.raises(ValueError, match=r"x must have at least 1 feature.*0 feature\(s\) "
                                         r"\(shape=\(4, 0\)\)"):
        check_array(np.empty((4, 0)))


def test_check_array_rejects_strings():
    with pytest.raises(ValueError, match=r"x must be array-like of numbers.*Received: x='abc'"):
        check_array("abc")
    with pytest.raises(ValueError, match=r"x must contain numbers.*got dtype <U1"):
        check_array([["a", "b"], ["c", "d"]])
    with pytest.raises(ValueError, match=r"x must contain numbers.*dtype object.*could not "
                                         r"convert string"):
        check_array(np.array([[1, "a"], [2, "b"]], dtype=object))


def test_check_array_rejects_objects_with_type_error():
    x = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=object)
    x[0, 0] = {"a": 1}
    with pytest.raises(TypeError, match=r"x must contain numbers.*dtype object"):
        check_array(x)


def test_check_array_rejects_ragged_lists():
    with pytest.raises(ValueError, match=r"x must be array-like of numbers.*Could not convert"):
        check_array([[1.0, 2.0], [3.0]])


def test_check_array_rejects_complex():
    with pytest.raises(ValueError, match=r"x must contain real numbers: Complex data not "
                                         r"supported.*complex128"):
        check_array(np.ones((2, 2), dtype=complex))


def test_check_array_rejects_sparse():
    with pytest.raises(ValueError, match=r"x must be a dense array: sparse input is not "
                                         r"supported.*toarray\(\).*csr_matrix"):
        check_array(scipy.sparse.csr_matrix(np.eye(3)))


def test_check_array_rejects_bool_free_dtypes_like_datetime():
    with pytest.raises(ValueError, match=r"x must contain numbers.*datetime64"):
        check_array(np.array([["2020-01-01"]], dtype="datetime64[D]"))


# ------------------------------------------------------------ check_n_clusters
@pytest.mark.parametrize("value", [2, 5, np.int64(3)])
def test_check_n_clusters_accepts_ints(value):
    out = check_n_clusters(value, n_samples=5)
    assert out == int(value) and type(out) is int


@pytest.mark.parametrize("value, shown", [
    (1, "1"), (0, "0"), (-3, "-3"), ("3", "'3'"), (2.5, "2.5"), (3.0, "3.0"), (True, "True"),
    (None, "None"),
])
def test_check_n_clusters_rejects(value, shown):
    with pytest.raises(ValueError, match=rf"n_clusters must be an int >= 2\. "
                                         rf"Received: n_clusters={shown}$"):
        check_n_clusters(value)


def test_check_n_clusters_rejects_more_clusters_than_samples():
    with pytest.raises(ValueError, match=r"n_clusters must be <= n_samples=4.*"
                                         r"Received: n_clusters=5"):
        check_n_clusters(5, n_samples=4)
    assert check_n_clusters(4, n_samples=4) == 4


def test_check_n_clusters_uses_given_name():
    with pytest.raises(ValueError, match=r"k must be an int >= 2\. Received: k=1"):
        check_n_clusters(1, name="k")


# --------------------------------------------------------------- check_int
def test_check_int_bounds_and_types():
    assert check_int(3, "epochs", minimum=0) == 3
    assert check_int(np.int32(7), "epochs") == 7
    assert check_int(None, "seed", allow_none=True) is None
    with pytest.raises(ValueError, match=r"epochs must be an int >= 0\. Received: epochs=-1"):
        check_int(-1, "epochs", minimum=0)
    with pytest.raises(ValueError, match=r"epochs must be an int >= 0\. "
                                         r"Received: epochs='lots'"):
        check_int("lots", "epochs", minimum=0)
    with pytest.raises(ValueError, match=r"n must be an int >= 1 and <= 3\. Received: n=4"):
        check_int(4, "n", minimum=1, maximum=3)
    with pytest.raises(ValueError, match=r"n must be an int\. Received: n=True"):
        check_int(True, "n")
    with pytest.raises(ValueError, match=r"n must be an int\. Received: n=2\.0"):
        check_int(2.0, "n")
    with pytest.raises(ValueError, match=r"seed must be an int\. Received: seed=None"):
        check_int(None, "seed")


# ------------------------------------------------------------- check_float
def test_check_float_bounds_and_types():
    assert check_float(1, "lr") == 1.0 and isinstance(check_float(1, "lr"), float)
    assert check_float(None, "tol", allow_none=True) is None
    assert check_float(0.0, "rate", minimum=0.0) == 0.0
    with pytest.raises(ValueError, match=r"lr must be a finite number > 0\.0\. "
                                         r"Received: lr=0"):
        check_float(0, "lr", minimum=0.0, exclusive_min=True)
    with pytest.raises(ValueError, match=r"rate must be a finite number >= 0\.0 and < 1\.0\. "
                                         r"Received: rate=1\.0"):
        check_float(1.0, "rate", minimum=0.0, maximum=1.0, exclusive_max=True)
    with pytest.raises(ValueError, match=r"rate must be a finite number <= 1\.0\. "
                                         r"Received: rate=1\.5"):
        check_float(1.5, "rate", maximum=1.0)
    with pytest.raises(ValueError, match=r"lr must be a finite number\. Received: lr=nan"):
        check_float(float("nan"), "lr")
    with pytest.raises(ValueError, match=r"lr must be a finite number\. Received: lr=inf"):
        check_float(float("inf"), "lr")
    with pytest.raises(ValueError, match=r"lr must be a finite number\. Received: lr='fast'"):
        check_float("fast", "lr")
    with pytest.raises(ValueError, match=r"lr must be a finite number\. Received: lr=False"):
        check_float(False, "lr")


# ------------------------------------------------------------ check_choice
def test_check_choice():
    assert check_choice("auto", "scale", ("auto", "none")) == "auto"
    with pytest.raises(ValueError, match=r"scale must be one of 'auto', 'none'\. "
                                         r"Received: scale='zscore'"):
        check_choice("zscore", "scale", ("auto", "none"))
    with pytest.raises(ValueError, match=r"scale must be one of 'auto'\. Received: scale=None"):
        check_choice(None, "scale", ("auto",))


def test_long_values_are_shortened_in_messages():
    with pytest.raises(ValueError, match=r"Received: scale='xxxx.*\.\.\.$") as info:
        check_choice("x" * 500, "scale", ("auto",))
    assert len(str(info.value)) < 200
