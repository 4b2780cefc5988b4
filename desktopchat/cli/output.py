"""What the CLI prints: exit codes, JSON on stdout, one-line failures, and the stream
printer that shows a reply as it is written (stdout) with notes and progress on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

from desktopchat.core.inference.service import ReplyStarted, ToolRun
from desktopchat.core.tools.toolbox import Approval, ApprovalRequest, Decision

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def emit_json(value: object) -> None:
    """``value`` (plain data: dicts, lists, strings, numbers) as indented JSON on stdout."""
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def note(text: str) -> None:
    """A line for the person at the terminal (stderr: stdout stays the answer)."""
    print(text, file=sys.stderr)


class StreamPrinter:
    """A ReplyListener for the terminal: the reply's pieces on stdout as they come (unless
    ``quiet``, when JSON is printed at the end), status and prompt progress on stderr."""

    def __init__(
        self, *, quiet: bool, approve: Callable[[ApprovalRequest], Approval] | None = None
    ) -> None:
        self.quiet = quiet
        self.notice = ""
        self.progress_shown = False
        self._approve = approve
        self._thinking = False

    def on_reply_thinking(self, text: str) -> None:
        """A thinking model's reasoning: on stderr (stdout stays the answer)."""
        if self.quiet:
            return
        if not self._thinking:
            sys.stderr.write("Thinking… ")
            self._thinking = True
        sys.stderr.write(text)
        sys.stderr.flush()

    def approve_tool(self, request: ApprovalRequest) -> Approval:
        self._end_thinking()
        if self._approve is None:
            return Approval(Decision.DENY)
        return self._approve(request)

    def on_tool_result(self, run: ToolRun) -> None:
        if self.quiet:
            return
        state = "failed" if run.is_error else "returned"
        first = run.result.strip().split("\n", 1)[0][:200]
        sys.stderr.write(f"[{run.tool} {state}: {first}]\n")

    def _end_thinking(self) -> None:
        if self._thinking:
            sys.stderr.write("\n")
            self._thinking = False

    def on_reply_started(self, started: ReplyStarted) -> None:
        for notice in started.notices:  # e.g. the attached documents are still being indexed
            note(f"note: {notice}")
        if started.dropped_messages:
            self.notice = (
                f"note: the {started.dropped_messages} oldest messages did not fit the "
                f"{started.context_size}-token context and were left out of the prompt"
            )
        elif started.summarized_messages:
            self.notice = (
                f"note: the {started.summarized_messages} oldest messages are in the prompt "
                "as a summary written by the model"
            )

    def on_status(self, text: str) -> None:
        sys.stderr.write(f"{text}\n")

    def on_reply_piece(self, text: str) -> None:
        self._end_thinking()
        if self.progress_shown:
            sys.stderr.write("\r\033[K")
            self.progress_shown = False
        if not self.quiet:
            sys.stdout.write(text)
            sys.stdout.flush()

    def on_prompt_progress(self, done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\rReading the prompt: {done:,} of {total:,} tokens")
            sys.stderr.flush()
            self.progress_shown = True
