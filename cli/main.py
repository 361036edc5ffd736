"""The ``igen`` command.

Every subcommand lives in its own module ``cli/cmd_<name>.py`` (installed as
``igen_gs.cli.cmd_<name>``) and exposes ``COMMAND = (name, ConfigDataclass)``; the dataclass
documents the flags (tyro turns it into ``igen <name> --flag ...``) and has a ``main()``
method that calls one library function and reports. Modules import heavy dependencies inside
``main()``, so ``igen --help`` stays fast.

Errors a user can fix (bad input files, unknown objects, unreachable poses, ...) are raised by
the library as ``ValueError`` (or ``FileNotFoundError``); they are printed as one line and the
process exits with status 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Annotated, Union

import tyro

from . import __path__ as _cli_path


def _commands() -> dict[str, type]:
    found = {}
    for mod in sorted(pkgutil.iter_modules(_cli_path), key=lambda m: m.name):
        if mod.name.startswith("cmd_"):
            module = importlib.import_module(f"{__package__}.{mod.name}")
            name, cls = module.COMMAND
            found[name] = cls
    return found


def run(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns the exit status."""
    commands = _commands()
    union = Union[  # noqa: UP007 - tyro needs a typing.Union of annotated subcommands
        tuple(Annotated[cls, tyro.conf.subcommand(name, prefix_name=False)]
              for name, cls in commands.items())
    ]
    config = tyro.cli(union, args=argv, prog="igen",
                      description="igen-gs: single photos -> 3D Gaussian scenes -> robot data")
    try:
        config.main()
    except (ValueError, FileNotFoundError) as e:
        print(f"igen: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("igen: interrupted", file=sys.stderr)
        return 130
    return 0


def entrypoint() -> None:
    sys.exit(run())
