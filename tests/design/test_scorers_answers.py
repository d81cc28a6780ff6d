"""Answer extraction and comparison: final numbers, boxed answers, choice letters, exact match,
numeric tolerance, token F1 and ROUGE-L."""

from __future__ import annotations

import itertools
import math
import random
from decimal import Decimal

import pytest

from pytest_modelbench.scorers import (
    ScoreResult,
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

# --- final number -------------------------------------------------------------------------

FINAL_NUMBER_CASES = [
    # (reply, expected with strict=False, expected with strict=True)
    ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72", 72, 72),  # GSM8K format
    ("She makes 9 * 2 = $<<9*2=18>>18 every day.\nA: 18", 18, 18),
    ("The answer is 42.", 42, 42),  # trailing period ends the sentence
    ("So the final answer is: $1,234.50", Decimal("1234.50"), Decimal("1234.50")),
    ("Answer: **-7**", -7, -7),
    ("The temperature dropped to -5 degrees", -5, None),  # last number; no marker
    ("16-3 = 13", 13, None),  # minus after a digit is an operator
    ("It costs \u20ac5, then \u00a312,000 later.", 12000, None),
    ("The answer is 3/4", Decimal("0.75"), Decimal("0.75")),
    ("\\boxed{\\frac{1}{2}}", Decimal("0.5"), Decimal("0.5")),
    ("We get \\boxed{1{,}000} apples", 1000, 1000),
    ("pi is about 3.14.", Decimal("3.14"), None),
    ("Job A: 2000 hours\nThe total is 8400\nA: 8400", 8400, 8400),  # "A:" only at a line start
    ("#### 5\nsome text then 7", 5, 5),  # an explicit marker wins over later numbers
    ("H2O has 3 atoms", 3, None),  # digits inside a word are not numbers
    ("a list: 1,2,3", 3, None),  # commas not in thousands groups separate numbers
    ("large: 2.5e3", Decimal("2.5e3"), None),
    ("nothing numeric here", None, None),
    ("", None, None),
]


@pytest.mark.parametrize(("reply", "loose", "strict"), FINAL_NUMBER_CASES)
def test_extract_final_number(reply, loose, strict):
    assert extract_final_number(reply) == loose
    assert extract_final_number(reply, strict=True) == strict


def test_extract_final_number_returns_exact_decimals():
    value = extract_final_number("The answer is 0.1")
    assert isinstance(value, Decimal)
    assert value == Decimal("0.1")  # not 0.1000000000000000055...
    # A long decimal is kept exactly, not rounded to a float (float("9.9999999999999999") == 10.0).
    assert extract_final_number("A: 9.9999999999999999") != 10


def test_extract_final_number_rejects_non_strings():
    with pytest.raises(TypeError, match="takes a string, got int"):
        extract_final_number(5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1,234.50", Decimal("1234.50")), ("-$3", -3), ("$-3", -3), ("3/4", Decimal("0.75")),
     ("50%", 50), ("18.", 18), (" +2 ", 2), ("\u22124", -4), (".5", Decimal("0.5"))],
)
def test_parse_number(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "12 apples", "1/0", "1.2.3"])
def test_parse_number_rejects_non_numbers(text):
    with pytest.raises(ValueError, match="is not a number|divides by zero"):
        parse_number(text)


# --- boxed --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so \\boxed{42}.", "42"),
        ("\\boxed{\\frac{1}{\\sqrt{2}}}", "\\frac{1}{\\sqrt{2}}"),  # nested braces
        ("first \\boxed{1} then \\boxed{2}", "2"),  # the last box
        ("\\fbox{x+1}", "x+1"),
        ("\\boxed{unclosed", None),
        ("no box", None),
    ],
)
def test_extract_boxed(text, expected):
    assert extract_boxed(text) == expected


# --- multiple choice ----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(B)", "B"),
        ("Answer: C", "C"),
        ("The correct option is b", "B"),
        ("I choose choice (D) because the others are wrong.", "D"),
        ("B) Paris is the capital.", "B"),
        ("C.", "C"),
        ("A", "A"),
        ("**D**", "D"),
        ("It is either (A) or (C). Final answer: C", "C"),
        ("The answer is A because it is larger.", "A"),
        ("the answer is a bit unclear to me", None),  # the article "a" is not choice A
        ("A good question with no clear answer", None),
        ("Answer: E", None),  # not one of ABCD
    ],
)
def test_extract_choice(text, expected):
    assert extract_choice(text) == expected


def test_extract_choice_with_more_letters():
    assert extract_choice("Answer: E", choices="ABCDE") == "E"


def test_extract_choice_rejects_bad_choices():
    with pytest.raises(ValueError, match="give single letters"):
        extract_choice("A", choices=["AB"])


def test_choice_match():
    assert choice_match("I think (b).", "B")
    result = choice_match("Answer: C", "(A)")
    assert not result and result.reason == "expected choice A, got C"
    assert "found no choice" in choice_match("no idea", "A").reason
    with pytest.raises(ValueError, match="is not one of"):
        choice_match("A", "Z")


# --- normalised exact match (SQuAD) -------------------------------------------------------

# Expected values follow the SQuAD v1.1 evaluation script's normalize_answer: lower-case,
# remove string.punctuation, remove the words a/an/the, collapse whitespace.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Eiffel Tower", "eiffel tower"),
        ("  an   apple, a day!  ", "apple day"),
        ("Theatre", "theatre"),  # articles only as whole words
        ("U.S.A.", "usa"),
        ("rock-and-roll", "rockandroll"),  # punctuation is removed, not replaced by a space
        ("", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match():
    result = exact_match("the Eiffel tower.", "Eiffel Tower")
    assert isinstance(result, ScoreResult)
    assert result.passed and result.score == 1.0
    assert exact_match("Paris", ["London", "paris"])
    miss = exact_match("Lyon", ["London", "Paris"])
    assert not miss and miss.score == 0.0
    assert "'London', 'Paris'" in miss.reason
    assert not exact_match("the Eiffel tower.", "Eiffel Tower", normalize=False)
    assert exact_match(" Paris ", "Paris", normalize=False)


def test_exact_match_rejects_empty_references():
    with pytest.raises(ValueError, match="non-empty list of strings"):
        exact_match("x", [])


# --- numeric tolerance --------------------------------------------------------------------

def test_numeric_match_exact_by_default():
    assert numeric_match("A: 18", 18)
    assert numeric_match("A: 18.0", "18")
    assert not numeric_match("A: 18.000001", 18)
    assert not numeric_match("no digits", 18)
    assert "found no number" in numeric_match("no digits", 18).reason
    assert "no marked final answer" in numeric_match("it is 18", 18, strict=True).reason
    assert numeric_match(None, 1).reason == "expected 1, got no answer"


# The reference is Python's math.isclose (PEP 485) over a grid of values and tolerances.
_VALUES = [0.0, 1.0, 1.0001, 1.01, -1.0, 100.0, 100.5, 1e-12, 2e-12]
_TOLERANCES = [(0.0, 0.0), (1e-3, 0.0), (0.0, 1e-3), (0.01, 0.0), (0.0, 0.6), (1e-9, 1e-11)]


@pytest.mark.parametrize(("rel_tol", "abs_tol"), _TOLERANCES)
def test_numeric_match_agrees_with_math_isclose(rel_tol, abs_tol):
    for predicted, target in itertools.product(_VALUES, repeat=2):
        expected = math.isclose(predicted, target, rel_tol=rel_tol, abs_tol=abs_tol)
        got = numeric_match(predicted, target, rel_tol=rel_tol, abs_tol=abs_tol).passed
        assert got == expected, (predicted, target, rel_tol, abs_tol)


def test_numeric_match_identical_and_zero():
    assert numeric_match(0, 0)
    assert numeric_match(Decimal("-0"), 0)
    assert not numeric_match(0, 1e-300)  # exact comparison unless a tolerance is given


@pytest.mark.parametrize("bad", [-1e-3, float("nan"), "0.1", True])
def test_numeric_match_rejects_bad_tolerances(bad):
    with pytest.raises(ValueError, match="use a number >= 0"):
        numeric_match(1, 1, rel_tol=bad)


def test_numeric_match_rejects_bad_numbers():
    with pytest.raises(TypeError, match="is a bool"):
        numeric_match(True, 1)
    with pytest.raises(ValueError, match="not a finite number"):
        numeric_match(float("inf"), 1)


# --- token F1 -------------------------------------------------------------------------------

# Hand-computed following the SQuAD v1.1 script: tokens after normalize_answer,
# common = multiset intersection, P = common/len(pred), R = common/len(gold), F1 = 2PR/(P+R).
TOKEN_F1_CASES = [
    ("Eiffel Tower", "the Eiffel Tower", 1.0),  # identical after normalisation
    ("the Eiffel Tower in Paris", "Eiffel Tower", 2 / 3),  # P=2/4, R=2/2
    ("cat cat dog", "cat dog dog", 2 / 3),  # common {cat:1, dog:1}: P=R=2/3
    ("blue", "red", 0.0),
    ("", "", 1.0),  # SQuAD v2.0: both empty agree
    ("", "red", 0.0),
    ("red", "", 0.0),
    ("a the an", "", 1.0),  # only articles: empty after normalisation
]


@pytest.mark.parametrize(("prediction", "reference", "expected"), TOKEN_F1_CASES)
def test_token_f1(prediction, reference, expected):
    assert token_f1(prediction, reference) == pytest.approx(expected, abs=1e-12)


def test_token_f1_takes_the_best_reference():
    assert token_f1("Eiffel Tower", ["Louvre", "the Eiffel Tower in Paris"]) == pytest.approx(2 / 3, abs=1e-12)


# --- ROUGE-L --------------------------------------------------------------------------------

# Lin (2004), section 3.1, example: reference S1 "police killed the gunman"; S2 "police kill
# the gunman" has LCS 3 ("police the gunman"), S3 "the gunman kill police" has LCS 2
# ("the gunman"), so ROUGE-L(S2) = 3/4 and ROUGE-L(S3) = 2/4 for any beta (P = R).
# The other rows are hand-computed: "a cat sat" vs "the cat sat on the mat": LCS 2,
# P = 2/3, R = 2/6; F(beta=1) = 2PR/(P+R) = 4/9; F(beta=2) = 5PR/(R+4P) = 10/27.
ROUGE_L_CASES = [
    ("police kill the gunman", "police killed the gunman", 1.0, 3 / 4),
    ("the gunman kill police", "police killed the gunman", 1.0, 2 / 4),
    ("the gunman kill police", "police killed the gunman", 8.0, 2 / 4),
    ("a cat sat", "the cat sat on the mat", 1.0, 4 / 9),
    ("a cat sat", "the cat sat on the mat", 2.0, 10 / 27),
    ("Identical text here", "identical text here", 1.0, 1.0),
    ("nothing shared", "completely different", 1.0, 0.0),
    ("", "", 1.0, 1.0),
    ("", "something", 1.0, 0.0),
]


@pytest.mark.parametrize(("prediction", "reference", "beta", "expected"), ROUGE_L_CASES)
def test_rouge_l(prediction, reference, beta, expected):
    assert rouge_l(prediction, reference, beta=beta) == pytest.approx(expected, abs=1e-12)


def test_rouge_l_takes_the_best_reference():
    assert rouge_l("police kill the gunman", ["x y z", "police killed the gunman"]) == pytest.approx(0.75)


@pytest.mark.parametrize("beta", [0, -1, float("nan"), True])
def test_rouge_l_rejects_bad_beta(beta):
    with pytest.raises(ValueError, match="use a number > 0"):
        rouge_l("a", "a", beta=beta)


def _lcs_by_dynamic_programming(first, second):
    """The textbook O(n·m) table, an independent reference for the bit-parallel version."""
    table = [[0] * (len(second) + 1) for _ in range(len(first) + 1)]
    for i, left in enumerate(first, start=1):
        for j, right in enumerate(second, start=1):
            table[i][j] = table[i - 1][j - 1] + 1 if left == right else max(table[i - 1][j], table[i][j - 1])
    return table[-1][-1]


def test_lcs_length_agrees_with_dynamic_programming():
    generator = random.Random(20240611)
    for _ in range(300):
        alphabet = "abcd"[: generator.randint(1, 4)]
        first = [generator.choice(alphabet) for _ in range(generator.randint(0, 90))]
        second = [generator.choice(alphabet) for _ in range(generator.randint(0, 90))]
        assert lcs_length(first, second) == _lcs_by_dynamic_programming(first, second)


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [("", "", 0), ("abc", "", 0), ("abc", "abc", 3), ("abc", "def", 0), ("aaaa", "aa", 2), ("abcbdab", "bdcaba", 4)],
)
def test_lcs_length_edge_cases(first, second, expected):
    # "abcbdab"/"bdcaba" -> 4 is the worked example of Cormen et al., Introduction to Algorithms, 15.4.
    assert lcs_length(list(first), list(second)) == expected
