"""Hosting a room: its name, your name, a room code, a size limit, who can find it and what
newcomers see, the files it takes, and the assistant.

A room code is required by default, offered ready made (:func:`core.pake.generate_room_code`:
eight digits, easy to read aloud), can be made anew, or typed by the host; one that could never
be typed by a guest (:class:`core.pake.InvalidRoomCode`) is said under its field. The box starts
ticked in every dialog, whatever was chosen last time (rooms are temporary): only in a room with
a code does the encryption hold against someone in the middle of the network. Unticked, the
code's rows (its field, its problem, its hint) are hidden.

The room's name and yours are checked as they are typed, by the room's own rules
(:func:`core.text_rules.normalize_room_name`, :func:`~core.text_rules.normalize_display_name`);
a problem is said under its field and goes away as soon as it is fixed. The room's name is
not remembered: a room name says what a group talks about, and preferences are kept in a
file. Model names listed by a provider come from the network and are shown as plain text.

A key for a server reached over plain ``http://`` on another machine would cross the network
readable by anyone on it: the dialog then asks for explicit consent ("Send the key
unencrypted") and refuses to open the room without it (:class:`InsecureKeyTransport`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.ai.desk import AssistantConfig
from core.ai.provider import (
    PRESETS,
    ChatProvider,
    InsecureKeyTransport,
    ProviderProblem,
    ProviderSettings,
    is_loopback_url,
    without_credentials,
)
from core.pake import generate_room_code
from core.protocol import MAX_ROOM_NAME_CHARS, Limits
from core.room import RoomConfig
from core.text_rules import TextRejected, normalize_display_name, normalize_room_name
from desktop.assistant_dialog import MODE_LABELS, limit_spin, persona_problem, quota_window_spin
from desktop.join_dialogs import room_code_problem, sentence
from desktop.labels import PlainLabel
from desktop.settings import KeyStore, Preferences, SavedPreset
from desktop.verification import code_font

__all__ = ["HostDialog", "HostPlan"]

DEFAULT_ROOM_NAME = "Our room"
DIALOG_WIDTH = 560
MIN_HEIGHT = 420  # on a small screen the form scrolls, down to this
MAX_LISTED_MODELS = 1000  # a provider's list is network input: bounded, like its entries
MAX_MODEL_CHARS = 200

SAVED = "saved:"
"""The provider choice's data for a preset saved in Settings: this, then its name."""
PROVIDER_CHOICES = [
    ("none", "No assistant"),
    ("openai", "OpenAI"),
    ("ollama", "Ollama (on this computer)"),
    ("lmstudio", "LM Studio (on this computer)"),
    ("compatible", "Other OpenAI-compatible server"),
]

ANNOUNCE_HINT = "Listed for everyone on this network. Unticked: join by address or link only."
CANNOT_ANNOUNCE_HINT = (
    "The app is not looking for rooms on this network, so it cannot announce this one: share "
    "its address or link."
)
HISTORY_HINT = "Up to the last 500 messages. Unticked: only what is written after they join."
ROOM_CODE_HINT = "Only people who type this code can join. Read it out, or type your own."
NO_ASSISTANT_NOTE = "The room works without an assistant; people just chat."
FILES_HINT = (
    "Files stay in this computer's memory until the room closes. Largest file 0: nobody can "
    "share files."
)
MB = 1000 * 1000  # the unit of the file limits (as the room's messages say sizes)
MAX_FILE_MB = 100
MAX_EDIT_MINUTES = 24 * 60
MAX_FILE_MEMORY_MB = 4000


@dataclass
class HostPlan:
    """What the dialog settled on: the room to open, who you are, the provider, and whether
    the room is announced on the local network."""

    config: RoomConfig
    your_name: str
    provider: ProviderSettings | None
    advertise: bool = True


class HostDialog(QDialog):
    """Collects everything needed to open a room; :meth:`plan` returns it once accepted.

    ``can_announce`` is false when the app is not browsing the network (discovery is off or
    unavailable): the room then cannot be announced, and the dialog says so.
    """

    def __init__(
        self,
        prefs: Preferences,
        keys: KeyStore,
        parent: QWidget | None = None,
        *,
        can_announce: bool = True,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Host a room")
        self._prefs = prefs
        self._keys = keys
        self._tasks: set[asyncio.Task[None]] = set()
        self._finished = False  # once closed, it may be deleted: a running test stops
        self._build_room_box(can_announce)
        self._build_assistant_box()

        self.problem = PlainLabel(name="problem", wrap=True)
        self.problem.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Open the room")
        # The form scrolls on a screen too small for all of it; the problem and the buttons
        # stay in view under it.
        self.form_area = QWidget()
        form_layout = QVBoxLayout(self.form_area)
        form_layout.setContentsMargins(0, 0, 0, 0)
        form_layout.addWidget(self.room_box)
        form_layout.addWidget(self.ai_box)
        form_layout.addStretch(1)
        self.form_area.installEventFilter(self)
        self.scroll_area = QScrollArea(widgetResizable=True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll_area.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Tab goes through its fields
        self.scroll_area.setWidget(self.form_area)
        layout = QVBoxLayout(self)
        layout.addWidget(self.scroll_area, 1)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)

        self._connect_signals()
        self._require_code_toggled(self.require_code.isChecked())
        self.provider.setCurrentIndex(max(0, self.provider.findData(prefs.get("provider", "none"))))
        self._provider_changed()
        self.setFixedWidth(DIALOG_WIDTH)
        self._fit_height()

    # ----------------------------------------------------------------- building

    def _build_room_box(self, can_announce: bool) -> None:
        self.room_name = QLineEdit(DEFAULT_ROOM_NAME)
        self.room_name.setMaxLength(MAX_ROOM_NAME_CHARS)
        self.room_name_problem = PlainLabel(name="problem", wrap=True)
        self.room_name_problem.hide()
        self.your_name = QLineEdit(self._prefs.hosting_name())
        self.your_name.setPlaceholderText("How others will see you")
        self.your_name_problem = PlainLabel(name="problem", wrap=True)
        self.your_name_problem.hide()
        self.require_code = QCheckBox("Require a room code")
        self.require_code.setChecked(True)  # never remembered: see the module's docstring
        # Shown, not hidden like a password: the host reads it out to the people invited.
        self.room_code = QLineEdit(generate_room_code())
        self.room_code.setFont(code_font(self.room_code.font(), 1.15, bold=False))
        self.room_code.setAccessibleName("Room code")
        self.new_code_button = QPushButton("New code")
        self.new_code_button.setAccessibleDescription("Make another room code")
        self.new_code_button.setAutoDefault(False)  # Enter opens the room
        self.room_code_row = code_row = QHBoxLayout()
        code_row.addWidget(self.room_code, 1)
        code_row.addWidget(self.new_code_button)
        self.room_code_problem = PlainLabel(name="problem", wrap=True)
        self.room_code_hint = PlainLabel(ROOM_CODE_HINT, name="hint", wrap=True)
        self.max_people = limit_spin(None, 500, " people")
        self.max_people.setPrefix("at most ")
        self.announce = QCheckBox("Announce this room on the network")
        self.announce.setChecked(can_announce)
        self.announce.setEnabled(can_announce)
        self.announce_hint = PlainLabel(
            ANNOUNCE_HINT if can_announce else CANNOT_ANNOUNCE_HINT, name="hint", wrap=True
        )
        self.share_history = QCheckBox("New people see earlier messages")
        self.share_history.setChecked(True)
        self.history_hint = PlainLabel(HISTORY_HINT, name="hint", wrap=True)
        defaults = Limits()
        self.max_file = QSpinBox()
        self.max_file.setRange(0, MAX_FILE_MB)
        self.max_file.setSpecialValueText("No files")
        self.max_file.setSuffix(" MB")
        self.max_file.setValue(defaults.max_file_bytes // MB)
        self.max_file.setAccessibleName("Largest file, in megabytes (0: no files)")
        self.file_memory = QSpinBox()
        self.file_memory.setRange(1, MAX_FILE_MEMORY_MB)
        self.file_memory.setSuffix(" MB")
        self.file_memory.setValue(defaults.file_budget_bytes // MB)
        self.file_memory.setAccessibleName("Memory for files, in megabytes")
        self.files_hint = PlainLabel(FILES_HINT, name="hint", wrap=True)
        self.edit_minutes = QSpinBox()
        self.edit_minutes.setRange(0, MAX_EDIT_MINUTES)
        self.edit_minutes.setSpecialValueText("Never")
        self.edit_minutes.setSuffix(" minutes")
        self.edit_minutes.setValue(int(defaults.edit_window // 60))
        self.edit_minutes.setAccessibleName("Messages can be edited for, in minutes (0: never)")
        form = QFormLayout()
        form.addRow("Room name", self.room_name)
        form.addRow("", self.room_name_problem)
        form.addRow("Your name", self.your_name)
        form.addRow("", self.your_name_problem)
        form.addRow("", self.require_code)
        form.addRow("Room code", code_row)
        form.addRow("", self.room_code_problem)
        form.addRow("", self.room_code_hint)
        form.addRow("Room size", self.max_people)
        form.addRow("", self.announce)
        form.addRow("", self.announce_hint)
        form.addRow("", self.share_history)
        form.addRow("", self.history_hint)
        form.addRow("Largest file", self.max_file)
        form.addRow("Memory for files", self.file_memory)
        form.addRow("", self.files_hint)
        form.addRow("Editing allowed for", self.edit_minutes)
        self.room_box = QGroupBox("Room")
        self.room_box.setLayout(form)
        self.room_form = form

    def _build_assistant_box(self) -> None:
        self.provider = QComboBox()
        self.provider.setAccessibleName("Provider")
        for key, label in PROVIDER_CHOICES:
            self.provider.addItem(label, key)
        self._saved = {f"{SAVED}{preset.name}": preset for preset in self._prefs.presets()}
        if self._saved:  # the presets saved in Settings, after a line
            self.provider.insertSeparator(self.provider.count())
        for data, preset in self._saved.items():
            self.provider.addItem(f"{preset.name} (saved)", data)
        self.base_url = QLineEdit()
        self.api_key = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.key_note = PlainLabel(name="hint", wrap=True)
        self.no_assistant_note = PlainLabel(NO_ASSISTANT_NOTE, name="hint", wrap=True)
        self.key_over_http = QCheckBox("Send the key unencrypted (http://)")
        self.key_over_http_note = PlainLabel(name="problem", wrap=True)
        self.model = QComboBox(editable=True)
        self.model.setAccessibleName("Model")
        self.model.setMinimumWidth(220)
        # Long model names (from the provider) must not widen the dialog.
        self.model.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model.setMinimumContentsLength(24)
        self.test_button = QPushButton("Test connection")
        self.test_result = PlainLabel(name="hint", wrap=True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model_row = model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(self.test_button)
        self.persona = QPlainTextEdit()
        self.persona.setPlaceholderText("Instructions for the assistant (optional)")
        self.persona.setMaximumHeight(80)
        self.persona.setTabChangesFocus(True)  # else a keyboard user cannot get past it
        self.mode = QComboBox()
        self.mode.setAccessibleName("When the assistant answers")
        for key, label in MODE_LABELS.items():
            self.mode.addItem(label, key)
        self.budget = limit_spin(None, 100_000_000, " tokens")
        self.budget.setSingleStep(10_000)
        self.quota = limit_spin(None, 1000, " answers")
        self.quota_window = quota_window_spin(10)
        self.deadline = QSpinBox()
        self.deadline.setRange(1, 60)
        self.deadline.setSuffix(" minutes")
        self.deadline.setValue(round(ProviderSettings.answer_deadline / 60))
        self.deadline.setToolTip(
            "An answer that takes longer than this (waits for the provider included) is given "
            "up, keeping what it wrote, so one stuck question never holds the queue for long."
        )
        self.deadline.setAccessibleName("Longest answer")
        self.ai_form = form = QFormLayout()
        form.addRow("Provider", self.provider)
        form.addRow("", self.no_assistant_note)
        form.addRow("Server address", self.base_url)
        form.addRow("API key", self.api_key)
        form.addRow("", self.key_note)
        form.addRow("", self.key_over_http)
        form.addRow("", self.key_over_http_note)
        form.addRow("Model", model_row)
        form.addRow("", self.test_result)
        form.addRow("Answers", self.mode)
        form.addRow("Instructions", self.persona)
        form.addRow("Room token budget", self.budget)
        form.addRow("Per-guest quota", self.quota)
        form.addRow("Quota window", self.quota_window)
        form.addRow("Longest answer", self.deadline)
        self.ai_box = QGroupBox("Assistant")
        self.ai_box.setLayout(form)
        # Everything but the provider: without an assistant these rows are
        # hidden and their fields disabled, so nothing looks as if it could be filled in.
        self._assistant_fields: list[QWidget] = [
            self.base_url, self.api_key, self.model, self.test_button, self.test_result,
            self.mode, self.persona, self.budget, self.quota, self.quota_window, self.deadline,
        ]  # fmt: skip
        self._assistant_rows: list[QWidget | QHBoxLayout] = [
            self.base_url, self.api_key, self.key_note, model_row, self.test_result, self.mode,
            self.persona, self.budget, self.quota, self.quota_window, self.deadline,
        ]  # fmt: skip

    def _connect_signals(self) -> None:
        self.finished.connect(self.on_finished)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        self.room_name.textChanged.connect(self._check_room_name)
        self.require_code.toggled.connect(self._require_code_toggled)
        self.room_code.textChanged.connect(self._check_room_code)
        self.new_code_button.clicked.connect(self.on_new_code_clicked)
        self.max_file.valueChanged.connect(self._max_file_changed)
        self.your_name.textChanged.connect(self._check_your_name)
        self.provider.currentIndexChanged.connect(self._provider_changed)
        self.base_url.textChanged.connect(self._update_key_consent)
        self.api_key.textChanged.connect(self._update_key_consent)
        self.key_over_http.toggled.connect(self._update_key_consent)
        self.test_button.clicked.connect(self._test_clicked)
        for edited in (self.room_name.textChanged, self.your_name.textChanged,
                       self.room_code.textChanged, self.require_code.toggled,
                       self.base_url.textChanged,
                       self.api_key.textChanged, self.model.editTextChanged,
                       self.key_over_http.toggled, self.provider.currentIndexChanged):  # fmt: skip
            edited.connect(self._clear_problem)

    # ----------------------------------------------------------------- size

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        form = getattr(self, "form_area", None)  # called during construction and teardown too
        if watched is form and event.type() == QEvent.Type.LayoutRequest:
            self._fit_height()  # a note appeared or went, rows were shown or hidden
        return super().eventFilter(watched, event)

    def _fit_height(self) -> None:
        """As tall as the form needs at this width (wrapped notes included), up to most of
        the screen; the form scrolls beyond. Qt sizes a window by its layout's size hint,
        which ignores height-for-width and would squeeze the notes."""
        form = self.form_area.layout()
        outer = self.layout()
        if form is None or outer is None:
            return
        self.ensurePolished()
        outer.activate()  # the scroll area's place as things are now
        around = self.height() - self.scroll_area.height()  # margins, the problem, the buttons
        wanted = around + form.totalHeightForWidth(self.scroll_area.width())
        screen = self.screen().availableGeometry().height() if self.screen() else wanted
        height = min(wanted, int(screen * 0.9))
        self.setMinimumHeight(min(height, MIN_HEIGHT))
        if height != self.height():
            self.resize(self.width(), height)

    # ----------------------------------------------------------------- files

    def _max_file_changed(self, megabytes: int) -> None:
        """Without files there is no memory for them to set; the memory holds the largest
        file at least (its field cannot go lower)."""
        self.file_memory.setEnabled(megabytes > 0)
        self.file_memory.setMinimum(max(1, megabytes))

    def file_limits(self) -> tuple[int, int]:
        """The largest file the room takes (0: no files) and the memory all its files may
        take together, in bytes."""
        return self.max_file.value() * MB, self.file_memory.value() * MB

    # ----------------------------------------------------------------- names

    def _check_room_name(self, text: str) -> None:
        """Say under the field what is wrong with the name as typed, by the room's rules."""
        _show_note(self.room_name_problem, _name_problem(normalize_room_name, text))

    def _check_your_name(self, text: str) -> None:
        _show_note(self.your_name_problem, _name_problem(normalize_display_name, text))

    # ----------------------------------------------------------------- the room code

    def _require_code_toggled(self, required: bool) -> None:
        """The code's rows are there only while a code is required: nothing to fill in or
        read otherwise (the code made for the dialog stays, should the box be ticked again)."""
        self.room_code.setEnabled(required)
        self.new_code_button.setEnabled(required)
        self.room_form.setRowVisible(self.room_code_row, required)
        self.room_form.setRowVisible(self.room_code_hint, required)
        self._check_room_code(self.room_code.text())

    def _check_room_code(self, text: str) -> None:
        """Say under the field why a code typed by the host could never be typed by a guest."""
        problem = room_code_problem(text) if self.require_code.isChecked() else ""
        self.room_code_problem.setText(problem)
        self.room_form.setRowVisible(self.room_code_problem, bool(problem))  # no gap when none

    def on_new_code_clicked(self) -> None:
        self.room_code.setText(generate_room_code())
        self.room_code.setFocus()

    def room_code_text(self) -> str | None:
        """The room code to open the room with (as shown), or None for a room without one.
        Raises ``ValueError`` with a sentence when a code is required but unusable."""
        if not self.require_code.isChecked():
            return None
        text = self.room_code.text().strip()
        if not text:
            raise ValueError("Type a room code, make a new one, or untick “Require a room code”.")
        problem = room_code_problem(text)
        if problem:
            raise ValueError(f"Room code: {problem}")
        return text

    def _clear_problem(self, *_: object) -> None:
        """The problem under the form was about what was there: any change may have fixed
        it, and a stale one misleads. Opening the room checks everything again."""
        if self.problem.text():
            self._say_problem("")

    def _say_problem(self, text: str) -> None:
        """What stops the room from opening, under the form (outside its scrolling)."""
        _show_note(self.problem, text)
        self._fit_height()

    # ----------------------------------------------------------------- provider choice

    def _preset(self) -> str:
        """The provider chosen (a key of ``PRESETS``), a saved preset's included."""
        saved = self._saved_preset()
        return saved.provider if saved is not None else str(self.provider.currentData())

    def _saved_preset(self) -> SavedPreset | None:
        return self._saved.get(str(self.provider.currentData()))

    def _provider_changed(self) -> None:
        preset = self._preset()
        enabled = preset != "none"
        for widget in self._assistant_fields:
            widget.setEnabled(enabled)
        for row in self._assistant_rows:
            self.ai_form.setRowVisible(row, enabled)
        self.ai_form.setRowVisible(self.no_assistant_note, not enabled)
        self._say_test_result("")
        if not enabled:
            self._update_key_consent()
            return
        info = PRESETS[preset]
        saved = self._saved_preset()
        saved_url = saved.base_url if saved is not None else self._prefs.get(f"base_url:{preset}")
        self.base_url.setText(saved_url or info.base_url)
        self.base_url.setPlaceholderText("http://host:port/v1")
        self.api_key.setText(self._keys.get(self._where()) or "")
        self.api_key.setPlaceholderText(
            "sk-…" if info.needs_key else "Not needed for most local servers"
        )
        if self._keys.available:
            self.key_note.setText(
                "The key is kept in your system's keyring, on this computer only."
            )
        elif self._keys.file_enabled:  # the person chose it in Settings
            self.key_note.setText(
                "No keyring is available on this system: the key is kept in the file only you "
                "can read that you chose in Settings."
            )
        else:
            self.key_note.setText(
                "No keyring is available on this system: the key is kept for this session only "
                "and forgotten when the app closes."
            )
        model = saved.model if saved is not None else self._prefs.get(f"model:{preset}")
        model = model or ("gpt-4o-mini" if preset == "openai" else "")
        self.model.clear()
        if model:
            self.model.addItem(model)
        self.model.setEditText(model)
        self._update_key_consent()

    def _say_test_result(self, text: str) -> None:
        """What the connection test found; its row takes no room while there is nothing."""
        self.test_result.setText(text)
        self.ai_form.setRowVisible(self.test_result, bool(text) and self._preset() != "none")

    def _where(self) -> str:
        return self.base_url.text().strip() or PRESETS[self._preset()].base_url

    def key_goes_over_http(self) -> bool:
        """Whether the key (or credentials in the address) would go unencrypted to another
        machine: plain ``http://`` to anything but this computer."""
        if self._preset() == "none":
            return False
        url = self._where()
        try:
            parts = urlsplit(url)
            credentials = bool(self.api_key.text().strip() or parts.username or parts.password)
        except ValueError:
            return False
        return credentials and parts.scheme == "http" and not is_loopback_url(url)

    def _update_key_consent(self, *_: object) -> None:
        """Offer the consent only where it applies; say what it means while it is given."""
        needed = self.key_goes_over_http()
        self.ai_form.setRowVisible(self.key_over_http, needed)
        self.ai_form.setRowVisible(self.key_over_http_note, needed)
        if needed and self.key_over_http.isChecked():
            self.key_over_http_note.setText(
                "Anyone on the network between this computer and the server can read the key."
            )
        elif needed:
            self.key_over_http_note.setText(
                "This address is not encrypted: use https://, or tick the box to send the key "
                "anyway."
            )
        else:
            self.key_over_http_note.setText("")

    def provider_settings(self, *, model_required: bool = True) -> ProviderSettings | None:
        """Settings from the form; None with no assistant. Raises ``ValueError`` with a
        sentence when unusable (:class:`InsecureKeyTransport` for a key over plain http
        without consent)."""
        preset = self._preset()
        if preset == "none":
            return None
        model = self.model.currentText().strip()
        if not model and model_required:
            raise ValueError("Choose a model (Test connection lists what the server offers).")
        return ProviderSettings.from_preset(
            preset,
            model=model,
            base_url=self._where(),
            api_key=self.api_key.text().strip() or None,
            env_key=preset == "openai",
            allow_key_over_http=self.key_over_http.isChecked(),
            answer_deadline=self.deadline.value() * 60.0,
        )

    def on_finished(self) -> None:
        """Stop a connection test still running: whoever opened the dialog may delete it now
        (it holds the API key and the room code)."""
        self._finished = True
        for task in list(self._tasks):
            task.cancel()

    def _test_clicked(self) -> None:
        try:  # no model yet: test the server, and list its models
            settings = self.provider_settings(model_required=False)
        except InsecureKeyTransport:
            self._say_test_result(
                "Not tested: the key would be sent unencrypted (http://). Use https://, or tick "
                "“Send the key unencrypted” above."
            )
            return
        except ValueError as exc:
            self._say_test_result(sentence(str(exc)))
            return
        if settings is None:
            return
        self.test_button.setEnabled(False)
        self._say_test_result("Testing…")
        task = asyncio.ensure_future(self._test(settings))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _test(self, settings: ProviderSettings) -> None:
        provider = ChatProvider(settings)
        try:
            report = await provider.check()  # never raises (cancelled when the dialog closes)
        finally:
            await provider.aclose()
        if self._finished:  # the dialog may be deleted by now: nothing to show
            return
        self.test_button.setEnabled(True)
        models = _listable(report.models)
        if models:
            current = self.model.currentText().strip()
            self.model.clear()
            self.model.addItems(models)
            self.model.setEditText(current or models[0])
        if report.ok:
            self._say_test_result(f"✓ {report.message}")
        elif report.problem is ProviderProblem.UNKNOWN_MODEL and not settings.model:
            self._say_test_result(f"✓ Connected; choose one of {len(report.models)} models.")
        else:
            self._say_test_result(f"✗ {report.message}")

    # ----------------------------------------------------------------- accepting

    def _accept(self) -> None:
        try:
            self._plan = self._build_plan()
        except InsecureKeyTransport:
            self._say_problem(
                "The API key would be sent unencrypted (http://) to another computer. Use "
                "https://, or tick “Send the key unencrypted”.",
            )
            self.key_over_http.setFocus()
            return
        except (ValueError, TextRejected) as exc:
            self._say_problem(str(exc))
            return
        self.accept()

    def _build_plan(self) -> HostPlan:
        if not self.room_name.text().strip():
            raise ValueError("Give the room a name.")
        try:
            name = normalize_room_name(self.room_name.text())
        except TextRejected as exc:
            raise ValueError(f"Room name: {exc}.") from None
        try:
            you = normalize_display_name(self.your_name.text())
        except TextRejected as exc:
            raise ValueError(f"Your name: {exc}.") from None
        room_code = self.room_code_text()
        max_file_bytes, file_budget_bytes = self.file_limits()
        settings = self.provider_settings()
        assistant = None
        problem = persona_problem(self.persona.toPlainText().strip())
        if settings is not None and problem is not None:
            raise ValueError(problem)
        if settings is not None:
            assistant = AssistantConfig(
                model=settings.model, provider=settings.label, provider_kind=settings.kind,
                mode=str(self.mode.currentData()), persona=self.persona.toPlainText().strip(),
                token_budget=self.budget.value() or None, answer_quota=self.quota.value() or None,
                quota_window=self.quota_window.value() * 60.0,
            )  # fmt: skip
            key = self.api_key.text().strip()
            if key:
                self._keys.set(self._where(), key)
            if self._saved_preset() is None:  # a saved preset changes only in Settings
                self._prefs.set(f"model:{settings.preset}", settings.model)
                self._prefs.set(f"base_url:{settings.preset}", without_credentials(self._where()))
        self._prefs.set("provider", str(self.provider.currentData()))
        if self._prefs.separate_hosting_name():
            self._prefs.set_hosting_name(you)
        else:
            self._prefs.set_display_name(you)
        config = RoomConfig(
            name=name, password=room_code,
            max_participants=self.max_people.value() or None, assistant=assistant,
            share_history=self.share_history.isChecked(),
            max_file_bytes=max_file_bytes, file_budget_bytes=file_budget_bytes,
            edit_window=self.edit_minutes.value() * 60.0,
        )  # fmt: skip
        return HostPlan(config, you, settings, advertise=self.announce.isChecked())

    def plan(self) -> HostPlan:
        return self._plan


def _name_problem(rule: Callable[[str], str], text: str) -> str:
    """What is wrong with ``text`` by ``rule`` (a normaliser that raises
    :class:`TextRejected`), as a sentence; empty when nothing is, or nothing was typed."""
    if not text.strip():
        return ""
    try:
        rule(text)
    except TextRejected as exc:
        return sentence(str(exc))
    return ""


def _show_note(label: PlainLabel, text: str) -> None:
    """Show ``text`` in ``label``; an empty note takes no room."""
    label.setText(text)
    label.setVisible(bool(text))


def _listable(models: tuple[str, ...]) -> list[str]:
    """The model ids worth listing: bounded in number and length, one line each."""
    usable = [m for m in models if m.isprintable() and 0 < len(m) <= MAX_MODEL_CHARS]
    return usable[:MAX_LISTED_MODELS]
