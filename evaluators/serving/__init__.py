"""The model servers: artifacts scored in sandboxes, and the blind check of their answers."""
