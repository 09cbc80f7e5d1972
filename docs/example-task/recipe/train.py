"""Seed recipe: a one-hidden-layer tanh MLP trained by full-batch gradient descent."""

import json
import os
from pathlib import Path

import numpy as np

# ---- surface: model ----
HIDDEN = 8  # hidden units
INIT_SCALE = 0.5  # std of the initial weights
# ---- end surface: model ----

# ---- surface: opt ----
LR = 0.02  # gradient-descent step size
STEPS = 400  # full-batch steps
# ---- end surface: opt ----


def train(x: np.ndarray, y: np.ndarray, seed: int, steps: int) -> dict:
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, INIT_SCALE, (1, HIDDEN))
    b1 = np.zeros(HIDDEN)
    w2 = rng.normal(0, INIT_SCALE, (HIDDEN, 1))
    b2 = np.zeros(1)
    for step in range(steps):
        hidden = np.tanh(x @ w1 + b1)
        error = hidden @ w2 + b2 - y
        grad_out = 2 * error / len(x)
        grad_hidden = (grad_out @ w2.T) * (1 - hidden**2)
        w2 -= LR * hidden.T @ grad_out
        b2 -= LR * grad_out.sum(0)
        w1 -= LR * x.T @ grad_hidden
        b1 -= LR * grad_hidden.sum(0)
        if step % 50 == 0:
            print(json.dumps({"step": step, "loss": float(np.mean(error**2))}), flush=True)
    return {"w1": w1.tolist(), "b1": b1.tolist(), "w2": w2.tolist(), "b2": b2.tolist()}


def main() -> None:
    data = np.load(Path(os.environ["AUTORECIPE_DATA"]) / "train.npz")
    smoke = os.environ.get("AUTORECIPE_SMOKE") == "1"
    weights = train(data["x"], data["y"], int(os.environ["AUTORECIPE_SEED"]), 5 if smoke else STEPS)
    artifact = Path(os.environ["AUTORECIPE_ARTIFACT"])
    (artifact / "weights.json").write_text(json.dumps(weights))


if __name__ == "__main__":
    main()
