"""The model manager's Files tab: every GGUF of one Hub repository with its quantization,
size, architecture and whether it fits here at the chosen context, worked out from each
file's header (read with Range requests on the task pool) before anything is downloaded.
The verdicts at another context are worked out again from the headers already read."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QLabel, QSpinBox, QVBoxLayout, QWidget

from desktopchat.core.chat import GenerationParams
from desktopchat.core.models.architectures import ArchitectureTable
from desktopchat.core.models.fit import available_memory
from desktopchat.core.models.gguf import GGUFInfo
from desktopchat.core.models.library import human_size
from desktopchat.core.models.manager import check_file, remote_header
from desktopchat.core.models.remote import ModelFile, RepoFiles
from desktopchat.ui.model_manager.common import (
    Devices,
    Shell,
    cell,
    fill_row,
    make_button,
    make_row,
    make_table,
    selected,
)
from desktopchat.ui.model_manager.context import ManagerContext, hub_client


class FilesTab(QWidget):
    files_checked = Signal()  # every file of the open repository has its verdict
    download_added = Signal()

    def __init__(
        self,
        context: ManagerContext,
        shell: Shell,
        devices: Devices,
        architectures: ArchitectureTable,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.shell = shell
        self.devices = devices
        self.architectures = architectures
        self.listing: RepoFiles | None = None
        self.headers: dict[str, GGUFInfo | None] = {}  # by file name, for the open repo
        self.free_ram: int | None = None  # bytes, read with the headers
        self._request = 0  # a newer listing makes an older one's answers stale
        self.title = QLabel("Open a model from the catalogue or the search results.")
        self.title.setWordWrap(True)
        self.title.setAccessibleName("Repository")
        self.context_box = QSpinBox()
        self.context_box.setAccessibleName("Context length to plan for")
        self.context_box.setRange(512, 1_048_576)
        self.context_box.setSingleStep(1024)
        self.context_box.setValue(GenerationParams().n_ctx)
        self.context_box.setSuffix(" tokens")
        self.table = make_table(
            "Model files",
            ["File", "Quantization", "Size", "On this computer", "Architecture"],
            0,
            3,
        )
        self.download_button = make_button("Download")
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(make_row(QLabel("Plan for a context of"), self.context_box))
        layout.addWidget(self.table, 1)
        layout.addLayout(make_row(self.download_button))
        self.context_box.editingFinished.connect(self.show_file_checks)
        self.download_button.clicked.connect(self.on_download_clicked)

    def open_repo(self, repo_id: str, *, prefer: str = "") -> None:
        """List every GGUF of ``repo_id`` and work out, file by file, what fits here."""
        self._request += 1
        request = self._request
        self.listing = None
        self.headers = {}
        self.table.setRowCount(0)
        self.title.setText(f"{repo_id}: listing files…")
        context = self.context

        def list_files() -> tuple[RepoFiles, str]:
            hub = hub_client(context)
            return hub.files(repo_id), hub.page_url(repo_id)

        def listed(result: tuple[RepoFiles, str]) -> None:
            if request == self._request:
                self._show_files(*result, prefer)

        self.shell.run_task(list_files, listed, f"Opening {repo_id}…")

    def _show_files(self, listing: RepoFiles, page_url: str, prefer: str) -> None:
        self.listing = listing
        models = listing.models()
        gated = (
            " Gated: accept its licence on the Hub and set a token for that account before "
            "downloading."
            if listing.gated
            else ""
        )
        self.title.setText(
            f"{listing.repo_id} at {listing.revision[:12]}: {len(models)} GGUF "
            f"file{'s' if len(models) != 1 else ''}.{gated}"
        )
        if listing.gated:
            self.shell.show_notice(f"{listing.repo_id} is gated.", page_url=page_url)
        else:
            self.shell.show_notice("")
        table = self.table
        table.setRowCount(len(models))
        for row, model in enumerate(models):
            incomplete = "" if model.complete else " (parts missing from the listing)"
            fill_row(
                table,
                row,
                [
                    cell(model.label + incomplete, model),
                    cell(model.quantization or "?"),
                    cell(human_size(model.size)),
                    cell("reading its header…"),
                    cell(""),
                ],
            )
            if prefer and model.quantization == prefer.upper() and table.currentRow() < 0:
                table.selectRow(row)
        request = self._request
        context, devices, architectures = self.context, self.devices, self.architectures

        def read_headers() -> tuple[dict[str, GGUFInfo | None], int | None]:
            hub = hub_client(context)
            devices.get()
            architectures.load()  # the library's names, read here rather than on the GUI thread
            headers = {m.name: remote_header(hub, listing, m) for m in models}
            return headers, available_memory()

        def read(result: tuple[dict[str, GGUFInfo | None], int | None]) -> None:
            if request == self._request:
                self.headers, self.free_ram = result
                self.show_file_checks()

        context.tasks.run(read_headers, read, self.shell.show_error)

    @Slot()
    def show_file_checks(self) -> None:
        """Each file's verdict at the chosen context, from the headers already read."""
        if self.listing is None or not self.headers:
            return
        n_ctx = self.context_box.value()
        devices = self.devices.known()
        table = self.table
        for row in range(table.rowCount()):
            first = table.item(row, 0)
            if first is None:
                continue
            model: ModelFile = first.data(Qt.ItemDataRole.UserRole)
            check = check_file(
                self.headers.get(model.name),
                model,
                n_ctx,
                devices,
                self.free_ram,
                architectures=self.architectures,
            )
            architecture = check.architecture or "unknown"
            if check.warning:
                architecture += ": not supported"
            fill_row(
                table,
                row,
                [
                    None,
                    None,
                    None,
                    cell(check.text, tip=check.text),
                    cell(architecture, tip=check.warning),
                ],
            )
        table.resizeRowsToContents()
        self.files_checked.emit()

    @Slot()
    def on_download_clicked(self) -> None:
        model: ModelFile | None = selected(self.table)
        if model is None or self.listing is None:
            self.shell.show_error("Choose a file to download.")
            return
        row = self.table.currentRow()
        architecture = self.table.item(row, 4)
        warning = architecture.toolTip() if architecture is not None else ""
        if warning and not self.shell.confirm(
            "Unsupported model", f"{warning}\n\nDownload anyway?"
        ):
            return
        self.context.downloads.add(self.listing.repo_id, self.listing.revision, model)
        self.shell.show_notice(f"{model.label} was added to the downloads.")
        self.download_added.emit()
