-- Which trials edited surfaces outside their specialist's own?
-- surfaces is what the specialist may edit ('*' = any), surfaces_touched what the diff
-- changed ('core' = lines outside every marked surface). The harness seed run is left out.
-- Columns: search (ordinal), seq, specialist, surfaces, surfaces_touched, outside (the
--   touched surfaces not allowed), outcome.
SELECT
    s.ordinal AS search,
    t.seq,
    t.specialist,
    t.surfaces,
    t.surfaces_touched,
    list_filter(t.surfaces_touched, lambda x: NOT list_contains(t.surfaces, x)) AS outside,
    t.status AS outcome
FROM trials t
JOIN searches s USING (search_id)
WHERE t.seq > 0
  AND NOT list_contains(t.surfaces, '*')
  AND len(list_filter(t.surfaces_touched, lambda x: NOT list_contains(t.surfaces, x))) > 0
ORDER BY search, t.seq
