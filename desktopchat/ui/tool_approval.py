"""Before a tool runs: the server, the tool and its arguments (editable), and the user's
answer: *Allow once*, *Always allow this tool* or *Deny*. The dialog is window-modal but
never blocks the GUI thread: the inference thread waits for the answer (or Stop)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core.tools.toolbox import Approval, ApprovalRequest, Decision


class ApprovalDialog(QDialog):
    def __init__(
        self,
        request: ApprovalRequest,
        answer: Callable[[Approval], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._request = request
        self._answer = answer
        self._answered = False
        self.setWindowTitle("Run a tool?")
        self.setObjectName("tool-approval")
        spec = request.spec
        self.intro = intro = QLabel(
            f"The model wants to run <b>{_escape(spec.label)}</b> from "
            f"<b>{_escape(request.server)}</b>."
        )
        intro.setWordWrap(True)
        about = QLabel(spec.description.strip()[:600])
        about.setWordWrap(True)
        about.setTextFormat(Qt.TextFormat.PlainText)
        self.arguments = QPlainTextEdit()
        self.arguments.setObjectName("tool-arguments")
        self.arguments.setAccessibleName("The tool's arguments (JSON, editable)")
        self.arguments.setPlainText(
            json.dumps(request.call.arguments, ensure_ascii=False, indent=2)
        )
        self.problem = QLabel()
        self.problem.setObjectName("tool-arguments-problem")
        self.problem.setVisible(False)
        buttons = QDialogButtonBox()
        self.allow_once = QPushButton("Allow once")
        self.allow_always = QPushButton("Always allow this tool")
        self.deny = QPushButton("Deny")
        buttons.addButton(self.allow_once, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.allow_always, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.deny, QDialogButtonBox.ButtonRole.RejectRole)
        self.deny.setDefault(True)
        self.allow_once.clicked.connect(lambda: self._decide(Decision.ALLOW_ONCE))
        self.allow_always.clicked.connect(lambda: self._decide(Decision.ALLOW_ALWAYS))
        self.deny.clicked.connect(lambda: self._decide(Decision.DENY))
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(about)
        layout.addWidget(QLabel("Arguments (you may change them before it runs):"))
        layout.addWidget(self.arguments)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.rejected.connect(self.on_rejected)
        self.resize(520, 380)

    def _edited(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self.arguments.toPlainText() or "{}")
        except ValueError as exc:
            self.problem.setText(f"The arguments are not valid JSON: {exc}")
            self.problem.setVisible(True)
            return None
        if not isinstance(value, dict):
            self.problem.setText("The arguments must be a JSON object ({…}).")
            self.problem.setVisible(True)
            return None
        return value

    def _decide(self, decision: Decision) -> None:
        arguments: dict[str, Any] | None = None
        if decision is not Decision.DENY:
            arguments = self._edited()
            if arguments is None:
                return  # stays open: the user fixes the JSON or denies
        self._finish(Approval(decision, arguments))
        self.accept() if decision is not Decision.DENY else self.reject()

    def _finish(self, approval: Approval) -> None:
        if not self._answered:
            self._answered = True
            self._answer(approval)

    @Slot()
    def on_rejected(self) -> None:  # Escape, the window's close button: denied
        self._finish(Approval(Decision.DENY))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
