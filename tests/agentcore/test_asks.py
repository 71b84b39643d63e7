"""A second question in a message, whatever the intents' keywords say."""

from __future__ import annotations

import pytest

from agentcore.asks import AskCues
from agentcore.demo_shop.intents import INTENTS, KEYWORDS

CUES = AskCues(KEYWORDS, INTENTS[-1])


@pytest.mark.parametrize(("text", "opens"), [
    ("where is 51174 and why did you charge my card twice", "and why"),
    ("has the refund for 91410 come through, and when does 34838 arrive?", "and when"),
    ("how do i change my address? and do you accept apple pay?", "and do"),
    ("where is my order? also can i pay with paypal", "also can"),
    ("wo ist meine bestellung 12345 und wann kommt die rechnung", "und wann"),
    ("où est ma commande 12345 et pourquoi est-elle en retard", "et pourquoi"),
])
def test_a_second_question_is_found_with_the_words_that_open_it(text, opens):
    assert CUES.second_question(text) == opens


@pytest.mark.parametrize("text", [
    "where is my order 12345?",
    "hi, where is my order 12345? thanks",
    "i want a refund for order 12345, i changed my mind",
    "i ordered a lamp and i want my money back",
    "please cancel order 12345",
])
def test_one_question_has_no_second(text):
    assert CUES.second_question(text) is None
