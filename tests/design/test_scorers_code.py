"""Running generated Python: proof of a pass, the sandbox ladder, limits and the kill.

Most tests run twice: in the bubblewrap sandbox (``sandbox="require"``; skipped when
bubblewrap does not work here, a failure instead when MODELBENCH_EXPECT_BWRAP=1, as in CI) and
under resource limits only (``sandbox="off"``, the fallback).
"""

from __future__ import annotations

import ast
import os
import socket
import subprocess
import sys
import time
import uuid
import warnings

import pytest

from pytest_modelbench import ConfigError, SandboxUnavailableError
from pytest_modelbench.core.run_notes import collecting
from pytest_modelbench.design.scorers import _sandbox
from pytest_modelbench.scorers import (
    CodeResult,
    SandboxWarning,
    extract_code,
    humaneval_program,
    run_humaneval,
    run_python,
    run_python_many,
    run_python_tests,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the code runner needs POSIX resource limits")

LINUX = sys.platform.startswith("linux")


@pytest.fixture(params=["bwrap", "rlimits"])
def sandbox(request) -> str:
    """The ``sandbox=`` argument giving each isolation level."""
    if request.param == "rlimits":
        return "off"
    probe = _sandbox.probe_bwrap()
    if not probe.works:
        if os.environ.get("MODELBENCH_EXPECT_BWRAP") == "1":
            pytest.fail(f"MODELBENCH_EXPECT_BWRAP=1 but bubblewrap does not work here: {probe.reason}")
        pytest.skip(f"bubblewrap does not work here: {probe.reason}")
    return "require"


def _level(sandbox: str) -> str:
    return "bwrap" if sandbox == "require" else "rlimits"


def _alive_with(marker: str, wait_s: float = 3.0) -> list[int]:
    """Live (not zombie) processes whose command line holds ``marker``, after up to ``wait_s``."""
    deadline = time.perf_counter() + wait_s
    while True:
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/cmdline", "rb") as handle:
                    cmdline = handle.read()
                with open(f"/proc/{name}/stat") as handle:
                    state = handle.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if marker.encode() in cmdline and state not in ("Z", "X"):
                found.append(int(name))
        if not found or time.perf_counter() > deadline:
            return found
        time.sleep(0.05)


# --------------------------------------------------------------------------- outcomes


def test_passing_program(sandbox):
    result = run_python("print('hello')", sandbox=sandbox)
    assert isinstance(result, CodeResult)
    assert result.status == "passed" and result.passed and result
    assert result.score == 1.0 and result.exit_code == 0 and result.error is None
    assert result.stdout == "hello"
    assert result.duration_s > 0
    assert result.reason.startswith("passed in ")
    assert result.isolation == _level(sandbox)


def test_failed_assertion_is_failed_with_the_traceback_tail(sandbox):
    result = run_python("def f():\n    return 1\n\nassert f() == 2, 'f is wrong'\n", sandbox=sandbox)
    assert result.status == "failed" and not result
    assert result.error.splitlines()[-1] == "AssertionError: f is wrong"
    assert 'File "solution.py", line 4' in result.error
    assert "<string>" not in result.error  # the harness's own frames are not shown
    assert result.reason == "failed: AssertionError: f is wrong"


def test_nonzero_exit_without_traceback_is_failed():
    result = run_python("import sys\nsys.exit(3)")
    assert result.status == "failed" and result.exit_code == 3
    assert result.error == "exit code 3"


@pytest.mark.parametrize(
    ("source", "last_line"),
    [
        ("raise KeyError('k')", "KeyError: 'k'"),
        ("def broken(:\n    pass", "SyntaxError: invalid syntax"),
        ("import os\nos.kill(os.getpid(), 11)", "killed by signal SIGSEGV"),
    ],
)
def test_other_failures_are_errors(source, last_line, sandbox):
    result = run_python(source, sandbox=sandbox)
    assert result.status == "error"
    assert result.error.splitlines()[-1] == last_line


# --------------------------------------------------------------------------- no fake passes

EARLY_EXIT = "exited with code 0 before the end of the program (sys.exit, os._exit, an atexit hook...): not a pass"

# Each program's checks fail (or never run) and it tries to end with exit code 0 anyway.
EXIT_HACKS = {
    "sys.exit(0)": "import sys\nsys.exit(0)\nassert False\n",
    "os._exit(0)": "import os\nos._exit(0)\nassert False\n",
    "atexit os._exit": "import atexit, os\natexit.register(os._exit, 0)\nassert 1 == 2\n",
    "SystemExit in check": "def check():\n    raise SystemExit(0)\n\ncheck()\nprint('checked')\n",
    "SystemExit(None)": "raise SystemExit\n",
    "excepthook os._exit": "import os, sys\nsys.excepthook = lambda *exc: os._exit(0)\nassert False\n",
    "quiet excepthook": "import sys\nsys.excepthook = lambda *exc: None\nassert False\n",
    "builtins patched": (
        "import builtins, os\nbuiltins.print = lambda *a, **k: None\nbuiltins.AssertionError = type('X', (Exception,), {})\n"
        "assert False\n"
    ),
    "fake proof on every fd": (
        "import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'0123456789abcdef0123456789abcdef')\n"
        "    except OSError:\n        pass\nos._exit(0)\n"
    ),
    "stdout says passed": "import os\nprint('passed', flush=True)\nos._exit(0)\n",
    "thread swallows exit": (
        "import threading, os\nthreading.Thread(target=lambda: os._exit(0)).start()\nimport time\ntime.sleep(5)\n"
    ),
}


@pytest.mark.parametrize("hack", sorted(EXIT_HACKS))
def test_exiting_early_never_passes(hack, sandbox):
    result = run_python(EXIT_HACKS[hack], sandbox=sandbox)
    assert not result.passed, (hack, result)
    assert result.status in ("failed", "error")


def test_exit_zero_reason_says_the_program_stopped_early():
    result = run_python("import sys\nprint('partial')\nsys.exit(0)\nprint('never')\n")
    assert result.status == "failed" and result.exit_code == 0 and result.stdout == "partial"
    assert result.error == EARLY_EXIT


def test_a_traceback_fails_the_run_even_with_exit_code_0():
    # An exception in a thread does not change the exit code; the traceback still counts.
    source = "import threading\nthread = threading.Thread(target=lambda: 1 / 0)\nthread.start()\nthread.join()\n"
    result = run_python(source)
    assert result.status == "error" and result.exit_code == 0
    assert result.error.splitlines()[-1] == "ZeroDivisionError: division by zero"


def test_program_that_ends_normally_after_atexit_hooks_passes(sandbox):
    source = "import atexit\natexit.register(print, 'bye')\nprint('hi')\n"
    result = run_python(source, sandbox=sandbox)
    assert result.passed and result.stdout == "hi\nbye"


def test_killing_the_harness_is_an_error_not_a_pass(sandbox):
    result = run_python("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n", sandbox=sandbox)
    assert result.status == "error"
    assert "harness around the program was killed" in result.error


# --------------------------------------------------------------------------- time limits


def test_wall_clock_timeout_kills_the_program_and_its_children(sandbox):
    marker = f"modelbench-test-{uuid.uuid4().hex}"
    source = (
        "import subprocess, sys\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'while True: pass  # {marker}'])\n"
        "while True:\n    pass\n"
    )
    result = run_python(source, timeout_s=1.0, sandbox=sandbox)
    assert result.status == "timed_out" and not result
    assert result.error == "killed after the 1 s wall-clock timeout"
    assert 1.0 <= result.duration_s < 5.0  # loose: the machine may be busy
    if LINUX:
        assert _alive_with(marker) == []


@pytest.mark.skipif(not LINUX, reason="finds processes through /proc")
@pytest.mark.parametrize("ending", ["exits", "times out"])
def test_children_in_new_sessions_and_groups_do_not_survive(sandbox, ending):
    marker = f"modelbench-test-{uuid.uuid4().hex}"
    sleeper = f"[sys.executable, '-c', 'import time; time.sleep(60)  # {marker}']"
    source = (
        "import os, subprocess, sys\n"
        f"subprocess.Popen({sleeper}, start_new_session=True)\n"  # setsid
        f"subprocess.Popen({sleeper}, process_group=0)\n"  # setpgid
        "if os.fork() == 0:\n"  # a daemon: fork, setsid, fork again, the middle one exits
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv(sys.executable, {sleeper})\n"
        "    os._exit(0)\n"
        "import time\ntime.sleep(0.5)\n"
        + ("while True:\n    pass\n" if ending == "times out" else "")
    )
    result = run_python(source, timeout_s=1.5 if ending == "times out" else 10.0, sandbox=sandbox)
    assert result.status == ("timed_out" if ending == "times out" else "passed"), result
    assert _alive_with(marker) == []


def test_cpu_time_limit(sandbox):
    result = run_python("while True:\n    pass\n", timeout_s=20.0, cpu_time_s=1, sandbox=sandbox)
    assert result.status == "timed_out"
    assert result.error == "killed at the 1 s CPU-time limit"
    assert result.duration_s < 15.0


# --------------------------------------------------------------------------- memory, processes, output


def test_memory_limit(sandbox):
    result = run_python("block = bytearray(2 * 1024 ** 3)", memory_mb=256, sandbox=sandbox)
    assert result.status == "error"
    assert result.error.splitlines()[-1] == "memory limit reached"


@pytest.mark.skipif(not LINUX, reason="the total is measured through /proc")
def test_memory_limit_covers_forked_children_together(sandbox):
    # Each process stays under the 300 MiB per-process limit; together they are far above it.
    source = (
        "import os, time\n"
        "for _ in range(4):\n"
        "    if os.fork() == 0:\n"
        "        block = bytearray(150 * 1024 * 1024)\n"
        "        time.sleep(30)\n"
        "        os._exit(0)\n"
        "time.sleep(30)\n"
    )
    result = run_python(source, memory_mb=300, timeout_s=20.0, sandbox=sandbox)
    assert result.status == "error", result
    assert "killed: memory limit reached" in result.error
    assert "(limit 300 MiB for all together)" in result.error
    assert result.duration_s < 15.0


@pytest.mark.skipif(not LINUX, reason="processes are counted through /proc")
def test_process_limit(sandbox):
    source = (
        "import os, time\n"
        "for _ in range(40):\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(30)\n"
        "        os._exit(0)\n"
        "time.sleep(30)\n"
    )
    result = run_python(source, max_processes=10, timeout_s=20.0, sandbox=sandbox)
    assert result.status == "error", result
    # Root is exempt from RLIMIT_NPROC: then the runner's count kills it; otherwise fork fails.
    assert "more than 10 processes" in result.error or "BlockingIOError" in result.error
    assert result.duration_s < 15.0


def test_output_limit(sandbox):
    result = run_python("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", timeout_s=20.0,
                        sandbox=sandbox)
    assert result.status == "error"
    assert "larger than the 16 MiB limit" in result.error.splitlines()[-1]


def test_file_limit_covers_all_files_together(sandbox):
    # Four files of 6 MiB: each under the 16 MiB per-file limit, 24 MiB together.
    source = (
        "for number in range(4):\n"
        "    with open(f'part{number}.bin', 'wb') as handle:\n"
        "        handle.write(b'x' * (6 * 1024 * 1024))\n"
    )
    result = run_python(source, sandbox=sandbox)
    assert result.status == "error", result
    assert "16 MiB limit" in result.error.splitlines()[-1]


# --------------------------------------------------------------------------- isolation


def test_environment_is_minimal_and_has_no_secrets(monkeypatch, sandbox):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-test-not-a-real-token")
    result = run_python("import os\nprint(sorted(os.environ))", env={"TASK_SEED": "7"}, sandbox=sandbox)
    assert result.passed
    names = ast.literal_eval(result.stdout)  # a list literal printed by the program
    assert "OPENAI_API_KEY" not in names and "GITHUB_TOKEN" not in names
    assert set(names) <= {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "PYTHONDONTWRITEBYTECODE", "TASK_SEED", "PWD",
                          "LC_CTYPE"}


_READ_ANCESTORS = """
import os
found = []
pid = os.getppid()
for _ in range(20):
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            if b"sk-test-not-a-real-key" in handle.read():
                found.append(pid)
        with open(f"/proc/{pid}/stat") as handle:
            pid = int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError):
        break
    if pid <= 0:
        break
print(found)
"""


@pytest.mark.skipif(not LINUX, reason="/proc/PID/environ is Linux")
def test_parents_environment_cannot_be_read_through_proc(sandbox):
    # /proc/PID/environ shows the environment a process started with, so the runner runs in a
    # process started with the key, as a benchmark session started from a shell would be.
    runner = (
        "import sys\nfrom pytest_modelbench.scorers import run_python\n"
        "result = run_python(sys.stdin.read(), sandbox=sys.argv[1])\n"
        "print(result.status)\nprint(result.stdout)\nimport os\nprint(os.getpid())\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", runner, sandbox], input=_READ_ANCESTORS, capture_output=True, text=True,
        env={**os.environ, "OPENAI_API_KEY": "sk-test-not-a-real-key"}, timeout=60,
    )
    status, found, runner_pid = completed.stdout.splitlines()
    assert status == "passed", completed.stderr
    found = ast.literal_eval(found)
    if sandbox == "require":
        assert found == []  # no process of the sandbox holds the key, and the host's are not there
    else:
        # Resource limits only: the direct parent (the harness) has the minimal environment,
        # but the benchmarking process further up can be read (as docs/scorers.md says).
        assert found == [int(runner_pid)]


def test_sandbox_cannot_write_or_delete_outside_its_directory(tmp_path):
    if not _sandbox.probe_bwrap().works:
        pytest.skip("bubblewrap does not work here; resource limits do not isolate files")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    created = tmp_path / "created.txt"
    source = (
        "import os\n"
        f"for action in (lambda: open({str(victim)!r}, 'a').write('changed'), lambda: os.remove({str(victim)!r}),\n"
        f"               lambda: open({str(created)!r}, 'w').write('new'), lambda: open('/etc/owned', 'w'),\n"
        "               lambda: open('/usr/owned', 'w'), lambda: os.remove(__import__('sys').executable)):\n"
        "    try:\n"
        "        action()\n"
        "        print('succeeded')\n"
        "    except OSError as exc:\n"
        "        print(type(exc).__name__)\n"
    )
    result = run_python(source, sandbox="require")
    assert result.passed, result
    assert "succeeded" not in result.stdout
    assert victim.read_text() == "keep me" and not created.exists()
    assert os.path.exists(sys.executable)


def test_sandbox_cannot_connect_to_a_local_port():
    if not _sandbox.probe_bwrap().works:
        pytest.skip("bubblewrap does not work here; resource limits do not isolate the network")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        source = (
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'leak')\n"
            "    print('connected')\n"
            "except OSError as exc:\n"
            "    print(type(exc).__name__)\n"
        )
        result = run_python(source, sandbox="require")
        assert result.passed and result.stdout != "connected"
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_runs_in_a_fresh_directory(sandbox):
    source = ("import os, sys\nprint(os.getcwd())\nprint(sys.flags.isolated)\nprint(sorted(os.listdir('.')))\n"
              "open('left-behind.txt', 'w').write('x')")
    first = run_python(source, sandbox=sandbox).stdout.splitlines()
    second = run_python(source, sandbox=sandbox).stdout.splitlines()
    assert first[1] == "1"
    # Nothing left from the first run. (An interpreter installed under /tmp is bound, read-only,
    # at its own path and so shows in a sandbox's /tmp too.)
    assert "solution.py" in second[2] and "left-behind.txt" not in second[2]
    if sandbox == "off":
        assert first[0] != second[0] and first[0] != os.getcwd()
        assert not os.path.exists(first[0])  # removed afterwards


def test_not_in_the_runners_session_or_process_group(sandbox):
    result = run_python("import os\nprint(os.getsid(0), os.getpgid(0))", sandbox=sandbox)
    sid, pgid = (int(number) for number in result.stdout.split())
    if sandbox == "off":  # in a sandbox the numbers belong to its own PID namespace
        assert sid != os.getsid(0) and pgid != os.getpgid(0)


def test_stdin_is_fed(sandbox):
    assert run_python("print(input()[::-1])", stdin="abc\n", sandbox=sandbox).stdout == "cba"


# --------------------------------------------------------------------------- the ladder


@pytest.fixture
def no_bwrap(monkeypatch):
    """Make the probe find no working bubblewrap, and forget any earlier warning."""
    monkeypatch.setattr(_sandbox, "_probe", _sandbox.BwrapProbe(None, False, "bwrap was not found"))
    monkeypatch.setattr(_sandbox, "_warned", False)
    monkeypatch.setattr(_sandbox, "_default_mode", None)
    monkeypatch.delenv(_sandbox.SANDBOX_ENV, raising=False)


def test_auto_falls_back_to_rlimits_with_one_warning(no_bwrap):
    with pytest.warns(SandboxWarning, match=r"without a sandbox \(bwrap was not found\).*NOT isolated"):
        assert run_python("pass").isolation == "rlimits"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run_python("pass").isolation == "rlimits"  # no second warning


def test_require_without_bwrap_raises(no_bwrap):
    with pytest.raises(SandboxUnavailableError, match=r"sandbox 'require': .*bwrap was not found.*apt-get install"):
        run_python("pass", sandbox="require")


def test_off_never_warns(no_bwrap):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run_python("pass", sandbox="off").isolation == "rlimits"


def test_mode_from_the_environment_and_the_session(monkeypatch):
    monkeypatch.setattr(_sandbox, "_default_mode", None)
    monkeypatch.setenv(_sandbox.SANDBOX_ENV, "off")
    assert run_python("pass").isolation == "rlimits"
    monkeypatch.setenv(_sandbox.SANDBOX_ENV, "sometimes")
    with pytest.raises(ConfigError, match=r"\$MODELBENCH_SANDBOX 'sometimes' is not one of: auto, require, off"):
        run_python("pass")
    previous = _sandbox.set_default_sandbox("off")
    try:
        assert run_python("pass").isolation == "rlimits"  # the session's setting wins
    finally:
        _sandbox.set_default_sandbox(previous)


def test_bad_sandbox_mode_is_rejected():
    with pytest.raises(ValueError, match="sandbox 'bwrap' is not one of: auto, require, off"):
        run_python("pass", sandbox="bwrap")


def test_isolation_is_reported_into_the_run(sandbox):
    with collecting() as notes:
        run_python("pass", sandbox=sandbox)
        run_python_many(["pass", "pass"], sandbox=sandbox)
    assert notes.isolation == _level(sandbox)
    with collecting() as notes:
        pass
    assert notes.isolation is None


def test_bubblewrap_command_binds_only_the_interpreter_and_system_libraries():
    probe = _sandbox.BwrapProbe("/usr/bin/bwrap", True, "bubblewrap 0.8.0")
    command = _sandbox.bwrap_command(probe, program="/host/src/solution.py", writable=None,
                                     writable_bytes=1024, env={"PATH": "/usr/bin"},
                                     argv=["python3", "-I", "solution.py"], program_name="solution.py")
    assert command[:3] == ["/usr/bin/bwrap", "--unshare-all", "--unshare-user"]
    for flag in ("--die-with-parent", "--new-session", "--clearenv"):
        assert flag in command
    assert command[command.index("--cap-drop") + 1] == "ALL"
    assert command[command.index("--size") + 1: command.index("--size") + 4] == ["1024", "--tmpfs", "/tmp"]
    bound = [command[i + 1] for i, arg in enumerate(command) if arg in ("--ro-bind", "--bind")]
    allowed = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/host/src/solution.py",
               *_sandbox.interpreter_paths())
    assert set(bound) <= set(allowed)
    assert "--bind" not in command  # nothing of the host is writable
    assert command[command.index("--proc") + 1] == "/proc"
    assert command[-4:] == ["--", "python3", "-I", "solution.py"]


# --------------------------------------------------------------------------- helpers


def test_run_python_tests():
    code = "def add(a, b):\n    return a + b\n"
    assert run_python_tests(code, "assert add(2, 3) == 5")
    assert run_python_tests(code, "assert add(2, 3) == 6").status == "failed"


PROBLEM = {
    "task_id": "Toy/0",
    "prompt": 'def double(x: int) -> int:\n    """Return twice x."""\n',
    "canonical_solution": "    return 2 * x\n",
    "test": "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(-1) == -2\n",
    "entry_point": "double",
}


def test_humaneval_program_layout():
    program = humaneval_program(PROBLEM, "    return 2 * x\n")
    assert program.startswith(PROBLEM["prompt"] + "    return 2 * x\n")
    assert program.rstrip().endswith("check(double)")
    assert PROBLEM["test"] in program


def test_run_humaneval(sandbox):
    assert run_humaneval(PROBLEM, PROBLEM["canonical_solution"], sandbox=sandbox)
    assert run_humaneval(PROBLEM, "    return x + 2\n", sandbox=sandbox).status == "failed"
    assert run_humaneval(PROBLEM, "    return x +\n", sandbox=sandbox).status == "error"
    assert run_humaneval(PROBLEM, "    import sys\n    sys.exit(0)\n", sandbox=sandbox).status == "failed"
    with pytest.raises(ValueError, match="lacks test, entry_point"):
        run_humaneval({"task_id": "X", "prompt": ""}, "")


def test_run_python_many_keeps_the_order():
    sources = [f"print({index})" for index in range(6)] + ["assert False"]
    results = run_python_many(sources, workers=3)
    assert [result.stdout for result in results[:6]] == [str(index) for index in range(6)]
    assert results[6].status == "failed"
    assert run_python_many([], workers=2) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout_s": 0}, "timeout_s 0 is not allowed"),
        ({"timeout_s": float("inf")}, "timeout_s inf is not allowed"),
        ({"cpu_time_s": -1}, "cpu_time_s -1 is not allowed"),
        ({"memory_mb": "1G"}, "memory_mb '1G' is not allowed"),
        ({"max_processes": 0}, "max_processes 0 is not allowed"),
    ],
)
def test_bad_limits_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_python("pass", **kwargs)


def test_bad_worker_count_is_rejected():
    with pytest.raises(ValueError, match="workers 0 is not allowed"):
        run_python_many(["pass"], workers=0)


def test_code_result_rejects_unknown_status_and_isolation():
    with pytest.raises(ValueError, match="status 'ok' is not one of: passed, failed, timed_out, error"):
        CodeResult("ok", 0.1)
    with pytest.raises(ValueError, match="isolation 'docker' is not one of: bwrap, rlimits"):
        CodeResult("passed", 0.1, isolation="docker")


@pytest.mark.parametrize(
    ("reply", "language", "expected"),
    [
        ("Here:\n```python\nprint(1)\n```\nDone.", "python", "print(1)\n"),
        ("```sql\nSELECT 1;\n```\n```py\nx = 2\n```", "python", "x = 2\n"),
        ("```\nuntagged()\n```", "python", "untagged()\n"),
        ("```bash\nls\n```", "python", "ls\n"),  # any block beats none
        ("```sql\nSELECT 1;\n```", "sql", "SELECT 1;\n"),
        ("def f():\n    return 1\n", "python", "def f():\n    return 1\n"),  # no fence: whole text
        ("```js\na()\n```\n```python\nb()\n```", None, "a()\n"),
    ],
)
def test_extract_code(reply, language, expected):
    assert extract_code(reply, language) == expected


def test_program_output_is_decoded_leniently():
    result = run_python("import sys\nsys.stdout.buffer.write(b'ok \\xff')")
    assert result.passed and result.stdout == "ok \ufffd"


def test_uses_the_current_interpreter(sandbox):
    result = run_python("import sys\nprint(sys.version_info[:2])", sandbox=sandbox)
    assert result.stdout == str(sys.version_info[:2])


def test_site_packages_of_the_interpreter_are_importable(sandbox):
    # numpy is installed in this environment: a sandboxed program can import it.
    assert run_python("import numpy\nprint(numpy.add(1, 2))", sandbox=sandbox).stdout == "3"
