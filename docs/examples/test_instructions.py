"""Following formatting instructions exactly."""

from __future__ import annotations

import pytest

from pytest_modelbench.scorers import check_bullets, check_length, check_regex, rouge_l


@pytest.mark.modelbench(category="instruction_following", difficulty="trivial")
def test_bulleted_list(model):
    reply = model.complete(
        "Turn this into a bulleted list, one item per bullet, nothing else: "
        "espresso, flat white, cortado, chai latte"
    )
    result = check_bullets(reply.text, exactly=4)
    assert result, result.reason
    assert check_regex(reply.text, r"chai latte", flags=0)


@pytest.mark.modelbench(category="instruction_following", difficulty="trivial")
def test_uppercase(model):
    sentence = "the quarterly report is due on friday"
    reply = model.complete(f"Rewrite the following in uppercase: {sentence}")
    assert reply.text.strip() == sentence.upper()


@pytest.mark.modelbench(category="quality", difficulty="easy")
def test_short_summary(model, record_quality):
    text = (
        "Customers who bought the Aurora 2 headphones between March and May can get a free "
        "replacement ear cushion, because a batch of cushions wears out early. They should "
        "fill in the form on the support page with their order number; the cushion ships in "
        "five working days and the old one does not need to be returned."
    )
    reply = model.complete(f"Summarise in at most 25 words for a customer newsletter:\n\n{text}")
    reference = "Aurora 2 buyers from March to May get a free replacement ear cushion: order it with your order number on the support page."
    record_quality(rouge_l(reply.text, reference))
    length = check_length(reply.text, max_words=25, min_words=8)
    assert length, length.reason
    assert check_regex(reply.text, r"cushion", flags=2), "the summary must mention the ear cushion"
