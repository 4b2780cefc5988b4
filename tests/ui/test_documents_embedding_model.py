"""Choosing the embedding model in the Documents dialog of the real window, offscreen: the
built-in model and a second real one in the models folder (the pinned MiniLM converted
again with q8_0 weights), the real library with its embedding engine process.

The choices show the languages each model serves; choosing one saves the setting once the
model is loaded, shows the re-embedding's progress while keyword search keeps working,
and ends with every passage embedded by the new model; a model that cannot be loaded is
refused with a clear message and the one in use stays."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktopchat.core.models.embedders import EmbeddingChoice
from desktopchat.core.paths import AppPaths
from desktopchat.core.settings import load_settings
from desktopchat.ui.documents.dialog import DocumentsDialog
from tests.core.documents.second_embedder import FILE_NAME, second_embedder_file, session_folder
from tests.ui.conftest import WindowFactory

TIMEOUT_MS = 180_000  # hang guards, not speed limits


@pytest.fixture(scope="session")
def second_embedder_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return second_embedder_file(session_folder(tmp_path_factory))


def write_manuals(folder: Path) -> None:
    folder.mkdir(parents=True)
    for i, topic in enumerate(("kettle", "toaster", "blender", "fridge")):
        (folder / f"{topic}.txt").write_text(
            f"The {topic} manual.\n\nThe warranty of the {topic} lasts {i + 1} years.\n",
            encoding="utf-8",
        )


def test_choose_the_embedding_model_and_see_it_re_embed(
    qtbot: QtBot,
    make_window: WindowFactory,
    paths: AppPaths,
    tmp_path: Path,
    second_embedder_model: Path,
) -> None:
    paths.models.mkdir(parents=True, exist_ok=True)
    installed = paths.models / FILE_NAME
    shutil.copyfile(second_embedder_model, installed)
    write_manuals(tmp_path / "manuals")
    window = make_window(wait_for_model=False)
    dialog = window.show_documents()
    assert isinstance(dialog, DocumentsDialog)
    library = window.services.documents
    assert library is not None

    picker = dialog.embedder_picker
    qtbot.waitUntil(lambda: picker.count() == 2 and picker.isVisible(), timeout=TIMEOUT_MS)
    assert [picker.itemText(i) for i in range(2)] == [
        "Built in: all-MiniLM-L6-v2 (English)",
        "all-MiniLM-L6-v2 (English)",
    ]
    assert picker.currentIndex() == 0
    assert picker.itemData(1, 3) == str(installed.resolve())  # the tooltip: its path

    dialog.create_collection("Manuals")
    qtbot.waitUntil(lambda: dialog.current is not None, timeout=TIMEOUT_MS)
    dialog.add_paths([tmp_path / "manuals"])

    def all_embedded() -> bool:
        p = dialog.last_progress
        return p is not None and p.idle and 0 < p.chunks_total == p.chunks_embedded

    qtbot.waitUntil(all_embedded, timeout=TIMEOUT_MS)
    assert dialog.embedder.text() == "Embedding model: Built in: all-MiniLM-L6-v2 (English)"

    # Paused, so the re-embedding waits where the test can see it.
    dialog.pause_button.click()
    qtbot.waitUntil(lambda: dialog.pending == 0, timeout=TIMEOUT_MS)
    picker.setCurrentIndex(1)
    picker.activated.emit(1)
    assert not picker.isEnabled() and dialog.embedder.text().startswith("Loading")
    qtbot.waitUntil(
        lambda: dialog.embedder.text().startswith("Re-embedding with all-MiniLM-L6-v2"),
        timeout=TIMEOUT_MS,
    )
    assert " 0 of " in dialog.embedder.text() and dialog.embedder.text().endswith("passages")
    assert picker.isEnabled()
    assert window.settings.documents_embedding_model == str(installed.resolve())
    assert load_settings(paths.settings_file).documents_embedding_model == str(installed.resolve())
    assert library.embedder_name() == installed.stem
    hits = library.search("toaster warranty")  # the test's thread: fine in a test
    assert hits and hits[0].path.name == "toaster.txt" and hits[0].vector_rank is None

    dialog.pause_button.click()  # resume
    qtbot.waitUntil(all_embedded, timeout=TIMEOUT_MS)
    qtbot.waitUntil(
        lambda: dialog.embedder.text() == "Embedding model: all-MiniLM-L6-v2 (English)",
        timeout=TIMEOUT_MS,
    )
    hits = library.search("How long is the toaster warranty?")
    assert hits[0].path.name == "toaster.txt" and hits[0].vector_rank is not None

    # A model that cannot be loaded: refused, said so, and the one in use stays.
    broken = tmp_path / "broken-embed.gguf"
    broken.write_bytes(b"not a model at all")
    dialog.choose_embedding_model(EmbeddingChoice(broken, "broken-embed", None))
    qtbot.waitUntil(lambda: dialog.pending == 0 and picker.isEnabled(), timeout=TIMEOUT_MS)
    notice = dialog.notice.text()
    assert "broken-embed.gguf could not be loaded" in notice, notice
    assert "stays all-MiniLM-L6-v2 (English)" in notice, notice
    assert picker.currentIndex() == 1
    assert dialog.embedder.text() == "Embedding model: all-MiniLM-L6-v2 (English)"
    assert window.settings.documents_embedding_model == str(installed.resolve())
    hits = library.search("How long is the toaster warranty?")
    assert hits[0].vector_rank is not None, "search by meaning goes on"
    dialog.grab().save(str(tmp_path / "documents-embedding.png"))  # to look at when it fails
