"""core-cpu techniques per surface: known edits of the seed recipe, as real source edits.

Expected deltas are CORE changes measured for each edit on the seed recipe (seed 0,
one thread, pinned to one core; the seed scored 0.1373). Seeds of the seed recipe
spread with sd 0.021, so a single number is only a prior; sys.sdpa_spend and the
batch, width and depth edits are two-seed means, and opt.lr_x3 (-0.03 on the seed,
+0.09 on a 2.5x-step run) is their middle. Pure `sys` edits train the same function
(CORE bit-identical) in less time: SDPA 1.6x faster, the cached mask 1.4x, foreach
AdamW and sparse logging about 1.1x; arch.block_64 halves the step. Effects say what an
edit does to the 35 s train cap, which the seed uses 40% of: 3x the steps overrun
until a `sys` or `arch` edit frees time, as in the paper's NanoChat run.
"""

from __future__ import annotations

from agents.edits import Op, Replace, ScaleKnob, SetKnob
from agents.techniques import ADDS_TIME, CUTS_TIME, STRUCTURAL, Technique

MANUAL_ATTENTION = """    t = q.shape[-2]
    mask = torch.tril(torch.ones(t, t, device=q.device))
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(mask == 0, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v
"""
SDPA = """    return F.scaled_dot_product_attention(q, k, v, is_causal=True)
"""
CACHED_MASK = """    t = q.shape[-2]
    if t not in MASKS:  # built once per length instead of every call
        MASKS[t] = torch.full((t, t), float("-inf")).triu(1)
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    return torch.softmax(scores + MASKS[t], dim=-1) @ v


MASKS: dict = {}
"""
CONSTANT_LR = '''    """The learning rate for this step: constant, no warmup, no decay."""
    return LR
'''
COSINE = '''    """Cosine decay from LR to a tenth of it over the run."""
    return LR * (0.1 + 0.45 * (1 + math.cos(math.pi * step / max(1, total_steps))))
'''
WARMUP_COSINE = '''    """Linear warmup over the first 5% of steps, then cosine decay to zero."""
    warmup = max(1, total_steps // 20)
    if step < warmup:
        return LR * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return LR * 0.5 * (1 + math.cos(math.pi * progress))
'''
WARMDOWN = '''    """Constant, then linear decay to zero over the last 40% (nanochat's shape)."""
    start = int(0.6 * total_steps)
    return LR if step < start else LR * (total_steps - step) / (total_steps - start)
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
STEPS_RANGE = (50, 20_000)


def _t(key: str, hypothesis: str, ops: tuple[Op, ...], delta: float,
       effects: tuple[str, ...] = (), prior: float = 1.0) -> Technique:  # fmt: skip
    """A technique whose surface is its key's prefix (`sys.sdpa` edits `sys`)."""
    surface = key.split(".")[0]
    return Technique(key, surface, hypothesis, ops, delta, frozenset(effects), prior)


def _steps(factor: float) -> ScaleKnob:
    return ScaleKnob("STEPS", factor, *STEPS_RANGE, multiple_of=10)


# fmt: off
SYS = [
    _t("sys.sdpa", "Fused SDPA computes the hand-written masked attention much faster.",
       (Replace(MANUAL_ATTENTION, SDPA),), 0.0, (CUTS_TIME, STRUCTURAL), 1.2),
    _t("sys.sdpa_spend", "Fused SDPA frees 40% of each step: spend it on 2.5x the steps.",
       (Replace(MANUAL_ATTENTION, SDPA), _steps(2.5)), 0.044, (STRUCTURAL,), 2.0),
    _t("sys.cached_mask", "Build the causal mask once per length, as an additive -inf matrix.",
       (Replace(MANUAL_ATTENTION, CACHED_MASK),), 0.0, (CUTS_TIME, STRUCTURAL), 0.8),
    _t("sys.adamw_foreach", "Foreach AdamW batches the update across tensors instead of a loop.",
       (SetKnob("ADAMW_FOREACH", True),), 0.0, (CUTS_TIME,), 0.8),
    _t("sys.log_every_25", "Read the loss back every 25 steps instead of every step.",
       (SetKnob("LOG_EVERY", 25),), 0.0, (CUTS_TIME,), 0.6),
]

SCHED = [
    _t("sched.warmup_cosine", "A short warmup, then cosine decay to zero: a sharper final minimum.",
       (Replace(CONSTANT_LR, WARMUP_COSINE),), -0.017, (STRUCTURAL,), 1.5),
    _t("sched.cosine", "Cosine decay to a tenth of the LR over the run.",
       (Replace(CONSTANT_LR, COSINE),), -0.018, (STRUCTURAL,)),
    _t("sched.warmdown", "Hold the LR, then decay linearly to zero over the last 40% (nanochat).",
       (Replace(CONSTANT_LR, WARMDOWN),), 0.005, (STRUCTURAL,), 1.2),
    _t("sched.steps_x1.25", "A quarter more steps: the loss is still falling steeply at the end.",
       (_steps(1.25),), -0.038, (ADDS_TIME,)),
    _t("sched.steps_x1.6", "1.6x the steps: more tokens, if the clock allows.",
       (_steps(1.6),), -0.01, (ADDS_TIME,), 1.2),
    _t("sched.steps_x2", "Twice the horizon: more tokens for a data-starved model.",
       (_steps(2.0),), -0.02, (ADDS_TIME,), 1.2),
    _t("sched.steps_x3", "Three times the horizon: the biggest lever, if the clock allows.",
       (_steps(3.0),), 0.072, (ADDS_TIME,), 1.2),
    _t("sched.steps_x0.8", "A fifth fewer steps to bring training back under the clock.",
       (_steps(0.8),), -0.018, (CUTS_TIME,), 0.5),
]

OPT = [
    _t("opt.lr3_warmup_cosine", "LR x3 is affordable with a short warmup; cosine decay anneals it.",
       (ScaleKnob("LR", 3.0, 1e-4, 3e-2), Replace(CONSTANT_LR, WARMUP_COSINE)), -0.006,
       (STRUCTURAL,), 2.0),
    _t("opt.lr_x3", "The constant LR of 1e-3 is too low for a model this small: triple it.",
       (ScaleKnob("LR", 3.0, 1e-4, 3e-2),), 0.02, (), 1.5),
    _t("opt.lr_x2", "Double the learning rate: the loss curve is still steep at the end.",
       (ScaleKnob("LR", 2.0, 1e-4, 3e-2),), -0.011, (), 1.2),
    _t("opt.lr_x0.5", "Halve the learning rate for a smoother descent.",
       (ScaleKnob("LR", 0.5, 1e-4, 3e-2),), -0.001, (), 0.4),
    _t("opt.beta2_0.95", "beta2 0.95 adapts the second moment faster on a short run.",
       (SetKnob("BETAS", (0.9, 0.95)),), 0.005, (), 0.8),
    _t("opt.weight_decay_0.1", "Decoupled weight decay 0.1 on matrices keeps the weights small.",
       (SetKnob("WEIGHT_DECAY", 0.1),), 0.0, (), 0.7),
    _t("opt.grad_clip_1", "Clip the global gradient norm at 1.0 to tame loss spikes.",
       (SetKnob("GRAD_CLIP", 1.0),), 0.003, (ADDS_TIME,), 0.6),
]

DATA = [
    _t("data.batch_x2", "Twice the sequences per step: a cleaner gradient, twice the tokens.",
       (ScaleKnob("BATCH_SIZE", 2.0, 2, 256),), -0.021, (ADDS_TIME,), 1.2),
    _t("data.batch_x1.5", "A 1.5x batch for more tokens at a modest cost per step.",
       (ScaleKnob("BATCH_SIZE", 1.5, 2, 256),), 0.024, (ADDS_TIME,)),
    _t("data.batch_x0.75", "A smaller batch to cut time per step under the cap.",
       (ScaleKnob("BATCH_SIZE", 0.75, 2, 256),), 0.004, (CUTS_TIME,), 0.5),
    _t("data.batch_x0.5", "Halve the batch: twice the updates per token.",
       (ScaleKnob("BATCH_SIZE", 0.5, 2, 256),), 0.009, (CUTS_TIME,), 0.3),
]

ARCH = [
    _t("arch.layers_3", "A third transformer block adds depth for longer-range byte patterns.",
       (SetKnob("N_LAYER", 3),), 0.003, (ADDS_TIME,)),
    _t("arch.width_96", "Widen the residual stream 64 -> 96: more capacity per step.",
       (SetKnob("N_EMBD", 96),), 0.005, (ADDS_TIME,)),
    _t("arch.block_64", "Halve the context to 64 bytes: attention costs a quarter as much.",
       (SetKnob("BLOCK_SIZE", 64),), -0.026, (CUTS_TIME,), 0.8),
    _t("arch.relu2", "Squared ReLU in the MLP gives sparser, sharper features than GELU.",
       (SetKnob("ACTIVATION", "relu2"),), 0.006),
    _t("arch.rmsnorm", "RMSNorm drops LayerNorm's mean-centring: same conditioning, less work.",
       (SetKnob("NORM", "rmsnorm"),), -0.002),
    _t("arch.tie_weights", "Tie the head to the byte embedding: fewer parameters to learn.",
       (SetKnob("TIE_WEIGHTS", True),), -0.023, (), 0.8),
    _t("arch.mlp_ratio_2", "A 2x MLP instead of 4x: half the MLP FLOPs for a little capacity.",
       (SetKnob("MLP_RATIO", 2),), -0.002, (CUTS_TIME,), 0.6),
    _t("arch.scaled_residual_init", "Residual projections start at 0.02/sqrt(2L) (GPT-2).",
       (Replace(FLAT_INIT, SCALED_INIT),), -0.009, (STRUCTURAL,)),
]

# fmt: on

CATALOGUE: list[Technique] = [*SYS, *SCHED, *OPT, *DATA, *ARCH]
