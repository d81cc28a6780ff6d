"""Where generated code runs: the sandbox ladder, probed once per process.

1. ``bwrap`` — bubblewrap (Debian/Ubuntu package ``bubblewrap``): new user, PID, IPC, UTS,
   network and mount namespaces (``--unshare-all --unshare-user``), no capabilities, a
   read-only root holding only the interpreter and its libraries (read-only binds of
   ``/usr``, ``/lib*`` and the Python prefixes), a new ``/proc`` of the new PID namespace, a
   minimal ``/dev``, a size-limited tmpfs as the only writable place (``/tmp``, the program's
   directory and home), an environment holding only what the runner sets, and
   ``--die-with-parent``. When the program ends, the PID namespace ends with it.
2. ``rlimits`` — the fallback: resource limits, a process group and a harness that adopts and
   kills orphans, but no isolation of files, network or other processes. Chosen only when
   bubblewrap does not work here, with a :class:`SandboxWarning` once per process naming what
   is not isolated.

The mode (``auto``, ``require``, ``off``) comes from ``run_python(sandbox=...)``, else from
:func:`set_default_sandbox` (the plugin's ``--modelbench-sandbox``), else from the
``MODELBENCH_SANDBOX`` environment variable, else ``auto``. Does not import pytest.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Mapping, Sequence

from ..._exceptions import ConfigError, SandboxUnavailableError

SANDBOX_MODES = ("auto", "require", "off")
ISOLATION_LEVELS = ("bwrap", "rlimits")
SANDBOX_ENV = "MODELBENCH_SANDBOX"

#: Where the program runs inside the sandbox: its directory, HOME and TMPDIR (the tmpfs).
SANDBOX_DIR = "/tmp"

#: Top-level system directories bound read-only (or recreated as the symlinks they are).
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")

_PROBE_TIMEOUT_S = 15.0
_INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)"


class SandboxWarning(UserWarning):
    """Generated code runs without a sandbox (resource limits only)."""


@dataclasses.dataclass(frozen=True, slots=True)
class BwrapProbe:
    """What the probe of bubblewrap found: ``works``, and ``reason`` (its version, or why not).

    ``unshare_user`` says whether a new user namespace is asked for explicitly (it is unless
    the kernel refused it), ``tmpfs_size`` whether ``--size`` limits the tmpfs (bubblewrap
    0.8.0 and later; without it a host directory is bound as the writable place instead).
    """

    executable: str | None
    works: bool
    reason: str
    unshare_user: bool = True
    tmpfs_size: bool = True


_lock = threading.Lock()
_probe: BwrapProbe | None = None
_default_mode: str | None = None
_warned = False


def check_sandbox_mode(mode: object, what: str = "sandbox", error: type[Exception] = ConfigError) -> str:
    """``mode`` when it is one of :data:`SANDBOX_MODES`, else ``error`` naming it."""
    text = mode.strip().lower() if isinstance(mode, str) else mode
    if text not in SANDBOX_MODES:
        raise error(f"{what} {mode!r} is not one of: {', '.join(SANDBOX_MODES)}")
    return text  # type: ignore[return-value]


def set_default_sandbox(mode: str | None) -> str | None:
    """Set the mode used when ``run_python`` is not given one (None: environment, else auto);
    returns the previous setting, so that a caller can restore it."""
    global _default_mode
    checked = None if mode is None else check_sandbox_mode(mode)
    with _lock:
        previous, _default_mode = _default_mode, checked
    return previous


def default_sandbox() -> str:
    """The mode of a ``run_python`` call that names none."""
    if _default_mode is not None:
        return _default_mode
    text = os.environ.get(SANDBOX_ENV, "").strip()
    return check_sandbox_mode(text, f"${SANDBOX_ENV}") if text else "auto"


def configure_sandbox(mode: str | None) -> str | None:
    """Make ``mode`` the default (None: leave it to ``$MODELBENCH_SANDBOX``, else auto) and
    return the previous setting. With ``require``, bubblewrap is probed now and
    SandboxUnavailableError says why it cannot be used (``auto`` probes when code first runs)."""
    previous = set_default_sandbox(mode)
    if default_sandbox() == "require":
        probe = probe_bwrap()
        if not probe.works:
            set_default_sandbox(previous)
            raise SandboxUnavailableError(_unavailable_message(probe))
    return previous


def _unavailable_message(probe: BwrapProbe) -> str:
    return (
        f"sandbox 'require': bubblewrap cannot isolate generated code here ({probe.reason}); "
        f"{_INSTALL_HINT}, or use --modelbench-sandbox=auto to run it under resource limits only"
    )


def choose_isolation(mode: str | None) -> tuple[str, BwrapProbe | None]:
    """The isolation level of one run in ``mode`` (None: :func:`default_sandbox`) and the probe
    to build its command from. ``auto`` falling back warns once per process; ``require``
    without a working bubblewrap raises SandboxUnavailableError."""
    effective = default_sandbox() if mode is None else check_sandbox_mode(mode, error=ValueError)
    if effective == "off":
        return "rlimits", None
    probe = probe_bwrap()
    if probe.works:
        return "bwrap", probe
    if effective == "require":
        raise SandboxUnavailableError(_unavailable_message(probe))
    _warn_once(probe)
    return "rlimits", None


def _warn_once(probe: BwrapProbe) -> None:
    global _warned
    with _lock:
        if _warned:
            return
        _warned = True
    warnings.warn(
        SandboxWarning(
            f"modelbench: generated code runs without a sandbox ({probe.reason}). It is limited "
            "in CPU time, memory, output and processes and killed at the end, but it is NOT "
            "isolated: it can read your files (including other processes' /proc/PID/environ), "
            "write and delete wherever you can, and use the network. "
            f"To isolate it, {_INSTALL_HINT}; --modelbench-sandbox=require refuses to run without it."
        ),
        stacklevel=4,
    )


# --------------------------------------------------------------------------- probing


def probe_bwrap(*, refresh: bool = False) -> BwrapProbe:
    """Whether bubblewrap can run this interpreter in the sandbox; probed once per process."""
    global _probe
    with _lock:
        if _probe is not None and not refresh:
            return _probe
    probe = _run_probe()
    with _lock:
        _probe = probe
    return probe


def _run_probe() -> BwrapProbe:
    if not sys.platform.startswith("linux"):
        return BwrapProbe(None, False, f"bubblewrap needs Linux, this is {sys.platform}")
    executable = shutil.which("bwrap") or next(
        (path for path in ("/usr/bin/bwrap", "/usr/local/bin/bwrap") if os.access(path, os.X_OK)), None
    )
    if executable is None:
        return BwrapProbe(None, False, "bwrap was not found")
    try:
        help_text = subprocess.run([executable, "--help"], capture_output=True, text=True,
                                   timeout=_PROBE_TIMEOUT_S, env=_launch_env()).stdout
        version = subprocess.run([executable, "--version"], capture_output=True, text=True,
                                 timeout=_PROBE_TIMEOUT_S, env=_launch_env()).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return BwrapProbe(executable, False, f"{executable} could not be run: {exc}")
    tmpfs_size = "--size" in help_text
    failure = ""
    for unshare_user in (True, False):
        candidate = BwrapProbe(executable, True, version or "bubblewrap", unshare_user, tmpfs_size)
        with tempfile.TemporaryDirectory(prefix="modelbench-probe-") as directory:
            program = os.path.join(directory, "probe.py")
            with open(program, "w", encoding="utf-8") as handle:
                handle.write("print('modelbench-sandbox-ok')\n")
            writable = None if tmpfs_size else directory
            command = bwrap_command(candidate, program=program, writable=writable, writable_bytes=1 << 20,
                                    env={}, argv=[sys.executable, "-I", "-S", f"{SANDBOX_DIR}/probe.py"],
                                    program_name="probe.py")
            try:
                result = subprocess.run(command, capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S,
                                        env=_launch_env(), stdin=subprocess.DEVNULL)
            except (OSError, subprocess.SubprocessError) as exc:
                failure = f"{executable} failed to start: {exc}"
                continue
        if result.returncode == 0 and result.stdout.strip() == "modelbench-sandbox-ok":
            return candidate
        detail = " ".join((result.stderr or result.stdout).split())[:300] or f"exit code {result.returncode}"
        failure = f"{executable} ({version or 'bubblewrap'}) does not work here: {detail}"
    return BwrapProbe(executable, False, failure)


def _launch_env() -> dict[str, str]:
    """The environment bubblewrap itself gets: nothing secret, since the sandbox's PID 1 is
    bubblewrap and its /proc/1/environ is readable inside."""
    return {"PATH": os.defpath, "LANG": "C.UTF-8"}


# --------------------------------------------------------------------------- the command


def interpreter_paths() -> list[str]:
    """Directories the interpreter needs besides the system ones: its prefixes (the
    standard library, a virtual environment's site-packages) and its executable's directory."""
    candidates = [sys.base_prefix, sys.prefix, os.path.dirname(sys.executable),
                  os.path.dirname(os.path.realpath(sys.executable))]
    paths: list[str] = []
    for candidate in candidates:
        if not candidate or not os.path.isdir(candidate):
            continue
        path = os.path.abspath(candidate)
        if path == "/" or any(_inside(path, system) for system in _SYSTEM_DIRS):
            continue
        paths.append(path)
    # Drop paths inside another one of the list.
    return sorted({path for path in paths if not any(other != path and _inside(path, other) for other in paths)})


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def bwrap_command(
    probe: BwrapProbe,
    *,
    program: str,
    writable: str | None,
    writable_bytes: int,
    env: Mapping[str, str],
    argv: Sequence[str],
    program_name: str,
) -> list[str]:
    """The bubblewrap command running ``argv`` in the sandbox.

    ``program`` (a host file) appears read-only as ``/tmp/<program_name>``; the writable
    ``/tmp`` is a tmpfs of ``writable_bytes`` (or, when this bubblewrap cannot size a tmpfs,
    the host directory ``writable``). ``env`` is the whole environment inside.
    """
    assert probe.executable is not None
    command = [probe.executable, "--unshare-all"]
    if probe.unshare_user:
        command.append("--unshare-user")
    command += ["--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "sandbox"]
    if probe.tmpfs_size:
        command += ["--size", str(int(writable_bytes)), "--tmpfs", SANDBOX_DIR]
    else:
        if writable is None:
            raise ValueError("this bubblewrap cannot size a tmpfs: a writable host directory is needed")
        command += ["--bind", writable, SANDBOX_DIR]
    for directory in _SYSTEM_DIRS:
        if os.path.islink(directory):
            command += ["--symlink", os.readlink(directory), directory]
        elif os.path.isdir(directory):
            command += ["--ro-bind", directory, directory]
    for path in interpreter_paths():
        command += ["--ro-bind", path, path]
    command += ["--ro-bind", program, f"{SANDBOX_DIR}/{program_name}"]
    command += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev", "--remount-ro", "/"]
    command += ["--chdir", SANDBOX_DIR, "--clearenv"]
    for name, value in env.items():
        command += ["--setenv", name, value]
    command += ["--", *argv]
    return command
