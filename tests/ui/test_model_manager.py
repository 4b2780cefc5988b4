"""The model manager window on the real main window, offscreen, against a local Hub on
127.0.0.1 (HF_ENDPOINT) serving the real starter model: browse, check what fits,
download with pause/resume/cancel, gated models and the token, offline mode, and the
library (last used, delete, other apps' models, the models folder)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import keyring.backends.fail
import pytest
import pytest_socket
from PySide6.QtWidgets import QTableWidget
from pytestqt.qtbot import QtBot

from desktopchat.core import network
from desktopchat.core.models.catalog import load_catalog
from desktopchat.core.models.downloads import Pending
from desktopchat.core.models.manager import discard_job, download_job
from desktopchat.core.paths import AppPaths
from desktopchat.core.secrets import SecretStore
from desktopchat.core.session import Core
from desktopchat.ui.downloads import DownloadItem, DownloadQueue, DownloadState
from desktopchat.ui.main_window import MainWindow
from desktopchat.ui.model_manager import OFFLINE_NOTE, ModelManagerDialog
from desktopchat.ui.services import WindowServices
from tests.gguf_files import tiny_tensors, write_gguf
from tests.hub_server import (
    GRANTED_TOKEN,
    HostedFile,
    HostedRepo,
    HubState,
    LocalHub,
    serve_hub,
)
from tests.ui.conftest import WindowFactory

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

CATALOGUE = load_catalog()[1]  # SmolLM2 360M Instruct, recommended Q8_0
STARTER_AS = f"smollm2-360m-instruct-{CATALOGUE.quantization.lower()}.gguf"
GATED = "test/Gated-GGUF"


@pytest.fixture
def hub(starter_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalHub]:
    state = HubState()
    state.add(
        HostedRepo(
            CATALOGUE.repo,
            [
                HostedFile("smollm2-360m-instruct-q4_1.gguf", os.urandom(4000)),
                HostedFile(STARTER_AS, starter_model),
                HostedFile(
                    "future-model.gguf",
                    write_gguf(tmp_path / "f.gguf", "notarealarch", tiny_tensors()),
                ),
            ],
            downloads=50,
        )
    )
    state.add(HostedRepo(GATED, [HostedFile("gated-Q4_0.gguf", starter_model)], "manual"))
    state.add(HostedRepo("test/Popular-GGUF", [], downloads=900, likes=1))
    state.add(HostedRepo("test/Liked-GGUF", [], downloads=10, likes=99))
    with serve_hub(state) as served:
        monkeypatch.setenv("HF_ENDPOINT", served.url)
        monkeypatch.setenv("HOME", str(tmp_path / "user"))  # other apps' folders: ours
        yield served


T = TypeVar("T")


@pytest.fixture
def make_window(make_window: WindowFactory, paths: AppPaths) -> WindowFactory:
    """The shared window factory (tests/ui/conftest.py: it closes what it opened);
    ``secrets``: the keychain (or none) that the window, the model manager and the
    downloads all use."""

    def factory(*, wait_for_model: bool = True, secrets: SecretStore | None = None) -> MainWindow:
        def with_secrets(services: WindowServices) -> WindowServices:
            assert secrets is not None
            return dataclasses.replace(
                services,
                secrets=secrets,
                downloads=DownloadQueue(download_job(paths, secrets), discard_job(paths)),
            )

        return make_window(
            wait_for_model=wait_for_model, customize=with_secrets if secrets is not None else None
        )

    return factory


def manager(window: MainWindow) -> ModelManagerDialog:
    dialog = window.show_model_manager()
    assert isinstance(dialog, ModelManagerDialog)
    patch(dialog, "confirm", lambda *_: True)
    return dialog


def query(qtbot: QtBot, window: MainWindow, ask: Callable[[Core], T]) -> T:
    """``ask`` run on the window's database thread, the way the window reads."""
    answers: list[T] = []
    window.database.run(ask, answers.append)
    qtbot.waitUntil(lambda: bool(answers), timeout=20_000)
    return answers[0]


def text(table: QTableWidget, row: int, column: int) -> str:
    item = table.item(row, column)
    assert item is not None, (row, column)
    return item.text()


def row_of(table: QTableWidget, wanted: str) -> int:
    for row in range(table.rowCount()):
        if wanted in text(table, row, 0):
            return row
    raise AssertionError(f"{wanted!r} is not listed")


def yes_to(questions: list[str]) -> Callable[[str, str], bool]:
    def answer(_title: str, question: str) -> bool:
        questions.append(question)
        return True

    return answer


def patch(dialog: ModelManagerDialog, name: str, replacement: Callable[..., Any]) -> None:
    """Stand in for a native dialog (a question, a password box, a folder picker) or for
    the desktop opening a URL."""
    dialog.__dict__[name] = replacement


def test_browse_check_download_use_and_delete(
    qtbot: QtBot, make_window: WindowFactory, hub: LocalHub
) -> None:
    window = make_window()
    dialog = manager(window)
    assert hub.state.requests == [], "opening the model manager connects to nothing"

    # The catalogue: a repository's files, every quantization, the recommended one chosen.
    dialog.catalogue_tab.table.selectRow(row_of(dialog.catalogue_tab.table, CATALOGUE.name))
    with qtbot.waitSignal(dialog.files_tab.files_checked, timeout=30_000):
        dialog.catalogue_tab.files_button.click()
    table = dialog.files_tab.table
    assert table.rowCount() == 3
    chosen = table.currentRow()
    assert text(table, chosen, 0) == STARTER_AS
    assert text(table, chosen, 1) == CATALOGUE.quantization
    fit = text(table, chosen, 3)
    assert fit.startswith("CPU only:") and "free" in fit and "file size" not in fit  # header
    assert text(table, chosen, 4) == "llama"
    random = row_of(table, "q4_1")
    assert "estimated from the file size" in text(table, random, 3)
    future = row_of(table, "future")
    assert text(table, future, 4) == "notarealarch: not supported"
    assert "will not load" in text(table, future, 3)
    # A longer context costs more: the verdict is worked out again from the same headers.
    before = len(hub.requests_to("cdn"))
    first = text(table, chosen, 3)
    dialog.files_tab.context_box.setValue(8192)
    dialog.files_tab.show_file_checks()
    assert text(table, chosen, 3) != first and len(hub.requests_to("cdn")) == before

    # Download it: progress in the queue, then listed in the main window as downloaded.
    dialog.files_tab.download_button.click()
    item = window.downloads.items[0]
    qtbot.waitUntil(lambda: item.state is DownloadState.DONE, timeout=60_000)
    assert text(dialog.downloads_tab.table, 0, 1) == "Done"
    assert item.path is not None and item.path.parent.name == CATALOGUE.repo.split("/")[1]
    qtbot.waitUntil(lambda: any(m.path == item.path for m in window.models), timeout=20_000)
    qtbot.waitUntil(
        lambda: any(m.path == item.path for m in dialog.installed_tab.models), timeout=20_000
    )
    row = next(i for i, m in enumerate(dialog.installed_tab.models) if m.path == item.path)
    assert text(dialog.installed_tab.table, row, 1) == "downloaded"
    assert text(dialog.installed_tab.table, row, 3) == "never"
    assert text(dialog.installed_tab.table, row, 2).endswith(" MB")

    # Use it: it loads in the chat window, and is now "last used".
    dialog.installed_tab.table.selectRow(row)
    dialog.installed_tab.use_button.click()
    qtbot.waitUntil(
        lambda: (
            window.controller.loaded is not None
            and window.controller.loaded.config.path == item.path
        ),
        timeout=60_000,
    )
    assert str(item.path) in query(qtbot, window, lambda core: core.model_records.last_used())

    # Open its folder, then delete it: confirmed, with the space it frees.
    opened: list[str] = []
    patch(dialog, "open_url", opened.append)
    dialog.installed_tab.refresh()
    qtbot.waitUntil(lambda: text(dialog.installed_tab.table, row, 3) != "never", timeout=20_000)
    dialog.installed_tab.table.selectRow(row)
    dialog.installed_tab.open_folder_button.click()
    assert opened == [f"file://{item.path.parent}"]
    questions: list[str] = []
    patch(dialog, "confirm", yes_to(questions))
    window.controller.unload()
    dialog.installed_tab.delete_button.click()
    assert "from the models folder? This frees" in questions[0] and questions[0].endswith("MB.")
    # The record goes on the database thread, then the files on the task pool.
    qtbot.waitUntil(lambda: "freed" in dialog.notice.text(), timeout=20_000)
    assert "freed" in dialog.notice.text() and not item.path.exists()
    # The starter model cannot be deleted.
    qtbot.waitUntil(
        lambda: all(m.path != item.path for m in dialog.installed_tab.models), timeout=20_000
    )
    dialog.installed_tab.table.selectRow(
        next(i for i, m in enumerate(dialog.installed_tab.models) if m.source == "starter")
    )
    dialog.installed_tab.delete_button.click()
    assert "cannot be removed" in dialog.notice.text()


def test_search_gated_models_and_a_session_only_token(
    qtbot: QtBot, make_window: WindowFactory, hub: LocalHub
) -> None:
    no_keychain = SecretStore(keyring.backends.fail.Keyring())  # no keychain here
    window = make_window(wait_for_model=False, secrets=no_keychain)
    dialog = manager(window)
    qtbot.waitUntil(lambda: "session only" in dialog.top_bar.token_label.text(), timeout=10_000)

    dialog.search_tab.sort_picker.setCurrentIndex(1)  # most likes
    dialog.search_tab.search_box.setText("GGUF")
    dialog.search_tab.search_button.click()
    qtbot.waitUntil(lambda: dialog.search_tab.table.rowCount() == 4, timeout=20_000)
    assert text(dialog.search_tab.table, 0, 0) == "test/Liked-GGUF"
    gated_row = row_of(dialog.search_tab.table, GATED)
    assert text(dialog.search_tab.table, gated_row, 4) == "Gated"

    # A gated model: the listing says so, the download is refused with what to do.
    dialog.search_tab.table.selectRow(gated_row)
    with qtbot.waitSignal(dialog.files_tab.files_checked, timeout=30_000):
        dialog.search_tab.files_button.click()
    assert "Gated" in dialog.files_tab.title.text()
    dialog.files_tab.table.selectRow(0)
    dialog.files_tab.download_button.click()
    item = window.downloads.items[0]
    qtbot.waitUntil(lambda: item.state is DownloadState.FAILED, timeout=20_000)
    assert "accept its licence" in dialog.notice.text()
    assert not dialog.licence_button.isHidden()
    opened: list[str] = []
    patch(dialog, "open_url", opened.append)
    dialog.licence_button.click()
    assert opened == [f"{hub.url}/{GATED}"]

    # No keychain: the token is offered for this session only, then used and checked.
    patch(dialog, "ask_secret", lambda *_: GRANTED_TOKEN)
    asked: list[str] = []
    patch(dialog, "confirm", yes_to(asked))
    dialog.top_bar.set_token_button.click()
    qtbot.waitUntil(lambda: "granted-user" in dialog.notice.text(), timeout=20_000)
    assert "this session only" in asked[0] and "no system keychain" in asked[0]
    assert "for this session only" in dialog.top_bar.token_label.text()
    dialog.downloads_tab.table.selectRow(0)
    dialog.downloads_tab.resume_button.click()
    qtbot.waitUntil(lambda: item.state is DownloadState.DONE, timeout=60_000)

    dialog.top_bar.remove_token_button.click()
    qtbot.waitUntil(
        lambda: "No Hugging Face token" in dialog.top_bar.token_label.text(), timeout=10_000
    )
    window.close()
    home = window.paths.data.parent
    for path in home.rglob("*"):
        if path.is_file() and path.suffix != ".gguf":
            assert GRANTED_TOKEN.encode() not in path.read_bytes(), f"the token is in {path}"


def test_pause_resume_cancel_and_resume_after_a_restart(
    qtbot: QtBot, make_window: WindowFactory, hub: LocalHub
) -> None:
    hub.state.throttle = 0.05  # ~5 MB/s: time to pause
    window = make_window(wait_for_model=False)
    dialog = manager(window)
    with qtbot.waitSignal(dialog.files_tab.files_checked, timeout=30_000):
        dialog.open_repo(CATALOGUE.repo)
    dialog.files_tab.table.selectRow(row_of(dialog.files_tab.table, STARTER_AS))
    dialog.files_tab.download_button.click()
    item = window.downloads.items[0]
    qtbot.waitUntil(lambda: item.done > 1_000_000, timeout=30_000)
    assert item.bytes_per_second > 0 and text(dialog.downloads_tab.table, 0, 3).endswith("/s")
    assert text(dialog.downloads_tab.table, 0, 4).endswith("s")  # time left
    dialog.downloads_tab.table.selectRow(0)
    dialog.downloads_tab.pause_button.click()
    qtbot.waitUntil(lambda: item.state is DownloadState.PAUSED, timeout=10_000)
    paused_at = item.done
    dialog.downloads_tab.resume_button.click()
    qtbot.waitUntil(lambda: item.done > paused_at + 500_000, timeout=30_000)
    window.close()  # closing pauses it; the partial file stays

    hub.state.requests.clear()
    again = make_window(wait_for_model=False, secrets=SecretStore(keyring.backends.fail.Keyring()))
    qtbot.waitUntil(lambda: len(again.downloads.items) == 1, timeout=10_000)
    left = again.downloads.items[0]
    assert left.state is DownloadState.PAUSED and left.done > paused_at
    assert "earlier session" in left.message
    assert hub.state.requests == [], "an unfinished download does not resume by itself"
    hub.state.throttle = 0.0
    dialog = manager(again)
    dialog.downloads_tab.table.selectRow(0)
    dialog.downloads_tab.resume_button.click()
    qtbot.waitUntil(lambda: left.state is DownloadState.DONE, timeout=60_000)
    ranges = [h.get("range", "") for _p, h in hub.requests_to("cdn")]
    assert ranges and not any(r.startswith("bytes=0-") for r in ranges), "continued"

    # Cancel deletes what was downloaded.
    hub.state.throttle = 0.05
    dialog.open_repo(GATED)  # another file (the gated one, with a granted token)
    again.secrets.set(GRANTED_TOKEN, session_only=True)
    qtbot.waitUntil(lambda: dialog.files_tab.table.rowCount() == 1, timeout=20_000)
    dialog.files_tab.table.selectRow(0)
    dialog.files_tab.download_button.click()
    gated = again.downloads.items[-1]
    qtbot.waitUntil(lambda: gated.done > 500_000, timeout=30_000)
    dialog.downloads_tab.table.selectRow(len(again.downloads.items) - 1)
    dialog.downloads_tab.cancel_button.click()
    qtbot.waitUntil(lambda: gated.state is DownloadState.CANCELLED, timeout=10_000)
    assert not any((again.paths.cache / "downloads").glob("*.part"))


def test_offline_mode_shows_installed_models_only_and_connects_to_nothing(
    qtbot: QtBot, make_window: WindowFactory, hub: LocalHub
) -> None:
    window = make_window(wait_for_model=False)
    dialog = manager(window)
    dialog.top_bar.offline_box.setChecked(True)
    assert window.settings.offline_mode
    for index in (1, 2, 3):
        assert not dialog.tabs.isTabEnabled(index)
    assert dialog.tabs.currentIndex() == 0 and dialog.notice.text() == OFFLINE_NOTE
    before = len(network.activity.connections())
    pytest_socket.disable_socket()  # from here on, any connection attempt raises
    try:
        refused = "Offline mode is on, so DesktopChat does not connect"
        dialog.open_repo(CATALOGUE.repo)  # what a stray click could still reach
        qtbot.waitUntil(lambda: refused in dialog.notice.text(), timeout=10_000)
        dialog.show_notice("")
        dialog.search_tab.on_search_clicked()
        qtbot.waitUntil(lambda: refused in dialog.notice.text(), timeout=10_000)
        window.tasks.wait()
    finally:
        pytest_socket.enable_socket()
    assert hub.state.requests == [] and len(network.activity.connections()) == before
    window.close()
    reopened = make_window(wait_for_model=False)
    assert reopened.settings.offline_mode  # kept
    assert not manager(reopened).tabs.isTabEnabled(2)


def test_models_in_other_apps_and_the_models_folder(
    qtbot: QtBot, make_window: WindowFactory, hub: LocalHub, tmp_path: Path, starter_model: Path
) -> None:
    gpt4all = tmp_path / "user" / ".local/share/nomic.ai/GPT4All"
    gpt4all.mkdir(parents=True)
    shutil.copyfile(starter_model, gpt4all / "smol-chat.gguf")
    window = make_window(wait_for_model=False)
    dialog = manager(window)
    qtbot.waitUntil(lambda: dialog.installed_tab.found_table.rowCount() == 1, timeout=20_000)
    assert text(dialog.installed_tab.found_table, 0, 1) == "GPT4All"
    dialog.installed_tab.found_table.selectRow(0)
    dialog.installed_tab.use_found_button.click()
    qtbot.waitUntil(lambda: "in place" in dialog.notice.text(), timeout=20_000)
    qtbot.waitUntil(
        lambda: any(m.path == gpt4all / "smol-chat.gguf" for m in window.models), timeout=20_000
    )
    qtbot.waitUntil(lambda: dialog.installed_tab.found_table.rowCount() == 0, timeout=20_000)

    # Another models folder: downloads go there, the setting is kept.
    chosen = tmp_path / "big-disk"
    patch(dialog, "choose_folder", lambda _start: chosen)
    dialog.installed_tab.change_folder_button.click()
    # The folder is checked on the task pool, then the database thread's Core moves.
    qtbot.waitUntil(lambda: str(chosen) in dialog.installed_tab.folder_label.text(), timeout=20_000)
    assert window.settings.models_folder == str(chosen)
    assert query(qtbot, window, lambda core: core.library.models_dir) == chosen
    assert dialog.context.paths().models == chosen  # what the window's parts use
    with qtbot.waitSignal(dialog.files_tab.files_checked, timeout=30_000):
        dialog.open_repo(CATALOGUE.repo)
    dialog.files_tab.table.selectRow(row_of(dialog.files_tab.table, STARTER_AS))
    dialog.files_tab.download_button.click()
    item = window.downloads.items[0]
    qtbot.waitUntil(lambda: item.state is DownloadState.DONE, timeout=60_000)
    assert item.path is not None and chosen in item.path.parents


def test_cancelling_a_paused_download_deletes_its_files_off_the_gui_thread(
    qtbot: QtBot, paths: AppPaths
) -> None:
    """Deleting gigabytes of partial files on a slow disk must not freeze the window, and
    the download cannot be resumed while they are being deleted."""
    gui = threading.current_thread()
    deleting: list[threading.Thread] = []
    release = threading.Event()
    real_discard = discard_job(paths)

    def discard(item: DownloadItem) -> None:
        deleting.append(threading.current_thread())
        release.wait(60)  # a hang guard
        real_discard(item)

    queue = DownloadQueue(
        download_job(paths, SecretStore(keyring.backends.fail.Keyring())), discard
    )
    queue.add_pending([Pending(CATALOGUE.repo, "main", STARTER_AS, 1000, 400)])
    item = queue.items[0]
    assert queue.items[0].state is DownloadState.PAUSED
    queue.cancel(item)
    assert item.state is DownloadState.CANCELLED and item.done == 0  # shown at once
    qtbot.waitUntil(lambda: bool(deleting), timeout=20_000)
    assert deleting[0] is not gui
    queue.resume(item)
    assert item.state is DownloadState.CANCELLED, "not resumed while its files are deleted"
    with qtbot.waitSignal(queue.changed, timeout=20_000):
        release.set()
    assert not item.cancel_requested and not queue.active()
