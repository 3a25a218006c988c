"""An estimator's state as JSON, arrays and safe files: the codec of :mod:`kdc.saving`.

:func:`encode` turns a nested value into JSON-ready data and collects what
JSON cannot hold into a :class:`Parts` record:

- numeric and string numpy arrays go to one ``.npz`` file (read back with
  ``allow_pickle=False``);
- Keras layers and models to ``.keras`` files (read back with Keras'
  ``safe_mode``); Keras optimizers as their Keras config;
- scikit-learn objects to ``.skops`` files when skops can store them with
  types it trusts by default (read back without running code);
- anything else (a user's own class, a function, an object skops does not
  trust) to ``objects`` that only pickle can store: :mod:`kdc.saving` writes
  them with joblib and reads them only with ``safe_mode=False``.

Tuples, numpy scalars and dicts keep their type through a tag
(``{"__kdc_tuple__": [...]}``); JSON's own values stand for themselves.
:func:`decode` reverses :func:`encode` given a :class:`Sources` record that
reads the files.
"""

import dataclasses
import json

import numpy as np

_TAG = "__kdc_"
ARRAY, TUPLE, KERAS, OPTIMIZER, SKOPS, OBJECT, DICT = (
    f"{_TAG}{kind}__" for kind in ("array", "tuple", "keras", "optimizer", "skops", "object",
                                    "dict"))


@dataclasses.dataclass
class Parts:
    """What :func:`encode` collected besides JSON: file name -> content, key -> object."""

    arrays: dict = dataclasses.field(default_factory=dict)
    keras: dict = dataclasses.field(default_factory=dict)
    skops: dict = dataclasses.field(default_factory=dict)
    objects: dict = dataclasses.field(default_factory=dict)
    # object key -> {"path": where it sits in the state, "type": "module.Class"}
    object_info: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Sources:
    """How :func:`decode` reads the parts back: callables from a name to the value."""

    array: object
    keras: object
    skops: object
    obj: object
    optimizer: object


def encode(value, path, parts):
    """``value`` as JSON-ready data; arrays, Keras, skops and other objects go to ``parts``.

    Args:
        value: the value to encode (nested dicts, lists and tuples are walked).
        path: str, where the value sits ("fitted.labels_"): names its files.
        parts: the :class:`Parts` to add to.
    """
    import keras

    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufcUS":
        key = _unique(path, parts.arrays)
        parts.arrays[key] = value
        return {ARRAY: key}
    if isinstance(value, tuple):
        return {TUPLE: [encode(v, f"{path}.{i}", parts) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, f"{path}.{i}", parts) for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        items = {k: encode(v, f"{path}.{k}", parts) for k, v in value.items()}
        return {DICT: items} if any(k.startswith(_TAG) for k in value) else items
    if isinstance(value, keras.layers.Layer):
        file = _unique(path, parts.keras) + ".keras"
        parts.keras[file] = value
        return {KERAS: file}
    if isinstance(value, keras.optimizers.Optimizer):
        config = keras.optimizers.serialize(value)
        if _is_json(config):
            return {OPTIMIZER: config}
    if type(value).__module__.split(".")[0] == "sklearn":
        data = _skops_bytes(value)
        if data is not None:
            file = _unique(path, parts.skops) + ".skops"
            parts.skops[file] = data
            return {SKOPS: file}
    key = _unique(path, parts.objects)
    parts.objects[key] = value
    parts.object_info[key] = {"path": path,
                              "type": f"{type(value).__module__}.{type(value).__qualname__}"}
    return {OBJECT: key}


def decode(data, sources):
    """The value :func:`encode` turned into ``data``, its parts read through ``sources``."""
    if isinstance(data, list):
        return [decode(v, sources) for v in data]
    if not isinstance(data, dict):
        return data
    if len(data) == 1:
        (tag, inner), = data.items()
        readers = {ARRAY: sources.array, KERAS: sources.keras, SKOPS: sources.skops,
                   OBJECT: sources.obj, OPTIMIZER: sources.optimizer}
        if tag in readers:
            return readers[tag](inner)
        if tag == TUPLE:
            return tuple(decode(v, sources) for v in inner)
        if tag == DICT:
            data = inner
    return {k: decode(v, sources) for k, v in data.items()}


def dumps(data):
    """JSON text of encoded data (NaN and infinities as JSON's common extension)."""
    return json.dumps(data, indent=1, allow_nan=True) + "\n"


def _unique(path, taken):
    """A file-safe key for ``path`` not in ``taken``: "fitted.autoencoder_" -> "autoencoder"."""
    stem = ".".join(part.rstrip("_") or part for part in path.removeprefix("fitted.").split("."))
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in stem)
    key, i = name, 1
    while key in taken or f"{key}.keras" in taken or f"{key}.skops" in taken:
        i += 1
        key = f"{name}.{i}"
    return key


def _is_json(value):
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _skops_bytes(obj):
    """skops' serialisation of ``obj`` when it holds only types skops trusts by default."""
    import skops.io

    try:
        data = skops.io.dumps(obj)
    except Exception:  # noqa: BLE001 - objects skops cannot store are pickled instead
        return None
    return data if not skops.io.get_untrusted_types(data=data) else None
