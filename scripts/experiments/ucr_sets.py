"""Time-series sets of the UCR/UEA archive, as .npz files of sequences for the benchmark.

sktime's wheel bundles a few sets of the UCR/UEA time-series classification
archive (https://www.timeseriesclassification.com) as ``.ts`` files, in
``sktime/datasets/data/<Name>/<Name>_{TRAIN,TEST}.ts``; nothing is
downloaded here. Fetch the wheel (``pip download sktime --no-deps``), unzip
it, and point ``--root`` at its ``sktime/datasets/data``::

    python scripts/experiments/ucr_sets.py --root /tmp/sktime/sktime/datasets/data --out /tmp/seq
    python scripts/benchmark.py --datasets /tmp/seq/basicmotions.npz ... --methods n2d umap_gmm

Each set is written as ``<name>.npz`` with ``x`` of shape (n, steps,
channels), train and test rows together (clustering has no split), and
``y`` the classes numbered in sorted order. Series of unequal length
(JapaneseVowels) are padded to the longest by repeating their last value.
"""

import argparse
import pathlib

import numpy as np

SETS = ("ACSF1", "ArrowHead", "BasicMotions", "GunPoint", "ItalyPowerDemand", "JapaneseVowels",
        "OSULeaf")


def read_ts(path):
    """(series, labels) of a ``.ts`` file: each series a list of channels (lists of floats)."""
    series, labels, data = [], [], False
    for line in pathlib.Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("@data"):
            data = True
        elif data:
            *channels, label = line.split(":")
            series.append([[float(v) for v in c.split(",")] for c in channels])
            labels.append(label)
    return series, labels


def as_sequences(series):
    """float32 array (n, steps, channels), shorter channels padded with their last value."""
    steps = max(len(c) for s in series for c in s)
    return np.array([[c + c[-1:] * (steps - len(c)) for c in s] for s in series],
                    dtype="float32").transpose(0, 2, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="sktime's datasets/data folder")
    parser.add_argument("--out", required=True, help="folder for the .npz files")
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.sets:
        series, labels = [], []
        for part in ("TRAIN", "TEST"):
            s, l = read_ts(pathlib.Path(args.root) / name / f"{name}_{part}.ts")
            series, labels = series + s, labels + l
        x = as_sequences(series)
        y = np.unique(labels, return_inverse=True)[1]
        np.savez(out / f"{name.lower()}.npz", x=x, y=y)
        print(f"{name.lower()}: {' x '.join(map(str, x.shape))}, {len(np.unique(y))} classes")


if __name__ == "__main__":
    main()
