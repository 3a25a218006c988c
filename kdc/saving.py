"""Saving and loading fitted estimators: ``est.save(path)`` and ``kdc.load(path)``.

A saved estimator is a folder:

- ``kdc_model.json``: the manifest: format name and version, the estimator
  class, its parameters (readable JSON), kdc/Keras/TensorFlow versions, and
  the sha256 of every other file;
- ``autoencoder.keras``: the fitted autoencoder in Keras' own format (plus
  ``autoencoder_param.keras`` when the ``autoencoder`` argument was a model);
- ``state.joblib``: the other parameters and the fitted state (scaling,
  labels, history, the scikit-learn parts: k-means, UMAP, Gaussian mixture,
  ...), with joblib.

This module knows estimators only through their hooks: ``get_params``,
``get_fitted_state`` (what to save) and ``set_fitted_state`` (restore it),
and the classes registered with :func:`register_estimator` (every subclass
of :class:`kdc.BaseDeepClusterer` registers itself when it is defined).
``load`` instantiates only a registered class named in the manifest; it
never imports a module named there.

The folder is written under a temporary name beside ``path`` and renamed into
place only when complete, so a save that fails (disk full, an unpicklable
custom clusterer, Ctrl-C) leaves an earlier save at ``path`` untouched.

Loading runs pickle (joblib) on ``state.joblib``, like any scikit-learn model
file: only load folders from sources you trust.
"""

import json
import os
import pickle
import warnings
from datetime import datetime, timezone
from pathlib import Path

import joblib
import keras
from sklearn.utils.validation import check_is_fitted

from kdc._fileio import atomic_write, check_target, staging_dir, swap_in
from kdc._json import json_safe
from kdc._pretrained import sha256 as _sha256
from kdc._version import __version__

FORMAT = "kdc.estimator"
# 2: state.joblib holds {"params": ..., "fitted": ...}; 1 (read too): one flat dict.
FORMAT_VERSION = 2
MANIFEST = "kdc_model.json"
STATE = "state.joblib"
_OPTIMIZER_KEY = "__keras_optimizer__"

__all__ = ["FORMAT_VERSION", "ModelFormatError", "load", "register_estimator", "save"]

# "module:qualname" -> class, filled by register_estimator.
_ESTIMATORS = {}


class ModelFormatError(ValueError):
    """A folder that is not a loadable kdc model (not kdc's, newer format, corrupt)."""


def register_estimator(cls):
    """Allow :func:`load` to instantiate ``cls`` (a class with the saving hooks); returns it."""
    _ESTIMATORS[_class_key(cls)] = cls
    return cls


def _class_key(cls):
    return f"{cls.__module__}:{cls.__qualname__}"


# ---------------------------------------------------------------------- save

def save(estimator, path, *, overwrite=False):
    """Save a fitted kdc estimator to the folder ``path``.

    Args:
        estimator: a fitted kdc estimator (AEKMeans, N2D, DEC, IDEC or a
            subclass of :class:`kdc.BaseDeepClusterer`).
        path: str or path-like, the folder to write.
        overwrite: bool. An existing kdc model at ``path`` is replaced only
            when True (after the new save has succeeded); a folder that is
            not a kdc model is never replaced.

    Returns:
        ``pathlib.Path`` of the saved folder.

    Raises:
        FileExistsError: ``path`` holds a kdc model and ``overwrite`` is False.
        ValueError: ``path`` is a file or a non-empty folder kdc did not write.
        OSError, pickle errors: the save failed; nothing at ``path`` changed.
    """
    if _ESTIMATORS.get(_class_key(type(estimator))) is not type(estimator):
        raise TypeError("estimator must be a kdc estimator (AEKMeans, N2D, DEC, IDEC). "
                        f"Received: {type(estimator).__name__}")
    check_is_fitted(estimator, "labels_")
    out = check_target(path, overwrite, kind="model", is_ours=_is_model_dir)
    staging = staging_dir(out)
    try:
        manifest = _write_parts(estimator, staging)
        atomic_write(staging / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        swap_in(staging, out)
    except BaseException:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _is_model_dir(folder):
    try:
        return json.loads((folder / MANIFEST).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _write_parts(est, folder):
    """Write the Keras files and the joblib state of ``est`` into ``folder``; return the manifest."""
    params = est.get_params(deep=False)
    keras_files, dropped = {}, []
    state = {"params": {}, "fitted": {}}
    for name, value in params.items():
        state["params"][name] = _param_value(name, value, folder, keras_files, dropped)
    for name, value in est.get_fitted_state().items():
        if isinstance(value, keras.layers.Layer):
            keras_files[name] = f"{name.rstrip('_')}.keras"
            value.save(folder / keras_files[name])
            continue
        state["fitted"][name] = value
    try:
        joblib.dump(state, folder / STATE)
    except Exception as exc:
        culprit = _unpicklable({**state["params"], **state["fitted"]})
        raise type(exc)(
            f"could not save the {type(est).__name__}: {culprit or 'its state'} cannot be "
            f"pickled ({exc}). Any earlier save at the target path is unchanged.") from exc
    files = sorted([STATE, *keras_files.values()])
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": _class_key(type(est)),
        "params": json_safe({k: v for k, v in params.items()}),
        "not_saved": dropped,
        "keras_files": keras_files,
        "files": {f: _sha256(folder / f) for f in files},
        "versions": {"kdc": __version__, "keras": keras.__version__,
                     "tensorflow": _tf_version()},
        "saved": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _param_value(name, value, folder, keras_files, dropped):
    """How a constructor argument is stored: Keras objects through Keras' own serialisation."""
    if isinstance(value, keras.Model):
        keras_files[name] = f"{name}_param.keras"
        value.save(folder / keras_files[name])
        return None
    if isinstance(value, keras.optimizers.Optimizer):
        return {_OPTIMIZER_KEY: keras.optimizers.serialize(value)}
    if name == "distribute":  # bound to this machine's devices: never saved
        if value is not None:
            dropped.append("distribute")
        return None
    if name == "callbacks" and value:
        warnings.warn("callbacks are not saved (Keras callbacks hold open files and model "
                      "references); the loaded estimator has callbacks=None. Set them again "
                      "with set_params(callbacks=[...]) before fitting it further.",
                      UserWarning, stacklevel=4)
        dropped.append("callbacks")
        return None
    return value


def _unpicklable(state):
    for key, value in state.items():
        try:
            pickle.dumps(value)
        except Exception as exc:  # noqa: BLE001 - we report which attribute fails
            return f"{key} ({type(value).__name__}: {type(exc).__name__})"
    return None


# ---------------------------------------------------------------------- load

def load(path):
    """Load an estimator saved with ``est.save(path)``.

    The loaded estimator predicts exactly what the saved one predicted. To
    train it further, set ``warm_start=True`` and call ``fit`` (see
    :class:`kdc.BaseDeepClusterer`).

    Args:
        path: str or path-like, a folder written by ``est.save``.

    Returns:
        The fitted estimator.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ModelFormatError: ``path`` is not a kdc model, comes from a newer
            format version, or is corrupt (a file missing or altered).
    """
    folder = Path(os.fspath(path)).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"path '{folder}' does not exist: expected a folder written by "
                                "est.save().")
    manifest = read_manifest(folder)
    for name, digest in manifest["files"].items():
        file = folder / name
        if not file.is_file():
            raise ModelFormatError(f"the kdc model in '{folder}' is incomplete: {name} is missing.")
        if _sha256(file) != digest:
            raise ModelFormatError(
                f"the kdc model in '{folder}' is corrupt: {name} does not match the checksum in "
                f"{MANIFEST}. Save the estimator again.")
    cls = _estimator_class(manifest["class"], folder)
    est = cls()  # the class' defaults: parameters added since the save keep them
    param_names = set(est.get_params(deep=False))
    try:
        state = joblib.load(folder / STATE)
        if manifest["format_version"] == 1:  # one flat dict of parameters and fitted state
            state = {"params": {k: v for k, v in state.items() if k in param_names},
                     "fitted": {k: v for k, v in state.items() if k not in param_names}}
        keras_objects = {name: keras.saving.load_model(folder / file, compile=False)
                         for name, file in manifest["keras_files"].items()}
    except Exception as exc:
        raise ModelFormatError(f"the kdc model in '{folder}' could not be read: "
                               f"{type(exc).__name__}: {exc}") from exc
    params, fitted = dict(state["params"]), dict(state["fitted"])
    for name, value in keras_objects.items():
        (params if name in param_names else fitted)[name] = value
    for name, value in params.items():
        if isinstance(value, dict) and _OPTIMIZER_KEY in value:
            params[name] = keras.optimizers.deserialize(value[_OPTIMIZER_KEY])
    for name in manifest.get("not_saved", []):
        params[name] = None
    est.__dict__.update(params)  # as saved, without __init__'s checks (as scikit-learn's clone)
    est.set_fitted_state(fitted)
    return est


def read_manifest(folder):
    """The validated manifest of a saved model folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFormatError(f"path '{folder}' is a file, not a kdc model folder (est.save "
                               "writes a folder).")
    file = folder / MANIFEST
    if not file.is_file():
        raise ModelFormatError(f"'{folder}' is not a kdc model: it has no {MANIFEST} (save one "
                               "with est.save(path)).")
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelFormatError(f"the kdc model in '{folder}' is corrupt: {MANIFEST} is not "
                               f"valid JSON ({exc}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFormatError(f"'{folder}' is not a kdc model: {MANIFEST} has format "
                               f"{manifest.get('format') if isinstance(manifest, dict) else None!r}"
                               f", expected {FORMAT!r}.")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFormatError(f"the kdc model in '{folder}' is corrupt: format_version "
                               f"{version!r} is not an int.")
    if version > FORMAT_VERSION:
        raise ModelFormatError(
            f"the kdc model in '{folder}' has format version {version}, written by kdc "
            f"{manifest.get('versions', {}).get('kdc')}; this kdc reads versions up to "
            f"{FORMAT_VERSION}. Upgrade kdc (pip install -U kdc) to load it.")
    for key, kind in (("files", dict), ("keras_files", dict), ("class", str)):
        if not isinstance(manifest.get(key), kind):
            raise ModelFormatError(f"the kdc model in '{folder}' is corrupt: {MANIFEST} has no "
                                   f"valid {key!r} entry.")
    return manifest


def _estimator_class(spec, folder):
    """The registered estimator class named ``spec`` ("module:qualname"); nothing is imported."""
    cls = _ESTIMATORS.get(spec)
    if cls is None:
        raise ModelFormatError(
            f"the kdc model in '{folder}' is of class {spec!r}, which is not a kdc estimator "
            "known here. kdc.load imports nothing named in a model folder: for a subclass of "
            "your own, import the module that defines it first.")
    return cls


def _tf_version():
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - TensorFlow is a dependency
        return None
    return tf.__version__
