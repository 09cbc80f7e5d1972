"""Trusted: score the artifact's weights on held-out data; print one JSON line.

It reads numbers only (weights.json) and runs no recipe code, so it needs no sandbox.
"""

import argparse
import json
from pathlib import Path

import numpy as np


def predict(weights: dict, x: np.ndarray) -> np.ndarray:
    hidden = np.tanh(x @ np.array(weights["w1"]) + np.array(weights["b1"]))
    return hidden @ np.array(weights["w2"]) + np.array(weights["b2"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--heldout", type=Path, required=True)
    args = parser.parse_args()
    try:
        weights = json.loads((args.artifact / "weights.json").read_text())
        data = np.load(args.heldout / "heldout.npz")
        mse = float(np.mean((predict(weights, data["x"]) - data["y"]) ** 2))
    except (OSError, ValueError, KeyError) as error:
        print(json.dumps({"score": None, "error": f"cannot score the artifact: {error}"}))
        return
    print(json.dumps({"score": mse, "measurements": {"heldout_rows": float(len(data["y"]))}}))


if __name__ == "__main__":
    main()
