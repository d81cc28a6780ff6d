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
    result.stdout.fnmatch_lines([
        "#  model*",
        "-  *",
        "1  echo *75.0*",
        "1  twin *75.0*",
        "*modelbench ranking: weighted*",
        "*",
        "*",
        "1  echo *75.0*",
        "1  twin *75.0*",
    ])
    markdown = (pytester.path / "r.md").read_text()
    assert "| 1 | echo |" in markdown.replace("**", "") and "| 1 | twin |" in markdown.replace("**", "")
    html = (pytester.path / "r.html").read_text()
    assert html.count('<td class="num">1</td>') >= 2
