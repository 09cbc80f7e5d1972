-- Which trials re-tried an idea already tried on the same parent?
-- A re-try has the same parent as an earlier trial and either the same resulting recipe
-- (child_sha256) or the same non-empty idea key; the paper's runs had no such index and
-- re-proposed ideas in waves. One row per re-try, naming the first earlier attempt.
-- Columns: search (ordinal), seq, specialist, parent_seq, idea, outcome, earlier_seq
--   (the first earlier attempt), earlier_specialist, earlier_outcome, earlier_tries,
--   same (recipe, if any earlier attempt made the same recipe, else idea).
-- Window functions over each parent's children, not a self-join: the earlier attempts
-- with the same recipe, with the same idea, and with both (counted once).
WITH tries AS (
    SELECT
        search_id, seq, specialist, parent_seq, idea, status, child_sha256,
        count(*) OVER same_recipe - 1 AS by_recipe,
        first_value(seq) OVER same_recipe AS recipe_seq,
        first_value(specialist) OVER same_recipe AS recipe_specialist,
        first_value(status) OVER same_recipe AS recipe_status,
        count(*) OVER same_idea - 1 AS by_idea,
        first_value(seq) OVER same_idea AS idea_seq,
        first_value(specialist) OVER same_idea AS idea_specialist,
        first_value(status) OVER same_idea AS idea_status,
        count(*) OVER same_both - 1 AS by_both
    FROM trials
    WHERE parent_id IS NOT NULL
    WINDOW
        same_recipe AS (PARTITION BY search_id, parent_id, child_sha256 ORDER BY seq
                        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
        same_idea AS (PARTITION BY search_id, parent_id, idea ORDER BY seq
                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
        same_both AS (PARTITION BY search_id, parent_id, child_sha256, idea ORDER BY seq
                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
matched AS (
    SELECT
        *,
        CASE WHEN child_sha256 IS NOT NULL THEN by_recipe ELSE 0 END AS recipes,
        CASE WHEN idea <> '' THEN by_idea ELSE 0 END AS ideas,
        CASE WHEN child_sha256 IS NOT NULL AND idea <> '' THEN by_both ELSE 0 END AS twice
    FROM tries
)
SELECT
    s.ordinal AS search,
    m.seq,
    m.specialist,
    m.parent_seq,
    m.idea,
    m.status AS outcome,
    CASE WHEN m.recipes > 0 AND (m.ideas = 0 OR m.recipe_seq <= m.idea_seq)
         THEN m.recipe_seq ELSE m.idea_seq END AS earlier_seq,
    CASE WHEN m.recipes > 0 AND (m.ideas = 0 OR m.recipe_seq <= m.idea_seq)
         THEN m.recipe_specialist ELSE m.idea_specialist END AS earlier_specialist,
    CASE WHEN m.recipes > 0 AND (m.ideas = 0 OR m.recipe_seq <= m.idea_seq)
         THEN m.recipe_status ELSE m.idea_status END AS earlier_outcome,
    m.recipes + m.ideas - m.twice AS earlier_tries,
    CASE WHEN m.recipes > 0 THEN 'recipe' ELSE 'idea' END AS same
FROM matched m
JOIN searches s USING (search_id)
WHERE m.recipes + m.ideas - m.twice > 0
ORDER BY search, m.seq
