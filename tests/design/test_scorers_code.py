"""Running generated Python in a separate, limited process."""

from __future__ import annotations

import ast
import os
import sys
import time

import pytest

from pytest_modelbench.scorers import (
    CodeResult,
    extract_code,
    humaneval_program,
    run_humaneval,
    run_python,
    run_python_many,
    run_python_tests,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the code runner needs POSIX resource limits")


def _process_gone(pid: int, wait_s: float = 3.0) -> bool:
    """True once ``pid`` no longer exists or is a zombie (killed, not yet reaped by init)."""
    deadline = time.perf_counter() + wait_s
    while time.perf_counter() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_passing_program():
    result = run_python("print('hello')")
    assert isinstance(result, CodeResult)
    assert result.status == "passed" and result.passed and result
    assert result.score == 1.0 and result.exit_code == 0 and result.error is None
    assert result.stdout == "hello"
    assert result.duration_s > 0
    assert result.reason.startswith("passed in ")


def test_failed_assertion_is_failed_with_the_traceback_tail():
    result = run_python("def f():\n    return 1\n\nassert f() == 2, 'f is wrong'\n")
    assert result.status == "failed" and not result
    assert result.error.splitlines()[-1] == "AssertionError: f is wrong"
    assert "line 4" in result.error
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
def test_other_failures_are_errors(source, last_line):
    result = run_python(source)
    assert result.status == "error"
    assert result.error.splitlines()[-1] == last_line


def test_wall_clock_timeout_kills_the_program_and_its_children():
    source = (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'while True: pass'])\n"
        "print(child.pid, flush=True)\n"
        "while True:\n    pass\n"
    )
    result = run_python(source, timeout_s=1.0)
    assert result.status == "timed_out" and not result
    assert result.error == "killed after the 1 s wall-clock timeout"
    assert 1.0 <= result.duration_s < 5.0  # loose: the machine may be busy
    assert _process_gone(int(result.stdout.split()[0]))


def test_children_left_behind_after_a_normal_exit_are_killed():
    source = (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(child.pid)\n"
    )
    result = run_python(source)
    assert result.status == "passed"
    assert _process_gone(int(result.stdout.split()[0]))


def test_cpu_time_limit():
    result = run_python("while True:\n    pass\n", timeout_s=20.0, cpu_time_s=1)
    assert result.status == "timed_out"
    assert result.error == "killed at the 1 s CPU-time limit"
    assert result.duration_s < 15.0


def test_memory_limit():
    result = run_python("block = bytearray(2 * 1024 ** 3)", memory_mb=256)
    assert result.status == "error"
    assert result.error.splitlines()[-1] == "memory limit reached"


def test_output_limit():
    result = run_python("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", timeout_s=20.0)
    assert result.status == "error"
    assert result.error.splitlines()[-1].endswith("output or file larger than the 16 MiB limit")


def test_environment_is_minimal_and_has_no_secrets(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-test-not-a-real-token")
    result = run_python("import os\nprint(sorted(os.environ))", env={"TASK_SEED": "7"})
    assert result.passed
    names = ast.literal_eval(result.stdout)  # a list literal printed by the program
    assert "OPENAI_API_KEY" not in names and "GITHUB_TOKEN" not in names
    assert set(names) <= {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "PYTHONDONTWRITEBYTECODE", "TASK_SEED",
                          "LC_CTYPE"}


def test_runs_isolated_in_a_fresh_temporary_directory():
    source = "import os, sys\nprint(os.getcwd())\nprint(sys.flags.isolated)\nprint(os.listdir('.'))"
    first = run_python(source).stdout.splitlines()
    second = run_python(source).stdout.splitlines()
    assert first[0] != second[0] and first[0] != os.getcwd()
    assert first[1] == "1"
    assert not os.path.exists(first[0])  # removed afterwards
    assert "solution.py" in first[2]


def test_own_session_and_process_group():
    result = run_python("import os\nprint(os.getsid(0) == os.getpid(), os.getpgid(0) == os.getpid())")
    assert result.stdout == "True True"


def test_stdin_is_fed():
    assert run_python("print(input()[::-1])", stdin="abc\n").stdout == "cba"


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


def test_run_humaneval():
    assert run_humaneval(PROBLEM, PROBLEM["canonical_solution"])
    assert run_humaneval(PROBLEM, "    return x + 2\n").status == "failed"
    assert run_humaneval(PROBLEM, "    return x +\n").status == "error"
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
    ],
)
def test_bad_limits_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_python("pass", **kwargs)


def test_bad_worker_count_is_rejected():
    with pytest.raises(ValueError, match="workers 0 is not allowed"):
        run_python_many(["pass"], workers=0)


def test_code_result_rejects_unknown_status():
    with pytest.raises(ValueError, match="status 'ok' is not one of: passed, failed, timed_out, error"):
        CodeResult("ok", 0.1)


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


def test_uses_the_current_interpreter():
    assert run_python("import sys\nprint(sys.version_info[:2])").stdout == str(sys.version_info[:2])
