"""Hostile chat templates are refused before they allocate, and the render deadline holds
whatever they do. Each case runs in a child process whose address space is limited, so a
regression fails the test (a refusal of the wrong kind, or a memory error) instead of
taking the machine's memory; the child also reports how far its peak memory grew."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from desktopchat.core.chat import Role
from desktopchat.core.inference.prompt import ChatMessage, ChatTemplate, TemplateLimitError

SIZE = r"(tried to build .* of|produced a prompt of|built) more than [\d,]+ characters"
TIME = r"took more than [\d.]+ seconds to render"
DEEP = r"calls itself too deeply"
MAX_GROWTH_MB = 500  # generous: a hostile template without the bounds takes gigabytes

HOSTILE = {
    # the three of the issue
    "center": ('{{ "x"|center(3000000000) }}', SIZE),
    "indent": ('{{ ("a\\n" * 3)|indent(3000000000) }}', SIZE),
    "format zero padding": ('{{ "%0999999999d"|format(1) }}', SIZE),
    # and their relatives
    "format %s width": ('{{ "%999999999s"|format("x") }}', SIZE),
    "% operator": ('{{ "%0999999999d" % 1 }}', SIZE),
    "str.center": ('{{ "x".center(3000000000) }}', SIZE),
    "str.rjust": ('{{ "x".rjust(3000000000) }}', SIZE),
    "str.zfill": ('{{ "1".zfill(3000000000) }}', SIZE),
    "str.expandtabs": ('{{ ("\\t" * 1000).expandtabs(100000000) }}', SIZE),
    "str.format width": ('{{ "{:>999999999}".format(1) }}', SIZE),
    "str.format nested width": ('{{ "{:{}}".format("x", 999999999) }}', SIZE),
    "huge replace": ('{{ ("x" * 1000000)|replace("x", "y" * 20) }}', SIZE),
    "str.replace": ('{{ ("x" * 1000000).replace("x", "y" * 20) }}', SIZE),
    "replace the empty string": ('{{ ("x" * 1000000)|replace("", "y" * 10) }}', SIZE),
    "huge tojson": ("{% set a = [[0] * 1000] * 1000 %}{{ a|tojson(indent=64) }}", SIZE),
    "join": ("{{ (range(100000)|list)|join('x' * 100000) }}", SIZE),
    "str.join": ("{{ ('x' * 100000).join(['ab'] * 100000) }}", SIZE),
    "wordwrap": ('{{ ("a " * 1000000)|wordwrap(1, wrapstring="x" * 1000) }}', SIZE),
    "batch fill": ("{{ [1]|batch(1000000000, 'x')|list|length }}", SIZE),
    "slice": ("{{ [1]|slice(1000000000)|list|length }}", SIZE),
    "nested repetition": ("{% set a = [1] * 1000 %}{% set b = [a] * 1000 %}{{ [b] * 1000 }}", SIZE),
    "list literals": (
        "{% set a = 'x' * 1000000 %}{% set b = [a, a, a, a, a, a, a, a, a, a] %}"
        "{% set c = [b, b, b, b, b, b, b, b, b, b] %}{{ c|length }}",
        SIZE,
    ),
    "doubling with ~": (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        SIZE,
    ),
    "doubling with +": (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}"
        "{% set ns.s = ns.s + ns.s %}{% endfor %}",
        SIZE,
    ),
    "doubling macro output": (
        "{% macro f(n) %}{% if n %}{% set x = f(n - 1) %}{{ x }}{{ x }}{% else %}x{% endif %}"
        "{% endmacro %}{{ f(60) }}",
        SIZE,
    ),
    "map center": ('{{ ["x"]|map("center", 3000000000)|list }}', SIZE),
    "markup center": ('{{ ("x"|safe).center(3000000000) }}', SIZE),
    "markup format": ('{{ ("{:>999999999}"|safe).format(1) }}', SIZE),
    "bytes center": ('{{ "x".encode().center(3000000000) }}', SIZE),
    "bytes %": ('{{ "%0999999999d".encode() % 1 }}', SIZE),
    "translate": ('{{ ("a" * 100000).translate({97: "x" * 1000}) }}', SIZE),
    "list of characters": ('{{ ("\u4e2d" * 8000000)|list|length }}', SIZE),
    "sorted characters": ('{{ ("\u4e2d" * 8000000)|sort|length }}', SIZE),
    "split": ('{{ ("\u4e2d " * 3000000).split()|length }}', SIZE),
    "dict.fromkeys": ("{{ {}.fromkeys(range(100000), 'x' * 1000000)|length }}", SIZE),
    "set block": (
        "{% set x %}{% for i in range(100000) %}" + "y" * 200_000 + "{% endfor %}{% endset %}",
        SIZE,
    ),
    "caller": (
        "{% macro m() %}{{ caller() }}{% endmacro %}{% call m() %}"
        "{% for i in range(100000) %}" + "y" * 200_000 + "{% endfor %}{% endcall %}",
        SIZE,
    ),
    "block called first": (
        "{{ self.b()|length }}{% block b %}{% for i in range(100000) %}"
        + "y" * 200_000
        + "{% endfor %}{% endblock %}",
        SIZE,
    ),
    "many big attributes": (
        "{% set ns = namespace() %}"
        + "".join(f"{{% set ns.a{i} = 'x' * 8000000 ~ '' %}}" for i in range(100)),
        SIZE,
    ),
    "recursion holding copies": (
        "{% macro f(n, s) %}{% if n %}{{ f(n - 1, s ~ 'x') }}{% endif %}{% endmacro %}"
        "{{ f(900, 'x' * 7000000) }}",
        SIZE,
    ),
    "power tower": ("{{ ((7 ** 64) ** 64) ** 64 }}", SIZE),
    "repeated squaring": (
        "{% set ns = namespace(n=7) %}{% for i in range(40) %}"
        "{% set ns.n = ns.n * ns.n %}{% endfor %}",
        SIZE,
    ),
    "sum of lists": ("{{ ([[1] * 1000] * 1000)|sum(start=[])|length }}", f"{SIZE}|{TIME}"),
    # the deadline, whatever the template does
    "nested empty loop": (
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
        TIME,
    ),
    "exponential macro": (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(60) }}",
        TIME,
    ),
    "loop inside a macro": (
        "{% macro m() %}{% for i in range(100000) %}{% for j in range(100000) %}"
        "{{ 'x' ~ '' }}{% endfor %}{% endfor %}{% endmacro %}{{ m() }}",
        f"{TIME}|{SIZE}",
    ),
    "recursive macro": ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", DEEP),
}

CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from desktopchat.core.chat import Role
    from desktopchat.core.errors import DesktopChatError
    from desktopchat.core.inference.prompt import ChatMessage, ChatTemplate
    if sys.platform.startswith("linux"):  # at most 1.5 GiB more address space than now
        pages = int(open("/proc/self/statm").read().split()[0])
        limit = pages * resource.getpagesize() + 1536 * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    scale = 1024 if sys.platform.startswith("linux") else 1024 * 1024  # ru_maxrss units
    hi = [ChatMessage(Role.USER, "hi")]
    for name, source in json.loads(sys.stdin.read()).items():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            ChatTemplate(source).render(hi)
            outcome = {"error": None, "message": ""}
        except DesktopChatError as exc:
            outcome = {"error": type(exc).__name__, "message": str(exc)}
        except BaseException as exc:  # MemoryError and the like: the bounds did not hold
            outcome = {"error": "unexpected " + type(exc).__name__, "message": str(exc)}
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        outcome["grown_mb"] = grown / scale
        print(json.dumps({name: outcome}), flush=True)
    chatml = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\\n{{ m.content }}<|im_end|>\\n"
        "{% endfor %}"
    )
    print(json.dumps({"afterwards": {"text": ChatTemplate(chatml).render(hi)}}), flush=True)
    """
)


@pytest.fixture(scope="module")
def outcomes() -> dict[str, dict[str, object]]:
    """Every hostile case, rendered once in one child process with limited memory."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=json.dumps({name: source for name, (source, _) in HOSTILE.items()}),
        capture_output=True,
        text=True,
        cwd=root,
        timeout=300,  # a hang guard, not a speed check
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results: dict[str, dict[str, object]] = {}
    for line in done.stdout.splitlines():
        results.update(json.loads(line))
    return results


@pytest.mark.parametrize("name", HOSTILE.keys())
def test_a_hostile_template_is_refused_without_taking_memory(
    name: str, outcomes: dict[str, dict[str, object]]
) -> None:
    _, expected = HOSTILE[name]
    outcome = outcomes[name]
    assert outcome["error"] == "TemplateLimitError", outcome
    assert "chat template" in str(outcome["message"])
    assert re.search(expected, str(outcome["message"])), outcome
    grown = outcome["grown_mb"]
    assert isinstance(grown, float | int) and grown < MAX_GROWTH_MB, outcome


def test_the_process_keeps_working_after_hostile_templates(
    outcomes: dict[str, dict[str, object]],
) -> None:
    assert outcomes["afterwards"]["text"] == "<|im_start|>user\nhi<|im_end|>\n"


@pytest.mark.parametrize(
    "name", ["center", "indent", "format zero padding", "huge replace", "nested empty loop"]
)
def test_the_refusal_is_a_template_error_here_too(name: str) -> None:
    """In this process as well (the app keeps running): the refusal is an exception of
    ours, and the same template object renders nothing else wrong afterwards."""
    source, expected = HOSTILE[name]
    template = ChatTemplate(source)
    with pytest.raises(TemplateLimitError, match=expected):
        template.render([ChatMessage(Role.USER, "hi")])
    with pytest.raises(TemplateLimitError, match=expected):  # and again: no state left over
        template.render([ChatMessage(Role.USER, "hi")])


def test_legitimate_templates_still_work_with_the_bounds() -> None:
    """What the bounds must not break: filters, methods and literals used by real templates."""
    source = (
        "{%- set ns = namespace(n=0) -%}"
        "{%- for m in messages -%}{%- set ns.n = ns.n + 1 -%}"
        "[{{ m.role|upper }}|{{ m.content|trim|replace('a', 'A') }}|{{ '%02d'|format(ns.n) }}"
        "|{{ '{}-{}'.format(loop.index, m.role) }}|{{ (m.content * 2)|length }}]"
        "{%- endfor -%}"
        "{{ ['x', 'y']|join(', ') }}|{{ {'k': [1, 2]}|tojson }}|{{ 'ab'.center(6, '*') }}"
        "|{{ ('a\nb')|indent(2) }}|{{ [1, 2, 3]|sum }}|{{ 2 ** 10 }}|{{ 'x' ~ 1 }}"
    )
    text = ChatTemplate(source).render(
        [ChatMessage(Role.USER, " banana "), ChatMessage(Role.ASSISTANT, "ok")]
    )
    assert text == (
        "[USER|bAnAnA|01|1-user|16][ASSISTANT|ok|02|2-assistant|4]"
        'x, y|{"k": [1, 2]}|**ab**|a\n  b|6|1024|x1'
    )
