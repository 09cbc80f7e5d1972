"""Where trials execute: a local subprocess by default, a Ray cluster as an extra."""
