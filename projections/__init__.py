"""DuckDB read models built from the ledger, and the queries people and agents ask."""
