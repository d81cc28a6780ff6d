"""Scorers: the checks benchmark tasks need. Does not import pytest.

Conventions (the same across all scorers):

- ``extract_*`` functions pull a value out of a reply and return it, or None when there is
  none (``extract_json`` raises ValueError instead, because JSON ``null`` is a value).
- ``check_*`` and ``*_match`` functions return a result with ``.passed`` (bool), ``.score``
  (float in [0, 1]) and ``.reason`` (str), truthy exactly when passed:
  ``assert check_length(reply, max_words=50)`` shows the reason when it fails.
- ``token_f1`` and ``rouge_l`` return a float in [0, 1] for graded quality.
- ``detect_*`` functions return a small result describing what was found.
- ``tool_call_matches``, ``tool_call_f1`` and ``check_tool_arguments`` judge tool calls
  (``Completion.tool_calls``).
"""

from __future__ import annotations

from ._answers import (
    choice_match,
    exact_match,
    extract_boxed,
    extract_choice,
    extract_final_number,
    lcs_length,
    normalize_answer,
    numeric_match,
    parse_number,
    rouge_l,
    token_f1,
)
from ._code import (
    CodeResult,
    extract_code,
    humaneval_program,
    run_humaneval,
    run_python,
    run_python_many,
    run_python_tests,
)
from ._json import JSONResult, SchemaViolation, check_json, extract_json, validate_json
from ._result import ScoreResult
from ._sandbox import SANDBOX_MODES, SandboxWarning
from ._safety import RefusalResult, check_refusal, detect_refusal, is_refusal
from ._sql import QueryResult, SQLDatabase, SQLExecutionError, SQLResult, check_sql
from ._text import (
    SUPPORTED_LANGUAGES,
    LanguageGuess,
    check_bullets,
    check_language,
    check_length,
    check_regex,
    count_bullets,
    count_sentences,
    count_words,
    detect_language,
)
from ._tools import ToolCallF1, check_tool_arguments, tool_call_f1, tool_call_matches, tool_calls_of

__all__ = [
    "CodeResult",
    "JSONResult",
    "LanguageGuess",
    "QueryResult",
    "RefusalResult",
    "SANDBOX_MODES",
    "SQLDatabase",
    "SQLExecutionError",
    "SQLResult",
    "SUPPORTED_LANGUAGES",
    "SandboxWarning",
    "SchemaViolation",
    "ScoreResult",
    "ToolCallF1",
    "check_bullets",
    "check_json",
    "check_language",
    "check_length",
    "check_refusal",
    "check_regex",
    "check_sql",
    "check_tool_arguments",
    "choice_match",
    "count_bullets",
    "count_sentences",
    "count_words",
    "detect_language",
    "detect_refusal",
    "exact_match",
    "extract_boxed",
    "extract_choice",
    "extract_code",
    "extract_final_number",
    "extract_json",
    "humaneval_program",
    "is_refusal",
    "lcs_length",
    "normalize_answer",
    "numeric_match",
    "parse_number",
    "rouge_l",
    "run_humaneval",
    "run_python",
    "run_python_many",
    "run_python_tests",
    "token_f1",
    "tool_call_f1",
    "tool_call_matches",
    "tool_calls_of",
    "validate_json",
]
