-- What did the model calls behind each trial cost?
-- One row per LLM session in the order they ran; seq is the trial number it was asked
-- for, and trial_status is that trial's outcome (NULL when the session submitted nothing,
-- so no trial exists; a session that failed on the API made a harness_abort trial).
-- Columns: search (ordinal), seq, specialist, session_outcome, trial_status, exchanges,
--   attempts (with retries), input_tokens, output_tokens, cache_read_tokens,
--   cache_write_tokens, usd.
SELECT
    s.ordinal AS search,
    a.seq,
    a.specialist,
    a.outcome AS session_outcome,
    t.status AS trial_status,
    count(x.turn) AS exchanges,
    coalesce(sum(x.attempts), 0) AS attempts,
    coalesce(sum(x.input_tokens), 0) AS input_tokens,
    coalesce(sum(x.output_tokens), 0) AS output_tokens,
    coalesce(sum(x.cache_read_tokens), 0) AS cache_read_tokens,
    coalesce(sum(x.cache_write_tokens), 0) AS cache_write_tokens,
    round(coalesce(sum(x.usd), 0), 6) AS usd
FROM agent_sessions a
JOIN searches s USING (search_id)
LEFT JOIN trials t ON t.session_id = a.session_id
LEFT JOIN exchanges x ON x.session_id = a.session_id
GROUP BY s.ordinal, a.session_id, a.seq, a.specialist, a.outcome, t.status, a.started_position
ORDER BY search, a.started_position
