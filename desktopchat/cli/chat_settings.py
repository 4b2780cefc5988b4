"""The settings of one ``chat``: what it sends (the prompt, from the command line or
standard input), which model answers, and the per-chat settings (a preset, then the
flags, then files for the system prompt, examples and JSON Schema), validated with a
one-line reason before anything is loaded."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from desktopchat.cli.output import note
from desktopchat.core.chat import Conversation, GenerationParams, Role
from desktopchat.core.errors import DesktopChatError, ModelError
from desktopchat.core.models.library import InstalledModel, default_params
from desktopchat.core.presets import Preset, parse_examples
from desktopchat.core.session import Core

# command-line option -> GenerationParams field, for the options that are the value itself
FLAG_FIELDS = (
    ("system", "system_prompt"),
    ("temperature", "temperature"),
    ("top_k", "top_k"),
    ("top_p", "top_p"),
    ("min_p", "min_p"),
    ("repeat_penalty", "repeat_penalty"),
    ("max_tokens", "max_tokens"),
    ("seed", "seed"),
    ("context", "n_ctx"),
    ("threads", "n_threads"),
    ("gpu_layers", "n_gpu_layers"),
    ("flash_attn", "flash_attn"),
    ("kv_cache", "kv_cache_type"),
    ("overflow", "overflow"),
    ("json_mode", "json_mode"),
    ("tool_choice", "tool_choice"),
    ("thinking", "thinking"),
    ("thinking_budget", "thinking_budget"),
    ("max_tool_steps", "max_tool_steps"),
)


@dataclass(frozen=True)
class ChatSetup:
    prompt: str
    model: InstalledModel
    conversation: Conversation | None  # None: a new one
    params: GenerationParams


def chat_setup(args: argparse.Namespace, core: Core) -> ChatSetup:
    """Everything ``chat`` needs, checked; raises DesktopChatError with the reason."""
    prompt = read_prompt(args.prompt)
    conversation = None
    if args.conversation is not None:
        conversation = core.conversations.get(args.conversation)
    model = choose_model(core, args.model, conversation)
    if conversation is not None:
        base = conversation.params
    else:
        base = default_params(model, core.model_records)
    params = chat_params(args, base, core)
    return ChatSetup(prompt, model, conversation, params)


def read_prompt(given: str) -> str:
    """The message: the argument, or standard input when it is ``-`` (UTF-8, the final
    line break dropped)."""
    text = given
    if given == "-":
        if sys.stdin.isatty():
            note("Type the message, then press Ctrl-D on a line of its own:")
        data = sys.stdin.buffer.read()
        try:
            text = data.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            raise DesktopChatError(
                f"Standard input is not UTF-8 text (byte {exc.start} cannot be read); "
                "send the message as UTF-8."
            ) from None
        text = text.rstrip("\r\n")
    if not text.strip():
        raise DesktopChatError("The message is empty. Type something to send.")
    return text


def choose_model(
    core: Core, wanted: str | None, conversation: Conversation | None
) -> InstalledModel:
    """``--model`` when given; else the model the conversation uses (its stored model,
    then the model of its last reply); else, or when that model is gone (said on
    stderr), the default one."""
    if wanted or conversation is None:
        return _usable(core.library.find(wanted))
    used = [conversation.model_path] if conversation.model_path else []
    used += [
        m.model
        for m in reversed(core.conversations.active_path(conversation.id))
        if m.role is Role.ASSISTANT and m.model
    ][:1]
    for name in used:
        try:
            found = core.library.find(name)
        except ModelError:
            continue
        if found.info is not None:
            return found
    default = _usable(core.library.find(None))
    if used:
        note(
            f"note: the model this conversation used ({used[0]}) is not installed; "
            f"{default.name} answers instead"
        )
    return default


def _usable(model: InstalledModel) -> InstalledModel:
    if model.info is None:
        raise DesktopChatError(model.problem)
    return model


def chat_params(args: argparse.Namespace, base: GenerationParams, core: Core) -> GenerationParams:
    """``base`` with the preset, then every setting given, applied; validated."""
    params = base
    if args.preset is not None:
        params = find_preset(core, args.preset).apply(params)
    changes: dict[str, object] = {
        field: getattr(args, option)
        for option, field in FLAG_FIELDS
        if getattr(args, option) is not None
    }
    if args.tool:
        changes["tools"] = tuple(args.tool)
    if args.system_file is not None:
        changes["system_prompt"] = read_text(args.system_file, "system prompt")
    if args.examples_file is not None:
        try:
            changes["examples"] = parse_examples(read_text(args.examples_file, "examples"))
        except ValueError as exc:
            raise DesktopChatError(f"The examples file {args.examples_file}: {exc}.") from None
    if args.json_schema is not None:
        schema = read_text(args.json_schema, "JSON Schema")
        if not schema.strip():
            raise DesktopChatError(f"The JSON Schema file {args.json_schema} is empty.")
        if args.json_mode is False:
            raise DesktopChatError(
                "--json-schema constrains the reply to JSON: leave out --no-json-mode."
            )
        changes["json_schema"] = schema
        changes["json_mode"] = True
    try:
        return params.with_changes(**changes).validated()
    except ValueError as exc:
        raise DesktopChatError(f"Invalid setting: {exc}.") from None


def find_preset(core: Core, name: str) -> Preset:
    """A preset by its name (any case) or a shipped one by its key ("json", "code")."""
    presets = core.presets.all()
    wanted = " ".join(name.split()).casefold()
    for preset in presets:
        if wanted in (preset.name.casefold(), preset.builtin):
            return preset
    names = ", ".join(p.name for p in presets) or "none"
    raise DesktopChatError(f"There is no preset {name!r}. Presets: {names}.")


def read_text(path: str, what: str) -> str:
    """A UTF-8 text file given on the command line, or a one-line reason it cannot be read."""
    try:
        return Path(path).expanduser().read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DesktopChatError(f"The {what} file {path} does not exist.") from None
    except IsADirectoryError:
        raise DesktopChatError(f"The {what} file {path} is a folder.") from None
    except UnicodeDecodeError:
        raise DesktopChatError(f"The {what} file {path} is not UTF-8 text.") from None
    except OSError as exc:
        raise DesktopChatError(f"The {what} file {path} cannot be read: {exc.strerror}.") from None
