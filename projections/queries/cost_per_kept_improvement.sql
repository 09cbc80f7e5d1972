-- What did each kept improvement cost in model calls, per specialist and for the search?
-- Every session is paid for, those that made no trial or a failed one too: they are the
-- price of the keeps. Improvement is the keeps' gain against the best before each, in
-- metric units (positive = better).
-- Columns: search (ordinal), specialist ('(all)' for the whole search), sessions, usd,
--   keeps, usd_per_keep (NULL without keeps), improvement, improvement_per_usd.
WITH paid AS (
    SELECT search_id, specialist, count(*) AS sessions, sum(coalesce(usd, 0)) AS usd
    FROM agent_sessions
    GROUP BY search_id, specialist
),
kept AS (
    SELECT
        t.search_id,
        t.specialist,
        count(*) AS keeps,
        sum(CASE WHEN s.lower_is_better THEN -t.delta ELSE t.delta END) AS improvement
    FROM trials t
    JOIN searches s USING (search_id)
    WHERE t.status = 'keep' AND t.specialist <> 'baseline'
    GROUP BY t.search_id, t.specialist
),
joined AS (
    SELECT
        coalesce(p.search_id, k.search_id) AS search_id,
        coalesce(p.specialist, k.specialist) AS who,
        coalesce(p.sessions, 0) AS sessions,
        coalesce(p.usd, 0) AS usd,
        coalesce(k.keeps, 0) AS keeps,
        coalesce(k.improvement, 0) AS improvement
    FROM paid p
    FULL JOIN kept k ON k.search_id = p.search_id AND k.specialist = p.specialist
)
SELECT
    s.ordinal AS search,
    coalesce(j.who, '(all)') AS specialist,
    sum(j.sessions) AS sessions,
    round(sum(j.usd), 6) AS usd,
    sum(j.keeps) AS keeps,
    round(sum(j.usd) / nullif(sum(j.keeps), 0), 6) AS usd_per_keep,
    sum(j.improvement) AS improvement,
    sum(j.improvement) / nullif(sum(j.usd), 0) AS improvement_per_usd
FROM joined j
JOIN searches s USING (search_id)
WHERE s.search_id IN (SELECT search_id FROM agent_sessions)
GROUP BY GROUPING SETS ((s.ordinal), (s.ordinal, j.who))
ORDER BY search, j.who IS NOT NULL, j.who
