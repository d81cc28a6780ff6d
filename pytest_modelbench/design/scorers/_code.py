"""Running generated Python against tests, in a sandbox or a limited process (POSIX).

A pass needs proof. The program runs under a small harness (:data:`_HARNESS`) that reads a
per-run random nonce from a pipe, sets the resource limits, forks the program, and in the
program's process runs the source with ``exec``; only when the whole source ran to its end
(the checks returned normally) does it write the nonce to another pipe, whose read end only
the runner holds. ``sys.exit(0)``, ``os._exit(0)``, ``atexit.register(os._exit, 0)``, a
``SystemExit`` raised by the checks: all end the program before the nonce is written, so
exit code 0 alone is never a pass. The nonce is not in the program's text, argv or
environment. A program written to attack this harness from inside the interpreter (walking
the harness's stack frames to find the nonce) could still forge the proof, as it could patch
the checks themselves: read the code of surprising passes.

Where the program runs (``_sandbox.py``): in bubblewrap when it works here (isolation
``bwrap``), else under resource limits only (``rlimits``), with a warning once per process.
In both the limits are: CPU seconds and address space per process (RLIMIT_CPU, RLIMIT_AS),
no core dumps, at most 16 MiB per file (RLIMIT_FSIZE); and, for the program and everything
it starts together, the memory (proportional set size), the number of processes and the
bytes of output and files, sampled every 50 ms from ``/proc`` (Linux) by the runner, which
kills everything when one is exceeded. With bubblewrap the writable tmpfs is sized to the
output limit (a hard limit) and, for a user other than root, RLIMIT_NPROC bounds the
processes of the sandbox's user namespace exactly.

The harness adopts orphans (PR_SET_CHILD_SUBREAPER), so a child that starts a new session
(``setsid``) or process group stays its descendant; when the program ends it kills every
descendant, and the runner kills whatever is still alive of the tree, the session, the
process group and every process seen during the run. With bubblewrap the PID namespace ends
with the program, which kills everything in it.
"""

from __future__ import annotations

import contextvars
import dataclasses
import math
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ...core.run_notes import note_isolation
from . import _processes, _sandbox
from ._result import shorten

STATUSES = ("passed", "failed", "timed_out", "error")
_PROGRAM_NAME = "solution.py"
_FILE_SIZE_LIMIT = 16 * 1024 * 1024
_MAX_FILES = 10_000
_TAIL_LINES = 12
_TAIL_CHARS = 2000
_WATCH_INTERVAL_S = 0.05
_CODE_BLOCK_RE = re.compile(r"```[ \t]*(?P<language>[\w+.-]*)[^\n]*\n(?P<body>.*?)```", re.DOTALL)

# The harness: ``python -I -c _HARNESS cpu memory fsize nproc nonce_fd proof_fd status_fd program``.
# It sets the limits, reads the nonce, becomes the subreaper of what the program starts and
# forks: the child runs the program and writes the nonce to proof_fd only when the program
# ran to its end; the parent waits for it, kills every descendant left and writes the
# child's wait status and how many it killed to status_fd.
_HARNESS = r"""
import os, sys

def _harness():
    import resource, signal
    cpu, memory, fsize, nproc, nonce_fd, proof_fd, status_fd, program = sys.argv[1:9]
    nonce_fd, proof_fd, status_fd = int(nonce_fd), int(proof_fd), int(status_fd)

    def limit(kind, soft, hard):
        old_soft, old_hard = resource.getrlimit(kind)
        if old_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, old_hard), min(hard, old_hard)
        resource.setrlimit(kind, (soft, hard))

    limit(resource.RLIMIT_CORE, 0, 0)
    limit(resource.RLIMIT_FSIZE, int(fsize), int(fsize))
    if cpu != "-":
        limit(resource.RLIMIT_CPU, int(cpu), int(cpu) + 1)
    if memory != "-":
        limit(resource.RLIMIT_AS, int(memory), int(memory))
    if nproc != "-":
        limit(resource.RLIMIT_NPROC, int(nproc), int(nproc))
    nonce = os.read(nonce_fd, 256)
    os.close(nonce_fd)
    linux = sys.platform.startswith("linux")
    if linux:
        try:
            import ctypes
            ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        except Exception:
            pass
    child = os.fork()
    if child == 0:
        os.close(status_fd)
        return nonce, proof_fd, program
    del nonce
    os.close(proof_fd)
    status = None
    while status is None:
        try:
            pid, wait_status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid == child:
            status = wait_status
    killed = _kill_descendants(os.getpid(), signal) if linux else 0
    os.write(status_fd, f"{status} {killed}\n".encode())
    if not linux:
        os.killpg(0, signal.SIGKILL)
    os._exit(0)

def _kill_descendants(me, signal):
    killed = set()
    for _ in range(200):
        children = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat") as handle:
                    fields = handle.read().rpartition(")")[2].split()
            except OSError:
                continue
            if fields and fields[0] not in ("Z", "X"):
                children.setdefault(int(fields[1]), []).append(int(name))
        found, pending = [], list(children.get(me, ()))
        while pending:
            pid = pending.pop()
            found.append(pid)
            pending.extend(children.get(pid, ()))
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if not found:
            break
        for number in (signal.SIGSTOP, signal.SIGKILL):
            for pid in found:
                try:
                    os.kill(pid, number)
                except OSError:
                    pass
        killed.update(found)
    return len(killed)

def _run(nonce, proof_fd, program):
    import types
    os.set_inheritable(proof_fd, False)
    module = types.ModuleType("__main__")
    module.__file__ = program
    sys.modules["__main__"] = module
    sys.argv = [program]
    try:
        with open(program, "rb") as handle:
            code = compile(handle.read(), program, "exec")
        exec(code, module.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:
        trace = exc.__traceback__
        while trace is not None and trace.tb_frame.f_code.co_filename != program:
            trace = trace.tb_next
        sys.excepthook(type(exc), exc.with_traceback(trace), trace)
        sys.exit(1)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os.write(proof_fd, nonce)
    os.close(proof_fd)

_run(*_harness())
"""


@dataclasses.dataclass(frozen=True, slots=True)
class CodeResult:
    """The outcome of running one program.

    ``status`` is ``passed`` (the program ran to its end, exit code 0, the harness's proof
    received, no traceback), ``failed`` (an ``AssertionError``, a non-zero exit without a
    traceback such as ``sys.exit(1)``, or an exit before the end such as ``sys.exit(0)`` or
    ``os._exit(0)``), ``timed_out`` (wall-clock timeout or CPU limit; everything the program
    started was killed) or ``error`` (any other exception, a syntax error, a memory, process
    or output limit, a crash). ``error`` holds the tail of the traceback or the reason,
    ``duration_s`` the wall-clock time, ``stdout``/``stderr`` the tails of the output,
    ``isolation`` where it ran: ``"bwrap"`` (bubblewrap sandbox) or ``"rlimits"`` (resource
    limits only). Truthy exactly when it passed.
    """

    status: str
    duration_s: float
    error: str | None = None
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    isolation: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of: {', '.join(STATUSES)}")
        if self.isolation is not None and self.isolation not in _sandbox.ISOLATION_LEVELS:
            raise ValueError(
                f"isolation {self.isolation!r} is not one of: {', '.join(_sandbox.ISOLATION_LEVELS)}"
            )

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def score(self) -> float:
        return 1.0 if self.passed else 0.0

    @property
    def reason(self) -> str:
        if self.passed:
            return f"passed in {self.duration_s:.2f} s"
        last_line = (self.error or "").strip().splitlines()[-1:] or [""]
        return f"{self.status.replace('_', ' ')}: {shorten(last_line[0], 200)}"

    def __bool__(self) -> bool:
        return self.passed


def _check_limit(name: str, value: Any, *, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or not value > 0 or not math.isfinite(value):
        allowed = "a number > 0" + (" or None" if allow_none else "")
        raise ValueError(f"{name} {value!r} is not allowed; use {allowed}")


def _minimal_env(extra: Mapping[str, str] | None, home: str, path: str) -> dict[str, str]:
    env = {
        "PATH": path,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": home,
        "TMPDIR": home,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if extra:
        for key, value in extra.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError(f"env entries must be strings, got {key!r}")
            env[key] = value
    return env


def _safe_path(path: str) -> str:
    """PATH without relative entries (which would resolve inside the program's directory)."""
    return os.pathsep.join(entry for entry in path.split(os.pathsep) if os.path.isabs(entry)) or os.defpath


def _sandbox_path() -> str:
    """PATH inside the sandbox: the interpreter's directory and the system's."""
    return os.pathsep.join(dict.fromkeys([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]))


def _tail(text: str) -> str:
    lines = text.rstrip().splitlines()[-_TAIL_LINES:]
    joined = "\n".join(lines)
    return joined if len(joined) <= _TAIL_CHARS else "\u2026" + joined[-_TAIL_CHARS:]


def _read(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _read_pipe(fd: int, limit: int = 4096) -> bytes:
    """What is waiting in a pipe (non-blocking: a writer left alive cannot stall the runner)."""
    os.set_blocking(fd, False)
    data = b""
    try:
        while len(data) < limit:
            piece = os.read(fd, limit)
            if not piece:
                break
            data += piece
    except (BlockingIOError, OSError):
        pass
    return data


def _exception_name(stderr: str) -> str | None:
    if "Traceback (most recent call last)" not in stderr and "SyntaxError" not in stderr:
        return None
    for line in reversed(stderr.strip().splitlines()):
        match = re.match(r"^([A-Za-z_][\w.]*)(?::|$)", line)
        if match:
            return match.group(1).rsplit(".", 1)[-1]
    return None


# --------------------------------------------------------------------------- watching


@dataclasses.dataclass(slots=True)
class _Watch:
    """The runner's view of a running program: what it has seen, and why it killed it."""

    root: int
    memory_limit: int | None
    max_processes: int
    output_limit: int
    output_paths: tuple[str, ...]
    writable_dir: str | None
    overhead: int  # processes of the runner's own in the tree: the harness (and bubblewrap's two)
    seen: dict[int, int] = dataclasses.field(default_factory=dict)  # pid -> start time
    killed_for: str | None = None

    def sample(self) -> None:
        """Measure the program's processes, memory and output; set ``killed_for`` when over."""
        self._sample_processes()
        if self.killed_for is None:
            self.sample_output()

    def _sample_processes(self) -> None:
        tree = _tree(self.root)
        infos = {pid: _processes.read_process(pid) for pid in tree}
        live = {pid: info for pid, info in infos.items() if info is not None}
        for pid, info in live.items():
            self.seen.setdefault(pid, info.start_ticks)
        if len(live) > self.max_processes + self.overhead:
            self.killed_for = f"more than {self.max_processes} processes (process limit)"
            return
        if self.memory_limit is not None:
            used = sum(_processes.memory_bytes(pid, info) for pid, info in live.items())
            if used > self.memory_limit:
                self.killed_for = (f"memory limit reached: {used / 2**20:.0f} MiB in {len(live)} processes "
                                   f"(limit {self.memory_limit / 2**20:.0f} MiB for all together)")

    def sample_output(self) -> None:
        """Measure the output and the files written together; set ``killed_for`` when over."""
        written = sum(_size(path) for path in self.output_paths)
        if self.writable_dir is not None:
            files, count = _directory_size(self.writable_dir)
            if count > _MAX_FILES:
                self.killed_for = f"more than {_MAX_FILES} files written (file limit)"
                return
            written += files
        if written > self.output_limit:
            self.killed_for = (f"output or files larger than the {self.output_limit / 2**20:g} MiB limit "
                               "(all output and files together)")


def _tree(root: int) -> set[int]:
    """``root`` and its descendants, from the ``children`` files of /proc (a full scan of the
    process table when the kernel has none)."""
    found = {root}
    pending = [root]
    while pending:
        pid = pending.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
                    children = [int(child) for child in handle.read().split()]
            except FileNotFoundError:
                return {root} | _processes.descendants(_processes.process_table(), root)
            except (OSError, ValueError):
                continue
            for child in children:
                if child not in found:
                    found.add(child)
                    pending.append(child)
    return found


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _directory_size(directory: str) -> tuple[int, int]:
    """Bytes of the regular files under ``directory`` and how many entries it holds (the walk
    stops after :data:`_MAX_FILES` + 1 entries)."""
    total = count = 0
    pending = [directory]
    while pending and count <= _MAX_FILES:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue
        for entry in entries:
            count += 1
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total, count


def _kill_everything(process: subprocess.Popen[bytes], watch: _Watch) -> None:
    """Kill the program's tree, its session and process group, and every process seen."""
    pgid = process.pid
    for _ in range(5):
        targets: set[int] = set()
        if _processes.has_proc():
            table = _processes.process_table()
            targets |= _processes.descendants(table, process.pid)
            targets |= {pid for pid, info in table.items() if info.sid == pgid or info.pgid == pgid}
            targets |= {pid for pid in watch.seen if pid in table and table[pid].start_ticks == watch.seen[pid]}
        targets.discard(os.getpid())
        if not targets:
            break
        _processes.kill_processes(targets, watch.seen)
        time.sleep(0.01)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# --------------------------------------------------------------------------- running


def run_python(
    source: str,
    *,
    timeout_s: float = 10.0,
    cpu_time_s: float | None = None,
    memory_mb: float | None = 1024,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    max_processes: int = 64,
    sandbox: str | None = None,
) -> CodeResult:
    """Run ``source`` as a Python program, isolated, and say whether it ran to its end.

    ``timeout_s`` is the wall-clock limit, after which everything the program started is
    killed. ``cpu_time_s`` limits CPU seconds per process (RLIMIT_CPU; default: ``timeout_s``
    rounded up plus one, so the wall clock normally fires first). ``memory_mb`` limits each
    process's address space (RLIMIT_AS) and the memory of all the program's processes
    together (sampled; None for no limit — programs that start many threads or map large
    libraries need more). ``max_processes`` bounds how many processes it may run at once.
    Files and output may not exceed 16 MiB together. ``stdin`` is fed to the program; ``env``
    adds variables to the minimal environment (PATH, LANG, LC_ALL, HOME and TMPDIR set to the
    program's directory). ``sandbox`` is ``"auto"`` (bubblewrap when it works, else resource
    limits with a warning), ``"require"`` (bubblewrap or SandboxUnavailableError) or
    ``"off"``; None takes the session's ``--modelbench-sandbox`` (else ``$MODELBENCH_SANDBOX``,
    else auto). POSIX only.
    """
    if not isinstance(source, str):
        raise TypeError(f"run_python() takes the program as a string, got {type(source).__name__}")
    _check_limit("timeout_s", timeout_s, allow_none=False)
    _check_limit("cpu_time_s", cpu_time_s, allow_none=True)
    _check_limit("memory_mb", memory_mb, allow_none=True)
    if isinstance(max_processes, bool) or not isinstance(max_processes, int) or max_processes < 1:
        raise ValueError(f"max_processes {max_processes!r} is not allowed; use a whole number >= 1")
    if stdin is not None and not isinstance(stdin, str):
        raise TypeError(f"stdin must be a string, got {type(stdin).__name__}")
    if os.name != "posix":
        raise RuntimeError("run_python() needs a POSIX system (resource limits, process groups)")
    isolation, probe = _sandbox.choose_isolation(sandbox)
    cpu_limit = math.ceil(cpu_time_s) if cpu_time_s is not None else math.ceil(timeout_s) + 1
    memory_limit = None if memory_mb is None else int(memory_mb * 1024 * 1024)
    root_user = hasattr(os, "geteuid") and os.geteuid() == 0
    # RLIMIT_NPROC counts a user's processes: in the sandbox's own user namespace that is the
    # program's; outside it, every process of the user (and root is exempt anyway).
    nproc = str(max_processes + 2) if isolation == "bwrap" and not root_user else "-"
    nonce = secrets.token_hex(16).encode("ascii")
    with tempfile.TemporaryDirectory(prefix="modelbench-code-", ignore_cleanup_errors=True) as host_dir:
        source_dir, output_dir, work_dir = (os.path.join(host_dir, name) for name in ("source", "output", "work"))
        for directory in (source_dir, output_dir, work_dir):
            os.mkdir(directory, 0o700)
        stdout_path, stderr_path = os.path.join(output_dir, "stdout"), os.path.join(output_dir, "stderr")
        stdin_path = os.path.join(output_dir, "stdin")
        with open(stdin_path, "w", encoding="utf-8") as handle:
            handle.write(stdin or "")
        if isolation == "bwrap":
            assert probe is not None
            program_path = os.path.join(source_dir, _PROGRAM_NAME)
            writable = None if probe.tmpfs_size else work_dir
            cwd = host_dir
            home = _sandbox.SANDBOX_DIR
        else:
            program_path = os.path.join(work_dir, _PROGRAM_NAME)
            writable = work_dir
            cwd = work_dir
            home = work_dir
        with open(program_path, "w", encoding="utf-8") as handle:
            handle.write(source)
        nonce_read, nonce_write = os.pipe()
        proof_read, proof_write = os.pipe()
        status_read, status_write = os.pipe()
        os.write(nonce_write, nonce)
        os.close(nonce_write)
        harness = [sys.executable, "-I", "-c", _HARNESS, str(cpu_limit),
                   "-" if memory_limit is None else str(memory_limit), str(_FILE_SIZE_LIMIT), nproc,
                   str(nonce_read), str(proof_write), str(status_write), _PROGRAM_NAME]
        if isolation == "bwrap":
            assert probe is not None
            command = _sandbox.bwrap_command(
                probe, program=program_path, writable=writable, writable_bytes=_FILE_SIZE_LIMIT,
                env=_minimal_env(env, home, _sandbox_path()), argv=harness, program_name=_PROGRAM_NAME,
            )
            launch_env = _sandbox._launch_env()
        else:
            command = harness
            launch_env = _minimal_env(env, home, _safe_path(os.environ.get("PATH") or os.defpath))
        try:
            with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err, open(stdin_path, "rb") as feed:
                started = time.perf_counter()
                process = subprocess.Popen(
                    command, cwd=cwd, env=launch_env, stdin=feed, stdout=out, stderr=err,
                    start_new_session=True, close_fds=True,
                    pass_fds=(nonce_read, proof_write, status_write),
                )
        finally:
            for fd in (nonce_read, proof_write, status_write):
                os.close(fd)
        watch = _Watch(
            root=process.pid, memory_limit=memory_limit, max_processes=max_processes,
            output_limit=_FILE_SIZE_LIMIT, output_paths=(stdout_path, stderr_path),
            writable_dir=writable, overhead=3 if isolation == "bwrap" else 1, seen={},
        )
        timed_out = over_at_end = False
        watching = _processes.has_proc()
        try:
            deadline = started + timeout_s
            while True:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    timed_out = True
                    break
                try:
                    process.wait(timeout=min(_WATCH_INTERVAL_S, remaining))
                    break
                except subprocess.TimeoutExpired:
                    pass
                if watching:
                    watch.sample()
                    if watch.killed_for is not None:
                        break
        finally:
            duration_s = time.perf_counter() - started
            _kill_everything(process, watch)
            process.wait()
            if watch.killed_for is None and not timed_out:
                watch.sample_output()  # what was written just before the end counts too
                over_at_end = watch.killed_for is not None
            proof = _read_pipe(proof_read)
            status_line = _read_pipe(status_read).decode("ascii", errors="replace")
            os.close(proof_read)
            os.close(status_read)
        stdout = _read(stdout_path)
        stderr = _read(stderr_path)
    result = _classify(
        _RunEnd(process.returncode, _wait_status(status_line), timed_out,
                watch.killed_for if not over_at_end else None, over_at_end and watch.killed_for or None,
                proof == nonce),
        duration_s, timeout_s, cpu_limit, stdout, stderr, isolation,
    )
    note_isolation(isolation)
    return result


def _wait_status(line: str) -> int | None:
    """The program's wait status from the harness's status line, None when it never wrote one."""
    parts = line.split()
    if not parts or parts[0] == "None":
        return None
    try:
        return int(parts[0])
    except ValueError:
        return None


@dataclasses.dataclass(frozen=True, slots=True)
class _RunEnd:
    """How a run ended: the launched process's return code, the program's wait status as the
    harness reported it (None: the harness died first), why the runner killed it, a limit
    found exceeded only after it ended, and whether the proof arrived."""

    launcher_returncode: int
    wait_status: int | None
    timed_out: bool
    killed_for: str | None
    over_at_end: str | None
    proved: bool


def _classify(
    end: _RunEnd, duration_s: float, timeout_s: float, cpu_limit: int, stdout: str, stderr: str, isolation: str,
) -> CodeResult:
    out, err = _tail(stdout), _tail(stderr)

    def result(status: str, error: str | None, exit_code: int | None) -> CodeResult:
        return CodeResult(status, duration_s, error, exit_code, out, err, isolation)

    if end.timed_out:
        return result("timed_out", f"killed after the {timeout_s:g} s wall-clock timeout", None)
    if end.killed_for is not None:
        return result("error", _join(err, f"killed: {end.killed_for}"), None)
    if end.over_at_end is not None:
        return result("error", _join(err, end.over_at_end), None)
    if end.wait_status is None:
        return result("error", _join(err, "the harness around the program was killed before the program ended "
                                          f"(its exit code {end.launcher_returncode}); the program killed its parent?"),
                      None)
    returncode = os.waitstatus_to_exitcode(end.wait_status)
    if returncode < 0:
        number = -returncode
        if number == signal.SIGXCPU or (number == signal.SIGKILL and duration_s >= cpu_limit):
            return result("timed_out", f"killed at the {cpu_limit} s CPU-time limit", returncode)
        if number == signal.SIGXFSZ:
            return result("error", "killed: output or file larger than the 16 MiB limit", returncode)
        name = signal.Signals(number).name if number in signal.valid_signals() else str(number)
        return result("error", _join(err, f"killed by signal {name}"), returncode)
    exception = _exception_name(stderr)
    if returncode == 0 and end.proved and exception is None:
        return result("passed", None, 0)
    if returncode == 0 and not end.proved:
        early = "exited with code 0 before the end of the program (sys.exit, os._exit, an atexit hook...): not a pass"
        if exception is None or exception == "AssertionError":
            return result("failed", _join(err, early), 0)
        return result("error", _join(err, early), 0)
    if exception is None:
        return result("failed", _join(err, f"exit code {returncode}"), returncode)
    if exception == "AssertionError":
        return result("failed", err, returncode)
    if exception == "OSError" and "[Errno 27]" in err:  # EFBIG: Python ignores SIGXFSZ
        return result("error", _join(err, "output or file larger than the 16 MiB limit"), returncode)
    if exception == "OSError" and "[Errno 28]" in err and isolation == "bwrap":  # ENOSPC: the tmpfs is full
        return result("error", _join(err, "files larger than the 16 MiB limit (all files together)"), returncode)
    if exception == "MemoryError":
        return result("error", _join(err, "memory limit reached"), returncode)
    return result("error", err, returncode)


def _join(tail: str, reason: str) -> str:
    return f"{tail}\n{reason}" if tail else reason


def run_python_tests(code: str, tests: str, **limits: Any) -> CodeResult:
    """Run ``code`` followed by ``tests`` (asserts, or a call that raises on failure) as one
    program; ``limits`` as :func:`run_python`."""
    return run_python(f"{code.rstrip()}\n\n\n{tests.strip()}\n", **limits)


def humaneval_program(problem: Mapping[str, Any], completion: str) -> str:
    """The HumanEval program for a completion: prompt + completion + test + ``check(entry_point)``
    (Chen et al. 2021, "Evaluating Large Language Models Trained on Code", the human-eval
    harness)."""
    missing = [key for key in ("prompt", "test", "entry_point") if key not in problem]
    if missing:
        raise ValueError(
            f"HumanEval problem {problem.get('task_id', '?')!r} lacks {', '.join(missing)}; "
            "it needs prompt, test and entry_point"
        )
    return f"{problem['prompt']}{completion}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"


def run_humaneval(
    problem: Mapping[str, Any], completion: str, *, timeout_s: float = 5.0, **limits: Any
) -> CodeResult:
    """Run a HumanEval-style ``problem`` (a dict with prompt, test, entry_point) with
    ``completion`` as the function body; ``limits`` as :func:`run_python`."""
    return run_python(humaneval_program(problem, completion), timeout_s=timeout_s, **limits)


def run_python_many(sources: Iterable[str], *, workers: int = 2, **limits: Any) -> list[CodeResult]:
    """Run several programs, ``workers`` at a time (threads waiting on subprocesses), and
    return their results in the order given; ``limits`` as :func:`run_python`."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers {workers!r} is not allowed; use a whole number >= 1")
    programs: Sequence[str] = list(sources)
    if not programs:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(programs))) as pool:
        # Each program in a copy of this thread's context, so that it reports into this run.
        futures = [pool.submit(contextvars.copy_context().run, run_python, program, **limits)
                   for program in programs]
        return [future.result() for future in futures]


def extract_code(text: str, language: str | None = "python") -> str:
    """The code in a reply: the first fenced block tagged ``language`` (case-insensitive), else
    the first untagged fenced block, else the first fenced block of any tag, else the whole
    text. ``language=None`` takes the first fenced block whatever its tag."""
    if not isinstance(text, str):
        raise TypeError(f"extract_code() takes a string, got {type(text).__name__}")
    blocks = list(_CODE_BLOCK_RE.finditer(text))
    if language is not None:
        wanted = language.lower()
        aliases = {"python": ("python", "py", "python3"), "sql": ("sql", "sqlite")}.get(wanted, (wanted,))
        for preferred in (lambda tag: tag in aliases, lambda tag: tag == ""):
            for block in blocks:
                if preferred(block["language"].lower()):
                    return block["body"]
    if blocks:
        return blocks[0]["body"]
    return text
