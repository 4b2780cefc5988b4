"""The model manager's "Search the Hub" tab: GGUF repositories on the Hugging Face Hub by
downloads, likes or date (searched on the task pool, only when asked); "Show files" opens
one in the Files tab."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QComboBox, QLineEdit, QVBoxLayout, QWidget

from desktopchat.core.models.remote import RepoSummary
from desktopchat.ui.model_manager.common import (
    Shell,
    cell,
    fill_row,
    make_button,
    make_row,
    make_table,
    selected,
)
from desktopchat.ui.model_manager.context import ManagerContext, hub_client

SORTS = [("Most downloads", "downloads"), ("Most likes", "likes"), ("Recently updated", "recent")]


class SearchTab(QWidget):
    def __init__(
        self, context: ManagerContext, shell: Shell, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.shell = shell
        self.search_box = QLineEdit()
        self.search_box.setAccessibleName("Search the Hub")
        self.search_box.setPlaceholderText("Search GGUF models on the Hugging Face Hub")
        self.sort_picker = QComboBox()
        self.sort_picker.setAccessibleName("Sort results")
        for label, value in SORTS:
            self.sort_picker.addItem(label, value)
        self.search_button = make_button("Search")
        self.table = make_table(
            "Search results", ["Repository", "Downloads", "Likes", "Updated", "Access"], 0
        )
        self.files_button = make_button("Show files", "Show the repository's files")
        layout = QVBoxLayout(self)
        layout.addLayout(
            make_row(self.search_box, self.sort_picker, self.search_button, stretch_first=True)
        )
        layout.addWidget(self.table, 1)
        layout.addLayout(make_row(self.files_button))
        self.search_button.clicked.connect(self.on_search_clicked)
        self.search_box.returnPressed.connect(self.on_search_clicked)
        self.files_button.clicked.connect(self.on_files_clicked)
        self.table.cellDoubleClicked.connect(self.on_files_clicked)

    @Slot()
    def on_search_clicked(self) -> None:
        text = self.search_box.text().strip()
        sort = str(self.sort_picker.currentData())
        self.search_button.setEnabled(False)
        context = self.context

        def done(found: list[RepoSummary]) -> None:
            self.search_button.setEnabled(True)
            self._show_results(found)

        def failed(message: str) -> None:
            self.search_button.setEnabled(True)
            self.shell.show_error(message)

        self.shell.show_notice(f"Searching the Hugging Face Hub for “{text}”…")
        context.tasks.run(
            lambda: hub_client(context).search(text, sort=sort, limit=100), done, failed
        )

    def _show_results(self, found: list[RepoSummary]) -> None:
        self.shell.show_notice(
            f"{len(found)} GGUF repositories found." if found else "Nothing found."
        )
        self.table.setRowCount(len(found))
        for row, repo in enumerate(found):
            access = "Private" if repo.private else ("Gated" if repo.gated else "Open")
            fill_row(
                self.table,
                row,
                [
                    cell(repo.repo_id, repo),
                    cell(f"{repo.downloads:,}"),
                    cell(f"{repo.likes:,}"),
                    cell(repo.last_modified[:10]),
                    cell(access),
                ],
            )

    @Slot()
    def on_files_clicked(self) -> None:
        repo: RepoSummary | None = selected(self.table)
        if repo is not None:
            self.shell.open_repo(repo.repo_id)
