"""The PNG figures of a command-line run folder (``plots/``), drawn with :mod:`kdc.plot`.

Figures are rendered to PNG bytes in memory before the run folder is written,
so drawing cannot leave a half-written folder, and a figure that fails is
reported as a warning instead of losing the fitted model. matplotlib is
imported here, lazily, with the non-interactive Agg backend (unless pyplot
was already imported by the caller).
"""

import io
import math
import sys

import numpy as np

PLOTS = "plots"
# The embedding scatter draws at most this many points (a random subset above),
# which keeps all figures of a 70,000-row run to a few seconds.
EMBEDDING_MAX_POINTS = 10_000
# Flat rows are drawn as square images (decoded centroids) from this size on
# (8 x 8, the digits); smaller squares (pendigits' 16 coordinates) are not images.
MIN_SQUARE_IMAGE = 64
DPI = 100

NOTES = {
    "embedding.png": "2-D PCA view of the space the clusters were found in (the embedding; "
                     "for N2D its UMAP coordinates), coloured by cluster (and by true label)",
    "contingency.png": "true labels x clusters",
    "centroids.png": "cluster centres decoded into images (line plots for sequences)",
    "history.png": "training losses",
    "select_k.png": "the k-selection curves and the chosen k",
}


def pyplot():
    """matplotlib.pyplot, selecting the Agg backend first if pyplot is not loaded yet."""
    if "matplotlib.pyplot" not in sys.modules:
        import matplotlib

        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(axes):
    """The figure of ``axes`` (one Axes or an array of them) as PNG bytes; closes it."""
    plt = pyplot()
    fig = np.ravel(np.asarray(axes, dtype=object))[0].figure
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=DPI)
    finally:
        plt.close(fig)
    return buffer.getvalue()


def is_image_data(input_shape):
    """Whether samples of ``input_shape`` are worth drawing as decoded centroids: images,
    or sequences (``kdc.training.plan.is_sequence``), drawn as line plots."""
    if len(input_shape) in (2, 3):
        return len(input_shape) == 2 or input_shape[2] in (1, 3, 4)
    n = int(np.prod(input_shape))
    return n >= MIN_SQUARE_IMAGE and math.isqrt(n) ** 2 == n


def fit_figures(est, x, y, labels):
    """The figures of a fitted estimator.

    Args:
        est: the fitted kdc estimator.
        x: the training data; y: its true labels or None; labels: est.labels_.

    Returns:
        (dict ``{file name: PNG bytes}``, list of warning strings, one per
        figure that could not be drawn).
    """
    import kdc.plot as kplot

    pyplot()
    z = est.transform(x)
    view = getattr(est, "manifold_embedding_", None)  # N2D clusters in its UMAP space
    view = z if view is None or len(view) != len(z) else np.asarray(view)
    jobs = [("embedding.png", lambda: kplot.embedding(
        view, labels, y, method="pca", random_state=0, max_points=EMBEDDING_MAX_POINTS))]
    if y is not None:
        jobs.append(("contingency.png", lambda: kplot.contingency(y, labels)))
    if is_image_data(tuple(est.input_shape_)):
        jobs.append(("centroids.png", lambda: kplot.centroids(est, z=z)))
    jobs.append(("history.png", lambda: kplot.history(est)))
    if getattr(est, "k_selection_", None) is not None:
        jobs.append(("select_k.png", lambda: kplot.select_k(est.k_selection_)))
    return draw(jobs)


def draw(jobs):
    """Run ``[(name, draw_function)]``: ({name: PNG bytes}, warnings); a failure skips one figure."""
    figures, warnings = {}, []
    for name, make in jobs:
        try:
            figures[name] = png_bytes(make())
        except Exception as exc:  # noqa: BLE001 - a figure must not cost the run
            pyplot().close("all")
            text = " ".join(str(exc).split())
            warnings.append(f"{name} was not drawn: {type(exc).__name__}: {text}")
    return figures, warnings


def writer(figures):
    """A ``write_run`` artifact writer: the folder ``path`` with the PNG files of ``figures``."""
    from kdc._fileio import atomic_write

    def write(path):
        path.mkdir(parents=True, exist_ok=True)
        for name, data in figures.items():
            atomic_write(path / name, data)

    return write
