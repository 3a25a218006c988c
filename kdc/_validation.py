"""Input checks shared by estimators, datasets and the command line.

Every error names the argument, what was expected and what was received, in
the form used across kdc: ``n_clusters must be an int >= 2. Received: n_clusters=0``.
"""

import numbers
import tokenize

import numpy as np


def _describe(value):
    """Short, safe description of a value for an error message."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# The largest absolute embedding value a row may have: beyond it (or NaN/infinite) its
# squared distances to centres and training rows can overflow float32, so the row is not
# placed (``transform``/``predict`` refuse it; the exported model gives it no cluster).
EMBEDDING_LIMIT = 1e15


def embedding_rows_ok(z):
    """Boolean array of shape (n_samples,): the rows of the embedding ``z`` kdc can place
    (every value finite and within ``EMBEDDING_LIMIT``)."""
    with np.errstate(invalid="ignore"):
        return (np.abs(np.asarray(z).reshape(len(z), -1)) <= EMBEDDING_LIMIT).all(axis=1)


class NonNumericDataError(TypeError, ValueError):
    """Data holding values that are not numbers (dicts, lists, None...).

    A ``TypeError``, as scikit-learn raises for such data, and a ``ValueError``,
    as kdc raises for every other bad input.
    """


def check_array(x, name="x", *, min_samples=1, min_ndim=2, dtype="float32"):
    """Validate array-like data and return it as a float array.

    Args:
        x: array-like of shape (n_samples, n_features) or images of shape
            (n_samples, height, width[, channels]).
        name: argument name used in error messages.
        min_samples: the fewest rows accepted.
        min_ndim: the fewest dimensions accepted (2 for feature matrices).
        dtype: dtype of the returned array.

    Returns:
        A numpy array of ``dtype``; uint8 input is scaled to [0, 1].

    Raises:
        ValueError: for strings, complex numbers, sparse matrices, fewer than
            ``min_ndim`` dimensions, fewer than ``min_samples`` rows, zero
            features, NaN or infinity.
        NonNumericDataError: (a TypeError and a ValueError) for object arrays
            holding values that are neither numbers nor strings (dicts, lists...).
    """
    if isinstance(x, (str, bytes)):
        raise ValueError(
            f"{name} must be array-like of numbers with shape (n_samples, n_features). "
            f"Received: {name}={_describe(x)}"
        )
    if _is_sparse(x):
        raise ValueError(
            f"{name} must be a dense array: sparse input is not supported. Convert it with "
            f"{name}.toarray() if it fits in memory. Received: {name} of type "
            f"{type(x).__name__} and shape {getattr(x, 'shape', None)}"
        )
    is_uint8 = getattr(x, "dtype", None) == np.uint8
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and similar
        raise ValueError(
            f"{name} must be array-like of numbers with shape (n_samples, n_features). "
            f"Could not convert it to an array: {exc}"
        ) from None
    if arr.dtype.kind == "c":
        raise ValueError(
            f"{name} must contain real numbers: Complex data not supported. "
            f"Received: {name}={_describe(arr)}"
        )
    if arr.dtype.kind == "O":
        # Numbers stored in an object array (e.g. from a mixed DataFrame) are
        # accepted, as scikit-learn does; strings and other objects are not.
        try:
            arr = arr.astype("float64")
        except ValueError as exc:  # strings that are not numbers
            raise ValueError(
                f"{name} must contain numbers (int, uint or float), got dtype object with "
                f"values that are not numbers ({exc}). Convert or encode non-numeric columns "
                f"first. Received: {name}={_describe(arr)}"
            ) from None
        except TypeError as exc:  # dicts, lists, None...
            raise NonNumericDataError(
                f"{name} must contain numbers (int, uint or float), got dtype object with "
                f"values that are not numbers ({exc}). Received: {name}={_describe(arr)}"
            ) from None
    if arr.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must contain numbers (int, uint or float), got dtype {arr.dtype}. "
            f"Convert or encode non-numeric columns first. Received: {name}={_describe(arr)}"
        )
    if arr.ndim < min_ndim:
        hint = (
            f" Reshape your data with {name}.reshape(-1, 1) if it has a single feature"
            f" or {name}.reshape(1, -1) if it contains a single sample."
            if arr.ndim == 1
            else ""
        )
        raise ValueError(
            f"{name} must be a {min_ndim}-D array of shape (n_samples, n_features) or images "
            f"(n_samples, height, width[, channels]). Received: {name}={_describe(arr)}.{hint}"
        )
    n = arr.shape[0]
    if n < min_samples:
        raise ValueError(
            f"{name} must have at least {min_samples} sample(s). Received: {name} with "
            f"{n} sample(s) (shape={arr.shape}) while a minimum of {min_samples} is required."
        )
    n_features = int(np.prod(arr.shape[1:]))
    if arr.ndim >= 2 and n_features == 0:
        raise ValueError(
            f"{name} must have at least 1 feature. Received: {name} with 0 feature(s) "
            f"(shape={arr.shape}) while a minimum of 1 is required."
        )
    with np.errstate(over="ignore", invalid="ignore"):
        out = arr.astype(dtype, copy=False)
    if out.dtype.kind == "f" and arr.dtype.kind == "f" and arr.dtype.itemsize > out.dtype.itemsize:
        overflow = np.isfinite(arr) & ~np.isfinite(out)
        if overflow.any():
            first_row = int(np.argwhere(overflow.reshape(n, -1))[0][0])
            raise ValueError(
                f"{name} must hold values within the range of {out.dtype} (absolute values up to "
                f"{float(np.finfo(out.dtype).max):.3g}). Received: {name} with "
                f"{int(overflow.sum())} value(s) beyond it, the first in row {first_row}. "
                "Rescale the data first.")
    if is_uint8 or arr.dtype == np.uint8:
        out = out / np.asarray(255.0, dtype=dtype)
    if out.dtype.kind == "f" and not np.isfinite(out).all():
        bad = ~np.isfinite(out)
        kinds = []
        if np.isnan(out).any():
            kinds.append("NaN")
        if np.isinf(out).any():
            kinds.append("infinity")
        first_row = int(np.argwhere(bad.reshape(n, -1))[0][0])
        raise ValueError(
            f"{name} must not contain NaN or infinity. Received: {name} with "
            f"{int(bad.sum())} non-finite value(s) ({' and '.join(kinds)}), the first in row "
            f"{first_row}. Impute or drop those rows first."
        )
    return out


def _is_sparse(x):
    """Whether ``x`` is a scipy sparse matrix or array (without importing scipy)."""
    module = type(x).__module__ or ""
    return module.startswith("scipy.sparse") and hasattr(x, "toarray")


def check_n_clusters(n_clusters, n_samples=None, name="n_clusters", alternative=""):
    """Check that ``n_clusters`` is an int in [2, n_samples] and return it.

    ``alternative`` names other accepted values in the message, e.g.
    ``" or 'auto' (...)"`` for the estimators.
    """
    expected = f"{name} must be an int >= 2{alternative}"
    if isinstance(n_clusters, (bool, np.bool_)) or not isinstance(n_clusters, numbers.Integral):
        raise ValueError(f"{expected}. Received: {name}={_describe(n_clusters)}")
    n_clusters = int(n_clusters)
    if n_clusters < 2:
        raise ValueError(f"{expected}. Received: {name}={n_clusters}")
    if n_samples is not None and n_clusters > n_samples:
        raise ValueError(
            f"{name} must be <= n_samples={n_samples} (there cannot be more clusters than "
            f"samples). Received: {name}={n_clusters}"
        )
    return n_clusters


def check_int(value, name, *, minimum=None, maximum=None, allow_none=False):
    """Check that ``value`` is an integer in [minimum, maximum] and return it."""
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if ok:
        value = int(value)
        ok = (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        bounds = []
        if minimum is not None:
            bounds.append(f">= {minimum}")
        if maximum is not None:
            bounds.append(f"<= {maximum}")
        expected = "an int" + (" " + " and ".join(bounds) if bounds else "")
        raise ValueError(f"{name} must be {expected}. Received: {name}={_describe(value)}")
    return value


def check_float(value, name, *, minimum=None, maximum=None, exclusive_min=False,
                exclusive_max=False, allow_none=False):
    """Check that ``value`` is a finite real number in the given range and return it."""
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if ok:
        value = float(value)
        ok = np.isfinite(value)
        if ok and minimum is not None:
            ok = value > minimum if exclusive_min else value >= minimum
        if ok and maximum is not None:
            ok = value < maximum if exclusive_max else value <= maximum
    if not ok:
        bounds = []
        if minimum is not None:
            bounds.append(f"{'>' if exclusive_min else '>='} {minimum}")
        if maximum is not None:
            bounds.append(f"{'<' if exclusive_max else '<='} {maximum}")
        expected = "a finite number" + (" " + " and ".join(bounds) if bounds else "")
        raise ValueError(f"{name} must be {expected}. Received: {name}={_describe(value)}")
    return value


def check_bool(value, name):
    """``value`` as a bool; True, False or a numpy bool, else a ValueError naming ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False. Received: {name}={_describe(value)}")
    return bool(value)


def check_choice(value, name, choices):
    """Check that ``value`` is one of ``choices`` and return it."""
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}. Received: {name}={_describe(value)}")
    return value


# What numpy raises for a corrupt .npy/.npz file: its header is parsed with
# ast.literal_eval, which raises SyntaxError or tokenize.TokenError on garbage.
NPY_PARSE_ERRORS = (EOFError, ValueError, SyntaxError, tokenize.TokenError)
# ... and those of reading the file at all.
NPY_READ_ERRORS = (OSError, *NPY_PARSE_ERRORS)
