"""The model manager's top bar: offline mode, and the Hugging Face token (where it is
kept, set, check, remove). The keychain is only ever touched on the task pool: an unlock
prompt can block."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QWidget

from desktopchat.core.secrets import KeychainError
from desktopchat.ui.model_manager.common import Shell, make_button
from desktopchat.ui.model_manager.context import ManagerContext, hub_client


class TopBar(QWidget):
    def __init__(
        self,
        context: ManagerContext,
        shell: Shell,
        apply_offline: Callable[[bool], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.shell = shell
        self._apply_offline = apply_offline
        self.offline_box = QCheckBox("Offline mode")
        self.offline_box.setAccessibleName("Offline mode")
        self.offline_box.setToolTip("Never connect, not even to search or download")
        self.token_label = QLabel()
        self.token_label.setAccessibleName("Hugging Face token")
        self.token_label.setWordWrap(True)
        self.set_token_button = make_button("Set token…", "Set Hugging Face token")
        self.check_token_button = make_button("Check", "Check Hugging Face token")
        self.remove_token_button = make_button("Remove token", "Remove Hugging Face token")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.offline_box)
        layout.addSpacing(16)
        layout.addWidget(self.token_label, 1)
        for button in (self.set_token_button, self.check_token_button, self.remove_token_button):
            layout.addWidget(button)
        self.offline_box.toggled.connect(self.on_offline_toggled)
        self.set_token_button.clicked.connect(self.on_set_token_clicked)
        self.check_token_button.clicked.connect(self.check_token)
        self.remove_token_button.clicked.connect(self.on_remove_token_clicked)

    # -- offline mode ----------------------------------------------------------------------

    @Slot(bool)
    def on_offline_toggled(self, offline: bool) -> None:
        self.context.change_settings(offline_mode=offline)
        self._apply_offline(offline)
        if offline:
            self.context.downloads.pause_all()

    def show_offline(self, offline: bool) -> None:
        self.offline_box.blockSignals(True)
        self.offline_box.setChecked(offline)
        self.offline_box.blockSignals(False)
        self.check_token_button.setEnabled(not offline)

    # -- token -----------------------------------------------------------------------------

    def describe_token(self) -> None:
        """Say whether a token is kept, and where (the keychain is read off the GUI thread;
        nothing connects)."""
        secrets = self.context.secrets

        def look() -> tuple[bool, bool, str, str]:
            status = secrets.status()
            try:
                has = secrets.get() is not None
            except KeychainError:
                has = False
            return has, secrets.session_only, status.backend, status.reason

        self.token_label.setText("Hugging Face token: looking in the keychain…")
        self.context.tasks.run(look, self._on_token_described, self.shell.show_error)

    def _on_token_described(self, found: tuple[bool, bool, str, str]) -> None:
        has, session_only, backend, reason = found
        if session_only:
            text = "A Hugging Face token is set for this session only (it is not saved)."
        elif has:
            text = f"A Hugging Face token is stored in {backend}. Check shows the account."
        elif reason:
            text = (
                f"No Hugging Face token. No keychain is usable ({reason}): a token can be "
                "used for this session only. Public models need none."
            )
        else:
            text = "No Hugging Face token (public models need none; gated ones do)."
        self.token_label.setText(text)
        self.remove_token_button.setEnabled(has or session_only)
        self.check_token_button.setEnabled(
            (has or session_only) and not self.context.settings().offline_mode
        )

    @Slot()
    def on_set_token_clicked(self) -> None:
        token = self.shell.ask_secret(
            "Hugging Face token",
            "Paste a Hugging Face access token (read access is enough). It is kept in "
            "the system keychain, never in DesktopChat's files.",
        )
        if token is None:
            return
        secrets = self.context.secrets

        def store() -> tuple[bool, str]:
            try:
                secrets.set(token)
                return True, ""
            except KeychainError:
                # asked about a session-only token on the GUI thread, with the reason
                # probed here (the probe touches the keychain)
                return False, secrets.status().reason

        self.shell.run_task(store, lambda result: self._on_token_stored(token, *result))

    def _on_token_stored(self, token: str, saved: bool, reason: str) -> None:
        if not saved:
            if not self.shell.confirm(
                "No keychain",
                f"The token cannot be saved: {reason or 'the keychain refused it'}. "
                "DesktopChat never writes it to a file.\n\nUse it for this session only? "
                "It is forgotten when DesktopChat closes.",
            ):
                self.shell.show_notice("The token was not kept.")
                return
            self.context.secrets.set(token, session_only=True)  # memory only: no keychain
        self.describe_token()
        if not self.context.settings().offline_mode:
            self.check_token()

    @Slot()
    def check_token(self) -> None:
        context = self.context
        self.shell.run_task(
            lambda: hub_client(context).whoami(),
            lambda name: self.shell.show_notice(f"Signed in to Hugging Face as {name}."),
            "Checking the token with the Hugging Face Hub…",
        )

    @Slot()
    def on_remove_token_clicked(self) -> None:
        self.shell.run_task(self.context.secrets.delete, lambda _: self._on_token_removed())

    def _on_token_removed(self) -> None:
        self.shell.show_notice("The Hugging Face token was removed.")
        self.describe_token()
