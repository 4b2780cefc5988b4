"""Structured output on the real starter model: a llama.cpp grammar makes every reply
valid JSON, and valid for a JSON Schema when one is given."""

from __future__ import annotations

import json
import threading

import jsonschema
import pytest

from desktopchat.core.chat import GenerationParams, MessageStatus
from desktopchat.core.errors import GenerationError
from desktopchat.core.inference.llama import LlamaEngine
from desktopchat.core.inference.service import ChatService, ResumeMode
from desktopchat.core.session import Core

pytestmark = pytest.mark.real_model

PROMPTS = [
    "Describe a cat as JSON.",
    "List three fruits and their colors.",
    "Give me a person with a name and an age.",
    "What is the weather like on Mars?",
    "Extract: Tom Berg, 41, plumber in Leeds.",
    "Make a shopping list for pancakes.",
    "Summarize the plot of Romeo and Juliet.",
    "Return the numbers one to five.",
    "Describe the city of Paris.",
    "A book: title, author, year.",
    "Name two planets and their moons.",
    "Tell me a joke.",
    "Convert 3 kilometres to miles.",
    "What are the primary colors?",
    "Describe a car for sale.",
    "Extract: Lisa Wong, 29, teacher, lives in Toronto since 2020.",
    "Give a recipe for tea.",
    "A movie review of a film you like.",
    "List the days of the week.",
    "Hello!",
]

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}


def ask_all(core: Core, engine: LlamaEngine, params: GenerationParams) -> list[str]:
    service = ChatService(core.conversations, engine)
    replies = []
    for i, prompt in enumerate(PROMPTS):
        conversation = core.conversations.create(params=params)
        result = service.reply(
            conversation.id, prompt, params.with_changes(seed=i), threading.Event()
        )
        assert result.status is MessageStatus.COMPLETE, (prompt, result.text)
        stored = core.conversations.get_message(result.assistant_message_id).content
        assert stored == result.text
        replies.append(result.text)
    return replies


@pytest.mark.parametrize("with_schema", [False, True], ids=["any-json", "schema"])
def test_every_reply_parses(core: Core, loaded_engine: LlamaEngine, with_schema: bool) -> None:
    params = GenerationParams(
        temperature=0.7,
        max_tokens=384,
        n_ctx=2048,
        n_threads=2,
        json_mode=True,
        json_schema=json.dumps(SCHEMA) if with_schema else "",
    )
    replies = ask_all(core, loaded_engine, params)
    assert len(replies) == 20
    for reply in replies:
        value = json.loads(reply)  # raises if any reply is not JSON
        assert reply == json.dumps(value, indent=2, ensure_ascii=False)  # pretty-printed
        if with_schema:
            jsonschema.validate(value, SCHEMA)
        else:
            assert isinstance(value, dict)
    # Not only "{}": the grammar constrains the form, the model still answers.
    assert sum(reply != "{}" for reply in replies) >= 10


def test_bad_schemas_and_continuing_are_refused_clearly(
    core: Core, loaded_engine: LlamaEngine
) -> None:
    with pytest.raises(ValueError, match="not valid JSON"):
        GenerationParams(json_mode=True, json_schema="{type: object").validated()
    with pytest.raises(ValueError, match="must be a JSON object"):
        GenerationParams(json_mode=True, json_schema="[1, 2]").validated()
    params = GenerationParams(
        temperature=0.0,
        max_tokens=3,
        n_ctx=2048,
        n_threads=2,
        json_mode=True,
        json_schema=json.dumps(SCHEMA),
    )
    service = ChatService(core.conversations, loaded_engine)
    conversation = core.conversations.create(params=params)
    cut = service.reply(conversation.id, "Describe a dog.", params, threading.Event())
    # Three tokens cannot close the object: the reply is kept but marked as failed.
    assert cut.status is MessageStatus.ERROR and cut.finish_reason.value == "length"
    with pytest.raises(GenerationError, match="cannot be continued"):
        service.resume(
            conversation.id,
            cut.assistant_message_id,
            ResumeMode.CONTINUE,
            params,
            threading.Event(),
        )
    again = service.resume(
        conversation.id,
        cut.assistant_message_id,
        ResumeMode.REGENERATE,
        params.with_changes(max_tokens=256),
        threading.Event(),
    )
    jsonschema.validate(json.loads(again.text), SCHEMA)
