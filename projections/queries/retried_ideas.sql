-- Which trials re-tried an idea already tried on the same parent?
-- A re-try has the same parent as an earlier trial and either the same resulting recipe
-- (child_sha256) or the same non-empty idea key; the paper's runs had no such index and
-- re-proposed ideas in waves.
-- Columns: search (ordinal), seq, specialist, parent_seq, idea, outcome, earlier_seq,
--   earlier_specialist, earlier_outcome, same (recipe or idea).
SELECT
    s.ordinal AS search,
    t.seq,
    t.specialist,
    t.parent_seq,
    t.idea,
    t.status AS outcome,
    e.seq AS earlier_seq,
    e.specialist AS earlier_specialist,
    e.status AS earlier_outcome,
    CASE WHEN t.child_sha256 = e.child_sha256 THEN 'recipe' ELSE 'idea' END AS same
FROM trials t
JOIN trials e
  ON e.search_id = t.search_id AND e.parent_id = t.parent_id AND e.seq < t.seq
 AND (e.child_sha256 = t.child_sha256 OR (t.idea <> '' AND e.idea = t.idea))
JOIN searches s ON s.search_id = t.search_id
ORDER BY search, t.seq, earlier_seq
