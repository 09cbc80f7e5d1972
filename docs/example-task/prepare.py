"""Trusted: write the train split for the recipe and the held-out split for the evaluator."""

import argparse
from pathlib import Path

import numpy as np


def curve(x: np.ndarray) -> np.ndarray:
    return x**2 + 0.5 * np.sin(3 * x)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--heldout", type=Path, required=True)
    args = parser.parse_args()
    rng = np.random.default_rng(1234)  # fixed: every trial sees the same data
    x = rng.uniform(-2, 2, size=(1200, 1))
    y = curve(x) + rng.normal(0, 0.1, size=x.shape)
    np.savez(args.train / "train.npz", x=x[:1000], y=y[:1000])
    np.savez(args.heldout / "heldout.npz", x=x[1000:], y=y[1000:])


if __name__ == "__main__":
    main()
