"""Chats answered from attached document collections, with the real parts: files written
here, the real documents library and database, the built-in embedder (llama.cpp) and the
starter model (SmolLM2). The numbered passages reach the prompt in the last user turn, the
sources are stored with the reply and read back after a restart, small collections go in
whole, a question asked while indexing runs says so, and the history before the passages
is reused by the prefix cache."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktopchat.core import exchange
from desktopchat.core.chat import (
    DocumentsUse,
    GenerationParams,
    GenerationStats,
    MessageStatus,
    Role,
    SourcePassage,
)
from desktopchat.core.documents.library import LocalDocumentLibrary
from desktopchat.core.documents.types import Embedder, Retrieved
from desktopchat.core.inference.documents_prompt import (
    EMPTY_INSTRUCTION,
    PASSAGES_INSTRUCTION,
    WHOLE_INSTRUCTION,
    documents_budget,
)
from desktopchat.core.inference.llama import LlamaEngine
from desktopchat.core.inference.llama.embedding import LlamaEmbedder
from desktopchat.core.inference.service import (
    ChatService,
    ReplyResult,
    ReplyStarted,
    ResumeMode,
)
from desktopchat.core.paths import AppPaths
from desktopchat.core.presets import Preset, preset_from_file
from desktopchat.core.session import Core, open_core

pytestmark = pytest.mark.real_model

WARRANTY = (
    "# Zephyr 3000 warranty\n\n"
    "The warranty period of the Zephyr 3000 espresso machine is five years from the date "
    "of purchase. The warranty covers the pump, the boiler and the grinder. It does not "
    "cover descaling, which the owner does every two months.\n"
)

# Other topics, each long enough that all of them together overflow a 2,048-token context.
TOPICS = {
    "garden.md": "Tomatoes need six hours of sun and deep watering twice a week. Mulch keeps "
    "the soil moist, and basil planted beside them keeps some pests away.",
    "bicycle.md": "Check the tyre pressure every week and oil the chain after riding in the "
    "rain. Brake pads wear out; replace them when the groove is gone.",
    "bread.md": "Knead the dough for ten minutes, let it rise until doubled, then shape the "
    "loaf and bake it at two hundred and twenty degrees for forty minutes.",
    "taxes.md": "Keep receipts for office supplies and travel. The tax return is due at the "
    "end of April, and late filing costs a fee each month.",
    "aquarium.md": "Change a quarter of the aquarium water every week, test the nitrite "
    "level, and never feed the fish more than they eat in two minutes.",
    "piano.md": "Practice scales slowly with a metronome, then raise the tempo. Tune the "
    "piano twice a year, after the heating season starts and ends.",
    "hiking.md": "Carry water, a map and a rain jacket on every hike. Tell someone your "
    "route, and turn back when the weather changes in the mountains.",
    "chess.md": "Control the centre early, develop the knights before the bishops, and "
    "castle to keep the king safe before attacking.",
}


def write_collection(folder: Path, *, others: bool) -> Path:
    folder.mkdir(parents=True)
    (folder / "warranty.md").write_text(WARRANTY, encoding="utf-8")
    if others:
        for name, text in TOPICS.items():
            title = name.removesuffix(".md").title()
            sections = [f"## {title} part {n}\n\n{text} (Note {n} on {title}.)" for n in range(8)]
            (folder / name).write_text(f"# {title}\n\n" + "\n\n".join(sections), encoding="utf-8")
    return folder


def open_library(database: Path, embedder_model: Path, *, index: bool) -> LocalDocumentLibrary:
    def make(model: Path | None) -> Embedder:
        return LlamaEmbedder(model or embedder_model, n_threads=2)

    return LocalDocumentLibrary(database, make, index=index)


@pytest.fixture
def library(tmp_path: Path, embedder_model: Path) -> Iterator[LocalDocumentLibrary]:
    """A library that indexes only in ``wait`` (as the CLI's), on the built-in embedder."""
    found = open_library(tmp_path / "documents.sqlite3", embedder_model, index=False)
    yield found
    found.close()


@pytest.fixture(scope="module")
def manuals(
    tmp_path_factory: pytest.TempPathFactory, embedder_model: Path
) -> Iterator[tuple[LocalDocumentLibrary, int]]:
    """The manuals and eight other topics, indexed once: too much for a 2,048-token context."""
    tmp = tmp_path_factory.mktemp("manuals")
    found = open_library(tmp / "documents.sqlite3", embedder_model, index=False)
    collection_id = indexed(found, write_collection(tmp / "docs", others=True))
    yield found, collection_id
    found.close()


class Recorder:
    def __init__(self) -> None:
        self.started: list[ReplyStarted] = []

    def on_reply_started(self, started: ReplyStarted) -> None:
        self.started.append(started)

    def on_reply_piece(self, text: str) -> None:
        pass

    def on_prompt_progress(self, done: int, total: int) -> None:
        pass


def ask(
    service: ChatService, conversation_id: int, text: str, params: GenerationParams
) -> tuple[ReplyResult, ReplyStarted]:
    recorder = Recorder()
    result = service.reply(conversation_id, text, params, threading.Event(), recorder)
    (started,) = recorder.started
    return result, started


def indexed(library: LocalDocumentLibrary, folder: Path, name: str = "Manuals") -> int:
    collection = library.create_collection(name)
    library.add_paths(collection.id, [folder])
    assert library.wait(300)
    return collection.id


PARAMS = GenerationParams(max_tokens=24, seed=1, temperature=0.0)


def test_numbered_passages_reach_the_prompt_and_the_sources_survive_a_restart(
    tmp_path: Path,
    paths: AppPaths,
    core: Core,
    loaded_engine: LlamaEngine,
    manuals: tuple[LocalDocumentLibrary, int],
) -> None:
    library, collection_id = manuals
    service = ChatService(core.conversations, loaded_engine, documents=library)
    params = PARAMS.with_changes(documents=(collection_id,))
    conversation = core.conversations.create(params=params)
    question = "How long is the warranty period of the Zephyr 3000?"
    result, started = ask(service, conversation.id, question, params)

    record = core.conversations.prompt_for(result.assistant_message_id)
    assert record is not None and record.documents is not None
    documents = record.documents
    assert documents.mode == "passages"  # the collection does not fit: the best passages
    sources = documents.sources
    assert [s.number for s in sources] == list(range(1, len(sources) + 1))
    assert Path(sources[0].path).name == "warranty.md"  # the best passage answers it
    assert "five years" in sources[0].text
    assert all(s.score > 0 for s in sources)
    assert all(s.keyword_rank is not None or s.vector_rank is not None for s in sources)
    assert 0 < documents.used_tokens <= documents.budget_tokens
    assert documents.collection_ids == (collection_id,)
    assert documents.retrieval_seconds > 0

    # The prompt: in the last user turn, each passage under its number, file and place.
    last_turn = record.text[record.text.rindex("<|im_start|>user") :]
    assert PASSAGES_INSTRUCTION in last_turn
    for s in sources:
        assert f"[{s.number}] {Path(s.path).name}" in last_turn
        assert s.text.strip() in last_turn
    assert sources[0].anchor and f"({sources[0].anchor})" in last_turn
    assert last_turn.index("[1]") < last_turn.index(question)
    assert PASSAGES_INSTRUCTION not in record.text[: record.text.rindex("<|im_start|>user")]
    # The stored message is the user's own words.
    user = core.conversations.get_message(result.user_message_id)
    assert user.role is Role.USER and user.content == question

    # The context meter's figure and the reply's stats agree.
    assert started.documents_tokens == documents.used_tokens == result.stats.documents_tokens
    assert started.documents == documents
    assert result.stats.documents == documents.excerpted()

    # After a restart: the Sources under the reply and the inspector's passages.
    core.close()
    again = open_core(paths)
    try:
        message = again.conversations.get_message(result.assistant_message_id)
        assert message.stats is not None and message.stats.documents == documents.excerpted()
        reread = again.conversations.prompt_for(result.assistant_message_id)
        assert reread is not None and reread.documents == documents
    finally:
        again.close()


def test_the_history_before_the_passages_is_reused(
    core: Core, loaded_engine: LlamaEngine, manuals: tuple[LocalDocumentLibrary, int]
) -> None:
    library, collection_id = manuals
    service = ChatService(core.conversations, loaded_engine, documents=library)
    conversation = core.conversations.create(params=PARAMS)
    first, _ = ask(service, conversation.id, "Hello! I have questions about my home.", PARAMS)
    params = PARAMS.with_changes(documents=(collection_id,))  # attached from now on

    # As the window's worker does while the user reads the reply: the history and the
    # next turn's opening are evaluated, and the next prompt starts with them.
    assert service.prepare_next_turn(conversation.id, params) > 0
    second_question = "How long is the warranty period of the Zephyr 3000?"
    second, _ = ask(service, conversation.id, second_question, params)
    assert second.stats.prompt_evaluated is not None
    question_tokens = len(loaded_engine.tokenize(second_question, add_bos=False))
    new_turn = second.stats.documents_tokens + question_tokens + 16  # and the turn's markers
    assert second.stats.prompt_evaluated <= new_turn < second.stats.prompt_tokens

    # The next question: its passages replace the last one's (which leave the history).
    # While the user reads, the last exchange is evaluated again without them (the worker
    # can cancel it), so the next prompt evaluates only its own passages and question.
    prepared = service.prepare_next_turn(conversation.id, params, threading.Event())
    exchange = len(loaded_engine.tokenize(second_question + second.text, add_bos=False))
    assert prepared >= exchange, "the last exchange, not only a turn's opening"
    third_question = "How often should the aquarium water be changed?"
    third, _ = ask(service, conversation.id, third_question, params)
    assert third.stats.prompt_evaluated is not None
    question_tokens = len(loaded_engine.tokenize(third_question, add_bos=False))
    assert third.stats.prompt_evaluated <= third.stats.documents_tokens + question_tokens + 16
    earlier = "Hello! I have questions about my home." + first.text + second_question + second.text
    reused = third.stats.prompt_tokens - third.stats.prompt_evaluated
    assert reused >= len(loaded_engine.tokenize(earlier, add_bos=False))
    record = core.conversations.prompt_for(third.assistant_message_id)
    assert record is not None and record.documents is not None
    assert Path(record.documents.sources[0].path).name == "aquarium.md"


def test_a_prepared_turn_keeps_the_reply_with_its_passages_for_a_regenerate(
    core: Core, loaded_engine: LlamaEngine, manuals: tuple[LocalDocumentLibrary, int]
) -> None:
    """The prefill after a documents reply replaces the context that held its passages:
    that context is saved first, so writing the reply again evaluates almost nothing; and
    without a way to cancel it (or once cancelled) it never evaluates a history."""
    library, collection_id = manuals
    service = ChatService(core.conversations, loaded_engine, documents=library)
    params = PARAMS.with_changes(documents=(collection_id,))
    conversation = core.conversations.create(params=params)
    asked, _ = ask(service, conversation.id, "How long is the Zephyr 3000 warranty?", params)
    assert service.prepare_next_turn(conversation.id, params) == 0  # no cancel: not a history
    stopped = threading.Event()
    stopped.set()
    assert service.prepare_next_turn(conversation.id, params, stopped) == 0  # cancelled
    assert service.prepare_next_turn(conversation.id, params, threading.Event()) > 0
    again = service.resume(
        conversation.id,
        asked.assistant_message_id,
        ResumeMode.REGENERATE,
        params,
        threading.Event(),
    )
    assert again.stats.prompt_evaluated is not None
    assert again.stats.documents_tokens > 100
    assert again.stats.prompt_evaluated < again.stats.documents_tokens  # restored, not redone
    assert again.text == asked.text  # greedy: the same prompt, the same reply


def test_a_small_collection_goes_in_whole(
    tmp_path: Path, core: Core, loaded_engine: LlamaEngine, library: LocalDocumentLibrary
) -> None:
    collection_id = indexed(library, write_collection(tmp_path / "docs", others=False))
    service = ChatService(core.conversations, loaded_engine, documents=library)
    params = PARAMS.with_changes(documents=(collection_id,))
    conversation = core.conversations.create(params=params)
    result, started = ask(service, conversation.id, "Summarize this document.", params)
    record = core.conversations.prompt_for(result.assistant_message_id)
    assert record is not None and record.documents is not None
    assert record.documents.whole and record.documents.mode == "whole"
    assert WHOLE_INSTRUCTION in record.text
    for sentence in WARRANTY.replace("#", "").split(". "):
        assert sentence.strip().rstrip(".\n") in record.text
    assert result.stats.documents is not None and result.stats.documents.whole
    assert not any("indexed" in n for n in started.notices)


def test_a_question_asked_while_indexing_says_so_and_uses_what_is_indexed(
    tmp_path: Path, core: Core, loaded_engine: LlamaEngine, embedder_model: Path
) -> None:
    # As the window's library: it indexes on its own threads (paused here by the user).
    library = open_library(tmp_path / "documents.sqlite3", embedder_model, index=True)
    try:
        folder = write_collection(tmp_path / "docs", others=False)
        collection_id = indexed(library, folder)
        library.pause()
        (folder / "later.md").write_text("# Later\n\nThe descaling kit costs twelve euros.\n")
        library.add_paths(collection_id, [folder / "later.md"])
        deadline = time.monotonic() + 120  # a hang guard: the scan lists it at once
        while not any(f.path.name == "later.md" for f in library.files(collection_id)):
            assert time.monotonic() < deadline, "the new file was never listed"
            time.sleep(0.1)
        service = ChatService(core.conversations, loaded_engine, documents=library)
        params = PARAMS.with_changes(documents=(collection_id,))
        conversation = core.conversations.create(params=params)
        result, started = ask(service, conversation.id, "How long is the warranty?", params)
        assert started.notices[0] == (
            "1 of 2 attached files are still being indexed: this answer uses what is "
            "indexed so far."
        )
        assert started.documents is not None and started.documents.still_indexing
        record = core.conversations.prompt_for(result.assistant_message_id)
        assert record is not None and "five years" in record.text  # what is indexed is used
        assert result.stats.documents is not None and result.stats.documents.still_indexing
    finally:
        library.close()


def test_a_collection_that_is_gone_or_fails_leaves_the_question_as_it_was(
    tmp_path: Path, core: Core, loaded_engine: LlamaEngine, library: LocalDocumentLibrary
) -> None:
    collection_id = indexed(library, write_collection(tmp_path / "docs", others=False))
    library.delete_collection(collection_id)
    service = ChatService(core.conversations, loaded_engine, documents=library)
    params = PARAMS.with_changes(documents=(collection_id,))
    conversation = core.conversations.create(params=params)
    result, started = ask(service, conversation.id, "How long is the warranty?", params)
    assert started.notices == ("One attached document collection no longer exists.",)
    record = core.conversations.prompt_for(result.assistant_message_id)
    assert record is not None and record.documents is not None
    assert record.documents.mode == "none" and not record.documents.sources
    assert "warranty?<|im_end|>" in record.text and "[1]" not in record.text

    # Fault injection: the library fails while searching; the reply still comes.
    class FailingLibrary(LocalDocumentLibrary):
        def retrieve(self, *args: object, **kwargs: object) -> Retrieved:
            raise OSError("the disk went away")

    broken = FailingLibrary(tmp_path / "documents.sqlite3", lambda _p: _no_embedder(), index=False)
    try:
        attached = broken.create_collection("Other")
        params = PARAMS.with_changes(documents=(attached.id,))
        failing = ChatService(core.conversations, loaded_engine, documents=broken)
        result, started = ask(failing, conversation.id, "And now?", params)
        assert started.notices and "could not be searched" in started.notices[0]
        assert result.text or result.stats.completion_tokens >= 0
    finally:
        broken.close()


def _no_embedder() -> Embedder:
    raise AssertionError("not used")


def test_nothing_found_is_said_in_the_prompt(
    tmp_path: Path, core: Core, loaded_engine: LlamaEngine, library: LocalDocumentLibrary
) -> None:
    collection = library.create_collection("Empty")
    (tmp_path / "empty").mkdir()
    library.add_paths(collection.id, [tmp_path / "empty"])
    assert library.wait(60)
    service = ChatService(core.conversations, loaded_engine, documents=library)
    params = PARAMS.with_changes(documents=(collection.id,))
    conversation = core.conversations.create(params=params)
    result, _ = ask(service, conversation.id, "What is in there?", params)
    record = core.conversations.prompt_for(result.assistant_message_id)
    assert record is not None and EMPTY_INSTRUCTION in record.text
    assert record.documents is not None and record.documents.mode == "none"


def test_attached_collections_travel_with_settings_presets_and_exports(
    tmp_path: Path, core: Core
) -> None:
    params = GenerationParams(documents=(3, 1, 3))
    assert params.documents == (3, 1)  # in order, once each
    assert GenerationParams.from_json(params.to_json()).documents == (3, 1)
    assert GenerationParams.from_json('{"documents": [2, 2, 5]}').documents == (2, 5)
    assert GenerationParams.from_json('{"documents": ["x"]}').documents == ()  # ignored
    with pytest.raises(ValueError, match="collections"):
        GenerationParams(documents=(0,)).validated()
    preset = preset_from_file(Preset(0, "Manuals helper", params).to_file())
    assert preset.params.documents == (3, 1)
    assert preset.apply(GenerationParams()).documents == (3, 1)

    use = DocumentsUse("whole", (3,), 900, 120)
    conversation = core.conversations.create(params=params)
    user = core.conversations.add_message(conversation.id, Role.USER, "Sum it up.", parent_id=None)
    source = SourcePassage(1, 7, 2, 3, "/docs/a.md", "lines 1-4", line_start=1, line_end=4)
    stats = GenerationStats(
        documents_tokens=120,
        documents=DocumentsUse(
            use.mode, use.collection_ids, use.budget_tokens, use.used_tokens, (source,)
        ),
    )
    reply = core.conversations.add_message(
        conversation.id, Role.ASSISTANT, "It is about a. [1]", parent_id=user.id
    )
    core.conversations.update_message(reply.id, reply.content, MessageStatus.COMPLETE, stats=stats)
    out = tmp_path / "export.json"
    exchange.export_file(core.conversations, [conversation.id], "json", out)
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["conversations"][0]["params"]["documents"] == [3, 1]
    imported = exchange.import_file(core.conversations, out)
    copy = imported.ids[0]
    assert core.conversations.get(copy).params.documents == (3, 1)
    answer = core.conversations.active_path(copy)[-1]
    assert answer.stats is not None and answer.stats.documents is not None
    assert answer.stats.documents.sources == (source,)
    for kind in ("md", "html"):  # what the window shows under the reply
        page = tmp_path / f"export.{kind}"
        exchange.export_file(core.conversations, [conversation.id], kind, page)
        assert "[1] a.md (lines 1-4)" in page.read_text(encoding="utf-8")


def test_the_documents_get_at_least_half_of_what_is_free() -> None:
    # no history: all that is free
    assert (
        documents_budget(
            n_ctx=4096, reserve=512, fixed_tokens=100, prompt_tokens=100, overflow="drop"
        )
        == 4096 - 512 - 100
    )
    # a long history: half of what is free after the fixed part, the rest stays history
    free = 4096 - 512 - 100
    assert (
        documents_budget(
            n_ctx=4096, reserve=512, fixed_tokens=100, prompt_tokens=3400, overflow="drop"
        )
        == free // 2
    )
    # "stop": the history is never cut for documents
    assert (
        documents_budget(
            n_ctx=4096, reserve=512, fixed_tokens=100, prompt_tokens=3400, overflow="stop"
        )
        == 4096 - 512 - 3400  # what the history leaves
    )


def test_indexing_is_told_to_yield_while_the_reply_streams(
    tmp_path: Path, core: Core, loaded_engine: LlamaEngine, library: LocalDocumentLibrary
) -> None:
    """The service (not the window) tells the library a reply streams, from before the
    question's retrieval until the reply has ended; the window used to tell it too, from
    task-pool threads that could deliver the two calls out of order."""
    collection_id = indexed(library, write_collection(tmp_path / "docs", others=False))
    told: list[tuple[str, bool]] = []
    real = library.set_reply_streaming

    def spy(streaming: bool) -> None:
        told.append(("told", streaming))
        real(streaming)

    library.set_reply_streaming = spy  # type: ignore[method-assign]

    class Pieces(Recorder):
        def on_reply_piece(self, text: str) -> None:
            told.append(("piece", True))

    service = ChatService(core.conversations, loaded_engine, documents=library)
    params = PARAMS.with_changes(documents=(collection_id,))
    conversation = core.conversations.create(params=params)
    service.reply(
        conversation.id, "What does the warranty cover?", params, threading.Event(), Pieces()
    )
    assert told[0] == ("told", True) and told[-1] == ("told", False)
    assert [t for t in told if t[0] == "told"] == [("told", True), ("told", False)]
    assert ("piece", True) in told[1:-1]


def test_a_history_the_next_prompt_would_cut_is_not_prepared(
    core: Core, loaded_engine: LlamaEngine, manuals: tuple[LocalDocumentLibrary, int]
) -> None:
    """With older turns that leave no room for a reply beside them, the next prompt leaves
    some out: evaluating the whole history again while the user reads would be wasted."""
    library, collection_id = manuals
    service = ChatService(core.conversations, loaded_engine, documents=library)
    params = PARAMS.with_changes(documents=(collection_id,), max_tokens=900)
    conversation = core.conversations.create(params=params)
    long = " ".join(f"note {n} about the garden shed" for n in range(180))
    user = core.conversations.add_message(conversation.id, Role.USER, long, parent_id=None)
    core.conversations.add_message(conversation.id, Role.ASSISTANT, "Noted.", parent_id=user.id)
    ask(service, conversation.id, "How long is the Zephyr 3000 warranty?", params)
    history = loaded_engine.tokenize(long, add_bos=False)
    assert len(history) + 900 >= 2048  # the loaded engine's context
    assert service.prepare_next_turn(conversation.id, params, threading.Event()) == 0
