"""The command line's face: bad input is one line naming the file and the value, exit status 2,
no traceback; the console script and ``python -m pytest_modelbench`` run from the install."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_modelbench.cli import main
from pytest_modelbench.core.records import RunRecord
from pytest_modelbench.core.results import build_meta
from pytest_modelbench.models.specs import ModelSpec
from pytest_modelbench.session.pipeline import finish, write_outputs
from pytest_modelbench.session.settings import Settings


def run(*argv: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(arg) for arg in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def results(tmp_path: Path) -> Path:
    records = [RunRecord(task=f"t{t}", model=name, run=1, category="accuracy", difficulty="easy", weight=1.0,
                         outcome="passed" if (t + len(name)) % 3 else "failed", quality=None, calls=1,
                         latency_ms=10.0 + t, prompt=f"question {t}", reply=f"{name} says {t}")
               for name in ("alpha", "beta") for t in range(8)]
    records = [RunRecord.from_dict({**r.to_dict(), "quality": 1.0 if r.outcome == "passed" else 0.0}) for r in records]
    path = tmp_path / "results.json"
    specs = (ModelSpec("alpha", "echo", ""), ModelSpec("beta", "echo", ""))
    settings = Settings(models=specs, json_path=path)
    write_outputs(finish(records, settings), settings, lambda: build_meta(
        plugin_version="0.1.0", pytest_version="9", started="s", finished="f", rootdir=tmp_path,
        models=[spec.describe() for spec in specs], settings=settings.describe()))
    return path


@pytest.mark.parametrize(("argv", "message"), [
    (["show", "{dir}/missing.json"], "modelbench show: error: results file '{dir}/missing.json' does not exist"),
    (["show", "{dir}/broken.json"], "modelbench show: error: results file '{dir}/broken.json' is not valid JSON: *"),
    (["show", "{dir}/v9.json"], "modelbench show: error: results file '{dir}/v9.json' has schema_version 9; "
                                "this plugin reads 1"),
    (["show", "{dir}/results.json", "--model", "gamma"],
     "modelbench show: error: model 'gamma' is not in results file '{dir}/results.json'; it has: alpha, beta"),
    (["show", "{dir}/results.json", "--task", "t9"], "modelbench show: error: task 't9' is not in results file *"),
    (["show", "{dir}/results.json", "--use-case", "poetry"],
     "modelbench show: error: --use-case 'poetry' is not one of: *"),
    (["show", "{dir}/results.json", "--rank", "best"],
     "modelbench show: error: argument --rank: rank 'best' is not one of: weighted, bradley_terry, elo, borda, "
     "pareto (see modelbench show --help)"),
    (["compare", "{dir}/missing.json", "{dir}/results.json"],
     "modelbench compare: error: results file '{dir}/missing.json' does not exist"),
    (["compare", "{dir}/results.json", "{dir}/results.json", "--tolerance", "lots"],
     "modelbench compare: error: --tolerance 'lots' is not a number*"),
    (["compare", "{dir}/results.json", "{dir}/results.json", "--min-score", "gamma=50"],
     "modelbench compare: error: *gamma*"),
    (["compare", "{dir}/results.json", "{dir}/results.json", "--alpha", "2"],
     "modelbench compare: error: argument --alpha: alpha '2' is not allowed*"),
    (["merge", "{dir}/results.json", "-o", "{dir}/merged.txt"],
     "modelbench merge: error: -o '{dir}/merged.txt' must end in .json (a results file)"),
    (["report", "{dir}/results.json", "-o", "{dir}/report.pdf"],
     "modelbench report: error: -o '{dir}/report.pdf' must end in .md or .html (the suffix picks the format)"),
    (["trend", "{dir}/results.json"],
     "modelbench trend: error: modelbench trend needs at least two results files, got 1 ({dir}/results.json)"),
    ([], "modelbench: error: the following arguments are required: COMMAND (see modelbench --help)"),
])
def test_bad_input_is_one_line_exit_2(results, argv, message):
    import fnmatch

    folder = results.parent
    (folder / "broken.json").write_text("{not json", encoding="utf-8")
    (folder / "v9.json").write_text(json.dumps({"schema_version": 9, "runs": []}), encoding="utf-8")
    code, out, err = run(*[part.format(dir=folder) for part in argv])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert fnmatch.fnmatchcase(err.rstrip("\n"), message.format(dir=folder)), err


def test_show_variants(results):
    code, out, _ = run("show", results, "-q")
    assert code == 0 and "modelbench summary" in out and "head-to-head" not in out
    code, out, _ = run("show", results, "--rank", "borda", "-v")
    assert code == 0 and "modelbench ranking: borda" in out and "misses and errors" in out
    code, out, _ = run("show", results, "--task", "t3")
    assert code == 0 and "question 3" in out
    header = next(line for line in out.splitlines() if line.startswith("alpha: "))
    assert "| beta: " in header
    code, out, _ = run("show", results, "--task", "t", "--model", "beta")
    assert code == 2  # 't' is part of 8 task ids


def test_the_console_script_and_python_m_from_the_install(results):
    script = Path(sys.executable).parent / "modelbench"
    commands = [[sys.executable, "-m", "pytest_modelbench"]]
    if script.exists() or shutil.which("modelbench"):
        commands.append([str(script) if script.exists() else shutil.which("modelbench")])
    else:
        pytest.fail("the modelbench console script is not installed next to the interpreter")
    for command in commands:
        done = subprocess.run([*command, "show", str(results), "--model", "alpha"], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        assert "modelbench model: alpha" in done.stdout and "grades: A >= 90" in done.stdout
        done = subprocess.run([*command, "show", str(results.parent / "nope.json")], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "nope.json" in done.stderr
    assert "import pytest" not in Path(main.__code__.co_filename).read_text()
