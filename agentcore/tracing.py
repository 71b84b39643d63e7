"""One trace per request: every stage a span, with wall-clock start and end.

Times come from one monotonic clock offset to the wall clock at the trace's
start, so spans of parallel tool calls compare exactly (overlap is visible)
and never jump with NTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from agentcore.clock import Clock
from agentcore.models import Span
from agentcore.redaction import redact


class Trace:
    def __init__(self, clock: Clock, on_finish: Callable[[Span], None] | None = None) -> None:
        self._clock = clock
        self._offset = clock.now() - clock.monotonic()
        self._on_finish = on_finish
        self.spans: list[Span] = []

    def now(self) -> float:
        return self._offset + self._clock.monotonic()

    @contextmanager
    def span(self, name: str, parent: str | None = None, **attributes: Any) -> Iterator[Span]:
        """Times the block as a span; an exception is recorded on it and re-raised."""
        span = Span(name=name, start=self.now(), attributes=attributes, parent=parent)
        try:
            yield span
        except BaseException as exc:
            # Any exception, a library's included: its text may quote a credential.
            span.error = redact(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self.finish(span)

    def finish(self, span: Span) -> None:
        span.end = self.now()
        self.spans.append(span)
        if self._on_finish is not None:
            self._on_finish(span)
