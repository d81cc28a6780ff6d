"""Instruction-following checks: length limits, bullet counts, regular expressions and the
language of a reply."""

from __future__ import annotations

import dataclasses
import re

from ._result import ScoreResult, pass_fail, shorten

# Han ideographs and kana have no spaces between words: each character counts as one word.
_CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD_RE = re.compile(r"[" + _CJK_CHARS + r"]|[^\s" + _CJK_CHARS + r"]+")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e cf fig no approx dept inc ltd co jan feb mar apr "
    "jun jul aug sep sept oct nov dec u.s a.m p.m".split()
)
_SENTENCE_END_RE = re.compile(
    r"[.!?\u2026\u3002\uff01\uff1f]+[\"'\u201d\u2019)\]]*(?=\s|$)|[\u3002\uff01\uff1f]+"
)
_BULLET_RE = re.compile(r"^[ \t]*[-*+\u2022\u2023\u25e6\u2043][ \t]+\S", re.MULTILINE)
_NUMBERED_RE = re.compile(r"^[ \t]*\d{1,3}[.)][ \t]+\S", re.MULTILINE)


def count_words(text: str) -> int:
    """Number of words: whitespace-separated tokens holding a letter or digit; each Han or kana
    character counts as one word (those scripts do not separate words by spaces)."""
    _check_text(text, "count_words")
    return sum(1 for token in _WORD_RE.findall(text) if re.search(r"\w", token))


def count_sentences(text: str) -> int:
    """Number of sentences: text ends a sentence at ``.``, ``!``, ``?``, ``…`` (or ``。！？``)
    followed by a space or the end, and at every line break; a period after a common
    abbreviation ("Dr.", "e.g.") or a single letter does not end one. Decimals ("3.14") never
    do. Segments without a letter or digit are not counted."""
    _check_text(text, "count_sentences")
    count = 0
    for line in text.splitlines():
        start = 0
        for match in _SENTENCE_END_RE.finditer(line):
            segment = line[start : match.end()]
            if match.group(0).startswith(".") and _ends_with_abbreviation(line[start : match.start()]):
                continue
            if re.search(r"\w", segment):
                count += 1
            start = match.end()
        if re.search(r"\w", line[start:]):
            count += 1
    return count


def _ends_with_abbreviation(segment: str) -> bool:
    words = segment.split()
    if not words:
        return False
    last = words[-1].lower().strip("(\"'")
    return last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())


def count_bullets(text: str, *, numbered: bool = False) -> int:
    """Number of bullet-list items: lines starting with ``-``, ``*``, ``+`` or ``•`` followed by
    a space and text (so ``**bold**`` and ``---`` are not items). With ``numbered=True``, lines
    like ``1.`` or ``2)`` count too."""
    _check_text(text, "count_bullets")
    total = len(_BULLET_RE.findall(text))
    if numbered:
        total += len(_NUMBERED_RE.findall(text))
    return total


def _check_bound(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"{name} {value!r} is not allowed; use a whole number >= 0 or None")


def _bounds_reason(
    measured: dict[str, int], bounds: dict[str, tuple[int | None, int | None]]
) -> list[str]:
    problems = []
    for unit, (low, high) in bounds.items():
        value = measured[unit]
        if low is not None and value < low:
            problems.append(f"has {value} {unit}, fewer than min_{unit}={low}")
        if high is not None and value > high:
            problems.append(f"has {value} {unit}, more than max_{unit}={high}")
    return problems


def check_length(
    text: str,
    *,
    min_words: int | None = None,
    max_words: int | None = None,
    min_chars: int | None = None,
    max_chars: int | None = None,
    min_sentences: int | None = None,
    max_sentences: int | None = None,
) -> ScoreResult:
    """Whether ``text`` respects the given length limits (all inclusive).

    Words as :func:`count_words`, sentences as :func:`count_sentences`, characters are
    Unicode code points of the text with outer whitespace stripped.
    """
    _check_text(text, "check_length")
    limits = {
        "words": (min_words, max_words),
        "chars": (min_chars, max_chars),
        "sentences": (min_sentences, max_sentences),
    }
    given = {unit: pair for unit, pair in limits.items() if pair != (None, None)}
    if not given:
        raise ValueError("check_length() needs at least one limit: min_/max_ words, chars or sentences")
    for unit, (low, high) in given.items():
        _check_bound(f"min_{unit}", low)
        _check_bound(f"max_{unit}", high)
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_{unit}={low} is greater than max_{unit}={high}")
    counters = {"words": count_words, "chars": lambda value: len(value.strip()), "sentences": count_sentences}
    measured = {unit: counters[unit](text) for unit in given}
    problems = _bounds_reason(measured, given)
    if problems:
        return pass_fail(False, "; ".join(problems))
    summary = ", ".join(f"{value} {unit}" for unit, value in measured.items())
    return pass_fail(True, f"{summary}, within the limits")


def check_bullets(
    text: str,
    *,
    exactly: int | None = None,
    min_count: int | None = None,
    max_count: int | None = None,
    numbered: bool = False,
) -> ScoreResult:
    """Whether the number of bullet items (:func:`count_bullets`) is as required."""
    if exactly is not None and (min_count is not None or max_count is not None):
        raise ValueError("check_bullets() takes either exactly= or min_count=/max_count=, not both")
    if exactly is not None:
        min_count = max_count = exactly
    if min_count is None and max_count is None:
        raise ValueError("check_bullets() needs exactly=, min_count= or max_count=")
    _check_bound("min_count", min_count)
    _check_bound("max_count", max_count)
    found = count_bullets(text, numbered=numbered)
    if min_count is not None and found < min_count or max_count is not None and found > max_count:
        wanted = (
            f"exactly {min_count}" if min_count == max_count
            else f"between {min_count or 0} and {max_count if max_count is not None else 'any number'}"
        )
        return pass_fail(False, f"has {found} bullet items, expected {wanted}")
    return pass_fail(True, f"has {found} bullet items")


def check_regex(
    text: str, pattern: str | re.Pattern[str], *, flags: int = 0, fullmatch: bool = False,
    absent: bool = False,
) -> ScoreResult:
    """Whether ``pattern`` is found in ``text`` (``re.search``), or matches all of it with
    ``fullmatch=True``. With ``absent=True`` the check passes when it is *not* found
    (e.g. "do not use any commas": ``check_regex(reply, ",", absent=True)``)."""
    _check_text(text, "check_regex")
    try:
        compiled = re.compile(pattern, flags) if isinstance(pattern, str) else pattern
    except re.error as exc:
        raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from exc
    match = compiled.fullmatch(text) if fullmatch else compiled.search(text)
    how = "matches all of" if fullmatch else "is found in"
    if absent:
        if match is None:
            return pass_fail(True, f"/{compiled.pattern}/ is absent, as required")
        reason = f"/{compiled.pattern}/ {how} the text at {match.group(0)!r}, but must be absent"
        return pass_fail(False, reason)
    if match is not None:
        return pass_fail(True, f"/{compiled.pattern}/ {how} the text")
    return pass_fail(False, f"/{compiled.pattern}/ not found in {shorten(text)!r}")


# --- language -----------------------------------------------------------------------------

_SCRIPTS: dict[str, tuple[tuple[int, int], ...]] = {
    "latin": ((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F)),
    "cyrillic": ((0x400, 0x4FF),),
    "greek": ((0x370, 0x3FF), (0x1F00, 0x1FFF)),
    "arabic": ((0x600, 0x6FF), (0x750, 0x77F)),
    "hebrew": ((0x590, 0x5FF),),
    "devanagari": ((0x900, 0x97F),),
    "thai": ((0xE00, 0xE7F),),
    "hangul": ((0xAC00, 0xD7AF), (0x1100, 0x11FF), (0x3130, 0x318F)),
    "kana": ((0x3040, 0x30FF),),
    "han": ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)),
}
_SCRIPT_LANGUAGE = {
    "greek": "el", "arabic": "ar", "hebrew": "he", "devanagari": "hi", "thai": "th", "hangul": "ko",
}
_UKRAINIAN_LETTERS = frozenset("іїєґІЇЄҐ")

_STOPWORDS: dict[str, frozenset[str]] = {
    language: frozenset(words.split())
    for language, words in {
        "en": "the and of to is in that it was for with as are on be this have by not but from they "
              "you at or which an we were has their been would there what all will can if about "
              "more when who its these than also into should could our your my he she his her i",
        "es": "el la los las de que y en un una es por con para no se del al lo como más pero sus "
              "su le ya o este esta son también fue ha muy sin sobre entre cuando todo están está "
              "hay porque yo usted ellos nosotros e",
        "fr": "le la les de des du et est un une que qui dans pour pas sur au aux avec ce cette il "
              "elle ils nous vous je ne se sont mais ou par plus son sa ses leur été être avoir fait "
              "comme tout très aussi l d c qu j n s",
        "de": "der die das und ist nicht ein eine zu den dem des mit sich auf für von im auch es an "
              "sind wird ich wir sie er aber oder wenn dass noch nach bei aus um nur werden kann "
              "haben hat war diese einer einem über",
        "it": "il lo la gli le di e che è un una per non in con del della dei delle sono si da al "
              "alla ma come anche più questo questa ha hanno essere nel nella ci io noi loro suo "
              "sua molto tutto quando ed l",
        "pt": "o a os as de que e do da dos das em um uma para com não é por no na nos se mais mas "
              "como ao à foi são ser tem também está isso este esta eu você ele ela muito seu sua "
              "quando pelo pela",
        "nl": "de het een en van is dat op te in niet zijn met voor die er aan ook als bij maar om "
              "door naar dan nog wel ik je we wij ze hij zij worden wordt heeft hebben was werd "
              "kan deze dit uit over",
    }.items()
}
# Letters that occur in one or two of the Latin-script languages only; each adds half a hit.
_HINT_LETTERS = {
    "es": "ñ¿¡", "pt": "ãõç", "fr": "çèêœùû", "de": "ßäöü", "it": "ìò", "nl": "", "en": "",
}
_LANGUAGE_NAMES = {
    "ar": "Arabic", "de": "German", "el": "Greek", "en": "English", "es": "Spanish", "fr": "French",
    "he": "Hebrew", "hi": "Hindi", "it": "Italian", "ja": "Japanese", "ko": "Korean", "nl": "Dutch",
    "pt": "Portuguese", "ru": "Russian", "th": "Thai", "uk": "Ukrainian", "zh": "Chinese",
}
#: ISO 639-1 codes :func:`detect_language` can return.
SUPPORTED_LANGUAGES: tuple[str, ...] = tuple(sorted(_LANGUAGE_NAMES))
_MIN_LATIN_WORDS = 3
_MIN_STOPWORD_SHARE = 0.08


@dataclasses.dataclass(frozen=True, slots=True)
class LanguageGuess:
    """What :func:`detect_language` found.

    ``language`` is an ISO 639-1 code from :data:`SUPPORTED_LANGUAGES`, or None when the text
    is too short or matches no profile. ``score`` is the evidence for it: the share of letters
    in the language's script, or for Latin-script languages the share of words that are its
    function words. ``reason`` says which.
    """

    language: str | None
    score: float
    reason: str


def _script_of(char: str) -> str | None:
    code = ord(char)
    for script, ranges in _SCRIPTS.items():
        for low, high in ranges:
            if low <= code <= high:
                return script
    return None


def detect_language(text: str) -> LanguageGuess:
    """A lightweight guess of the language of ``text`` (no external packages).

    First the script: the letters of the text are counted by Unicode block; Cyrillic is
    Russian unless the Ukrainian letters і ї є ґ occur; Greek, Arabic, Hebrew, Devanagari,
    Thai and Hangul map to one language each; Han with kana is Japanese, Han alone Chinese.
    For Latin script, the words are compared with short lists of function words ("the", "und",
    "les", "que"...) of English, Spanish, French, German, Italian, Portuguese and Dutch, plus
    a small bonus for letters typical of one language (ñ, ß, ã...); the language with most
    hits wins. Fenced and inline code is ignored. Below 3 Latin words, or when under 8% of the
    words are function words of any profile, the language is None.
    """
    _check_text(text, "detect_language")
    prose = re.sub(r"```.*?(```|\Z)|`[^`\n]*`", " ", text, flags=re.DOTALL)
    counts: dict[str, int] = {}
    for char in prose:
        if char.isalpha():
            script = _script_of(char)
            if script is not None:
                counts[script] = counts.get(script, 0) + 1
    letters = sum(counts.values())
    if letters == 0:
        return LanguageGuess(None, 0.0, "no letters to judge by")
    east_asian = counts.get("han", 0) + counts.get("kana", 0)
    ranked = sorted(counts.items(), key=lambda item: item[1], reverse=True)
    top_script, top_count = ranked[0]
    if east_asian >= top_count and east_asian > 0:
        share = east_asian / letters
        if counts.get("kana", 0) >= 0.05 * east_asian:
            return LanguageGuess("ja", share, f"{share:.0%} of letters are Han or kana, with kana")
        return LanguageGuess("zh", share, f"{share:.0%} of letters are Han, without kana")
    share = top_count / letters
    if top_script == "cyrillic":
        language = "uk" if any(char in _UKRAINIAN_LETTERS for char in prose) else "ru"
        return LanguageGuess(language, share, f"{share:.0%} of letters are Cyrillic")
    if top_script != "latin":
        return LanguageGuess(
            _SCRIPT_LANGUAGE[top_script], share, f"{share:.0%} of letters are {top_script.capitalize()}"
        )
    return _latin_language(prose)


def _latin_language(prose: str) -> LanguageGuess:
    words = re.findall(r"[^\W\d_]+", prose.lower())
    if len(words) < _MIN_LATIN_WORDS:
        return LanguageGuess(None, 0.0, f"only {len(words)} words, too few to judge")
    hits: dict[str, float] = {}
    for language, stopwords in _STOPWORDS.items():
        found = sum(1 for word in words if word in stopwords)
        found += 0.5 * sum(prose.lower().count(letter) for letter in _HINT_LETTERS[language])
        hits[language] = found
    best = max(hits, key=lambda language: (hits[language], language == "en"))
    share = min(1.0, hits[best] / len(words))
    if share < _MIN_STOPWORD_SHARE:
        reason = f"no function-word profile matches ({share:.0%} of {len(words)} words at best)"
        return LanguageGuess(None, share, reason)
    reason = f"{share:.0%} of {len(words)} words are {_LANGUAGE_NAMES[best]} function words"
    return LanguageGuess(best, share, reason)


def check_language(text: str, expected: str) -> ScoreResult:
    """Whether :func:`detect_language` finds ``expected`` (an ISO 639-1 code)."""
    if expected not in _LANGUAGE_NAMES:
        raise ValueError(f"language {expected!r} is not one of: {', '.join(SUPPORTED_LANGUAGES)}")
    guess = detect_language(text)
    if guess.language == expected:
        return pass_fail(True, f"{_LANGUAGE_NAMES[expected]}: {guess.reason}")
    found = "no language" if guess.language is None else _LANGUAGE_NAMES[guess.language]
    return pass_fail(False, f"expected {_LANGUAGE_NAMES[expected]}, detected {found} ({guess.reason})")


def _check_text(text: object, function: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"{function}() takes a string, got {type(text).__name__}")
