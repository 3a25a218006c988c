"""Pictures of a clustering: embedding scatter, contingency heatmap, decoded
centroids, training history and k-selection curves.

matplotlib (and umap-learn for UMAP views) is imported inside each function, so
``import kdc`` stays light. Every function takes ``ax=None`` (a new figure is
made) and returns the axes it drew on (an array of axes for several panels).

Example:
    >>> est = kdc.DEC(n_clusters=10, random_state=0).fit(x)
    >>> kdc.plot.embedding(est.transform(x), est.labels_, y)
    >>> kdc.plot.contingency(y, est.labels_).figure.savefig("contingency.png")
"""

import numpy as np

from kdc._plot_utils import _axes, _codes, _palette, _pyplot, _ret
from kdc._validation import _describe, check_array, check_choice, check_int
from kdc.metrics import _prepare

__all__ = ["embedding", "contingency", "centroids", "history", "select_k"]

# method="auto" uses UMAP up to this many points (after subsampling), PCA above.
UMAP_AUTO_MAX_POINTS = 20_000
_NOISE_GREY = (0.75, 0.75, 0.75, 1.0)


# ---------------------------------------------------------------- embedding
def _project_2d(z, method, random_state):
    """(points of shape (n, 2), axis labels, view name) for the scatter."""
    if z.shape[1] == 2:
        return z, ("dimension 1", "dimension 2"), "embedding"
    if z.shape[1] == 1:
        jitter = np.random.default_rng(random_state).uniform(-1, 1, len(z))
        return np.column_stack([z[:, 0], jitter]), ("dimension 1", "jitter"), "embedding"
    if method == "auto":
        import importlib.util

        has_umap = importlib.util.find_spec("umap") is not None  # without the slow import
        method = "umap" if has_umap and len(z) <= UMAP_AUTO_MAX_POINTS else "pca"
    if method == "umap":
        from kdc._manifold import fit_transform, make_umap

        reducer = make_umap(z, n_components=2, n_neighbors=15, min_dist=0.1, metric="euclidean",
                            random_state=random_state, verbose=False)
        return fit_transform(reducer, z), ("UMAP 1", "UMAP 2"), "UMAP"
    from sklearn.decomposition import PCA

    pca = PCA(2, random_state=random_state).fit(z)
    var = pca.explained_variance_ratio_
    return pca.transform(z), (f"PC 1 ({var[0]:.0%} var.)", f"PC 2 ({var[1]:.0%} var.)"), "PCA"


def embedding(z, labels=None, y_true=None, *, method="auto", random_state=0, ax=None,
              max_points=20000):
    """Scatter a 2-D view of an embedding, coloured by cluster (and by true label).

    With ``y_true`` a second panel shows the true labels, and each cluster takes
    the colour of the class it is matched to (Hungarian matching, as for ACC),
    so the two panels can be compared at a glance. A cluster label of -1
    (noise, as from HDBSCAN) is drawn in grey.

    Args:
        z: array-like of shape (n_samples, n_dims), e.g. ``est.transform(x)``.
            Two columns are plotted as they are; more are reduced to 2-D.
        labels: optional array-like of shape (n_samples,), cluster labels.
        y_true: optional array-like of shape (n_samples,), true labels.
        method: "auto" (UMAP when umap-learn is installed and there are at most
            20,000 points, else PCA), "umap" or "pca".
        random_state: int or None, seeds the subsampling and the reduction.
        ax: None, a matplotlib Axes, or two Axes when both ``labels`` and
            ``y_true`` are given.
        max_points: int >= 2; a random subset of this many rows is drawn above it.

    Returns:
        The Axes, or an array of two Axes when both labels are given.

    Raises:
        ValueError: if ``labels`` or ``y_true`` is not one label per row of ``z``,
            or for an invalid argument.
    """
    _pyplot()  # a clear ImportError before any work
    check_choice(method, "method", ("auto", "umap", "pca"))
    z = check_array(z, "z", min_samples=2)
    z = z.reshape(len(z), -1)
    n = len(z)
    max_points = check_int(max_points, "max_points", minimum=2)
    panels = [(name, _codes(v, name, n)) for name, v in (("labels", labels), ("y_true", y_true))
              if v is not None]
    axes = _axes(ax, max(len(panels), 1), (5.6 * max(len(panels), 1), 4.8))
    rng = np.random.default_rng(random_state)
    idx = rng.permutation(n)[:max_points]  # random draw order: no group hides another
    points, axis_labels, view = _project_2d(z[idx], method, random_state)

    colour_of = {}  # panel name -> colour index per label code
    if len(panels) == 2:
        (_, (clusters, kc)), (_, (classes, _)) = panels
        table = _prepare(y_true, labels, "labels")[0].table
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(table, maximize=True)
        cmap = dict(zip(cols.tolist(), rows.tolist()))
        extra = iter(range(len(classes), len(classes) + len(clusters)))
        colour_of["labels"] = [cmap[c] if c in cmap else next(extra) for c in range(len(clusters))]
        colour_of["y_true"] = list(range(len(classes)))
    n_colours = max([max(v) + 1 for v in colour_of.values()]
                    + [len(u) for _, (u, _) in panels] + [1])
    palette = _palette(n_colours)
    size = float(np.clip(3e4 / len(idx), 2, 30))
    subset = f"\n{len(idx):,} of {n:,} points" if len(idx) < n else ""
    for a, (name, (uniques, codes)) in zip(axes, panels or [(None, (None, None))]):
        a.set_xlabel(axis_labels[0])
        a.set_ylabel(axis_labels[1])
        if name is None:
            a.scatter(*points.T, s=size, color=palette[0], alpha=0.7, linewidths=0)
            a.set_title(f"{view}{subset}")
            continue
        lut = colour_of.get(name, list(range(len(uniques))))
        noise = [i for i, u in enumerate(uniques.tolist())
                 if name == "labels" and isinstance(u, (int, np.integer)) and u == -1]
        colours = [_NOISE_GREY if i in noise else palette[lut[i]] for i in range(len(uniques))]
        c = codes[idx]
        a.scatter(*points.T, s=size, c=np.asarray(colours)[c], alpha=0.7, linewidths=0,
                  rasterized=len(idx) > 5000)
        title = "clusters" if name == "labels" else "true labels"
        a.set_title(f"{title} ({view}){subset}")
        _annotate_groups(a, points, c, uniques, colours, noise)
    return _ret(axes)


def _annotate_groups(ax, points, codes, uniques, colours, noise):
    """Label each group at its median point; a legend beside the axes up to 20 groups."""
    from matplotlib import patheffects
    from matplotlib.lines import Line2D

    if len(uniques) <= 50:
        for i, u in enumerate(uniques.tolist()):
            if i in noise or not np.any(codes == i):
                continue
            mx, my = np.median(points[codes == i], axis=0)
            ax.text(mx, my, str(u), ha="center", va="center", fontsize=9, weight="bold",
                    path_effects=[patheffects.withStroke(linewidth=2.5, foreground="white")])
    if len(uniques) <= 20:
        handles = [Line2D([], [], ls="", marker="o", color=colours[i],
                          label="noise" if i in noise else str(u))
                   for i, u in enumerate(uniques.tolist())]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8,
                  frameon=False, handletextpad=0.2, borderaxespad=0.3)


# -------------------------------------------------------------- contingency
def contingency(y_true, labels, *, ax=None, normalize=False):
    """Heatmap of true labels x clusters, clusters ordered by their matched class.

    Columns are reordered by the Hungarian matching used for ACC (the cluster
    matched to the first class first, ...; unmatched clusters last), so a good
    clustering shows a bright diagonal. Non-zero cells are annotated.

    Args:
        y_true: array-like of shape (n_samples,), true labels.
        labels: array-like of shape (n_samples,), cluster labels.
        ax: optional matplotlib Axes.
        normalize: False (counts), True or "true" (each row sums to 1: how a
            class spreads over clusters), "pred" (each column sums to 1) or "all".

    Returns:
        The Axes.

    Raises:
        ValueError: for invalid labels, different lengths or a bad ``normalize``.
    """
    plt = _pyplot()
    if normalize not in (False, True, None, "true", "pred", "all"):
        raise ValueError("normalize must be False, True, 'true', 'pred' or 'all'. "
                         f"Received: normalize={_describe(normalize)}")
    normalize = "true" if normalize is True else (normalize or None)
    from scipy.optimize import linear_sum_assignment

    table, classes, clusters = _prepare(y_true, labels, "labels")[0]
    rows, cols = linear_sum_assignment(table, maximize=True)
    acc = table[rows, cols].sum() / table.sum()
    rest = sorted(set(range(len(clusters))) - set(cols.tolist()),
                  key=lambda j: (table[:, j].argmax(), -table[:, j].sum()))
    order = cols[np.argsort(rows)].tolist() + rest
    table = table[:, order]
    values = table.astype("float64")
    if normalize:
        axis = {"true": 1, "pred": 0, "all": None}[normalize]
        values = values / np.maximum(values.sum(axis=axis, keepdims=axis is not None), 1)
    n_cls, n_clu = table.shape
    if ax is None:
        _, ax = plt.subplots(figsize=(min(max(4.5, 0.55 * n_clu + 2.2), 20),
                                      min(max(3.8, 0.45 * n_cls + 1.6), 16)),
                             layout="constrained")
    image = ax.imshow(values, cmap="Blues", aspect="auto", vmin=0)
    cbar = ax.figure.colorbar(image, ax=ax, fraction=0.05, pad=0.02)
    cbar.set_label({None: "samples", "true": "share of the class", "pred": "share of the cluster",
                    "all": "share of all samples"}[normalize])
    if n_cls * n_clu <= 900:
        size = 9 if n_clu <= 12 else (7 if n_clu <= 20 else 5)
        top = values.max()
        for i in range(n_cls):
            for j in range(n_clu):
                if table[i, j]:
                    text = f"{values[i, j]:.2f}" if normalize else str(table[i, j])
                    ax.text(j, i, text, ha="center", va="center", fontsize=size,
                            color="white" if values[i, j] > 0.55 * top else "black")
    ax.set_xticks(range(n_clu), [str(c) for c in clusters[order]],
                  rotation=90 if n_clu > 20 else 0)
    ax.set_yticks(range(n_cls), [str(c) for c in classes])
    ax.set_xlabel("cluster (ordered by matched class)")
    ax.set_ylabel("true label")
    ax.set_title(f"contingency table (ACC {acc:.3f})")
    return ax


# In their own modules to keep each under 400 lines; documented and exported here.
from kdc._plot_centroids import centroids  # noqa: E402
from kdc._plot_curves import history, select_k  # noqa: E402
