"""N2D: autoencoder embedding -> manifold learner (UMAP) -> Gaussian mixture.

McConville et al., "N2D: (Not Too) Deep Clustering via Clustering the Local
Manifold of an Autoencoded Embedding", ICPR 2020.
"""

import numpy as np
from sklearn.base import clone
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KNeighborsClassifier

from kdc._manifold import fit_transform, make_umap
from kdc._progress import Stage, fit_mixture
from kdc._umap_placement import UMAPPlacement, unsupported
from kdc._validation import check_choice, check_float, check_int
from kdc.cluster import _n2d_export
from kdc.cluster._base import BaseDeepClusterer, base_arguments
from kdc.training import plan
from kdc.training.scaling import scaling_statistics


# What the manifold learner can be fitted on (the ``manifold_input`` parameter).
MANIFOLD_INPUTS = ("auto", "embedding", "both", "raw", "spectrum")

# ``manifold_input="auto"`` scores each candidate input by the silhouette of its
# clusters in its own manifold space, on a random sample of at most this many of
# the rows the manifold was fitted on.
INPUT_SCORE_SAMPLE = 5_000

# On more rows than this, ``manifold_input="auto"`` fits the head of each
# candidate input on a random sample of this many rows, and then the head of the
# chosen input on every row: the comparison costs a few fits of the head on the
# sample, not on all rows.
INPUT_CHOICE_ROWS = 20_000

# ``manifold_input="auto"`` also scores the "spectrum" input of sequences when
# their mean profile along the steps explains at most this share of their
# variance (see :func:`aligned_share`). Windows cut at arbitrary offsets from a
# recording (sensor windows) have the same statistics at every step: where in
# the window a pattern falls says nothing of what it is, so a representation
# blind to it (the amplitude spectrum) loses nothing the clusters could use.
# Series aligned to a common start (a day from midnight, a gesture from its
# onset) share a profile that varies along the steps, and where a pattern
# falls may be what tells them apart: the spectrum is not offered there.
SPECTRUM_MAX_ALIGNED = 0.1

# Rows outside the manifold sample take the vote of this many nearest sampled rows.
PLACEMENT_NEIGHBORS = 10

# Above this many rows the default GMM runs its n_init restarts on a random
# sample of this many rows, then EM on every row from the best of them: a
# fraction of the time of restarts on all rows, at the same accuracy (figures
# on the benchmark page of the docs).
GMM_RESTART_SAMPLE = 20_000

# N2D's defaults of the shared training parameters. Its head clusters the
# pretrained embedding as it is (DEC and IDEC go on training the encoder), so:
# a larger "auto" budget (36 epochs on 70,000 rows, the 100-epoch cap on
# 10,000), the last 20% of the steps on the images as they are (the head
# clusters the embedding of unshifted rows), and a learning rate that falls
# linearly to 0 over the last 30% of the steps. The measurements behind them
# are on the benchmark page of the docs.
N2D_PRETRAIN_BUDGET = 2_520_000
N2D_UNSHIFTED_END = 0.2
N2D_LR_DECAY_END = 0.3


def _place(z_fit, m_fit, labels, z_rest, chunk=100_000, progress=None):
    """Manifold coordinates and labels of ``z_rest`` from its nearest rows of ``z_fit``.

    Returns:
        (coordinates, labels): the inverse-distance-weighted mean of the
        neighbours' manifold coordinates, and their inverse-distance-weighted
        label vote (ties go to the smaller label).
    """
    from sklearn.neighbors import NearestNeighbors

    k = min(PLACEMENT_NEIGHBORS, z_fit.shape[0])
    index = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(z_fit)
    classes, codes = np.unique(labels, return_inverse=True)
    coords = np.empty((z_rest.shape[0], m_fit.shape[1]), dtype="float32")
    out = np.empty(z_rest.shape[0], dtype="int64")
    for start in range(0, z_rest.shape[0], chunk):
        dist, ind = index.kneighbors(z_rest[start:start + chunk])
        w = 1.0 / np.maximum(dist, 1e-12)
        w /= w.sum(axis=1, keepdims=True)
        coords[start:start + len(ind)] = np.einsum("nk,nkd->nd", w, m_fit[ind])
        votes = np.zeros((len(ind), len(classes)))
        np.add.at(votes, (np.arange(len(ind))[:, None], codes[ind]), w)
        out[start:start + len(ind)] = classes[votes.argmax(axis=1)]
        if progress is not None:
            progress.advance(steps=len(ind))
    return coords, out


def layout_score(m, labels, random_state=None):
    """How cleanly ``labels`` separate in the manifold coordinates ``m``: their silhouette.

    The score ``manifold_input="auto"`` keeps the better input by. Rows
    labelled -1 (noise) are left out; on more than ``INPUT_SCORE_SAMPLE``
    rows it is computed on a random sample of that many (``random_state``).

    Returns:
        float in [-1, 1]; -1 when fewer than two clusters (or a cluster per
        row) remain.
    """
    from sklearn.utils import check_random_state

    keep = np.flatnonzero(np.asarray(labels) >= 0)
    if keep.size > INPUT_SCORE_SAMPLE:
        keep = np.sort(check_random_state(random_state).choice(keep, INPUT_SCORE_SAMPLE,
                                                               replace=False))
    labels = np.asarray(labels)[keep]
    if not 2 <= len(np.unique(labels)) < labels.size:
        return -1.0
    return float(silhouette_score(np.asarray(m)[keep], labels))


def _flat_rows(xm):
    """The scaled rows of model input ``xm`` as a float32 (n_samples, n_features) array."""
    return xm.map_chunks(lambda chunk: np.asarray(chunk, "float32").reshape(len(chunk), -1))


def spectrum(rows, input_shape):
    """The amplitude spectrum of sequences: the input "spectrum" of N2D's manifold.

    Args:
        rows: array of shape (n_samples, steps * channels), sequences of shape
            ``input_shape`` flattened.
        input_shape: (steps, channels) or (channels, steps): the longer axis
            is the steps.

    Returns:
        float32 array of shape (n_samples, (steps // 2 + 1) * channels): for
        each channel, the magnitudes of its discrete Fourier transform over the
        steps (``numpy.fft.rfft``), frequency by frequency; the same for both
        layouts of the same sequences. A circular shift of a sequence along its
        steps leaves it unchanged.
    """
    x = plan.steps_first(rows, input_shape, "float32")
    return np.abs(np.fft.rfft(x, axis=1)).astype("float32").reshape(x.shape[0], -1)


def aligned_share(rows, input_shape):
    """The share of the variance of sequences explained by their mean profile along the steps.

    ``rows`` and ``input_shape`` are as for :func:`spectrum`.

    Returns:
        float in [0, 1]: the variance along the steps of the mean sequence,
        summed over channels, over the variance of all values, summed over
        channels (law of total variance: the rest is the rows' spread at each
        step). The mean of n rows varies by chance too, so its expected share
        from chance (the mean variance at a step over n) is taken off first.
        Near 0 for windows with the same statistics at every step; large when
        the rows share a profile. 0 for constant data. The per-step mean and
        variance are accumulated in float64 over chunks of rows (no copy of the
        rows).
    """
    flat = np.asarray(rows).reshape(len(rows), -1)
    n = flat.shape[0]
    if n < 2:
        return 0.0
    stats = scaling_statistics(flat, "standard", rows_are_flat=True)
    mean, m2 = (plan.steps_first(v[None], input_shape, "float64")[0]
                for v in (stats.mean, stats.m2))
    profile = mean.var(axis=0)  # per channel: the variance along the steps of the mean
    total = ((m2 / n).mean(axis=0) + profile).sum()  # law of total variance
    if total <= 0:
        return 0.0
    chance = (m2 / (n - 1)).mean(axis=0) / n  # per channel
    return float(np.maximum(profile - chance, 0.0).sum() / total)


class N2D(BaseDeepClusterer):
    """Autoencoder, then UMAP on the embedding, then a Gaussian mixture.

    The manifold learner and the clusterer are pluggable: ``manifold`` takes
    any object with ``fit_transform``/``transform`` (e.g. ``umap.UMAP``,
    ``sklearn.decomposition.PCA``), ``clusterer`` any scikit-learn clusterer
    (``GaussianMixture``, ``SpectralClustering``, ``HDBSCAN``...); both are
    cloned before fitting. New rows go encoder -> ``manifold.transform`` ->
    ``clusterer.predict``; clusterers without ``predict`` (spectral, HDBSCAN,
    agglomerative) are extended to new rows by a k-nearest-neighbour vote in
    the manifold space.

    New rows are placed in the UMAP space one at a time by ``placement_``
    (UMAP's own placement without its random repulsion, see
    :mod:`kdc._umap_placement`; for the metrics "euclidean" and "cosine"), so
    a row's label and probabilities never depend on the other rows of the
    call, and the exported SavedModel gives the same clusters. Other
    manifold learners place rows with their own ``transform``. ``predict``
    on the training rows agrees with ``labels_`` on nearly all rows but not
    necessarily every one; ``labels_`` are the labels of the fit itself.

    The default head is made robust against the two known causes of unlucky
    N2D runs: the GMM keeps the best of ``n_init`` restarts by likelihood, and
    UMAP uses ``n_neighbors=20`` and ``min_dist=0`` (tight, well separated
    clumps), with as many components as clusters.

    The arguments not listed below are those of every estimator: see
    :class:`kdc.cluster.BaseDeepClusterer`.

    Args:
        n_clusters: int >= 2, or "auto" (see ``k_range`` and ``k_selection``).
        manifold: "umap" or an object with ``fit_transform`` and ``transform``.
        n_components: dimension of the UMAP space (default: the number of clusters).
        n_neighbors: UMAP's neighbourhood size.
        min_dist: UMAP's minimum distance.
        umap_metric: UMAP's metric in the embedding space ("euclidean",
            "cosine" or any metric of umap-learn; exports reproduce UMAP's
            transform in TF for "euclidean" and "cosine"). "cosine" is not the
            default: it ignores the embedding's norms, and merged well
            separated blobs that a briefly trained autoencoder had embedded
            along one direction (its scores are on the benchmark page of the
            docs).
        clusterer: "gmm" or a scikit-learn clusterer.
        covariance_type: covariance of the default GMM ("full", "diag"...).
        n_init: restarts of the default GMM; the best likelihood is kept. On
            more than 20,000 rows (``GMM_RESTART_SAMPLE``) the restarts run on
            a random sample of 20,000 rows, and EM then runs on all rows from
            the best of them, in a fraction of the time of restarts on all rows.
        umap_epochs: "auto", None or an int: the epochs of UMAP's layout.
            None is UMAP's default (200, or 500 below 10,000 rows); "auto"
            is that default up to 20,000 rows, then 4,000,000 / n_samples but
            at least 60 (the layout is single-threaded with a random_state,
            and the clusters have separated long before 200 epochs on large
            data: see :mod:`kdc._manifold`).
        manifold_sample_size: None (fit the manifold and the clusterer on
            every row), an int >= 10 or a fraction in (0, 1]: fit them on a
            random sample of that many rows; each other row takes the
            distance-weighted vote of the labels of its ``PLACEMENT_NEIGHBORS``
            nearest sampled rows in the autoencoder embedding, and their
            distance-weighted mean manifold coordinates (where UMAP's own
            transform starts). That is faster than placing them with the
            manifold's transform, and no less accurate (see the benchmark page
            of the docs). UMAP's cost grows with the rows it is fitted on; a sample
            of 20,000-50,000 rows keeps large data sets fast.
        manifold_input: "auto", "embedding", "both", "raw" or "spectrum": what
            the manifold learner is fitted on and new rows are placed by.
            "embedding": the autoencoder embedding, as in the N2D paper.
            "both": the embedding and the scaled rows side by side, each block
            centred and divided by its root mean squared norm so that each
            adds about as much to squared distances: the manifold then sees
            the structure the autoencoder kept and that of the columns
            themselves, which an autoencoder trained on squared error may
            partly discard. "raw": the scaled rows alone (centred and divided
            by their root mean squared norm), as UMAP + GMM on the features
            would cluster them; the autoencoder still gives ``transform``.
            "spectrum" (sequences only, samples of shape (steps, channels) or
            (channels, steps), see ``kdc.training.plan.is_sequence``): the
            amplitude spectrum of each channel of the scaled rows
            (:func:`spectrum`), centred and divided by its root mean squared
            norm: blind to where in a window a pattern falls (a wave's phase,
            an event's offset), as windows cut from a recording at arbitrary
            offsets need.
            "auto" (the default): for flat rows (tabular data) and small 2-D
            samples (sequences of a few channels, images under 16 pixels a
            side; see ``kdc.training.plan.is_image``) with the default UMAP
            manifold, the head is fitted on each of the three and keeps the
            one whose clusters separate most cleanly in its own UMAP space
            (the largest silhouette, :func:`layout_score`; on a tie the first
            of embedding, both, raw), at the cost of two more fits of the
            head: where the autoencoder missed structure that the columns
            show, the head can fall back on the columns. Sequences add
            "spectrum" as a fourth candidate when they look like windows cut
            at arbitrary offsets: their mean profile along the steps explains
            at most 10% of their variance (``SPECTRUM_MAX_ALIGNED``, see
            :func:`aligned_share`); series aligned to a common start, whose
            shape along the steps may be what tells them apart, are not
            offered it. On more than
            20,000 rows (``INPUT_CHOICE_ROWS``) the inputs are compared by
            fits on a random sample of 20,000 rows, and the chosen one is
            then fitted on every row.
            For images, the embedding (raw pixel distances are poor: a shift
            of one pixel moves them far), and with another manifold learner,
            the embedding (that learner's input as given).
            The choice is ``manifold_input_``, the scores
            ``manifold_input_scores_``. With an input other than the embedding,
            ``transform`` still returns the embedding, and export needs the
            default UMAP manifold.
        pretrain_budget: as for every estimator, but 2,520,000 by default
            (``N2D_PRETRAIN_BUDGET``): 36 epochs on 70,000 rows, 144 on
            17,500 rows or fewer.
        unshifted_end: as for every estimator, but 0.2 by default
            (``N2D_UNSHIFTED_END``).
        lr_decay_end: as for every estimator, but 0.3 by default
            (``N2D_LR_DECAY_END``).
        distribute: None or a ``tf.distribute.Strategy`` to pretrain under
            (see :class:`kdc.cluster.BaseDeepClusterer`); the head runs on the host.

    Attributes:
        labels_: ndarray of shape (n_samples,).
        manifold_: the fitted manifold learner; ``manifold_embedding_`` its
            output on the training data, shape (n_samples, n_components).
            None after a safe ``kdc.load`` when ``placement_`` is set (the
            fitted UMAP object can only be stored with pickle).
        placement_: a ``kdc._umap_placement.UMAPPlacement`` that places new
            rows on the UMAP layout (None for other manifold learners and
            UMAP metrics).
        manifold_input_: "embedding", "both", "raw" or "spectrum", the input
            the manifold was fitted on (``manifold_input``, or the choice of "auto").
        manifold_input_scores_: None, or when "auto" compared the inputs a
            dict of the silhouette of each ("embedding", "both", "raw", and
            "spectrum" when it was compared).
        manifold_input_offset_, manifold_input_scale_: with "both", float32
            arrays of shape (embedding_dim + n_features,): the manifold's input
            is ``(hstack([embedding, scaled rows]) - offset) * scale``; with
            "raw", of shape (n_features,) and ``(scaled rows - offset) *
            scale``; with "spectrum", of the spectrum's width and ``(spectrum
            of the scaled rows - offset) * scale``; None with "embedding".
        clusterer_: the fitted clusterer.
        n_clusters_: int, the clusters found (labels other than -1); with the
            default GMM, the k used (chosen by ``k_selection`` when
            ``n_clusters="auto"``, see ``k_selection_``).
        embedding_: the autoencoder embedding of the training data, shape
            (n_samples, embedding_dim).
        serving_map_: None, or after an :meth:`export` with a learned map
            (``manifold_map="parametric"``, or a manifold other than UMAP) the
            Keras network that maps embeddings to manifold coordinates in the
            SavedModel.
        autoencoder_, encoder_, history_, timings_: as for every estimator.

    Example:
        >>> est = kdc.N2D(n_clusters=10, random_state=0).fit(x)
        >>> kdc.metrics.evaluate(y, est.labels_)
        >>> est.predict(x_new)
    """

    def __init__(self, n_clusters=8, *, manifold="umap", n_components=None, n_neighbors=20,
                 min_dist=0.0, umap_metric="euclidean", umap_epochs="auto", clusterer="gmm",
                 covariance_type="full", n_init=10, manifold_sample_size=None,
                 manifold_input="auto", k_range=None,
                 k_selection="elbow", autoencoder="dense", hidden_dims=(500, 500, 2000),
                 embedding_dim=10, autoencoder_params=None, pretrain_epochs="auto",
                 pretrain_budget=N2D_PRETRAIN_BUDGET, batch_size=256, learning_rate=1e-3,
                 lr_decay_end=N2D_LR_DECAY_END, optimizer="adam", callbacks=None, pretrained=None,
                 warm_start=False, scale="auto", precision="auto", augment="auto",
                 unshifted_end=N2D_UNSHIFTED_END, jit_compile="auto", steps_per_execution="auto",
                 pin_threads=False, random_state=None, verbose=1, distribute=None):
        super().__init__(n_clusters, **base_arguments(locals()))
        self.manifold = manifold
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.umap_metric = umap_metric
        self.umap_epochs = umap_epochs
        self.clusterer = clusterer
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.manifold_sample_size = manifold_sample_size
        self.manifold_input = manifold_input

    def export_head(self, verbose=0, manifold_map="auto"):
        """The N2D head in TensorFlow ops, for :func:`kdc.serving.export`.

        With a UMAP manifold (the default) UMAP's ``transform`` of new rows
        in TF ops, else (or with ``manifold_map="parametric"``) a learned
        map, kept as ``serving_map_``; then the mixture's posterior (see
        :mod:`kdc.cluster._n2d_export`).

        Returns:
            A :class:`kdc.serving.ServingHead`.
        """
        return _n2d_export.export_head(self, verbose, manifold_map)

    def get_fitted_state(self):
        """As :meth:`kdc.BaseDeepClusterer.get_fitted_state`, with ``placement_`` as its
        arrays and numbers (see :meth:`kdc._umap_placement.UMAPPlacement.get_state`)."""
        state = super().get_fitted_state()
        if state.get("placement_") is not None:
            state["placement_"] = state["placement_"].get_state()
        return state

    def set_fitted_state(self, state):
        """Restore the state saved by :meth:`get_fitted_state` (hook of :mod:`kdc.saving`)."""
        state = dict(state)
        placement = state.get("placement_")
        if isinstance(placement, dict):
            state["placement_"] = UMAPPlacement.from_state(placement)
        elif "placement_" not in state:  # saved by a kdc that used UMAP's own transform
            manifold = state.get("manifold_")
            state["placement_"] = (UMAPPlacement.from_umap(manifold)
                                   if manifold is not None and unsupported(manifold) is None
                                   else None)
        state.setdefault("manifold_", None)
        # Saved by a kdc without manifold_input: the manifold was fitted on the embedding.
        state.setdefault("manifold_input_", "embedding")
        state.setdefault("manifold_input_offset_", None)
        state.setdefault("manifold_input_scale_", None)
        state.setdefault("manifold_input_scores_", None)
        return super().set_fitted_state(state)

    def optional_fitted_state(self):
        """``("manifold_",)`` when ``placement_`` places new rows (the fitted UMAP object,
        which only pickle can store, is then not needed to predict or export)."""
        return ("manifold_",) if getattr(self, "placement_", None) is not None else ()

    def _head_description(self):
        m = "UMAP" if isinstance(self.manifold, str) else type(self.manifold).__name__
        c = "GMM" if isinstance(self.clusterer, str) else type(self.clusterer).__name__
        return f"{m} + {c}"

    def _make_manifold(self, z):
        if not isinstance(self.manifold, str):
            if not (hasattr(self.manifold, "fit_transform") and hasattr(self.manifold, "transform")):
                raise ValueError(
                    "manifold must be 'umap' or an object with fit_transform and transform "
                    f"methods. Received: manifold={self.manifold!r}")
            return clone(self.manifold)
        check_choice(self.manifold, "manifold", ("umap",))
        n_components = check_int(
            self._k if self.n_components is None else self.n_components,
            "n_components", minimum=1)
        return make_umap(
            z, n_components=n_components,
            n_neighbors=check_int(self.n_neighbors, "n_neighbors", minimum=2),
            min_dist=check_float(self.min_dist, "min_dist", minimum=0.0),
            metric=self.umap_metric, random_state=self._sklearn_seed(),
            verbose=self.verbose >= 2, n_epochs=self._umap_epochs())

    def _umap_epochs(self):
        if isinstance(self.umap_epochs, str):
            return check_choice(self.umap_epochs, "umap_epochs", ("auto",))
        return check_int(self.umap_epochs, "umap_epochs", minimum=1, allow_none=True)

    def _make_clusterer(self):
        if not isinstance(self.clusterer, str):
            if not (hasattr(self.clusterer, "fit_predict") or hasattr(self.clusterer, "fit")):
                raise ValueError(
                    "clusterer must be 'gmm' or a scikit-learn clusterer with fit/fit_predict. "
                    f"Received: clusterer={self.clusterer!r}")
            return clone(self.clusterer)
        check_choice(self.clusterer, "clusterer", ("gmm",))
        return GaussianMixture(
            self._k, covariance_type=self.covariance_type,
            n_init=check_int(self.n_init, "n_init", minimum=1),
            random_state=self._sklearn_seed(1), verbose=int(self.verbose >= 2))

    # What one fit of the head sets; with manifold_input="auto" those of the
    # better scored candidate are kept.
    _HEAD_ATTRIBUTES = ("manifold_input_", "manifold_input_offset_", "manifold_input_scale_",
                        "manifold_", "placement_", "clusterer_", "_knn", "manifold_embedding_",
                        "labels_", "n_clusters_")

    def _fit_head(self, z, x, y, *, warm=False, strategy=None):
        self.embedding_ = z
        self.serving_map_ = None  # fitted by export(), see kdc.serving
        self.manifold_input_scores_ = None
        candidates = self._manifold_input_candidates()
        # The scaled rows, read once (a stream is read once more) when an input needs them.
        rows = None if candidates == ("embedding",) else _flat_rows(x)
        if len(candidates) == 1:
            self._fit_head_on(z, rows, candidates[0])
            return
        sample = self._input_choice_sample(z.shape[0])
        on = (z, rows) if sample is None else (z[sample], rows[sample])
        if "spectrum" in candidates:
            share = aligned_share(on[1], self.input_shape_)
            if share > SPECTRUM_MAX_ALIGNED:
                candidates = tuple(c for c in candidates if c != "spectrum")
            self._log(f"sequences: their mean profile explains {share:.3f} of their variance "
                      + ("(not windows at arbitrary offsets): spectrum not compared"
                         if share > SPECTRUM_MAX_ALIGNED else "(windows): spectrum compared"))
        scores, fits = {}, {}
        for choice in candidates:
            scores[choice] = self._fit_head_on(*on, choice, score=True)
            if sample is None:  # a fit on every row, kept if its input wins
                fits[choice] = {name: getattr(self, name) for name in self._HEAD_ATTRIBUTES}
        best = max(candidates, key=scores.get)  # ties go to the first
        self._log(f"manifold input: {best} (silhouette of the clusters in the UMAP space"
                  + ("" if sample is None else f" of {sample.size} sampled rows") + ": "
                  + ", ".join(f"{c} {scores[c]:.4f}" for c in candidates) + ")")
        if sample is None:
            for name, value in fits[best].items():
                setattr(self, name, value)
        else:  # the chosen input, on every row
            self._fit_head_on(z, rows, best)
        self.manifold_input_scores_ = scores

    def _input_choice_sample(self, n):
        """Sorted indices of the rows "auto" compares the inputs on: None (every row)
        up to ``INPUT_CHOICE_ROWS`` rows, else a seeded random sample of that many."""
        if n <= INPUT_CHOICE_ROWS:
            return None
        rng = np.random.default_rng(self._sklearn_seed(7))
        return np.sort(rng.choice(n, INPUT_CHOICE_ROWS, replace=False))

    def _manifold_input_candidates(self):
        """The inputs the head is fitted on: ``(manifold_input,)``, or with "auto"
        ``("embedding", "both", "raw")`` with the default UMAP for samples that are not images
        (``kdc.training.plan.is_image``), and "spectrum" after them for sequences
        (``kdc.training.plan.is_sequence``; ``_fit_head`` drops it for aligned series),
        else ``("embedding",)``.

        Raises:
            ValueError: "spectrum" asked for samples that are not sequences.
        """
        choice = check_choice(self.manifold_input, "manifold_input", MANIFOLD_INPUTS)
        sequence = plan.is_sequence(self.input_shape_)
        if choice == "spectrum" and not sequence:
            raise ValueError(
                "manifold_input='spectrum' needs sequences: samples of shape (steps, channels) "
                f"or (channels, steps) with at least {plan.AUTO_MIN_SIDE} steps and fewer "
                "channels than that (pass a univariate series as (steps, 1)). Received: x "
                f"with samples of shape {tuple(self.input_shape_)}.")
        if choice != "auto":
            return (choice,)
        if not plan.is_image(self.input_shape_) and isinstance(self.manifold, str):
            return ("embedding", "both", "raw") + (("spectrum",) if sequence else ())
        return ("embedding",)

    def _validate_fit_input(self, x):
        xm = super()._validate_fit_input(x)
        self._manifold_input_candidates()  # refuses a bad manifold_input before pretraining
        return xm

    def _fit_head_on(self, z, rows, choice, score=False):
        """Fit the manifold and the clusterer on the input ``choice`` ("embedding",
        "both", "raw" or "spectrum") of the embedding ``z`` and the scaled flat ``rows`` (None
        with "embedding").

        Returns:
            With ``score``: the silhouette of the labels of the rows the
            manifold was fitted on, in their manifold coordinates (see
            :func:`layout_score`); else None.
        """
        z = self._fit_manifold_input(z, rows, choice)  # from here on: the manifold's input
        sample = self._manifold_sample(z.shape[0])
        z_fit = z if sample is None else z[sample]
        with Stage(f"{self._head_description().split(' + ')[0]} on {z_fit.shape[0]} rows",
                   self.verbose):
            self.manifold_ = self._make_manifold(z_fit)  # with UMAP: the exact k-NN graph
            m_fit = fit_transform(self.manifold_, z_fit)
        self.placement_ = (UMAPPlacement.from_umap(self.manifold_)
                           if unsupported(self.manifold_) is None else None)
        self.clusterer_ = self._make_clusterer()
        labels = np.asarray(self._fit_clusterer(m_fit)).astype("int64")
        self._knn = None
        if not hasattr(self.clusterer_, "predict"):
            # Clusterers that cannot label new points: extend by a k-NN vote.
            self._knn = KNeighborsClassifier(n_neighbors=min(15, len(labels))).fit(m_fit, labels)
        if sample is None:
            self.manifold_embedding_, self.labels_ = m_fit, labels
        else:
            rest = np.setdiff1d(np.arange(z.shape[0]), sample)
            self.manifold_embedding_ = np.empty((z.shape[0], m_fit.shape[1]), dtype="float32")
            self.labels_ = np.empty(z.shape[0], dtype="int64")
            self.manifold_embedding_[sample], self.labels_[sample] = m_fit, labels
            with Stage(f"placing the other {rest.size} rows by their nearest sampled rows",
                       self.verbose, total=rest.size) as stage:
                self.manifold_embedding_[rest], self.labels_[rest] = _place(
                    z_fit, m_fit, labels, z[rest], progress=stage)
        self.n_clusters_ = int(len(np.unique(self.labels_[self.labels_ >= 0])))
        return layout_score(m_fit, labels, self._sklearn_seed(6)) if score else None

    def _fit_manifold_input(self, z, rows, choice):
        """Set ``manifold_input_`` to ``choice`` and its scaling; returns the manifold's
        input rows.

        With "both": the embedding ``z`` and the scaled flat ``rows`` side by
        side, each block centred and divided by its root mean squared norm
        (see the class docstring); with "raw": ``rows`` alone, centred and
        divided by theirs; with "spectrum": their :func:`spectrum`, likewise.
        """
        self.manifold_input_ = choice
        self.manifold_input_offset_ = self.manifold_input_scale_ = None
        if choice == "embedding":
            return z
        if choice == "spectrum":
            rows = spectrum(rows, self.input_shape_)
        u = (np.hstack([z, rows]) if choice == "both" else rows).astype("float32")
        offset = u.mean(axis=0, dtype="float64")
        scale = np.empty(u.shape[1], dtype="float64")
        blocks = ((slice(0, z.shape[1]), slice(z.shape[1], None)) if choice == "both"
                  else (slice(None),))
        for block in blocks:
            rms = np.sqrt(np.square(u[:, block] - offset[block]).sum(axis=1).mean())
            scale[block] = 1.0 / rms if rms > 0 else 1.0
        self.manifold_input_offset_ = offset.astype("float32")
        self.manifold_input_scale_ = scale.astype("float32")
        return (u - self.manifold_input_offset_) * self.manifold_input_scale_

    def _head_input(self, x):
        """The manifold's input for the rows ``x``: their embedding, or with
        ``manifold_input_`` "both" the embedding and the scaled rows, with "raw"
        the scaled rows, with "spectrum" their :func:`spectrum`."""
        choice = getattr(self, "manifold_input_", "embedding")  # or not fitted
        if choice == "embedding":
            return super()._head_input(x)
        xs = self._validate_predict_input(x)
        # The embedding is checked with "raw" too: rows it overflows are refused, as by
        # transform and the SavedModel.
        z = self._checked_embedding(xs, x)
        u = _flat_rows(self._to_model_input(xs))
        if choice == "both":
            u = np.hstack([z, u])
        elif choice == "spectrum":
            u = spectrum(u, self.input_shape_)
        return (u.astype("float32") - self.manifold_input_offset_) * self.manifold_input_scale_

    def _head_fit_rows(self):
        """(manifold input, manifold coordinates, labels) of training rows, for export.

        With the embedding as input: every training row. With the other inputs
        the scaled training rows are not kept, so: the rows the UMAP layout was
        fitted on, as ``placement_`` holds them (None without a placement).
        """
        if getattr(self, "manifold_input_", "embedding") == "embedding":
            return self.embedding_, self.manifold_embedding_, self.labels_
        if self.placement_ is None:
            return None
        m = self.placement_.fit_y
        return self.placement_.fit_z, m, self._label_coordinates(m)

    def _fit_clusterer(self, m):
        """Fit ``clusterer_`` on the manifold coordinates ``m``; returns their labels.

        The default GMM, on more than ``GMM_RESTART_SAMPLE`` rows, runs its
        ``n_init`` restarts on a random sample of that many rows and then one
        EM on every row, started from the sample's best fit (``clusterer_``
        keeps that start as its ``*_init`` parameters, and ``n_init=1``).
        """
        gmm = self.clusterer_
        if isinstance(self.clusterer, str) and gmm.n_init > 1 and m.shape[0] > GMM_RESTART_SAMPLE:
            rng = np.random.default_rng(self._sklearn_seed(4))
            sample = rng.choice(m.shape[0], GMM_RESTART_SAMPLE, replace=False)
            start = fit_mixture(clone(gmm), m[sample], self.verbose,
                                name=f"GMM on {GMM_RESTART_SAMPLE} sampled rows")
            gmm.set_params(n_init=1, weights_init=start.weights_, means_init=start.means_,
                           precisions_init=start.precisions_)
        if isinstance(self.clusterer, str):  # the default GMM: a line per restart
            with Stage(f"GMM on all {m.shape[0]} rows", self.verbose if gmm.n_init == 1 else 0):
                fit_mixture(gmm, m, self.verbose, name="GMM")
            return gmm.predict(m)  # the labels fit_predict gives
        if hasattr(gmm, "fit_predict"):
            return gmm.fit_predict(m)
        return gmm.fit(m).labels_

    def _manifold_sample(self, n):
        """Sorted indices of the rows the manifold is fitted on, or None for all rows."""
        size = self.manifold_sample_size
        if size is None:
            return None
        if isinstance(size, (float, np.floating)) and not isinstance(size, bool):
            size = check_float(size, "manifold_sample_size", minimum=0.0, maximum=1.0,
                               exclusive_min=True)
            size = max(int(round(size * n)), min(n, 10))
        else:
            size = check_int(size, "manifold_sample_size", minimum=10)
        if size >= n:
            return None
        rng = np.random.default_rng(self._sklearn_seed(3))
        return np.sort(rng.choice(n, size, replace=False))

    def _manifold_transform(self, z, chunk=20_000):
        """Manifold coordinates of new embedding rows: ``placement_`` when there is one, else
        ``manifold_.transform`` in chunks (UMAP's transform holds a graph per call)."""
        if self.placement_ is not None:
            return self.placement_.transform(z)
        parts = [np.asarray(self.manifold_.transform(z[i:i + chunk]), dtype="float32")
                 for i in range(0, z.shape[0], chunk)]
        return np.concatenate(parts) if parts else np.zeros((0, 0), "float32")

    def _predict_head(self, z):
        return self._label_coordinates(self._manifold_transform(z))

    def _label_coordinates(self, m):
        """Clusters of manifold coordinates ``m`` (the clusterer, or the k-NN vote)."""
        model = self._knn if self._knn is not None else self.clusterer_
        return np.asarray(model.predict(m)).astype("int64")

    def _predict_proba_head(self, z):
        m = self._manifold_transform(z)
        if self._knn is None and hasattr(self.clusterer_, "predict_proba"):
            return self.clusterer_.predict_proba(m)
        if self._knn is not None:
            return self._knn.predict_proba(m)
        labels = np.asarray(self.clusterer_.predict(m))
        return np.eye(self._k)[labels]
