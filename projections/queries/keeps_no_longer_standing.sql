-- Which keeps of a search no longer stand when it is re-judged under other rules?
-- Pairs each search with every search `cli.py rejudge` derived from it (the derived
--   search's config names it in derived_from), and lists each keep of the source that
--   the derived search did not keep, with what it became under the new rules.
-- Columns: search (the source's ordinal), derived (the derived search's ordinal),
--   rules_version (the derived search's rules), seq, specialist, score (as recorded),
--   now (the status under the new rules), reason (why, for a failure).
SELECT
    src.ordinal AS search,
    d.ordinal AS derived,
    d.rules_version,
    s.seq,
    s.specialist,
    s.score,
    r.status AS now,
    r.reason
FROM searches d
JOIN searches src ON CAST(src.search_id AS VARCHAR) = d.config->>'$.derived_from.search'
JOIN trials s ON s.search_id = src.search_id AND s.status = 'keep'
JOIN trials r ON r.search_id = d.search_id AND r.seq = s.seq
WHERE d.config->>'$.derived_from.kind' = 'rejudge' AND r.status <> 'keep'
ORDER BY search, derived, s.seq
