"""Concurrent model calls: pytest-modelbench against inspect_ai, on the same local server.

The server (``tests/chat_server.py``, its own process) is OpenAI-compatible and replays the
recorded GSM8K solutions of the ``175b_verification`` system from
``../shared/data/gsm8k/example_model_solutions.jsonl``: the first word 500 ms after the
request, one more word every 5 ms (streamed, or as one JSON body after the same time). Both
tools send each question as the user message, and the same process-tree measurements are
taken: wall time from start to exit, and the peak of the summed resident memory (RSS) of the
tool's process and all its children, sampled every 20 ms from /proc (Linux).

Scenarios (each run alternates the tools and repeats, the median is reported):

1. ``gsm8k-32``: 200 questions, one process, ``--modelbench-concurrency=32`` against
   ``inspect eval --max-connections 32``. Targets: wall time ratio <= 1 (goal <= 0.8), peak
   RSS ratio <= 2, exactly 110 passes (the recorded labels of the 200 solutions).
2. ``scaling``: 1,000 calls (200 questions x 5 runs / epochs) at 32, 64, 128 and 256 in
   flight, both tools: where scaling stops (with the CPU time of pytest-modelbench's test
   thread and of its other threads, read from /proc).
3. ``limiter``: the same server answering ``429`` above 20 requests/s (a sliding one-second
   window; with ``retry-after-ms``, and once without any hint); 200 questions at
   ``--modelbench-concurrency=32``: no error runs, achieved rate (accepted requests per second
   between the first and the last, from the server's own clock) within 10% of 20/s.
4. ``rounds``: the lookahead against the design the issue suggested (rounds: every run run up
   to its next unknown call, a barrier until all those answers are in, again, then the runs
   reported), emulated with the same machinery (``ROUNDS_CONFTEST``): 200 one-call tasks, and
   100 tasks of three calls in a row, at 32 in flight.
5. ``cached``: every answer in the response store (``--modelbench-cache``, recorded first);
   the cached session with ``--modelbench-concurrency=32`` against the same session without
   it. Target ratio <= 1.2.
6. ``shared-rpm``: 8 pytest-xdist workers calling a model declared with ``rpm = 60``: the
   requests per minute the server saw, all workers together (target: 60).

inspect_ai is installed by this script in a virtual environment of its own (``pip install
inspect_ai openai``, once, in ``--inspect-venv``, default ``~/.cache/pytest-modelbench/
inspect-venv``) and run as ``inspect eval TASK --model openai/gsm8k-replay`` with
``OPENAI_BASE_URL`` pointing at the server and ``-M responses_api=false`` (for a model it does
not know, inspect's OpenAI provider would use the Responses API, which a chat-completions server
does not serve); each of its runs is checked to have succeeded (its log's status).

    python benchmarks/concurrency.py [--scenarios gsm8k-32,scaling,rounds,limiter,cached,shared-rpm] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "gsm8k"
sys.path.insert(0, str(ROOT / "tests"))

from chat_server import server_process  # noqa: E402

SYSTEM = "175b_verification"
MODEL = "gsm8k-replay"

MODELBENCH_TEST = '''
import json
import pytest
from pytest_modelbench.scorers import extract_final_number, numeric_match

with open({test_file!r}, encoding="utf-8") as handle:
    ROWS = [json.loads(line) for line in handle if line.strip()][:{questions}]


@pytest.mark.modelbench(category="reasoning", runs={runs})
@pytest.mark.parametrize("row", ROWS, ids=[f"q{{index:04d}}" for index in range(len(ROWS))])
def test_gsm8k(model, row):
    reply = model.complete(row["question"])
    truth = extract_final_number(row["answer"], strict=True)
    assert numeric_match(reply.text, truth, strict=True).passed
'''

FOLLOW_UP_TEST = '''
import json
import pytest
from pytest_modelbench.scorers import extract_final_number, numeric_match

with open({test_file!r}, encoding="utf-8") as handle:
    ROWS = [json.loads(line) for line in handle if line.strip()][:{questions}]


@pytest.mark.modelbench(category="reasoning", runs={runs})
@pytest.mark.parametrize("row", ROWS, ids=[f"q{{index:04d}}" for index in range(len(ROWS))])
def test_gsm8k(model, row):
    """Three calls in a row: the question, then two follow-ups built from the answers."""
    reply = model.complete(row["question"])
    number = extract_final_number(reply.text) or 0
    second = model.complete(f"What is {{int(number)}} + 1?")
    third = model.complete(f"What is {{second.text.split()[-1]}} + 1?")
    truth = extract_final_number(row["answer"], strict=True)
    assert numeric_match(reply.text, truth, strict=True).passed and third.text == f"A: {{int(number) + 2}}"
'''

#: A conftest that turns the session into the design the issue suggested: rounds. Before any
#: test runs, every benchmark run is run (suspended at its first unknown call) and the session
#: waits for all the answers, then again for the next call, ``rounds`` times; only then are the
#: runs run and reported, every answer known. The lookahead is switched off. It uses the same
#: machinery (probes, channels, limiter), so only the schedule differs.
ROUNDS_CONFTEST = '''
import pytest

ROUNDS = {rounds}


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    runs = session.config.pluginmanager.get_plugin("modelbench-concurrency")
    prefetcher = runs.prefetcher(session)
    prefetcher.before = lambda current, nextitem: None
    items = session.items
    for _ in range(ROUNDS):
        for position, run in enumerate(items):
            state = runs._state_of(run)
            if state is not None and not any(p.serial or p.complete for p in state.prefetches):
                prefetcher._probe(run, items[1] if position == 0 else items[0], state)
        for run in items:  # the barrier: every answer of the round
            state = runs._state_of(run)
            for prefetch in () if state is None else state.prefetches:
                for call in prefetch.calls.values():
                    call.future.exception()
'''

INSPECT_TASK = '''
import json
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import match
from inspect_ai.solver import generate


@task
def gsm8k():
    with open({test_file!r}, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()][:{questions}]
    samples = [Sample(input=row["question"], target=row["answer"].split("####")[-1].strip()) for row in rows]
    return Task(dataset=samples, solver=generate(), scorer=match(numeric=True))
'''


#: Run with inspect's Python: the last log of a directory succeeded; print its accuracy.
INSPECT_LOG_CHECK = """
import sys
from pathlib import Path
from inspect_ai.log import read_eval_log
log = read_eval_log(str(sorted(Path(sys.argv[1]).glob("*.eval"))[-1]))
if log.status != "success":
    sys.exit(f"status {log.status}: {log.error.message if log.error else ''}")
print(log.results.scores[0].metrics["accuracy"].value)
"""


# --------------------------------------------------------------------------- measuring


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _tree_rss_mb(root: int) -> float:
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/statm", encoding="ascii") as handle:
                total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            continue
        stack.extend(_children(pid))
    return total / 2**20


def _thread_cpu(pid: int, seen: dict[int, float]) -> None:
    """CPU seconds (user + system) of each thread of ``pid`` so far, by thread id."""
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seen[int(task)] = (int(fields[11]) + int(fields[12])) / ticks


def measured(command: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak process-tree RSS (MiB) and output of one command; the CPU seconds of
    the command's main thread and of its other threads go in ``measured.cpu``."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0.0
    threads: dict[int, float] = {}
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.append(process.stdout.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    while process.poll() is None:
        peak = max(peak, _tree_rss_mb(process.pid))
        _thread_cpu(process.pid, threads)
        time.sleep(0.02)
    wall = time.perf_counter() - start
    reader.join()
    main = threads.pop(process.pid, 0.0)
    measured.cpu = (main, sum(threads.values()))  # type: ignore[attr-defined]
    return wall, peak, "".join(output)


# --------------------------------------------------------------------------- the tools


def inspect_venv(path: Path) -> Path:
    """inspect_ai in a virtual environment of its own (made once)."""
    executable = path / "bin" / "inspect"
    if not executable.exists():
        print(f"installing inspect_ai into {path} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(path / "bin" / "pip"), "install", "-q", "inspect_ai", "openai"], check=True)
    version = subprocess.run([str(path / "bin" / "python"), "-c", "import inspect_ai; print(inspect_ai.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    print(f"inspect_ai {version}", flush=True)
    return executable


class Tools:
    def __init__(self, work: Path, inspect: Path, questions: int, call_seconds: float) -> None:
        self.work = work
        self.inspect = inspect
        self.questions = questions
        #: The server's time to answer every question once (first word after 0.5 s, 5 ms a word).
        self.call_seconds = call_seconds

    def modelbench(self, url: str, *, concurrency: int | None, runs: int = 1, extra: tuple[str, ...] = (),
                   name: str = "run", follow_ups: bool = False, rounds: int | None = None,
                   questions: int | None = None) -> dict:
        questions = questions or self.questions
        project = self.work / f"modelbench-{runs}-{'follow' if follow_ups else 'single'}-{rounds}-{questions}"
        project.mkdir(exist_ok=True)
        (project / "test_gsm8k.py").write_text((FOLLOW_UP_TEST if follow_ups else MODELBENCH_TEST).format(
            test_file=str(SHARED / "test.jsonl"), questions=questions, runs=runs))
        if rounds is not None:
            (project / "conftest.py").write_text(ROUNDS_CONFTEST.format(rounds=rounds))
        results = project / f"{name}.json"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                   f"--modelbench-models=openai:{MODEL}@{url}", f"--modelbench-json={results}", *extra]
        if concurrency is not None:
            command.append(f"--modelbench-concurrency={concurrency}")
        wall, rss, output = measured(command, cwd=project)
        if not results.exists():
            raise SystemExit(f"pytest failed:\n{output[-3000:]}")
        runs_ = json.loads(results.read_text())["runs"]
        main_cpu, other_cpu = measured.cpu  # type: ignore[attr-defined]
        return {"wall_s": wall, "rss_mb": rss, "main_cpu_s": main_cpu, "other_cpu_s": other_cpu,
                "passed": sum(run["outcome"] == "passed" for run in runs_),
                "errors": sum(run["outcome"] == "error" for run in runs_), "runs": len(runs_),
                "retries": sum(run.get("retries") or 0 for run in runs_)}

    def inspect_eval(self, url: str, *, connections: int, epochs: int = 1) -> dict:
        project = self.work / "inspect"
        project.mkdir(exist_ok=True)
        (project / "gsm8k_task.py").write_text(INSPECT_TASK.format(
            test_file=str(SHARED / "test.jsonl"), questions=self.questions))
        env = {**os.environ, "OPENAI_BASE_URL": url, "OPENAI_API_KEY": "not-needed", "INSPECT_LOG_DIR": str(project / "logs")}
        # responses_api=false: inspect's OpenAI provider would otherwise ask this unknown model
        # through the Responses API (POST /v1/responses), which the chat-completions server lacks.
        command = [str(self.inspect), "eval", "gsm8k_task.py", "--model", f"openai/{MODEL}",
                   "-M", "responses_api=false", "--max-connections", str(connections), "--epochs", str(epochs),
                   "--display", "none", "--no-log-samples"]
        wall, rss, output = measured(command, cwd=project, env=env)
        check = subprocess.run(
            [str(self.inspect.parent / "python"), "-c", INSPECT_LOG_CHECK, str(project / "logs")],
            capture_output=True, text=True)
        if check.returncode != 0:
            raise SystemExit(f"inspect eval did not succeed:\n{check.stdout}{check.stderr}\n{output[-3000:]}")
        return {"wall_s": wall, "rss_mb": rss, "accuracy": float(check.stdout.strip())}


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def _server_stats(url: str) -> dict:
    import httpx

    return httpx.get(url.removesuffix("/v1") + "/stats", timeout=30).json()


def _clear(url: str) -> None:
    import httpx

    httpx.post(url.removesuffix("/v1") + "/stats/clear", timeout=30).raise_for_status()


# --------------------------------------------------------------------------- scenarios


def scenario_gsm8k(tools: Tools, url: str, repeats: int) -> None:
    print("\n== gsm8k-32: 200 questions, 32 in flight, one process ==", flush=True)
    tools.modelbench(url, concurrency=32, name="warm")  # warm caches (imports, bytecode)
    ours, theirs = [], []
    for _ in range(repeats):
        ours.append(tools.modelbench(url, concurrency=32))
        theirs.append(tools.inspect_eval(url, connections=32))
    for label, rows in (("pytest-modelbench --modelbench-concurrency=32", ours),
                        ("inspect_ai --max-connections 32", theirs)):
        walls = ", ".join(f"{row['wall_s']:.2f}" for row in rows)
        print(f"{label:48s} wall {_median(rows, 'wall_s'):6.2f} s ({walls})  peak RSS {_median(rows, 'rss_mb'):6.0f} MiB")
    print(f"passes: {[row['passed'] for row in ours]} of {ours[0]['runs']} (recorded labels: 110); "
          f"error runs: {[row['errors'] for row in ours]}; inspect_ai accuracy {theirs[0]['accuracy']:.3f}")
    print(f"ratio wall time  {_median(ours, 'wall_s') / _median(theirs, 'wall_s'):.2f}  (target <= 1, goal <= 0.8)")
    print(f"ratio peak RSS   {_median(ours, 'rss_mb') / _median(theirs, 'rss_mb'):.2f}  (target <= 2)")
    print(f"the calls alone, 32 at a time: {tools.call_seconds / 32:.1f} s")


def scenario_scaling(tools: Tools, url: str, repeats: int) -> None:
    print("\n== scaling: 1,000 calls (200 questions x 5) ==", flush=True)
    for level in (32, 64, 128, 256):
        ours = [tools.modelbench(url, concurrency=level, runs=5) for _ in range(repeats)]
        theirs = [tools.inspect_eval(url, connections=level, epochs=5) for _ in range(repeats)]
        ideal = 5 * tools.call_seconds / level
        print(f"{level:4d} in flight: pytest-modelbench {_median(ours, 'wall_s'):6.2f} s "
              f"({_median(ours, 'rss_mb'):4.0f} MiB, {ours[0]['passed']} passed)   inspect_ai "
              f"{_median(theirs, 'wall_s'):6.2f} s ({_median(theirs, 'rss_mb'):4.0f} MiB)   "
              f"ratio {_median(ours, 'wall_s') / _median(theirs, 'wall_s'):.2f}   calls alone would take ~{ideal:.1f} s",
              flush=True)
        print(f"      pytest-modelbench CPU: {_median(ours, 'main_cpu_s'):.1f} s in the thread that runs the tests, "
              f"{_median(ours, 'other_cpu_s'):.1f} s in its other threads (I/O loop, workers)", flush=True)


def scenario_rounds(tools: Tools, url: str, repeats: int) -> None:
    print("\n== design: the lookahead against rounds, 32 in flight ==", flush=True)
    for label, options in (("200 questions, one call each", {"follow_ups": False, "rounds": 1}),
                           ("100 questions, three calls in a row each", {"follow_ups": True, "rounds": 3,
                                                                           "questions": 100})):
        lookahead, rounds = [], []
        for _ in range(repeats):
            plain = {key: value for key, value in options.items() if key != "rounds"}
            lookahead.append(tools.modelbench(url, concurrency=32, **plain))
            rounds.append(tools.modelbench(url, concurrency=32, **options))
        assert [row["passed"] for row in lookahead] == [row["passed"] for row in rounds]
        print(f"{label:42s} lookahead {_median(lookahead, 'wall_s'):6.2f} s   rounds {_median(rounds, 'wall_s'):6.2f} s"
              f"   ratio {_median(lookahead, 'wall_s') / _median(rounds, 'wall_s'):.2f}", flush=True)


def scenario_limiter(tools: Tools, answers: Path) -> None:
    print("\n== limiter: 429 above 20 requests/s, 200 questions, 32 in flight ==", flush=True)
    for hint, options in (("retry-after-ms", ()), ("no hint", ("--no-retry-after",))):
        with server_process("--answers", str(answers), "--ttft-ms", "500", "--word-ms", "5",
                            "--rate-per-s", "20", *options) as url:
            result = tools.modelbench(url, concurrency=32, name="limited")
            stats = _server_stats(url)
        accepted = stats["accepted_at"]
        rate = (len(accepted) - 1) / (accepted[-1] - accepted[0])
        print(f"{hint:15s}: wall {result['wall_s']:.2f} s, {result['errors']} error runs, {result['passed']} passed, "
              f"{stats['throttled']} answered 429, {result['retries']} retries in the records; achieved "
              f"{rate:.2f} requests/s = {rate / 20:.3f} of 20/s (target within 10%)", flush=True)


def scenario_shared_rpm(tools: Tools, url: str, workers: int = 8, rpm: int = 60, calls: int = 20) -> None:
    print(f"\n== shared rpm: {workers} pytest-xdist workers, rpm = {rpm} ==", flush=True)
    project = tools.work / "shared-rpm"
    project.mkdir(exist_ok=True)
    (project / "pyproject.toml").write_text(
        f'[tool.modelbench.models.paced]\nprovider = "openai"\nmodel = "{MODEL}"\nbase_url = "{url}"\nrpm = {rpm}\n')
    (project / "test_paced.py").write_text(MODELBENCH_TEST.format(
        test_file=str(SHARED / "test.jsonl"), questions=calls, runs=1))
    _clear(url)
    wall, _, output = measured([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", str(workers),
                                "--modelbench-models=paced"], cwd=project)
    accepted = sorted(_server_stats(url)["accepted_at"])
    if len(accepted) != calls:
        raise SystemExit(f"expected {calls} requests, the server saw {len(accepted)}:\n{output[-2000:]}")
    per_minute = (len(accepted) - 1) / (accepted[-1] - accepted[0]) * 60
    gaps = [later - earlier for earlier, later in zip(accepted, accepted[1:])]
    print(f"{calls} calls in {wall:.1f} s; achieved {per_minute:.1f} requests per minute together "
          f"(rpm = {rpm}); seconds between requests as the server saw them: shortest {min(gaps):.3f}, "
          f"median {statistics.median(gaps):.3f}, longest {max(gaps):.3f} (paced: {60 / rpm:.3f})", flush=True)


def scenario_cached(tools: Tools, url: str, repeats: int) -> None:
    print("\n== cached: every answer in the response store ==", flush=True)
    store = tools.work / "store.sqlite"
    cache = (f"--modelbench-cache={store}",)
    tools.modelbench(url, concurrency=32, extra=cache, name="record")
    plain, concurrent = [], []
    for _ in range(repeats):
        plain.append(tools.modelbench(url, concurrency=None, extra=cache))
        concurrent.append(tools.modelbench(url, concurrency=32, extra=cache))
    for label, rows in (("plain cached session", plain), ("--modelbench-concurrency=32", concurrent)):
        walls = ", ".join(f"{row['wall_s']:.2f}" for row in rows)
        print(f"{label:28s} {_median(rows, 'wall_s'):.2f} s ({walls})")
    print(f"ratio {_median(concurrent, 'wall_s') / _median(plain, 'wall_s'):.2f} (target <= 1.2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="gsm8k-32,scaling,rounds,limiter,cached,shared-rpm")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--inspect-venv", type=Path,
                        default=Path.home() / ".cache" / "pytest-modelbench" / "inspect-venv")
    options = parser.parse_args()
    if not (SHARED / "example_model_solutions.jsonl").is_file():
        raise SystemExit(f"the GSM8K data is not in {SHARED}")
    scenarios = options.scenarios.split(",")
    inspect = inspect_venv(options.inspect_venv) if {"gsm8k-32", "scaling"} & set(scenarios) else Path("inspect")
    with tempfile.TemporaryDirectory(prefix="modelbench-concurrency-") as tmp:
        work = Path(tmp)
        answers = work / "answers.json"
        with (SHARED / "example_model_solutions.jsonl").open(encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
        answers.write_text(json.dumps({row["question"]: row[SYSTEM]["solution"] for row in rows}))
        labels = sum(row[SYSTEM]["is_correct"] for row in rows[:options.questions])
        print(f"{options.questions} questions; recorded labels of {SYSTEM}: {labels} correct", flush=True)
        call_seconds = sum(0.5 + 0.005 * (len(row[SYSTEM]["solution"].split(" ")) - 1)
                           for row in rows[:options.questions])
        print(f"the calls take {call_seconds:.1f} s one after another ({call_seconds / options.questions:.3f} s each)")
        tools = Tools(work, inspect, options.questions, call_seconds)
        with server_process("--answers", str(answers), "--ttft-ms", "500", "--word-ms", "5") as url:
            if "gsm8k-32" in scenarios:
                scenario_gsm8k(tools, url, options.repeats)
            if "scaling" in scenarios:
                scenario_scaling(tools, url, max(1, options.repeats - 1))
            if "rounds" in scenarios:
                scenario_rounds(tools, url, options.repeats)
            if "cached" in scenarios:
                scenario_cached(tools, url, options.repeats)
            if "shared-rpm" in scenarios:
                scenario_shared_rpm(tools, url)
        if "limiter" in scenarios:
            scenario_limiter(tools, answers)


if __name__ == "__main__":
    main()
