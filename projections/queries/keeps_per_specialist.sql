-- Which specialists produced keeps, how often, and how much did their keeps gain?
-- Columns: search (ordinal), specialist, proposals (trials after the baseline),
--   keeps, keep_rate (keeps / proposals), improvement (sum over keeps of the gain
--   against the best before, in metric units, positive = better), best_keep_seq.
SELECT
    s.ordinal AS search,
    t.specialist,
    count(*) AS proposals,
    count(*) FILTER (WHERE t.status = 'keep') AS keeps,
    round(count(*) FILTER (WHERE t.status = 'keep') / count(*), 4) AS keep_rate,
    coalesce(sum(CASE WHEN s.lower_is_better THEN -t.delta ELSE t.delta END)
        FILTER (WHERE t.status = 'keep'), 0) AS improvement,
    arg_max(t.seq, CASE WHEN s.lower_is_better THEN -t.score ELSE t.score END)
        FILTER (WHERE t.status = 'keep') AS best_keep_seq
FROM trials t
JOIN searches s USING (search_id)
WHERE t.seq > 0
GROUP BY s.ordinal, t.specialist
ORDER BY search, keeps DESC, specialist
