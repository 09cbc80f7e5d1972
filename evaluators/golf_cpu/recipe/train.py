"""golf-cpu seed recipe: a small byte-level GPT trained on CPU, packed into few bytes.

The artifact is this file (as model.py) plus the packed weights; the evaluator imports
model.py and calls load_model(artifact_dir), so it must import without training.
"""

from __future__ import annotations

import json
import lzma
import math
import os
import random
import shutil
import zlib
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
BLOCK_SIZE = 64  # context length in bytes; also the evaluation window
MLP_RATIO = 4  # MLP hidden width as a multiple of N_EMBD
ACTIVATION = "relu"  # relu | relu2 | gelu | silu
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
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


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

# ---- surface: opt ----
LR = 1e-3  # AdamW learning rate, held constant
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
    return torch.optim.AdamW(groups, lr=LR, betas=BETAS)


def lr_at(step: int, total_steps: int) -> float:
    """The learning rate for this step: constant, no warmup, no decay."""
    return LR


def apply_update(model: nn.Module, opt: torch.optim.Optimizer, step: int, total: int) -> None:
    """One optimizer step on the gradients already computed."""
    for group in opt.param_groups:
        group["lr"] = lr_at(step, total)
    if GRAD_CLIP > 0:
        nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
    opt.step()
    opt.zero_grad(set_to_none=True)


# ---- end surface: opt ----

# ---- surface: data ----
BATCH_SIZE = 16  # sequences per step
STEPS = 1200  # optimizer steps; the harness caps train wall time, not steps


def get_batch(
    data: torch.Tensor, block_size: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of the train bytes: inputs and the next byte at each position."""
    starts = torch.randint(len(data) - block_size - 1, (BATCH_SIZE,), generator=gen)
    rows = starts[:, None] + torch.arange(block_size + 1)
    chunk = data[rows].long()
    return chunk[:, :-1], chunk[:, 1:]


# ---- end surface: data ----

# ---- surface: quant ----
QUANT_BITS = 8  # bits per quantized weight (2..8)
PER_ROW_SCALES = True  # one scale per output row; False = one per tensor
QUANT_MIN_NUMEL = 4096  # smaller tensors (norms, small tables) stay float16
COMPRESSOR = "zlib"  # zlib | lzma, applied to the whole packed blob


def quantize(w: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric round-to-nearest integers in [-qmax, qmax] and float16 scales."""
    qmax = 2 ** (bits - 1) - 1
    w2 = w.reshape(w.shape[0], -1)
    absmax = np.abs(w2).max(axis=1) if PER_ROW_SCALES else np.abs(w2).max(keepdims=True)
    scale = (np.maximum(absmax, 1e-12) / qmax).astype(np.float16)
    q = np.clip(np.round(w2 / scale.astype(np.float32)[:, None]), -qmax, qmax)
    return q.astype(np.int8), scale


def pack_bits(q: np.ndarray, bits: int) -> bytes:
    """Offset the integers to unsigned and keep only their low `bits` bits."""
    unsigned = (q.astype(np.int16) + 2 ** (bits - 1)).astype(np.uint8).ravel()
    planes = np.unpackbits(unsigned[:, None], axis=1)[:, 8 - bits :]
    return np.packbits(planes.ravel()).tobytes()


def unpack_bits(raw: bytes, bits: int, count: int) -> np.ndarray:
    planes = np.unpackbits(np.frombuffer(raw, np.uint8))[: count * bits]
    full = np.zeros((count, 8), np.uint8)
    full[:, 8 - bits :] = planes.reshape(count, bits)
    return np.packbits(full, axis=1).ravel().astype(np.int16) - 2 ** (bits - 1)


def pack_state(state: dict, config: dict) -> bytes:
    """A JSON header (config and tensor layout) followed by the payload, compressed."""
    layout, chunks = [], []
    for name, tensor in state.items():
        w = tensor.detach().float().numpy()
        entry = {"name": name, "shape": list(w.shape)}
        if w.ndim >= 2 and w.size >= QUANT_MIN_NUMEL:
            q, scale = quantize(w, QUANT_BITS)
            chunks += [scale.tobytes(), pack_bits(q, QUANT_BITS)]
            entry.update(bits=QUANT_BITS, sizes=[len(chunks[-2]), len(chunks[-1])])
        else:
            chunks.append(w.astype(np.float16).tobytes())
            entry.update(bits=16, sizes=[len(chunks[-1])])
        layout.append(entry)
    header = json.dumps({"config": config, "layout": layout}).encode()
    blob = len(header).to_bytes(4, "little") + header + b"".join(chunks)
    if COMPRESSOR == "lzma":
        return b"L" + lzma.compress(blob, preset=9 | lzma.PRESET_EXTREME)
    return b"Z" + zlib.compress(blob, 9)


def unpack_state(packed: bytes) -> tuple[dict, dict]:
    """The inverse of pack_state: float32 tensors (dequantized) and the config."""
    body = packed[1:]
    blob = lzma.decompress(body) if packed[:1] == b"L" else zlib.decompress(body)
    size = int.from_bytes(blob[:4], "little")
    header = json.loads(blob[4 : 4 + size])
    offset, state = 4 + size, {}
    for entry in header["layout"]:
        shape, parts = entry["shape"], []
        for n in entry["sizes"]:
            parts.append(blob[offset : offset + n])
            offset += n
        if entry["bits"] == 16:
            w = np.frombuffer(parts[0], np.float16).astype(np.float32)
        else:
            scale = np.frombuffer(parts[0], np.float16).astype(np.float32)
            q = unpack_bits(parts[1], entry["bits"], math.prod(shape))
            w = q.reshape(shape[0], -1) * scale[:, None]
        state[entry["name"]] = torch.from_numpy(np.ascontiguousarray(w).reshape(shape))
    return state, header["config"]


# ---- end surface: quant ----


def load_model(artifact_dir: str) -> nn.Module:
    """Rebuild the network from the packed weights in an artifact folder."""
    state, config = unpack_state((Path(artifact_dir) / "weights.bin").read_bytes())
    if config.get("tie_weights"):  # a tied head was packed once, as the embedding
        state["head.weight"] = state["tok.weight"]
    model = GPT(config)
    model.load_state_dict(state)
    return model.eval()


def seed_everything(seed: int, threads: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def train(data: torch.Tensor, steps: int, seed: int) -> nn.Module:
    model = GPT(arch_config())
    opt = make_optimizer(model)
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        x, y = get_batch(data, model.block_size, gen)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        loss.backward()
        apply_update(model, opt, step, steps)
        if step % 10 == 0 or step == steps - 1:
            print(json.dumps({"step": step, "loss": round(loss.item(), 4)}), flush=True)
    return model


def unique_state(model: nn.Module) -> dict:
    """The state dict without aliases, so a tied matrix is packed once."""
    seen, state = set(), {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        if id(tensor) not in seen:
            seen.add(id(tensor))
            state[name] = tensor
    return state


def main() -> None:
    seed = int(os.environ.get("AUTORECIPE_SEED", "0"))
    seed_everything(seed, int(os.environ.get("AUTORECIPE_THREADS", "1")))
    data_path = Path(os.environ.get("AUTORECIPE_DATA", "data")) / "train.bin"
    data = torch.from_numpy(np.fromfile(data_path, dtype=np.uint8))
    steps = 2 if os.environ.get("AUTORECIPE_SMOKE") == "1" else STEPS
    model = train(data, steps, seed)
    artifact = Path(os.environ.get("AUTORECIPE_ARTIFACT", "artifact"))
    artifact.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(__file__, artifact / "model.py")
    packed = pack_state(unique_state(model), arch_config())
    (artifact / "weights.bin").write_bytes(packed)


if __name__ == "__main__":
    main()
