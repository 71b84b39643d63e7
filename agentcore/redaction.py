"""Secrets out of every text that crosses a boundary: `redact(text) -> str`.

An endpoint that refuses a key often says which key it refused ("Incorrect API
key provided: sk-..."); a tool's backend or a library's exception can quote an
Authorization header. Such texts become outcome errors, spans, escalation
context, log lines and CLI output, so they are cleaned once, where they enter
(the LLM client's error translation, the connection check, the tool registry,
the engine's catch-all, the trace), and logging has a filter as a safety net.

Two kinds of secret are masked:

- the keys this process was configured with, registered where they are read
  (`register_secret`, called by `llm.build_client`): whatever their shape, a
  local server's `hunter2-local-key` as much as an OpenAI key;
- anything shaped like a credential: `Bearer <token>`, `sk-...` keys,
  `Authorization: ...` headers, `api_key=...`-style assignments and the
  password in `https://user:password@host` URLs.

It runs on error texts and log records only, never on a request's normal path.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote

__all__ = ["MASK", "MIN_SECRET_LENGTH", "RedactingFilter", "Redactor", "install_log_redaction",
           "redact", "register_secret"]

MASK = "***"
# Shorter "keys" are the placeholders local servers accept ("EMPTY", "none", "x"):
# not secrets, and masking them would garble every word that contains them.
MIN_SECRET_LENGTH = 8

# Credential-shaped text. Each keeps its label and masks the value, so a message
# still says what was refused ("Bearer ***", "api_key=***").
_TOKEN = r"[^\s\"'<>,;]+"
_PATTERNS = (
    # An Authorization header, with or without its scheme: "Authorization: Basic dXNl...".
    (re.compile(r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
                r"(?:(?:bearer|basic|token|digest)\s+)?)" + _TOKEN), r"\1" + MASK),
    (re.compile(r"(?i)\b(bearer\s+)" + _TOKEN), r"\1" + MASK),
    # OpenAI-style keys: sk-..., sk-proj-..., sk-svcacct-..., sk-ant-api03-...
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"), MASK),
    # A password in a URL: https://user:password@host/ (pydantic quotes a refused URL).
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]+:)[^/\s@]+@"), r"\1" + MASK + "@"),
    # key=value, key: value, "key": "value" (query strings, configs, JSON bodies).
    (re.compile(r"(?i)\b((?:x-)?(?:api|access|auth|refresh|secret|private|session)[_-]?"
                r"(?:key|token)|apikey|client[_-]?secret|password|passwd|secret)"
                r"([\"']?\s*[:=]\s*[\"']?)" + _TOKEN), r"\1\2" + MASK),
)


def _variants(secret: str) -> set[str]:
    """The forms a secret takes in the texts we see: as is, URL-encoded, JSON-escaped."""
    forms = {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


class Redactor:
    """Masks registered secrets and credential-shaped text. Thread-safe: the registered
    secrets are an immutable tuple swapped whole, so `redact` takes no lock."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        for secret in secrets:
            self.register(secret)

    def register(self, secret: str | None) -> None:
        """Masks `secret` from now on. Too short a text (a placeholder) is ignored; so
        is one made only of the mask's character, which masking could not hide."""
        if not secret or len(secret) < MIN_SECRET_LENGTH or not secret.strip("*"):
            return
        with self._lock:
            known = set(self._secrets) | _variants(secret)
            # Longest first: a secret that contains another is masked whole.
            self._secrets = tuple(sorted(known, key=len, reverse=True))

    def redact(self, text: str) -> str:
        secrets = self._secrets
        text = self._mask_secrets(text, secrets)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        # Again, last: a pattern's replacement next to the rest of a secret could spell
        # it out.
        return self._mask_secrets(text, secrets)

    @staticmethod
    def _mask_secrets(text: str, secrets: tuple[str, ...]) -> str:
        # Until none is left: a mask beside a secret's own '*'s can re-form it (or
        # another one). Each replacement masks at least one character that is not '*'
        # (`register` refuses secrets of '*' alone), so this ends.
        found = True
        while found:
            found = False
            for secret in secrets:
                if secret in text:
                    text, found = text.replace(secret, MASK), True
        return text


_DEFAULT = Redactor()


def register_secret(secret: str | None) -> None:
    """Masks `secret` in every text this process redacts from now on."""
    _DEFAULT.register(secret)


def redact(text: str) -> str:
    """`text` with registered secrets and credential-shaped values masked."""
    return _DEFAULT.redact(text)


class RedactingFilter(logging.Filter):
    """A handler filter that redacts a record's message, arguments, traceback and stack.

    On the handler, not a logger: a logger's filters never see records that
    propagate up from its children."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._redactor = redactor or _DEFAULT

    def filter(self, record: logging.LogRecord) -> bool:
        clean = self._redactor.redact
        try:
            message = record.getMessage()
        except Exception:  # bad arguments: the handler reports it; it must not raise here
            return True
        record.msg, record.args = clean(message), None
        if record.exc_info and not record.exc_text:
            # Formatted here so the formatter uses the clean text instead of its own.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = clean(record.exc_text)
        if record.stack_info:
            record.stack_info = clean(record.stack_info)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Adds a `RedactingFilter` to each handler of `logger` (the root) that lacks one."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
