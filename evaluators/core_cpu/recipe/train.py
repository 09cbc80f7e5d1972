"""core-cpu seed recipe: a byte-level GPT trained for a fixed number of steps on CPU.

The artifact is this file (as model.py) plus weights.pt; the evaluator imports model.py
and calls load_model(artifact_dir), so it must import without training.

Threads: the harness passes AUTORECIPE_THREADS (1 by default). The recipe may use up to
that many intra-op threads and never more: the CPU-time limit scales with it and other
trials share the machine. At a fixed thread count a run is bit-identical
(deterministic algorithms, seeded generators, no data-dependent thread scheduling).
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

VOCAB = 256  # byte-level vocabulary: fixed by the task

# ---- surface: arch ----
N_LAYER = 2  # transformer blocks
N_EMBD = 64  # model width (channels)
N_HEAD = 4  # attention heads; must divide N_EMBD
BLOCK_SIZE = 128  # context length in bytes, in training and at evaluation
MLP_RATIO = 4  # MLP hidden width as a multiple of N_EMBD
ACTIVATION = "gelu"  # relu | relu2 | gelu | silu
NORM = "layernorm"  # layernorm | rmsnorm
TIE_WEIGHTS = False  # share the byte embedding with the output head


def arch_config() -> dict:
    """Everything load_model needs to rebuild the network; stored in the artifact."""
    return {
        "n_layer": N_LAYER,
        "n_embd": N_EMBD,
        "n_head": N_HEAD,
        "block_size": BLOCK_SIZE,
        "mlp_ratio": MLP_RATIO,
        "activation": ACTIVATION,
        "norm": NORM,
        "tie_weights": TIE_WEIGHTS,
    }


def activate(x: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "relu2":
        return F.relu(x).square()
    return {"relu": F.relu, "gelu": F.gelu, "silu": F.silu}[kind](x)


def make_norm(cfg: dict) -> nn.Module:
    if cfg["norm"] == "rmsnorm":
        return nn.RMSNorm(cfg["n_embd"])
    return nn.LayerNorm(cfg["n_embd"])


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: dict) -> None:
        super().__init__()
        self.n_head = cfg["n_head"]
        self.qkv = nn.Linear(cfg["n_embd"], 3 * cfg["n_embd"], bias=False)
        self.proj = nn.Linear(cfg["n_embd"], cfg["n_embd"], bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, -1).transpose(1, 2) for z in (q, k, v))
        return self.proj(attend(q, k, v).transpose(1, 2).reshape(b, t, c))


class MLP(nn.Module):
    def __init__(self, cfg: dict) -> None:
        super().__init__()
        hidden = cfg["mlp_ratio"] * cfg["n_embd"]
        self.kind = cfg["activation"]
        self.up = nn.Linear(cfg["n_embd"], hidden, bias=False)
        self.down = nn.Linear(hidden, cfg["n_embd"], bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(activate(self.up(x), self.kind))


class Block(nn.Module):
    def __init__(self, cfg: dict) -> None:
        super().__init__()
        self.ln1 = make_norm(cfg)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = make_norm(cfg)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, cfg: dict) -> None:
        super().__init__()
        self.block_size = cfg["block_size"]
        self.tok = nn.Embedding(VOCAB, cfg["n_embd"])
        self.pos = nn.Embedding(cfg["block_size"], cfg["n_embd"])
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg["n_layer"]))
        self.ln_f = make_norm(cfg)
        self.head = nn.Linear(cfg["n_embd"], VOCAB, bias=False)
        if cfg["tie_weights"]:
            self.head.weight = self.tok.weight
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(idx.shape[1], device=idx.device)
        x = self.tok(idx) + self.pos(positions)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


# ---- end surface: arch ----

# ---- surface: sys ----
ADAMW_FOREACH = False  # False: one update loop per tensor; True: batched across tensors
LOG_EVERY = 1  # steps between progress lines; each one reads the loss back (a sync)


def configure_runtime(threads: int) -> None:
    """Intra-op threads (at most the harness's), deterministic kernels."""
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal attention written out by hand: the full score matrix, an explicit mask."""
    t = q.shape[-2]
    mask = torch.tril(torch.ones(t, t, device=q.device))
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(mask == 0, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


# ---- end surface: sys ----

# ---- surface: opt ----
LR = 1e-3  # AdamW peak learning rate
BETAS = (0.9, 0.99)  # AdamW moment decay rates
WEIGHT_DECAY = 0.0  # decoupled weight decay on matrices
GRAD_CLIP = 0.0  # max global grad norm; 0 turns clipping off


def make_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    """AdamW; norms and biases (1-D tensors) get no weight decay."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": WEIGHT_DECAY},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=LR, betas=BETAS, foreach=ADAMW_FOREACH)


def clip_gradients(model: nn.Module) -> None:
    if GRAD_CLIP > 0:
        nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)


# ---- end surface: opt ----

# ---- surface: sched ----
STEPS = 250  # optimizer steps: the training horizon (the harness caps wall time, not steps)


def lr_at(step: int, total_steps: int) -> float:
    """The learning rate for this step: constant, no warmup, no decay."""
    return LR


# ---- end surface: sched ----

# ---- surface: data ----
BATCH_SIZE = 16  # sequences per step


def get_batch(
    data: torch.Tensor, block_size: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of the train bytes: inputs and the next byte at each position."""
    starts = torch.randint(len(data) - block_size - 1, (BATCH_SIZE,), generator=gen)
    rows = starts[:, None] + torch.arange(block_size + 1)
    chunk = data[rows].long()
    return chunk[:, :-1], chunk[:, 1:]


# ---- end surface: data ----


def load_model(artifact_dir: str) -> nn.Module:
    """Rebuild the network from the artifact folder."""
    saved = torch.load(Path(artifact_dir) / "weights.pt", weights_only=True)
    model = GPT(json.loads(saved["config"]))
    model.load_state_dict(saved["state"])
    return model.eval()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train_step(
    model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, lr: float
) -> torch.Tensor:
    logits = model(x)
    loss = F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
    loss.backward()
    clip_gradients(model)
    for group in opt.param_groups:
        group["lr"] = lr
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss


def train(data: torch.Tensor, steps: int, seed: int) -> nn.Module:
    model = GPT(arch_config())
    opt = make_optimizer(model)
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        x, y = get_batch(data, model.block_size, gen)
        loss = train_step(model, opt, x, y, lr_at(step, steps))
        if step % LOG_EVERY == 0 or step == steps - 1:
            print(json.dumps({"step": step, "loss": round(loss.item(), 4)}), flush=True)
    return model


def main() -> None:
    seed = int(os.environ.get("AUTORECIPE_SEED", "0"))
    configure_runtime(int(os.environ.get("AUTORECIPE_THREADS", "1")))
    seed_everything(seed)
    data_path = Path(os.environ.get("AUTORECIPE_DATA", "data")) / "train.bin"
    data = torch.from_numpy(np.fromfile(data_path, dtype=np.uint8))
    steps = 2 if os.environ.get("AUTORECIPE_SMOKE") == "1" else STEPS
    model = train(data, steps, seed)
    artifact = Path(os.environ.get("AUTORECIPE_ARTIFACT", "artifact"))
    artifact.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(__file__, artifact / "model.py")
    saved = {"config": json.dumps(arch_config()), "state": model.state_dict()}
    torch.save(saved, artifact / "weights.pt")


if __name__ == "__main__":
    main()
