"""Canned audit queries, one documented .sql file each (see projections/canned.py)."""
