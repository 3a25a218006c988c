"""Benchmark datasets for deep clustering, and numeric data files.

``load(name)`` returns one of the standard benchmarks as ``(x, y)`` with ``x``
float32 in [0, 1] and ``y`` int64 labels. The data are looked up in a data
directory (see :func:`default_data_dirs`), verified against content checksums
and otherwise downloaded once from their public source. ``load(path)`` reads
a ``.npz``, ``.npy`` or ``.csv`` file the same way.

Example:

    >>> from kdc import datasets
    >>> x, y = datasets.load("digits")
    >>> x.shape, x.dtype, y.dtype
    ((1797, 8, 8), dtype('float32'), dtype('int64'))
"""

import csv
import dataclasses
import difflib
import gzip
import hashlib
import http.client
import os
import shutil
import sys
import tempfile
import types
import urllib.request
import warnings
import zipfile
from pathlib import Path

import numpy as np

from kdc._validation import NPY_READ_ERRORS, _describe, check_array, check_bool, check_int

__all__ = [
    "DATASETS",
    "DatasetChecksumError",
    "DatasetInfo",
    "default_data_dirs",
    "list_datasets",
    "load",
]


class DatasetChecksumError(ValueError):
    """A data file or download does not hold the expected, verified content.

    Attributes:
        path: the file (or URL) that failed the check.
        expected: the expected checksum.
        actual: the checksum that was computed.
    """

    def __init__(self, message, *, path=None, expected=None, actual=None):
        super().__init__(message)
        self.path, self.expected, self.actual = path, expected, actual


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Description of a named dataset.

    Attributes:
        name: the name passed to :func:`load`.
        description: one line about the data.
        n_samples: number of rows returned.
        n_classes: number of classes in ``y``.
        shape: shape of one sample as returned with ``flatten=False``.
        source: where a download comes from.
    """

    name: str
    description: str
    n_samples: int
    n_classes: int
    shape: tuple
    source: str


_MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/ (the official idx files)"
DATASETS = types.MappingProxyType({info.name: info for info in (
    DatasetInfo("mnist", "MNIST handwritten digits, 60,000 train then 10,000 test, 28x28",
                70000, 10, (28, 28), _MNIST_URL),
    DatasetInfo("mnist_test", "the 10,000 MNIST test digits (rows 60000: of 'mnist')",
                10000, 10, (28, 28), _MNIST_URL),
    DatasetInfo("fashion_mnist", "Fashion-MNIST clothing images, train then test, 28x28",
                70000, 10, (28, 28),
                "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"),
    DatasetInfo("usps", "USPS handwritten digits, 7,291 train then 2,007 test, 16x16",
                9298, 10, (16, 16), "usps.h5 (Kaggle copy, pinned GitHub commit)"),
    DatasetInfo("pendigits", "UCI pen-based digits, 16 pen coordinates, train then test",
                10992, 10, (16,),
                "https://archive.ics.uci.edu/ml/machine-learning-databases/pendigits/"),
    DatasetInfo("digits", "scikit-learn's bundled 8x8 digits (no download)",
                1797, 10, (8, 8), "sklearn.datasets.load_digits"),
)})
"""Registry of the named datasets: ``{name: DatasetInfo}`` (read-only)."""

# md5 of the raw C-order bytes of x (stored dtype) and of y as int64.
_CONTENT_MD5 = {
    "mnist": ("df934f9eb93f7ea5d223226cfb084043", "25ff2a860380ab0f31bbbd289b78d8c3"),
    "mnist_test": ("240610fa99e73bfa49df8e7fc24d3206", "c68af35e960ed5d39dce3477a31a5da0"),
    "usps": ("7c5c54e57c713771d60ceb15dae86b1e", "386f785031b7389f220c3475baecd8df"),
    "pendigits": ("1aec3c5454abc63bcc8a3d5496bdd8a3", "d89bf7a831cff59a8a0495cc316ab145"),
    "fashion_mnist": ("dcb9eea5c5bc8070e6c0dee11a41ef5c", "6e62326af1bea7c7afea7238064d4ac2"),
}
# sha256 of Keras' own mnist.npz, as published in keras/src/datasets/mnist.py.
_KERAS_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
_SCALE = {"mnist": 255.0, "mnist_test": 255.0, "fashion_mnist": 255.0, "pendigits": 100.0}
_N_TRAIN_MNIST = 60000
_IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
# Per dataset: mirrors (tried in order) and {file name: md5 or None}.
_SOURCES = {
    "mnist": {
        "mirrors": ("https://storage.googleapis.com/cvdf-datasets/mnist/",
                    "https://ossci-datasets.s3.amazonaws.com/mnist/"),
        "files": dict(zip(_IDX_FILES, ("f68b3c2dcbeaaa9fbdd348bbdeb94873",
                                       "d53e105ee54ea40749a09fcbcd1e9432",
                                       "9fb629c4189551a2d022fa330f9573f3",
                                       "ec29112dd5afa0611ce80d1b7f02629c"))),
    },
    "fashion_mnist": {  # md5s published by zalandoresearch/fashion-mnist
        "mirrors": ("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
                    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/"
                    "master/data/fashion/"),
        "files": dict(zip(_IDX_FILES, ("8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                                       "25c81989df183df01b3e8a0aad5dffbe",
                                       "bef4ecab320f06d8554ea6380940ec79",
                                       "bb300cfdad3c16e7a12a480ee83cd310"))),
    },
    "pendigits": {  # no published file md5; the parsed content is verified
        "mirrors": ("https://archive.ics.uci.edu/ml/machine-learning-databases/pendigits/",
                    "https://raw.githubusercontent.com/rymc/n2d/"
                    "6c359365601f4389d1d23a28f1f43619187a4ece/data/pendigits/"),
        "files": {"pendigits.tra": None, "pendigits.tes": None},
    },
    "usps": {
        "mirrors": ("https://raw.githubusercontent.com/niuers/Learning-From-Data-A-Short-Course/"
                    "879a698b960e5867f7c2b11f8938fa89c3d21839/data/",),
        "files": {"usps.h5": "355df6b942eb766252e0340bc019b0b9"},
    },
}
# sha256 of the decompressed Fashion-MNIST idx files: Zalando's content, whatever the gzip
# bytes. A copy recompressed by a packager (Debian's dataset-fashion-mnist ships other gzip
# bytes of the same files) fails the md5s above and is accepted by these. Computed from
# Debian's dataset-fashion-mnist 0.0~git20200523.55506a9-1; the md5s of the same decompressed
# files (f4a8712d..., 9018921c..., 8181f547..., 15d48437...) are the ones published beside
# Zalando's gzip md5s by public Fashion-MNIST loaders, and these sha256s match published ones.
_IDX_CONTENT_SHA256 = {
    "fashion_mnist": dict(zip(_IDX_FILES, (
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"))),
}
_LABEL_COLUMNS = ("label", "y", "target", "class")
_SUPPORTED = (".npz", ".npy", ".csv")


def list_datasets():
    """Return the names accepted by :func:`load`.

    Returns:
        list of str, e.g. ``["mnist", "mnist_test", ...]``; see ``DATASETS``
        for their sizes and sources.
    """
    return list(DATASETS)


def _keras_datasets_dir():
    home = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    return Path(home).expanduser() / "datasets"


def default_data_dirs(data_dir=None):
    """Return the directories searched for named datasets, in order.

    1. ``data_dir``, when given;
    2. each directory in the environment variable ``KDC_DATA`` (several may be
       separated by ``os.pathsep``);
    3. ``$KERAS_HOME/datasets/kdc`` (``KERAS_HOME`` defaults to ``~/.keras``);
    4. ``$KERAS_HOME/datasets``, Keras' own cache, where only Keras' files are
       used: ``mnist.npz`` from ``keras.datasets.mnist`` and
       ``fashion-mnist/*-ubyte.gz`` from ``keras.datasets.fashion_mnist``.

    In directories 1-3 the file for dataset ``N`` is ``N.npz`` holding ``x``
    and ``y``; ``mnist_test`` also uses ``mnist.npz`` and Fashion-MNIST also a
    ``fashion-mnist/`` folder of the four gzipped idx files, verified by the
    published md5 of each file or, for a recompressed copy, by the sha256 of
    its content (Debian's ``dataset-fashion-mnist`` package: pass
    ``data_dir="/usr/share/datasets"``). A dataset found nowhere is
    downloaded into the first writable directory of 1-3 (by default
    ``~/.keras/datasets/kdc``). Directories need not exist.

    Args:
        data_dir: str or path-like, optional. Searched first.

    Returns:
        list of ``pathlib.Path``.
    """
    dirs = [] if data_dir is None else [Path(data_dir).expanduser()]
    dirs += [Path(p).expanduser() for p in os.environ.get("KDC_DATA", "").split(os.pathsep) if p]
    keras_dir = _keras_datasets_dir()
    return dirs + [keras_dir / "kdc", keras_dir]


def load(name_or_path, data_dir=None, *, flatten=False, download=True, verbose=1):
    """Load a benchmark dataset by name, or a data file, as ``(x, y)``.

    Args:
        name_or_path: a name from :func:`list_datasets` (``"mnist"``,
            ``"mnist_test"``, ``"fashion_mnist"``, ``"usps"``, ``"pendigits"``,
            ``"digits"``; case and ``-``/``_`` do not matter), or the path of a
            ``.npz`` (arrays ``x`` and optional ``y``; Keras' ``x_train``,
            ``y_train``, ``x_test``, ``y_test`` also work), ``.npy`` (``x``
            only) or numeric ``.csv`` file (a header row is optional; a column
            named label, y, target or class is ``y``). Names win over files of
            the same name: write ``"./mnist"`` for a file called ``mnist``.
        data_dir: str or path-like, optional. Searched first for named
            datasets; see :func:`default_data_dirs`. Ignored for file paths.
        flatten: bool, default False. Return images as
            ``(n_samples, height * width)`` instead of
            ``(n_samples, height, width)``.
        download: bool, default True. Download a named dataset that is not
            found locally; if False, raise ``FileNotFoundError`` instead.
        verbose: int, default 1. 0 is silent; 1 reports downloads on stderr.

    Returns:
        Tuple ``(x, y)``: ``x`` float32 array of shape
        ``(n_samples, height, width)`` for images (MNIST, Fashion-MNIST,
        USPS, digits) or ``(n_samples, n_features)``, scaled to [0, 1] for
        the named datasets (uint8 pixels / 255, pendigits / 100, digits / 16)
        and for uint8 arrays in files; ``y`` int64 array of shape
        ``(n_samples,)``, or None for a file without labels.

    Raises:
        ValueError: unknown name (with close matches), unsupported file type,
            a ``.npz`` without ``x``, or data that are not numeric.
        DatasetChecksumError: a dataset file or download fails its checksum.
        FileNotFoundError: the file does not exist, or a dataset is not found
            locally and ``download=False``.
        OSError: every download mirror failed.

    Example:

        >>> x, y = load("digits", flatten=True)
        >>> x.shape, float(x.max()), y[:5].tolist()
        ((1797, 64), 1.0, [0, 1, 2, 3, 4])
    """
    flatten = check_bool(flatten, "flatten")
    download = check_bool(download, "download")
    if not isinstance(verbose, bool):
        verbose = check_int(verbose, "verbose", minimum=0)
    name = _dataset_name(name_or_path)
    if name is None:
        x, y = _load_file(Path(name_or_path).expanduser())
    else:
        x, y = _load_named(name, data_dir, download, verbose)
    if flatten:
        x = x.reshape(len(x), -1)
    return x, y


def _dataset_name(obj):
    """The registry name for ``obj``, or None when it is a file path."""
    if isinstance(obj, os.PathLike):
        return None
    if not isinstance(obj, str):
        raise TypeError("name_or_path must be a dataset name or a file path (str or path-like). "
                        f"Received: name_or_path={_describe(obj)}")
    key = obj.strip().lower().replace("-", "_")
    if key in DATASETS:
        return key
    if "/" in obj or os.sep in obj or Path(obj).suffix or os.path.exists(obj):
        return None
    close = difflib.get_close_matches(key, list(DATASETS), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"Unknown dataset name {obj!r}.{hint} Available datasets: "
                     f"{', '.join(DATASETS)}. Or pass the path of a "
                     f"{', '.join(_SUPPORTED)} file.")


# ----------------------------------------------------------------- named data

def _load_named(name, data_dir, download, verbose):
    if name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images.astype(np.float32) / np.float32(16.0), bunch.target.astype(np.int64)
    dirs = default_data_dirs(data_dir)
    for i, directory in enumerate(dirs):
        for path in _candidates(name, directory, keras_cache=i == len(dirs) - 1):
            if path.exists():
                x, y = _read_verified(name, path)
                return _finish(name, x, y)
    if not download:
        raise FileNotFoundError(
            f"Dataset {name!r} was not found in: {', '.join(str(d) for d in dirs)}. Put a "
            f"verified {_base(name)}.npz (arrays x and y) in one of them, or call "
            "load(..., download=True).")
    return _finish(name, *_download(name, data_dir, verbose))


def _base(name):
    return "mnist" if name == "mnist_test" else name


def _candidates(name, directory, keras_cache):
    """Files that may hold ``name`` in ``directory``, best first."""
    if keras_cache:  # Keras' own files only
        if _base(name) == "mnist":
            yield directory / "mnist.npz"
        elif name == "fashion_mnist" and _has_idx(directory / "fashion-mnist"):
            yield directory / "fashion-mnist"
        return
    if name == "mnist_test":
        yield directory / "mnist_test.npz"
    yield directory / f"{_base(name)}.npz"
    if name == "fashion_mnist" and _has_idx(directory / "fashion-mnist"):
        yield directory / "fashion-mnist"


def _has_idx(directory):
    return all((directory / f).is_file() for f in _IDX_FILES)


def _read_verified(name, path):
    """Read the stored (unscaled) arrays of ``name`` from ``path`` and verify them."""
    fix = (f"Delete '{path}' and call kdc.datasets.load({name!r}) to download it again, "
           "or replace it with a verified copy.")
    if path.is_dir():  # Keras' Fashion-MNIST layout (also Debian's dataset-fashion-mnist)
        files = [path / f for f in _IDX_FILES]
        for f in files:
            _check_idx_file(f, "fashion_mnist", fix)
        return _parse_idx(files)
    arrays = _read_npz(path, fix)
    which = path.stem if path.stem in _CONTENT_MD5 else _base(name)
    if "x" in arrays:
        if "y" not in arrays:
            raise ValueError(f"'{path}' has no array 'y' with the labels of {name!r}. {fix}")
        x, y = arrays["x"], arrays["y"]
        _check_content(which, x, y, path, fix)
    elif "x_train" in arrays and which == "mnist":  # keras.datasets.mnist's file
        _check_digest(path, _KERAS_MNIST_SHA256, "sha256", fix)
        x, y = _concat_keras(arrays, path)
    else:
        raise ValueError(f"'{path}' must hold arrays 'x' and 'y'. Found: "
                         f"{', '.join(sorted(arrays)) or 'no arrays'}. {fix}")
    if name == "mnist_test" and which == "mnist":
        x, y = x[_N_TRAIN_MNIST:], y[_N_TRAIN_MNIST:]
    return x, y


def _finish(name, x, y):
    """Reshape to the registry sample shape and scale to float32 in [0, 1]."""
    x = np.asarray(x).reshape(len(x), *DATASETS[name].shape).astype(np.float32)
    if name in _SCALE:
        x /= np.float32(_SCALE[name])
    return x, np.asarray(y, dtype=np.int64)


def _md5_array(a, dtype=None):
    data = np.ascontiguousarray(a, dtype=dtype).data
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _check_content(name, x, y, path, fix, where=None):
    """Verify x/y of dataset ``name`` by content md5 (or by shape when none is known)."""
    where = where or f"'{path}'"
    if len(x) != len(y):
        raise ValueError(f"{where} has {len(x)} rows in x but {len(y)} labels in y. {fix}")
    expected = _CONTENT_MD5.get(name)
    if expected is None:
        info = DATASETS[name]
        if len(x) != info.n_samples or np.size(x) != len(x) * int(np.prod(info.shape)):
            raise ValueError(f"{where} should hold {name!r} with x of shape "
                             f"({info.n_samples}, {', '.join(map(str, info.shape))}). "
                             f"Received: x of shape {np.shape(x)}. {fix}")
        return
    for part, arr, dtype, md5 in (("x", x, None, expected[0]), ("y", y, "<i8", expected[1])):
        actual = _md5_array(arr, dtype)
        if actual != md5:
            raise DatasetChecksumError(
                f"{where} does not hold the expected {name!r} data: the md5 of {part} is "
                f"{actual}, expected {md5}. The file is corrupt or a different version. {fix}",
                path=str(path), expected=md5, actual=actual)


def _check_digest(path, expected, algorithm, fix):
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    actual = digest.hexdigest()
    if actual != expected:
        raise DatasetChecksumError(
            f"'{path}' has {algorithm} {actual}, expected {expected}: it is corrupt, incomplete "
            f"or a different file. {fix}", path=str(path), expected=expected, actual=actual)


def _check_idx_file(path, name, fix):
    """Verify a gzipped idx file of dataset ``name`` by the md5 of the file or, when that
    differs (a recompressed copy), by the sha256 of its decompressed content."""
    md5 = _SOURCES[name]["files"][path.name]
    try:
        _check_digest(path, md5, "md5", fix)
        return
    except DatasetChecksumError as exc:
        mismatch = exc
    expected = _IDX_CONTENT_SHA256[name][path.name]
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except (OSError, EOFError) as exc:  # not gzip, or truncated
        raise DatasetChecksumError(
            f"'{path}' has md5 {mismatch.actual}, expected {md5}, and cannot be decompressed "
            f"({exc}): it is corrupt, incomplete or a different file. {fix}",
            path=str(path), expected=md5, actual=mismatch.actual) from None
    actual = digest.hexdigest()
    if actual != expected:
        raise DatasetChecksumError(
            f"'{path}' has md5 {mismatch.actual}, expected {md5} (the published gzip file), "
            f"and its decompressed content has sha256 {actual}, expected {expected}: it is "
            f"corrupt, incomplete or a different file. {fix}",
            path=str(path), expected=expected, actual=actual)


def _read_npz(path, fix=""):
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("it is a single .npy array, not a .npz archive")
        with archive:
            return {key: archive[key] for key in archive.files}
    except (*NPY_READ_ERRORS, zipfile.BadZipFile) as exc:
        raise ValueError(f"Could not read '{path}' as a .npz archive of numeric arrays: {exc}. "
                         f"{fix}".rstrip()) from None


def _concat_keras(arrays, path):
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
    if missing:
        raise ValueError(f"'{path}' looks like a Keras dataset file but lacks {missing}.")
    return (np.concatenate([arrays["x_train"], arrays["x_test"]]),
            np.concatenate([arrays["y_train"], arrays["y_test"]]))


# ------------------------------------------------------------------ downloads

def _fetch(url, dest):
    """Download ``url`` to the file ``dest`` (the one place that touches the network)."""
    request = urllib.request.Request(url, headers={"User-Agent": "kdc-datasets"})
    with urllib.request.urlopen(request, timeout=60) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out, length=1 << 20)


def _say(verbose, message):
    if verbose:
        print(f"kdc.datasets: {message}", file=sys.stderr, flush=True)


def _download_dir(data_dir):
    """The first writable of the search directories (Keras' own cache excluded)."""
    tried = []
    for directory in default_data_dirs(data_dir)[:-1]:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            if os.access(directory, os.W_OK):
                return directory
        except OSError:
            pass
        tried.append(str(directory))
    raise PermissionError(f"No writable directory to download into; tried {', '.join(tried)}. "
                          "Pass a writable data_dir or set the KDC_DATA environment variable.")


def _download(name, data_dir, verbose):
    """Download, verify and convert ``name``; save ``N.npz`` atomically; return x, y."""
    base = _base(name)
    spec = _SOURCES[base]
    target = _download_dir(data_dir)
    with tempfile.TemporaryDirectory(prefix=f".{base}-download-", dir=target) as tmp:
        paths = [_download_file(spec["mirrors"], fname, md5, Path(tmp), verbose, name)
                 for fname, md5 in spec["files"].items()]
        x, y = _PARSERS[base](paths)
        urls = ", ".join(m + f for m in spec["mirrors"][:1] for f in spec["files"])
        _check_content(base, x, y, tmp, "The source may have changed; nothing was saved.",
                       where=f"The download of {base!r} ({urls})")
        staged = Path(tmp) / f"{base}.npz"
        np.savez_compressed(staged, x=x, y=y)
        os.replace(staged, target / staged.name)  # atomic: never a partial N.npz
    _say(verbose, f"saved {target / staged.name}")
    if name == "mnist_test":
        x, y = x[_N_TRAIN_MNIST:], y[_N_TRAIN_MNIST:]
    return x, y


def _download_file(mirrors, fname, md5, tmp, verbose, name):
    errors, bad = [], None
    for mirror in mirrors:
        url, dest = mirror + fname, tmp / fname
        _say(verbose, f"downloading {url}")
        try:
            _fetch(url, dest)
            if md5 is not None:
                _check_digest(dest, md5, "md5", "Nothing was saved.")
            return dest
        except DatasetChecksumError as exc:
            bad = exc
            errors.append(f"{url}: {exc}")
        except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, ...
            errors.append(f"{url}: {exc}")
    if bad is not None:
        raise DatasetChecksumError(f"No mirror served a verified {fname}: " + "; ".join(errors),
                                   path=bad.path, expected=bad.expected, actual=bad.actual)
    raise OSError(f"Could not download {fname}: " + "; ".join(errors) + ". Check the network, "
                  f"or put a verified {_base(name)}.npz into one of "
                  "kdc.datasets.default_data_dirs().")


def _read_idx(path):
    """Parse a gzipped idx file (the MNIST format) into a uint8 array."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"Could not read '{path}' as a gzip file: {exc}") from None
    ndim = data[3] if len(data) >= 4 else 0
    header = 4 + 4 * ndim
    if data[:3] != b"\x00\x00\x08" or not ndim or len(data) < header:
        raise ValueError(f"'{path}' is not an idx file of unsigned bytes.")
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    if len(data) - header != int(np.prod(dims)):
        raise ValueError(f"'{path}' is truncated: header says {dims}, "
                         f"found {len(data) - header} bytes of data.")
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims)


def _parse_idx(paths):
    x_train, y_train, x_test, y_test = (_read_idx(p) for p in paths)
    return np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test]).astype(np.int64)


def _parse_pendigits(paths):
    data = np.concatenate([np.loadtxt(p, delimiter=",", ndmin=2) for p in paths])
    return data[:, :-1].astype(np.float32), data[:, -1].astype(np.int64)


def _parse_usps(paths):
    try:
        import h5py
    except ImportError:
        raise ImportError("Converting usps.h5 needs h5py: pip install h5py. Or put a verified "
                          "usps.npz into one of kdc.datasets.default_data_dirs().") from None
    with h5py.File(paths[0], "r") as f:
        x = np.concatenate([f["train/data"][:], f["test/data"][:]]).astype(np.float32)
        y = np.concatenate([f["train/target"][:], f["test/target"][:]]).astype(np.int64)
    return x, y


_PARSERS = {"mnist": _parse_idx, "fashion_mnist": _parse_idx,
            "pendigits": _parse_pendigits, "usps": _parse_usps}


# ---------------------------------------------------------------------- files

def _load_file(path):
    if not path.exists():
        hint = (f" To load the named dataset, pass {path.stem!r}."
                if path.stem.lower().replace("-", "_") in DATASETS else "")
        raise FileNotFoundError(f"Data file not found: '{path}'.{hint}")
    if path.is_dir():
        raise ValueError(f"'{path}' is a directory. Pass a {', '.join(_SUPPORTED)} file, or a "
                         f"dataset name with data_dir='{path}'.")
    suffix = path.suffix.lower()
    y = None
    if suffix == ".npz":
        arrays = _read_npz(path)
        if "x" in arrays:
            x, y = arrays["x"], arrays.get("y")
        elif "x_train" in arrays:
            x, y = _concat_keras(arrays, path)
        else:
            raise ValueError(f"'{path}' has no array named 'x' (the samples; 'y' holds optional "
                             f"labels). Found: {', '.join(sorted(arrays)) or 'no arrays'}. "
                             "Save it with np.savez(path, x=x, y=y).")
    elif suffix == ".npy":
        try:
            x = np.load(path, allow_pickle=False)
        except NPY_READ_ERRORS as exc:
            raise ValueError(f"Could not read '{path}' as a numeric .npy array: {exc}") from None
    elif suffix == ".csv":
        x, y = _read_csv(path)
    else:
        raise ValueError(f"Unsupported file type {suffix or '(none)'!r} for '{path}'. Supported: "
                         ".npz (arrays x and optional y), .npy (x only), .csv (numbers; a "
                         f"column named {', '.join(_LABEL_COLUMNS)} holds the labels).")
    try:
        x = check_array(x, "x")
    except ValueError as exc:
        raise ValueError(f"Cannot use the data in '{path}': {exc}") from None
    return x, _as_labels(y, len(x), path)


def _as_labels(y, n, path):
    if y is None:
        return None
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (n,):
        raise ValueError(f"The labels y in '{path}' must have shape ({n},), one per row of x. "
                         f"Received: y of shape {y.shape}")
    if y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all():
        y = y.astype(np.int64)
    if y.dtype.kind not in "biu":
        raise ValueError(f"The labels y in '{path}' must be integers. Received: y of dtype "
                         f"{y.dtype}. Encode them first, e.g. with "
                         "sklearn.preprocessing.LabelEncoder.")
    return y.astype(np.int64)


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(path):
    """Read a numeric CSV file; a header row is optional and may name a label column."""
    with open(path, newline="") as f:
        for skip, line in enumerate(f):
            if line.strip():
                first = next(csv.reader([line]))
                break
        else:
            raise ValueError(f"'{path}' is empty.")
    has_header = not all(_is_number(cell) for cell in first)
    names = [cell.strip().lower() for cell in first] if has_header else []
    label = next((i for i, c in enumerate(names) if c in _LABEL_COLUMNS), None)
    try:
        with warnings.catch_warnings():  # no rows: the error below says so, without a source path
            warnings.filterwarnings("ignore", "loadtxt: input contained no data", UserWarning)
            data = np.loadtxt(path, delimiter=",", skiprows=skip + has_header, ndmin=2,
                              quotechar='"', dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"Could not read '{path}' as a numeric CSV file: {exc}. Every value "
                         "except the header row must be a number; encode text columns, "
                         "including labels, as integers first.") from None
    if data.shape[0] == 0:
        raise ValueError(f"'{path}' has a header row but no data rows: a CSV file needs at "
                         "least one row of numbers, one sample per row.")
    if label is None:
        return data, None
    return np.delete(data, label, axis=1), data[:, label]
