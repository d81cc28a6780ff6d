"""Output files: checked before a session spends anything, written atomically at its end.

:func:`check_output_path` says, before any model is called, whether a path can be written:
its parent is a directory that exists or can be created and is writable, and the path is
not a directory, a device or anything but a regular file (a symlink counts as its target).
:func:`write_text_atomic` writes a regular file by way of a temporary file in the same
directory and a rename, so a reader never sees half a file: a symlink's target is written
(the link stays), nothing but a regular file is ever replaced (never ``/dev/full`` or a
FIFO), and a new file gets the usual permissions (0666 minus the umask, so 0644), an
existing one keeps its own. Both raise :class:`OutputPathError` naming the path. Does not
import pytest.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from .._exceptions import ConfigError


class OutputPathError(ConfigError):
    """An output path that cannot be written; the message names it and says why."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def resolve_target(path: Path) -> Path:
    """The file a write to ``path`` lands in: ``path``, or the final target of its symlinks."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def check_output_path(path: str | os.PathLike[str], what: str) -> Path:
    """The file ``path`` will be written as, when it can be; OutputPathError otherwise.

    ``what`` names the option (``--modelbench-json``) in the message.
    """
    given = Path(path)
    target = resolve_target(given)
    shown = f"{what} {str(given)!r}" + (f" (a link to {str(target)!r})" if target != given else "")
    try:
        mode = os.stat(target).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None  # the parents are looked at below
    except OSError as exc:
        raise OutputPathError(f"{shown} cannot be written: {exc.strerror or exc}") from None
    if mode is not None:
        if not stat.S_ISREG(mode):
            raise OutputPathError(f"{shown} is {_kind(mode)}; give the path of a file to write")
        if not os.access(target, os.W_OK):
            raise OutputPathError(f"{shown} exists and is not writable")
    ancestor = target.parent
    while not ancestor.exists() and not ancestor.is_symlink():
        ancestor = ancestor.parent
    if ancestor.is_symlink() and not ancestor.exists():
        raise OutputPathError(f"{shown} cannot be written: {str(ancestor)!r} is a broken link")
    if not ancestor.is_dir():
        raise OutputPathError(f"{shown} cannot be written: {str(ancestor)!r} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        problem = "cannot be created in" if ancestor != target.parent else "is in"
        raise OutputPathError(f"{shown} {problem} {str(ancestor)!r}, which is not writable")
    return target


def _umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike[str], write: Callable[[TextIO], None], what: str = "output") -> Path:
    """Write ``path`` (a symlink's target) with ``write(stream)``, atomically; returns the file
    written. OutputPathError when the target is not a regular file or cannot be written; a
    failure of ``write`` itself propagates and leaves any existing file as it was."""
    target = resolve_target(Path(path))
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise OutputPathError(f"{what} {str(path)!r} cannot be written: {exc.strerror or exc}") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise OutputPathError(f"{what} {str(path)!r} is {_kind(mode)}; it was not replaced")
    permissions = stat.S_IMODE(mode) if mode is not None else 0o666 & ~_umask()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OutputPathError(f"{what} {str(path)!r} cannot be written: {exc.strerror or exc}") from None
    try:
        os.fchmod(handle, permissions)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            write(stream)
        os.replace(temp_name, target)
    except BaseException:
        try:
            os.unlink(temp_name)
        except FileNotFoundError:
            pass
        raise
    return target
