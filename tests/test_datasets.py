"""Tests for kdc.datasets: named datasets, data files, search order, checksums, downloads."""

import gzip
import hashlib
import os
import urllib.error
import warnings
from pathlib import Path

import numpy as np
import pytest

from kdc import datasets
from kdc.datasets import DatasetChecksumError, load

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
needs_shared = pytest.mark.skipif(not (SHARED / "mnist.npz").is_file(),
                                  reason=f"shared datasets not found at {SHARED}")


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Keep every test away from the real ~/.keras, KDC_DATA and the network."""
    keras_home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.delenv("KDC_DATA", raising=False)

    def no_network(url, dest):
        raise AssertionError(f"unexpected download of {url}")

    monkeypatch.setattr(datasets, "_fetch", no_network)
    return keras_home / "datasets"


def md5(a, dtype=None):
    return hashlib.md5(np.ascontiguousarray(a, dtype=dtype).tobytes()).hexdigest()


def file_md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def write_idx_gz(path, arr):
    arr = np.asarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.tobytes())


def fake_usps(seed=0, n=6):
    rng = np.random.default_rng(seed)
    return rng.random((n, 256), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


def trust(monkeypatch, name, x, y):
    """Make ``x``, ``y`` the verified content of dataset ``name``."""
    monkeypatch.setitem(datasets._CONTENT_MD5, name, (md5(x), md5(y, "<i8")))


# ------------------------------------------------------------------- registry

def test_registry_lists_the_documented_names():
    assert datasets.list_datasets() == [
        "mnist", "mnist_test", "fashion_mnist", "usps", "pendigits", "digits"]
    info = datasets.DATASETS["usps"]
    assert (info.n_samples, info.n_classes, info.shape) == (9298, 10, (16, 16))
    with pytest.raises(TypeError):
        datasets.DATASETS["new"] = info
    assert set(datasets.__all__) >= {"load", "list_datasets", "default_data_dirs", "DATASETS"}


def test_default_data_dirs_order(monkeypatch, tmp_path, isolated):
    monkeypatch.setenv("KDC_DATA", os.pathsep.join([str(tmp_path / "a"), "", str(tmp_path / "b")]))
    dirs = datasets.default_data_dirs(tmp_path / "given")
    assert dirs == [tmp_path / "given", tmp_path / "a", tmp_path / "b", isolated / "kdc", isolated]
    monkeypatch.delenv("KDC_DATA")
    monkeypatch.delenv("KERAS_HOME")
    assert datasets.default_data_dirs()[-1] == Path("~/.keras/datasets").expanduser()


# --------------------------------------------------------------------- digits

def test_digits_is_embedded_scaled_and_flattenable():
    from sklearn.datasets import load_digits

    x, y = load("digits")
    assert x.shape == (1797, 8, 8) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
    assert y.dtype == np.int64 and y.shape == (1797,) and set(np.unique(y)) == set(range(10))
    xf, yf = load("Digits", flatten=True)
    assert xf.shape == (1797, 64)
    np.testing.assert_allclose(xf, load_digits().data / 16.0, rtol=1e-6)
    np.testing.assert_array_equal(yf, y)


@pytest.mark.parametrize("kwargs, message", [
    ({"flatten": 1}, "flatten must be True or False"),
    ({"download": "yes"}, "download must be True or False"),
    ({"verbose": -1}, "verbose must be an int >= 0"),
])
def test_invalid_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load("digits", **kwargs)


def test_non_string_name_is_rejected():
    with pytest.raises(TypeError, match="name_or_path"):
        load(42)


def test_unknown_name_suggests_close_match():
    with pytest.raises(ValueError) as info:
        load("mnsit")
    text = str(info.value)
    assert "Did you mean 'mnist'" in text
    for name in datasets.list_datasets():
        assert name in text


# ---------------------------------------------------------------------- files

def test_npz_with_labels(tmp_path):
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=np.array([0.0, 1.0, 1.0, 2.0]))
    got_x, got_y = load(path)
    assert got_x.dtype == np.float32 and got_x.shape == (4, 3)
    np.testing.assert_array_equal(got_x, x.astype(np.float32))
    assert got_y.dtype == np.int64 and got_y.tolist() == [0, 1, 1, 2]


def test_npz_without_labels_and_uint8_scaling(tmp_path):
    x = np.array([[[0, 255], [51, 102]]] * 3, dtype=np.uint8)
    path = tmp_path / "images.npz"
    np.savez_compressed(path, x=x)
    got_x, got_y = load(str(path))
    assert got_y is None
    assert got_x.shape == (3, 2, 2) and got_x.dtype == np.float32
    np.testing.assert_allclose(got_x[0], [[0, 1], [0.2, 0.4]], rtol=1e-6)
    assert load(path, flatten=True)[0].shape == (3, 4)


def test_npz_in_keras_layout_is_concatenated(tmp_path):
    path = tmp_path / "k.npz"
    np.savez(path, x_train=np.ones((2, 3)), y_train=[1, 1], x_test=np.zeros((1, 3)), y_test=[0])
    x, y = load(path)
    assert x.tolist() == [[1, 1, 1], [1, 1, 1], [0, 0, 0]] and y.tolist() == [1, 1, 0]


def test_npz_without_x_names_the_keys(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, data=np.ones((2, 2)), labels=[0, 1])
    with pytest.raises(ValueError, match=r"no array named 'x'.*Found: data, labels"):
        load(path)


def test_npz_labels_must_match_and_be_integers(tmp_path):
    path = tmp_path / "l.npz"
    np.savez(path, x=np.ones((3, 2)), y=[0, 1])
    with pytest.raises(ValueError, match=r"must have shape \(3,\)"):
        load(path)
    np.savez(path, x=np.ones((2, 2)), y=[0.5, 1.0])
    with pytest.raises(ValueError, match="must be integers"):
        load(path)


def test_npy_has_no_labels(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.arange(6, dtype=np.int32).reshape(3, 2))
    x, y = load(path)
    assert y is None and x.dtype == np.float32 and x.tolist() == [[0, 1], [2, 3], [4, 5]]


def test_data_errors_name_the_file(tmp_path):
    path = tmp_path / "nan.npy"
    np.save(path, np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match=r"nan\.npy.*NaN"):
        load(path)


@pytest.mark.parametrize("text, expected_x, expected_y", [
    ("1,2,0\n3,4,1\n", [[1, 2, 0], [3, 4, 1]], None),
    ("a,b,label\n1,2,0\n3,4,1\n", [[1, 2], [3, 4]], [0, 1]),
    ('"Class",f1,f2\n2,0.5,1\n1,1.5,2\n', [[0.5, 1], [1.5, 2]], [2, 1]),
    ("f1,f2,target\n\n1,2,3\n", [[1, 2]], [3]),
    ("\nf1,f2\n1,2\n3,4\n", [[1, 2], [3, 4]], None),
    ("y,f\n1,7\n", [[7]], [1]),
])
def test_csv_with_and_without_header_and_label(tmp_path, text, expected_x, expected_y):
    path = tmp_path / "t.csv"
    path.write_text(text)
    x, y = load(path)
    assert x.dtype == np.float32 and x.tolist() == expected_x
    if expected_y is None:
        assert y is None
    else:
        assert y.dtype == np.int64 and y.tolist() == expected_y


def test_csv_with_text_values_is_rejected(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,label\n1,cat\n")
    with pytest.raises(ValueError, match=r"t\.csv.*numeric CSV"):
        load(path)
    path.write_text("")
    with pytest.raises(ValueError, match="empty"):
        load(path)


@pytest.mark.parametrize("text", ["f1,f2,label\n", "f1,f2\n\n\n"])
def test_a_header_only_csv_is_a_clear_value_error_without_a_numpy_warning(tmp_path, text):
    path = tmp_path / "h.csv"
    path.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "input contained no data" would raise here
        with pytest.raises(ValueError, match=r"h\.csv' has a header row but no data rows"):
            load(path)


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load(path)
    with pytest.raises(FileNotFoundError, match="pass 'mnist'"):
        load(str(tmp_path / "mnist.npz"))


def test_unsupported_extension_names_supported_ones(tmp_path):
    path = tmp_path / "d.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(ValueError, match=r"'\.parquet'.*\.npz.*\.npy.*\.csv"):
        load(path)
    with pytest.raises(ValueError, match="is a directory"):
        load(tmp_path)


# ------------------------------------------------------- search and checksums

def test_search_order_data_dir_then_env_then_keras_cache(monkeypatch, tmp_path, isolated):
    x, y = fake_usps()
    trust(monkeypatch, "usps", x, y)
    given, env, cache = tmp_path / "given", tmp_path / "env", isolated / "kdc"
    for d in (given, env, cache):
        d.mkdir(parents=True)
        np.savez(d / "usps.npz", x=x, y=y)
    monkeypatch.setenv("KDC_DATA", str(env))
    read = []
    original = datasets._read_verified
    monkeypatch.setattr(datasets, "_read_verified",
                        lambda name, path: read.append(path) or original(name, path))
    got_x, got_y = load("usps", given)
    assert read[-1] == given / "usps.npz"
    assert got_x.shape == (6, 16, 16) and got_x.dtype == np.float32
    np.testing.assert_array_equal(got_x.reshape(6, -1), x)
    np.testing.assert_array_equal(got_y, y)
    load("usps", tmp_path / "does-not-exist")
    assert read[-1] == env / "usps.npz"
    monkeypatch.delenv("KDC_DATA")
    load("usps")
    assert read[-1] == cache / "usps.npz"
    (cache / "usps.npz").unlink()
    (isolated / "usps.npz").write_bytes(b"not Keras' file")  # ignored: not a Keras file
    with pytest.raises(FileNotFoundError, match="'usps' was not found"):
        load("usps", download=False)


def test_checksum_mismatch_names_file_and_both_checksums(tmp_path):
    x, y = fake_usps()
    path = tmp_path / "usps.npz"
    np.savez(path, x=x, y=y)
    with pytest.raises(DatasetChecksumError) as info:
        load("usps", data_dir=tmp_path)
    text = str(info.value)
    expected = datasets._CONTENT_MD5["usps"][0]
    assert str(path) in text and expected in text and md5(x) in text
    assert "Delete" in text and "download it again" in text
    assert isinstance(info.value, ValueError)
    assert (info.value.path, info.value.expected, info.value.actual) == (
        str(path), expected, md5(x))


def test_corrupt_archive_is_named(tmp_path):
    (tmp_path / "pendigits.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match=r"pendigits\.npz.*Delete"):
        load("pendigits", tmp_path)


def test_named_file_needs_labels(tmp_path, monkeypatch):
    x, _ = fake_usps()
    np.savez(tmp_path / "usps.npz", x=x)
    with pytest.raises(ValueError, match="no array 'y'"):
        load("usps", tmp_path)


def test_mnist_test_prefers_its_own_file_then_slices_mnist(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    y = np.arange(7, dtype=np.int64)
    monkeypatch.setattr(datasets, "_N_TRAIN_MNIST", 4)
    trust(monkeypatch, "mnist", x, y)
    np.savez(tmp_path / "mnist.npz", x=x, y=y)
    got_x, got_y = load("mnist_test", tmp_path)
    assert got_y.tolist() == [4, 5, 6]
    np.testing.assert_allclose(got_x, x[4:] / 255.0, rtol=1e-6)
    trust(monkeypatch, "mnist_test", x[:2], y[:2])
    np.savez(tmp_path / "mnist_test.npz", x=x[:2], y=y[:2])
    assert load("mnist_test", tmp_path)[1].tolist() == [0, 1]


def test_keras_own_mnist_file_is_verified_by_keras_hash(monkeypatch, isolated):
    isolated.mkdir(parents=True)
    path = isolated / "mnist.npz"
    img = np.full((1, 28, 28), 255, np.uint8)
    np.savez(path, x_train=np.repeat(img, 3, 0), y_train=np.array([1, 2, 3], np.uint8),
             x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.array([4, 5], np.uint8))
    with pytest.raises(DatasetChecksumError, match=r"sha256.*731c5ac6"):
        load("mnist")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(datasets, "_KERAS_MNIST_SHA256", sha)
    monkeypatch.setattr(datasets, "_N_TRAIN_MNIST", 3)
    x, y = load("mnist", flatten=True)
    assert x.shape == (5, 784) and y.dtype == np.int64 and y.tolist() == [1, 2, 3, 4, 5]
    assert x[:3].min() == 1.0 and x[3:].max() == 0.0
    assert load("mnist_test")[1].tolist() == [4, 5]


def test_keras_fashion_mnist_idx_files(monkeypatch, isolated):
    folder = isolated / "fashion-mnist"
    folder.mkdir(parents=True)
    parts = [np.full((2, 28, 28), 255), np.array([3, 4]), np.zeros((1, 28, 28)), np.array([9])]
    for fname, arr in zip(datasets._IDX_FILES, parts):
        write_idx_gz(folder / fname, arr)
    sums = {f: file_md5(folder / f) for f in datasets._IDX_FILES}
    with pytest.raises(DatasetChecksumError, match="fashion-mnist"):
        load("fashion_mnist")
    monkeypatch.setitem(datasets._SOURCES["fashion_mnist"], "files", sums)
    x, y = load("fashion-mnist")
    assert x.shape == (3, 28, 28) and y.tolist() == [3, 4, 9]
    assert x[:2].min() == 1.0 and x[2].max() == 0.0


def write_fashion_idx(folder, parts, compresslevel=9, mtime=0):
    folder.mkdir(parents=True, exist_ok=True)
    for fname, arr in zip(datasets._IDX_FILES, parts):
        arr = np.asarray(arr, dtype=np.uint8)
        header = bytes([0, 0, 8, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
        with open(folder / fname, "wb") as raw, gzip.GzipFile(
                fileobj=raw, mode="wb", compresslevel=compresslevel, mtime=mtime) as f:
            f.write(header + arr.tobytes())


def test_a_recompressed_fashion_mnist_copy_is_accepted_by_its_content(monkeypatch, tmp_path):
    """Debian's dataset-fashion-mnist ships Zalando's files recompressed: other gzip bytes (so
    other md5s), the same idx content; the content's sha256 accepts them."""
    rng = np.random.default_rng(0)
    parts = [rng.integers(0, 256, (3, 28, 28)), np.array([3, 4, 5]),
             rng.integers(0, 256, (2, 28, 28)), np.array([9, 0])]
    published, packaged = tmp_path / "published" / "fashion-mnist", tmp_path / "fashion-mnist"
    write_fashion_idx(published, parts, compresslevel=9, mtime=0)
    write_fashion_idx(packaged, parts, compresslevel=1, mtime=1234567890)  # recompressed
    files = datasets._IDX_FILES
    assert all(file_md5(published / f) != file_md5(packaged / f) for f in files)
    monkeypatch.setitem(datasets._SOURCES["fashion_mnist"], "files",
                        {f: file_md5(published / f) for f in files})
    with pytest.raises(DatasetChecksumError, match="decompressed content has sha256"):
        load("fashion_mnist", data_dir=tmp_path, download=False)  # the real table: refused
    monkeypatch.setitem(datasets._IDX_CONTENT_SHA256, "fashion_mnist", {
        f: hashlib.sha256(gzip.decompress((packaged / f).read_bytes())).hexdigest()
        for f in files})
    for folder in (published.parent, tmp_path):  # the published bytes, and the recompressed
        x, y = load("fashion_mnist", data_dir=folder, download=False)
        assert x.shape == (5, 28, 28) and y.tolist() == [3, 4, 5, 9, 0]
        np.testing.assert_array_equal(x[:3] * 255, parts[0])
    # other content, recompressed: refused, the message naming both checksums
    parts[1] = np.array([3, 4, 6])
    write_fashion_idx(packaged, parts, compresslevel=1)
    labels = packaged / "train-labels-idx1-ubyte.gz"
    with pytest.raises(DatasetChecksumError) as info:
        load("fashion_mnist", data_dir=tmp_path, download=False)
    message = str(info.value)
    assert str(labels) in message and file_md5(labels) in message
    assert datasets._SOURCES["fashion_mnist"]["files"][labels.name] in message
    assert datasets._IDX_CONTENT_SHA256["fashion_mnist"][labels.name] in message
    assert info.value.expected == datasets._IDX_CONTENT_SHA256["fashion_mnist"][labels.name]
    # a file that is not gzip at all
    labels.write_bytes(b"not gzip")
    with pytest.raises(DatasetChecksumError, match="cannot be decompressed"):
        load("fashion_mnist", data_dir=tmp_path, download=False)


DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist package "
                    f"is not installed ({DEBIAN_FASHION})")
def test_debians_fashion_mnist_package():
    x, y = load("fashion_mnist", data_dir=DEBIAN_FASHION.parent, download=False)
    assert x.shape == (70000, 28, 28) and np.bincount(y).tolist() == [7000] * 10
    assert (md5((x * 255).round().astype(np.uint8)), md5(y, "<i8")) == \
        datasets._CONTENT_MD5["fashion_mnist"]


# ------------------------------------------------------------------ downloads

@pytest.fixture
def mnist_server(monkeypatch, tmp_path):
    """Serve tiny, trusted MNIST idx files through a fake ``_fetch``."""
    source = tmp_path / "server"
    source.mkdir()
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    y = np.array([0, 1, 2, 3, 4])
    for fname, arr in zip(datasets._IDX_FILES, (x[:3], y[:3], x[3:], y[3:])):
        write_idx_gz(source / fname, arr)
    monkeypatch.setitem(datasets._SOURCES["mnist"], "files",
                        {f: file_md5(source / f) for f in datasets._IDX_FILES})
    trust(monkeypatch, "mnist", x, y)
    fetched = []

    def fake_fetch(url, dest):
        fetched.append(url)
        if url.startswith(datasets._SOURCES["mnist"]["mirrors"][0]):
            raise urllib.error.URLError("mirror down")
        Path(dest).write_bytes((source / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(datasets, "_fetch", fake_fetch)
    return source, x, y, fetched


def test_download_verifies_converts_and_caches(mnist_server, isolated, capsys, monkeypatch):
    _, x, y, fetched = mnist_server
    got_x, got_y = load("mnist")
    assert len(fetched) == 8  # 4 files, first mirror down each time
    np.testing.assert_allclose(got_x, x / 255.0, rtol=1e-6)
    assert got_y.tolist() == y.tolist()
    saved = isolated / "kdc" / "mnist.npz"
    with np.load(saved) as f:
        assert f["x"].dtype == np.uint8 and f["y"].dtype == np.int64
    assert sorted(p.name for p in saved.parent.iterdir()) == ["mnist.npz"]  # temp files gone
    assert "downloading" in capsys.readouterr().err
    load("mnist", verbose=0)
    assert len(fetched) == 8 and capsys.readouterr().err == ""  # served from the cache


def test_download_goes_to_writable_data_dir(mnist_server, tmp_path, isolated):
    target = tmp_path / "mine"
    load("mnist", target, verbose=0)
    assert (target / "mnist.npz").is_file() and not (isolated / "kdc").exists()


def test_download_checksum_mismatch_saves_nothing(mnist_server, isolated):
    source, *_ = mnist_server
    bad = source / "t10k-labels-idx1-ubyte.gz"
    expected = file_md5(bad)
    write_idx_gz(bad, [7, 7])
    with pytest.raises(DatasetChecksumError) as info:
        load("mnist", verbose=0)
    text = str(info.value)
    assert "t10k-labels-idx1-ubyte.gz" in text and expected in text and file_md5(bad) in text
    assert list((isolated / "kdc").iterdir()) == []


def test_download_content_mismatch_saves_nothing(mnist_server, isolated, monkeypatch):
    monkeypatch.setitem(datasets._CONTENT_MD5, "mnist", ("0" * 32, "0" * 32))
    with pytest.raises(DatasetChecksumError, match="download of 'mnist'"):
        load("mnist", verbose=0)
    assert list((isolated / "kdc").iterdir()) == []


def test_download_failure_and_download_false(monkeypatch):
    def down(url, dest):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(datasets, "_fetch", down)
    with pytest.raises(OSError, match=r"cvdf-datasets.*offline.*ossci-datasets"):
        load("mnist_test", verbose=0)
    with pytest.raises(FileNotFoundError, match="'mnist_test' was not found"):
        load("mnist_test", download=False)


def test_pendigits_download_parses_uci_text(monkeypatch, tmp_path):
    files = {"pendigits.tra": "47,100,27,81,57,37,26,0,0,23,56,53,100,90,40,98,8\n"
                              " 0, 57, 31, 68, 72, 90,100,100, 76, 75, 50, 51, 28, 25, 16,  0,1\n",
             "pendigits.tes": "88,92,2,99,16,66,94,37,70,0,0,24,42,65,100,100,3\n"}
    monkeypatch.setattr(datasets, "_fetch",
                        lambda url, dest: Path(dest).write_text(files[url.rsplit("/", 1)[1]]))
    rows = np.array([[float(v) for v in line.split(",")]
                     for text in files.values() for line in text.splitlines()])
    trust(monkeypatch, "pendigits", rows[:, :16].astype(np.float32), rows[:, 16])
    x, y = load("pendigits", tmp_path, verbose=0)
    assert x.shape == (3, 16) and x.max() == 1.0 and y.tolist() == [8, 1, 3]
    assert (tmp_path / "pendigits.npz").is_file()


def test_usps_download_reads_h5(monkeypatch, tmp_path):
    h5py = pytest.importorskip("h5py")
    x, y = fake_usps(n=5)
    h5 = tmp_path / "served.h5"
    with h5py.File(h5, "w") as f:
        f["train/data"], f["train/target"] = x[:3], y[:3].astype(np.int32)
        f["test/data"], f["test/target"] = x[3:], y[3:].astype(np.int32)
    monkeypatch.setitem(datasets._SOURCES["usps"], "files", {"usps.h5": file_md5(h5)})
    monkeypatch.setattr(datasets, "_fetch",
                        lambda url, dest: Path(dest).write_bytes(h5.read_bytes()))
    trust(monkeypatch, "usps", x, y)
    got_x, got_y = load("usps", tmp_path / "out", verbose=0)
    np.testing.assert_array_equal(got_x.reshape(5, -1), x)
    assert got_y.tolist() == y.tolist()


# ----------------------------------------------------------- real shared data

@pytest.fixture(scope="module")
def shared_mnist():
    return load("mnist", SHARED)


@needs_shared
def test_shared_mnist_and_mnist_test(shared_mnist):
    x, y = shared_mnist
    assert x.shape == (70000, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert np.bincount(y).tolist() == [6903, 7877, 6990, 7141, 6824, 6313, 6876, 7293, 6825, 6958]
    xt, yt = load("mnist_test", SHARED, flatten=True)
    assert xt.shape == (10000, 784)
    np.testing.assert_array_equal(xt, x[60000:].reshape(10000, -1))
    np.testing.assert_array_equal(yt, y[60000:])


@needs_shared
def test_shared_usps_and_pendigits_via_kdc_data(monkeypatch):
    monkeypatch.setenv("KDC_DATA", str(SHARED))
    x, y = load("usps")
    assert x.shape == (9298, 16, 16) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and len(np.unique(y)) == 10
    x, y = load("pendigits", flatten=True)
    assert x.shape == (10992, 16) and x.min() == 0.0 and x.max() == 1.0
    with np.load(SHARED / "pendigits.npz") as raw:
        np.testing.assert_allclose(x, raw["x"] / 100.0, rtol=1e-6)
        np.testing.assert_array_equal(y, raw["y"])


def test_a_corrupt_npy_header_is_a_value_error_everywhere(tmp_path):
    """numpy parses .npy headers with ast: garbage gives SyntaxError or TokenError."""
    import kdc
    from kdc._report import read_labels

    good = tmp_path / "good.npy"
    np.save(good, np.zeros((6, 4), "float32"))
    raw = good.read_bytes()
    for i, bad in enumerate([raw.replace(b"(6, 4)", b"(6, 4"),  # TokenError
                             raw.replace(b"'<f4'", b"'<f4"),  # a header that does not parse
                             raw[:20]]):  # truncated
        path = tmp_path / f"bad{i}.npy"
        path.write_bytes(bad)
        with pytest.raises(ValueError, match=str(path.name)):
            kdc.datasets.load(path)
        with pytest.raises(ValueError):
            kdc.AEKMeans(2, verbose=0).fit(str(path))
        with pytest.raises(ValueError, match="not a readable numpy file"):
            read_labels(path)
