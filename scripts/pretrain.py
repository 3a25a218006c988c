#!/usr/bin/env python
"""Pretrain the default autoencoder on each benchmark dataset; write weights/.

For every dataset this trains kdc's default autoencoder (the estimators'
``autoencoder="dense"``: d-500-500-2000-10, ReLU, linear embedding) on the
data as ``kdc.datasets.load(name)`` returns it, the way the estimators
pretrain (through ``kdc.AEKMeans``: ``augment="auto"`` shifts of image rows,
``precision="auto"``), only for more epochs; saves
``weights/<dataset>-<architecture>.weights.h5`` and records in
``weights/manifest.json``: the file's sha256, the dataset and its content
checksum, the architecture (Keras config), epochs, batch size, seconds,
throughput, final reconstruction loss, the machine, and the ACC/NMI/ARI that
the default head (``kdc.N2D``) reaches from these weights.

Estimators then take ``pretrained="<dataset>"`` and skip pretraining.

Usage:
    python scripts/pretrain.py                          # mnist, usps, pendigits
    python scripts/pretrain.py --datasets usps --epochs 100
    python scripts/pretrain.py --evaluate-only          # re-score existing weights
"""

import argparse
import json
import os
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "datasets"
if SHARED.is_dir():
    os.environ.setdefault("KDC_DATA", str(SHARED))

import numpy as np  # noqa: E402

import kdc  # noqa: E402
from kdc import _pretrained  # noqa: E402
from kdc._report import environment  # noqa: E402
from kdc.cluster import _autoencoder  # noqa: E402

# Samples seen per dataset: well past the estimators' "auto" budget, which is
# what shipped weights are for.
DEFAULT_EPOCHS = {"mnist": 100, "usps": 100, "pendigits": 100}
ARCHITECTURE = "dense"


def save_model_weights(model, path):
    """Save only the model's weights (a compiled model's save_weights adds Adam's state, 3x)."""
    bare = model.__class__.from_config(model.get_config())
    bare(np.zeros((1, model.get_config()["input_dim"]), dtype="float32"))
    bare.set_weights(model.get_weights())
    tmp = path.with_name(f".{path.name[:-len('.weights.h5')]}.partial.weights.h5")
    bare.save_weights(tmp)  # Keras insists on the .weights.h5 suffix
    os.replace(tmp, path)


def file_facts(path):
    return {"file": path.name, "sha256": _pretrained.sha256(path), "bytes": path.stat().st_size}


def repack(entry, out_dir):
    """Rewrite an existing weights file without optimizer state; update its manifest entry."""
    import keras

    path = out_dir / entry["file"]
    model, _ = _autoencoder.build_autoencoder(ARCHITECTURE, (entry["n_features"],),
                                              (500, 500, 2000), 10)
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    x = np.zeros((1, entry["n_features"]), dtype="float32")
    model.train_on_batch(x, x)  # creates the optimizer variables the old file holds
    model.load_weights(path)
    save_model_weights(model, path)
    entry.update(file_facts(path))


def pretrain_one(name, epochs, batch_size, seed, out_dir):
    """Pretrain as the estimators do (their scaling, ``augment="auto"`` shifts of
    image rows, ``precision="auto"``), for ``epochs``, and save the autoencoder."""
    x, _ = kdc.datasets.load(name)  # images stay images, so "auto" shifts them
    print(f"[pretrain] {name}: {x.shape}, {epochs} epochs, batch {batch_size}", flush=True)
    est = kdc.AEKMeans(n_clusters=10, pretrain_epochs=epochs, batch_size=batch_size,
                       n_init=1, random_state=seed, verbose=1).fit(x)
    if est.scale_ is not None and not (np.allclose(est.scale_, 1) and np.allclose(est.offset_, 0)):
        raise RuntimeError(f"{name}: the estimators rescale this data (scale_={est.scale_}), "
                           "so weights trained on it would not fit the rows load() returns")
    model = est.autoencoder_
    history = est.history_["pretrain"]
    seconds = est.timings_["pretrain"]
    n_features = int(np.prod(x.shape[1:]))
    path = out_dir / f"{name}-{ARCHITECTURE}.weights.h5"
    save_model_weights(model, path)
    return {
        **file_facts(path),
        "dataset": name,
        "dataset_content_md5": kdc.datasets._CONTENT_MD5.get(name, (None,))[0],
        "n_samples": int(x.shape[0]),
        "n_features": n_features,
        "architecture": ARCHITECTURE,
        "model_class": type(model).__name__,
        "config": model.get_config(),
        "epochs": epochs,
        "batch_size": batch_size,
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "augment_shift": est.training_plan_["pretrain"]["shift"],
        "precision": est.training_plan_["pretrain"]["precision"],
        "seed": seed,
        "seconds": round(seconds, 1),
        "samples_per_s": round(epochs * x.shape[0] / seconds, 1) if seconds else None,
        "reconstruction_loss": history["loss"][-1],
        "loss_history": [round(v, 6) for v in history["loss"]],
    }


def evaluate_one(name, entry, seed):
    x, y = kdc.datasets.load(name, flatten=True)
    est = kdc.N2D(n_clusters=10, pretrained=name, random_state=seed, verbose=1).fit(x)
    scores = kdc.metrics.evaluate(y, est.labels_)
    entry["head"] = {"method": "N2D", "defaults": True, "seed": seed,
                     "seconds": round(est.timings_["total"], 1),
                     **{k: round(v, 4) for k, v in scores.items()}}
    print(f"[pretrain] {name}: N2D from these weights {entry['head']}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DEFAULT_EPOCHS))
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs for every dataset (default: per dataset, see DEFAULT_EPOCHS)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=_pretrained.WEIGHTS_DIR)
    parser.add_argument("--evaluate-only", action="store_true",
                        help="only re-run the N2D evaluation of existing weights")
    parser.add_argument("--no-evaluate", action="store_true")
    parser.add_argument("--note", default=None,
                        help="a remark stored with each entry written (e.g. machine load)")
    parser.add_argument("--repack", action="store_true",
                        help="rewrite existing weights files without optimizer state")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {
        "format": 1, "weights": {}}
    for name in args.datasets:
        key = f"{name}-{ARCHITECTURE}"
        if args.note and key in manifest["weights"]:
            manifest["weights"][key]["note"] = args.note
        if args.repack:
            repack(manifest["weights"][key], args.out)
            _write(manifest_path, manifest)
            continue
        if not args.evaluate_only:
            epochs = args.epochs or DEFAULT_EPOCHS.get(name, 50)
            manifest["weights"][key] = pretrain_one(name, epochs, args.batch_size, args.seed,
                                                    args.out)
            manifest["weights"][key]["environment"] = environment()
            if args.note:
                manifest["weights"][key]["note"] = args.note
            _write(manifest_path, manifest)
        if not args.no_evaluate:
            evaluate_one(name, manifest["weights"][key], args.seed)
            _write(manifest_path, manifest)
    total = sum(p.stat().st_size for p in args.out.glob("*.weights.h5"))
    print(f"[pretrain] weights/ holds {total / 1e6:.1f} MB", flush=True)
    return 0


def _write(path, manifest):
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
