"""golf-cpu: a CPU-scale Parameter Golf analogue (byte-level LM, size-capped)."""
