"""airbench-cpu techniques per surface: known edits of the seed recipe, as real source edits.

The metric is the harness's train seconds (lower is better) under an accuracy gate the
seed only just clears, so most edits trade time against accuracy: cutting epochs, width
or steps is fast and risks the gate; adding accuracy (augmentation, smoothing, EMA,
test-time shifts) only pays when it is spent on a cut in the same edit. Expected deltas
are the CPU-second changes of the training loop measured on the seed recipe (mean of
seeds 0-4, one thread, in process, on a loaded 2-core machine: priors, not promises).
Measured mean test accuracy over the same seeds, against the 0.9775 gate (seed 0.9782):
clear: no_train_log and epochs_minus_1 0.9782, batch_x2_lr_x2 0.9776, lr_x2_fewer_epochs
0.9796, width_24 0.9796, kernel_3 0.9780, shift_fewer_epochs 0.9780, noise_fewer_epochs
0.9790, ema_fewer_epochs 0.9778; miss: epochs_x0.75 0.9766, epochs_x0.5 0.9722,
width_16 0.9736, depth_2 0.9748, tta_fewer_epochs 0.9766, smoothing_fewer_epochs
0.9764, dropout_fewer_epochs 0.9762. Accuracy-only edits: shift_2 0.9838, smoothing
0.1/0.2 0.9824/0.9828, dropout 0.9808, lr_x1.5 0.9802, tta and ema 0.9782/0.9778.
"""

from __future__ import annotations

from agents.edits import Op, ScaleKnob, SetKnob
from agents.techniques import ADDS_TIME, CUTS_TIME, Technique

EPOCHS_RANGE = (1, 100)


def _t(key: str, hypothesis: str, ops: tuple[Op, ...], delta: float,
       effects: tuple[str, ...] = (), prior: float = 1.0) -> Technique:  # fmt: skip
    """A technique whose surface is its key's prefix (`opt.lr_x2` edits `opt`)."""
    surface = key.split(".")[0]
    return Technique(key, surface, hypothesis, ops, delta, frozenset(effects), prior)


def _epochs(factor: float) -> ScaleKnob:
    return ScaleKnob("EPOCHS", factor, *EPOCHS_RANGE)


# fmt: off
OPT = [
    _t("opt.no_train_log", "Drop the logging-only pass over the train set after every epoch.",
       (SetKnob("LOG_TRAIN_ACCURACY", False),), -1.1, (CUTS_TIME,), 1.5),
    _t("opt.epochs_x0.75", "A quarter fewer epochs: the train loss is near zero before the end.",
       (_epochs(0.75),), -0.76, (CUTS_TIME,), 1.2),
    _t("opt.epochs_x0.5", "Half the epochs, relying on the linear decay to finish the job.",
       (_epochs(0.5),), -1.6, (CUTS_TIME,)),
    _t("opt.epochs_minus_1", "One epoch fewer: a small cut that should keep the gate.",
       (_epochs(0.875),), -0.4, (CUTS_TIME,), 1.2),
    _t("opt.batch_x2_lr_x2", "Batch 128 at twice the LR: half the steps, better vectorised.",
       (ScaleKnob("BATCH_SIZE", 2.0, 8, 1024), ScaleKnob("LR", 2.0, 1e-3, 1.0)), -0.35,
       (CUTS_TIME,)),
    _t("opt.lr_x2_fewer_epochs", "Twice the LR converges sooner: a quarter fewer epochs.",
       (ScaleKnob("LR", 2.0, 1e-3, 1.0), _epochs(0.75)), -1.0, (CUTS_TIME,)),
    _t("opt.lr_x1.5", "A 1.5x higher peak LR for a faster descent.",
       (ScaleKnob("LR", 1.5, 1e-3, 1.0),), 0.0, (), 0.6),
    _t("opt.epochs_x1.25", "A quarter more epochs buys accuracy margin over the gate.",
       (_epochs(1.25),), 1.2, (ADDS_TIME,), 0.3),
]

ARCH = [
    _t("arch.width_24", "24 channels: 40% fewer conv FLOPs, if the step is not all overhead.",
       (SetKnob("WIDTH", 24),), 0.0, (), 1.2),
    _t("arch.width_16", "16 channels: a quarter of the conv FLOPs, if the accuracy holds.",
       (SetKnob("WIDTH", 16),), -1.5, (CUTS_TIME,)),
    _t("arch.depth_2", "Two conv blocks instead of three: the 40-sample input is short.",
       (SetKnob("DEPTH", 2),), -0.1, (CUTS_TIME,)),
    _t("arch.kernel_3", "Kernel 3 instead of 5: 40% fewer FLOPs per conv.",
       (SetKnob("KERNEL", 3),), -0.1, (CUTS_TIME,)),
    _t("arch.tta_fewer_epochs", "Test-time averaging over +-1 shifts; spend it on fewer epochs.",
       (SetKnob("TTA_SHIFTS", 1), _epochs(0.75)), -0.6, (CUTS_TIME,), 1.2),
    _t("arch.tta", "Test-time augmentation over +-1 shifts: accuracy at no training cost.",
       (SetKnob("TTA_SHIFTS", 1),), 0.0, (), 0.5),
]

AUG = [
    _t("aug.shift_fewer_epochs", "Random +-2 shifts make each epoch worth more: a quarter fewer.",
       (SetKnob("SHIFT", 2), _epochs(0.75)), -0.8, (CUTS_TIME,), 1.2),
    _t("aug.shift_2", "Random circular shifts of up to 2 samples teach translation invariance.",
       (SetKnob("SHIFT", 2),), 0.0, (), 0.5),
    _t("aug.noise_fewer_epochs", "Gaussian input noise 0.05 regularises; spend it on fewer epochs.",
       (SetKnob("NOISE", 0.05), _epochs(0.75)), -1.2, (CUTS_TIME,)),
]

LOSS = [
    _t("loss.smoothing_fewer_epochs", "Label smoothing 0.1, spent on a quarter fewer epochs.",
       (SetKnob("LABEL_SMOOTHING", 0.1), _epochs(0.75)), -1.1, (CUTS_TIME,), 1.2),
    _t("loss.smoothing_0.1", "Label smoothing 0.1 keeps the net from overconfident fits.",
       (SetKnob("LABEL_SMOOTHING", 0.1),), 0.0, (), 0.5),
    _t("loss.smoothing_0.2", "Stronger label smoothing 0.2.",
       (SetKnob("LABEL_SMOOTHING", 0.2),), 0.0, (), 0.4),
]

REG = [
    _t("reg.ema_fewer_epochs", "Evaluate an EMA of the weights (0.98); a quarter fewer epochs.",
       (SetKnob("EMA_DECAY", 0.98), _epochs(0.75)), -0.4, (CUTS_TIME,), 1.2),
    _t("reg.ema_0.98", "An EMA of the weights smooths the last noisy SGD steps.",
       (SetKnob("EMA_DECAY", 0.98),), 0.45, (ADDS_TIME,), 0.5),
    _t("reg.dropout_fewer_epochs", "Dropout 0.1 before the head; a quarter fewer epochs.",
       (SetKnob("DROPOUT", 0.1), _epochs(0.75)), -0.8, (CUTS_TIME,)),
    _t("reg.dropout_0.1", "Dropout 0.1 before the classifier head against overfitting.",
       (SetKnob("DROPOUT", 0.1),), 0.0, (), 0.5),
]
# fmt: on

CATALOGUE: list[Technique] = [*OPT, *ARCH, *AUG, *LOSS, *REG]
