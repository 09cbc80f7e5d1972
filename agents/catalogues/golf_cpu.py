"""golf-cpu techniques per surface: known edits of the seed recipe, as real source changes.

Expected deltas are the val_bpb changes measured for each edit on the seed recipe alone
(2-core CPU, one thread, seed 0); on another parent they are only a prior. Effects say
what an edit does to the 147,000-byte cap and the 45 s training budget.

Over the 300-line guide: it is a table of data (one entry per technique, each a real
source change), read as a list; cutting it in two would only split the list.
"""

from __future__ import annotations

from typing import Any

from agents.edits import Replace, ScaleKnob, SetKnob
from agents.techniques import (
    ADDS_BYTES,
    ADDS_TIME,
    CUTS_BYTES,
    CUTS_TIME,
    STABILISES,
    STRUCTURAL,
    Technique,
)

CONSTANT_LR = '''def lr_at(step: int, total_steps: int) -> float:
    """The learning rate for this step: constant, no warmup, no decay."""
    return LR
'''
WARMUP_COSINE = '''WARMUP_STEPS = 100  # linear warmup from 0 to LR, in steps
MIN_LR_FRACTION = 0.1  # cosine decay ends at this fraction of LR


def lr_at(step: int, total_steps: int) -> float:
    """Linear warmup, then cosine decay to MIN_LR_FRACTION * LR."""
    if step < WARMUP_STEPS:
        return LR * (step + 1) / WARMUP_STEPS
    progress = (step - WARMUP_STEPS) / max(1, total_steps - WARMUP_STEPS)
    return LR * (MIN_LR_FRACTION + (1 - MIN_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * progress)))
'''
COSINE_ONLY = '''def lr_at(step: int, total_steps: int) -> float:
    """Cosine decay from LR to a tenth of it over the run."""
    return LR * (0.1 + 0.45 * (1 + math.cos(math.pi * step / max(1, total_steps))))
'''
FLAT_INIT = """        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
"""
SCALED_INIT = """        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, (CausalSelfAttention, MLP)):  # residual outputs start small
            out = module.proj if isinstance(module, CausalSelfAttention) else module.down
            nn.init.normal_(out.weight, std=0.02 / math.sqrt(2 * N_LAYER))
"""


def _t(
    key: str,
    surface: str,
    hypothesis: str,
    ops: tuple[Any, ...],
    delta: float,
    effects: tuple[str, ...] = (),
    prior: float = 1.0,
) -> Technique:
    return Technique(key, surface, hypothesis, ops, delta, frozenset(effects), prior)


ARCH = [
    _t(
        "arch.relu2",
        "arch",
        "Squared ReLU in the MLP gives sparser, sharper features than ReLU.",
        (SetKnob("ACTIVATION", "relu2"),),
        -0.04,
        (ADDS_TIME,),
        1.5,
    ),
    _t(
        "arch.rmsnorm",
        "arch",
        "RMSNorm drops the mean-centring of LayerNorm: fewer parameters, same conditioning.",
        (SetKnob("NORM", "rmsnorm"),),
        -0.016,
        (CUTS_BYTES,),
    ),
    _t(
        "arch.tie_weights",
        "arch",
        "Tie the output head to the byte embedding: 16 KB fewer weights to pack.",
        (SetKnob("TIE_WEIGHTS", True),),
        0.012,
        (CUTS_BYTES,),
        0.8,
    ),
    _t(
        "arch.width_96",
        "arch",
        "Widen the residual stream 64 -> 96: more capacity per step (needs cheaper packing).",
        (SetKnob("N_EMBD", 96),),
        -0.10,
        (ADDS_BYTES, ADDS_TIME),
        1.2,
    ),
    _t(
        "arch.width_80",
        "arch",
        "Widen the residual stream to 80 channels for more capacity.",
        (SetKnob("N_EMBD", 80),),
        -0.05,
        (ADDS_BYTES, ADDS_TIME),
    ),
    _t(
        "arch.layers_3",
        "arch",
        "A third transformer block adds depth for longer-range byte patterns.",
        (SetKnob("N_LAYER", 3),),
        -0.03,
        (ADDS_BYTES, ADDS_TIME),
    ),
    _t(
        "arch.mlp_ratio_3",
        "arch",
        "A 3x MLP instead of 4x: a quarter fewer MLP weights and FLOPs.",
        (SetKnob("MLP_RATIO", 3),),
        0.02,
        (CUTS_BYTES, CUTS_TIME),
        0.8,
    ),
    _t(
        "arch.narrow_56",
        "arch",
        "Narrow the model to 56 channels to fit the byte cap and the clock.",
        (SetKnob("N_EMBD", 56),),
        0.05,
        (CUTS_BYTES, CUTS_TIME),
        0.5,
    ),
    _t(
        "arch.heads_2",
        "arch",
        "Two wider attention heads (32 channels each) instead of four narrow ones.",
        (SetKnob("N_HEAD", 2),),
        0.0,
        (),
        0.7,
    ),
    _t(
        "arch.block_128",
        "arch",
        "Double the context to 128 bytes so each prediction sees more text.",
        (SetKnob("BLOCK_SIZE", 128),),
        0.026,
        (ADDS_TIME,),
        0.6,
    ),
    _t(
        "arch.gelu",
        "arch",
        "GELU's smooth gate instead of ReLU.",
        (SetKnob("ACTIVATION", "gelu"),),
        0.17,
        (),
        0.4,
    ),
    _t(
        "arch.scaled_residual_init",
        "arch",
        "Initialise residual output projections at 0.02/sqrt(2L) (GPT-2) so early updates "
        "stay stable.",
        (Replace(FLAT_INIT, SCALED_INIT),),
        -0.01,
        (STRUCTURAL,),
    ),
]

OPT = [
    _t(
        "opt.lr6_warmup_cosine",
        "opt",
        "LR x6 is affordable with a 100-step warmup; cosine decay anneals to a sharp minimum.",
        (ScaleKnob("LR", 6.0, 1e-4, 3e-2), Replace(CONSTANT_LR, WARMUP_COSINE)),
        -0.11,
        (STRUCTURAL,),
        2.0,
    ),
    _t(
        "opt.lr3_cosine",
        "opt",
        "LR x3 with cosine decay: faster early progress, annealed at the end.",
        (ScaleKnob("LR", 3.0, 1e-4, 3e-2), Replace(CONSTANT_LR, COSINE_ONLY)),
        -0.058,
        (STRUCTURAL,),
        1.5,
    ),
    _t(
        "opt.lr_x3",
        "opt",
        "The constant LR is too low for this model size: triple it.",
        (ScaleKnob("LR", 3.0, 1e-4, 3e-2),),
        -0.055,
        (),
        1.2,
    ),
    _t(
        "opt.lr_x2",
        "opt",
        "Double the learning rate: the loss curve is still steep at the end.",
        (ScaleKnob("LR", 2.0, 1e-4, 3e-2),),
        -0.009,
    ),
    _t(
        "opt.lr_x0.5",
        "opt",
        "Halve the learning rate for a smoother descent.",
        (ScaleKnob("LR", 0.5, 1e-4, 3e-2),),
        0.05,
        (),
        0.4,
    ),
    _t(
        "opt.warmup_cosine",
        "opt",
        "Warm up for 100 steps and decay with a cosine, at the same peak LR.",
        (Replace(CONSTANT_LR, WARMUP_COSINE),),
        0.135,
        (STRUCTURAL, STABILISES),  # a warmup is what repairs an early blow-up
        0.6,
    ),
    _t(
        "opt.grad_clip_1",
        "opt",
        "Clip the global gradient norm at 1.0 to tame loss spikes.",
        (SetKnob("GRAD_CLIP", 1.0),),
        0.001,
    ),
    _t(
        "opt.weight_decay_0.1",
        "opt",
        "Decoupled weight decay 0.1 on matrices regularises and keeps weights small.",
        (SetKnob("WEIGHT_DECAY", 0.1),),
        -0.003,
    ),
    _t(
        "opt.beta2_0.95",
        "opt",
        "beta2 0.95 adapts the second moment faster on a short run.",
        (SetKnob("BETAS", (0.9, 0.95)),),
        0.024,
        (),
        0.6,
    ),
]

DATA = [
    _t(
        "data.steps_x1.5",
        "data",
        "50% more steps: the seed stops far from convergence and the clock has room.",
        (ScaleKnob("STEPS", 1.5, 100, 20_000, multiple_of=10),),
        -0.13,
        (ADDS_TIME,),
        1.5,
    ),
    _t(
        "data.steps_x2",
        "data",
        "Twice the steps, spending the idle half of the 45 s budget on more tokens.",
        (ScaleKnob("STEPS", 2.0, 100, 20_000, multiple_of=10),),
        -0.185,
        (ADDS_TIME,),
        1.5,
    ),
    _t(
        "data.batch_x2",
        "data",
        "Double the batch: less gradient noise per step, twice the tokens.",
        (ScaleKnob("BATCH_SIZE", 2.0, 4, 256),),
        -0.168,
        (ADDS_TIME,),
        1.2,
    ),
    _t(
        "data.batch_x1.5",
        "data",
        "A 1.5x batch for a cleaner gradient at modest extra cost.",
        (ScaleKnob("BATCH_SIZE", 1.5, 4, 256),),
        -0.09,
        (ADDS_TIME,),
    ),
    _t(
        "data.steps_x0.75",
        "data",
        "A quarter fewer steps to bring training back under the clock.",
        (ScaleKnob("STEPS", 0.75, 100, 20_000, multiple_of=10),),
        0.05,
        (CUTS_TIME,),
        0.6,
    ),
    _t(
        "data.batch_x0.75",
        "data",
        "A smaller batch to cut time per step under the budget.",
        (ScaleKnob("BATCH_SIZE", 0.75, 4, 256),),
        0.08,
        (CUTS_TIME,),
        0.5,
    ),
    _t(
        "data.batch_x0.5",
        "data",
        "Halve the batch: twice the updates per token.",
        (ScaleKnob("BATCH_SIZE", 0.5, 4, 256),),
        0.36,
        (CUTS_TIME,),
        0.3,
    ),
]

QUANT = [
    _t(
        "quant.int6",
        "quant",
        "Pack weights in 6 bits: 20% fewer bytes for almost no loss.",
        (SetKnob("QUANT_BITS", 6),),
        0.006,
        (CUTS_BYTES,),
        1.2,
    ),
    _t(
        "quant.int5",
        "quant",
        "5-bit weights: a third of the bytes freed at a small quality cost.",
        (SetKnob("QUANT_BITS", 5),),
        0.03,
        (CUTS_BYTES,),
    ),
    _t(
        "quant.int4",
        "quant",
        "4-bit weights halve the artifact, buying width elsewhere.",
        (SetKnob("QUANT_BITS", 4),),
        0.097,
        (CUTS_BYTES,),
    ),
    _t(
        "quant.lzma",
        "quant",
        "LZMA instead of zlib squeezes the packed blob further.",
        (SetKnob("COMPRESSOR", "lzma"),),
        0.0,
        (CUTS_BYTES,),
        1.2,
    ),
    _t(
        "quant.fp16_small",
        "quant",
        "Keep more small tensors in fp16 (threshold x4) for precision where it is cheap.",
        (ScaleKnob("QUANT_MIN_NUMEL", 4.0, 256, 1 << 20),),
        -0.005,
        (ADDS_BYTES,),
        0.7,
    ),
    _t(
        "quant.per_tensor_scale",
        "quant",
        "One scale per tensor instead of per row saves the scale bytes.",
        (SetKnob("PER_ROW_SCALES", False),),
        0.03,
        (CUTS_BYTES,),
        0.5,
    ),
]

CATALOGUE: list[Technique] = [*ARCH, *OPT, *DATA, *QUANT]
