"""The pure core: events, aggregates, decisions and ports. Pydantic and stdlib only."""
