"""Instruction-following checks: length, bullets, regular expressions, language."""

from __future__ import annotations

import re

import pytest

from pytest_modelbench.scorers import (
    SUPPORTED_LANGUAGES,
    check_bullets,
    check_language,
    check_length,
    check_regex,
    count_bullets,
    count_sentences,
    count_words,
    detect_language,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("one", 1),
        ("Hello, world \u2014 3 apples!", 4),  # the dash holds no letter or digit
        ("  spaced   out\ttext\n", 3),
        ("don't stop-gap", 2),
        ("\u4eba\u4eba\u751f\u800c\u81ea\u7531", 6),  # Han: one word per character
        ("Python \u3067\u3059", 3),
    ],
)
def test_count_words(text, expected):
    assert count_words(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("No end punctuation", 1),
        ("One. Two! Three?", 3),
        ("Pi is 3.14 exactly.", 1),  # decimals do not end sentences
        ("Dr. Smith met Mr. Jones, e.g. at noon. Then left.", 2),  # abbreviations do not
        ('He said "Stop!" Then he left.', 2),  # closing quote after the end mark
        ("Wait... what?", 2),
        ("- item one\n- item two", 2),  # every line ends a sentence
        ("\u4eca\u65e5\u306f\u6674\u308c\u3002\u660e\u65e5\u306f\u96e8\u3002", 2),
        ("...", 0),
    ],
)
def test_count_sentences(text, expected):
    assert count_sentences(text) == expected


def test_count_bullets():
    text = "Intro\n- one\n* two\n+ three\n\u2022 four\n  - nested\n**bold** line\n---\n-no space\n1. first\n2) second"
    assert count_bullets(text) == 5
    assert count_bullets(text, numbered=True) == 7


def test_check_length_passes_and_fails_with_reasons():
    text = "One two three. Four five."
    ok = check_length(text, max_words=5, min_sentences=2, max_chars=40)
    assert ok.passed and ok.score == 1.0
    assert ok.reason == "5 words, 25 chars, 2 sentences, within the limits"
    too_long = check_length(text, max_words=4, max_sentences=1)
    assert not too_long and too_long.score == 0.0
    assert too_long.reason == "has 5 words, more than max_words=4; has 2 sentences, more than max_sentences=1"
    assert check_length(text, min_words=6).reason == "has 5 words, fewer than min_words=6"


def test_check_length_bounds_are_inclusive():
    assert check_length("a b c", min_words=3, max_words=3)
    assert check_length("abc", min_chars=3, max_chars=3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs at least one limit"),
        ({"max_words": -1}, "max_words -1 is not allowed"),
        ({"max_words": 2.5}, "max_words 2.5 is not allowed"),
        ({"min_chars": 5, "max_chars": 2}, "min_chars=5 is greater than max_chars=2"),
    ],
)
def test_check_length_rejects_bad_limits(kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_length("text", **kwargs)


def test_check_bullets():
    text = "- a\n- b\n- c"
    assert check_bullets(text, exactly=3)
    result = check_bullets(text, exactly=2)
    assert not result and result.reason == "has 3 bullet items, expected exactly 2"
    assert check_bullets(text, min_count=2)
    assert not check_bullets(text, max_count=2)
    assert check_bullets("1. a\n2. b", exactly=2, numbered=True)
    with pytest.raises(ValueError, match="either exactly= or"):
        check_bullets(text, exactly=3, min_count=1)
    with pytest.raises(ValueError, match="needs exactly="):
        check_bullets(text)


def test_check_regex():
    assert check_regex("Order #1234 shipped", r"#\d+")
    assert not check_regex("Order shipped", r"#\d+")
    assert check_regex("ABC-123", r"[A-Z]+-\d+", fullmatch=True)
    assert not check_regex("ABC-123 extra", r"[A-Z]+-\d+", fullmatch=True)
    assert check_regex("HELLO", "hello", flags=re.IGNORECASE)
    assert check_regex("no commas here", ",", absent=True)
    found = check_regex("one, two", ",", absent=True)
    assert not found and "must be absent" in found.reason
    with pytest.raises(ValueError, match="not a valid regular expression"):
        check_regex("x", "(")


# Article 1 of the Universal Declaration of Human Rights in its published translations
# (OHCHR UDHR translation project); the expected code is the translation's language.
UDHR_ARTICLE_1 = {
    "en": "All human beings are born free and equal in dignity and rights. They are endowed with reason and conscience and should act towards one another in a spirit of brotherhood.",
    "fr": "Tous les \u00eatres humains naissent libres et \u00e9gaux en dignit\u00e9 et en droits. Ils sont dou\u00e9s de raison et de conscience et doivent agir les uns envers les autres dans un esprit de fraternit\u00e9.",
    "de": "Alle Menschen sind frei und gleich an W\u00fcrde und Rechten geboren. Sie sind mit Vernunft und Gewissen begabt und sollen einander im Geist der Br\u00fcderlichkeit begegnen.",
    "es": "Todos los seres humanos nacen libres e iguales en dignidad y derechos y, dotados como est\u00e1n de raz\u00f3n y conciencia, deben comportarse fraternalmente los unos con los otros.",
    "it": "Tutti gli esseri umani nascono liberi ed eguali in dignit\u00e0 e diritti. Essi sono dotati di ragione e di coscienza e devono agire gli uni verso gli altri in spirito di fratellanza.",
    "pt": "Todos os seres humanos nascem livres e iguais em dignidade e em direitos. Dotados de raz\u00e3o e de consci\u00eancia, devem agir uns para com os outros em esp\u00edrito de fraternidade.",
    "nl": "Alle mensen worden vrij en gelijk in waardigheid en rechten geboren. Zij zijn begiftigd met verstand en geweten, en behoren zich jegens elkander in een geest van broederschap te gedragen.",
    "ru": "\u0412\u0441\u0435 \u043b\u044e\u0434\u0438 \u0440\u043e\u0436\u0434\u0430\u044e\u0442\u0441\u044f \u0441\u0432\u043e\u0431\u043e\u0434\u043d\u044b\u043c\u0438 \u0438 \u0440\u0430\u0432\u043d\u044b\u043c\u0438 \u0432 \u0441\u0432\u043e\u0435\u043c \u0434\u043e\u0441\u0442\u043e\u0438\u043d\u0441\u0442\u0432\u0435 \u0438 \u043f\u0440\u0430\u0432\u0430\u0445.",
    "uk": "\u0412\u0441\u0456 \u043b\u044e\u0434\u0438 \u043d\u0430\u0440\u043e\u0434\u0436\u0443\u044e\u0442\u044c\u0441\u044f \u0432\u0456\u043b\u044c\u043d\u0438\u043c\u0438 \u0456 \u0440\u0456\u0432\u043d\u0438\u043c\u0438 \u0443 \u0441\u0432\u043e\u0457\u0439 \u0433\u0456\u0434\u043d\u043e\u0441\u0442\u0456 \u0442\u0430 \u043f\u0440\u0430\u0432\u0430\u0445.",
    "el": "\u038c\u03bb\u03bf\u03b9 \u03bf\u03b9 \u03ac\u03bd\u03b8\u03c1\u03c9\u03c0\u03bf\u03b9 \u03b3\u03b5\u03bd\u03bd\u03b9\u03bf\u03cd\u03bd\u03c4\u03b1\u03b9 \u03b5\u03bb\u03b5\u03cd\u03b8\u03b5\u03c1\u03bf\u03b9 \u03ba\u03b1\u03b9 \u03af\u03c3\u03bf\u03b9 \u03c3\u03c4\u03b7\u03bd \u03b1\u03be\u03b9\u03bf\u03c0\u03c1\u03ad\u03c0\u03b5\u03b9\u03b1 \u03ba\u03b1\u03b9 \u03c4\u03b1 \u03b4\u03b9\u03ba\u03b1\u03b9\u03ce\u03bc\u03b1\u03c4\u03b1.",
    "ja": "\u3059\u3079\u3066\u306e\u4eba\u9593\u306f\u3001\u751f\u307e\u308c\u306a\u304c\u3089\u306b\u3057\u3066\u81ea\u7531\u3067\u3042\u308a\u3001\u304b\u3064\u3001\u5c0a\u53b3\u3068\u6a29\u5229\u3068\u306b\u3064\u3044\u3066\u5e73\u7b49\u3067\u3042\u308b\u3002",
    "zh": "\u4eba\u4eba\u751f\u800c\u81ea\u7531\uff0c\u5728\u5c0a\u4e25\u548c\u6743\u5229\u4e0a\u4e00\u5f8b\u5e73\u7b49\u3002",
    "ko": "\ubaa8\ub4e0 \uc778\uac04\uc740 \ud0dc\uc5b4\ub0a0 \ub54c\ubd80\ud130 \uc790\uc720\ub85c\uc6b0\uba70 \uadf8 \uc874\uc5c4\uacfc \uad8c\ub9ac\uc5d0 \uc788\uc5b4 \ub3d9\ub4f1\ud558\ub2e4.",
    "ar": "\u064a\u0648\u0644\u062f \u062c\u0645\u064a\u0639 \u0627\u0644\u0646\u0627\u0633 \u0623\u062d\u0631\u0627\u0631\u064b\u0627 \u0645\u062a\u0633\u0627\u0648\u064a\u0646 \u0641\u064a \u0627\u0644\u0643\u0631\u0627\u0645\u0629 \u0648\u0627\u0644\u062d\u0642\u0648\u0642.",
    "he": "\u05db\u05dc \u05d1\u05e0\u05d9 \u05d0\u05d3\u05dd \u05e0\u05d5\u05dc\u05d3\u05d5 \u05d1\u05e0\u05d9 \u05d7\u05d5\u05e8\u05d9\u05df \u05d5\u05e9\u05d5\u05d5\u05d9\u05dd \u05d1\u05e2\u05e8\u05db\u05dd \u05d5\u05d1\u05d6\u05db\u05d5\u05d9\u05d5\u05ea\u05d9\u05d4\u05dd.",
    "hi": "\u0938\u092d\u0940 \u092e\u0928\u0941\u0937\u094d\u092f\u094b\u0902 \u0915\u094b \u0917\u094c\u0930\u0935 \u0914\u0930 \u0905\u0927\u093f\u0915\u093e\u0930\u094b\u0902 \u0915\u0947 \u092e\u093e\u092e\u0932\u0947 \u092e\u0947\u0902 \u091c\u0928\u094d\u092e\u091c\u093e\u0924 \u0938\u094d\u0935\u0924\u0928\u094d\u0924\u094d\u0930\u0924\u093e \u0914\u0930 \u0938\u092e\u093e\u0928\u0924\u093e \u092a\u094d\u0930\u093e\u092a\u094d\u0924 \u0939\u0948\u0964",
    "th": "\u0e21\u0e19\u0e38\u0e29\u0e22\u0e4c\u0e17\u0e31\u0e49\u0e07\u0e2b\u0e25\u0e32\u0e22\u0e40\u0e01\u0e34\u0e14\u0e21\u0e32\u0e21\u0e35\u0e2d\u0e34\u0e2a\u0e23\u0e30\u0e41\u0e25\u0e30\u0e40\u0e2a\u0e21\u0e2d\u0e20\u0e32\u0e04\u0e01\u0e31\u0e19",
}


@pytest.mark.parametrize("language", sorted(UDHR_ARTICLE_1))
def test_detect_language_on_udhr_article_1(language):
    guess = detect_language(UDHR_ARTICLE_1[language])
    assert guess.language == language, guess.reason
    assert 0 < guess.score <= 1


def test_every_supported_language_is_covered_by_the_reference_table():
    assert set(UDHR_ARTICLE_1) == set(SUPPORTED_LANGUAGES)


# Short everyday sentences, written for this test; each is unambiguous to a speaker.
@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The cat is sleeping on the table.", "en"),
        ("Le chat dort sur la table.", "fr"),
        ("Die Katze schl\u00e4ft auf dem Tisch.", "de"),
        ("El gato duerme en la mesa.", "es"),
        ("Il gatto dorme sul tavolo e non si muove.", "it"),
        ("O gato dorme em cima da mesa.", "pt"),
        ("De kat slaapt op de tafel.", "nl"),
        ("```python\nprint('hola que tal amigo')\n```\nThe output is shown above.", "en"),  # code ignored
    ],
)
def test_detect_language_on_short_sentences(text, language):
    assert detect_language(text).language == language


@pytest.mark.parametrize("text", ["", "Hi there!", "12345 !!!", "zxq vrk plm"])
def test_detect_language_declines_to_guess(text):
    assert detect_language(text).language is None


def test_check_language():
    assert check_language(UDHR_ARTICLE_1["fr"], "fr")
    result = check_language(UDHR_ARTICLE_1["fr"], "en")
    assert not result
    assert result.reason.startswith("expected English, detected French")
    with pytest.raises(ValueError, match="language 'xx' is not one of: ar, de"):
        check_language("text", "xx")


def test_text_checks_reject_non_strings():
    with pytest.raises(TypeError, match="count_words\\(\\) takes a string"):
        count_words(None)
