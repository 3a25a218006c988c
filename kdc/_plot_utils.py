"""Helpers shared by the kdc.plot modules (matplotlib is imported lazily)."""

import numpy as np

from kdc._validation import _describe
from kdc.metrics import _encode


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is a dependency
        raise ImportError("kdc.plot needs matplotlib: pip install matplotlib") from exc
    return plt


def _palette(n):
    """n distinct RGBA colours: tab10, tab20, or samples of turbo beyond 20."""
    plt = _pyplot()
    if n <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(n)]
    if n <= 20:
        return [plt.get_cmap("tab20")(i) for i in range(n)]
    return [plt.get_cmap("turbo")(v) for v in np.linspace(0.05, 0.95, n)]


def _axes(ax, n_panels, figsize, name="ax"):
    """A list of ``n_panels`` axes: new ones side by side when ``ax`` is None."""
    plt = _pyplot()
    if ax is None:
        _, axes = plt.subplots(1, n_panels, figsize=figsize, layout="constrained", squeeze=False)
        return list(axes.ravel())
    axes = list(np.ravel(np.asarray(ax, dtype=object)))
    if len(axes) != n_panels or not all(hasattr(a, "plot") for a in axes):
        what = "a matplotlib Axes" if n_panels == 1 else f"a sequence of {n_panels} Axes"
        raise ValueError(f"{name} must be None or {what} (one per panel). "
                         f"Received: {name}={_describe(ax)}")
    return axes


def _ret(axes):
    return axes[0] if len(axes) == 1 else np.asarray(axes, dtype=object)


def _codes(values, name, n):
    """(sorted unique labels, int codes) of a label vector of length n."""
    uniques, codes = _encode(values, name, "label")
    if len(codes) != n:
        raise ValueError(f"{name} must have one label per row of z ({n} rows). "
                         f"Received: {name} of length {len(codes)}")
    return uniques, codes
