"""Whether a fast-path answer would answer the whole message, or only part of it.

A rule (or the learned tier) names one intent and reads one record. A message that
also asks something else ("where is 12345, and cancel 23456") or names several
records of the kind the handler reads ("status of 12345, 23456 and 34567") would
get half an answer, and a half answer reads as a whole one to the customer. Such a
message goes to the path that can answer all of it (the LLM, or a human).

Three checks, each one linear-time RE2 pass, made only once something local matched
(and for a rule that acts, a fourth: words that take the ask back, `RETRACTION`):
- a second question: a joiner and a question word after the first ask ("..., and
  when does 23456 arrive", "? Also, do you take PayPal"), in English, German,
  French and Spanish. A second look at the same ask ("where is it and when will it
  come") reads the same way and goes to the LLM too: a lost shortcut, not a wrong
  answer.
- another intent's cues: the domain's keywords (`Domain.keywords`) of weight 2 or
  more, exact words or stems, summed per intent; an intent reaching 4 is asked
  about too. Weight-1 keywords are colour, not an ask ("hi", "late", "thanks").
- several records: every value the handler's entity fragment (the rule set's
  `order_id` fragment, say) finds in the message, not only the first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import re2

CUE_WEIGHT = 2.0  # the lightest keyword that is a cue
ASKED = 4.0  # an intent whose cues sum to this is asked about

_QUESTION_WORDS = ("why|when|where|what|how|who|which|can|could|do|does|did|is|are|will|"
                   "would|should|have|has|was|were|may|please|pls|tell|wo|wann|wie|warum|"
                   "kann|können|ist|quand|où|comment|pourquoi|est-ce|pouvez|cuándo|cuando|"
                   "dónde|donde|cómo|como|por qué|puedo|pueden")
_JOINERS = ("and|also|plus|&|oh and|and also|btw|by the way|another thing|one more thing|"
            "second question|und|außerdem|ausserdem|auch|et|aussi|y|además|ademas|también")
# After a clause: "..., and when", "? also do", "! btw how"; or a sentence that opens
# with a joiner ("Also: can you").
SECOND_QUESTION = (rf"(?:[,;:?!.]\s*|\s)(?:{_JOINERS})[ ,:]+(?:{_QUESTION_WORDS})\b"
                   rf"|[?!.]\s*(?:also|plus|btw|by the way|oh and|another thing|außerdem|"
                   rf"aussi|además|también)\b")

# Words that take an ask back or put it off, anywhere in the message: a rule that acts
# (a cancellation can't be undone) leaves such a message to the agent. The frame of a
# message lets one word through after a sign-off ("thanks, anna"), and that word may be
# "nevermind".
RETRACTION = (r"\b(?:never ?mind|nvm|jk|j/k|just kidding|kidding|joking|wait|hold on|"
              r"actually|scratch that|forget (?:it|that|about it)|disregard|ignore (?:this|that|"
              r"it|my (?:last )?message)|not yet|oops|my bad|wrong (?:order|number)|"
              r"vergiss es|egal|doch nicht|laisse tomber|oublie[sz]?|olv[ií]d[ae]lo|"
              r"no importa|da igual)\b")


def _options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    return options


def _cue_pattern(keyword: str) -> str:
    word = keyword.rstrip("*=").strip().lower()
    stem = r"\w*" if keyword.endswith("*") else ""
    return rf"\b{re2.escape(word)}{stem}\b"


class AskCues:
    """The intents a message asks about, by the domain's keywords. `catch_all` (the
    domain's last intent) is never a second ask: it has no keywords worth a cue."""

    def __init__(self, keywords: Mapping[str, Mapping[str, float]], catch_all: str) -> None:
        self._second = re2.compile(SECOND_QUESTION, _options())
        self._retraction = re2.compile(RETRACTION, _options())
        self._set = re2.Set.SearchSet(_options())
        self._cues: list[tuple[str, float]] = []
        for intent, words in keywords.items():
            if intent == catch_all:
                continue
            for word, weight in words.items():
                if weight < CUE_WEIGHT or not word.rstrip("*=").strip():
                    continue
                self._set.Add(_cue_pattern(word))
                self._cues.append((intent, float(weight)))
        self._set.Compile()

    def asked(self, text: str) -> dict[str, float]:
        """Intent -> the weight of its cues in `text`, for intents asked about."""
        if not self._cues:
            return {}
        totals: dict[str, float] = defaultdict(float)
        for index in self._set.Match(text) or ():
            intent, weight = self._cues[index]
            totals[intent] += weight
        return {intent: total for intent, total in totals.items() if total >= ASKED}

    def second_question(self, text: str) -> str | None:
        """The words that open a second question in `text` ("and when"), or None."""
        found = self._second.search(text)
        return None if found is None else found.group(0).strip(" ,;:?!.")

    def retraction(self, text: str) -> str | None:
        """The words in `text` that take its ask back ("nevermind"), or None."""
        found = self._retraction.search(text)
        return None if found is None else found.group(0)

    def also_asked(self, text: str, intent: str) -> list[str]:
        """The intents other than `intent` that `text` asks about, strongest first."""
        found = self.asked(text)
        found.pop(intent, None)
        return sorted(found, key=lambda i: -found[i])


def several(values: list[str]) -> list[str]:
    """The distinct values, in the order the message names them."""
    return list(dict.fromkeys(values))
