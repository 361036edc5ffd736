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

import tyro

from . import __path__ as _cli_path

EXIT_USER_ERROR = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130


def _command_modules() -> dict[str, str]:
    """Command name -> module name, from the file names (``cmd_render_episode.py`` ->
    ``render-episode``), without importing anything."""
    return {m.name[len("cmd_"):].replace("_", "-"): m.name
            for m in sorted(pkgutil.iter_modules(_cli_path), key=lambda m: m.name)
            if m.name.startswith("cmd_")}


def _load_command(module_name: str) -> tuple[str, type]:
    module = importlib.import_module(f"{__package__}.{module_name}")
    return module.COMMAND


def _commands() -> dict[str, type]:
    """Every command (imports all their modules)."""
    return dict(_load_command(m) for m in _command_modules().values())


def _summary(module_name: str) -> str:
    """First sentence of a command class's docstring, read from the source (no import)."""
    import ast

    path = os.path.join(_cli_path[0], f"{module_name}.py")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name.endswith("Command"):
            doc = " ".join((ast.get_docstring(node) or "").split())
            first = doc.split(". ")[0].split("; ")[0].split(": ")[0].split(" (")[0].rstrip(".")
            return first if len(first) <= 76 else first[:73].rsplit(" ", 1)[0] + " ..."
    return ""


DESCRIPTION = "igen-gs: single photos -> 3D Gaussian scenes -> robot data"


def _print_overview(file=None) -> None:
    mods = _command_modules()
    out = file or sys.stdout
    print(f"usage: igen [--debug] {{{','.join(mods)}}} [OPTIONS]\n\n{DESCRIPTION}\n\n"
          "commands (igen COMMAND --help for its options):", file=out)
    width = max(len(n) for n in mods)
    for name, mod in mods.items():
        print(f"  {name:<{width}}  {_summary(mod)}", file=out)
    print("\n--debug (or IGEN_DEBUG=1): print the traceback of an error", file=out)


_BOX = "╭╮╰╯│─ "


def _parse(cls: type, args: list[str], name: str):
    """tyro's parse of ``igen NAME ARGS``; a parse error becomes one line on stderr (tyro draws
    a box of several lines) and None. Help goes to stdout as tyro writes it."""
    import contextlib
    import io

    buf = io.StringIO()
    try:
        with contextlib.redirect_stderr(buf):
            return tyro.cli(cls, args=args, prog=f"igen {name}")
    except SystemExit as e:
        if not e.code:
            sys.stdout.write(buf.getvalue())
            raise
        lines = []
        for ln in buf.getvalue().splitlines():
            ln = ln.strip(_BOX)
            if ln.startswith(("For full", "Argument helptext")):
                break
            if ln and not set(ln) <= set(_BOX + "-"):
                lines.append(ln)
        title, body = (lines[0], lines[1:]) if lines else ("cannot parse the options", [])
        options = [ln.split()[0] for ln in body if ln.startswith("--")]
        if title.lower().startswith("required") and options:
            msg = f"missing required option(s): {', '.join(options)}"
        else:
            msg = " ".join(body) if body else title  # rich wraps long lines in its box
        print(f"igen: error: {msg} (igen {name} --help lists the options)", file=sys.stderr)
        return None


def _expected_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean "the input or the environment is wrong", not "a bug"."""
    kinds: list[type[BaseException]] = [ValueError, OSError, EOFError]
    for mod, name in (("PIL.Image", "DecompressionBombError"),
                      ("igen_gs.io.schema", "DatasetBusyError")):
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
    # Our warnings (and everything with --debug); other libraries' only from ERROR up.
    root.setLevel(logging.DEBUG if debug else logging.ERROR)
    logging.getLogger("igen_gs").setLevel(logging.DEBUG if debug else logging.WARNING)


def run(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("IGEN_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    _setup_logging(debug)
    mods = _command_modules()
    if not argv or argv[0] in ("-h", "--help"):
        _print_overview()
        return 0 if argv else EXIT_USER_ERROR
    if argv[0] not in mods:
        print(f"igen: error: unknown command {argv[0]!r}; commands: {', '.join(mods)}",
              file=sys.stderr)
        return EXIT_USER_ERROR
    # Only the chosen command's module is imported (heavy libraries load inside main()).
    name, cls = _load_command(mods[argv[0]])
    config = _parse(cls, argv[1:], name)
    if config is None:
        return EXIT_USER_ERROR
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
