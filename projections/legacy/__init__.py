"""The per-event Python fold that the SQL fold replaced: kept only until a test shows both agree."""
