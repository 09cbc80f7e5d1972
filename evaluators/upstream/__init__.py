"""Upstream adapters: drive a real recipe (parameter-golf, nanochat, airbench) from the
user's own checkout and data on their GPU machine, under our loop, ledger and labels.

`init` turns a template folder here plus a checkout into a task folder; the task's train
command is `run` (a harness-owned wrapper around the upstream launch) and its evaluate
command is `evaluate` (reads what the wrapper parsed). README.md explains the design.
"""
