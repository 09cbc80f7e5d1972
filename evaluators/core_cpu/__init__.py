"""core-cpu: a CPU-scale NanoChat-D12 CORE analogue (byte-level LM, CORE-style suite)."""
