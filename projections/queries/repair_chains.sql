-- Which failures were followed by a repair on the same branch, and how did each attempt end?
-- A repair is a child whose parent is the failed trial; a chain continues while the
-- attempts keep failing (crash, preflight_crash, size_blocked, budget overruns, disqualified;
-- harness aborts are infrastructure, not failed ideas, so they start no chain).
-- Columns: search (ordinal), failure_seq, failure_label (the chain's first failure),
--   attempt (1 = the failure's own child), repair_seq, repair_specialist, repair_outcome,
--   repair_score, chain (e.g. "#2 size_blocked -> #4 size_blocked -> #6 keep").
WITH RECURSIVE failed AS (
    SELECT trial_id FROM trials
    WHERE status IN ('crash', 'preflight_crash', 'size_blocked', 'train_budget_overrun',
                     'eval_budget_overrun', 'disqualified')
),
chain AS (
    SELECT f.search_id, f.seq AS failure_seq, f.status AS failure_label, 1 AS attempt,
           c.trial_id AS last_id, c.status AS last_status,
           '#' || f.seq || ' ' || f.status || ' -> #' || c.seq || ' ' || c.status AS path
    FROM trials f
    JOIN trials c ON c.parent_id = f.trial_id
    WHERE f.trial_id IN (SELECT trial_id FROM failed)
      AND (f.parent_id IS NULL OR f.parent_id NOT IN (SELECT trial_id FROM failed))
    UNION ALL
    SELECT ch.search_id, ch.failure_seq, ch.failure_label, ch.attempt + 1,
           c.trial_id, c.status, ch.path || ' -> #' || c.seq || ' ' || c.status
    FROM chain ch
    JOIN trials c ON c.parent_id = ch.last_id
    WHERE ch.last_id IN (SELECT trial_id FROM failed)
)
SELECT
    s.ordinal AS search,
    ch.failure_seq,
    ch.failure_label,
    ch.attempt,
    r.seq AS repair_seq,
    r.specialist AS repair_specialist,
    r.status AS repair_outcome,
    r.score AS repair_score,
    ch.path AS chain
FROM chain ch
JOIN trials r ON r.trial_id = ch.last_id
JOIN searches s ON s.search_id = ch.search_id
ORDER BY search, failure_seq, repair_seq
