"""Presets (saved assistants): a system prompt, sampling settings and optional few-shot
examples, chosen when a chat starts. Five ship with the app; users add their own, and
presets travel as small JSON files."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from desktopchat.core.chat import PRESET_FIELDS, GenerationParams

PRESET_FORMAT = "desktopchat-preset"
PRESET_VERSION = 1


@dataclass(frozen=True)
class Preset:
    id: int  # 0: not stored yet
    name: str
    params: GenerationParams  # only PRESET_FIELDS count
    builtin: str = ""  # the key of a shipped preset, "" for the user's own

    def apply(self, params: GenerationParams) -> GenerationParams:
        """``params`` (the model's settings) with this preset's prompt, sampling and
        examples."""
        return params.with_changes(**{f: getattr(self.params, f) for f in PRESET_FIELDS})

    def to_file(self) -> str:
        chosen = {f: asdict(self.params)[f] for f in PRESET_FIELDS}
        return json.dumps(
            {"format": PRESET_FORMAT, "version": PRESET_VERSION, "name": self.name, **chosen},
            indent=2,
            ensure_ascii=False,
        )


class PresetFileError(ValueError):
    pass


def preset_from_file(text: str) -> Preset:
    """A preset file written by ``Preset.to_file`` (unknown keys are ignored)."""
    try:
        raw: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PresetFileError(f"This is not a preset file: it is not JSON ({exc.msg}).") from None
    if not isinstance(raw, dict) or raw.get("format") != PRESET_FORMAT:
        raise PresetFileError("This is not a DesktopChat preset file.")
    if not isinstance(raw.get("version"), int) or raw["version"] > PRESET_VERSION:
        raise PresetFileError(
            "This preset was written by a newer DesktopChat; update the app to import it."
        )
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PresetFileError("The preset file has no name.")
    settings = {k: v for k, v in raw.items() if k in PRESET_FIELDS}
    params = GenerationParams.from_json(json.dumps(settings))
    try:
        params.validated()
    except ValueError as exc:
        raise PresetFileError(f"The preset's settings are not valid: {exc}.") from None
    return Preset(0, " ".join(name.split()), params)


_BASE = GenerationParams()

BUILTIN_PRESETS: tuple[Preset, ...] = (
    Preset(
        0,
        "General assistant",
        replace(
            _BASE,
            system_prompt="You are a helpful, honest assistant. Answer clearly and concisely; "
            "say so when you are not sure.",
        ),
        "general",
    ),
    Preset(
        0,
        "Translator",
        replace(
            _BASE,
            system_prompt="You are a translator. Translate the user's text into English, or "
            "into the language they name. Reply with the translation only, keeping the "
            "meaning, tone and formatting.",
            temperature=0.2,
        ),
        "translator",
    ),
    Preset(
        0,
        "Summarizer",
        replace(
            _BASE,
            system_prompt="You summarize texts. Reply with a short summary of the user's text: "
            "the main points as a few bullet points, nothing invented.",
            temperature=0.3,
            max_tokens=400,
        ),
        "summarizer",
    ),
    Preset(
        0,
        "Code helper",
        replace(
            _BASE,
            system_prompt="You are an expert programmer. Answer with working code in fenced "
            "code blocks with the language named, and explain briefly. Point out bugs and "
            "edge cases.",
            temperature=0.2,
            max_tokens=1024,
        ),
        "code",
    ),
    Preset(
        0,
        "JSON extractor",
        replace(
            _BASE,
            system_prompt="You extract facts from the user's text into JSON. Use short keys. "
            "Reply with JSON only.",
            temperature=0.0,
            json_mode=True,
            examples=(
                (
                    "Anna Berg, 34, moved to Oslo in 2019 and works as a nurse.",
                    '{"name": "Anna Berg", "age": 34, "city": "Oslo", '
                    '"moved": 2019, "job": "nurse"}',
                ),
            ),
        ),
        "json",
    ),
)


def format_examples(examples: tuple[tuple[str, str], ...]) -> str:
    """Examples as editable text: "User: …" then "Assistant: …", a blank line between."""
    return "\n\n".join(f"User: {user}\nAssistant: {answer}" for user, answer in examples)


def parse_examples(text: str) -> tuple[tuple[str, str], ...]:
    """The text ``format_examples`` writes, back to pairs. A line starting "User:" or
    "Assistant:" starts a turn; other lines continue it. Raises ValueError with the
    reason when the turns do not pair up."""
    turns: list[list[str]] = []
    for line in text.splitlines():
        for role in ("User:", "Assistant:"):
            if line.startswith(role):
                turns.append([role, line[len(role) :].strip()])
                break
        else:
            if turns:
                turns[-1][1] += "\n" + line
            elif line.strip():
                raise ValueError('examples start with a "User:" line')
    pairs: list[tuple[str, str]] = []
    for i in range(0, len(turns), 2):
        pair = turns[i : i + 2]
        if len(pair) < 2 or pair[0][0] != "User:" or pair[1][0] != "Assistant:":
            raise ValueError('each "User:" example needs an "Assistant:" answer after it')
        pairs.append((pair[0][1].strip(), pair[1][1].strip()))
    return tuple(pairs)
