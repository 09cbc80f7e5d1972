-- Which trials re-tried an idea already tried on the same parent?
-- A re-try has the same parent as an earlier trial and either the same resulting recipe
-- (child_sha256) or the same non-empty idea key; the paper's runs had no such index and
-- re-proposed ideas in waves. One row per re-try, naming the first earlier attempt.
-- No self-join and no sort of all trials per key: the seqs of each parent's children are
-- gathered, in order, per recipe, per idea and per both (hash aggregates); a trial's
-- place in its groups counts the earlier attempts, a repeat of both counted once.
-- Columns: search (ordinal), seq, specialist, parent_seq, idea, outcome, earlier_seq
--   (the first earlier attempt), earlier_specialist, earlier_outcome, earlier_tries,
--   same (recipe, if any earlier attempt made the same recipe, else idea).
WITH children AS (
    SELECT search_id, parent_id, seq, specialist, parent_seq, idea, status, child_sha256
    FROM trials
    WHERE parent_id IS NOT NULL
),
by_recipe AS (
    SELECT search_id, parent_id, child_sha256, list(seq ORDER BY seq) AS seqs,
           {'seq': min(seq), 'specialist': arg_min(specialist, seq),
            'status': arg_min(status, seq)} AS first
    FROM children WHERE child_sha256 IS NOT NULL
    GROUP BY ALL HAVING count(*) > 1
),
by_idea AS (
    SELECT search_id, parent_id, idea, list(seq ORDER BY seq) AS seqs,
           {'seq': min(seq), 'specialist': arg_min(specialist, seq),
            'status': arg_min(status, seq)} AS first
    FROM children WHERE idea <> ''
    GROUP BY ALL HAVING count(*) > 1
),
by_both AS (
    SELECT search_id, parent_id, child_sha256, idea, list(seq ORDER BY seq) AS seqs
    FROM children WHERE child_sha256 IS NOT NULL AND idea <> ''
    GROUP BY ALL HAVING count(*) > 1
),
counted AS (
    SELECT c.*,
           coalesce(list_position(r.seqs, c.seq) - 1, 0) AS recipes,
           coalesce(list_position(i.seqs, c.seq) - 1, 0) AS ideas,
           coalesce(list_position(b.seqs, c.seq) - 1, 0) AS twice,
           r.first AS recipe_first, i.first AS idea_first
    FROM children c
    LEFT JOIN by_recipe r USING (search_id, parent_id, child_sha256)
    LEFT JOIN by_idea i USING (search_id, parent_id, idea)
    LEFT JOIN by_both b USING (search_id, parent_id, child_sha256, idea)
),
retries AS (
    SELECT *,
           CASE WHEN recipes > 0 AND (ideas = 0 OR recipe_first.seq <= idea_first.seq)
                THEN recipe_first ELSE idea_first END AS earlier
    FROM counted
    WHERE recipes + ideas - twice > 0
)
SELECT
    s.ordinal AS search,
    r.seq,
    r.specialist,
    r.parent_seq,
    r.idea,
    r.status AS outcome,
    r.earlier.seq AS earlier_seq,
    r.earlier.specialist AS earlier_specialist,
    r.earlier.status AS earlier_outcome,
    r.recipes + r.ideas - r.twice AS earlier_tries,
    CASE WHEN r.recipes > 0 THEN 'recipe' ELSE 'idea' END AS same
FROM retries r
JOIN searches s USING (search_id)
ORDER BY search, r.seq
