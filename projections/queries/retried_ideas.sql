-- Which trials re-tried an idea already tried on the same parent?
-- A re-try has the same parent as an earlier trial and either the same resulting recipe
-- (child_sha256) or the same non-empty idea key; the paper's runs had no such index and
-- re-proposed ideas in waves. One row per re-try, naming the first earlier attempt.
-- Columns: search (ordinal), seq, specialist, parent_seq, idea, outcome, earlier_seq
--   (the first earlier attempt), earlier_specialist, earlier_outcome, earlier_tries,
--   same (recipe, if any earlier attempt made the same recipe, else idea).
SELECT
    s.ordinal AS search,
    t.seq,
    t.specialist,
    t.parent_seq,
    t.idea,
    t.status AS outcome,
    min(e.seq) AS earlier_seq,
    arg_min(e.specialist, e.seq) AS earlier_specialist,
    arg_min(e.status, e.seq) AS earlier_outcome,
    count(*) AS earlier_tries,
    CASE WHEN bool_or(t.child_sha256 = e.child_sha256) THEN 'recipe' ELSE 'idea' END AS same
FROM trials t
JOIN trials e
  ON e.search_id = t.search_id AND e.parent_id = t.parent_id AND e.seq < t.seq
 AND (e.child_sha256 = t.child_sha256 OR (t.idea <> '' AND e.idea = t.idea))
JOIN searches s ON s.search_id = t.search_id
GROUP BY s.ordinal, t.search_id, t.seq, t.specialist, t.parent_seq, t.idea, t.status
ORDER BY search, t.seq
