"""The DuckDB read model: tables, views, and a content hash used to prove rebuilds equal.

Every table is derived from the ledger alone (projections/fold.py). Rows never read the
clock: times come from event timestamps, and every ORDER BY has a unique tie-break.
Long texts (event bodies, diffs, logs, views, prompts, recipes) are stored with zstd:
docs/BENCHMARKS.md measures it against DuckDB's default and no compression.
"""

from __future__ import annotations

import hashlib

import duckdb

from projections.structs import catalogue, view_ddl

ZSTD = "USING COMPRESSION zstd"

TRIAL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("trial_id", "UUID PRIMARY KEY"),
    ("search_id", "UUID"),
    ("seq", "INTEGER"),
    ("parent_id", "UUID"),
    ("parent_seq", "INTEGER"),
    ("depth", "INTEGER"),
    ("specialist", "VARCHAR"),
    ("agent", "VARCHAR"),
    ("surfaces", "VARCHAR[]"),
    ("surfaces_touched", "VARCHAR[]"),
    ("idea", "VARCHAR"),
    ("hypothesis", "VARCHAR"),
    ("expected_delta", "DOUBLE"),
    (
        "status",
        "VARCHAR",
    ),  # proposed, edited, launched, scored, keep, discard, or a label
    ("label", "VARCHAR"),
    ("verdict", "VARCHAR"),
    ("score", "DOUBLE"),
    ("delta", "DOUBLE"),
    ("best_before", "DOUBLE"),
    ("judge_rule", "VARCHAR"),
    ("judge_numbers", "JSON"),
    ("reason", "VARCHAR"),
    ("log_excerpt", f"VARCHAR {ZSTD}"),
    ("evidence", "JSON"),
    ("measurements", "JSON"),
    ("artifact_bytes", "DOUBLE"),
    ("train_s", "DOUBLE"),
    ("eval_s", "DOUBLE"),
    ("cpu_s", "DOUBLE"),
    ("peak_rss_mb", "DOUBLE"),
    ("wall_s", "DOUBLE"),
    ("diff", f"VARCHAR {ZSTD}"),
    ("diff_lines", "INTEGER"),
    ("parent_sha256", "VARCHAR"),
    ("child_sha256", "VARCHAR"),
    ("lineage_view_sha256", "VARCHAR"),
    ("session_id", "UUID"),
    ("runner", "VARCHAR"),
    ("host", "VARCHAR"),
    ("seeds", "INTEGER[]"),
    ("threads", "INTEGER"),
    ("sandbox", "VARCHAR"),
    ("rules_version", "VARCHAR"),
    ("proposed_at", "TIMESTAMPTZ"),
    ("launched_at", "TIMESTAMPTZ"),
    ("finished_at", "TIMESTAMPTZ"),
    ("finished_position", "BIGINT"),  # ledger position of the terminal event
    ("progress_samples", "INTEGER"),
    ("last_loss", "DOUBLE"),
    ("reproduced_score", "DOUBLE"),
    ("reproduced_identical", "BOOLEAN"),
    ("judge_test", "JSON"),  # the paired rule's test (TrialJudged.test), null otherwise
)

SEARCH_COLUMNS: tuple[tuple[str, str], ...] = (
    ("search_id", "UUID PRIMARY KEY"),
    ("ordinal", "INTEGER"),
    ("task", "VARCHAR"),
    ("task_sha256", "VARCHAR"),
    ("rules_version", "VARCHAR"),
    ("metric", "VARCHAR"),
    ("lower_is_better", "BOOLEAN"),
    ("seed", "INTEGER"),
    ("policy", "VARCHAR"),
    ("agent", "VARCHAR"),
    ("lineage", "BOOLEAN"),
    ("roster", "VARCHAR[]"),
    ("keep_rule", "JSON"),
    ("config", "JSON"),
    ("environment", "JSON"),
    ("baseline_trial", "UUID"),
    ("noise_sigma", "DOUBLE"),
    ("noise_floor", "DOUBLE"),
    ("noise_scores", "DOUBLE[]"),
    ("started_at", "TIMESTAMPTZ"),
    ("finished_at", "TIMESTAMPTZ"),
    ("finish_reason", "VARCHAR"),
    ("best_trial", "UUID"),
    ("best_score", "DOUBLE"),
    ("trials", "INTEGER"),
    ("resumes", "INTEGER"),
    ("yields", "INTEGER"),  # turns specialists gave up, out of ideas (SpecialistYielded)
    # The final test (FinalTested, whole): held, not_held, undecided, no_keep, skipped;
    # "launched" while it runs or after a crash cut it off; null before 2026-12-04.
    ("test_status", "VARCHAR"),
    ("final_test", "JSON"),
)


def _table(name: str, columns: tuple[tuple[str, str], ...]) -> str:
    body = ", ".join(f"{col} {kind}" for col, kind in columns)
    return f"CREATE TABLE IF NOT EXISTS {name} ({body})"


DDL: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS tracking (app VARCHAR PRIMARY KEY, position BIGINT NOT NULL)",
    # Enough of every envelope (topic, class version, stream, prev) to re-check its hash:
    # payload is the stored body, byte for byte. Insert-only tables carry no key:
    # positions are unique by construction, and an index costs on every insert.
    "CREATE TABLE IF NOT EXISTS events (position BIGINT, search_id UUID,"
    f" aggregate_id UUID, version INTEGER, type VARCHAR, time TIMESTAMPTZ, payload JSON {ZSTD},"
    " hash VARCHAR, prev_hash VARCHAR, topic VARCHAR, class_version INTEGER)",
    # The bodies of events stored at an older class version, upcast to the current one
    # (domain/events.py): what the fold and the typed `ev_*` views read for those events.
    f"CREATE TABLE IF NOT EXISTS upcasts (position BIGINT PRIMARY KEY, payload JSON {ZSTD})",
    _table("searches", SEARCH_COLUMNS),
    _table("trials", TRIAL_COLUMNS),
    "CREATE TABLE IF NOT EXISTS lineage (trial_id UUID, search_id UUID,"
    " depth INTEGER, path VARCHAR, ancestors UUID[])",
    f"CREATE TABLE IF NOT EXISTS recipes (sha256 VARCHAR PRIMARY KEY, files JSON {ZSTD})",
    f"CREATE TABLE IF NOT EXISTS views (sha256 VARCHAR PRIMARY KEY, text VARCHAR {ZSTD})",
    # One row per TrainingProgressed batch (lists, not a row per sample: 10x fewer rows);
    # `SELECT unnest(step), unnest(loss) FROM progress` gives the samples.
    "CREATE TABLE IF NOT EXISTS progress (position BIGINT, trial_id UUID,"
    " seed INTEGER, step INTEGER[], loss DOUBLE[], elapsed_s DOUBLE[])",
    # LLM sessions, their model exchanges and the contexts agents saw.
    "CREATE TABLE IF NOT EXISTS agent_sessions (session_id UUID PRIMARY KEY, search_id UUID,"
    " seq INTEGER, specialist VARCHAR, model VARCHAR, backend VARCHAR, outcome VARCHAR,"
    " turns INTEGER, usd DOUBLE, detail VARCHAR, started_position BIGINT)",
    "CREATE TABLE IF NOT EXISTS exchanges (session_id UUID, turn INTEGER, model VARCHAR,"
    " attempts INTEGER, input_tokens BIGINT, output_tokens BIGINT, cache_read_tokens BIGINT,"
    " cache_write_tokens BIGINT, usd DOUBLE, price_table VARCHAR, context_sha256 VARCHAR,"
    " error VARCHAR, position BIGINT, PRIMARY KEY (session_id, turn))",
    f"CREATE TABLE IF NOT EXISTS contexts (sha256 VARCHAR PRIMARY KEY, text VARCHAR {ZSTD})",
    # One row per exchange with its session's search, trial number and specialist; trial_id
    # is the trial the session produced (NULL when it submitted nothing).
    "CREATE OR REPLACE VIEW costs AS SELECT s.search_id, x.session_id, s.seq, s.specialist,"
    " x.model, x.turn, x.attempts, x.input_tokens, x.output_tokens, x.cache_read_tokens,"
    " x.cache_write_tokens, x.usd, x.price_table, t.trial_id, x.context_sha256, x.error"
    " FROM exchanges x JOIN agent_sessions s USING (session_id)"
    " LEFT JOIN trials t ON t.session_id = x.session_id",
    # Valid trials ranked within their search; the baseline (seq 0) included.
    "CREATE OR REPLACE VIEW leaderboard AS SELECT t.search_id, t.seq, t.trial_id,"
    " t.specialist, t.status, t.score, t.delta, t.artifact_bytes, t.train_s, t.hypothesis,"
    " row_number() OVER (PARTITION BY t.search_id ORDER BY CASE WHEN s.lower_is_better"
    " THEN t.score ELSE -t.score END, t.seq) AS rank"
    " FROM trials t JOIN searches s USING (search_id)"
    " WHERE t.status IN ('keep', 'discard') AND t.score IS NOT NULL",
)

# Tables in content-hash order, with the key that orders their rows.
HASHED_TABLES: tuple[tuple[str, str], ...] = (
    ("events", "position"),
    ("upcasts", "position"),
    ("searches", "search_id"),
    ("trials", "trial_id"),
    ("lineage", "trial_id"),
    ("recipes", "sha256"),
    ("views", "sha256"),
    ("progress", "position"),
    ("agent_sessions", "session_id"),
    ("exchanges", "session_id, turn"),
    ("contexts", "sha256"),
)


def create(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables if needed, and (re)create the typed event views from the domain's
    current catalogue, so a new event type or field has its view and columns."""
    for statement in DDL:
        con.execute(statement)
    for kind in catalogue().values():
        con.execute(view_ddl(kind))


def content_hash(
    con: duckdb.DuckDBPyConnection, tables: tuple[tuple[str, str], ...] = HASHED_TABLES
) -> str:
    """SHA-256 over every row of every projection table, in key order."""
    digest = hashlib.sha256()
    for table, key in tables:
        digest.update(table.encode())
        for row in con.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall():  # noqa: S608
            digest.update(repr(row).encode())
    return digest.hexdigest()
