-- What did each kept improvement cost in time and CPU, per specialist and for the search?
-- Every trial after the baseline counts, failed ones too: they spent the time that the
-- keeps needed. Wall time is the measured wall_s, else launch to finish.
-- Columns: search (ordinal), specialist ('(all)' for the whole search), trials, keeps,
--   wall_s, cpu_s, train_s (totals), wall_s_per_keep, cpu_s_per_keep (NULL without keeps),
--   improvement (sum of the keeps' gains, positive = better), improvement_per_cpu_hour.
WITH spent AS (
    SELECT
        s.ordinal AS search,
        t.specialist,
        t.status,
        CASE WHEN s.lower_is_better THEN -t.delta ELSE t.delta END AS gain,
        coalesce(t.wall_s, epoch(t.finished_at - t.launched_at), 0) AS wall_s,
        coalesce(t.cpu_s, 0) AS cpu_s,
        coalesce(t.train_s, 0) AS train_s
    FROM trials t
    JOIN searches s USING (search_id)
    WHERE t.seq > 0 AND t.finished_position IS NOT NULL
)
SELECT
    search,
    coalesce(specialist, '(all)') AS specialist,
    count(*) AS trials,
    count(*) FILTER (WHERE status = 'keep') AS keeps,
    round(sum(wall_s), 3) AS wall_s,
    round(sum(cpu_s), 3) AS cpu_s,
    round(sum(train_s), 3) AS train_s,
    round(sum(wall_s) / nullif(count(*) FILTER (WHERE status = 'keep'), 0), 3)
        AS wall_s_per_keep,
    round(sum(cpu_s) / nullif(count(*) FILTER (WHERE status = 'keep'), 0), 3)
        AS cpu_s_per_keep,
    coalesce(sum(gain) FILTER (WHERE status = 'keep'), 0) AS improvement,
    coalesce(sum(gain) FILTER (WHERE status = 'keep'), 0) / nullif(sum(cpu_s) / 3600, 0)
        AS improvement_per_cpu_hour
FROM spent
GROUP BY GROUPING SETS ((search), (search, specialist))
ORDER BY search, specialist IS NOT NULL, specialist
