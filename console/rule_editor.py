"""The rule editor: one rule's fields, checked as the operator types, and a sample
text box that highlights what the pattern matches and says which rule fires.

Every keystroke writes the rule back to the draft (valid or not: typing is never
lost); an RE2 error appears under the pattern field in the words of the router,
never as a traceback, and the draft then refuses to apply.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, cast

import re2
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from agentcore import Router, Rule, RuleError
from agentcore.guard import normalise, normalise_with_spans
from agentcore.router import CACHE_POLICIES, CachePolicy, expand
from agentcore.rule_draft import RuleDraft, check, check_pattern

log = logging.getLogger("console.rules")

_MATCH = QColor(255, 200, 0, 110)
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.case_sensitive = False  # as the router matches
_RE2_OPTIONS.log_errors = False


def _marks(regex: Any, text: str) -> list[tuple[int, int]]:
    """The stretches of the typed `text` a rule matches. The router matches the
    normalised text (one space for a line break, "ﬁ" as "fi"), so the pattern runs
    on that and each match is marked where it came from in what was typed."""
    mapped = normalise_with_spans(text)
    if mapped is None:  # normalising piecewise went astray: mark the typed text as is
        return [m.span() for m in regex.finditer(text) if m.end() > m.start()]
    normalised, spans = mapped
    return [(spans[m.start()][0], spans[m.end() - 1][1])
            for m in regex.finditer(normalised) if m.end() > m.start()]


def _utf16(text: str, index: int) -> int:
    # Qt counts positions in UTF-16 units: an emoji before a match is two of them.
    return len(text[:index].encode("utf-16-le", "surrogatepass")) // 2


def _mono(widget: QWidget) -> None:
    font = QFont("monospace")
    font.setStyleHint(QFont.StyleHint.TypeWriter)
    widget.setFont(font)


class RuleEditor(QWidget):
    edited = Signal(int)  # the row whose rule changed in the draft

    def __init__(self, draft: RuleDraft, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.draft = draft
        self.row = -1
        self._loading = False

        self.rule_id = QLineEdit()
        self.name = QLineEdit()
        self.pattern = QLineEdit()
        self.pattern.setPlaceholderText(r"RE2, e.g. ^{greeting}{no_digits}\bgift cards?\b")
        _mono(self.pattern)
        self.pattern_error = QLabel()
        self.pattern_error.setObjectName("pattern error")
        self.pattern_error.setWordWrap(True)
        self.pattern_error.setStyleSheet("color: #e5534b;")
        self.intent = QComboBox()
        self.intent.setEditable(True)
        self.handler = QComboBox()
        self.handler.addItems(sorted(draft.handlers))
        self.template = QPlainTextEdit()
        self.template.setMaximumHeight(70)
        self.priority = QSpinBox()
        self.priority.setRange(-1000, 1000)
        self.cache = QComboBox()
        self.cache.addItems(list(CACHE_POLICIES))
        self.enabled = QCheckBox("enabled")
        self.rule_error = QLabel()
        self.rule_error.setWordWrap(True)
        self.rule_error.setStyleSheet("color: #e5534b;")

        pattern_box = QWidget()
        pattern_layout = QVBoxLayout(pattern_box)
        pattern_layout.setContentsMargins(0, 0, 0, 0)
        pattern_layout.setSpacing(2)
        pattern_layout.addWidget(self.pattern)
        pattern_layout.addWidget(self.pattern_error)

        form = QFormLayout()
        form.addRow("Id", self.rule_id)
        form.addRow("Name", self.name)
        form.addRow("Pattern", pattern_box)
        form.addRow("Intent", self.intent)
        form.addRow("Handler", self.handler)
        form.addRow("Template", self.template)
        form.addRow("Priority", self.priority)
        form.addRow("Cache", self.cache)
        form.addRow("", self.enabled)
        form.addRow("", self.rule_error)

        self.sample = QPlainTextEdit()
        self.sample.setPlaceholderText("Type a customer message to test it against every rule")
        self.sample.setMaximumHeight(60)
        self.fires = QLabel("Type a sample message.")
        self.fires.setWordWrap(True)
        self.fires.setTextFormat(Qt.TextFormat.RichText)
        tester = QGroupBox("Test a message")
        tester_layout = QVBoxLayout(tester)
        tester_layout.addWidget(self.sample)
        tester_layout.addWidget(self.fires)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addWidget(tester)
        layout.addStretch(1)

        for line in (self.rule_id, self.name, self.pattern):
            line.textEdited.connect(self._commit)
        self.intent.editTextChanged.connect(self._commit)
        self.handler.currentTextChanged.connect(self._commit)
        self.template.textChanged.connect(self._commit)
        self.priority.valueChanged.connect(self._commit)
        self.cache.currentTextChanged.connect(self._commit)
        self.enabled.toggled.connect(self._commit)
        self.sample.textChanged.connect(self.test_sample)
        draft.subscribe(self._on_draft)
        self.show_rule(-1)

    # -- showing a rule ------------------------------------------------------------

    def show_rule(self, row: int) -> None:
        self.row = row if 0 <= row < len(self.draft.rules) else -1
        rule = self.draft.rules[self.row] if self.row >= 0 else None
        self._loading = True
        try:
            intents = sorted({r.intent for r in self.draft.rules})
            self.intent.clear()
            self.intent.addItems(intents)
            for widget in (self.rule_id, self.name, self.pattern, self.intent, self.handler,
                           self.template, self.priority, self.cache, self.enabled):
                widget.setEnabled(rule is not None)
            if rule is not None:
                self.rule_id.setText(rule.id)
                self.name.setText(rule.name)
                self.pattern.setText(rule.pattern)
                self.intent.setEditText(rule.intent)
                self.handler.setCurrentText(rule.handler)
                self.template.setPlainText(rule.template)
                self.priority.setValue(rule.priority)
                self.cache.setCurrentText(rule.cache)
                self.enabled.setChecked(rule.enabled)
        finally:
            self._loading = False
        self._show_errors()
        self.test_sample()

    def current(self) -> Rule | None:
        return self.draft.rules[self.row] if self.row >= 0 else None

    # -- editing -----------------------------------------------------------------

    def _commit(self, *_args: object) -> None:
        if self._loading or self.row < 0:
            return
        rule = dataclasses.replace(
            self.draft.rules[self.row], id=self.rule_id.text().strip(), name=self.name.text(),
            pattern=self.pattern.text(), intent=self.intent.currentText().strip(),
            handler=self.handler.currentText(), template=self.template.toPlainText(),
            priority=self.priority.value(),
            cache=cast("CachePolicy", self.cache.currentText()),  # one of CACHE_POLICIES
            enabled=self.enabled.isChecked())
        if rule == self.draft.rules[self.row]:
            return
        self._loading = True  # our own change coming back from the draft
        try:
            self.draft.replace(self.row, rule)
        finally:
            self._loading = False
        self._show_errors()
        self.test_sample()
        self.edited.emit(self.row)

    def _on_draft(self, event: str, index: int) -> None:
        if self._loading:
            return
        if event == "changed" and index == self.row:
            self.show_rule(self.row)
        elif event != "changed":
            self.show_rule(min(self.row, len(self.draft.rules) - 1))

    def _show_errors(self) -> None:
        rule = self.current()
        pattern_problem = check_pattern(rule.pattern, self.draft.fragments) if rule else None
        self.pattern_error.setText(pattern_problem or "")
        self.pattern_error.setVisible(bool(pattern_problem))
        other = None
        if rule is not None and not pattern_problem:
            other = check(rule, self.draft.fragments, self.draft.handlers)
            if other is None and sum(r.id == rule.id for r in self.draft.rules) > 1:
                other = "another rule has this id"
        self.rule_error.setText(other or "")
        self.rule_error.setVisible(bool(other))

    # -- the sample tester ----------------------------------------------------------

    def test_sample(self) -> None:
        text = self.sample.toPlainText()
        self._highlight(text)
        if not text.strip():
            self.fires.setText("Type a sample message.")
            return
        errors = self.draft.errors()
        valid = [r for r in self.draft.rules if r.id not in errors]
        try:
            router = Router(valid, self.draft.handlers, fragments=self.draft.fragments)
        except RuleError as exc:  # e.g. a duplicate id among the valid ones
            self.fires.setText(f"Cannot test: {exc}")
            return
        winner, matched = router.hits(normalise(text))
        by_id = {r.id: r for r in valid}
        if winner is None:
            self.fires.setText("<b>No rule matches</b>: this message goes to the LLM.")
            return
        others = [by_id[m] for m in matched if m != winner.id]
        lines = [f"<b>Fires: {winner.id}</b> (priority {winner.priority}, intent "
                 f"{winner.intent}, handler {winner.handler})"]
        if others:
            also = ", ".join(f"{r.id} ({r.priority})" for r in others)
            lines.append(f"Also matched: {also}. The highest priority wins; on a tie, the rule "
                         "higher in the list.")
        skipped = [r.id for r in self.draft.rules if r.id in errors and r.enabled]
        if skipped:
            lines.append(f"Not tested (errors): {', '.join(skipped)}")
        self.fires.setText("<br>".join(lines))

    def _highlight(self, text: str) -> None:
        selections: list[QTextEdit.ExtraSelection] = []
        rule = self.current()
        if rule is not None and text and not check_pattern(rule.pattern, self.draft.fragments):
            regex = re2.compile(expand(rule.pattern, self.draft.fragments), _RE2_OPTIONS)
            fmt = QTextCharFormat()
            fmt.setBackground(_MATCH)
            for start, end in _marks(regex, text):
                selection = QTextEdit.ExtraSelection()
                cursor = QTextCursor(self.sample.document())
                cursor.setPosition(_utf16(text, start))
                cursor.setPosition(_utf16(text, end), QTextCursor.MoveMode.KeepAnchor)
                selection.cursor = cursor
                selection.format = fmt
                selections.append(selection)
        self.sample.setExtraSelections(selections)

    def highlighted(self) -> list[str]:
        """The highlighted stretches of the sample (what a user sees marked)."""
        return [s.cursor.selectedText().replace("\u2029", "\n")  # Qt's line break
                for s in self.sample.extraSelections()]
