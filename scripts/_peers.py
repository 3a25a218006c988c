"""Peer implementations for scripts/benchmark.py: ClustPy (PyTorch) and the original n2d.

Each ``run_*`` takes ``(x, k, seed, epochs, clustering_epochs)`` and returns
``(labels, timings)`` like the benchmark's own runners: ``timings`` has
``pretrain`` (autoencoder pretraining seconds), ``head`` (everything after it:
encoding, initial clustering, self-training or manifold + GMM), ``total``,
``pretrain_epochs`` and, where it applies, ``clustering_epochs``.

Every peer uses the benchmark's autoencoder: dense d-500-500-2000-10, batch
size 256, Adam at 1e-3 for pretraining, the same number of pretraining epochs
as the kdc estimators. What each peer keeps of its own defaults is listed in
:data:`NOTES` and lands in the benchmark's output.

None of these packages is a kdc dependency. Install them with::

    pip install "torch==2.13.0+cpu" clustpy==0.0.3 n2d==0.3.2

(``torch==2.13.0+cpu`` is the CPU-only wheel; ClustPy's own requirement
``torchvision`` is left out on purpose, see :func:`import_clustpy`.)
"""

import importlib
import importlib.util
import os
import sys
import time
import types

HIDDEN = [500, 500, 2000]
EMBEDDING = 10
BATCH_SIZE = 256

CLUSTPY_METHODS = ("clustpy_dec", "clustpy_idec", "clustpy_n2d")
TORCH_METHODS = CLUSTPY_METHODS

NOTES = {
    "clustpy": (
        "ClustPy {version} on PyTorch {torch} (CPU, torch.set_num_threads({threads})): "
        "FeedforwardAutoencoder layers [d, 500, 500, 2000, 10] with ClustPy's default "
        "LeakyReLU activations, batch size 256, Adam 1e-3 pretraining for the same epochs as "
        "kdc. DEC/IDEC: ClustPy defaults (Adam 1e-4 self-training, alpha 1, IDEC "
        "clustering_loss_weight 0.1) for --peer-clustering-epochs epochs; scored on "
        "dec_labels_ (the DEC assignments; ClustPy's labels_ are a final k-means on the "
        "embedding). N2D: umap.UMAP(n_components=k, n_neighbors=20, min_dist=0) replaces "
        "ClustPy's default t-SNE, then ClustPy's GaussianMixture (n_init=1). Pretraining "
        "time is measured by wrapping FeedforwardAutoencoder.fit; head = total - pretraining."
    ),
    "n2d_original": (
        "n2d {version} (the N2D authors' package): its AutoEncoder (ReLU, [d, 500, 500, 2000, "
        "10]) runs on TensorFlow {tf} / Keras {keras} through tf.keras, which is Keras 3 here. "
        "Its own n2d.fit_predict prints a progress bar (encoder.predict without verbose) and "
        "its assess()/cluster_acc fail on NumPy >= 1.24 (np.int in n2d.linear_assignment), so "
        "the adapter calls AutoEncoder.fit, encoder.predict(verbose=0) and "
        "UmapGMM(k, umap_dim=k, umap_neighbors=20, min_dist=0).fit_predict itself (what "
        "n2d.fit_predict does) and scores with kdc.metrics."
    ),
}


# ------------------------------------------------------------------ imports
def _install_torchvision_stub():
    """Put a minimal ``torchvision`` in sys.modules (what ClustPy needs at import).

    PyPI's torchvision wheels are CUDA builds: against the CPU-only torch
    wheel their ``_C`` extension fails to load (``libc10_cuda.so``) and
    ``import torchvision`` raises ``operator torchvision::nms does not exist``.
    ClustPy imports torchvision at module level only for type annotations
    (``torchvision.models._api.Weights``/``WeightsEnum``) and image
    augmentation; its DEC/IDEC/N2D on flat data never call it.
    """
    import enum

    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]

    def module(name, **attrs):
        mod = types.ModuleType(name)
        mod.__path__ = []  # a package, so submodule imports resolve through sys.modules
        mod.__dict__.update(attrs)
        sys.modules[name] = mod
        return mod

    class Weights:
        """Stand-in: pretrained torchvision weights are not available."""

    class WeightsEnum(enum.Enum):
        """Stand-in for torchvision.models._api.WeightsEnum."""

    def _missing(attr):
        raise AttributeError(
            f"torchvision.transforms.{attr} is unavailable: the benchmark replaced torchvision "
            "with a stub (no CPU build of torchvision on PyPI). Image augmentation is not used.")

    api = module("torchvision.models._api", Weights=Weights, WeightsEnum=WeightsEnum)
    models = module("torchvision.models", _api=api)
    transforms = module("torchvision.transforms")
    transforms.__getattr__ = _missing
    module("torchvision", models=models, transforms=transforms, __version__="0+stub",
           _kdc_benchmark_stub=True)


def import_clustpy():
    """Import torch and ``clustpy.deep``; returns ``(clustpy, note)``.

    Stubs torchvision (see :func:`_install_torchvision_stub`) when the real one
    is missing or cannot be imported; ``note`` says so (empty otherwise).
    """
    import torch  # noqa: F401  (an ImportError here means: not installed)

    note = ""
    loaded = sys.modules.get("torchvision")
    if loaded is not None and getattr(loaded, "_kdc_benchmark_stub", False):
        note = "torchvision replaced by a stub (unused by these methods)"
    elif loaded is None and importlib.util.find_spec("torchvision") is None:
        _install_torchvision_stub()
        note = "torchvision not installed: replaced by a stub (unused by these methods)"
    elif "torchvision" not in sys.modules:
        try:
            importlib.import_module("torchvision")
        except Exception as exc:  # a CUDA torchvision wheel against CPU torch
            _install_torchvision_stub()
            note = (f"torchvision unusable ({type(exc).__name__}: {exc}): replaced by a stub "
                    "(unused by these methods)")
    import clustpy
    import clustpy.deep

    return clustpy, note


def availability():
    """``{method: (available, note)}`` for the peer methods, without heavy imports."""
    out = {}
    missing = [p for p in ("torch", "clustpy") if importlib.util.find_spec(p) is None]
    for m in CLUSTPY_METHODS:
        out[m] = ((False, (f"not installed: {', '.join(missing)} (pip install "
                          "'torch==2.13.0+cpu' clustpy==0.0.3)")) if missing else (True, ""))
    if importlib.util.find_spec("n2d") is None:
        out["n2d_original"] = (False, "not installed (pip install n2d==0.3.2)")
    else:
        out["n2d_original"] = (True, "")
    return out


def versions():
    """Installed versions of the peer packages (None when absent), without importing them."""
    from importlib import metadata

    out = {}
    for dist in ("torch", "torchvision", "clustpy", "n2d"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def prepare(method):
    """Import what ``method`` needs (outside the timed region); returns a note or ''."""
    if method in CLUSTPY_METHODS:
        os.environ.setdefault("TQDM_DISABLE", "1")  # ClustPy's per-epoch tqdm bars
        _, note = import_clustpy()
        if method == "clustpy_n2d":
            import umap  # noqa: F401
        return note
    if method == "n2d_original":
        import n2d  # noqa: F401
    return ""


# ------------------------------------------------------------------ ClustPy
def _clustpy_common(seed):
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    from clustpy.deep.neural_networks import FeedforwardAutoencoder

    fits = []

    class TimedFeedforwardAutoencoder(FeedforwardAutoencoder):
        """FeedforwardAutoencoder recording the seconds of its pretraining ``fit``."""

        def fit(self, *args, **kwargs):
            t = time.perf_counter()
            try:
                return super().fit(*args, **kwargs)
            finally:
                fits.append(time.perf_counter() - t)

    return TimedFeedforwardAutoencoder, fits


def _clustpy_fit(make, x, k, seed, epochs):
    cls, fits = _clustpy_common(seed)
    network = (cls, {"layers": [x.shape[1], *HIDDEN, EMBEDDING]})
    est = make(network)
    t = time.perf_counter()
    est.fit(x)
    total = time.perf_counter() - t
    pretrain = sum(fits)
    return est, {"pretrain": pretrain, "head": total - pretrain, "total": total,
                 "pretrain_epochs": epochs}


def run_clustpy_dec(x, k, seed, epochs, clustering_epochs, improved=False):
    """ClustPy DEC (IDEC with ``improved=True``); returns (labels, timings)."""
    from clustpy.deep import DEC, IDEC

    cls = IDEC if improved else DEC

    def make(network):
        return cls(n_clusters=k, batch_size=BATCH_SIZE, pretrain_epochs=epochs,
                   clustering_epochs=clustering_epochs, neural_network=network,
                   embedding_size=EMBEDDING, device="cpu", random_state=seed)

    est, timings = _clustpy_fit(make, x, k, seed, epochs)
    timings["clustering_epochs"] = clustering_epochs
    return est.dec_labels_, timings


def run_clustpy_idec(x, k, seed, epochs, clustering_epochs):
    """ClustPy IDEC; returns (labels, timings)."""
    return run_clustpy_dec(x, k, seed, epochs, clustering_epochs, improved=True)


def run_clustpy_n2d(x, k, seed, epochs, clustering_epochs=None):
    """ClustPy N2D with UMAP as the manifold learner; returns (labels, timings)."""
    import umap
    from clustpy.deep import N2D

    def make(network):
        return N2D(n_clusters=k, batch_size=BATCH_SIZE, pretrain_epochs=epochs,
                   neural_network=network, embedding_size=EMBEDDING,
                   manifold_class=umap.UMAP,
                   manifold_params={"n_components": k, "n_neighbors": 20, "min_dist": 0.0,
                                    "metric": "euclidean"},
                   device="cpu", random_state=seed)

    est, timings = _clustpy_fit(make, x, k, seed, epochs)
    return est.labels_, timings


# ------------------------------------------------------------- original n2d
def run_n2d_original(x, k, seed, epochs, clustering_epochs=None):
    """The original ``n2d`` package's AutoEncoder + UmapGMM; returns (labels, timings)."""
    import keras
    import n2d

    keras.utils.set_random_seed(seed)
    t0 = time.perf_counter()
    ae = n2d.AutoEncoder(x.shape[1], EMBEDDING, architecture=list(HIDDEN))
    manifold = n2d.UmapGMM(k, umap_dim=k, umap_neighbors=20, umap_min_distance=0.0,
                           random_state=seed)
    t = time.perf_counter()
    ae.fit(x, batch_size=BATCH_SIZE, epochs=epochs, loss="mse", optimizer="adam",
           weights=None, verbose=0, weight_id=None, patience=None)
    pretrain = time.perf_counter() - t
    t = time.perf_counter()
    z = ae.encoder.predict(x, batch_size=BATCH_SIZE, verbose=0)
    embed = time.perf_counter() - t
    t = time.perf_counter()
    labels = manifold.fit_predict(z)
    head = time.perf_counter() - t
    return labels, {"pretrain": pretrain, "embed": embed, "head": head,
                    "total": time.perf_counter() - t0, "pretrain_epochs": epochs}


RUNNERS = {
    "clustpy_dec": ("ClustPy DEC (PyTorch)", run_clustpy_dec),
    "clustpy_idec": ("ClustPy IDEC (PyTorch)", run_clustpy_idec),
    "clustpy_n2d": ("ClustPy N2D (PyTorch, UMAP)", run_clustpy_n2d),
    "n2d_original": ("n2d package (original N2D)", run_n2d_original),
}

# The kdc estimator each peer method is measured against: the peer pretrains
# for that estimator's "auto" epochs.
KDC_COUNTERPART = {"clustpy_dec": "DEC", "clustpy_idec": "IDEC", "clustpy_n2d": "N2D",
                   "n2d_original": "N2D"}


def note_for(method):
    """The configuration note of a peer method, with versions filled in."""
    v = versions()
    if method in CLUSTPY_METHODS:
        return NOTES["clustpy"].format(version=v["clustpy"], torch=v["torch"],
                                       threads=os.cpu_count())
    if method == "n2d_original":
        try:
            from importlib import metadata

            tf_v, keras_v = metadata.version("tensorflow"), metadata.version("keras")
        except Exception:
            tf_v = keras_v = "?"
        return NOTES["n2d_original"].format(version=v["n2d"], tf=tf_v, keras=keras_v)
    return ""
