"""Single files attached to a chat (``GenerationParams.document_files``), with the real
parts: files written here, the real documents library and database, the built-in embedder
and the starter model. A file from disk goes into the "Attached files" collection (or is
the record a collection already has), the reply answers from only those files (whole when
they fit: "summarize this report"), beside any attached collection; a file still being
read is said; the passages' budget is held to a share of the context; the ids travel with
settings, presets and exports."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktopchat.core import exchange
from desktopchat.core.chat import GenerationParams
from desktopchat.core.documents.api import ATTACHED_COLLECTION
from desktopchat.core.documents.library import LocalDocumentLibrary
from desktopchat.core.documents.types import FileState
from desktopchat.core.inference.documents_prompt import (
    PASSAGES_MIN_TOKENS,
    PASSAGES_SHARE,
    WHOLE_INSTRUCTION,
    passages_cap,
)
from desktopchat.core.inference.llama import LlamaEngine
from desktopchat.core.inference.service import ChatService
from desktopchat.core.presets import Preset, preset_from_file
from desktopchat.core.session import Core
from tests.core.documents.test_chat_with_documents import (
    PARAMS,
    ask,
    indexed,
    open_library,
    write_collection,
)

REPORT = (
    "# Quarterly report\n\n"
    "Revenue of the Harbour Bakery grew by eleven percent in the third quarter. The new "
    "rye loaf sold best; flour prices rose, so margins stayed flat. The team plans a second "
    "oven for the winter season.\n"
)


@pytest.fixture
def library(tmp_path: Path, embedder_model: Path) -> Iterator[LocalDocumentLibrary]:
    found = open_library(tmp_path / "documents.sqlite3", embedder_model, index=False)
    yield found
    found.close()


def test_a_file_from_disk_goes_into_the_attached_files_collection(
    tmp_path: Path, library: LocalDocumentLibrary
) -> None:
    report = tmp_path / "report.md"
    report.write_text(REPORT, encoding="utf-8")
    attached = library.attach_file(report)
    assert attached.path == report and attached.state is FileState.WAITING  # listed at once
    (collection,) = library.collections()
    assert collection.name == ATTACHED_COLLECTION and collection.roots == (report,)
    assert attached.collection_id == collection.id
    assert library.wait(300)
    (read,) = library.files_by_id([attached.id])
    assert read.state is FileState.INDEXED and read.chunks > 0
    # Attached again: the same record, nothing added.
    assert library.attach_file(report).id == attached.id
    assert len(library.files(collection.id)) == 1

    # A file that a collection has already: that record (it is not indexed twice).
    folder = write_collection(tmp_path / "docs", others=False)
    manuals = indexed(library, folder)
    in_manuals = library.attach_file(folder / "warranty.md")
    assert in_manuals.collection_id == manuals and in_manuals.state is FileState.INDEXED
    assert len(library.files(collection.id)) == 1
    # ...unless it was removed from that collection: then it is attached on its own.
    library.remove_paths(manuals, [folder / "warranty.md"])
    again = library.attach_file(folder / "warranty.md")
    assert again.collection_id == collection.id and again.id != in_manuals.id

    with pytest.raises(ValueError, match="folder"):
        library.attach_file(folder)
    with pytest.raises(ValueError, match="cannot be read"):
        library.attach_file(tmp_path / "missing.pdf")
    # files_by_id: in the order asked, those that are gone left out.
    assert [f.id for f in library.files_by_id([again.id, 999_999, attached.id])] == [
        again.id,
        attached.id,
    ]


def test_summarize_an_attached_file_sends_its_whole_text_and_nothing_else(
    tmp_path: Path, core: Core, loaded_engine: LlamaEngine, library: LocalDocumentLibrary
) -> None:
    folder = write_collection(tmp_path / "docs", others=False)
    manuals = indexed(library, folder)  # in the library, not attached
    report = tmp_path / "report.md"
    report.write_text(REPORT, encoding="utf-8")
    attached = library.attach_file(report)
    assert library.wait(300)
    service = ChatService(core.conversations, loaded_engine, documents=library)
    params = PARAMS.with_changes(document_files=(attached.id,))
    conversation = core.conversations.create(params=params)
    result, started = ask(service, conversation.id, "Summarize this report.", params)
    record = core.conversations.prompt_for(result.assistant_message_id)
    assert record is not None and record.documents is not None
    documents = record.documents
    assert documents.mode == "whole" and documents.file_ids == (attached.id,)
    assert documents.collection_ids == ()
    assert [Path(s.path).name for s in documents.sources] == ["report.md"]
    assert WHOLE_INSTRUCTION in record.text
    assert "eleven percent in the third quarter" in record.text
    assert "espresso" not in record.text  # the unattached collection stays out
    assert started.documents is not None and started.documents.file_ids == (attached.id,)

    # A collection and a file together: both are answered from.
    both = params.with_changes(documents=(manuals,))
    result, _ = ask(service, conversation.id, "And the warranty?", both)
    record = core.conversations.prompt_for(result.assistant_message_id)
    assert record is not None and record.documents is not None
    assert {Path(s.path).name for s in record.documents.sources} == {"report.md", "warranty.md"}
    assert "five years" in record.text and "Harbour Bakery" in record.text

    # A file of a collection, picked alone: only it, not its collection's other files.
    chosen = next(f for f in library.files(manuals) if f.path.name == "warranty.md")
    (folder / "setup.md").write_text("# Setup\n\nFill the tank with cold water.\n")
    library.add_paths(manuals, [folder / "setup.md"])
    assert library.wait(300)
    one = PARAMS.with_changes(document_files=(chosen.id,))
    result, _ = ask(service, conversation.id, "Summarize it.", one)
    record = core.conversations.prompt_for(result.assistant_message_id)
    assert record is not None and record.documents is not None
    assert [Path(s.path).name for s in record.documents.sources] == ["warranty.md"]
    assert "cold water" not in record.text


def test_a_file_still_being_read_is_said_and_a_removed_one_too(
    tmp_path: Path, core: Core, loaded_engine: LlamaEngine, embedder_model: Path
) -> None:
    library = open_library(tmp_path / "documents.sqlite3", embedder_model, index=True)
    try:
        folder = write_collection(tmp_path / "docs", others=False)
        manuals = indexed(library, folder)
        library.pause()  # as the user can: the new file waits
        report = tmp_path / "report.md"
        report.write_text(REPORT, encoding="utf-8")
        attached = library.attach_file(report)
        service = ChatService(core.conversations, loaded_engine, documents=library)
        params = PARAMS.with_changes(documents=(manuals,), document_files=(attached.id,))
        conversation = core.conversations.create(params=params)
        result, started = ask(service, conversation.id, "How long is the warranty?", params)
        assert started.notices[0] == (
            "1 of 2 attached files are still being indexed: this answer uses what is "
            "indexed so far."
        )
        assert started.documents is not None and started.documents.still_indexing
        record = core.conversations.prompt_for(result.assistant_message_id)
        assert record is not None and "five years" in record.text  # what is indexed is used
        library.resume()
        deadline = time.monotonic() + 300  # a hang guard
        while library.files_by_id([attached.id])[0].state is not FileState.INDEXED:
            assert time.monotonic() < deadline, "the attached file was never read"
            time.sleep(0.1)

        # The file's collection is deleted: the chat says the file is gone and answers.
        library.delete_collection(attached.collection_id)
        only_file = PARAMS.with_changes(document_files=(attached.id,))
        result, started = ask(service, conversation.id, "What grew?", only_file)
        assert started.notices == ("One attached file is no longer in your documents.",)
        record = core.conversations.prompt_for(result.assistant_message_id)
        assert record is not None and record.documents is not None
        assert record.documents.mode == "none"
        last_turn = record.text[record.text.rindex("<|im_start|>user") :]
        assert last_turn.startswith("<|im_start|>user\nWhat grew?<|im_end|>")  # as asked
    finally:
        library.close()


def test_passages_get_a_quarter_of_the_context_and_whole_texts_all_that_is_free(
    core: Core, loaded_engine: LlamaEngine, manuals: tuple[LocalDocumentLibrary, int]
) -> None:
    library, collection_id = manuals
    n_ctx = loaded_engine.loaded.n_ctx if loaded_engine.loaded is not None else 0
    assert n_ctx >= 2048
    service = ChatService(core.conversations, loaded_engine, documents=library)
    params = PARAMS.with_changes(documents=(collection_id,))
    conversation = core.conversations.create(params=params)
    result, started = ask(
        service, conversation.id, "How long is the warranty period of the Zephyr 3000?", params
    )
    documents = started.documents
    assert documents is not None and documents.mode == "passages"
    assert documents.budget_tokens == int(n_ctx * PASSAGES_SHARE)
    assert 0 < documents.used_tokens <= documents.budget_tokens
    assert result.stats.documents_tokens == documents.used_tokens  # the context meter's share
    assert passages_cap(10_000, 4096) == 1024 and passages_cap(300, 4096) == 300
    assert passages_cap(10_000, 32_768) == 8192
    # A small context keeps what it can give (a quarter would not hold one passage).
    assert passages_cap(10_000, 1024) == PASSAGES_MIN_TOKENS and passages_cap(150, 256) == 150


@pytest.fixture(scope="module")
def manuals(
    tmp_path_factory: pytest.TempPathFactory, embedder_model: Path
) -> Iterator[tuple[LocalDocumentLibrary, int]]:
    tmp = tmp_path_factory.mktemp("manuals")
    found = open_library(tmp / "documents.sqlite3", embedder_model, index=False)
    collection_id = indexed(found, write_collection(tmp / "docs", others=True))
    yield found, collection_id
    found.close()


def test_attached_files_travel_with_settings_presets_and_exports(
    tmp_path: Path, core: Core
) -> None:
    params = GenerationParams(document_files=(4, 2, 4), documents=(1,))
    assert params.document_files == (4, 2)  # in order, once each
    assert GenerationParams.from_json(params.to_json()).document_files == (4, 2)
    assert GenerationParams.from_json('{"document_files": [7, 7]}').document_files == (7,)
    assert GenerationParams.from_json('{"document_files": [true]}').document_files == ()
    with pytest.raises(ValueError, match="files"):
        GenerationParams(document_files=(-1,)).validated()
    preset = preset_from_file(Preset(0, "Report helper", params).to_file())
    assert preset.params.document_files == (4, 2)
    assert preset.apply(GenerationParams()).document_files == (4, 2)
    conversation = core.conversations.create(params=params)
    out = tmp_path / "export.json"
    exchange.export_file(core.conversations, [conversation.id], "json", out)
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["conversations"][0]["params"]["document_files"] == [4, 2]
    imported = exchange.import_file(core.conversations, out)
    assert core.conversations.get(imported.ids[0]).params.document_files == (4, 2)
