"""The trial read model in SQL: `lineage` (ancestry by a recursive CTE), `trials` (one row
per trial, re-derived set-based from all of its events), and `recipes`.

Every statement reads the parsed events of one fold step from the `p_<event>` tables
(projections/fold.py): the step's own events (`new`) and, for each trial it touches, the
trial's earlier events, so a trial's row is a function of its whole history and comes out
the same however the ledger was cut into steps. Within a trial, the latest event of a kind
wins (`arg_max(..., position)`), as the trial's own state does in domain/trial.py.
"""

from __future__ import annotations

import json

import duckdb

from domain.recipe import PatchError, apply_diff

TRIAL_EVENTS = frozenset(
    {
        "TrialProposed",
        "RecipeEdited",
        "TrialLaunched",
        "TrainingProgressed",
        "TrialScored",
        "TrialExtended",
        "TrialFailed",
        "TrialJudged",
        "TrialReproduced",
    }
)

# A new trial's path extends its parent's (found in `lineage`, or made earlier in this
# step: the recursion); a trial whose parent is unknown starts a path of its own.
LINEAGE = """
INSERT INTO lineage
WITH RECURSIVE fresh AS (
    SELECT aggregate_id AS trial_id, e.search_id AS search_id, e.parent_id AS parent_id,
           CAST(e.sequence AS VARCHAR) AS seq
    FROM p_trial_proposed WHERE new
),
walk AS (
    SELECT f.trial_id, f.search_id,
           CASE WHEN l.trial_id IS NULL THEN 0 ELSE l.depth + 1 END AS depth,
           CASE WHEN l.trial_id IS NULL THEN f.seq ELSE l.path || '/' || f.seq END AS path,
           CASE WHEN l.trial_id IS NULL THEN CAST([] AS UUID[])
                ELSE list_append(l.ancestors, f.parent_id) END AS ancestors
    FROM fresh f LEFT JOIN lineage l ON l.trial_id = f.parent_id
    WHERE f.parent_id IS NULL OR f.parent_id NOT IN (SELECT trial_id FROM fresh)
    UNION ALL
    SELECT f.trial_id, f.search_id, w.depth + 1, w.path || '/' || f.seq,
           list_append(w.ancestors, f.parent_id)
    FROM walk w JOIN fresh f ON f.parent_id = w.trial_id
)
SELECT trial_id, search_id, depth, path, ancestors FROM walk ORDER BY path
"""

# Every event that moves a trial's status, with what it says about rules, the end and
# measurements; measurements merge in ledger order (a later key wins).
_MARKS = """
    SELECT aggregate_id, position, time, 'proposed' AS status, NULL AS rules,
           false AS ends, NULL::JSON AS measured FROM p_trial_proposed
    UNION ALL SELECT aggregate_id, position, time, 'edited', NULL, false, NULL
    FROM p_recipe_edited
    UNION ALL SELECT aggregate_id, position, time, 'launched', e.rules_version, false, NULL
    FROM p_trial_launched
    UNION ALL SELECT aggregate_id, position, time, 'launched', e.rules_version, false, NULL
    FROM p_trial_extended
    UNION ALL SELECT aggregate_id, position, time, 'scored', e.rules_version, false,
           e.measurements FROM p_trial_scored
    UNION ALL SELECT aggregate_id, position, time, e.label, nullif(e.rules_version, ''), true,
           e.measurements FROM p_trial_failed
    UNION ALL SELECT aggregate_id, position, time, e.verdict, NULL, true, NULL
    FROM p_trial_judged
"""

TRIALS = (
    "DELETE FROM trials WHERE trial_id IN (SELECT aggregate_id FROM p_trial_proposed)",
    f"""
INSERT INTO trials BY NAME
WITH
edited AS (SELECT aggregate_id AS id, arg_max(e, position) AS e FROM p_recipe_edited
           GROUP BY ALL),
launched AS (SELECT aggregate_id AS id, arg_max(e, position) AS e,
                    arg_max(time, position) AS time FROM p_trial_launched GROUP BY ALL),
extended AS (SELECT aggregate_id AS id, flatten(list(e.seeds ORDER BY position)) AS seeds
             FROM p_trial_extended GROUP BY ALL),
progressed AS (
    SELECT aggregate_id AS id, sum(len(e.samples)) AS samples,
           arg_max_null(e.samples[-1].loss, position) FILTER (WHERE len(e.samples) > 0)
               AS last_loss
    FROM p_training_progressed GROUP BY ALL),
scored AS (SELECT aggregate_id AS id, arg_max(e, position) AS e FROM p_trial_scored
           GROUP BY ALL),
failed AS (SELECT aggregate_id AS id, arg_max(e, position) AS e FROM p_trial_failed
           GROUP BY ALL),
judged AS (SELECT aggregate_id AS id, arg_max(e, position) AS e FROM p_trial_judged
           GROUP BY ALL),
reproduced AS (SELECT aggregate_id AS id, arg_max(e, position) AS e FROM p_trial_reproduced
               GROUP BY ALL),
states AS (
    SELECT aggregate_id AS id,
           arg_max(status, position) AS status,
           arg_max(rules, position) FILTER (WHERE rules IS NOT NULL) AS rules_version,
           max(position) FILTER (WHERE ends) AS finished_position,
           arg_max(time, position) FILTER (WHERE ends) AS finished_at,
           list_reduce(list(measured ORDER BY position) FILTER (WHERE measured IS NOT NULL),
                       lambda a, b: json_merge_patch(a, b)) AS measurements
    FROM ({_MARKS}) GROUP BY ALL)
SELECT
    p.aggregate_id AS trial_id, p.e.search_id AS search_id, p.e.sequence AS seq,
    p.e.parent_id AS parent_id,
    CAST(string_split(l.path, '/')[-2] AS INTEGER) AS parent_seq,  -- the parent's own seq
    l.depth AS depth, p.e.specialist AS specialist, p.e.agent AS agent,
    p.e.surfaces AS surfaces, ed.e.surfaces_touched AS surfaces_touched, p.e.idea AS idea,
    p.e.hypothesis AS hypothesis, p.e.expected_delta AS expected_delta, st.status AS status,
    f.e.label AS label, j.e.verdict AS verdict,
    coalesce(sc.e.score, f.e.score) AS score,  -- a gate miss keeps what it measured
    j.e.delta AS delta,
    j.e.best_before_score AS best_before, j.e.rule AS judge_rule,
    j.e.numbers AS judge_numbers, to_json(j.e.test) AS judge_test,
    f.e.reason AS reason, f.e.log_excerpt AS log_excerpt,
    f.e.evidence AS evidence, st.measurements AS measurements,
    CAST(st.measurements->>'artifact_bytes' AS DOUBLE) AS artifact_bytes,
    CAST(st.measurements->>'train_s' AS DOUBLE) AS train_s,
    CAST(st.measurements->>'eval_s' AS DOUBLE) AS eval_s,
    CAST(st.measurements->>'cpu_s' AS DOUBLE) AS cpu_s,
    CAST(st.measurements->>'peak_rss_mb' AS DOUBLE) AS peak_rss_mb,
    CAST(st.measurements->>'wall_s' AS DOUBLE) AS wall_s,
    ed.e.diff AS diff, ed.e.lines_added + ed.e.lines_removed AS diff_lines,
    ed.e.parent_sha256 AS parent_sha256, ed.e.child_sha256 AS child_sha256,
    p.e.lineage_view_sha256 AS lineage_view_sha256, p.e.session_id AS session_id,
    la.e.runner AS runner, la.e.host AS host,
    list_concat(la.e.seeds, coalesce(x.seeds, [])) AS seeds, la.e.threads AS threads,
    la.e.sandbox AS sandbox, st.rules_version AS rules_version, p.time AS proposed_at,
    la.time AS launched_at, st.finished_at AS finished_at,
    st.finished_position AS finished_position,
    coalesce(pg.samples, 0) AS progress_samples, pg.last_loss AS last_loss,
    rp.e.score AS reproduced_score, rp.e.identical AS reproduced_identical
FROM p_trial_proposed p
LEFT JOIN lineage l ON l.trial_id = p.aggregate_id
LEFT JOIN states st ON st.id = p.aggregate_id
LEFT JOIN edited ed ON ed.id = p.aggregate_id
LEFT JOIN launched la ON la.id = p.aggregate_id
LEFT JOIN extended x ON x.id = p.aggregate_id
LEFT JOIN progressed pg ON pg.id = p.aggregate_id
LEFT JOIN scored sc ON sc.id = p.aggregate_id
LEFT JOIN failed f ON f.id = p.aggregate_id
LEFT JOIN judged j ON j.id = p.aggregate_id
LEFT JOIN reproduced rp ON rp.id = p.aggregate_id
ORDER BY p.position
""",  # noqa: S608
)

# The first edit that makes each recipe not yet known, in ledger order.
NEW_RECIPES = """
SELECT arg_min(e.parent_sha256, position), e.child_sha256, arg_min(e.diff, position)
FROM p_recipe_edited WHERE new AND e.child_sha256 NOT IN (SELECT sha256 FROM recipes)
GROUP BY e.child_sha256 ORDER BY min(position)
"""


def add_recipes(con: duckdb.DuckDBPyConnection, edits: list[tuple[str, str, str]]) -> None:
    """Apply each new recipe's diff (NEW_RECIPES rows) to its parent: patching is Python
    (domain/recipe.py), and runs once per distinct recipe, not per event."""
    if not edits:
        return
    parents = sorted({parent for parent, _, _ in edits})
    known = {
        sha: json.loads(files)
        for sha, files in con.execute(
            "SELECT sha256, files FROM recipes WHERE sha256 IN (SELECT unnest(?))", [parents]
        ).fetchall()
    }
    made: dict[str, dict[str, str]] = {}
    for parent, child, diff in edits:
        try:
            made[child] = apply_diff(made.get(parent) or known.get(parent, {}), diff)
        except PatchError:
            continue  # a diff the ledger accepted always applies; never guess a recipe
    if made:
        shas = sorted(made)
        texts = [json.dumps(made[sha], sort_keys=True, separators=(",", ":")) for sha in shas]
        con.execute("INSERT INTO recipes SELECT unnest(?), unnest(?)", [shas, texts])
