"""Technique catalogues per built-in task; any other task gets the generic knob catalogue."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from agents.techniques import Technique, generic_catalogue


def catalogue_for(task_name: str, seed_recipe: Mapping[str, str]) -> list[Technique]:
    module_name = f"agents.catalogues.{task_name.replace('-', '_')}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        return generic_catalogue(seed_recipe)
    return list(module.CATALOGUE)
