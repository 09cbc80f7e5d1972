"""The closed vocabularies of the loop: failure labels, verdicts, statuses, endings."""

from enum import StrEnum

BASELINE = "baseline"  # the specialist name of the seed recipe's runs


class FailureLabel(StrEnum):
    """The paper's failure taxonomy; values are stable codes stored in events."""

    CRASH = "crash"
    PREFLIGHT_CRASH = "preflight_crash"
    SIZE_BLOCKED = "size_blocked"
    TRAIN_BUDGET_OVERRUN = "train_budget_overrun"
    EVAL_BUDGET_OVERRUN = "eval_budget_overrun"
    DISQUALIFIED = "disqualified"  # accuracy-gate miss or an illegal model
    HARNESS_ABORT = "harness_abort"  # infrastructure; never counted against an idea


class Verdict(StrEnum):
    KEEP = "keep"
    DISCARD = "discard"


class TrialStatus(StrEnum):
    PROPOSED = "proposed"
    EDITED = "edited"
    LAUNCHED = "launched"
    SCORED = "scored"
    FAILED = "failed"
    JUDGED = "judged"


class FinishReason(StrEnum):
    TRIAL_BUDGET = "trial_budget"
    DEADLINE = "deadline"
    NO_IMPROVEMENT = "no_improvement"
    INTERRUPTED = "interrupted"
    COST_CAP = "cost_cap"
    BASELINE_FAILED = "baseline_failed"
    NO_PROPOSALS = "no_proposals"  # LLM sessions kept ending without a trial
    HARNESS_FAULTS = "harness_faults"  # trial after trial aborted: an API or machine is down
    EXHAUSTED = "exhausted"  # every specialist yielded its turn: no untried idea is left


TERMINAL_STATUSES = frozenset({TrialStatus.FAILED, TrialStatus.JUDGED})
