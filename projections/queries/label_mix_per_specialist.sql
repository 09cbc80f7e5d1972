-- What happened to each specialist's finished trials: how many of each outcome?
-- Columns: search (ordinal), specialist, outcome (keep, discard or a failure label),
--   trials, share (of that specialist's finished trials, 0..1).
SELECT
    s.ordinal AS search,
    t.specialist,
    t.status AS outcome,
    count(*) AS trials,
    round(count(*) / sum(count(*)) OVER (PARTITION BY s.ordinal, t.specialist), 4) AS share
FROM trials t
JOIN searches s USING (search_id)
WHERE t.seq > 0 AND t.finished_position IS NOT NULL
GROUP BY s.ordinal, t.specialist, t.status
ORDER BY search, specialist, trials DESC, outcome
