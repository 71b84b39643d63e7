"""The rule editor: one rule's fields, checked as the operator types, and a sample
text box that highlights what the pattern matches and says which rule fires.

Every keystroke writes the rule back to the draft (valid or not: typing is never
lost); an RE2 error appears under the pattern field in the words of the router,
never as a traceback, with the operator's own pattern and a caret under the place
at fault, and the draft then refuses to apply.

The pattern field is several lines tall so a long pattern can be read whole, but a
pattern is one line: RE2 has no verbose mode, so a line break would be a literal
character no normalised request contains. Enter therefore inserts nothing (Ctrl+S
applies, Tab moves on), and the line breaks of a pasted pattern are dropped, the
lines joined as they stand (a long alternation pasted from a file keeps its
meaning). The field wraps anywhere, as patterns have few spaces.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, cast

import re2
from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QTextCharFormat, QTextCursor, QTextOption
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSizePolicy,
    QSpinBox,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from agentcore import (
    CACHE_POLICIES,
    CachePolicy,
    PatternError,
    Router,
    Rule,
    RuleDraft,
    RuleError,
    check_pattern,
    check_rule,
    expand,
    normalise,
    normalise_with_spans,
    pattern_pointer,
    pattern_problem,
)
from console.status_label import PointerLabel, StatusLabel, monospace

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


def _lines_tall(edit: QPlainTextEdit, lines: int) -> None:
    """A text box `lines` lines tall at most: it takes no more, and scrolls."""
    height = edit.fontMetrics().lineSpacing() * lines + 2 * edit.frameWidth() + 8
    edit.setMinimumHeight(edit.fontMetrics().lineSpacing() + 2 * edit.frameWidth() + 8)
    edit.setMaximumHeight(height)
    edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)


class PatternEdit(QPlainTextEdit):
    """A pattern field several lines tall that holds one line (see the module's
    docstring): Enter inserts nothing and pasted line breaks are dropped."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFont(monospace())
        self.setTabChangesFocus(True)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAnywhere)
        _lines_tall(self, 4)

    def text(self) -> str:
        return self.toPlainText()

    def setText(self, text: str) -> None:
        self.setPlainText(text)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.ignore()  # not a character of a pattern; the form may use it
            return
        super().keyPressEvent(event)

    def insertFromMimeData(self, source: QMimeData) -> None:
        if source.hasText():
            self.insertPlainText("".join(source.text().splitlines()))


class RuleEditor(QWidget):
    edited = Signal(int)  # the row whose rule changed in the draft

    def __init__(self, draft: RuleDraft, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.draft = draft
        self.row = -1
        self._loading = False

        self.rule_id = QLineEdit()
        self.name = QLineEdit()
        self.pattern = PatternEdit()
        self.pattern.setPlaceholderText(r"RE2, e.g. ^{greeting}{no_digits}\bgift cards?\b")
        self.pattern_error = StatusLabel()
        self.pattern_error.setObjectName("pattern error")
        self.pattern_error.setStyleSheet("color: #e5534b;")
        self.pattern_caret = PointerLabel()  # the pattern, and a caret under the fault
        self.pattern_caret.setObjectName("pattern caret")
        self.pattern_caret.setStyleSheet("color: #e5534b;")
        self.intent = QComboBox()
        self.intent.setEditable(True)
        self.handler = QComboBox()
        self.handler.addItems(sorted(draft.handlers))
        self.template = QPlainTextEdit()
        _lines_tall(self.template, 3)
        self.priority = QSpinBox()
        self.priority.setRange(-1000, 1000)
        self.cache = QComboBox()
        self.cache.addItems(list(CACHE_POLICIES))
        self.enabled = QCheckBox("enabled")
        self.rule_error = StatusLabel()
        self.rule_error.setObjectName("rule error")
        self.rule_error.setStyleSheet("color: #e5534b;")
        for combo in (self.intent, self.handler, self.cache):
            # A long intent or handler name would otherwise set the editor's width.
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)

        # Two fields a row where they are short: the pattern gets the height.
        form = QGridLayout()
        form.setColumnStretch(1, 3)
        form.setColumnStretch(3, 2)
        form.addWidget(QLabel("Id"), 0, 0)
        form.addWidget(self.rule_id, 0, 1)
        form.addWidget(QLabel("Name"), 0, 2)
        form.addWidget(self.name, 0, 3)
        form.addWidget(QLabel("Pattern"), 1, 0, Qt.AlignmentFlag.AlignTop)
        form.addWidget(self.pattern, 1, 1, 1, 3)
        form.addWidget(self.pattern_error, 2, 1, 1, 3)
        form.addWidget(self.pattern_caret, 3, 1, 1, 3)
        form.addWidget(QLabel("Intent"), 4, 0)
        form.addWidget(self.intent, 4, 1)
        form.addWidget(QLabel("Handler"), 4, 2)
        form.addWidget(self.handler, 4, 3)
        form.addWidget(QLabel("Template"), 5, 0, Qt.AlignmentFlag.AlignTop)
        form.addWidget(self.template, 5, 1, 1, 3)
        knobs = QHBoxLayout()
        knobs.addWidget(QLabel("Priority"))
        knobs.addWidget(self.priority)
        knobs.addSpacing(12)
        knobs.addWidget(QLabel("Cache"))
        knobs.addWidget(self.cache)
        knobs.addSpacing(12)
        knobs.addWidget(self.enabled)
        knobs.addStretch(1)
        form.addLayout(knobs, 6, 1, 1, 3)
        form.addWidget(self.rule_error, 7, 1, 1, 3)

        self.sample = QPlainTextEdit()
        self.sample.setPlaceholderText("Type a customer message to test it against every rule")
        _lines_tall(self.sample, 3)
        self.fires = QLabel("Type a sample message.")
        self.fires.setObjectName("fires")
        self.fires.setWordWrap(True)
        self.fires.setTextFormat(Qt.TextFormat.RichText)
        # Rule ids in rich text: wrapped, and never a reason for the window to widen.
        self.fires.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        tester = QGroupBox("Test a message")
        tester_layout = QVBoxLayout(tester)
        tester_layout.addWidget(self.sample)
        tester_layout.addWidget(self.fires)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addWidget(tester)
        layout.addStretch(1)

        for line in (self.rule_id, self.name):
            line.textEdited.connect(self._commit)
        self.pattern.textChanged.connect(self._commit)  # setText while loading is ignored
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
        problem = pattern_problem(rule.pattern, self.draft.fragments) if rule else None
        self.pattern_error.setText(problem.reason if problem else "")
        self.pattern_error.setVisible(problem is not None)
        at = problem.position if isinstance(problem, PatternError) else None
        self.pattern_caret.setText(
            pattern_pointer(rule.pattern, at) if rule and at is not None else "")
        self.pattern_caret.setVisible(at is not None)
        other = None
        if rule is not None and problem is None:
            other = check_rule(rule, self.draft.fragments, self.draft.handlers)
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
