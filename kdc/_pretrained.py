"""Pretrained autoencoder weights: lookup in weights/, verification, loading.

``weights/manifest.json`` (written by ``scripts/pretrain.py``) lists, per
``<dataset>-<architecture>`` key, the weights file, its sha256 and the
autoencoder's Keras config. An estimator with ``pretrained="mnist"`` (or the
path of a ``.weights.h5`` file) checks the file against the manifest, builds
the autoencoder the manifest describes and loads the weights into it.
"""

import hashlib
import importlib.resources
import json
import os
from pathlib import Path

# The shipped weights are package data of kdc (kdc/weights/; weights/ at the top
# of a checkout points there), so they are found in a wheel install too.
WEIGHTS_DIR = Path(str(importlib.resources.files("kdc").joinpath("weights")))
MANIFEST = "manifest.json"


class PretrainedWeightsError(ValueError):
    """Pretrained weights that are missing, altered or do not fit the model."""


def weights_dir():
    """The folder searched for pretrained weights: ``$KDC_WEIGHTS`` or the shipped kdc/weights."""
    return Path(os.environ.get("KDC_WEIGHTS", WEIGHTS_DIR)).expanduser()


def read_manifest(directory=None):
    """The manifest dict of ``directory`` (default :func:`weights_dir`); empty if there is none."""
    path = Path(directory or weights_dir()) / MANIFEST
    if not path.exists():
        return {"format": 1, "weights": {}}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PretrainedWeightsError(
            f"The pretrained-weights manifest {path} could not be read ({exc}). Restore it from "
            "the repository or re-create it with scripts/pretrain.py.") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("weights"), dict):
        raise PretrainedWeightsError(
            f"The pretrained-weights manifest {path} has no 'weights' table. Re-create it with "
            "scripts/pretrain.py.")
    return manifest


def available():
    """Names accepted by ``pretrained=`` (the manifest's dataset names)."""
    return sorted({entry.get("dataset") for entry in read_manifest()["weights"].values()})


def sha256(path):
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve(pretrained, architecture):
    """Find and verify the weights named by ``pretrained``.

    Args:
        pretrained: a dataset name from the manifest (``"mnist"``) or the
            path of a ``.weights.h5`` file. A path listed in a
            ``manifest.json`` beside it is verified against it; any other
            file is taken as it is (its shapes are checked when loading).
        architecture: the estimator's ``autoencoder`` ("dense", ...).

    Returns:
        (path, entry): the weights file and its manifest entry (None for an
        unlisted file).

    Raises:
        PretrainedWeightsError: unknown name, missing file, sha256 mismatch,
            or weights made for another architecture.
    """
    text = os.fspath(pretrained) if isinstance(pretrained, (str, os.PathLike)) else None
    if text is None:
        raise PretrainedWeightsError(
            "pretrained must be None, the name of shipped weights (one of "
            f"{available()}) or the path of a .weights.h5 file. Received: "
            f"pretrained={pretrained!r}")
    path = Path(text).expanduser()
    if path.suffix == ".h5" or path.exists():
        directory, entry = path.parent, None
        for candidate in read_manifest(directory)["weights"].values():
            if candidate.get("file") == path.name:
                entry = candidate
        if not path.is_file():
            raise PretrainedWeightsError(
                f"pretrained must name an existing weights file. Received: pretrained={text!r} "
                "(no such file).")
    else:
        directory = weights_dir()
        manifest = read_manifest(directory)
        key = f"{text.lower().replace('-', '_')}-{architecture}"
        entry = manifest["weights"].get(key)
        if entry is None:
            names = sorted({e.get("dataset") for e in manifest["weights"].values()
                            if e.get("architecture") == architecture})
            raise PretrainedWeightsError(
                f"pretrained={text!r}: no shipped weights for dataset {text!r} and "
                f"autoencoder={architecture!r} in {directory}. Available for {architecture!r}: "
                f"{names or 'none'}. Pass the path of a .weights.h5 file, or make weights with "
                "scripts/pretrain.py.")
        path = directory / entry["file"]
        if not path.is_file():
            raise PretrainedWeightsError(
                f"pretrained={text!r}: the weights file {path} listed in the manifest is "
                "missing. Restore weights/ from the repository or re-run scripts/pretrain.py.")
    if entry is not None:
        actual = sha256(path)
        if actual != entry.get("sha256"):
            raise PretrainedWeightsError(
                f"pretrained={text!r}: {path} does not match its manifest entry (sha256 "
                f"{actual}, expected {entry.get('sha256')}). The file was altered or is "
                "incomplete; restore it or re-run scripts/pretrain.py.")
        if entry.get("architecture") != architecture:
            raise PretrainedWeightsError(
                f"pretrained={text!r}: these weights are for autoencoder="
                f"{entry.get('architecture')!r}, but the estimator uses autoencoder="
                f"{architecture!r}.")
    return path, entry


def load_into(model, path, entry, n_features):
    """Load verified weights into ``model`` (already built), checking they fit."""
    if entry is not None:
        expected = entry.get("n_features")
        if expected is not None and expected != n_features:
            raise PretrainedWeightsError(
                f"pretrained weights {path.name} were trained on {expected} features, but x has "
                f"{n_features}. Use weights made for this data, or pretrained=None.")
        config = entry.get("config", {})
        mine = model.get_config()
        for key in ("hidden_dims", "embedding_dim", "activation"):
            if key in config and key in mine and _norm(config[key]) != _norm(mine[key]):
                raise PretrainedWeightsError(
                    f"pretrained weights {path.name} have {key}={config[key]!r}, but the "
                    f"estimator's autoencoder has {key}={mine[key]!r}. Set the estimator's "
                    f"{key} to match, or use pretrained=None.")
    try:
        model.load_weights(path)
    except Exception as exc:  # keras raises ValueError or h5py errors on a mismatch
        raise PretrainedWeightsError(
            f"pretrained weights {path} do not fit the autoencoder "
            f"({type(exc).__name__}: {exc}).") from exc


def _norm(value):
    return list(value) if isinstance(value, (list, tuple)) else value
