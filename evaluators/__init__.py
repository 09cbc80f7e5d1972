"""Trusted task code: preflight, the sandboxed trial pipeline, scoring and the failure rules."""
