"""The storage side of the conversation features, on a real SQLite file: branches, delete
and undo, the trash, pins, titles, stored prompts, summaries and presets."""

from __future__ import annotations

import json
import time

import pytest

from desktopchat.core.chat import GenerationParams, PromptRecord, Role
from desktopchat.core.inference.service import clean_title_text
from desktopchat.core.presets import (
    BUILTIN_PRESETS,
    Preset,
    PresetFileError,
    format_examples,
    parse_examples,
    preset_from_file,
)
from desktopchat.core.session import Core


def test_branches_delete_and_undo(core: Core) -> None:
    repo = core.conversations
    conv = repo.create()
    q1 = repo.add_message(conv.id, Role.USER, "question", parent_id=None)
    a1 = repo.add_message(conv.id, Role.ASSISTANT, "answer one", parent_id=q1.id)
    a2 = repo.add_message(conv.id, Role.ASSISTANT, "answer two", parent_id=q1.id)
    q2 = repo.add_message(conv.id, Role.USER, "follow-up", parent_id=a2.id)
    assert repo.children(conv.id) == {None: [q1.id], q1.id: [a1.id, a2.id], a2.id: [q2.id]}
    assert repo.switch_branch(conv.id, a1.id) == a1.id
    assert [m.id for m in repo.active_path(conv.id)] == [q1.id, a1.id]
    assert repo.switch_branch(conv.id, a2.id) == q2.id  # down to the newest leaf there
    repo.save_prompt(PromptRecord(a2.id, "<prompt>", 7, "model", GenerationParams()))

    deleted = repo.delete_branch(a2.id)
    assert [m.id for m in deleted.messages] == [a2.id, q2.id]
    assert [m.id for m in repo.active_path(conv.id)] == [q1.id, a1.id]  # the sibling
    assert repo.search("follow") == []  # out of the search index too
    repo.undo_delete(deleted)
    path = repo.active_path(conv.id)
    assert [m.content for m in path] == ["question", "answer two", "follow-up"]
    record = repo.prompt_for(path[1].id)
    assert record is not None and record.text == "<prompt>" and record.n_tokens == 7
    assert [h.message_id for h in repo.search("follow")] == [path[2].id]
    root = repo.delete_branch(q1.id)  # everything
    assert repo.active_path(conv.id) == [] and len(root.messages) == 4


def test_trash_pins_and_titles(core: Core) -> None:
    repo = core.conversations
    a, b, c = (repo.create(title=t) for t in ("A", "B", "C"))
    repo.add_message(a.id, Role.USER, "zebra crossing", parent_id=None)
    repo.set_pinned(a.id, True)
    assert [s.id for s in repo.summaries()] == [a.id, c.id, b.id]
    repo.move_to_trash(a.id)
    assert [s.id for s in repo.summaries()] == [c.id, b.id]
    assert [s.id for s in repo.summaries(trash=True)] == [a.id]
    assert repo.search("zebra") == []  # trashed conversations are not searched
    repo.restore_from_trash(a.id)
    assert [h.conversation_id for h in repo.search("zebra")] == [a.id]
    repo.move_to_trash(b.id)
    assert repo.empty_trash(older_than_days=30) == 0  # too recent
    with core.db.write() as conn:
        conn.execute("UPDATE conversations SET deleted_at = ?", (time.time() - 31 * 86400,))
        conn.execute("UPDATE conversations SET deleted_at = NULL WHERE id != ?", (b.id,))
    assert repo.empty_trash(older_than_days=30) == 1
    assert [s.id for s in repo.summaries()] == [a.id, c.id]
    # Titles: the first message's, then the model's, never over the user's.
    assert repo.get(a.id).title == "A" and repo.get(a.id).title_source == "message"
    assert repo.set_auto_title(a.id, "  Zebra\ncrossings ")
    assert repo.get(a.id).title == "Zebra crossings" and repo.get(a.id).title_source == "model"
    repo.rename(a.id, "Mine")
    assert not repo.set_auto_title(a.id, "Other") and repo.get(a.id).title == "Mine"


def test_presets_ship_hide_restore_and_travel_as_files(core: Core) -> None:
    presets = core.presets
    shipped = presets.all()
    assert [p.name for p in shipped] == [p.name for p in BUILTIN_PRESETS]
    json_preset = shipped[-1]
    assert json_preset.params.json_mode and json_preset.params.examples
    presets.delete(json_preset.id)
    assert json_preset.id not in [p.id for p in presets.all()]  # hidden, not back next time
    presets.restore_builtins()
    assert presets.all()[-1].name == "JSON extractor"
    mine = presets.save(
        Preset(0, " My  helper ", GenerationParams(system_prompt="Be kind.", top_k=7))
    )
    assert mine.name == "My helper"
    text = mine.to_file()
    raw = json.loads(text)
    assert raw["format"] == "desktopchat-preset" and "n_ctx" not in raw  # no model settings
    again = preset_from_file(text)
    assert again.params.system_prompt == "Be kind." and again.params.top_k == 7
    applied = again.apply(GenerationParams(n_ctx=8192, temperature=1.2))
    assert applied.n_ctx == 8192 and applied.temperature == 0.7 and applied.top_k == 7
    presets.delete(mine.id)
    assert mine.id not in [p.id for p in presets.all()]
    for bad, reason in (
        ("{", "not JSON"),
        ('{"format": "other"}', "not a DesktopChat preset"),
        ('{"format": "desktopchat-preset", "version": 9, "name": "x"}', "newer"),
        ('{"format": "desktopchat-preset", "version": 1, "name": "x", "top_p": 7}', "top-p"),
    ):
        with pytest.raises(PresetFileError, match=reason):
            preset_from_file(bad)


def test_model_titles_are_cleaned() -> None:
    assert clean_title_text("```python\ndef f(): pass\n```") == "def f(): pass"
    assert clean_title_text('Title: "Paris, the capital".\nMore') == "Paris, the capital"
    assert clean_title_text("**`Sea` haiku**") == "Sea haiku"
    assert clean_title_text("```\n```") == ""


def test_examples_text_round_trip_and_params_json() -> None:
    examples = (("Hi\nthere", "Hello!"), ("2+2?", "4"))
    text = format_examples(examples)
    assert parse_examples(text) == examples
    assert parse_examples("") == ()
    with pytest.raises(ValueError, match="needs an"):
        parse_examples("User: only a question")
    with pytest.raises(ValueError, match="start with"):
        parse_examples("stray text")
    params = GenerationParams(examples=examples, json_mode=True, overflow="summarize")
    assert GenerationParams.from_json(params.to_json()) == params
    with pytest.raises(ValueError, match="overflow"):
        GenerationParams(overflow="explode").validated()
