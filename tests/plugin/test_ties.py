"""Tied models share a rank in every table: the summary, the ranking, the Markdown and HTML
reports."""

from __future__ import annotations

import pytest


def test_tied_models_share_a_rank_everywhere(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.modelbench(category="accuracy", runs=2)
        @pytest.mark.parametrize("word", ["alpha", "beta", "gamma"])
        def test_echo(model, word):
            assert word in model.complete(word).text
        @pytest.mark.modelbench(category="accuracy", runs=2)
        def test_never(model):
            assert "zeta" in model.complete("alpha").text
    """)
    result = pytester.runpytest("--modelbench-models=echo,twin=echo", "--modelbench-json=r.json",
                                "--modelbench-report=r.md", "--modelbench-report=r.html")
    assert result.ret == 0
    # accuracy 75 (0.25) with speed, cost and consistency measured at 100 (0.10 each):
    # (0.25 × 75 + 0.30 × 100) / 0.55 = 88.6 for both
    result.stdout.fnmatch_lines([
        "#  model*",
        "-  *",
        "1  echo *88.6*",
        "1  twin *88.6*",
        "*modelbench ranking: weighted*",
        "*",
        "*",
        "1  echo *88.6*",
        "1  twin *88.6*",
    ])
    markdown = (pytester.path / "r.md").read_text()
    assert "| 1 | echo |" in markdown.replace("**", "") and "| 1 | twin |" in markdown.replace("**", "")
    html = (pytester.path / "r.html").read_text()
    assert html.count('<td class="num">1</td>') >= 2
