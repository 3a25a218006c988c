"""call_in_chunks: a row's output does not depend on the rows passed with it."""

import keras
import numpy as np
import pytest

from kdc._keras_utils import ROW_BLOCK, call_in_chunks


@pytest.fixture(scope="module")
def model_and_rows():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(300, activation="relu"), keras.layers.Dense(3)])
    x = np.random.default_rng(0).normal(size=(101, 30)).astype("float32")
    return model, x


def test_rows_are_independent_of_position_count_and_chunking(model_and_rows):
    model, x = model_and_rows
    full = call_in_chunks(model, x)
    assert full.shape == (101, 3) and full.dtype == np.float32
    order = np.random.default_rng(1).permutation(len(x))
    np.testing.assert_array_equal(call_in_chunks(model, x[order]), full[order])
    np.testing.assert_array_equal(call_in_chunks(model, x[:7]), full[:7])
    np.testing.assert_array_equal(call_in_chunks(model, x[50:51]), full[50:51])
    # A batch size that is not a whole number of blocks is rounded up to one.
    np.testing.assert_array_equal(call_in_chunks(model, x, batch_size=ROW_BLOCK + 1), full)
    np.testing.assert_allclose(full, keras.ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-6)

