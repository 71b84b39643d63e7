"""The router's normalisation, mapped back to what was typed: the rules view marks
matches with it, so every normalised character must point at the text it came from."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from agentcore.guard import normalise, normalise_with_spans


def test_line_breaks_spaces_ligatures_and_wide_letters_map_to_what_was_typed():
    text = "Where  is\nmy ＯＲＤＥＲ? ﬁle it"
    normalised, spans = normalise_with_spans(text)
    assert normalised == normalise(text) == "where is my order? file it"
    typed = [text[a:b] for a, b in spans]
    assert typed[5] == "  " and typed[8] == "\n"  # each run of whitespace is one space
    assert typed[12:17] == list("ＯＲＤＥＲ")
    assert typed[19:21] == ["ﬁ", "ﬁ"]  # "fi" both come from the one ligature


@given(st.text(st.characters(codec="utf-8"), max_size=40))
def test_every_normalised_character_comes_from_the_span_it_names(text):
    mapped = normalise_with_spans(text)
    if mapped is None:  # allowed only where piecewise normalising differs
        return
    normalised, spans = mapped
    assert normalised == normalise(text) and len(spans) == len(normalised)
    for char, (start, end) in zip(normalised, spans, strict=True):
        assert 0 <= start < end <= len(text)
        source = text[start:end]
        if char == " ":
            assert not source.strip() or " " in unicodedata.normalize("NFKC", source)
        else:
            assert char in unicodedata.normalize("NFKC", source).lower()
    assert spans == sorted(spans)  # in order: a match maps to one stretch
