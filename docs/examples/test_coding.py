"""Writing Python functions; the code is executed against tests in a separate process."""

from __future__ import annotations

import pytest

from pytest_modelbench.scorers import extract_code, run_python_tests

TASKS = [
    pytest.param(
        "Write a Python function `is_leap_year(year: int) -> bool` for the Gregorian calendar.",
        """
assert is_leap_year(2024) and is_leap_year(2000)
assert not is_leap_year(1900) and not is_leap_year(2023)
""",
        id="leap-year",
    ),
    pytest.param(
        "Write a Python function `slugify(title: str) -> str` that lower-cases the title, replaces "
        "each run of characters other than a-z and 0-9 by a single '-', and strips '-' from both ends.",
        """
assert slugify("Hello, World!") == "hello-world"
assert slugify("  Déjà vu -- 2026  ") == "d-j-vu-2026"
assert slugify("---") == ""
""",
        id="slugify",
    ),
    pytest.param(
        "Write a Python function `merge_intervals(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]` "
        "that merges overlapping or touching closed intervals and returns them sorted.",
        """
assert merge_intervals([(5, 7), (1, 3), (2, 4)]) == [(1, 4), (5, 7)]
assert merge_intervals([(1, 2), (2, 3)]) == [(1, 3)]
assert merge_intervals([]) == []
""",
        id="merge-intervals",
    ),
]


@pytest.mark.modelbench(category="coding", difficulty="trivial", timeout=120)
@pytest.mark.parametrize(("prompt", "tests"), TASKS)
def test_write_function(model, prompt, tests):
    reply = model.complete(f"{prompt} Reply with one ```python code block only.")
    result = run_python_tests(extract_code(reply.text), tests, timeout_s=10)
    assert result.passed, result.reason
