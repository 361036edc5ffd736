"""The ``igen`` command.

Every subcommand lives in its own module ``cli/cmd_<name>.py`` (installed as
``igen_gs.cli.cmd_<name>``) and exposes ``COMMAND = (name, ConfigDataclass)``; the dataclass
documents the flags (tyro turns it into ``igen <name> --flag ...``) and has a ``main()``
method that validates and claims its outputs (``igen_gs.outputs.claim_output``) before any
work, calls one library function and reports. Modules import heavy dependencies inside
``main()``, so ``igen --help`` stays fast.

This is the one place that turns errors into exit codes. Errors a user can fix (bad input
files, bad numbers, unwritable or occupied outputs, unknown objects, unreachable poses, an
unreachable or misbehaving VLM, ...) reach here as ``ValueError``, ``OSError`` (missing,
unreadable or unwritable files), image-decoder errors or our own error types; each is printed
as one line ``igen: error: ...`` and the process exits with status 2. Anything else is a bug:
one line saying so, status 1. ``--debug`` (anywhere on the command line) or ``IGEN_DEBUG=1``
adds the traceback. Ctrl-C exits with 130. Library warnings (logging) are printed as
``igen: warning: ...``.
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import sys
import traceback
from typing import Annotated, Union

import tyro

from . import __path__ as _cli_path

EXIT_USER_ERROR = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130


def _commands() -> dict[str, type]:
    found = {}
    for mod in sorted(pkgutil.iter_modules(_cli_path), key=lambda m: m.name):
        if mod.name.startswith("cmd_"):
            module = importlib.import_module(f"{__package__}.{mod.name}")
            name, cls = module.COMMAND
            found[name] = cls
    return found


def _expected_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean "the input or the environment is wrong", not "a bug"."""
    kinds: list[type[BaseException]] = [ValueError, OSError, EOFError]
    for mod, name in (("PIL.Image", "DecompressionBombError"),
                      ("igen_gs.io.lerobot", "DatasetBusyError")):
        m = sys.modules.get(mod)  # only if the command imported it: nothing heavy here
        if m is not None and hasattr(m, name):
            kinds.append(getattr(m, name))
    return tuple(kinds)


def one_line(e: BaseException) -> str:
    """The message of ``e`` on one line (its first non-empty line; the type when empty)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    text = lines[0] if lines else ""
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        text = f"{e.strerror}: {e.filename}"  # "[Errno 30] ..." -> "Read-only file system: X"
    if isinstance(e, KeyError):
        text = f"missing key {text}"
    return text or type(e).__name__


class _WarningFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = " ".join(record.getMessage().split("\n"))
        return f"igen: {record.levelname.lower()}: {msg}"


def _setup_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_WarningFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)


def run(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("IGEN_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    _setup_logging(debug)
    commands = _commands()
    union = Union[  # noqa: UP007 - tyro needs a typing.Union of annotated subcommands
        tuple(Annotated[cls, tyro.conf.subcommand(name, prefix_name=False)]
              for name, cls in commands.items())
    ]
    config = tyro.cli(union, args=argv, prog="igen",
                      description="igen-gs: single photos -> 3D Gaussian scenes -> robot data "
                                  "(--debug: tracebacks on errors)")
    try:
        config.main()
    except KeyboardInterrupt:
        print("igen: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # noqa: BLE001 - the one place errors become exit codes
        if debug:
            traceback.print_exc()
        if isinstance(e, _expected_errors()):
            print(f"igen: error: {one_line(e)}", file=sys.stderr)
            return EXIT_USER_ERROR
        print(f"igen: error: internal error ({type(e).__name__}: {one_line(e)}); this is a bug"
              + ("" if debug else ", rerun with --debug for the traceback"), file=sys.stderr)
        return EXIT_BUG
    return 0


def entrypoint() -> None:
    sys.exit(run())
