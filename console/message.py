"""One message bridge any console module can call, as qutebrowser's `message`.

A panel that wants to tell the operator "rule set applied" or "claimed by Dana"
calls `message.info(text)` (or `warning`, `error`) and knows nothing of the status
bar; the main window connects `global_bridge.shown` once and shows the text. No
module passes a "message" signal through constructors or lambdas any more.

Texts are redacted here: a message can quote an exception that quoted a key.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from PySide6.QtCore import QObject, Signal

from agentcore import redact

log = logging.getLogger("console.message")


class Level(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


# How long the status bar keeps each level's text: an error stays long enough to read.
SHOWN_MS = {Level.INFO: 8_000, Level.WARNING: 10_000, Level.ERROR: 15_000}


class MessageBridge(QObject):
    shown = Signal(str, str)  # level (a Level value), redacted text

    def show(self, level: Level, text: str) -> None:
        text = redact(text)
        log.log(logging.INFO if level is Level.INFO else logging.WARNING, "%s", text)
        self.shown.emit(level.value, text)


global_bridge = MessageBridge()


def info(text: str) -> None:
    global_bridge.show(Level.INFO, text)


def warning(text: str) -> None:
    global_bridge.show(Level.WARNING, text)


def error(text: str) -> None:
    global_bridge.show(Level.ERROR, text)
