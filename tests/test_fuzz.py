"""Fuzzing: every input ends in a result or a clear ValueError, never another exception,
a NaN or a label out of range.

Hypothesis draws arrays of any shape, dtype and values (NaN, infinities, values that
overflow float32, empty arrays, strings, objects) for ``predict``, ``predict_proba`` and
``transform`` of each fitted estimator, and for ``fit`` (marked slow: it trains), and
random bytes and text for the file readers behind ``kdc.datasets.load`` and the command
line. Budgets are bounded (``max_examples``) so the default suite stays fast; set
``HYPOTHESIS_PROFILE=thorough`` for a longer run.
"""

import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import kdc
from tests.conftest import TINY, make_blobs

settings.register_profile("default", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

X, _ = make_blobs(n_samples=120)
N_FEATURES = X.shape[1]
ESTIMATORS = {
    "AEKMeans": lambda: kdc.AEKMeans(3, random_state=0, **TINY),
    "DEC": lambda: kdc.DEC(3, max_iter=10, update_interval=5, random_state=0, **TINY),
    "IDEC": lambda: kdc.IDEC(3, max_iter=10, update_interval=5, random_state=0, **TINY),
    "N2D": lambda: kdc.N2D(3, n_neighbors=5, umap_epochs=20, random_state=0, **TINY),
}

# Values that break naive code: NaN, infinities, float32 overflow, subnormals, huge ints.
SPECIAL = [0.0, -0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 3e38, -3e38, 1e300, 5e-324,
           np.finfo("float32").max, 2.0 ** 63]
TEXT = st.characters(exclude_characters="\x00")  # numpy's str dtype drops NUL characters
DTYPES = st.sampled_from(["float32", "float64", "float16", "int8", "int64", "uint8", "bool",
                          "complex64", "U3", "object"])


@st.composite
def arrays(draw, rows=st.integers(0, 6), good_shape_weight=0.6):
    """Arrays that are mostly of the fitted shape (so the value paths are reached), else any."""
    dtype = draw(DTYPES)
    if draw(st.floats(0, 1)) < good_shape_weight:
        shape = (draw(rows), N_FEATURES)
    else:
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=24))
    if dtype == "object" and np.prod(shape) > 200:  # hypothesis draws lists of bounded size
        shape = (min(shape[0], 5), N_FEATURES) if len(shape) else shape
    if dtype == "object":
        cells = st.one_of(st.none(), st.floats(allow_nan=True), st.text(TEXT, max_size=3),
                          st.just([1, 2]))
        flat = draw(st.lists(cells, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
        out = np.empty(shape, dtype=object)
        out.reshape(-1)[:] = flat if flat else out.reshape(-1)[:]
        return out
    if dtype == "U3":
        return draw(hnp.arrays(dtype, shape, elements=st.text(TEXT, max_size=3)))
    if dtype in ("float32", "float64", "float16"):
        values = st.one_of(st.sampled_from(SPECIAL),
                           st.floats(-10, 10, width=16 if dtype == "float16" else 32))
        with np.errstate(over="ignore", invalid="ignore"):
            base = draw(hnp.arrays("float64", shape, elements=values))
            return base.astype(dtype)
    return draw(hnp.arrays(dtype, shape))


@pytest.fixture(scope="module")
def fitted():
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return {name: make().fit(X) for name, make in ESTIMATORS.items()}


def _check_outcome(call, check_result):
    """``call()`` gives a result that passes ``check_result``, or a ValueError that says why."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # numpy overflow/invalid: a bug
            result = call()
    except ValueError as exc:
        assert str(exc).strip(), "a ValueError without a message"
        return None
    check_result(result)
    return result


@pytest.mark.parametrize("name", list(ESTIMATORS))
@given(x=arrays())
def test_predict_methods_give_a_result_or_a_clear_error(fitted, name, x):
    est = fitted[name]
    n = x.shape[0] if x.ndim else 0

    def labels_ok(labels):
        assert labels.shape == (n,) and labels.dtype.kind == "i"
        assert ((labels >= 0) & (labels < est.n_clusters_)).all()

    def proba_ok(proba):
        assert proba.shape == (n, est.n_clusters_)
        assert np.isfinite(proba).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)

    def embedding_ok(z):
        assert z.shape[0] == n and np.isfinite(z).all()

    labels = _check_outcome(lambda: est.predict(x), labels_ok)
    _check_outcome(lambda: est.predict_proba(x), proba_ok)
    _check_outcome(lambda: est.transform(x), embedding_ok)
    if labels is not None and n:  # each row alone gets its label from the batch
        row = int(np.argmax(labels))
        np.testing.assert_array_equal(est.predict(x[row:row + 1]), labels[row:row + 1])


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ESTIMATORS))
@settings(max_examples=6)
@given(x=arrays(rows=st.integers(0, 40), good_shape_weight=0.5))
def test_fit_gives_labels_or_a_clear_error(name, x):
    from sklearn.exceptions import ConvergenceWarning

    est = ESTIMATORS[name]().set_params(n_clusters=2, verbose=0)
    n = x.shape[0] if x.ndim else 0

    def fitted_ok(result):
        assert result.labels_.shape == (n,)
        assert ((result.labels_ >= 0) & (result.labels_ < result.n_clusters_)).all()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # e.g. umap's small-data notes
        _check_outcome(lambda: est.fit(x), fitted_ok)


SUFFIXES = st.sampled_from([".csv", ".npy", ".npz"])


@st.composite
def file_contents(draw):
    kind = draw(st.sampled_from(["bytes", "csv", "npy", "npz"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "csv":
        cell = st.one_of(st.sampled_from(["", "nan", "inf", "-1e400", "label", "x", "1", "0.5",
                                          '"3"', " 2 ", "1e39"]),
                         st.floats(allow_nan=False, allow_infinity=False).map(repr))
        rows = draw(st.lists(st.lists(cell, min_size=0, max_size=5), max_size=6))
        return "\n".join(",".join(r) for r in rows).encode()
    import io

    buffer = io.BytesIO()
    x = draw(arrays(rows=st.integers(0, 5), good_shape_weight=0.3))
    if kind == "npy":
        np.save(buffer, x, allow_pickle=True)
    else:
        extra = {"y": draw(arrays(rows=st.integers(0, 5), good_shape_weight=0.0))} \
            if draw(st.booleans()) else {}
        np.savez(buffer, **{draw(st.sampled_from(["x", "x_train", "data"])): x}, **extra)
    return buffer.getvalue()


@given(data=file_contents(), suffix=SUFFIXES)
def test_file_readers_give_data_or_a_clear_error(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("fuzz") / f"data{suffix}"
    path.write_bytes(data)

    def data_ok(result):
        x, y = result
        assert x.dtype == np.float32 and x.ndim >= 2 and x.shape[0] >= 1
        assert np.isfinite(x).all()
        assert y is None or (y.shape == (x.shape[0],) and y.dtype == np.int64)

    _check_outcome(lambda: kdc.datasets.load(path, verbose=0), data_ok)
