"""Specialists that propose recipe edits as values; they never write events."""
