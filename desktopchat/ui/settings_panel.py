"""Per-conversation settings: system prompt, the attached document collections and files,
sampling, and how the model is loaded."""

from __future__ import annotations

import re

from PySide6.QtCore import QSignalBlocker, QTimer, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core.chat import (
    KV_CACHE_TYPES,
    GenerationParams,
    Overflow,
    default_threads,
    json_schema_problem,
)
from desktopchat.core.documents.types import Collection, DocumentFile, FileState
from desktopchat.core.models.fit import AUTO_GPU_LAYERS
from desktopchat.core.presets import Preset, format_examples, parse_examples

OVERFLOW_CHOICES = (
    (Overflow.STOP, "Stop and ask"),
    (Overflow.DROP, "Leave out the oldest turns"),
    (Overflow.SUMMARIZE, "Summarize the oldest turns"),
)

SAVE_DELAY_MS = 400


def _double(low: float, high: float, step: float, decimals: int = 2) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    return box


def _int(low: int, high: int, step: int = 1) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    return box


THINKING_ITEMS = (  # short: the column is narrow at the largest zoom
    ("Default", ""),
    ("On", "on"),
    ("Off", "off"),
    ("Low", "low"),
    ("Medium", "medium"),
    ("High", "high"),
)


class SettingsPanel(QWidget):
    """Edits a GenerationParams; emits ``params_changed`` shortly after the user stops."""

    choose_tools_requested = Signal()  # the window lists the tools and asks
    params_changed = Signal(object)  # GenerationParams
    save_defaults_requested = Signal(object)
    reset_requested = Signal()
    preset_chosen = Signal(object)  # Preset
    save_preset_requested = Signal(object)  # GenerationParams
    manage_presets_requested = Signal()
    manage_documents_requested = Signal()
    attach_file_requested = Signal()  # the user asks to attach a file from disk
    attach_collection_file_requested = Signal()  # ... or one file of a collection
    attached_shown = Signal()  # the attached collections or files shown changed

    def __init__(self) -> None:
        super().__init__()
        self.setAccessibleName("Chat settings")
        self.preset = QComboBox()
        self.preset.setAccessibleName("Preset")
        self.preset.setToolTip("A saved assistant: system prompt, settings and examples")
        self.preset.activated.connect(self.on_preset_activated)
        self._presets: list[Preset] = []
        self.save_preset = QPushButton("Save as preset…")
        self.save_preset.setAccessibleName("Save these settings as a preset")
        self.save_preset.clicked.connect(lambda: self.save_preset_requested.emit(self.params()))
        self.manage_presets = QPushButton("Presets…")
        self.manage_presets.setAccessibleName("Manage presets")
        self.manage_presets.clicked.connect(self.manage_presets_requested)
        # The document collections this chat answers from (GenerationParams.documents).
        self._documents: tuple[int, ...] = ()
        self._collections: list[Collection] = []
        self._known = False  # the collections were read (an unknown id is a deleted one)
        # The single files this chat answers from (GenerationParams.document_files), and
        # what the library said of them (names, states; read by the window's Documents part).
        self._files: tuple[int, ...] = ()
        self._file_info: dict[int, DocumentFile] = {}
        self._gone_files: set[int] = set()  # asked for, and the library has no such file
        self.attach = QToolButton()
        self.attach.setText("Attach…")
        self.attach.setAccessibleName("Attach documents")
        self.attach.setToolTip(
            "Answer from your documents: each message gets the passages of these "
            "collections and files that match it (or their whole text when it fits), and "
            "the reply lists its sources"
        )
        self.attach.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.attach.setMenu(QMenu(self.attach))
        self.attach.menu().aboutToShow.connect(self.on_attach_menu_about_to_show)
        self.attached = QLabel()
        self.attached.setWordWrap(True)
        self.attached.setAccessibleName("Attached documents")
        self.examples = QPlainTextEdit()
        self.examples.setAccessibleName("Few-shot examples")
        self.examples.setPlaceholderText("User: a question\nAssistant: the answer to imitate")
        self.examples.setMaximumHeight(90)
        self.examples.setToolTip(
            "Example exchanges sent after the system prompt, never left out: "
            "lines starting with User: and Assistant:"
        )
        self.json_mode = QCheckBox("JSON output")
        self.json_mode.setAccessibleName("JSON output")
        self.json_mode.setToolTip(
            "Constrain replies to valid JSON with a llama.cpp grammar (to the schema below, "
            "when given); replies are shown pretty-printed"
        )
        self.json_schema = QPlainTextEdit()
        self.json_schema.setAccessibleName("JSON Schema")
        self.json_schema.setPlaceholderText('Optional JSON Schema, e.g. {"type": "object", …}')
        self.json_schema.setMaximumHeight(80)
        self.overflow = QComboBox()
        self.overflow.setAccessibleName("When the history is too long")
        for policy, text in OVERFLOW_CHOICES:
            self.overflow.addItem(text, policy.value)
        self.overflow.setToolTip(
            "When the conversation no longer fits the context: stop and ask, leave out "
            "the oldest turns (the system prompt always stays), or have the model "
            "summarize them"
        )
        self.system_prompt = QPlainTextEdit()
        self.system_prompt.setPlaceholderText("e.g. You are a concise assistant.")
        self.system_prompt.setMaximumHeight(110)
        self.temperature = _double(0.0, 5.0, 0.05)
        self.top_k = _int(0, 1000)
        self.top_p = _double(0.0, 1.0, 0.01)
        self.min_p = _double(0.0, 1.0, 0.01)
        self.repeat_penalty = _double(0.5, 5.0, 0.05)
        self.max_tokens = _int(1, 131072, 64)
        self.n_ctx = _int(256, 1_048_576, 256)
        self.seed = _int(-1, 2**31 - 1)
        self.seed.setSpecialValueText("random")
        self.thinking_budget = _int(0, 1_000_000, 128)
        self.thinking_budget.setSpecialValueText("no limit")
        self.max_tool_steps = _int(1, 100)
        self.thinking = QComboBox()
        self.thinking.setAccessibleName("Thinking")
        for text, value in THINKING_ITEMS:
            self.thinking.addItem(text, value)
        self.thinking.setToolTip(
            "Thinking models (Qwen3, DeepSeek-R1, gpt-oss…): the model's default, on, off, "
            "or gpt-oss's effort (low, medium, high). Their reasoning is shown apart from "
            "the answer."
        )
        self.tools = QLineEdit()
        self.tools.setAccessibleName("Tools")
        self.tools.setPlaceholderText("e.g. calculator, current_datetime, myserver:*")
        self.tools.setToolTip(
            "Tools the model may call in this chat, separated by commas: built-in tools "
            "(calculator, current_datetime, search_conversations, search_documents, "
            "read_file) and MCP servers' tools as server:tool or server:* (Tools → MCP "
            "servers). Each call asks you first unless the tool is always allowed."
        )
        self.tool_choice = QComboBox()
        self.tool_choice.setAccessibleName("Tool choice")
        for choice in ("auto", "required", "none"):
            self.tool_choice.addItem(choice, choice)
        self.tool_choice.setToolTip(
            "auto: the model decides; required: its first reply must call a tool; none: "
            "no tools are offered"
        )
        self.n_threads = _int(0, 256)
        self.n_threads.setSpecialValueText(f"auto ({default_threads()})")
        self.n_gpu_layers = _int(AUTO_GPU_LAYERS, 1000)
        self.n_gpu_layers.setSpecialValueText("auto")
        self.flash_attn = QCheckBox("Flash attention")
        self.flash_attn.setToolTip(
            "Faster attention with less memory on most GPUs; needed for a quantized KV "
            "cache. Reloads the model."
        )
        self.flash_attn.setAccessibleName("Flash attention")
        self.kv_cache_type = QComboBox()
        self.kv_cache_type.addItems(KV_CACHE_TYPES)
        self.kv_cache_type.setToolTip(
            "Number format of the context cache: f16 is exact; q8_0 halves and q4_0 "
            "quarters its memory (needs flash attention). Reloads the model."
        )
        self.kv_cache_type.setAccessibleName("KV cache type")
        # A narrow column puts a label above its field instead of cutting either; combo
        # boxes never shrink below their longest choice.
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        for combo in (self.preset, self.overflow, self.kv_cache_type):
            combo.setSizePolicy(QSizePolicy.Policy.MinimumExpanding, QSizePolicy.Policy.Fixed)
        presets = QHBoxLayout()
        presets.addWidget(self.preset, 1)
        presets.addWidget(self.manage_presets)
        form.addRow("Preset", presets)
        form.addRow("", self.save_preset)
        form.addRow("System prompt", self.system_prompt)
        documents = QHBoxLayout()
        documents.addWidget(self.attached, 1)
        documents.addWidget(self.attach)
        form.addRow("Documents", documents)
        form.addRow("Examples", self.examples)
        # GenerationParams field -> (label, widget, tooltip): the one list of numeric settings
        rows: dict[str, tuple[str, QSpinBox | QDoubleSpinBox, str]] = {
            "temperature": (
                "Temperature",
                self.temperature,
                "Randomness; 0 always picks the likeliest token",
            ),
            "top_k": ("Top-k", self.top_k, "Sample among the k likeliest tokens (0: off)"),
            "top_p": ("Top-p", self.top_p, "Sample among tokens covering this probability mass"),
            "min_p": (
                "Min-p",
                self.min_p,
                "Drop tokens less likely than this fraction of the best",
            ),
            "repeat_penalty": (
                "Repeat penalty",
                self.repeat_penalty,
                "Discourage repeating recent tokens",
            ),
            "max_tokens": ("Max new tokens", self.max_tokens, "Longest reply"),
            "n_ctx": (
                "Context length",
                self.n_ctx,
                "Tokens the model sees; changing it reloads the model",
            ),
            "seed": (
                "Seed",
                self.seed,
                "Fixed seed for repeatable replies; 'random' for a new one",
            ),
            "n_threads": (
                "CPU threads",
                self.n_threads,
                "Threads for llama.cpp; reloads the model",
            ),
            "n_gpu_layers": (
                "GPU layers",
                self.n_gpu_layers,
                "Layers offloaded to a GPU build: auto plans from free VRAM, -1 all, "
                "0 none; reloads",
            ),
        }
        # ...and those shown after the Thinking choice
        thinking_rows: dict[str, tuple[str, QSpinBox | QDoubleSpinBox, str]] = {
            "thinking_budget": (
                "Thinking budget",
                self.thinking_budget,
                "Thinking tokens before it must answer",
            ),
            "max_tool_steps": (
                "Tool steps",
                self.max_tool_steps,
                "Replies that call tools before the answer",
            ),
        }

        def add_numbers(numbers: dict[str, tuple[str, QSpinBox | QDoubleSpinBox, str]]) -> None:
            for label, widget, tip in numbers.values():
                widget.setToolTip(tip)
                widget.setAccessibleName(label)
                form.addRow(label, widget)

        add_numbers(rows)
        form.addRow("Thinking", self.thinking)
        add_numbers(thinking_rows)
        self.choose_tools = QPushButton("Choose…")
        self.choose_tools.setToolTip(
            "Pick this chat's tools from the built-ins and your MCP servers"
        )
        self.choose_tools.clicked.connect(self.choose_tools_requested)
        form.addRow("Tools", self.tools)
        form.addRow("", self.choose_tools)
        form.addRow("Tool choice", self.tool_choice)
        form.addRow("Structured", self.json_mode)
        form.addRow("JSON Schema", self.json_schema)
        form.addRow("History too long", self.overflow)
        form.addRow("Advanced", self.flash_attn)
        form.addRow("KV cache", self.kv_cache_type)
        self.system_prompt.setAccessibleName("System prompt")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #57606a;")
        save = QPushButton("Save as model defaults")
        save.setToolTip("New chats with this model start with these settings")
        reset = QPushButton("Reset")
        reset.setToolTip("Back to this model's defaults")
        save.clicked.connect(self.on_save_clicked)
        reset.clicked.connect(self.reset_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(save)
        buttons.addWidget(reset)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        title = QLabel("<b>Chat settings</b>")
        layout.addWidget(title)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.note)
        layout.addStretch(1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SAVE_DELAY_MS)
        self._timer.timeout.connect(self.on_timer_timeout)
        self.system_prompt.textChanged.connect(self._timer.start)
        self._numbers = {name: widget for name, (_, widget, _) in {**rows, **thinking_rows}.items()}
        self.thinking.currentIndexChanged.connect(self._timer.start)
        self.tools.textChanged.connect(self._timer.start)
        self.tool_choice.currentIndexChanged.connect(self._timer.start)
        for number in self._numbers.values():
            number.valueChanged.connect(self._timer.start)
        self.flash_attn.toggled.connect(self._timer.start)
        self.kv_cache_type.currentTextChanged.connect(self._timer.start)
        self.examples.textChanged.connect(self._timer.start)
        self.json_mode.toggled.connect(self._timer.start)
        self.json_schema.textChanged.connect(self._timer.start)
        self.overflow.currentIndexChanged.connect(self._timer.start)
        self._show_attached()

    # -- attached document collections ---------------------------------------------------

    def set_collections(self, collections: list[Collection]) -> None:
        """The collections there are (names for the attached ids, choices for the menu)."""
        self._collections = list(collections)
        self._known = True
        self._show_attached()

    @property
    def attached_collections(self) -> tuple[int, ...]:
        return self._documents

    @property
    def attached_files(self) -> tuple[int, ...]:
        return self._files

    def attached_names(self) -> list[str]:
        """The attached collections' names."""
        names = {c.id: c.name for c in self._collections}
        gone = "a deleted collection"
        return [names.get(i, gone if self._known else f"collection {i}") for i in self._documents]

    def attached_file_names(self) -> list[str]:
        """The attached files' names, with a word on those not read yet."""
        return [self._file_name(i) for i in self._files]

    def _file_name(self, file_id: int) -> str:
        info = self._file_info.get(file_id)
        if info is None:
            return "a removed file" if file_id in self._gone_files else f"file {file_id}"
        if info.state in (FileState.WAITING, FileState.INDEXING):
            return f"{info.path.name} (indexing)"
        if info.state in (FileState.FAILED, FileState.SKIPPED):
            return f"{info.path.name} ({info.state.value})"
        return info.path.name

    def unknown_files(self, *, every: bool = False) -> tuple[int, ...]:
        """Attached files to ask the library about: those not known yet (``every``: all
        of them but those known to be gone, as indexing moves on or files are removed)."""
        return tuple(
            i
            for i in self._files
            if i not in self._gone_files and (every or i not in self._file_info)
        )

    def set_file_info(self, asked: tuple[int, ...], files: list[DocumentFile]) -> None:
        """What the library said of the files ``asked`` about (those missing are gone)."""
        found = {f.id: f for f in files}
        self._file_info.update(found)
        gone = {i for i in asked if i not in found}
        for file_id in gone:
            self._file_info.pop(file_id, None)
        self._gone_files |= gone
        self._show_attached()

    def _show_attached(self) -> None:
        names = self.attached_names() + self.attached_file_names()
        self.attached.setText(", ".join(names) if names else "none")
        self.attached.setToolTip(
            "This chat answers from: " + ", ".join(names) if names else "No documents attached"
        )
        self.attached_shown.emit()

    @Slot()
    def on_attach_menu_about_to_show(self) -> None:
        menu = self.attach.menu()
        menu.clear()
        for collection in self._collections:
            choice = menu.addAction(collection.name)
            choice.setCheckable(True)
            choice.setChecked(collection.id in self._documents)
            choice.toggled.connect(
                lambda on, cid=collection.id: self.set_attached(cid, attached=on)
            )
        if not self._collections:
            empty = menu.addAction("No collections yet")
            empty.setEnabled(False)
        menu.addSeparator()
        self.add_file_actions(menu)
        menu.addSeparator()
        manage: QAction = menu.addAction("Documents…")
        manage.triggered.connect(self.manage_documents_requested)

    def add_file_actions(self, menu: QMenu) -> None:
        """The attached files (checked: unchecking one takes it off) and the two ways to
        attach one (this menu's and the documents bar's)."""
        for file_id in self._files:
            choice = menu.addAction(self._file_name(file_id))
            choice.setCheckable(True)
            choice.setChecked(True)
            info = self._file_info.get(file_id)
            if info is not None:
                choice.setToolTip(str(info.path))
            choice.toggled.connect(lambda on, fid=file_id: self.set_file_attached(fid, attached=on))
        from_disk: QAction = menu.addAction("Attach a file from disk…")
        from_disk.triggered.connect(self.attach_file_requested)
        of_collection: QAction = menu.addAction("Attach a file of a collection…")
        of_collection.triggered.connect(self.attach_collection_file_requested)
        of_collection.setEnabled(bool(self._collections))

    def set_attached(self, collection_id: int, *, attached: bool) -> None:
        """Attach a collection to this chat, or take it off (saved shortly after)."""
        ids = [i for i in self._documents if i != collection_id]
        if attached:
            ids.append(collection_id)
        if tuple(ids) != self._documents:
            self._documents = tuple(ids)
            self._show_attached()
            self._timer.start()

    def add_files(self, files: list[DocumentFile]) -> None:
        """Attach these files (the library made or found them) to this chat."""
        self._file_info.update({f.id: f for f in files})
        self._gone_files -= {f.id for f in files}
        ids = tuple(dict.fromkeys([*self._files, *(f.id for f in files)]))
        if ids != self._files:
            self._files = ids
            self._timer.start()
        self._show_attached()

    def set_file_attached(self, file_id: int, *, attached: bool) -> None:
        """Attach a file (known by its id) to this chat, or take it off."""
        ids = [i for i in self._files if i != file_id]
        if attached:
            ids.append(file_id)
        if tuple(ids) != self._files:
            self._files = tuple(ids)
            self._show_attached()
            self._timer.start()

    def set_presets(self, presets: list[Preset]) -> None:
        self._presets = presets
        with QSignalBlocker(self.preset):
            self.preset.clear()
            self.preset.addItem("Choose a preset…", 0)
            for preset in presets:
                self.preset.addItem(preset.name, preset.id)

    @Slot(int)
    def on_preset_activated(self, index: int) -> None:
        preset = next((p for p in self._presets if p.id == self.preset.itemData(index)), None)
        if preset is not None:
            self.preset_chosen.emit(preset)

    def set_params(self, params: GenerationParams) -> None:
        widgets = [
            self.system_prompt,
            self.flash_attn,
            self.kv_cache_type,
            self.examples,
            self.json_mode,
            self.json_schema,
            self.overflow,
            self.thinking,
            self.tools,
            self.tool_choice,
        ]
        blockers = [QSignalBlocker(w) for w in [*widgets, *self._numbers.values()]]
        if self.system_prompt.toPlainText() != params.system_prompt:
            self.system_prompt.setPlainText(params.system_prompt)
        examples = format_examples(params.examples)
        if self.examples.toPlainText() != examples:
            self.examples.setPlainText(examples)
        self.json_mode.setChecked(params.json_mode)
        if self.json_schema.toPlainText() != params.json_schema:
            self.json_schema.setPlainText(params.json_schema)
        self.overflow.setCurrentIndex(max(0, self.overflow.findData(params.overflow)))
        for name, widget in self._numbers.items():
            widget.setValue(getattr(params, name))
        self.flash_attn.setChecked(params.flash_attn)
        self.kv_cache_type.setCurrentText(params.kv_cache_type)
        self.thinking.setCurrentIndex(max(0, self.thinking.findData(params.thinking)))
        shown = ", ".join(params.tools)
        if self.tools.text() != shown:
            self.tools.setText(shown)
        if self.tool_choice.findData(params.tool_choice) < 0:  # one named tool
            self.tool_choice.addItem(params.tool_choice, params.tool_choice)
        self.tool_choice.setCurrentIndex(max(0, self.tool_choice.findData(params.tool_choice)))
        self._documents = params.documents
        self._files = params.document_files
        self._show_attached()
        del blockers
        self._timer.stop()

    def set_tools(self, entries: list[str]) -> None:
        """The chat's tools, as chosen in the picker (saved like a typed change)."""
        self.tools.setText(", ".join(entries))

    def chosen_tools(self) -> list[str]:
        return [t for t in re.split(r"[,\s]+", self.tools.text()) if t]

    def params(self) -> GenerationParams:
        """The settings shown. Examples that do not parse are left as they were typed
        and not used (``problem`` says why)."""
        values = {name: widget.value() for name, widget in self._numbers.items()}
        try:
            examples = parse_examples(self.examples.toPlainText())
        except ValueError:
            examples = ()
        return GenerationParams(
            system_prompt=self.system_prompt.toPlainText(),
            flash_attn=self.flash_attn.isChecked(),
            kv_cache_type=self.kv_cache_type.currentText(),
            examples=examples,
            json_mode=self.json_mode.isChecked(),
            json_schema=self.json_schema.toPlainText(),
            overflow=str(self.overflow.currentData()),
            documents=self._documents,
            document_files=self._files,
            thinking=str(self.thinking.currentData() or ""),
            tools=tuple(self.chosen_tools()),
            tool_choice=str(self.tool_choice.currentData() or "auto"),
        ).with_changes(**values)

    def problem(self) -> str:
        """What is wrong with the typed examples or schema ("" when nothing is)."""
        try:
            parse_examples(self.examples.toPlainText())
        except ValueError as exc:
            return f"Examples: {exc}"
        schema = self.json_schema.toPlainText()
        if self.json_mode.isChecked() and schema.strip():
            return json_schema_problem(schema)
        return ""

    def flush(self) -> None:
        """Emit pending changes now (before a send, or when switching conversations)."""
        if self._timer.isActive():
            self._timer.stop()
            self.params_changed.emit(self.params())

    @Slot()
    def on_timer_timeout(self) -> None:
        self.note.setText(self.problem())
        self.params_changed.emit(self.params())

    @Slot()
    def on_save_clicked(self) -> None:
        self.save_defaults_requested.emit(self.params())
