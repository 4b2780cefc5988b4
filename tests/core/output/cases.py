"""Model outputs for every family, in the shapes the real models write them (after
llama.cpp's tests/test-chat.cpp and the models' own chat templates), with the events
they must give. Written for these tests, not copied."""

from __future__ import annotations

from desktopchat.core.inference.output import ReasoningFormat, ToolFormat, make_format
from desktopchat.core.inference.output.calls import (
    NOTE_BAD_JSON,
    NOTE_NOT_OBJECT,
    NOTE_UNCLOSED,
)

from .helpers import C, Case, K, T, U, template_format

QWEN3 = template_format("qwen3")
QWEN25 = template_format("qwen2.5")
QWQ = template_format("qwq")
HERMES = template_format("hermes-2-pro")
LLAMA31 = template_format("llama3.1")
LLAMA32 = template_format("llama3.2")
NEMO = template_format("mistral-nemo")
SMALL32 = template_format("mistral-small-3.2")
MAGISTRAL = template_format("magistral")
GPT_OSS = template_format("gpt-oss")
R7B = template_format("command-r7b")
R_PLUS = template_format("command-r-plus")
GRANITE = template_format("granite3.3")
R1 = template_format("deepseek-r1-distill")
V31 = template_format("deepseek-v3.1")
FUNC31 = template_format("functionary-v3.1")
FUNC32 = template_format("functionary-v3.2")
GENERIC = make_format(ReasoningFormat.NONE, ToolFormat.GENERIC_JSON)
PLAIN = template_format("gemma-2-2b-it")
THINK_ONLY = make_format(ReasoningFormat.THINK_TAGS, ToolFormat.NONE)

PARIS = {"city": "Paris"}

HERMES_CASES = [
    Case(
        "qwen2.5-text-then-call",
        QWEN25,
        "Let me check the weather for you.\n<tool_call>\n"
        '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}\n'
        "</tool_call><|im_end|>",
        (
            T("Let me check the weather for you.\n"),
            C("get_weather", {"city": "Paris", "unit": "celsius"}),
        ),
    ),
    Case(
        "qwen2.5-parallel",
        QWEN25,
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "get_time", "arguments": {"timezone": "Europe/Paris"}}\n'
        "</tool_call>",
        (
            C("get_weather", PARIS),
            C("get_time", {"timezone": "Europe/Paris"}, "call_2"),
        ),
    ),
    Case(
        "qwen3-thinking-then-call",
        QWEN3,
        "<think>\nThe user wants the time in Tokyo. I should call get_time with "
        '"Asia/Tokyo".\n</think>\n\n<tool_call>\n'
        '{"name": "get_time", "arguments": {"timezone": "Asia/Tokyo"}}\n</tool_call>',
        (
            K('The user wants the time in Tokyo. I should call get_time with "Asia/Tokyo".'),
            C("get_time", {"timezone": "Asia/Tokyo"}),
        ),
    ),
    Case(
        "qwen3-thinking-disabled",
        QWEN3,
        "<think>\n\n</think>\n\nHello! How can I help you today?<|im_end|>",
        (T("Hello! How can I help you today?"),),
    ),
    Case(
        "qwen3-tool-call-inside-thinking-is-thinking",
        QWEN3,
        '<think>I could write <tool_call>{"name": "x"}</tool_call> but I won\'t.'
        "</think>No call needed.",
        (
            K('I could write <tool_call>{"name": "x"}</tool_call> but I won\'t.'),
            T("No call needed."),
        ),
    ),
    Case(
        "qwq-starts-in-thinking",
        QWQ,
        "Okay, so 2 + 2. That's 4.\n\nDouble-check: yes.\n</think>\n\nThe answer is **4**.",
        (K("Okay, so 2 + 2. That's 4.\n\nDouble-check: yes."), T("The answer is **4**.")),
        starts_in_thinking=True,
    ),
    Case(
        "qwq-repeats-the-opened-think-tag",
        QWQ,
        "<think>\nHmm.\n</think>\nFine.",
        (K("Hmm."), T("Fine.")),
        starts_in_thinking=True,
    ),
    Case(
        "hermes-arguments-as-a-json-string",
        HERMES,
        '<tool_call>\n{"arguments": "{\\"a\\": 1, \\"b\\": 2}", "name": "add"}\n</tool_call>',
        (C("add", {"a": 1, "b": 2}),),
    ),
    Case(
        "hermes-plain-unicode-text",
        HERMES,
        "Café ☕ — naïve 日本語 😀 <tag> a < b and c > d.<|im_end|>",
        (T("Café ☕ — naïve 日本語 😀 <tag> a < b and c > d."),),
    ),
    Case(
        "qwen2.5-coder-function-tag",
        QWEN25,
        '<function=get_weather>{"city": "Paris"}</function>',
        (C("get_weather", PARIS),),
    ),
]

LLAMA_CASES = [
    Case(
        "llama3.2-bare-json-call",
        LLAMA32,
        '{"name": "get_weather", "parameters": {"city": "Paris"}}',
        (C("get_weather", PARIS),),
    ),
    Case(
        "llama3.1-typed-json-call",
        LLAMA31,
        '{"type": "function", "name": "add", "parameters": {"a": 1, "b": 2}}<|eom_id|>',
        (C("add", {"a": 1, "b": 2}),),
    ),
    Case(
        "llama3.1-python-tag-builtin",
        LLAMA31,
        '<|python_tag|>brave_search.call(query="llama.cpp latest release")<|eom_id|>',
        (C("brave_search", {"query": "llama.cpp latest release"}),),
    ),
    Case(
        "llama3.1-python-tag-json",
        LLAMA31,
        '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Oslo"}}',
        (C("get_weather", {"city": "Oslo"}),),
    ),
    Case(
        "llama3.1-python-tag-code",
        LLAMA31,
        "<|python_tag|>import math\nprint(math.pi)<|eom_id|>",
        (C("python", {"code": "import math\nprint(math.pi)"}),),
    ),
    Case(
        "llama3-json-that-is-not-a-call",
        LLAMA32,
        '{"city": "Paris", "country": "France"} is the object you asked for.<|eot_id|>',
        (T('{"city": "Paris", "country": "France"} is the object you asked for.'),),
    ),
    Case(
        "llama3-name-without-parameters-is-text",
        LLAMA32,
        '{"name": "Ada Lovelace"}',
        (T('{"name": "Ada Lovelace"}'),),
    ),
    Case(
        "llama3-braces-later-are-text",
        LLAMA32,
        'Use {"name": "x", "parameters": {}} to call it.<|eot_id|>',
        (T('Use {"name": "x", "parameters": {}} to call it.'),),
    ),
]

MISTRAL_CASES = [
    Case(
        "nemo-list-with-id",
        NEMO,
        '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, '
        '"id": "a1B2c3D4e"}]</s>',
        (C("get_weather", PARIS, "a1B2c3D4e"),),
    ),
    Case(
        "nemo-parallel-list",
        NEMO,
        '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}}, '
        '{"name": "get_weather", "arguments": {"city": "Rome"}}]',
        (C("get_weather", PARIS), C("get_weather", {"city": "Rome"}, "call_2")),
    ),
    Case(
        "small3.2-name-args",
        SMALL32,
        'I\'ll look that up.[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}</s>',
        (T("I'll look that up."), C("get_weather", PARIS)),
    ),
    Case(
        "small3.2-call-id",
        SMALL32,
        '[TOOL_CALLS]get_weather[CALL_ID]abc123XYZ[ARGS]{"city": "Paris"}',
        (C("get_weather", PARIS, "abc123XYZ"),),
    ),
    Case(
        "small3.2-two-calls",
        SMALL32,
        '[TOOL_CALLS]get_time[ARGS]{}[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}',
        (C("get_time", {}), C("get_weather", PARIS, "call_2")),
    ),
    Case(
        "magistral-thinking",
        MAGISTRAL,
        "[THINK]The user asks for 17 × 23. 17 × 20 = 340, plus 51 is 391.[/THINK]"
        "17 × 23 = **391**.</s>",
        (K("The user asks for 17 × 23. 17 × 20 = 340, plus 51 is 391."), T("17 × 23 = **391**.")),
    ),
    Case(
        "magistral-thinking-then-call",
        MAGISTRAL,
        '[THINK]I need the weather.[/THINK][TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}',
        (K("I need the weather."), C("get_weather", PARIS)),
    ),
]

HARMONY_CASES = [
    Case(
        "gpt-oss-final",
        GPT_OSS,
        "<|channel|>analysis<|message|>User greets. Respond politely.<|end|>"
        "<|start|>assistant<|channel|>final<|message|>Hello! How can I help you today?"
        "<|return|>",
        (K("User greets. Respond politely."), T("Hello! How can I help you today?")),
    ),
    Case(
        "gpt-oss-call",
        GPT_OSS,
        "<|channel|>analysis<|message|>Need the weather; call the tool.<|end|>"
        "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
        '<|message|>{"location":"San Francisco, CA"}<|call|>',
        (
            K("Need the weather; call the tool."),
            C("get_weather", {"location": "San Francisco, CA"}),
        ),
    ),
    Case(
        "gpt-oss-call-stop-token-not-passed-on",
        GPT_OSS,
        "<|channel|>analysis<|message|>Call it.<|end|>"
        "<|start|>assistant<|channel|>commentary to=functions.get_weather"
        '<|message|>{"city": "Paris"}',
        (K("Call it."), C("get_weather", PARIS)),
    ),
    Case(
        "gpt-oss-preamble-then-call",
        GPT_OSS,
        "<|channel|>analysis<|message|>Think.<|end|>"
        "<|start|>assistant<|channel|>commentary<|message|>Checking the weather now.<|end|>"
        "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
        '<|message|>{"city": "Paris"}<|call|>',
        (K("Think."), T("Checking the weather now."), C("get_weather", PARIS)),
    ),
    Case(
        "gpt-oss-recipient-in-the-role",
        GPT_OSS,
        "<|channel|>analysis<|message|>Think.<|end|>"
        "<|start|>assistant to=functions.get_weather<|channel|>commentary json"
        '<|message|>{"city": "Paris"}<|call|>',
        (K("Think."), C("get_weather", PARIS)),
    ),
    Case(
        "gpt-oss-call-on-the-analysis-channel",
        GPT_OSS,
        "<|channel|>analysis<|message|>I'm\nthinking<|end|>"
        "<|start|>assistant<|channel|>analysis to=functions.special_function <|constrain|>json"
        '<|message|>{"arg1": 1}',
        (K("I'm\nthinking"), C("special_function", {"arg1": 1})),
    ),
]

COMMAND_R_CASES = [
    Case(
        "r7b-thinking-action",
        R7B,
        "<|START_THINKING|>I need to call the weather tool for Paris.<|END_THINKING|>"
        "<|START_ACTION|>[\n"
        '    {"tool_call_id": "0", "tool_name": "get_weather", "parameters": {"city": "Paris"}}\n'
        "]<|END_ACTION|><|END_OF_TURN_TOKEN|>",
        (K("I need to call the weather tool for Paris."), C("get_weather", PARIS, "0")),
    ),
    Case(
        "r7b-parallel-actions",
        R7B,
        "<|START_THINKING|><|END_THINKING|><|START_ACTION|>[\n"
        '    {"tool_call_id": "0", "tool_name": "get_weather", "parameters": {"city": "Paris"}},\n'
        '    {"tool_call_id": "1", "tool_name": "get_weather", "parameters": {"city": "Rome"}}\n'
        "]<|END_ACTION|>",
        (C("get_weather", PARIS, "0"), C("get_weather", {"city": "Rome"}, "1")),
    ),
    Case(
        "r7b-response",
        R7B,
        "<|START_RESPONSE|>Hello, world!\nWhat's up?<|END_RESPONSE|><|END_OF_TURN_TOKEN|>",
        (T("Hello, world!\nWhat's up?"),),
    ),
    Case(
        "command-r-plus-action",
        R_PLUS,
        'Action: ```json\n[\n    {\n        "tool_name": "internet_search",\n'
        '        "parameters": {\n            "query": "biggest penguin in the world"\n'
        "        }\n    }\n]\n```",
        (C("internet_search", {"query": "biggest penguin in the world"}),),
    ),
    Case(
        "command-r-plus-directly-answer",
        R_PLUS,
        'Action:\n```json\n[{"tool_name": "directly_answer", "parameters": {}}]\n```',
        (),
    ),
]

GRANITE_CASES = [
    Case(
        "granite-call",
        GRANITE,
        '<|tool_call|>[{"name": "get_current_weather", "arguments": {"location": "Boston"}}]'
        "<|end_of_text|>",
        (C("get_current_weather", {"location": "Boston"}),),
    ),
    Case(
        "granite-parallel",
        GRANITE,
        '<|tool_call|>[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"x": 1}}]',
        (C("a", {}), C("b", {"x": 1}, "call_2")),
    ),
    Case(
        "granite3.3-think-response-tags",
        GRANITE,
        "<think>The user says hi. Greet back.</think><response>Hi there!</response>",
        (K("The user says hi. Greet back."), T("Hi there!")),
    ),
    Case(
        "granite3.2-thought-process",
        GRANITE,
        "Here is my thought process:\nA greeting needs a greeting.\nHere is my response:\nHello!",
        (K("A greeting needs a greeting."), T("Hello!")),
    ),
    Case(
        "granite-thinking-then-call",
        GRANITE,
        "<think>I'm\nthinking</think>"
        '<|tool_call|>[{"name": "special_function", "arguments": {"arg1": 1}}]',
        (K("I'm\nthinking"), C("special_function", {"arg1": 1})),
    ),
]

DEEPSEEK_CASES = [
    Case(
        "r1-distill-forced-open-call",
        R1,
        "Okay, the user wants the weather in Paris. I'll call get_weather.\n</think>\n\n"
        "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n"
        '```json\n{"city": "Paris"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>'
        "<｜end▁of▁sentence｜>",
        (
            K("Okay, the user wants the weather in Paris. I'll call get_weather."),
            C("get_weather", PARIS),
        ),
        starts_in_thinking=True,
    ),
    Case(
        "r1-markers-inside-thinking",
        R1,
        "I need to remember the correct syntax. It starts with <｜tool▁calls▁begin｜> "
        "and ends with",
        (
            K(
                "I need to remember the correct syntax. It starts with <｜tool▁calls▁begin｜> "
                "and ends with"
            ),
        ),
        starts_in_thinking=True,
    ),
    Case(
        "r1-short-calls-marker",
        R1,
        "<｜tool▁calls｜>function<｜tool▁sep｜>special_function\n"
        '```json\n{"arg1": 1}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>',
        (C("special_function", {"arg1": 1}),),
    ),
    Case(
        "v3.1-content-and-two-calls",
        V31,
        "CONTENT<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>"
        '{"city": "Paris"}<｜tool▁call▁end｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>'
        '{"city": "Paris"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>',
        (T("CONTENT"), C("get_time", PARIS), C("get_weather", PARIS, "call_2")),
    ),
    Case(
        "v3.1-thinking-answer",
        V31,
        "The user greets me.</think>Hello! 👋",
        (K("The user greets me."), T("Hello! 👋")),
        starts_in_thinking=True,
    ),
]

FUNCTIONARY_CASES = [
    Case(
        "functionary-v3.1-call",
        FUNC31,
        '<function=get_weather>{"city": "Paris"}</function><|eom_id|>',
        (C("get_weather", PARIS),),
    ),
    Case(
        "functionary-v3.1-text-and-two-calls",
        FUNC31,
        "Sure.\n"
        '<function=special_function>{"arg1": 1}</function>\n'
        '<function=python>{"code":"print(\'hello\')"}</function>',
        (
            T("Sure.\n"),
            C("special_function", {"arg1": 1}),
            C("python", {"code": "print('hello')"}, "call_2"),
        ),
    ),
    Case(
        "functionary-v3.1-python-tag",
        FUNC31,
        "<|python_tag|>print(2 ** 10)",
        (C("python", {"code": "print(2 ** 10)"}),),
    ),
    Case(
        "functionary-v3.2-text-then-call",
        FUNC32,
        'all\nHello, world!\nnono\nWhat\'s up?>>>special_function\n{"arg1": 1}\n',
        (T("Hello, world!\nnono\nWhat's up?"), C("special_function", {"arg1": 1})),
    ),
    Case(
        "functionary-v3.2-python",
        FUNC32,
        "python\n# This is a program:\nprint('hey')",
        (C("python", {"code": "# This is a program:\nprint('hey')"}),),
    ),
    Case(
        "functionary-v3.2-two-calls",
        FUNC32,
        'get_weather\n{"city": "Paris"}>>>get_time\n{"tz": "UTC"}<|eot_id|>',
        (C("get_weather", PARIS), C("get_time", {"tz": "UTC"}, "call_2")),
    ),
    Case(
        "functionary-v3.2-text-only",
        FUNC32,
        "all\nHello, world!\nWhat's up?",
        (T("Hello, world!\nWhat's up?"),),
    ),
]

GENERIC_CASES = [
    Case(
        "generic-tool-call",
        GENERIC,
        '{\n  "tool_call": {\n    "name": "get_weather",\n'
        '    "arguments": {"city": "Paris"}\n  }\n}',
        (C("get_weather", PARIS),),
    ),
    Case(
        "generic-tool-calls-with-id",
        GENERIC,
        '{\n  "tool_calls": [\n    {\n      "name": "special_function",\n'
        '      "arguments": {\n        "arg1": 1\n      },\n      "id": "123456789"\n    }\n  ]\n}',
        (C("special_function", {"arg1": 1}, "123456789"),),
    ),
    Case(
        "generic-response",
        GENERIC,
        '{\n  "response": "Hello, world!\\nWhat\'s up?"\n}',
        (T("Hello, world!\nWhat's up?"),),
    ),
    Case(
        "generic-bare-name-arguments",
        GENERIC,
        '{"name": "add", "arguments": {"a": 1, "b": 2}}',
        (C("add", {"a": 1, "b": 2}),),
    ),
    Case("generic-plain-text", GENERIC, "Sure, here you go.", (T("Sure, here you go."),)),
]

PLAIN_CASES = [
    Case(
        "no-format-markup-is-text",
        PLAIN,
        "Write <tool_call> or [TOOL_CALLS] literally.<end_of_turn>",
        (T("Write <tool_call> or [TOOL_CALLS] literally."),),
    ),
    Case(
        "think-only",
        THINK_ONLY,
        "<think>Short.</think>Answer with a <think> tag inside.",
        (K("Short."), T("Answer with a <think> tag inside.")),
    ),
]

MALFORMED_CASES = [
    Case(
        "hermes-bad-json",
        QWEN25,
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}\n</tool_call>',
        (
            U(
                '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}\n</tool_call>',
                NOTE_BAD_JSON,
            ),
        ),
    ),
    Case(
        "hermes-unknown-tool",
        QWEN25,
        'Ok.<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call>',
        (
            T("Ok."),
            U(
                '<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call>',
                "the model called 'rm_rf', which is not one of the offered tools",
            ),
        ),
        tool_names=("get_weather",),
    ),
    Case(
        "hermes-unclosed",
        QWEN3,
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Par',
        (U('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Par', NOTE_UNCLOSED),),
    ),
    Case(
        "hermes-arguments-not-an-object",
        QWEN25,
        '<tool_call>{"name": "get_weather", "arguments": [1, 2]}</tool_call>',
        (
            U(
                '<tool_call>{"name": "get_weather", "arguments": [1, 2]}</tool_call>',
                NOTE_NOT_OBJECT,
            ),
        ),
    ),
    Case(
        "mistral-unclosed-list",
        NEMO,
        '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Pa',
        (U('[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Pa', NOTE_UNCLOSED),),
    ),
    Case(
        "mistral-bad-args",
        SMALL32,
        "[TOOL_CALLS]get_weather[ARGS]{city: Paris}",
        (U("[TOOL_CALLS]get_weather[ARGS]{city: Paris}", NOTE_BAD_JSON),),
    ),
    Case(
        "harmony-bad-json",
        GPT_OSS,
        "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
        '<|message|>{"city": Paris}<|call|>',
        (
            U(
                "<|start|>assistant<|channel|>commentary to=functions.get_weather "
                '<|constrain|>json<|message|>{"city": Paris}<|call|>',
                NOTE_BAD_JSON,
            ),
        ),
    ),
    Case(
        "granite-unclosed",
        GRANITE,
        '<|tool_call|>[{"name": "special_function", "arguments": {"arg',
        (U('<|tool_call|>[{"name": "special_function", "arguments": {"arg', NOTE_UNCLOSED),),
    ),
    Case(
        "llama3-cut-off-call",
        LLAMA32,
        '{"name": "get_weather", "parameters": {"ci',
        (U('{"name": "get_weather", "parameters": {"ci', NOTE_UNCLOSED),),
    ),
    Case(
        "r7b-unclosed-action",
        R7B,
        '<|START_ACTION|>[{"tool_call_id": "0", "tool_name": "special',
        (U('<|START_ACTION|>[{"tool_call_id": "0", "tool_name": "special', NOTE_UNCLOSED),),
    ),
    Case(
        "deepseek-bad-json",
        V31,
        '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{"city": '
        "<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
        (
            U(
                '<｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{"city": <｜tool▁call▁end｜>',
                NOTE_BAD_JSON,
            ),
        ),
    ),
    Case(
        "functionary-v3.1-unknown-tool-then-good-one",
        FUNC31,
        '<function=nope>{}</function><function=get_weather>{"city": "Paris"}</function>',
        (
            U(
                "<function=nope>{}</function>",
                "the model called 'nope', which is not one of the offered tools",
            ),
            C("get_weather", PARIS),
        ),
        tool_names=("get_weather",),
    ),
    Case(
        "functionary-v3.2-bad-json",
        FUNC32,
        "get_weather\n{'city': 'Paris'}",
        (U("get_weather\n{'city': 'Paris'}", NOTE_BAD_JSON),),
    ),
]

FORCED_CASES = [
    Case(
        f"forced-{fmt.tools.value}",
        fmt,
        ' {"name":"add","arguments":{"a":1,"b":2}}',
        (C("add", {"a": 1, "b": 2}),),
        forced=True,
        tool_names=("add",),
    )
    for fmt in (QWEN3, LLAMA31, NEMO, GPT_OSS, R7B, GRANITE, R1, FUNC31, FUNC32, GENERIC, PLAIN)
] + [
    Case(
        "forced-invalid",
        QWEN3,
        '{"name":"add","arguments":{"a":1,',
        (U('{"name":"add","arguments":{"a":1,', NOTE_UNCLOSED),),
        forced=True,
    ),
    Case(
        "forced-in-a-thinking-format",
        R1,
        '{"name":"add","arguments":{"a":1}}',
        (C("add", {"a": 1}),),
        forced=True,
        starts_in_thinking=True,
    ),
]

CASES = (
    HERMES_CASES
    + LLAMA_CASES
    + MISTRAL_CASES
    + HARMONY_CASES
    + COMMAND_R_CASES
    + GRANITE_CASES
    + DEEPSEEK_CASES
    + FUNCTIONARY_CASES
    + GENERIC_CASES
    + PLAIN_CASES
    + MALFORMED_CASES
    + FORCED_CASES
)
