-- What did each specialist's model calls cost, and how did its sessions end?
-- Every LLM session counts, those that submitted nothing too: they were paid for. Tokens
-- and dollars are the recorded usage of each exchange, priced by the dated table named in
-- costs.price_table. Offline specialists make no model calls and have no rows.
-- Columns: search (ordinal), specialist, sessions, submitted, no_submit, turn_limit,
--   cost_cap, error (sessions by how they ended), exchanges, attempts (with retries),
--   input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, usd,
--   usd_per_submission.
WITH spent AS (
    SELECT
        session_id,
        count(*) AS exchanges,
        sum(attempts) AS attempts,
        sum(input_tokens) AS input_tokens,
        sum(output_tokens) AS output_tokens,
        sum(cache_read_tokens) AS cache_read_tokens,
        sum(cache_write_tokens) AS cache_write_tokens,
        sum(usd) AS usd
    FROM exchanges
    GROUP BY session_id
)
SELECT
    s.ordinal AS search,
    a.specialist,
    count(*) AS sessions,
    count(*) FILTER (WHERE a.outcome = 'submitted') AS submitted,
    count(*) FILTER (WHERE a.outcome = 'no_submit') AS no_submit,
    count(*) FILTER (WHERE a.outcome = 'turn_limit') AS turn_limit,
    count(*) FILTER (WHERE a.outcome = 'cost_cap') AS cost_cap,
    count(*) FILTER (WHERE a.outcome = 'error') AS error,
    coalesce(sum(x.exchanges), 0) AS exchanges,
    coalesce(sum(x.attempts), 0) AS attempts,
    coalesce(sum(x.input_tokens), 0) AS input_tokens,
    coalesce(sum(x.output_tokens), 0) AS output_tokens,
    coalesce(sum(x.cache_read_tokens), 0) AS cache_read_tokens,
    coalesce(sum(x.cache_write_tokens), 0) AS cache_write_tokens,
    round(coalesce(sum(x.usd), 0), 6) AS usd,
    round(sum(x.usd) / nullif(count(*) FILTER (WHERE a.outcome = 'submitted'), 0), 6)
        AS usd_per_submission
FROM agent_sessions a
JOIN searches s USING (search_id)
LEFT JOIN spent x USING (session_id)
GROUP BY s.ordinal, a.specialist
ORDER BY search, specialist
