"""The rest of the read model in SQL: searches, LLM sessions and their exchanges, the texts
agents saw (lineage views and contexts), and training progress.

Like fold_trials.py, each statement reads the `p_<event>` tables of one fold step. Rows of
insert-only tables come from the step's own events (`new`); `searches` and
`agent_sessions` are re-derived from every event of the searches and sessions the step
touches. A session's cost rows are joined to its trial by `trials.session_id` in the
`costs` view, so they never go stale.
"""

from __future__ import annotations

SEARCH_EVENTS = frozenset(
    {
        "SearchStarted",
        "NoiseFloorMeasured",
        "SearchResumed",
        "SearchFinished",
        "FinalTestLaunched",
        "FinalTested",
        "SpecialistYielded",
    }
)
SESSION_EVENTS = frozenset({"AgentSessionStarted", "AgentSessionEnded"})

# Texts are stored once, by content hash; the first event that showed one is its source.
VIEWS = """
INSERT INTO views
SELECT e.lineage_view_sha256, arg_min(e.lineage_view, position) FROM p_trial_proposed
WHERE new AND e.lineage_view_sha256 NOT IN (SELECT sha256 FROM views)
GROUP BY ALL ORDER BY ALL
"""

CONTEXTS = """
INSERT INTO contexts
SELECT e.sha256, arg_min(e.text, position) FROM p_context_stored
WHERE new AND e.sha256 NOT IN (SELECT sha256 FROM contexts)
GROUP BY ALL ORDER BY ALL
"""

# One row per TrainingProgressed batch, the samples as parallel lists.
PROGRESS = """
INSERT INTO progress
SELECT position, aggregate_id, e.seed, list_transform(e.samples, lambda x: x.step),
       list_transform(e.samples, lambda x: x.loss),
       list_transform(e.samples, lambda x: x.elapsed_s)
FROM p_training_progressed WHERE new ORDER BY position
"""

# A failed call has no usage and no price table.
EXCHANGES = """
INSERT INTO exchanges BY NAME
SELECT aggregate_id AS session_id, e.turn AS turn, e.model AS model, e.attempts AS attempts,
       coalesce(CAST(e.usage->>'input' AS BIGINT), 0) AS input_tokens,
       coalesce(CAST(e.usage->>'output' AS BIGINT), 0) AS output_tokens,
       coalesce(CAST(e.usage->>'cache_read' AS BIGINT), 0) AS cache_read_tokens,
       coalesce(CAST(e.usage->>'cache_write' AS BIGINT), 0) AS cache_write_tokens,
       e.usd AS usd, e.price_table AS price_table, e.context_sha256 AS context_sha256,
       '' AS error, position
FROM p_agent_exchanged WHERE new
UNION ALL
SELECT aggregate_id, e.turn, e.model, e.attempts, 0, 0, 0, 0, e.usd, '', e.context_sha256,
       e.error, position
FROM p_agent_call_failed WHERE new
ORDER BY position
"""

SEARCHES = (
    "DELETE FROM searches WHERE search_id IN (SELECT aggregate_id FROM p_search_started)",
    """
INSERT INTO searches BY NAME
WITH
noise AS (SELECT aggregate_id AS id, arg_max(e, position) AS e FROM p_noise_floor_measured
          GROUP BY ALL),
resumed AS (SELECT aggregate_id AS id, count(*) AS n FROM p_search_resumed GROUP BY ALL),
yielded AS (SELECT aggregate_id AS id, count(*) AS n FROM p_specialist_yielded GROUP BY ALL),
finished AS (SELECT aggregate_id AS id, arg_max(e, position) AS e,
                    arg_max(time, position) AS time FROM p_search_finished GROUP BY ALL),
testing AS (SELECT DISTINCT aggregate_id AS id FROM p_final_test_launched),
tested AS (SELECT aggregate_id AS id, arg_max(e, position) AS e FROM p_final_tested
           GROUP BY ALL)
SELECT
    s.aggregate_id AS search_id, s.e.ordinal AS ordinal, s.e.task_id AS task,
    s.e.task_sha256 AS task_sha256, s.e.rules_version AS rules_version, s.e.metric AS metric,
    s.e.lower_is_better AS lower_is_better, s.e.seed AS seed, s.e.policy AS policy,
    s.e.agent AS agent, s.e.lineage AS lineage, s.e.roster AS roster,
    to_json(s.e.keep_rule) AS keep_rule, s.e.config AS config,
    s.e.environment AS environment, n.e.baseline_trial_id AS baseline_trial,
    n.e.noise.sigma AS noise_sigma, n.e.noise.floor AS noise_floor,
    n.e.noise.scores AS noise_scores, s.time AS started_at, f.time AS finished_at,
    f.e.reason AS finish_reason, f.e.best_trial_id AS best_trial,
    f.e.best_score AS best_score, coalesce(f.e.trials, 0) AS trials,
    coalesce(r.n, 0) AS resumes, coalesce(y.n, 0) AS yields,
    coalesce(ft.e.status, CASE WHEN fl.id IS NOT NULL THEN 'launched' END) AS test_status,
    to_json(ft.e) AS final_test
FROM p_search_started s
LEFT JOIN noise n ON n.id = s.aggregate_id
LEFT JOIN resumed r ON r.id = s.aggregate_id
LEFT JOIN yielded y ON y.id = s.aggregate_id
LEFT JOIN finished f ON f.id = s.aggregate_id
LEFT JOIN testing fl ON fl.id = s.aggregate_id
LEFT JOIN tested ft ON ft.id = s.aggregate_id
ORDER BY s.position
""",
)

SESSIONS = (
    "DELETE FROM agent_sessions WHERE session_id IN"
    " (SELECT aggregate_id FROM p_agent_session_started)",
    """
INSERT INTO agent_sessions BY NAME
WITH ended AS (SELECT aggregate_id AS id, arg_max(e, position) AS e
               FROM p_agent_session_ended GROUP BY ALL)
SELECT s.aggregate_id AS session_id, s.e.search_id AS search_id, s.e.sequence AS seq,
       s.e.specialist AS specialist, s.e.model AS model, s.e.backend AS backend,
       d.e.outcome AS outcome, d.e.turns AS turns, d.e.usd AS usd, d.e.detail AS detail,
       s.position AS started_position
FROM p_agent_session_started s LEFT JOIN ended d ON d.id = s.aggregate_id
ORDER BY s.position
""",
)
