"""The cache key across the final test's change: a validation key digests as it did
before (old ledgers' entries and recorded TrialReused keys still match), a final test's
key is another key, and a FinalTested stored before the change decodes as a side that ran."""

from __future__ import annotations

from uuid import uuid4

from domain import search as s
from domain.cache import CacheKey, final_key, key_of
from domain.events import upcast

FACTS = {
    "rules_version": "1",
    "recipe_sha256": "ab" * 32,
    "seeds": (0, 1, 2),
    "threads": 1,
    "budgets": {"train_s": 60.0, "eval_s": 30.0},
    "sandbox": "bwrap",
}
ENVIRONMENT = {
    "python": "3.12.3",
    "torch": "2.5.1",
    "numpy": "2.1.0",
    "autorecipe": "0.9",
    "platform": "Linux",
    "machine": "x86_64",
    "host": "left out of the key",
}
TASK = "cd" * 32


def test_a_validation_key_digests_as_before_the_final_test_was_cached():
    """Digests computed by the code before the key could name a split."""
    launch = key_of(TASK, ENVIRONMENT, FACTS, (0, 1), True)
    extension = key_of(TASK, ENVIRONMENT, FACTS, (2,), False, False)
    assert launch.digest == "9b82ef16b7dbcb24136e46c4a865240eb2e3b9f5c4c9b4e80d74ec766c22ad67"
    assert extension.digest == "c780dd8ab08239cefefdde3dbb9fd450c2852ab7398504472b291229d567e77e"
    assert "split" not in launch.model_dump(mode="json")  # as a TrialReused stores it
    assert CacheKey.model_validate(launch.model_dump(mode="json")) == launch


def test_the_test_split_is_another_key():
    validation = key_of(TASK, ENVIRONMENT, FACTS, FACTS["seeds"], False)
    test = final_key(TASK, ENVIRONMENT, FACTS)
    assert test.model_dump(exclude={"split"}) == validation.model_dump()  # the same facts
    assert test.split == "test"
    assert test.digest != validation.digest
    assert CacheKey.model_validate(test.model_dump(mode="json")).digest == test.digest


def test_a_final_test_stored_before_v3_names_no_source():
    side = {"trial_id": str(uuid4()), "sequence": 2, "score": 0.5, "accounting": ""}
    body = {"status": "held", "held": True, "reason": "", "best": side, "seed_recipe": None}
    stored = {"originator_id": str(uuid4()), "originator_version": 9, **body}
    tested = s.FinalTested.model_validate(upcast(s.FinalTested, stored, 2))
    assert tested.best is not None
    assert tested.seed_recipe is None
    assert tested.best.reused_from_search_id is None
    assert tested.best.cache_key is None
