"""Loading benchmark tasks from JSONL and CSV files."""

from __future__ import annotations

import gzip
import json
import pickle
import sys

import pytest

from pytest_modelbench.design.datasets import (
    DatasetError,
    Task,
    TaskList,
    sanitize_id,
    task_id,
    tasks_from_csv,
    tasks_from_jsonl,
    tasks_from_rows,
)


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_jsonl_with_id_field(tmp_path):
    path = _write_jsonl(tmp_path / "qa.jsonl", [
        {"id": "capital-fr", "question": "Capital of France?", "answer": "Paris"},
        {"id": 7, "question": "2+2?", "answer": "4"},
    ])
    tasks = tasks_from_jsonl(path, "id")
    assert isinstance(tasks, TaskList) and len(tasks) == 2
    assert tasks.ids == ["capital-fr", "7"]
    first = tasks[0]
    assert isinstance(first, Task)
    assert first["answer"] == "Paris" and first.get("missing", "x") == "x" and "question" in first
    assert str(first) == "capital-fr" == task_id(first)
    assert (first.source, first.line) == (str(path), 1)
    assert tasks.by_id("7")["answer"] == "4"


def test_default_ids_are_line_numbers_skipping_blank_lines(tmp_path):
    path = tmp_path / "plain.jsonl"
    path.write_text('{"q": 1}\n\n{"q": 2}\n', encoding="utf-8")
    assert tasks_from_jsonl(path).ids == ["line1", "line3"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("HumanEval/0", "HumanEval_0"), ("two words", "two_words"), ("a[1]", "a_1_"), ("x::y", "x_y"),
     (" padded ", "padded"), ("ok-1.2_b", "ok-1.2_b"), ("caf\u00e9", "caf\u00e9")],
)
def test_sanitize_id(raw, expected):
    assert sanitize_id(raw) == expected


def test_duplicate_ids_name_both_lines(tmp_path):
    path = _write_jsonl(tmp_path / "dup.jsonl", [{"id": "q 1"}, {"id": "other"}, {"id": "q[1"}])
    with pytest.raises(DatasetError) as info:
        tasks_from_jsonl(path, "id")
    assert str(info.value) == f"{path}: duplicate task id 'q_1' on line 1 ('q 1') and line 3 ('q[1')"


def test_invalid_json_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": 1}\n{"id": 2,}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad\.jsonl, line 2: invalid JSON \(Expecting property name"):
        tasks_from_jsonl(path, "id")


def test_missing_id_field(tmp_path):
    path = _write_jsonl(tmp_path / "noid.jsonl", [{"id": 1}, {"name": "x"}])
    with pytest.raises(DatasetError, match=r"noid\.jsonl, line 2: missing id field 'id'; the row has: name"):
        tasks_from_jsonl(path, "id")


@pytest.mark.parametrize("bad_id", [None, "", "  ", True, [1], 1.5])
def test_unusable_id_values(tmp_path, bad_id):
    path = _write_jsonl(tmp_path / "ids.jsonl", [{"id": bad_id}])
    with pytest.raises(DatasetError, match=r"line 1: id field 'id' is .*; an id is a non-empty string or an integer"):
        tasks_from_jsonl(path, "id")


def test_missing_required_field(tmp_path):
    path = _write_jsonl(tmp_path / "req.jsonl", [{"q": 1, "a": 2}, {"q": 3}])
    with pytest.raises(DatasetError, match=r"req\.jsonl, line 2: missing required field 'a'; the row has: q"):
        tasks_from_jsonl(path, fields=["q", "a"])


def test_row_that_is_not_an_object(tmp_path):
    path = tmp_path / "list.jsonl"
    path.write_text('[1, 2]\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"line 1: expected an object of fields, got list \[1, 2\]"):
        tasks_from_jsonl(path)


def test_limit_stops_reading(tmp_path):
    path = tmp_path / "limited.jsonl"
    path.write_text('{"q": 1}\n{"q": 2}\nnot json at all\n', encoding="utf-8")
    assert tasks_from_jsonl(path, limit=2).ids == ["line1", "line2"]  # line 3 is never parsed


def test_gzip_files_are_read(tmp_path):
    path = tmp_path / "data.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write('{"task_id": "HumanEval/0"}\n')
    assert tasks_from_jsonl(path, "task_id").ids == ["HumanEval_0"]


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="cannot open dataset .*nope.jsonl: No such file"):
        tasks_from_jsonl(tmp_path / "nope.jsonl")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id_field": ""}, "id_field '' is not allowed"),
        ({"fields": "question"}, "must be a list of field names, not one string"),
        ({"fields": [""]}, "non-empty field names"),
        ({"limit": 0}, "limit 0 is not allowed"),
        ({"limit": True}, "limit True is not allowed"),
    ],
)
def test_bad_options(tmp_path, kwargs, message):
    path = _write_jsonl(tmp_path / "x.jsonl", [{"id": 1}])
    with pytest.raises(ValueError, match=message):
        tasks_from_jsonl(path, **kwargs)


def test_csv(tmp_path):
    path = tmp_path / "qa.csv"
    path.write_text('id,question,answer\nq1,"Multi\nline?",yes\nq2,Plain,no\n', encoding="utf-8")
    tasks = tasks_from_csv(path, "id", fields=["answer"])
    assert tasks.ids == ["q1", "q2"]
    assert tasks[0]["question"] == "Multi\nline?"
    assert [task.line for task in tasks] == [2, 4]  # the line where each row starts
    assert tasks_from_csv(path).ids == ["line2", "line4"]


def test_csv_row_with_wrong_width(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("id,question\nq1,a\nq2,b,extra\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"wide\.csv, line 3: has 3 values, the header has 2 columns"):
        tasks_from_csv(path, "id")


def test_csv_bad_header_and_other_delimiter(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,id\n1,2\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="empty or repeated column names"):
        tasks_from_csv(bad)
    tsv = tmp_path / "data.tsv"
    tsv.write_text("id\tq\nA 1\tx\n", encoding="utf-8")
    assert tasks_from_csv(tsv, "id", delimiter="\t").ids == ["A_1"]


def test_empty_files_give_no_tasks(tmp_path):
    (tmp_path / "e.jsonl").write_text("", encoding="utf-8")
    (tmp_path / "e.csv").write_text("", encoding="utf-8")
    assert tasks_from_jsonl(tmp_path / "e.jsonl") == []
    assert tasks_from_csv(tmp_path / "e.csv") == []


def test_rows_in_memory():
    tasks = tasks_from_rows([{"name": "a b"}, {"name": "c"}], "name")
    assert tasks.ids == ["a_b", "c"]
    assert tasks_from_rows([{"x": 1}]).ids == ["line1"]
    with pytest.raises(DatasetError, match="<rows>, line 2: missing id field"):
        tasks_from_rows([{"name": "a"}, {}], "name")


def test_unknown_field_error_names_the_task():
    task = tasks_from_rows([{"id": "t1", "q": 1}], "id")[0]
    with pytest.raises(KeyError, match="task 't1' \\(<rows>, line 1\\) has no field 'answer'; it has: id, q"):
        task["answer"]


def test_tasks_pickle():
    tasks = tasks_from_rows([{"id": "t1", "q": [1, 2]}], "id")
    assert pickle.loads(pickle.dumps(tasks)) == tasks


def test_dataset_error_is_a_value_error():
    assert issubclass(DatasetError, ValueError)


def test_does_not_import_pytest():
    import subprocess

    code = "import sys, pytest_modelbench.design.datasets, pytest_modelbench.scorers; print('pytest' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_one_line_parametrize_gives_readable_ids(pytester):
    pytester.makefile(".jsonl", questions='{"id": "capital fr", "a": "Paris"}\n{"id": "sum/1", "a": "4"}\n')
    pytester.makepyfile(
        """
        import pytest
        from pytest_modelbench.design.datasets import tasks_from_jsonl

        @pytest.mark.parametrize("task", tasks_from_jsonl("questions.jsonl", "id"), ids=str)
        def test_answer(task):
            assert task["a"]
        """
    )
    result = pytester.runpytest("-v", "-p", "no:modelbench")
    result.stdout.fnmatch_lines(["*test_answer?capital_fr? PASSED*", "*test_answer?sum_1? PASSED*"])
    result.assert_outcomes(passed=2)
