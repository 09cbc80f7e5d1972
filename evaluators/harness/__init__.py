"""The trial engine: stage a recipe, run it sandboxed under its caps, count what it used."""
