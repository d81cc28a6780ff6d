"""Validation of the scorers on real data in shared/data (never copied into the repository).

- HumanEval (Chen et al. 2021): the code runner passes all 164 canonical solutions, fails
  every problem whose body is replaced by ``pass``, kills infinite loops at the timeout, and
  passes none of the completions that try to exit with code 0 before (or instead of) the
  checks: ``sys.exit(0)``, ``os._exit(0)``, ``atexit.register(os._exit, 0)``, ``SystemExit``
  raised in the checks, an exception hook that exits 0, a module-level exit.
- GSM8K (Cobbe et al. 2021): the final-number extractor reproduces the recorded correctness
  labels of all four models' 1319 solutions in example_model_solutions.jsonl.

The data lives beside the repository: <repo>/../shared/data. Tests skip, saying so, when it
is absent. Set MODELBENCH_FULL_VALIDATION=1 to run the infinite-loop check and the exit hacks
on all 164 problems (about a minute each on 2 cores); by default they run on a subset spread
over the set (every 16th problem for the loops, every 8th for the exit hacks).
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from pytest_modelbench.scorers import extract_final_number, humaneval_program, numeric_match, run_python_many

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
HUMANEVAL = SHARED_DATA / "humaneval" / "HumanEval.jsonl.gz"
GSM8K_TEST = SHARED_DATA / "gsm8k" / "test.jsonl"
GSM8K_SOLUTIONS = SHARED_DATA / "gsm8k" / "example_model_solutions.jsonl"
GSM8K_MODELS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")
WORKERS = 2
PASS_TIMEOUT_S = 5.0
LOOP_TIMEOUT_S = 1.5
FULL_VALIDATION = os.environ.get("MODELBENCH_FULL_VALIDATION") == "1"


def _require(path: Path) -> None:
    if not path.is_file():
        pytest.skip(f"shared data file {path} is absent (expected beside the repository in ../shared/data)")


@pytest.fixture(scope="module")
def humaneval() -> list[dict]:
    _require(HUMANEVAL)
    with gzip.open(HUMANEVAL, "rt", encoding="utf-8") as handle:
        problems = [json.loads(line) for line in handle if line.strip()]
    assert len(problems) == 164
    return problems


@pytest.fixture(scope="module")
def gsm8k_solutions() -> list[dict]:
    _require(GSM8K_SOLUTIONS)
    with GSM8K_SOLUTIONS.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    assert len(rows) == 1319
    return rows


# --- HumanEval ----------------------------------------------------------------------------

def _failures(problems, results, wanted):
    return [(problem["task_id"], result.status, result.reason)
            for problem, result in zip(problems, results) if not wanted(result)]


def test_humaneval_canonical_solutions_all_pass(humaneval):
    programs = [humaneval_program(problem, problem["canonical_solution"]) for problem in humaneval]
    results = run_python_many(programs, workers=WORKERS, timeout_s=PASS_TIMEOUT_S)
    assert _failures(humaneval, results, lambda result: result.passed) == []


def test_humaneval_pass_bodies_all_fail(humaneval):
    programs = [humaneval_program(problem, "    pass\n") for problem in humaneval]
    results = run_python_many(programs, workers=WORKERS, timeout_s=PASS_TIMEOUT_S)
    # A body of `pass` returns None: the checks fail (AssertionError) or break on the None
    # (e.g. a TypeError): never passed, never timed out.
    assert _failures(humaneval, results, lambda result: result.status in ("failed", "error")) == []


_LOOP_BODY = (
    "    import sys\n"
    "    sys.stderr.write('entered the loop\\n')\n"
    "    sys.stderr.flush()\n"
    "    while True:\n"
    "        pass\n"
)


def _check_loops_killed(problems, timeout_s, workers, require_entry):
    programs = [humaneval_program(problem, _LOOP_BODY) for problem in problems]
    results = run_python_many(programs, workers=workers, timeout_s=timeout_s)
    for problem, result in zip(problems, results):
        assert result.status == "timed_out", (problem["task_id"], result.reason)
        # Killed at the timeout: not before it, and not long after (loose bound, busy machine).
        assert timeout_s <= result.duration_s < timeout_s + 3.0, (problem["task_id"], result.duration_s)
        if require_entry:
            assert "entered the loop" in result.stderr, problem["task_id"]


def test_humaneval_infinite_loops_are_killed_at_the_timeout(humaneval):
    subset = humaneval[::16]  # 11 problems spread over the set
    _check_loops_killed(subset, LOOP_TIMEOUT_S, WORKERS, require_entry=True)


@pytest.mark.skipif(not FULL_VALIDATION,
                    reason="full 164-problem infinite-loop run: set MODELBENCH_FULL_VALIDATION=1")
def test_humaneval_infinite_loops_all_problems(humaneval):
    # The wall-clock kill does not depend on CPU, so 4 workers on 2 cores is fine here; the
    # loop may start late on a loaded machine, so its entry is not required.
    _check_loops_killed(humaneval, 1.0, 4, require_entry=False)


# Completions that end the program with exit code 0 before the checks can fail it. Before
# the harness required its proof of completion, each of these passed all 164 problems.
EXIT_HACKS = {
    "sys.exit(0)": "    import sys\n    sys.exit(0)\n",
    "os._exit(0)": "    import os\n    os._exit(0)\n",
    "atexit os._exit": "    import atexit, os\n    atexit.register(os._exit, 0)\n    return None\n",
    "SystemExit in check": "    raise SystemExit(0)\n",
    "excepthook exits 0": "    import os, sys\n    sys.excepthook = lambda *exc: os._exit(0)\n    return None\n",
    "module-level exit": "    return None\nimport sys\nsys.exit(0)\n",
}
@pytest.mark.parametrize("hack", sorted(EXIT_HACKS))
def test_humaneval_exit_hacks_never_pass(humaneval, hack):
    problems = humaneval if FULL_VALIDATION else humaneval[::8]  # 21 problems spread over the set
    programs = [humaneval_program(problem, EXIT_HACKS[hack]) for problem in problems]
    results = run_python_many(programs, workers=WORKERS, timeout_s=PASS_TIMEOUT_S)
    assert _failures(problems, results, lambda result: result.status in ("failed", "error")) == []


# --- GSM8K --------------------------------------------------------------------------------

def test_gsm8k_ground_truth_formats_agree(gsm8k_solutions):
    # test.jsonl ends each answer with "#### N"; the solutions file with a final "A: N" line.
    _require(GSM8K_TEST)
    with GSM8K_TEST.open(encoding="utf-8") as handle:
        test_rows = [json.loads(line) for line in handle if line.strip()]
    assert len(test_rows) == len(gsm8k_solutions)
    disagreements = []
    for index, (test_row, row) in enumerate(zip(test_rows, gsm8k_solutions)):
        assert test_row["question"] == row["question"]
        official = extract_final_number(test_row["answer"], strict=True)
        recorded = extract_final_number(row["ground_truth"], strict=True)
        if official is None or official != recorded:
            disagreements.append((index, official, recorded))
    assert disagreements == []


@pytest.mark.parametrize("model", GSM8K_MODELS)
def test_gsm8k_correctness_labels_are_reproduced(gsm8k_solutions, model):
    # A solution is correct when its marked final answer (strict: a solution that never
    # commits to an answer, e.g. one cut off mid-sentence, is wrong) equals the ground truth's
    # exactly, as a number.
    mismatches = []
    for index, row in enumerate(gsm8k_solutions):
        truth = extract_final_number(row["ground_truth"], strict=True)
        solution = row[model]["solution"]
        correct = numeric_match(solution, truth, strict=True).passed
        if correct != row[model]["is_correct"]:
            mismatches.append((index, extract_final_number(solution, strict=True), truth, row[model]["is_correct"]))
    assert mismatches == []
    # The labels are not all one value: the check can tell right from wrong.
    labels = [row[model]["is_correct"] for row in gsm8k_solutions]
    assert 0 < sum(labels) < len(labels)
