"""Templates that refuse a system role (Gemma 2, Mistral 7B Instruct v0.1/v0.2) get the system
prompt in the first user message; templates that accept one (ChatML/SmolLM2, Llama 3) are
unchanged. The template texts are the models' own (tests/data/templates/README.md)."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from desktopchat.core.chat import GenerationParams, Role
from desktopchat.core.errors import TemplateError
from desktopchat.core.inference.engine import LoadedModel
from desktopchat.core.inference.llama import LlamaEngine
from desktopchat.core.inference.prompt import (
    SYSTEM_FOLDED,
    ChatMessage,
    ChatTemplate,
    example_messages,
    plan_prompt,
    template_description,
)
from desktopchat.core.inference.service import ChatService, NullListener, ReplyStarted
from desktopchat.core.session import Core
from desktopchat.ui.inspector import describe

TEMPLATES = Path(__file__).resolve().parent.parent / "data" / "templates"
SYSTEM = "Answer in French."


def real(name: str, bos: str = "", eos: str = "") -> ChatTemplate:
    return ChatTemplate((TEMPLATES / name).read_text(encoding="utf-8"), bos_text=bos, eos_text=eos)


def gemma2() -> ChatTemplate:
    return real("gemma-2-2b-it.jinja", "<bos>", "<eos>")


def mistral(version: str) -> ChatTemplate:
    return real(f"mistral-7b-instruct-{version}.jinja", "<s>", "</s>")


def chat(*turns: str, system: str = SYSTEM) -> list[ChatMessage]:
    roles = (Role.USER, Role.ASSISTANT)
    messages = [ChatMessage(roles[i % 2], text) for i, text in enumerate(turns)]
    return [ChatMessage(Role.SYSTEM, system), *messages] if system else messages


def words(text: str) -> list[int]:
    return [len(w) for w in text.split()]


def test_the_real_templates_refuse_a_system_message_as_such() -> None:
    """What the bug was: each of these raised, so every chat with a system prompt failed."""
    for template, message in (
        (gemma2(), "System role not supported"),
        (mistral("v0.1"), "roles must alternate"),
        (mistral("v0.2"), "roles must alternate"),
    ):
        with pytest.raises(TemplateError, match=message):
            template._render(chat("hi"), True)


def test_gemma2_gets_the_system_prompt_in_the_first_user_turn() -> None:
    rendered = gemma2().render_prompt(chat("Hello"))
    assert rendered.system_folded
    assert rendered.text == (
        "<bos><start_of_turn>user\nAnswer in French.\n\nHello<end_of_turn>\n<start_of_turn>model\n"
    )


@pytest.mark.parametrize("version", ["v0.1", "v0.2"])
def test_mistral_gets_the_system_prompt_in_the_first_user_turn(version: str) -> None:
    rendered = mistral(version).render_prompt(chat("Hello"))
    assert rendered.system_folded
    assert rendered.text == "<s>[INST] Answer in French.\n\nHello [/INST]"


@pytest.mark.parametrize("version", ["v0.1", "v0.2"])
def test_strict_alternation_with_a_history_renders(version: str) -> None:
    rendered = mistral(version).render_prompt(chat("Hello", "Bonjour", "Who are you?"))
    assert rendered.system_folded
    after = " " if version == "v0.1" else ""  # v0.1 puts a space after </s>
    assert rendered.text == (
        f"<s>[INST] Answer in French.\n\nHello [/INST]Bonjour</s>{after}[INST] Who are you? [/INST]"
    )
    gemma = gemma2().render_prompt(chat("Hello", "Bonjour", "Who are you?")).text
    assert gemma.index("Answer in French.\n\nHello") < gemma.index("<start_of_turn>model\nBonjour")
    assert gemma.count("<start_of_turn>user") == 2 and "system" not in gemma


def test_few_shot_examples_render_after_the_folded_system_prompt() -> None:
    examples = example_messages([("2+2?", "4"), ("3+3?", "6")])
    history = [ChatMessage(Role.USER, "5+5?")]
    for template in (gemma2(), mistral("v0.1"), mistral("v0.2")):
        plan = plan_prompt(
            template, words, SYSTEM, history, n_ctx=4096, max_tokens=64, examples=examples
        )
        assert plan.system_folded
        text = plan.text
        assert text.index("Answer in French.\n\n2+2?") < text.index("3+3?") < text.index("5+5?")
        assert plan.preamble_tokens > 0
        description = template_description(template, plan)
        assert SYSTEM_FOLDED in description and "fallback" in description


def test_a_system_prompt_alone_becomes_the_first_user_message() -> None:
    rendered = gemma2().render_prompt(chat(), add_generation_prompt=False)
    assert rendered.text == "<bos><start_of_turn>user\nAnswer in French.<end_of_turn>\n"


def test_templates_with_a_system_role_keep_it() -> None:
    smollm2 = real("smollm2-135m-instruct.jinja")
    rendered = smollm2.render_prompt(chat("Hello"))
    assert not rendered.system_folded
    assert rendered.text == (
        "<|im_start|>system\nAnswer in French.<|im_end|>\n"
        "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
    )
    llama3 = real("llama-3-8b-instruct.jinja", "<|begin_of_text|>")
    rendered = llama3.render_prompt(chat("Hello", "Bonjour", "Who are you?"))
    assert not rendered.system_folded
    assert rendered.text.startswith(
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nAnswer in French.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
    )
    plan = plan_prompt(smollm2, words, SYSTEM, chat("Hi", system=""), n_ctx=4096, max_tokens=64)
    assert not plan.system_folded
    assert template_description(smollm2, plan) == "the model's own"


def test_without_a_system_prompt_nothing_is_folded() -> None:
    rendered = gemma2().render_prompt(chat("Hello", system=""))
    assert not rendered.system_folded
    assert rendered.text == "<bos><start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n"


def test_a_template_that_fails_for_other_reasons_still_fails() -> None:
    broken = ChatTemplate("{{ raise_exception('no chats today') }}")
    with pytest.raises(TemplateError, match="no chats today"):
        broken.render(chat("Hello"))
    with pytest.raises(TemplateError, match="roles must alternate"):  # two user turns in a row
        mistral("v0.2").render([*chat("Hello"), ChatMessage(Role.USER, "Again")])


class _WithTemplate:
    """The real engine, showing its model with another chat template (SmolLM2 reads any
    text; the template decides the prompt's form)."""

    def __init__(self, engine: LlamaEngine, template: str) -> None:
        self._engine = engine
        self._template = template

    @property
    def loaded(self) -> LoadedModel | None:
        model = self._engine.loaded
        return model and dataclasses.replace(model, chat_template=self._template)

    def __getattr__(self, name: str) -> object:
        return getattr(self._engine, name)


class _Started(NullListener):
    def __init__(self) -> None:
        self.started: ReplyStarted | None = None

    def on_reply_started(self, started: ReplyStarted) -> None:
        self.started = started


def test_a_reply_with_gemma2s_template_says_the_system_prompt_was_folded(
    core: Core, loaded_engine: LlamaEngine
) -> None:
    template = (TEMPLATES / "gemma-2-2b-it.jinja").read_text(encoding="utf-8")
    engine = _WithTemplate(loaded_engine, template)
    service = ChatService(core.conversations, engine)  # type: ignore[arg-type]
    params = GenerationParams(system_prompt=SYSTEM, max_tokens=4, temperature=0.0, seed=1)
    conv = core.conversations.create(params=params)
    listener = _Started()
    result = service.reply(conv.id, "Hello", params, threading.Event(), listener)
    assert listener.started is not None and listener.started.system_folded
    assert SYSTEM_FOLDED in listener.started.template and "fallback" in listener.started.template
    record = core.conversations.prompt_for(result.assistant_message_id)
    assert record is not None
    assert "<start_of_turn>user\nAnswer in French.\n\nHello<end_of_turn>" in record.text
    message = core.conversations.get_message(result.assistant_message_id)
    summary = describe(message, record)
    assert "System prompt" in summary and "first user message" in summary
    # the same service with the starter model's own template keeps the system role
    plain = ChatService(core.conversations, loaded_engine)
    listener = _Started()
    result = plain.reply(conv.id, "Again", params, threading.Event(), listener)
    assert listener.started is not None and not listener.started.system_folded
    record = core.conversations.prompt_for(result.assistant_message_id)
    assert record is not None and "<|im_start|>system\nAnswer in French.<|im_end|>" in record.text
    summary = describe(core.conversations.get_message(result.assistant_message_id), record)
    assert "System prompt" not in summary
