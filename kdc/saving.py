"""Saving and loading fitted estimators: ``est.save(path)`` and ``kdc.load(path)``.

A saved estimator is a folder:

- ``kdc_model.json``: the manifest: format name and version, the estimator
  class, its parameters (readable JSON), kdc/Keras/TensorFlow versions, the
  sha256 of every other file, and the objects that only pickle can store;
- ``state.json``: the constructor's parameters and the fitted state (scaling,
  centres, labels, history, N2D's placement of new rows...) as JSON, with
  the arrays in ``arrays.npz``, Keras models in ``.keras`` files and the
  scikit-learn parts (k-means, the Gaussian mixture) in ``.skops`` files
  (see :mod:`kdc._state_codec`);
- ``objects.joblib``, only when the estimator holds objects none of those
  can store (a user's own clusterer, manifold learner or activation, or the
  fitted ``umap.UMAP`` object, which N2D does not need to predict).

Loading is safe by default: ``kdc.load(path)`` reads JSON, arrays without
pickle (``allow_pickle=False``), Keras files with Keras' ``safe_mode`` and
skops files with skops' default trusted types, and instantiates only kdc's
estimator classes registered with :func:`register_estimator` (every
subclass of :class:`kdc.BaseDeepClusterer` registers itself); it never
imports a module named in the folder. A folder whose estimator needs an
object from ``objects.joblib`` is refused unless you pass
``safe_mode=False``, which unpickles it: do that only for folders from a
source you trust. Objects the estimator predicts without (see
``optional_fitted_state``) are left out by a safe load.

The sha256 checksums in the manifest detect corruption (a truncated copy, a
changed file); they do not protect against tampering, since whoever can
change a file can change the manifest too. Safety comes from what loading
reads, not from the checksums.

The folder is written under a temporary name beside ``path`` and swapped
into place only when complete (see :mod:`kdc._fileio`), so a save that fails
(disk full, Ctrl-C) leaves an earlier save at ``path`` untouched.

Folders of formats 1 and 2 (kdc 0.x before safe loading) keep their state in
one pickle file: they load with ``safe_mode=False``; saving them again
writes the safe format.
"""

import json
import os
import pickle
import warnings
from datetime import datetime, timezone
from pathlib import Path

import joblib
import keras
import numpy as np
from sklearn.utils.validation import check_is_fitted

from kdc import _state_codec as codec
from kdc._fileio import atomic_write, check_target, recover_lone_copy, staging_dir, swap_in
from kdc._json import json_safe
from kdc._pretrained import sha256 as _sha256
from kdc._version import __version__

FORMAT = "kdc.estimator"
# 3: state.json + arrays.npz + .keras/.skops files (+ objects.joblib, read only with
# safe_mode=False). 2 and 1 (read with safe_mode=False): state.joblib, a pickle holding
# {"params": ..., "fitted": ...} (2) or one flat dict (1).
FORMAT_VERSION = 3
MANIFEST = "kdc_model.json"
STATE = "state.json"
ARRAYS = "arrays.npz"
OBJECTS = "objects.joblib"
_PICKLED_STATE = "state.joblib"  # formats 1 and 2
_OPTIMIZER_KEY = "__keras_optimizer__"  # format 2
_SKIPPED = object()

__all__ = ["FORMAT_VERSION", "ModelFormatError", "UnsafeModelError", "load",
           "register_estimator", "save"]

# "module:qualname" -> class, filled by register_estimator.
_ESTIMATORS = {}


class ModelFormatError(ValueError):
    """A folder that is not a loadable kdc model (not kdc's, newer format, corrupt)."""


class UnsafeModelError(ModelFormatError):
    """Loading the folder would unpickle objects, which ``safe_mode=True`` refuses."""


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
    """Write the state of ``est`` into ``folder`` (see the module's docstring); return the manifest."""
    params = est.get_params(deep=False)
    dropped = []
    parts = codec.Parts()
    state = {"params": {name: codec.encode(_param_value(name, value, dropped),
                                           f"params.{name}", parts)
                        for name, value in params.items()},
             "fitted": {name: codec.encode(value, f"fitted.{name}", parts)
                        for name, value in est.get_fitted_state().items()}}
    (folder / STATE).write_text(codec.dumps(state), encoding="utf-8")
    if parts.arrays:
        with open(folder / ARRAYS, "wb") as f:
            np.savez(f, **parts.arrays)
    for file, layer in parts.keras.items():
        layer.save(folder / file)
    for file, data in parts.skops.items():
        (folder / file).write_bytes(data)
    optional = set(est.optional_fitted_state())
    objects = {key: {**info, "optional": info["path"].removeprefix("fitted.") in optional}
               for key, info in parts.object_info.items()}
    if parts.objects:
        try:
            joblib.dump(parts.objects, folder / OBJECTS)
        except Exception as exc:
            culprit = _unpicklable(parts.objects, parts.object_info)
            raise type(exc)(
                f"could not save the {type(est).__name__}: {culprit or 'its state'} cannot be "
                f"pickled ({exc}). Any earlier save at the target path is unchanged.") from exc
    files = sorted(f.name for f in folder.iterdir())
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": _class_key(type(est)),
        "params": json_safe(dict(params)),
        "not_saved": dropped,
        "objects": objects,
        "safe": all(info["optional"] for info in objects.values()),
        "files": {f: _sha256(folder / f) for f in files},
        "versions": {"kdc": __version__, "keras": keras.__version__,
                     "tensorflow": _tf_version()},
        "saved": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _param_value(name, value, dropped):
    """A constructor argument as saved: what is bound to this process is left out."""
    if name == "distribute":  # bound to this machine's devices: never saved
        if value is not None:
            dropped.append("distribute")
        return None
    if name == "callbacks" and value:
        warnings.warn("callbacks are not saved (Keras callbacks hold open files and model "
                      "references); the loaded estimator has callbacks=None. Set them again "
                      "with set_params(callbacks=[...]) before fitting it further.",
                      UserWarning, stacklevel=5)
        dropped.append("callbacks")
        return None
    return value


def _unpicklable(objects, info):
    for key, value in objects.items():
        try:
            pickle.dumps(value)
        except Exception as exc:  # noqa: BLE001 - we report which attribute fails
            return f"{info[key]['path']} ({type(value).__name__}: {type(exc).__name__})"
    return None


# ---------------------------------------------------------------------- load

def load(path, *, safe_mode=True):
    """Load an estimator saved with ``est.save(path)``.

    The loaded estimator predicts exactly what the saved one predicted. To
    train it further, set ``warm_start=True`` and call ``fit`` (see
    :class:`kdc.BaseDeepClusterer`).

    Args:
        path: str or path-like, a folder written by ``est.save``.
        safe_mode: bool. True (the default) runs no code from the folder:
            a model whose estimator holds objects that only pickle can store
            (a custom clusterer, manifold learner or activation), or a folder
            of the older pickle formats, is refused with
            :class:`UnsafeModelError`. False also unpickles those and loads
            Keras files without Keras' safe mode: only for folders from a
            source you trust.

    Returns:
        The fitted estimator.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafeModelError: loading needs ``safe_mode=False``; the message says why.
        ModelFormatError: ``path`` is not a kdc model, comes from a newer
            format version, or is corrupt (a file missing or altered).
    """
    if not isinstance(safe_mode, bool):
        raise ValueError(f"safe_mode must be True or False. Received: safe_mode={safe_mode!r}")
    folder = Path(os.fspath(path)).expanduser()
    if not folder.exists() and recover_lone_copy(folder) is None:
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
    reader = _read_state if manifest["format_version"] >= 3 else _read_pickled_state
    try:
        params, fitted = reader(folder, manifest, set(est.get_params(deep=False)), safe_mode)
    except ModelFormatError:
        raise
    except Exception as exc:
        raise ModelFormatError(f"the kdc model in '{folder}' could not be read: "
                               f"{type(exc).__name__}: {exc}") from exc
    for name in manifest.get("not_saved", []):
        params[name] = None
    est.__dict__.update(params)  # as saved, without __init__'s checks (as scikit-learn's clone)
    est.set_fitted_state(fitted)
    return est


def _read_state(folder, manifest, param_names, safe_mode):
    """(params, fitted) of a format-3 folder."""
    objects = manifest.get("objects", {})
    needed = {key: info for key, info in objects.items() if not info.get("optional")}
    if safe_mode and needed:
        held = ", ".join(f"{info['path'].split('.', 1)[1]} ({info['type']})"
                         for info in needed.values())
        raise UnsafeModelError(
            f"the kdc model in '{folder}' holds objects that only pickle can store: {held}. "
            "Loading them runs code from the folder, so kdc.load refuses them by default. If "
            "you trust the folder's source, load it with kdc.load(path, safe_mode=False) (on "
            "the command line: --no-safe-mode).")
    pickled = joblib.load(folder / OBJECTS) if objects and not safe_mode else {}
    arrays = np.load(folder / ARRAYS, allow_pickle=False) if (folder / ARRAYS).is_file() else {}

    def skops_file(file):
        import skops.io

        trusted = None if safe_mode else skops.io.get_untrusted_types(file=folder / file)
        return skops.io.load(folder / file, trusted=trusted)

    sources = codec.Sources(
        array=lambda key: np.asarray(arrays[key]),
        keras=lambda file: keras.saving.load_model(folder / file, compile=False,
                                                   safe_mode=safe_mode),
        skops=skops_file,
        obj=lambda key: pickled.get(key, _SKIPPED),
        optimizer=keras.optimizers.deserialize)
    state = codec.decode(json.loads((folder / STATE).read_text(encoding="utf-8")), sources)
    fitted = {k: v for k, v in state["fitted"].items() if v is not _SKIPPED}
    return state["params"], fitted


def _read_pickled_state(folder, manifest, param_names, safe_mode):
    """(params, fitted) of a folder of format 1 or 2 (pickled state)."""
    if safe_mode:
        raise UnsafeModelError(
            f"the kdc model in '{folder}' was saved by kdc "
            f"{manifest.get('versions', {}).get('kdc')} in format "
            f"{manifest['format_version']}, which keeps its state in a pickle file; loading it "
            "runs code from the folder, so kdc.load refuses it by default. If you trust the "
            "folder's source, load it with kdc.load(path, safe_mode=False) (on the command "
            "line: --no-safe-mode) and save it again: est.save(path, overwrite=True) writes "
            "the safe format.")
    state = joblib.load(folder / _PICKLED_STATE)
    if manifest["format_version"] == 1:  # one flat dict of parameters and fitted state
        state = {"params": {k: v for k, v in state.items() if k in param_names},
                 "fitted": {k: v for k, v in state.items() if k not in param_names}}
    params, fitted = dict(state["params"]), dict(state["fitted"])
    for name, file in manifest["keras_files"].items():
        value = keras.saving.load_model(folder / file, compile=False, safe_mode=False)
        (params if name in param_names else fitted)[name] = value
    for name, value in params.items():
        if isinstance(value, dict) and _OPTIMIZER_KEY in value:
            params[name] = keras.optimizers.deserialize(value[_OPTIMIZER_KEY])
    return params, fitted


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
    required = (("files", dict), ("class", str)) + ((("keras_files", dict),) if version < 3
                                                   else (("objects", dict),))
    for key, kind in required:
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
            "your own, import the module that defines it first. (kdc's own estimators are "
            "known once kdc.cluster is imported, which kdc.load does.)")
    return cls


def _tf_version():
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - TensorFlow is a dependency
        return None
    return tf.__version__
