"""Running generated Python against tests, in a separate, limited process (POSIX).

Each program runs as ``python -I`` in a fresh temporary directory, with a minimal environment
(no inherited variables, so no API keys), in its own session and process group, under
resource limits (CPU seconds, address space, file size, no core dumps) set by a small wrapper
that then replaces itself with the program (exec), so the limits hold for the program and
everything it starts. On a wall-clock timeout the whole process group is killed; after a
normal exit, any process the program left behind in its group is killed too.

This is isolation against accidents (infinite loops, memory blow-ups, stray children,
environment leaks), not a security sandbox: the program runs as the current user, can read
the file system and open network connections. Run untrusted code in a container or VM.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._result import shorten

STATUSES = ("passed", "failed", "timed_out", "error")
_PROGRAM_NAME = "solution.py"
_FILE_SIZE_LIMIT = 16 * 1024 * 1024
_TAIL_LINES = 12
_TAIL_CHARS = 2000
_CODE_BLOCK_RE = re.compile(r"```[ \t]*(?P<language>[\w+.-]*)[^\n]*\n(?P<body>.*?)```", re.DOTALL)

# Runs in the child before the program: set the limits, then replace itself with the program.
_WRAPPER = """
import os, resource, sys
cpu, memory, fsize, program = sys.argv[1:5]
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
os.execv(sys.executable, [sys.executable, "-I", program])
"""


@dataclasses.dataclass(frozen=True, slots=True)
class CodeResult:
    """The outcome of running one program.

    ``status`` is ``passed`` (exit code 0), ``failed`` (an ``AssertionError``, or a non-zero
    exit without a traceback, e.g. ``sys.exit(1)``), ``timed_out`` (wall-clock timeout or CPU
    limit; the process group was killed) or ``error`` (any other exception, a syntax error,
    the memory or output limit, a crash). ``error`` holds the tail of the traceback or the
    reason, ``duration_s`` the wall-clock time, ``stdout``/``stderr`` the tails of the output.
    Truthy exactly when it passed.
    """

    status: str
    duration_s: float
    error: str | None = None
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of: {', '.join(STATUSES)}")

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


def _minimal_env(extra: Mapping[str, str] | None, home: str) -> dict[str, str]:
    env = {
        "PATH": os.defpath if not os.environ.get("PATH") else _safe_path(os.environ["PATH"]),
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


def _exception_name(stderr: str) -> str | None:
    if "Traceback (most recent call last)" not in stderr and "SyntaxError" not in stderr:
        return None
    for line in reversed(stderr.strip().splitlines()):
        match = re.match(r"^([A-Za-z_][\w.]*)(?::|$)", line)
        if match:
            return match.group(1).rsplit(".", 1)[-1]
    return None


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_python(
    source: str,
    *,
    timeout_s: float = 10.0,
    cpu_time_s: float | None = None,
    memory_mb: float | None = 1024,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
) -> CodeResult:
    """Run ``source`` as a Python program in a separate, limited process.

    ``timeout_s`` is the wall-clock limit, after which the program's whole process group is
    killed. ``cpu_time_s`` limits CPU seconds (RLIMIT_CPU; default: ``timeout_s`` rounded up
    plus one, so the wall clock normally fires first). ``memory_mb`` limits the address space
    (RLIMIT_AS; None for no limit — programs that start many threads or map large libraries
    need more). Files written may not exceed 16 MiB (RLIMIT_FSIZE), which also bounds the
    captured output. ``stdin`` is fed to the program; ``env`` adds variables to the minimal
    environment (PATH, LANG, LC_ALL, HOME and TMPDIR set to the temporary directory). POSIX only.
    """
    if not isinstance(source, str):
        raise TypeError(f"run_python() takes the program as a string, got {type(source).__name__}")
    _check_limit("timeout_s", timeout_s, allow_none=False)
    _check_limit("cpu_time_s", cpu_time_s, allow_none=True)
    _check_limit("memory_mb", memory_mb, allow_none=True)
    if os.name != "posix":
        raise RuntimeError("run_python() needs a POSIX system (resource limits, process groups)")
    cpu_limit = math.ceil(cpu_time_s) if cpu_time_s is not None else math.ceil(timeout_s) + 1
    memory_limit = "-" if memory_mb is None else str(int(memory_mb * 1024 * 1024))
    with tempfile.TemporaryDirectory(prefix="modelbench-code-", ignore_cleanup_errors=True) as workdir:
        program_path = os.path.join(workdir, _PROGRAM_NAME)
        with open(program_path, "w", encoding="utf-8") as handle:
            handle.write(source)
        stdout_path = os.path.join(workdir, ".stdout")
        stderr_path = os.path.join(workdir, ".stderr")
        command = [sys.executable, "-I", "-S", "-c", _WRAPPER, str(cpu_limit), memory_limit,
                   str(_FILE_SIZE_LIMIT), _PROGRAM_NAME]
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            started = time.perf_counter()
            process = subprocess.Popen(
                command,
                cwd=workdir,
                env=_minimal_env(env, workdir),
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                close_fds=True,
            )
            timed_out = False
            try:
                if stdin is not None:
                    try:
                        process.communicate(stdin.encode("utf-8"), timeout=timeout_s)
                    except BrokenPipeError:
                        process.wait(timeout=max(0.0, timeout_s - (time.perf_counter() - started)))
                else:
                    process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(process.pid)
                process.wait()
            finally:
                duration_s = time.perf_counter() - started
                _kill_group(process.pid)
        stdout = _read(stdout_path)
        stderr = _read(stderr_path)
    return _classify(process.returncode, timed_out, duration_s, timeout_s, cpu_limit, stdout, stderr)


def _classify(
    returncode: int, timed_out: bool, duration_s: float, timeout_s: float, cpu_limit: int,
    stdout: str, stderr: str,
) -> CodeResult:
    out, err = _tail(stdout), _tail(stderr)
    if timed_out:
        return CodeResult("timed_out", duration_s, f"killed after the {timeout_s:g} s wall-clock timeout",
                          None, out, err)
    if returncode == 0:
        return CodeResult("passed", duration_s, None, 0, out, err)
    if returncode < 0:
        number = -returncode
        if number == signal.SIGXCPU or (number == signal.SIGKILL and duration_s >= cpu_limit):
            return CodeResult("timed_out", duration_s, f"killed at the {cpu_limit} s CPU-time limit",
                              returncode, out, err)
        if number == signal.SIGXFSZ:
            return CodeResult("error", duration_s, "killed: output or file larger than the 16 MiB limit",
                              returncode, out, err)
        name = signal.Signals(number).name if number in signal.valid_signals() else str(number)
        return CodeResult("error", duration_s, _join(err, f"killed by signal {name}"), returncode, out, err)
    exception = _exception_name(stderr)
    if exception is None:
        return CodeResult("failed", duration_s, _join(err, f"exit code {returncode}"), returncode, out, err)
    if exception == "AssertionError":
        return CodeResult("failed", duration_s, err, returncode, out, err)
    if exception == "OSError" and "[Errno 27]" in err:  # EFBIG: Python ignores SIGXFSZ
        return CodeResult("error", duration_s, _join(err, "output or file larger than the 16 MiB limit"),
                          returncode, out, err)
    if exception == "MemoryError":
        return CodeResult("error", duration_s, _join(err, "memory limit reached"), returncode, out, err)
    return CodeResult("error", duration_s, err, returncode, out, err)


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
        return list(pool.map(lambda program: run_python(program, **limits), programs))


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
