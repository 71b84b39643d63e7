"""The validator: the agent's final reply must fit the answer schema.

Writes are not checked here: each write tool holds itself to its policy inside
its own transaction (the demo shop's `Shop.issue_refund`), where no concurrent
request or operator approval can slip between the check and the write, and a
write without a policy runs only once an operator approved it (`ToolRegistry`).
Figures a decision rests on (a refund quote) are derived by the engine from the
domain's own data (`Domain.facts`), never taken from the model.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentcore.errors import AgentError
from agentcore.json_replies import json_objects, parse_json_object


class MalformedOutput(AgentError):
    """The LLM's final reply does not match the answer schema."""


class FinalAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    intent: str = Field(min_length=1, max_length=64)
    answer: str = Field(min_length=1, max_length=8000)
    confidence: float = Field(1.0, ge=0, le=1)

    @field_validator("confidence", mode="before")
    @classmethod
    def _percent(cls, value: object) -> object:
        # Small models often write 85 for 0.85: a percentage, not a confidence above 1.
        if isinstance(value, int | float) and not isinstance(value, bool) and 1 < value <= 100:
            return value / 100
        return value
    handoff: str | None = None


class Validator:
    def parse_final(self, content: str | None, *, quoted: str = "") -> FinalAnswer:
        """The reply's answer object. A fence or a sentence around it is how small models
        write it; an object found in `quoted` (the customer's text, echoed back) is not
        the model's answer, and two different answers in one reply are none."""
        answers: list[FinalAnswer] = []
        problem = ""
        for data, raw in json_objects(content):
            if quoted and raw in quoted:
                continue
            try:
                answer = FinalAnswer.model_validate(data)
            except ValidationError as exc:
                problem = problem or "; ".join(
                    f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                    for e in exc.errors(include_url=False))
                continue
            if answer not in answers:
                answers.append(answer)
        if len(answers) == 1:
            return answers[0]
        if len(answers) > 1:
            raise MalformedOutput("the reply holds several different answers")
        if problem:
            raise MalformedOutput(f"the reply does not match the schema ({problem})")
        try:  # no object at all: say why, as the parser sees it
            parse_json_object(content, quoted=quoted)
        except ValueError as exc:
            raise MalformedOutput(str(exc)) from None
        raise MalformedOutput("the reply holds only the customer's own text")
