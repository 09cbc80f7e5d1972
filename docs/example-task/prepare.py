"""Trusted: write the train split for the recipe, the validation split that scores every
trial, and the test split that only the final test scores (the same file name in both
held-out folders, so evaluate.py reads either one alike).

Split rule: one generator seeded 1234 draws 1,200 points (train: the first 1,000,
validation: the last 200), then 200 more for the test split. Drawing the test points
last leaves the train and validation points as they were before the test split existed.
"""

import argparse
from pathlib import Path

import numpy as np


def curve(x: np.ndarray) -> np.ndarray:
    return x**2 + 0.5 * np.sin(3 * x)


def points(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-2, 2, size=(count, 1))
    return x, curve(x) + rng.normal(0, 0.1, size=x.shape)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--heldout", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    args = parser.parse_args()
    rng = np.random.default_rng(1234)  # fixed: every trial sees the same data
    x, y = points(rng, 1200)
    test_x, test_y = points(rng, 200)
    np.savez(args.train / "train.npz", x=x[:1000], y=y[:1000])
    np.savez(args.heldout / "heldout.npz", x=x[1000:], y=y[1000:])
    np.savez(args.test / "heldout.npz", x=test_x, y=test_y)


if __name__ == "__main__":
    main()
