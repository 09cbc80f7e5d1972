-- How was each search's best recipe reached: the chain of trials from the seed to the best?
-- The best is the search's recorded best trial, or while it runs the latest keep.
-- Columns: search (ordinal), step (0 = the seed recipe's run), seq, specialist, outcome,
--   score, delta (against the best before it), hypothesis.
WITH best AS (
    SELECT s.search_id, s.ordinal,
           coalesce(s.best_trial, (
               SELECT k.trial_id FROM trials k
               WHERE k.search_id = s.search_id AND k.status = 'keep'
               ORDER BY k.finished_position DESC LIMIT 1)) AS trial_id
    FROM searches s
),
path AS (
    SELECT b.ordinal, u.trial_id, u.step - 1 AS step
    FROM best b
    JOIN lineage l ON l.trial_id = b.trial_id,
    unnest(list_append(l.ancestors, l.trial_id)) WITH ORDINALITY AS u(trial_id, step)
)
SELECT
    p.ordinal AS search,
    p.step,
    t.seq,
    t.specialist,
    t.status AS outcome,
    t.score,
    t.delta,
    t.hypothesis
FROM path p
JOIN trials t ON t.trial_id = p.trial_id
ORDER BY search, p.step
