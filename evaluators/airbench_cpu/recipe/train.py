"""airbench-cpu seed recipe: a small 1D CNN trained on MNIST-1D; the harness times the run.

The artifact is this file (as model.py) plus weights.pt; the evaluator imports model.py
and calls load_model(artifact_dir), which returns a module mapping float32 inputs
[N, 40] to logits [N, 10]. It must import without training.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

CLASSES = 10  # fixed by the task
LENGTH = 40  # samples per MNIST-1D sequence

# ---- surface: arch ----
WIDTH = 32  # channels of every conv layer
DEPTH = 3  # conv blocks after the stem, each halving the length
KERNEL = 5  # conv kernel size (odd)
TTA_SHIFTS = 0  # evaluation averages logits over inputs shifted by -s..s samples


def arch_config() -> dict:
    """Everything load_model needs to rebuild the network; stored in the artifact."""
    return {"width": WIDTH, "depth": DEPTH, "kernel": KERNEL, "tta": TTA_SHIFTS}


def conv_block(c_in: int, c_out: int, kernel: int) -> list[nn.Module]:
    conv = nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2, bias=False)
    return [conv, nn.BatchNorm1d(c_out), nn.ReLU()]


class Net(nn.Module):
    def __init__(self, cfg: dict) -> None:
        super().__init__()
        width, kernel = cfg["width"], cfg["kernel"]
        layers = conv_block(1, width, kernel)
        for _ in range(cfg["depth"]):
            layers += [*conv_block(width, width, kernel), nn.MaxPool1d(2)]
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(DROPOUT)
        self.head = nn.Linear(width * (LENGTH >> cfg["depth"]), CLASSES)
        self.tta = cfg["tta"]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x[:, None, :]).flatten(1)
        return self.head(self.dropout(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or not self.tta:
            return self.logits(x)
        shifts = range(-self.tta, self.tta + 1)
        return torch.stack([self.logits(torch.roll(x, s, dims=1)) for s in shifts]).mean(0)


# ---- end surface: arch ----

# ---- surface: opt ----
EPOCHS = 8  # passes over the 4,000 training sequences
BATCH_SIZE = 64  # sequences per step
LR = 0.05  # SGD peak learning rate
MOMENTUM = 0.9  # Nesterov momentum
WEIGHT_DECAY = 5e-4  # L2 penalty through SGD
LOG_TRAIN_ACCURACY = True  # an extra pass over the train set each epoch, for the log only


def make_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        model.parameters(), lr=LR, momentum=MOMENTUM, nesterov=True, weight_decay=WEIGHT_DECAY
    )


def lr_at(step: int, total_steps: int) -> float:
    """Linear decay from LR to zero over the run."""
    return LR * (1 - step / total_steps)


# ---- end surface: opt ----

# ---- surface: aug ----
SHIFT = 0  # random circular shift of each batch by up to this many samples
NOISE = 0.0  # standard deviation of Gaussian noise added to the inputs


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A training batch after augmentation (identity at the seed)."""
    if SHIFT:
        x = torch.roll(x, int(torch.randint(-SHIFT, SHIFT + 1, (1,), generator=gen)), dims=1)
    if NOISE:
        x = x + NOISE * torch.randn(x.shape, generator=gen)
    return x


# ---- end surface: aug ----

# ---- surface: loss ----
LABEL_SMOOTHING = 0.0  # mass spread evenly over the classes


def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, y, label_smoothing=LABEL_SMOOTHING)


# ---- end surface: loss ----

# ---- surface: reg ----
DROPOUT = 0.0  # dropout before the classifier head
EMA_DECAY = 0.0  # 0 = no EMA; else evaluate an exponential moving average of the weights


def make_ema(model: nn.Module) -> AveragedModel | None:
    if not EMA_DECAY:
        return None
    multi = get_ema_multi_avg_fn(EMA_DECAY)
    return AveragedModel(model, multi_avg_fn=multi, use_buffers=True)


# ---- end surface: reg ----


def load_model(artifact_dir: str) -> nn.Module:
    saved = torch.load(Path(artifact_dir) / "weights.pt", weights_only=True)
    model = Net(json.loads(saved["config"]))
    model.load_state_dict(saved["state"])
    return model.eval()


def seed_everything(seed: int, threads: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def train_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        correct = (model.logits(x).argmax(1) == y).float().mean().item()
    model.train()
    return correct


def train(x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int) -> nn.Module:
    model = Net(arch_config())
    opt, ema = make_optimizer(model), make_ema(model)
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = (len(x) + BATCH_SIZE - 1) // BATCH_SIZE
    total, step = epochs * steps_per_epoch, 0
    for epoch in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(BATCH_SIZE):
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total)
            loss = loss_fn(model(augment(x[idx], gen)), y[idx])
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if ema is not None:
                ema.update_parameters(model)
            step += 1
        line = {"step": step, "loss": round(loss.item(), 4), "epoch": epoch}
        if LOG_TRAIN_ACCURACY:
            line["train_accuracy"] = train_accuracy(model, x, y)
        print(json.dumps(line), flush=True)
    return model if ema is None else ema.module


def main() -> None:
    seed = int(os.environ.get("AUTORECIPE_SEED", "0"))
    seed_everything(seed, int(os.environ.get("AUTORECIPE_THREADS", "1")))
    data = Path(os.environ.get("AUTORECIPE_DATA", "data"))
    x = torch.from_numpy(np.load(data / "train_x.npy"))
    y = torch.from_numpy(np.load(data / "train_y.npy"))
    epochs = 1 if os.environ.get("AUTORECIPE_SMOKE") == "1" else EPOCHS
    model = train(x, y, epochs, seed)
    artifact = Path(os.environ.get("AUTORECIPE_ARTIFACT", "artifact"))
    artifact.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(__file__, artifact / "model.py")
    saved = {"config": json.dumps(arch_config()), "state": model.state_dict()}
    torch.save(saved, artifact / "weights.pt")


if __name__ == "__main__":
    main()
