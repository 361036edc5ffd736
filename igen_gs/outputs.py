"""Output locations: validate and claim one before any work starts, then write it all or nothing.

Every command that writes something calls :func:`claim_output` first, so a bad ``--out``
(under an existing file, in a read-only directory, a directory where a file is expected, a
non-empty directory that is not ours, a file name with the wrong suffix) is refused in one
line before minutes of lifting or rendering, and nothing of the user's is ever replaced.

Writing is atomic: :func:`staged_dir` and :func:`staged_file` write into a temporary sibling
(created with the user's umask, never 0700) that is renamed onto the final path only when
everything in it is complete; on failure or Ctrl-C the sibling is removed. Until then nothing
exists at the final path (or its previous content is intact).

This module imports nothing heavy and nothing else of the package.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["file", "dir", "dataset"]


class OutputError(ValueError):
    """An output location that cannot or must not be written (one line, names the path)."""


@dataclass(frozen=True)
class Claim:
    """A validated output location. ``exists``: something of ours is there already (it is
    replaced, or for a dataset appended to)."""

    path: Path
    kind: Kind
    exists: bool


def _first_existing(path: Path) -> Path:
    """The path itself or its nearest ancestor that exists (as anything, even a broken link)."""
    p = path
    while not os.path.lexists(p):
        if p.parent == p:
            break
        p = p.parent
    return p


def _probe_writable(directory: Path, flag: str, path: Path) -> None:
    """Create and remove a file in ``directory``: catches read-only file systems and missing
    permissions (``os.access`` says yes to root even on a read-only mount)."""
    name = directory / f".igen-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        fd = os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as e:
        reason = os.strerror(e.errno) if e.errno else str(e)
        if e.errno == errno.EROFS:
            reason = "read-only file system"
        raise OutputError(f"{flag} {path}: cannot write in {directory}: {reason}") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)


def is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def only_names(allowed: Iterable[str]) -> Callable[[Path], bool]:
    """An "is it ours" test: every entry of the directory has one of these names."""
    allowed = set(allowed)

    def ours(path: Path) -> bool:
        return all(p.name in allowed for p in path.iterdir())

    return ours


def claim_output(path, kind: Kind, *, flag: str = "--out", what: str = "",
                 suffixes: Iterable[str] = (), ours: Callable[[Path], bool] | None = None
                 ) -> Claim:
    """Check that ``path`` can be written as a ``kind`` ("file", "dir": replaced as a whole,
    "dataset": created or appended to), before any work starts. Raises :class:`OutputError`
    (a ValueError, one line naming ``flag`` and the path) when:

    * a component above it is an existing file ("cannot create ... : X is a file");
    * a file is expected and a directory is there, or the other way round;
    * the file name does not end in one of ``suffixes`` (e.g. ``(".png", ".jpg")``);
    * a directory is there, not empty, and ``ours(path)`` is false (``what`` names what we
      would have expected there, e.g. "a scene directory");
    * nothing can be created where it would go (read-only, no permission).
    """
    path = Path(path)
    if str(path) in ("", "."):
        raise OutputError(f"{flag} must name a {'file' if kind == 'file' else 'directory'}")
    suffixes = tuple(s.lower() for s in suffixes)
    if kind == "file" and path.is_dir():
        example = path / ("name" + (suffixes[0] if suffixes else ""))
        raise OutputError(f"{flag} {path} is a directory; give a file name such as {example}")
    if kind == "file" and suffixes and path.suffix.lower() not in suffixes:
        got = f"'{path.suffix}'" if path.suffix else "no suffix"
        raise OutputError(f"{flag} {path}: the file name must end in {', '.join(suffixes)} "
                          f"(got {got})")
    anchor = _first_existing(path)
    if anchor != path:
        if not anchor.is_dir():
            raise OutputError(f"{flag} {path}: cannot create it, {anchor} is "
                              f"{'a file' if anchor.exists() else 'a broken link'}")
        _probe_writable(anchor, flag, path)
        return Claim(path, kind, False)
    # Something is there already.
    if kind == "file":
        if not path.is_file():
            raise OutputError(f"{flag} {path} exists and is not a regular file")
        _probe_writable(path.parent, flag, path)
        return Claim(path, kind, True)
    if not path.is_dir():
        raise OutputError(f"{flag} {path} exists and is not a directory; not replacing it")
    empty = is_empty_dir(path)
    if not empty and not (ours is not None and ours(path)):
        raise OutputError(f"{flag} {path} is a non-empty directory and not "
                          f"{what or 'an output of this command'}; not writing into it (choose "
                          f"a new or empty directory)")
    _probe_writable(path if kind == "dataset" else path.parent, flag, path)
    return Claim(path, kind, not empty)


# ---------------------------------------------------------------------- atomic writing
def temp_sibling(final, tag: str = "tmp") -> Path:
    """A fresh, unique path beside ``final`` (hidden, in the same directory, so a rename moves
    it into place). Nothing is created."""
    final = Path(final)
    return final.with_name(f".{final.name}.{tag}-{os.getpid()}-{secrets.token_hex(3)}")


def make_temp_dir(final, tag: str = "tmp") -> Path:
    """Create a unique empty directory beside ``final`` with the user's umask (unlike
    ``tempfile.mkdtemp``, whose 0700 would stay on the renamed result)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = temp_sibling(final, tag)
        try:
            tmp.mkdir()
            return tmp
        except FileExistsError:
            continue


def replace_dir(tmp: Path, final: Path) -> None:
    """Rename the complete directory ``tmp`` onto ``final``; an existing ``final`` (ours, or
    empty) is moved aside first and deleted after, so ``final`` is always whole."""
    if not os.path.lexists(final):
        os.rename(tmp, final)
        return
    old = temp_sibling(final, "old")
    os.rename(final, old)
    try:
        os.rename(tmp, final)
    except OSError:
        os.rename(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def staged_dir(final, tag: str = "tmp") -> Iterator[Path]:
    """Yield a new temporary directory beside ``final``; when the block completes it replaces
    ``final`` (see :func:`replace_dir`), when it raises (or is interrupted) it is deleted."""
    final = Path(final)
    tmp = make_temp_dir(final, tag)
    try:
        yield tmp
        replace_dir(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def staged_file(final) -> Iterator[Path]:
    """Yield a temporary path beside ``final`` (same suffix, so writers that pick a format by
    extension work); it replaces ``final`` when the block completes, else it is removed."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.stem}.tmp-{os.getpid()}-{secrets.token_hex(3)}{final.suffix}")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def atomic_write_bytes(path, data: bytes, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` through a temporary sibling and a rename."""
    with staged_file(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
    return Path(path)
