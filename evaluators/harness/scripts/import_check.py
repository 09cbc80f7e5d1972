"""Harness-owned: check that modules resolve inside the sandbox, without importing them.

Run as `python -I import_check.py WORKDIR module ...`; find_spec locates a top-level
module without executing it, so no agent-written code runs here.
"""

import importlib.util
import sys


def main() -> int:
    sys.path.insert(0, sys.argv[1])  # the recipe's own files resolve from its work dir
    missing = [name for name in sys.argv[2:] if importlib.util.find_spec(name) is None]
    if missing:
        print(f"ModuleNotFoundError: No module named {missing[0]!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
