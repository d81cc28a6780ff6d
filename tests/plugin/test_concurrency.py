"""--modelbench-concurrency end to end: a concurrent session gives the serial session's results
(records, summaries, reports, order, JUnit), keeps pytest's semantics (fixtures, capture, -x,
-k, xdist), and its calls go through the rate limiter. Against tests/chat_server.py on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree

import pytest

from chat_server import Behaviour, ChatServer

TIMING = {"latency_ms", "ttft_ms", "judge_latency_ms", "cpu_s", "peak_rss_mb", "resources", "retries"}

SUITE = '''
import pytest

@pytest.fixture(scope="module")
def module_resource():
    with open("setups.log", "a") as log:
        log.write("module setup\\n")
    yield "resource"
    with open("setups.log", "a") as log:
        log.write("module teardown\\n")


@pytest.mark.modelbench(category="reasoning", runs=2)
@pytest.mark.parametrize("start", range(4))
def test_conversation(model, record_quality, module_resource, start):
    """Three calls in a row, each prompt built from the previous answer."""
    messages, total, held = [], start, 0
    for step in (1, 2, 3):
        messages.append({"role": "user", "content": f"What is {total} + {step}?"})
        reply = model.complete(messages, temperature=0)
        messages.append({"role": "assistant", "content": reply.text})
        total = int(reply.text.split()[-1])
        held += total == start + step * (step + 1) // 2
    record_quality(held / 3)
    assert total == start + 6


@pytest.mark.modelbench(category="accuracy", runs=3)
@pytest.mark.parametrize("a", range(5))
def test_single(model, a):
    reply = model.complete(f"What is {a} + 10?")
    print(f"answer of {a}: {reply.text}")
    assert reply.text == f"A: {a + 10}" and a != 3, "three is always wrong"


@pytest.mark.modelbench(category="accuracy", runs=2)
@pytest.mark.parametrize("a", range(3))
async def test_async(model, a):
    first = await model.acomplete(f"What is {a} + 1?")
    second = await model.acomplete(f"What is {first.text.split()[-1]} + 1?")
    assert second.text == f"A: {a + 2}"


class TestClass:
    @pytest.fixture(scope="class")
    def class_resource(self):
        with open("setups.log", "a") as log:
            log.write("class setup\\n")
        return "class"

    @pytest.mark.modelbench(category="accuracy", runs=2)
    @pytest.mark.parametrize("a", range(3))
    def test_in_class(self, model, class_resource, a):
        assert model.complete(f"What is {a} + 100?").text == f"A: {a + 100}"


@pytest.mark.modelbench(category="safety", runs=2)
def test_swallowing(model):
    try:
        reply = model.complete("What is 7 + 7?")
    except Exception:  # a test's own error handling cannot swallow the suspension of a probe
        reply = None
    assert reply is not None and reply.text == "A: 14"


def test_plain():
    assert True
'''

INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"


def _strip(value):
    if isinstance(value, dict):
        return {key: _strip(item) for key, item in value.items() if key not in TIMING}
    if isinstance(value, list):
        return [_strip(item) for item in value]
    return value


@pytest.fixture
def server():
    with ChatServer(Behaviour(ttft_ms=30, word_ms=2)) as chat:
        yield chat


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_suite=SUITE)
    pytester.makeini(INI)
    return pytester


def _run(pytester: pytest.Pytester, server: ChatServer, name: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        f"--modelbench-models=openai:chat@{server.url}", f"--modelbench-json={name}.json",
        f"--junitxml={name}.xml", "-p", "no:randomly", *args)


def _outcomes(result: pytest.RunResult) -> list[str]:
    """The -v lines of the tests, in the order pytest reported them."""
    return [line.split(" ")[0] + " " + line.split(" ")[1] for line in result.outlines
            if line.startswith("test_suite.py::") and (" PASSED" in line or " FAILED" in line or " MISSED" in line)]


def _junit(path) -> list[tuple[str, str, list[str], list[tuple[str, str]]]]:
    root = ElementTree.parse(path).getroot()
    cases = []
    for case in root.iter("testcase"):
        properties = [(prop.get("name"), prop.get("value")) for prop in case.iter("property")
                      if prop.get("name").rpartition(".")[2] not in TIMING]
        cases.append((case.get("classname"), case.get("name"), [child.tag for child in case], properties))
    return cases


def _log(pytester: pytest.Pytester) -> list[str]:
    path = pytester.path / "setups.log"
    lines = path.read_text().splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return lines


def test_concurrent_session_gives_the_serial_results(suite: pytest.Pytester, server: ChatServer) -> None:
    serial = _run(suite, server, "serial", "-v", "-rA")
    serial_log = _log(suite)
    serial_requests = server.stats.requests
    concurrent = _run(suite, server, "concurrent", "-v", "-rA", "--modelbench-concurrency=8")
    concurrent_log = _log(suite)
    assert serial.ret == concurrent.ret == 0
    # Every record and every summary number, timings aside; the same reports in the same order.
    first = json.loads((suite.path / "serial.json").read_text())
    second = json.loads((suite.path / "concurrent.json").read_text())
    assert len(first["runs"]) == 8 + 15 + 6 + 6 + 2
    assert _strip(first["runs"]) == _strip(second["runs"])
    assert _strip(first["models"]) == _strip(second["models"])
    assert _outcomes(serial) == _outcomes(concurrent)
    assert len(_outcomes(serial)) == 37 + 1  # and test_plain, which has no model
    assert _junit(suite.path / "serial.xml") == _junit(suite.path / "concurrent.xml")
    # module- and class-scoped fixtures set up once, as without concurrency
    assert serial_log == concurrent_log == ["module setup", "class setup", "module teardown"]
    # each model call made once: no call of a probe is repeated by the run
    assert server.stats.requests == 2 * serial_requests
    # captured output shown once per test (-rA), from the run that was reported, not its probes
    for result in (serial, concurrent):
        assert result.stdout.str().count("answer of 0: A: 10") == 3
    concurrent.stdout.fnmatch_lines(["*modelbench: concurrent model calls*",
                                     "openai:chat: 59 calls in * s, up to * in flight (concurrency 8)*"])
    assert server.stats.peak_running > 1


def test_concurrency_really_overlaps_calls(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_suite='''
        import pytest

        @pytest.mark.modelbench(category="accuracy", runs=1)
        @pytest.mark.parametrize("a", range(24))
        def test_slow(model, a):
            assert model.complete(f"What is {a} + 1?").text == f"A: {a + 1}"
    ''')
    with ChatServer(Behaviour(ttft_ms=300)) as slow:
        result = suite.runpytest_subprocess(f"--modelbench-models=openai:chat@{slow.url}",
                                            "--modelbench-concurrency=8", "-q")
        peak = slow.stats.peak_running
    assert result.ret == 0
    result.stdout.fnmatch_lines(["24 passed*"])
    assert peak == 8  # at most the concurrency, and all of it
    match = re.search(r"24 calls in ([\d.]+) s", result.stdout.str())
    assert match is not None and float(match.group(1)) < 24 * 0.3 / 2  # serial would take 7.2 s


def test_exitfirst_and_keyword_selection(suite: pytest.Pytester, server: ChatServer) -> None:
    args = ("-x", "--modelbench-strict", "-k", "single or conversation", "-v")
    serial = _run(suite, server, "serial", *args)
    concurrent = _run(suite, server, "concurrent", *args, "--modelbench-concurrency=8")
    assert serial.ret == concurrent.ret == pytest.ExitCode.TESTS_FAILED
    assert _outcomes(serial) == _outcomes(concurrent)
    assert _outcomes(concurrent)[-1] == "test_suite.py::test_single[3-openai:chat-run1] FAILED"
    for result in (serial, concurrent):
        result.stdout.fnmatch_lines(["*stopping after 1 failures*", "*1 failed, 17 passed, 15 deselected*"])
    first = json.loads((suite.path / "serial.json").read_text())
    second = json.loads((suite.path / "concurrent.json").read_text())
    assert _strip(first["runs"]) == _strip(second["runs"])
    # --lf: only the test that failed runs again
    again = _run(suite, server, "again", "--lf", "--modelbench-strict", "--modelbench-concurrency=8", "-v")
    assert _outcomes(again) == ["test_suite.py::test_single[3-openai:chat-run1] FAILED"]


def test_xdist_with_concurrency(suite: pytest.Pytester, server: ChatServer) -> None:
    serial = _run(suite, server, "serial")
    parallel = _run(suite, server, "parallel", "-n", "2", "--modelbench-concurrency=4")
    assert serial.ret == parallel.ret == 0
    parallel.stdout.fnmatch_lines(["*2 workers*"])
    first = json.loads((suite.path / "serial.json").read_text())
    second = json.loads((suite.path / "parallel.json").read_text())

    def key(run):
        return run["task"], run["model"], run["run"]

    assert sorted(_strip(first["runs"]), key=key) == sorted(_strip(second["runs"]), key=key)
    assert _strip(first["models"]) == _strip(second["models"])


def test_opt_out_marker_and_probes(pytester: pytest.Pytester, server: ChatServer) -> None:
    pytester.makepyfile(test_effects='''
        import pytest

        def note(name):
            with open("effects.log", "a") as log:
                log.write(name + "\\n")

        @pytest.mark.modelbench(category="accuracy", runs=1, concurrent=False)
        @pytest.mark.parametrize("a", range(3))
        def test_opted_out(model, a):
            note(f"opted-out {a}")
            assert model.complete(f"What is {a} + 2?").text == f"A: {a + 2}"

        @pytest.mark.modelbench(category="accuracy", runs=1)
        @pytest.mark.parametrize("a", range(3))
        def test_probed(model, a):
            note(f"probed {a}")
            assert model.complete(f"What is {a} + 3?").text == f"A: {a + 3}"
    ''')
    result = pytester.runpytest_subprocess(f"--modelbench-models=openai:chat@{server.url}",
                                           "--modelbench-concurrency=4", "-q")
    assert result.ret == 0
    effects = (pytester.path / "effects.log").read_text().splitlines()
    # An opted-out task runs once, like any test; a concurrent one is also run (probed) ahead
    # of its turn, up to its first call: what it does before that call happens again.
    assert [line for line in effects if line.startswith("opted-out")] == ["opted-out 0", "opted-out 1", "opted-out 2"]
    assert all(2 <= effects.count(f"probed {a}") <= 3 for a in range(3)), effects
    assert server.stats.requests == 6  # but every call is made once


def test_request_that_is_not_reproducible_falls_back_to_a_live_call(pytester: pytest.Pytester,
                                                                       server: ChatServer) -> None:
    pytester.makepyfile(test_random='''
        import itertools
        import pytest

        COUNTER = itertools.count()

        @pytest.mark.modelbench(category="accuracy", runs=1)
        @pytest.mark.parametrize("a", range(4))
        def test_changing(model, a):
            nonce = next(COUNTER)  # differs between the probe and the run
            reply = model.complete(f"What is {a} + {nonce}?")
            assert reply.text == f"A: {a + nonce}"
    ''')
    result = pytester.runpytest_subprocess(f"--modelbench-models=openai:chat@{server.url}",
                                           "--modelbench-concurrency=4", "--modelbench-json=r.json", "-rw")
    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "*PytestWarning: modelbench: model call 1 asked something different from what was fetched ahead*"
        "concurrent=False*",
        "*runs made their calls live, one at a time*",
        "*4 passed*",
    ])
    runs = json.loads((pytester.path / "r.json").read_text())["runs"]
    assert [run["outcome"] for run in runs] == ["passed"] * 4  # the live answers were used


def test_rate_limited_server_no_error_runs_and_retries_in_results(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_many='''
        import pytest

        @pytest.mark.modelbench(category="accuracy", runs=1)
        @pytest.mark.parametrize("a", range(30))
        def test_many(model, a):
            assert model.complete(f"What is {a} + 1?").text == f"A: {a + 1}"
    ''')
    with ChatServer(Behaviour(ttft_ms=20, rate_per_s=10)) as limited:
        result = pytester.runpytest_subprocess(f"--modelbench-models=openai:chat@{limited.url}",
                                               "--modelbench-concurrency=16", "--modelbench-json=r.json", "-q")
        throttled = limited.stats.throttled
        accepted = sorted(limited.stats.accepted_at)
    assert result.ret == 0
    runs = json.loads((pytester.path / "r.json").read_text())["runs"]
    assert [run["outcome"] for run in runs] == ["passed"] * 30
    assert throttled > 0
    assert sum(run["retries"] for run in runs) == throttled  # each 429 retried once, by the limiter only
    # never more than 10 accepted in any second
    assert all(b - a >= 1.0 for a, b in zip(accepted, accepted[10:]))
    result.stdout.fnmatch_lines(["*throttled (429/529 or connection closed) and retried*"])


def test_server_closing_connections_under_load(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_load='''
        import pytest

        @pytest.mark.modelbench(category="accuracy", runs=1)
        @pytest.mark.parametrize("a", range(20))
        def test_load(model, a):
            assert model.complete(f"What is {a} + 1?").text == f"A: {a + 1}"
    ''')
    with ChatServer(Behaviour(ttft_ms=50, drop_above=3)) as shedding:
        result = pytester.runpytest_subprocess(f"--modelbench-models=openai:chat@{shedding.url}",
                                               "--modelbench-concurrency=8", "--modelbench-json=r.json", "-q")
        dropped = shedding.stats.dropped
    assert result.ret == 0
    runs = json.loads((pytester.path / "r.json").read_text())["runs"]
    assert [run["outcome"] for run in runs] == ["passed"] * 20  # none lost
    assert dropped > 0 and sum(run["retries"] for run in runs) == dropped


def test_rpm_is_shared_by_xdist_workers(pytester: pytest.Pytester, server: ChatServer) -> None:
    pytester.makepyprojecttoml(f'''
        [tool.modelbench.models.paced]
        provider = "openai"
        model = "chat"
        base_url = "{server.url}"
        rpm = 300
    ''')
    pytester.makepyfile(test_paced='''
        import pytest

        @pytest.mark.modelbench(category="accuracy", runs=1)
        @pytest.mark.parametrize("a", range(12))
        def test_paced(model, a):
            assert model.complete(f"What is {a} + 1?").text == f"A: {a + 1}"
    ''')
    result = pytester.runpytest_subprocess("--modelbench-models=paced", "-n", "3", "-q")
    assert result.ret == 0
    accepted = sorted(server.stats.accepted_at)
    assert len(accepted) == 12
    # 300 per minute is one request every 0.2 s, for the three workers together. The server
    # sees them a little earlier or later than they were sent (a loaded machine, the first
    # request of each worker opens its connection): no four in a row within 0.6 s.
    assert accepted[-1] - accepted[1] > 10 * 0.2 - 0.1
    assert all(later - earlier > 0.6 for earlier, later in zip(accepted, accepted[4:])), accepted


def test_acomplete_goes_through_the_limiter(pytester: pytest.Pytester, server: ChatServer) -> None:
    pytester.makeini(INI)
    pytester.makepyprojecttoml(f'''
        [tool.modelbench.models.paced]
        provider = "openai"
        model = "chat"
        base_url = "{server.url}"
        rpm = 600
    ''')
    pytester.makepyfile(test_async_paced='''
        import pytest

        @pytest.mark.modelbench(category="accuracy", runs=1)
        @pytest.mark.parametrize("a", range(5))
        async def test_paced(model, a):
            assert (await model.acomplete(f"What is {a} + 1?")).text == f"A: {a + 1}"
    ''')
    result = pytester.runpytest_subprocess("--modelbench-models=paced", "-q")
    assert result.ret == 0
    accepted = sorted(server.stats.accepted_at)
    # 600 per minute: one every 0.1 s (as the server sees them: the first one also opened the
    # connection, and a loaded machine sends a little late now and then)
    assert len(accepted) == 5 and accepted[-1] - accepted[1] > 3 * 0.1 - 0.05


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--modelbench-concurrency=0"], "*--modelbench-concurrency: '0' is not allowed; it must be >= 1*"),
        (["--modelbench-concurrency=-3"], "*--modelbench-concurrency: '-3' is not allowed; it must be >= 1*"),
        (["--modelbench-concurrency=2.5"], "*--modelbench-concurrency: '2.5' is not a whole number >= 1*"),
        (["--modelbench-concurrency=many"], "*--modelbench-concurrency: 'many' is not a whole number >= 1*"),
    ],
)
def test_bad_concurrency_is_a_usage_error(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest("--modelbench-models=echo", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_bad_ini_concurrency_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmodelbench_concurrency = 0\n")
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest("--modelbench-models=echo")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*modelbench concurrency '0' is not allowed; it must be >= 1*"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("concurrency = 0", "*[[]tool.modelbench.models.fast[]] concurrency 0 is not allowed; it must be a whole number >= 1*"),
        ("concurrency = 2.5", "*[[]tool.modelbench.models.fast[]] concurrency 2.5 is not allowed*whole number >= 1*"),
        ('concurrency = "4"', "*[[]tool.modelbench.models.fast[]] concurrency '4' is not allowed*whole number >= 1*"),
        ("rpm = 0", "*[[]tool.modelbench.models.fast[]] rpm 0 is not allowed; it must be a number > 0 (requests per minute)*"),
        ("rpm = -60", "*[[]tool.modelbench.models.fast[]] rpm -60 is not allowed*"),
        ("tpm = 0", "*[[]tool.modelbench.models.fast[]] tpm 0 is not allowed; it must be a number > 0 (tokens per minute)*"),
        ('tpm = "lots"', "*[[]tool.modelbench.models.fast[]] tpm 'lots' is not allowed*"),
    ],
)
def test_bad_model_limits_are_usage_errors(pytester: pytest.Pytester, line: str, message: str) -> None:
    pytester.makepyprojecttoml(f'''
        [tool.modelbench.models.fast]
        provider = "openai"
        model = "m"
        base_url = "http://127.0.0.1:9/v1"
        {line}
    ''')
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest("--modelbench-models=fast")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_bad_concurrent_marker_value_is_a_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_marker='''
        import pytest

        @pytest.mark.modelbench(category="accuracy", concurrent="yes")
        def test_x(model):
            pass
    ''')
    result = pytester.runpytest("--modelbench-models=echo")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*test_x: concurrent 'yes' is not allowed; it must be True or False*"])


JUDGE = '''
import re

def grade(prompt):
    # a strict judge: full marks when the answer holds the sum asked for, else 2 of 10
    question = prompt.split("QUESTION:")[1].split("ANSWER:")[0]
    answer = prompt.split("ANSWER:")[1].split("CRITERIA:")[0]
    numbers = [int(n) for n in re.findall(r"\\d+", question)]
    score = 10 if str(sum(numbers)) in answer else 2
    return '{"reasoning": "checked", "score": %d}' % score
'''


def test_judge_calls_are_fetched_ahead_too(pytester: pytest.Pytester, server: ChatServer) -> None:
    pytester.makepyfile(judgemod=JUDGE, test_judged='''
        import pytest

        @pytest.mark.modelbench(category="quality", runs=2)
        @pytest.mark.parametrize("a", range(4))
        def test_judged(model, judge, record_quality, a):
            reply = model.complete(f"What is {a} + {a * 2}?")
            verdict = judge.grade(question=f"What is {a} + {a * 2}?", answer=reply.text, rubric="the sum")
            record_quality(verdict.score)
            assert verdict.score > 0.5
    ''')
    pytester.makeini("[pytest]\npythonpath = .\n")
    common = (f"--modelbench-models=openai:chat@{server.url}", "--modelbench-judge=python:judgemod:grade")
    serial = pytester.runpytest_subprocess(*common, "--modelbench-json=serial.json")
    concurrent = pytester.runpytest_subprocess(*common, "--modelbench-json=concurrent.json",
                                               "--modelbench-concurrency=4")
    assert serial.ret == concurrent.ret == 0
    first = json.loads((pytester.path / "serial.json").read_text())["runs"]
    second = json.loads((pytester.path / "concurrent.json").read_text())["runs"]
    assert _strip(first) == _strip(second)
    assert [run["judge_calls"] for run in second] == [1] * 8
    concurrent.stdout.fnmatch_lines(["*python:judgemod:grade (judge): 8 calls*"])


def test_rerunfailures_reruns_ask_afresh(pytester: pytest.Pytester, server: ChatServer) -> None:
    pytester.makepyfile(test_flaky='''
        import os
        import pytest

        @pytest.mark.modelbench(category="accuracy", runs=1)
        @pytest.mark.parametrize("a", range(3))
        def test_flaky(model, a):
            reply = model.complete(f"What is {a} + 1?")
            marker = f"failed-once-{a}"
            if a == 1 and not os.path.exists(marker):
                open(marker, "w").close()
                raise RuntimeError("flaky")
            assert reply.text == f"A: {a + 1}"
    ''')
    result = pytester.runpytest_subprocess(f"--modelbench-models=openai:chat@{server.url}", "--reruns=1",
                                           "--modelbench-concurrency=4", "--modelbench-json=r.json", "-q")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*3 passed*1 rerun*"])
    runs = json.loads((pytester.path / "r.json").read_text())["runs"]
    assert [run["outcome"] for run in runs] == ["passed"] * 3 and [run["calls"] for run in runs] == [1, 1, 1]
    assert server.stats.requests == 4  # the rerun asked the model again, as without concurrency


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.written: list[str] = []
        self.tty = tty

    def write(self, text: str) -> None:
        self.written.append(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self.tty


class _Writer:
    fullwidth = 100
    width_of_current_line = 30

    def __init__(self, stream: _Stream) -> None:
        self._file = stream


class _Reporter:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write_line(self, line: str) -> None:
        self.lines.append(line)


class _Config:
    def __init__(self, stream: _Stream, reporter: _Reporter) -> None:
        self._writer = _Writer(stream)
        plugins = {"terminalreporter": reporter, "capturemanager": None}

        class Manager:
            @staticmethod
            def get_plugin(name):
                return plugins[name]

        self.pluginmanager = Manager()

    def get_terminal_writer(self):
        return self._writer

    def get_verbosity(self) -> int:
        return 0


def test_progress_line_in_place_on_a_terminal(monkeypatch) -> None:
    from pytest_modelbench import concurrency

    stream, reporter = _Stream(tty=True), _Reporter()
    status = concurrency._StatusLine(_Config(stream, reporter), lambda: "modelbench: m 3/~10 calls, 2 in flight")
    monkeypatch.setattr(concurrency, "STATUS_TTY_S", 0.0)
    status.tick()
    assert stream.written == ["  modelbench: m 3/~10 calls, 2 in flight"]
    status.tick()  # redrawn: the old text erased first (backspaces, so pytest's line is kept)
    width = len("  modelbench: m 3/~10 calls, 2 in flight")
    assert stream.written[1] == "\b" * width + " " * width + "\b" * width
    status.clear()
    assert stream.written[-1] == stream.written[1] and reporter.lines == []
    status.clear()  # nothing shown: nothing to erase
    assert len(stream.written) == 4


def test_progress_line_is_cut_to_the_room_left_on_the_line(monkeypatch) -> None:
    from pytest_modelbench import concurrency

    stream = _Stream(tty=True)
    status = concurrency._StatusLine(_Config(stream, _Reporter()), lambda: "x" * 200)
    monkeypatch.setattr(concurrency, "STATUS_TTY_S", 0.0)
    status.tick()
    assert len(stream.written[0]) == 100 - 30 - 10 and stream.written[0].endswith("…")


def test_progress_as_plain_lines_without_a_terminal(monkeypatch) -> None:
    from pytest_modelbench import concurrency

    stream, reporter = _Stream(tty=False), _Reporter()
    status = concurrency._StatusLine(_Config(stream, reporter), lambda: "modelbench: m 3 calls")
    status.tick()
    assert reporter.lines == []  # not before STATUS_PLAIN_S seconds
    monkeypatch.setattr(concurrency, "STATUS_PLAIN_S", 0.0)
    status.tick()
    status.clear()
    assert reporter.lines == ["modelbench: m 3 calls"] and stream.written == []
