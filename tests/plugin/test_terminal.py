"""The terminal summary at the terminal's width: whole names, distinguishable at 80 and 120
columns, one legend line, readable money, recommendations with their alternatives."""

from __future__ import annotations

import re

import pytest

NAMES = ("candidate-model-version-1", "candidate-model-version-2", "candidate-model-version-3")

CANDIDATES = """
def answer(prompt, level):
    number = int(prompt.split()[-1])
    return "yes" if number % 3 < level else "no"

def version_1(prompt):
    return answer(prompt, 1)

def version_2(prompt):
    return answer(prompt, 2)

def version_3(prompt):
    return answer(prompt, 3)
"""

SUITE = """
import pytest

@pytest.mark.modelbench(category="accuracy", difficulty="trivial")
@pytest.mark.parametrize("n", range(9))
def test_answer(model, n):
    assert model.complete(f"question {n}").text == "yes"
"""

PYPROJECT = """
[tool.pytest.ini_options]
pythonpath = ["."]

[tool.modelbench.models.candidate-model-version-1]
provider = "python"
model = "candidates:version_1"

[tool.modelbench.models.candidate-model-version-2]
provider = "python"
model = "candidates:version_2"

[tool.modelbench.models.candidate-model-version-3]
provider = "python"
model = "candidates:version_3"
"""


def summary_lines(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "modelbench summary" in line)
    end = next(i for i in range(len(lines) - 1, start, -1) if re.match(r"=+ .* in [\d.]+s", lines[i]))
    return lines[start:end]


def table_after(lines: list[str], header: str) -> list[str]:
    """The lines of the table whose header line starts with ``header``, up to a blank line."""
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def spans(table: list[str]) -> list[tuple[int, int]]:
    rule = next(line for line in table if set(line) <= {"-", " "} and "-" in line)
    return [(match.start(), match.end()) for match in re.finditer(r"-+", rule)]


def headers_of(table: list[str]) -> list[str]:
    """Each column's header, its wrapped lines joined back together."""
    rule = next(i for i, line in enumerate(table) if set(line) <= {"-", " "} and "-" in line)
    return ["".join(line[start:end].strip() for line in table[:rule]) for start, end in spans(table)]


def column_text(table: list[str], column: int) -> list[str]:
    """The cells of one column below the rule, a wrapped cell's lines joined (a new cell starts
    where the row's first column is not blank)."""
    rule = next(i for i, line in enumerate(table) if set(line) <= {"-", " "} and "-" in line)
    start, end = spans(table)[column]
    cells: list[str] = []
    for line in table[rule + 1:]:
        part = line[start:end].strip()
        if line[:spans(table)[0][1]].strip() or not cells:
            cells.append(part)
        else:
            cells[-1] = cells[-1] + part if cells[-1].endswith("-") else f"{cells[-1]} {part}".strip()
    return cells


@pytest.mark.parametrize("columns", [80, 120])
def test_names_that_differ_at_the_end_stay_apart(pytester: pytest.Pytester, monkeypatch, columns: int) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    pytester.makepyfile(candidates=CANDIDATES, test_suite=SUITE)
    pytester.makepyprojecttoml(PYPROJECT)
    result = pytester.runpytest("-p", "no:cacheprovider", "--modelbench-models=" + ",".join(NAMES))
    assert result.ret == 0
    lines = summary_lines(result.stdout.str())
    too_wide = [line for line in lines if len(line) > columns]
    assert not too_wide, too_wide
    # the model table: every name whole, on its row, in score order
    models = table_after(lines, "#  model")
    rows = [line for line in models if re.match(r"\d+ ", line)]
    assert [next(name for name in NAMES if name in row) for row in rows] == list(reversed(NAMES))
    # the category table heads each column with the whole name, wrapped onto lines (never cut)
    categories = table_after(lines, "category")
    assert headers_of(categories)[2:] == list(reversed(NAMES))  # best first
    # speed, cost and consistency are scored for every model
    for category in ("speed*", "cost*", "consistency*"):
        row = next(line for line in categories if line.startswith(category))
        assert len(row.split()) == 2 + len(NAMES), row
    # the head-to-head matrix numbers the models and names each whole
    top = next(i for i, line in enumerate(lines) if re.fullmatch(r"model\s+1\s+2\s+3", line.strip()))
    matrix = lines[top:next(i for i in range(top, len(lines)) if lines[i].startswith("row vs column"))]
    assert column_text(matrix, 0) == [f"{k} {name}" for k, name in enumerate(NAMES, start=1)]
    text = "\n".join(lines)
    assert "…" not in text  # nothing cut
    # one legend line explains ? and - and every abbreviation used
    legend = [i for i, line in enumerate(lines) if line.startswith("legend: ")]
    assert len(legend) == 1
    legend_text = " ".join(line.strip() for line in lines[legend[0]:legend[0] + 12])
    for word in ("? unknown", "* measured from the runs", "pass/miss/err", "TTFT", "$/1k tasks", "p adj",
                 "pass^k", "MDE"):
        assert word in legend_text, word
    assert not re.search(r"\de-\d", text)  # no scientific notation
    # recommendations keep their alternatives' scores without -v
    high_volume = next(i for i, line in enumerate(lines) if line.startswith("high_volume: "))
    head = " ".join(line.strip() for line in lines[high_volume:high_volume + 2])
    assert re.search(r"alternatives: candidate-model-version-2 \d+\.\d, candidate-model-version-1 \d+\.\d", head), head


def test_bad_speed_reference_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SUITE)
    pytester.makepyprojecttoml("""
        [tool.modelbench.speed]
        latency_p95 = { best_ms = 3000, worst_ms = 300 }
    """)
    result = pytester.runpytest("--modelbench-models=echo")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*[[]tool.modelbench.speed[]] latency_p95: worst_ms = 300 is not allowed; it must be "
                                 "more than best_ms = 3000*"])
    assert "Traceback" not in result.stderr.str()


def test_speed_can_be_left_out_of_the_score(pytester: pytest.Pytester) -> None:
    import json

    pytester.makepyfile(SUITE)
    pytester.makepyprojecttoml("""
        [tool.modelbench.speed]
        measured = false
        [tool.modelbench.cost]
        best_usd = 0.001
    """)
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-json=r.json")
    assert result.ret == 0
    document = json.loads((pytester.path / "r.json").read_text())
    echo = document["models"]["echo"]
    assert set(echo["dimensions"]) == {"cost", "consistency"} and "speed" not in echo["categories"]
    assert document["meta"]["settings"]["dimensions"]["cost"] == {"best_usd": 0.001, "worst_usd": 0.1}
