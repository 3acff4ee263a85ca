"""Hosting a room: its name, your name, a password, a cap, and the assistant.

The room's name is checked as it is typed, by the room's own rules
(:func:`core.text_rules.normalize_room_name`), and is not remembered: a room name says what a
group talks about, and preferences are kept in a file. Model names listed by a provider come
from the network and are shown as plain text.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.ai.desk import AssistantConfig
from core.ai.provider import (
    PRESETS,
    ChatProvider,
    ProviderProblem,
    ProviderSettings,
    without_credentials,
)
from core.protocol import MAX_ROOM_NAME_CHARS
from core.room import RoomConfig
from core.text_rules import TextRejected, normalize_display_name, normalize_room_name
from desktop.assistant_dialog import MODE_LABELS, limit_spin
from desktop.join_dialogs import sentence
from desktop.labels import PlainLabel
from desktop.settings import KeyStore, Preferences

__all__ = ["HostDialog", "HostPlan"]

DEFAULT_ROOM_NAME = "Our room"
MAX_LISTED_MODELS = 1000  # a provider's list is network input: bounded, like its entries
MAX_MODEL_CHARS = 200

PROVIDER_CHOICES = [
    ("none", "No assistant"),
    ("openai", "OpenAI"),
    ("ollama", "Ollama (on this computer)"),
    ("lmstudio", "LM Studio (on this computer)"),
    ("compatible", "Other OpenAI-compatible server"),
]


@dataclass
class HostPlan:
    """What the dialog settled on: the room to open, who you are, and the provider."""

    config: RoomConfig
    your_name: str
    provider: ProviderSettings | None


class HostDialog(QDialog):
    """Collects everything needed to open a room; :meth:`plan` returns it."""

    def __init__(self, prefs: Preferences, keys: KeyStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Host a room")
        self._prefs = prefs
        self._keys = keys
        self._tasks: set[asyncio.Task[None]] = set()

        self.room_name = QLineEdit(DEFAULT_ROOM_NAME)
        self.room_name.setMaxLength(MAX_ROOM_NAME_CHARS)
        self.room_name_problem = PlainLabel(name="problem", wrap=True)
        self.room_name_problem.hide()
        self.your_name = QLineEdit(prefs.get("display_name"))
        self.password = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("Optional")
        self.max_people = limit_spin(None, 500, " people")
        room_form = QFormLayout()
        room_form.addRow("Room name", self.room_name)
        room_form.addRow("", self.room_name_problem)
        room_form.addRow("Your name", self.your_name)
        room_form.addRow("Password", self.password)
        room_form.addRow("At most", self.max_people)

        self.provider = QComboBox()
        for key, label in PROVIDER_CHOICES:
            self.provider.addItem(label, key)
        self.base_url = QLineEdit()
        self.api_key = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.key_note = PlainLabel(name="hint", wrap=True)
        self.model = QComboBox(editable=True)
        self.model.setMinimumWidth(220)
        # Long model names (from the provider) must not widen the dialog.
        self.model.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model.setMinimumContentsLength(24)
        self.test_button = QPushButton("Test connection")
        self.test_result = PlainLabel(name="hint", wrap=True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(self.test_button)
        self.persona = QPlainTextEdit()
        self.persona.setPlaceholderText("Instructions for the assistant (optional)")
        self.persona.setMaximumHeight(80)
        self.mode = QComboBox()
        for key, label in MODE_LABELS.items():
            self.mode.addItem(label, key)
        self.budget = limit_spin(None, 100_000_000, " tokens")
        self.budget.setSingleStep(10_000)
        self.quota = limit_spin(None, 1000, " answers")
        self.window = QSpinBox(minimum=1, maximum=24 * 60, suffix=" minutes", value=10)
        ai_form = QFormLayout()
        ai_form.addRow("Provider", self.provider)
        ai_form.addRow("Server address", self.base_url)
        ai_form.addRow("API key", self.api_key)
        ai_form.addRow("", self.key_note)
        ai_form.addRow("Model", model_row)
        ai_form.addRow("", self.test_result)
        ai_form.addRow("Answers", self.mode)
        ai_form.addRow("Instructions", self.persona)
        ai_form.addRow("Room token budget", self.budget)
        ai_form.addRow("Per-guest quota", self.quota)
        ai_form.addRow("Quota window", self.window)
        self.ai_box = QGroupBox("Assistant")
        self.ai_box.setLayout(ai_form)

        self.problem = PlainLabel(name="problem", wrap=True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Open the room")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        room_box = QGroupBox("Room")
        room_box.setLayout(room_form)
        layout = QVBoxLayout(self)
        layout.addWidget(room_box)
        layout.addWidget(self.ai_box)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)

        self.room_name.textChanged.connect(self._check_room_name)
        self.provider.currentIndexChanged.connect(self._provider_changed)
        self.test_button.clicked.connect(self._test_clicked)
        self.provider.setCurrentIndex(max(0, self.provider.findData(prefs.get("provider", "none"))))
        self._provider_changed()
        self.resize(520, 0)

    # ----------------------------------------------------------------- room name

    def _check_room_name(self, text: str) -> None:
        """Say under the field what is wrong with the name as typed, by the room's rules."""
        try:
            normalize_room_name(text)
        except TextRejected as exc:
            self.room_name_problem.setText(sentence(str(exc)))
            self.room_name_problem.show()
            return
        self.room_name_problem.hide()
        self.room_name_problem.setText("")

    # ----------------------------------------------------------------- provider choice

    def _preset(self) -> str:
        return str(self.provider.currentData())

    def _provider_changed(self) -> None:
        preset = self._preset()
        enabled = preset != "none"
        for widget in (self.base_url, self.api_key, self.model, self.test_button, self.persona,
                       self.mode, self.budget, self.quota, self.window):  # fmt: skip
            widget.setEnabled(enabled)
        self.test_result.setText("")
        if not enabled:
            self.key_note.setText("The room works without an assistant; people just chat.")
            return
        info = PRESETS[preset]
        saved_url = self._prefs.get(f"base_url:{preset}")
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
        else:
            self.key_note.setText(
                "No keyring is available on this system: the key is kept for this session only "
                "and forgotten when the app closes."
            )
        model = self._prefs.get(f"model:{preset}") or ("gpt-4o-mini" if preset == "openai" else "")
        self.model.clear()
        if model:
            self.model.addItem(model)
        self.model.setEditText(model)

    def _where(self) -> str:
        return self.base_url.text().strip() or PRESETS[self._preset()].base_url

    def provider_settings(self) -> ProviderSettings | None:
        """Settings from the form; raises ``ValueError`` with a sentence when unusable."""
        preset = self._preset()
        if preset == "none":
            return None
        model = self.model.currentText().strip()
        if not model:
            raise ValueError("Choose a model (Test connection lists what the server offers).")
        return ProviderSettings.from_preset(
            preset,
            model=model,
            base_url=self._where(),
            api_key=self.api_key.text().strip() or None,
            env_key=self._preset() == "openai",
        )

    def _test_clicked(self) -> None:
        try:
            try:
                settings = self.provider_settings()
            except ValueError as exc:
                if "Choose a model" not in str(exc):
                    raise
                settings = ProviderSettings.from_preset(  # test the server, list its models
                    self._preset(), model="", base_url=self._where(),
                    api_key=self.api_key.text().strip() or None,
                    env_key=self._preset() == "openai",
                )  # fmt: skip
        except ValueError as exc:  # also a key that would go over plain http
            self.test_result.setText(sentence(str(exc)))
            return
        if settings is None:
            return
        self.test_button.setEnabled(False)
        self.test_result.setText("Testing…")
        task = asyncio.ensure_future(self._test(settings))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _test(self, settings: ProviderSettings) -> None:
        provider = ChatProvider(settings)
        try:
            report = await provider.check()
        finally:
            await provider.aclose()
        models = _listable(report.models)
        if models:
            current = self.model.currentText().strip()
            self.model.clear()
            self.model.addItems(models)
            self.model.setEditText(current or models[0])
        if report.ok:
            self.test_result.setText(f"✓ {report.message}")
        elif report.problem is ProviderProblem.UNKNOWN_MODEL and not settings.model:
            self.test_result.setText(f"✓ Connected; choose one of {len(report.models)} models.")
        else:
            self.test_result.setText(f"✗ {report.message}")
        self.test_button.setEnabled(True)

    # ----------------------------------------------------------------- accepting

    def _accept(self) -> None:
        try:
            self._plan = self._build_plan()
        except (ValueError, TextRejected) as exc:
            self.problem.setText(str(exc))
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
        settings = self.provider_settings()
        assistant = None
        if settings is not None:
            assistant = AssistantConfig(
                model=settings.model, provider=settings.label, provider_kind=settings.kind,
                mode=str(self.mode.currentData()), persona=self.persona.toPlainText().strip(),
                token_budget=self.budget.value() or None, answer_quota=self.quota.value() or None,
                quota_window=self.window.value() * 60.0,
            )  # fmt: skip
            key = self.api_key.text().strip()
            if key:
                self._keys.set(self._where(), key)
            self._prefs.set(f"model:{settings.preset}", settings.model)
            self._prefs.set(f"base_url:{settings.preset}", without_credentials(self._where()))
        self._prefs.set("provider", self._preset())
        self._prefs.set("display_name", you)
        config = RoomConfig(
            name=name, password=self.password.text() or None,
            max_participants=self.max_people.value() or None, assistant=assistant,
        )  # fmt: skip
        return HostPlan(config, you, settings)

    def plan(self) -> HostPlan:
        return self._plan


def _listable(models: tuple[str, ...]) -> list[str]:
    """The model ids worth listing: bounded in number and length, one line each."""
    usable = [m for m in models if m.isprintable() and 0 < len(m) <= MAX_MODEL_CHARS]
    return usable[:MAX_LISTED_MODELS]
