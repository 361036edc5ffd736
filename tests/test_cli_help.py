"""``igen --help`` and ``igen <cmd> --help`` import no heavy stack (torch, open3d,
transformers, ray): the help is built from plain dataclasses, so it prints at once."""

from __future__ import annotations

import subprocess
import sys

import pytest

COMMANDS = ["lift", "plan", "render", "render-episode", "generate", "augment", "eval", "demo"]
HEAVY = ("torch", "open3d", "transformers", "ray", "gsplat", "cv2")

PROBE = """
import sys
from igen_gs.cli.main import entrypoint
sys.argv = ["igen", *sys.argv[1:]]
try:
    entrypoint()
except SystemExit as e:
    code = e.code
else:
    code = 0
heavy = [m for m in {heavy!r} if m in sys.modules]
print("HEAVY:" + ",".join(heavy), file=sys.stderr)
sys.exit(code or 0)
"""


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_imports_no_heavy_module(command):
    args = ["--help"] if command is None else [command, "--help"]
    r = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "usage" in r.stdout.lower()
    heavy = r.stderr.strip().splitlines()[-1]
    assert heavy == "HEAVY:", f"igen {command or ''} --help imported {heavy[6:]}"
