"""The ``igen`` command: one tyro subcommand per pipeline stage."""

from __future__ import annotations

import sys


def entrypoint() -> None:
    print("igen: no commands yet", file=sys.stderr)
    sys.exit(2)
