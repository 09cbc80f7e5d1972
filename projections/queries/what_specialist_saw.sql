-- What did a specialist see before a trial: its prompt and lineage view, verbatim?
-- One row per proposal attempt. An LLM session's context is its system prompt followed by
-- the lineage view it got as its first message, exactly as sent; an offline proposal's is
-- the view alone. seq is the trial number asked for: sessions that submitted nothing share
-- it with the next one. For specialist X before trial N, use --format json and pick rows
-- with jq 'select(.specialist == "X" and .seq == N)'.
-- Columns: search (ordinal), seq, specialist, session_outcome (NULL for offline proposals),
--   trial_status (NULL when no trial came of it), context_sha256, context.
WITH first_seen AS (
    SELECT session_id, arg_min(context_sha256, turn) AS sha256
    FROM exchanges
    GROUP BY session_id
),
seen AS (
    SELECT
        a.search_id,
        a.seq,
        a.specialist,
        a.outcome AS session_outcome,
        t.status AS trial_status,
        c.sha256 AS context_sha256,
        c.text AS context,
        a.started_position AS position
    FROM agent_sessions a
    LEFT JOIN first_seen f USING (session_id)
    LEFT JOIN contexts c ON c.sha256 = f.sha256
    LEFT JOIN trials t ON t.session_id = a.session_id
    UNION ALL
    SELECT
        t.search_id,
        t.seq,
        t.specialist,
        NULL,
        t.status,
        v.sha256,
        v.text,
        NULL
    FROM trials t
    JOIN views v ON v.sha256 = t.lineage_view_sha256
    WHERE t.session_id IS NULL AND t.specialist <> 'baseline'
)
SELECT
    s.ordinal AS search,
    x.seq,
    x.specialist,
    x.session_outcome,
    x.trial_status,
    x.context_sha256,
    x.context
FROM seen x
JOIN searches s USING (search_id)
ORDER BY search, x.seq, x.position NULLS LAST, x.specialist
