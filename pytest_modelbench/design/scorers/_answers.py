"""Answers: extracting a final number, a boxed expression or a choice letter, and comparing
answers by normalised exact match, numeric tolerance, token F1 and ROUGE-L."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal, DivisionByZero, InvalidOperation

from ._result import ScoreResult, pass_fail, shorten

Number = int | float | Decimal

# --- numbers ------------------------------------------------------------------------------

# One number: optional sign and currency symbol (either order), digits with comma thousands
# separators or plain digits, optional decimals, optional exponent. It may not start inside a
# word or right after a decimal point ("x2", the "14" of "3.14"). A minus sign directly after a
# word character or ")" is an operator, not a sign ("16-3" holds 16 and 3).
_CURRENCY = "$\u20ac\u00a3\u00a5\u20b9"
_NUMBER_BODY = (
    r"(?P<sign>[-\u2212+])?(?P<currency>[" + _CURRENCY + r"])?(?P<sign2>[-\u2212])?"
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?![\d,]\d)(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?:[eE](?P<exponent>[-+]?\d+))?"
)
_NUMBER_RE = re.compile(r"(?<![\w.])" + _NUMBER_BODY)
_OPERAND = (
    r"[-\u2212+]?[" + _CURRENCY + r"]?[-\u2212]?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?"
    r"(?:[eE][-+]?\d+)?"
)
# A number possibly written as a fraction "3/4"; used after an explicit answer marker only.
_MARKED_NUMBER = r"(?P<value>" + _OPERAND + r"(?:\s*/\s*" + _OPERAND + r")?)(?![\d])"
_FILLER = r"(?:[\s*_$]|\\\(|\\\[|is\b|=|approximately\b|about\b|roughly\b)*"

_HASH_MARKER_RE = re.compile(r"####" + _FILLER + _MARKED_NUMBER)
_LINE_MARKER_RE = re.compile(
    r"(?im)^[ \t>*_#]*(?:final\s+answer|answer|a)[ \t*_]*[:\uff1a][ \t*_]*" + _FILLER + _MARKED_NUMBER
)
_PHRASE_MARKER_RE = re.compile(
    r"(?i)\b(?:final\s+)?answer\s*(?:is|:|=|would\s+be|will\s+be|should\s+be)\s*:?" + _FILLER
    + _MARKED_NUMBER
)
_FRACTION_RE = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_LATEX_SPACING_RE = re.compile(r"\{,\}|\\[,!;: ]|\\\$|\\%")


def _to_decimal(token: str) -> Decimal:
    """Decimal value of one number token (no fraction bar); ValueError when it is none."""
    match = re.fullmatch(_NUMBER_BODY, token.strip())
    if match is None:
        raise ValueError(f"{token!r} is not a number")
    negative = (match["sign"] in ("-", "\u2212")) != (match["sign2"] is not None)
    value = Decimal(match["digits"].replace(",", ""))
    if match["exponent"] is not None:
        value = value.scaleb(int(match["exponent"]))
    return -value if negative else value


def _marked_value(text: str) -> Decimal:
    numerator, bar, denominator = text.partition("/")
    value = _to_decimal(numerator)
    if bar:
        try:
            value = value / _to_decimal(denominator)
        except (DivisionByZero, InvalidOperation) as exc:
            raise ValueError(f"{text!r} divides by zero") from exc
    return value


def parse_number(text: str) -> Decimal:
    """Parse a string that is exactly one number: ``"1,234.50"``, ``"-$3"``, ``"3/4"``, ``"50%"``.

    Thousands commas, one currency symbol (``$ € £ ¥ ₹``), a leading sign, a trailing ``%``
    (dropped: ``"50%"`` is 50) and a trailing period are accepted. Raises ValueError otherwise.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_number() takes a string, got {type(text).__name__}")
    cleaned = text.strip().rstrip(".").strip()
    if cleaned.endswith("%"):
        cleaned = cleaned[:-1].rstrip()
    if re.fullmatch(_MARKED_NUMBER, cleaned) is None and re.fullmatch(_NUMBER_BODY, cleaned) is None:
        raise ValueError(
            f"{text!r} is not a number; expected digits with optional sign, currency symbol, "
            "thousands commas, decimals or a fraction like 3/4"
        )
    if "/" in cleaned:
        return _marked_value(cleaned)
    return _to_decimal(cleaned)


def _last_marked(pattern: re.Pattern[str], text: str) -> Decimal | None:
    for match in reversed(list(pattern.finditer(text))):
        try:
            return _marked_value(match["value"])
        except ValueError:
            continue
    return None


def extract_final_number(text: str, *, strict: bool = False) -> Decimal | None:
    """The final numeric answer in a model's reply, or None.

    Looks, in this order, for the last: ``#### N`` (GSM8K's format); a line starting with
    ``A:``, ``Answer:`` or ``Final answer:`` followed by a number; ``\\boxed{N}``; "the answer
    is N" anywhere in a line. Without any of these, the last number in the text is taken unless
    ``strict`` is true (then None: the reply did not commit to an answer).

    Numbers may carry a sign, a currency symbol, thousands commas, decimals and an exponent; a
    trailing period ends the sentence, not the number. After an answer marker a fraction
    ``3/4`` is read as its value. The result is a :class:`decimal.Decimal`, so ``"0.1"`` stays
    exact and ``extract_final_number("A: 18") == 18`` holds.
    """
    if not isinstance(text, str):
        raise TypeError(f"extract_final_number() takes a string, got {type(text).__name__}")
    for pattern in (_HASH_MARKER_RE, _LINE_MARKER_RE):
        value = _last_marked(pattern, text)
        if value is not None:
            return value
    boxed = extract_boxed(text)
    if boxed is not None:
        value = _number_in_latex(boxed)
        if value is not None:
            return value
    value = _last_marked(_PHRASE_MARKER_RE, text)
    if value is not None or strict:
        return value
    numbers = list(_NUMBER_RE.finditer(text))
    if not numbers:
        return None
    return _to_decimal(numbers[-1].group(0))


def _number_in_latex(expression: str) -> Decimal | None:
    flat = _FRACTION_RE.sub(r"\1/\2", expression)
    flat = _LATEX_SPACING_RE.sub("", flat).replace("{", "").replace("}", "")
    match = re.search(r"(?<![\w.])" + _MARKED_NUMBER, flat)
    if match is None:
        return None
    try:
        return _marked_value(match["value"])
    except ValueError:
        return None


def extract_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox{...}``) in ``text``, or None.

    Braces nest: ``\\boxed{\\frac{1}{2}}`` gives ``\\frac{1}{2}``. An unclosed box gives None.
    """
    if not isinstance(text, str):
        raise TypeError(f"extract_boxed() takes a string, got {type(text).__name__}")
    starts = [match.end() for match in re.finditer(r"\\(?:boxed|fbox)\s*\{", text)]
    for start in reversed(starts):
        depth = 1
        for index in range(start, len(text)):
            char = text[index]
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    return text[start:index].strip()
    return None


def _as_number(value: object, what: str) -> Decimal:
    if isinstance(value, bool):
        raise TypeError(f"{what} {value!r} is a bool, not a number")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{what} {value!r} is not a finite number")
        return Decimal(repr(value))
    raise TypeError(f"{what} {value!r} is not a number (int, float, Decimal) or a string")


def numeric_match(
    prediction: str | Number | None,
    target: str | Number,
    *,
    abs_tol: float = 0.0,
    rel_tol: float = 0.0,
    strict: bool = False,
) -> ScoreResult:
    """Whether ``prediction`` equals ``target`` as a number, within the tolerances.

    A string ``prediction`` is a model reply: its answer is found with
    :func:`extract_final_number` (``strict`` as there). A string ``target`` must be exactly a
    number (:func:`parse_number`). The test is the one of ``math.isclose`` (PEP 485):
    ``|p − t| <= max(rel_tol · max(|p|, |t|), abs_tol)``; with both tolerances 0 (the default)
    the comparison is exact, in decimal arithmetic.
    """
    for name, tolerance in (("abs_tol", abs_tol), ("rel_tol", rel_tol)):
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
            raise ValueError(f"{name} {tolerance!r} is not allowed; use a number >= 0")
    expected = parse_number(target) if isinstance(target, str) else _as_number(target, "target")
    if prediction is None:
        return pass_fail(False, f"expected {expected}, got no answer")
    if isinstance(prediction, str):
        found = extract_final_number(prediction, strict=strict)
        if found is None:
            kind = "no marked final answer" if strict else "no number"
            return pass_fail(False, f"expected {expected}, found {kind} in {shorten(prediction)!r}")
    else:
        found = _as_number(prediction, "prediction")
    difference = abs(found - expected)
    bound = max(Decimal(repr(float(rel_tol))) * max(abs(found), abs(expected)),
                Decimal(repr(float(abs_tol))))
    if difference <= bound:
        return pass_fail(True, f"{found} matches {expected}")
    return pass_fail(False, f"expected {expected}, got {found}")


# --- multiple choice ----------------------------------------------------------------------

def _choice_patterns(letters: str) -> tuple[re.Pattern[str], ...]:
    letter_class = "[" + re.escape(letters.upper() + letters.lower()) + "]"
    # A lowercase letter must be closed off (bracket, punctuation, end) so that the article in
    # "the answer is a bit unclear" is not read as choice A.
    closed = r"(?=\s*(?:$|[).\]:,;*!]|\s[-\u2013\u2014]))"
    upper_word = r"(?=[^\w]|$)"
    explicit = re.compile(
        r"(?i:answer|option|choice)(?:\s+(?i:is|would\s+be|will\s+be|should\s+be))?"
        r"\s*(?i:is)?\s*[:=]?\s*(?i:option|choice|letter)?\s*[*_]*[\(\[]?[*_]*(?P<letter>"
        + letter_class + r")(?:" + closed + r"|(?<=[A-Z])" + upper_word + r")",
        re.MULTILINE,
    )
    bracketed = re.compile(r"[\(\[](?P<letter>" + letter_class + r")[\)\]]")
    bold = re.compile(r"\*\*(?P<letter>" + letter_class + r")(?:[).:]\s*[^*]*)?\*\*")
    leading = re.compile(
        r"\A\s*[*_]*(?P<letter>" + letter_class + r")(?:[).:\]]|\s*\Z|[*_]+|\s+[-\u2013\u2014])"
    )
    return explicit, bracketed, bold, leading


def extract_choice(text: str, choices: str | Sequence[str] = "ABCD") -> str | None:
    """The multiple-choice letter a reply commits to, upper-cased, or None.

    Looks, in this order, for the last explicit statement ("Answer: C", "the correct option is
    b", "I choose choice (D)"); the last letter in brackets "(B)"; the last bold letter
    "**B**"; a reply that starts with the letter ("B) because ...", "C.", "A"). A lowercase
    letter counts only when closed off by a bracket, punctuation or the end of the text, so an
    article "a" is not mistaken for choice A. Only letters in ``choices`` are considered.
    """
    if not isinstance(text, str):
        raise TypeError(f"extract_choice() takes a string, got {type(text).__name__}")
    listed = list(choices)
    if not listed or not all(isinstance(c, str) and len(c) == 1 and c.isalpha() for c in listed):
        raise ValueError(f"choices {choices!r} is not allowed; give single letters like 'ABCD'")
    for pattern in _choice_patterns("".join(listed)):
        matches = list(pattern.finditer(text))
        if matches:
            return matches[-1]["letter"].upper()
    return None


def choice_match(text: str, expected: str, choices: str | Sequence[str] = "ABCD") -> ScoreResult:
    """Whether the choice letter in ``text`` (see :func:`extract_choice`) is ``expected``."""
    wanted = expected.strip().strip("()").upper()
    if len(wanted) != 1 or wanted not in "".join(choices).upper():
        raise ValueError(f"expected choice {expected!r} is not one of: {', '.join(choices)}")
    found = extract_choice(text, choices)
    if found is None:
        return pass_fail(False, f"expected choice {wanted}, found no choice in {shorten(text)!r}")
    if found == wanted:
        return pass_fail(True, f"choice {found} as expected")
    return pass_fail(False, f"expected choice {wanted}, got {found}")


# --- text overlap -------------------------------------------------------------------------

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES_RE = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD answer normalisation: lower-case, drop ASCII punctuation, drop the articles
    a/an/the, collapse whitespace (Rajpurkar et al. 2016, the SQuAD v1.1 evaluation script)."""
    if not isinstance(text, str):
        raise TypeError(f"normalize_answer() takes a string, got {type(text).__name__}")
    lowered = text.lower()
    no_punctuation = "".join(char for char in lowered if char not in _PUNCTUATION)
    return " ".join(_ARTICLES_RE.sub(" ", no_punctuation).split())


def _references(references: str | Sequence[str]) -> list[str]:
    listed = [references] if isinstance(references, str) else list(references)
    if not listed or not all(isinstance(reference, str) for reference in listed):
        raise ValueError(f"references {references!r} must be a string or a non-empty list of strings")
    return listed


def exact_match(prediction: str, references: str | Sequence[str], *, normalize: bool = True) -> ScoreResult:
    """Whether ``prediction`` equals one of ``references`` after SQuAD normalisation
    (:func:`normalize_answer`); with ``normalize=False``, after stripping outer whitespace."""
    listed = _references(references)
    prepare = normalize_answer if normalize else str.strip
    candidate = prepare(prediction)
    for reference in listed:
        if prepare(reference) == candidate:
            return pass_fail(True, f"{shorten(prediction)!r} matches {shorten(reference)!r}")
    shown = ", ".join(repr(shorten(reference, 40)) for reference in listed)
    return pass_fail(False, f"{shorten(prediction)!r} matches none of: {shown}")


def token_f1(prediction: str, references: str | Sequence[str]) -> float:
    """SQuAD token F1 in [0, 1], the best over ``references``.

    Both texts are normalised (:func:`normalize_answer`) and split on whitespace; with ``c``
    tokens in common (as multisets), precision ``c/len(prediction)``, recall
    ``c/len(reference)`` and F1 their harmonic mean (Rajpurkar et al. 2016). As in the SQuAD
    v2.0 script, an empty text scores 1.0 against an empty text and 0.0 against any other.
    """
    predicted = normalize_answer(prediction).split()
    best = 0.0
    for reference in _references(references):
        expected = normalize_answer(reference).split()
        if not predicted or not expected:
            best = max(best, float(predicted == expected))
            continue
        common = sum((Counter(predicted) & Counter(expected)).values())
        if common == 0:
            continue
        precision = common / len(predicted)
        recall = common / len(expected)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def _rouge_tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def lcs_length(first: Sequence[object], second: Sequence[object]) -> int:
    """Length of the longest common subsequence of two sequences.

    Bit-parallel algorithm (Allison & Dix 1986; in the form of Hyyrö 2004): one machine-word
    operation per block of 64 positions of ``first`` for each element of ``second``, with
    Python integers as the bit vectors.
    """
    if not first or not second:
        return 0
    match_masks: dict[object, int] = {}
    for position, item in enumerate(first):
        match_masks[item] = match_masks.get(item, 0) | (1 << position)
    all_ones = (1 << len(first)) - 1
    vector = all_ones
    for item in second:
        matched = vector & match_masks.get(item, 0)
        vector = ((vector + matched) | (vector - matched)) & all_ones
    return len(first) - vector.bit_count()


def rouge_l(prediction: str, references: str | Sequence[str], *, beta: float = 1.0) -> float:
    """ROUGE-L F-measure in [0, 1], the best over ``references`` (Lin 2004, "ROUGE: A Package
    for Automatic Evaluation of Summaries", section 3.1).

    With ``L`` the longest common subsequence of the token sequences, ``R = L/len(reference)``,
    ``P = L/len(prediction)`` and ``F = (1 + β²)·R·P / (R + β²·P)``; ``beta=1`` (the default,
    as in Google's rouge-score package) weighs both equally. Tokens are lower-cased runs of
    letters and digits (``\\w+``), no stemming. Two empty texts score 1.0, one empty 0.0.
    """
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
        raise ValueError(f"beta {beta!r} is not allowed; use a number > 0")
    predicted = _rouge_tokens(prediction)
    best = 0.0
    for reference in _references(references):
        expected = _rouge_tokens(reference)
        if not predicted or not expected:
            best = max(best, float(predicted == expected))
            continue
        common = lcs_length(expected, predicted)
        if common == 0:
            continue
        recall = common / len(expected)
        precision = common / len(predicted)
        beta_squared = beta * beta
        best = max(best, (1 + beta_squared) * recall * precision / (recall + beta_squared * precision))
    return best
