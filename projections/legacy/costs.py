"""The cost read model: LLM sessions, one row per model exchange, and the context texts
agents saw, folded from the agent events (the `costs` view joins them to trials).

Handlers queue SQL on the batch rather than editing loaded rows: a session's events may
span two batches, and keyed inserts and updates need nothing loaded first. A trial's id is
not copied onto its exchanges; the `costs` view finds it through `trials.session_id`, so it
appears as soon as the trial is projected and can never go stale.
"""

from __future__ import annotations

from typing import Any

from projections.legacy.fold import Batch, Meta, handles


@handles("AgentSessionStarted")
def _session_started(batch: Batch, e: dict[str, Any], m: Meta) -> None:
    batch.statements.append(
        (
            "INSERT INTO agent_sessions (session_id, search_id, seq, specialist, model, backend,"
            " started_position) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                m.aggregate_id,
                e["search_id"],
                e["sequence"],
                e["specialist"],
                e["model"],
                e["backend"],
                m.position,
            ],
        )
    )


@handles("ContextStored")
def _context(batch: Batch, e: dict[str, Any], m: Meta) -> None:
    # Stored once per search; two searches may show the same text.
    batch.statements.append(
        ("INSERT INTO contexts VALUES (?, ?) ON CONFLICT DO NOTHING", [e["sha256"], e["text"]])
    )


def _exchange(batch: Batch, e: dict[str, Any], m: Meta, usage: dict[str, int], error: str) -> None:
    batch.statements.append(
        (
            "INSERT INTO exchanges VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                m.aggregate_id,
                e["turn"],
                e["model"],
                e["attempts"],
                usage.get("input", 0),
                usage.get("output", 0),
                usage.get("cache_read", 0),
                usage.get("cache_write", 0),
                e["usd"],
                e.get("price_table", ""),
                e["context_sha256"],
                error,
                m.position,
            ],
        )
    )


@handles("AgentExchanged")
def _exchanged(batch: Batch, e: dict[str, Any], m: Meta) -> None:
    _exchange(batch, e, m, e["usage"], "")


@handles("AgentCallFailed")
def _call_failed(batch: Batch, e: dict[str, Any], m: Meta) -> None:
    _exchange(batch, e, m, {}, e["error"])


@handles("AgentSessionEnded")
def _session_ended(batch: Batch, e: dict[str, Any], m: Meta) -> None:
    batch.statements.append(
        (
            "UPDATE agent_sessions SET outcome = ?, turns = ?, usd = ?, detail = ?"
            " WHERE session_id = ?",
            [e["outcome"], e["turns"], e["usd"], e["detail"], m.aggregate_id],
        )
    )
