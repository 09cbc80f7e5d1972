"""Claude specialists: one SDK session per trial proposal, recorded exchange by exchange."""
