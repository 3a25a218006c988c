"""Write the synthetic data sets of the benchmark page as ``.npz`` files (arrays ``x``, ``y``).

Flat data of kinds the shared data sets do not cover, for checks of the
defaults on data they were not tuned on; each set is fixed by its seed.

    python scripts/experiments/synthetic_sets.py --out /tmp/sets
    python scripts/benchmark.py --datasets /tmp/sets/sensor2.npz ... --methods n2d umap_gmm

- ``synth_cls``: scikit-learn's ``make_classification``, 6 classes, 10
  informative and 10 redundant columns of 50;
- ``synth_noise``: 8 Gaussian blobs in 10 columns beside 30 columns of
  noise with 3 times their spread;
- ``sensor2``: windows of 3 channels x 64 steps (flattened), 8 classes of
  sines whose frequencies lie close together, with random phase and
  amplitude and strong noise; ``sensor2_seq`` holds the same windows as
  sequences, shape (n, 64 steps, 3 channels);
- ``aniso2``: 8 overlapping blobs of unequal size and spread in 12
  columns, mixed by a random linear map;
- ``mixed``: 6 blobs in 8 columns on scales from 0.01 to 100, beside 4
  heavy-tailed (Student t, 2 degrees of freedom) columns.
"""

import argparse
import pathlib

import numpy as np
from sklearn.datasets import make_blobs, make_classification


def synth_cls():
    return make_classification(n_samples=5000, n_features=50, n_informative=10, n_redundant=10,
                               n_classes=6, n_clusters_per_class=1, class_sep=2.0, random_state=0)


def synth_noise():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, 10)) * 3
    y = rng.integers(0, 8, 4000)
    x = np.hstack([centres[y] + rng.normal(size=(4000, 10)), rng.normal(size=(4000, 30)) * 3])
    return x, y


def _second_batch():
    """sensor2, aniso2 and mixed, drawn in this order from one generator."""
    rng = np.random.default_rng(2)
    n, steps = 4000, 64
    y = rng.integers(0, 8, n)
    freqs = rng.uniform(1, 4, size=(8, 3))
    t = np.arange(steps) / steps
    phase = rng.uniform(0, 2 * np.pi, size=(n, 3, 1))
    amp = rng.uniform(0.7, 1.3, size=(n, 3, 1))
    x = amp * np.sin(2 * np.pi * freqs[y][:, :, None] * t[None, None, :] + phase)
    x += 0.8 * rng.normal(size=x.shape)
    out = {"sensor2": (x.reshape(n, -1), y), "sensor2_seq": (x.transpose(0, 2, 1), y)}
    x, y = make_blobs(n_samples=[150, 300, 600, 900, 250, 500, 400, 700], n_features=12,
                      cluster_std=[1.5, 2.0, 2.5, 3.0, 1.5, 2.0, 2.5, 2.0], center_box=(-8, 8),
                      random_state=2)
    out["aniso2"] = (x @ rng.normal(size=(12, 12)), y)
    z, y = make_blobs(n_samples=3000, n_features=8, centers=6, cluster_std=1.6, random_state=2)
    out["mixed"] = (np.hstack([z * np.logspace(-2, 2, 8), rng.standard_t(2, size=(3000, 4))]), y)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the .npz files")
    args = parser.parse_args()
    folder = pathlib.Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    sets = {"synth_cls": synth_cls(), "synth_noise": synth_noise(), **_second_batch()}
    for name, (x, y) in sets.items():
        np.savez(folder / f"{name}.npz", x=np.asarray(x, "float32"), y=np.asarray(y))
        print(f"{name}: {' x '.join(map(str, x.shape))}, {len(np.unique(y))} classes")


if __name__ == "__main__":
    main()
