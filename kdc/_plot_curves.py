"""kdc.plot.history and kdc.plot.select_k: training and k-selection curves (see kdc.plot)."""

from collections.abc import Mapping

import numpy as np

from kdc._plot_utils import _axes, _pyplot, _ret
from kdc._validation import _describe


def _split_history(history):
    """(pretraining dict, clustering dict or None) from any accepted history."""
    h = history
    if hasattr(h, "get_params"):  # an estimator
        h = getattr(h, "history_", None)
        if h is None:
            raise ValueError("history must be a fitted kdc estimator (with history_) or a history "
                             f"dict. Received: an unfitted {type(history).__name__}")
    elif not isinstance(h, Mapping) and isinstance(getattr(h, "history", None), Mapping):
        h = h.history  # keras.callbacks.History
    if not isinstance(h, Mapping):
        raise ValueError("history must be a fitted kdc estimator, its history_ dict, or a Keras "
                         f"history dict like {{'loss': [...]}}. Received: history={_describe(h)}")
    if "pretrain" in h or "clustering" in h:
        return dict(h.get("pretrain") or {}), h.get("clustering")
    return dict(h), None


def history(history, *, ax=None):
    """Plot training losses: pretraining per epoch and DEC/IDEC self-training per update.

    Panels: the pretraining losses ("loss", "val_loss"... per epoch); with
    self-training (``history_["clustering"]`` of DEC/IDEC) the loss of each
    target update (KL divergence; IDEC's total, reconstruction and clustering
    losses) with the fraction of labels changed on a second y axis; and, when
    ``y`` was given to ``fit``, ACC and NMI per update.

    Args:
        history: a fitted kdc estimator, its ``history_`` dict, a Keras history
            dict such as ``{"loss": [...]}``, or a ``keras.callbacks.History``.
        ax: None, one Axes, or a sequence with one Axes per panel.

    Returns:
        The Axes, or an array of Axes when there are several panels.

    Raises:
        ValueError: for a history of an unknown form or the wrong number of axes.
    """
    _pyplot()  # a clear ImportError before any work
    pre, clu = _split_history(history)
    clu = clu if clu and len(clu.get("step", ())) else None
    monitor = [m for m in ("acc", "nmi") if clu and m in clu]
    n_panels = 1 + (clu is not None) + bool(monitor)
    axes = _axes(ax, n_panels, (4.8 * n_panels, 3.8))

    a = axes[0]
    series = {k: np.asarray(v, dtype=float) for k, v in pre.items() if "loss" in k and len(v)}
    for name, values in series.items():
        epochs = np.arange(1, len(values) + 1)
        a.plot(epochs, values, marker="o" if len(values) <= 30 else None, ms=3, label=name)
    if series:
        finite = np.concatenate([v[np.isfinite(v)] for v in series.values()])
        if finite.size and finite.min() > 0 and finite.max() / finite.min() > 20:
            a.set_yscale("log")
        if len(series) > 1:
            a.legend(fontsize=8, frameon=False)
        a.xaxis.get_major_locator().set_params(integer=True)
    else:
        a.text(0.5, 0.5, "no pretraining\n(pretrain_epochs=0)", ha="center", va="center",
               transform=a.transAxes, color="0.4")
    a.set_xlabel("epoch")
    a.set_ylabel("reconstruction loss")
    a.set_title("autoencoder pretraining")
    a.grid(alpha=0.3)
    if clu is None:
        return _ret(axes)

    a = axes[1]
    steps = np.asarray(clu["step"], dtype=float)
    losses = [k for k in clu if k.endswith("loss")]
    names = {"loss": "total loss" if len(losses) > 1 else "KL loss"}
    lines = []
    for i, key in enumerate(losses):
        lines += a.plot(steps, np.asarray(clu[key], dtype=float), marker="o", ms=3,
                        ls="-" if key == "loss" else "--", color=f"C{i}",
                        label=names.get(key, key.replace("_", " ")))
    a.set_xlabel("self-training step")
    a.set_ylabel("loss")
    a.set_title("self-training (per target update)")
    a.grid(alpha=0.3)
    if "label_change" in clu:
        twin = a.twinx()
        lines += twin.plot(steps, 100 * np.asarray(clu["label_change"], dtype=float), marker="s",
                           ms=3, ls=":", color="C3", label="labels changed")
        twin.set_ylabel("labels changed (%)", color="C3")
        twin.tick_params(axis="y", colors="C3")
        twin.set_ylim(bottom=0)
    a.legend(handles=lines, fontsize=8, frameon=False, loc="upper right")
    if monitor:
        a = axes[2]
        for i, m in enumerate(monitor):
            a.plot(steps, np.asarray(clu[m], dtype=float), marker="o", ms=3, color=f"C{4 + i}",
                   label=m.upper())
        a.set_xlabel("self-training step")
        a.set_ylabel("score against y")
        a.set_title("ACC / NMI (monitoring only)")
        a.legend(fontsize=8, frameon=False)
        a.grid(alpha=0.3)
    return _ret(axes)


_CURVES = (("inertia", "k-means inertia", "elbow", "o"),
           ("silhouette", "silhouette", "silhouette", "s"),
           ("bic", "BIC", "bic", "^"))


def select_k(result, *, ax=None):
    """Plot the curves of a k selection with the chosen k marked.

    One curve per computed criterion (k-means inertia with the two fitted
    segments of the elbow, silhouette, BIC). A single curve is drawn in its own
    units; several are min-max normalised to [0, 1] to share the axes. Each
    criterion's choice is circled and the final ``k`` is a dashed line.

    Args:
        result: a :class:`kdc.select.KSelection` or its ``to_dict()``.
        ax: optional matplotlib Axes.

    Returns:
        The Axes.

    Raises:
        ValueError: if ``result`` is not a k selection.
    """
    plt = _pyplot()
    from kdc.select import _two_segment_elbow

    data = result.to_dict() if hasattr(result, "to_dict") else result
    if not isinstance(data, Mapping) or not {"k_values", "k", "best_k"} <= set(data):
        raise ValueError("result must be a KSelection from kdc.select.select_k or its to_dict(). "
                         f"Received: result={_describe(result)}")
    ks = np.asarray(data["k_values"], dtype=float)
    curves = [(key, label, crit, marker, np.asarray(data[key], dtype=float))
              for key, label, crit, marker in _CURVES if data.get(key) is not None]
    if ax is None:
        _, ax = plt.subplots(figsize=(7.8 if len(curves) > 1 else 6.4, 4.0), layout="constrained")
    normalise = len(curves) > 1
    for i, (key, label, crit, marker, y) in enumerate(curves):
        if normalise:
            span = y.max() - y.min()
            y = (y - y.min()) / (span if span > 0 else 1.0)
        best = data["best_k"].get(crit)
        colour = f"C{i}"
        what = {"elbow": "elbow", "silhouette": "max", "bic": "min"}[crit]
        ax.plot(ks, y, marker=marker, ms=5, color=colour,
                label=label + (f" ({what} at k={best})" if best is not None else ""))
        if best is not None:
            j = int(np.flatnonzero(ks == best)[0])
            ax.scatter([best], [y[j]], s=180, facecolors="none", edgecolors=colour,
                       linewidths=2, zorder=3)
        if crit == "elbow" and best is not None and _two_segment_elbow(ks, y) == best:
            for part in (ks <= best, ks >= best):
                slope, intercept = np.polyfit(ks[part], y[part], 1)
                ax.plot(ks[part], slope * ks[part] + intercept, ls=":", lw=1.2, color=colour)
    ax.axvline(data["k"], color="0.3", ls="--", lw=1.2, label=f"chosen k = {data['k']}")
    ax.set_xlabel("number of clusters k")
    ax.set_ylabel("min-max normalised (0 = lowest, 1 = highest)" if normalise
                  else curves[0][1] if curves else "")
    if len(ks) <= 25:
        ax.set_xticks(ks.astype(int))
    ax.set_title(f"choosing k (method={data.get('method')!r}): k = {data['k']}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax
