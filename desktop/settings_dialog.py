"""The Settings dialog: your names, how messages are sent, notifications, the look, and saved
assistant presets with their keys.

Nothing is kept until OK. The theme and the text size are shown live while they are chosen;
Cancel (or Esc, or closing the dialog) puts back what was shown before and keeps nothing.

Presets are a name, a provider, a server address and a model, kept in the preferences; their
API keys go to the :class:`~desktop.settings.KeyStore` (the OS keyring). Where there is no
keyring, the dialog says so and keeps a key for this session only, unless the person ticks
"Keep keys in a file only I can read", which says what that means; unticking it deletes the
file (:meth:`~desktop.settings.KeyStore.keep_in_file`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.ai.provider import PRESETS, without_credentials
from core.text_rules import TextRejected, normalize_display_name
from desktop import text_size
from desktop.labels import PlainLabel
from desktop.settings import KeyStore, Preferences, SavedPreset, SendKey
from desktop.text_size import TEXT_SIZES, TextSizeController
from desktop.theme import CHOICE_LABELS, ThemeController, controller

__all__ = ["SettingsDialog", "open_settings"]

DIALOG_WIDTH = 560

PROVIDERS = {
    "openai": "OpenAI",
    "ollama": "Ollama (on this computer)",
    "lmstudio": "LM Studio (on this computer)",
    "compatible": "Other OpenAI-compatible server",
}
"""The providers a preset can be for (as the host dialog names them)."""

HOSTING_NAME_HINT = "Unticked, you host under the name above."
SENSITIVE_HINT = (
    "Card and bank account numbers, API keys, passwords and similar are looked for on this "
    "computer only; you are asked before such a message goes to everyone and the AI provider."
)
NOTIFY_HINT = "Only while the app's window is in the background."
TEXT_SIZE_HINT = "Ctrl+Plus and Ctrl+Minus change it too; Ctrl+0 goes back to the system's size."
PRESETS_HINT = "Saved presets are offered in “Host a room…”. Removing one forgets its key too."
NO_PRESETS = "No saved presets yet. Add one to offer it when you host a room."
KEYRING_NOTE = "Keys are kept in your system's keyring, on this computer only."
SESSION_ONLY_NOTE = (
    "No keyring is available on this system, so keys are kept for this session only and "
    "forgotten when the app closes."
)
FILE_NOTE = "No keyring is available on this system: keys are kept in the file below."
KEY_FILE_CHOICE = "Keep keys in a file only I can read"
KEY_FILE_EXPLAINED = (
    "The file is in this app's settings folder, readable by your user account only; anyone "
    "who can use your account or read its backups can read the keys. Unticking it later "
    "deletes the file."
)


@dataclass
class _Draft:
    """A preset as edited: what it was when the dialog opened (``kept``), and its key."""

    name: str
    provider: str
    base_url: str
    model: str
    key: str = ""
    kept: SavedPreset | None = None
    kept_key: str = ""

    def preset(self) -> SavedPreset:
        """As kept: an address without any ``user:password@`` (never written to a file)."""
        url = self.base_url.strip()
        with contextlib.suppress(ValueError):  # not an address: a problem said before OK
            url = without_credentials(url)
        return SavedPreset(self.name.strip(), self.provider, url, self.model.strip())


class SettingsDialog(QDialog):
    """See the module docstring. ``theme`` and ``text`` default to the application's
    controllers (:func:`desktop.theme.controller`, :func:`desktop.text_size.controller`)."""

    def __init__(
        self,
        prefs: Preferences,
        keys: KeyStore,
        parent: QWidget | None = None,
        *,
        theme: ThemeController | None = None,
        text: TextSizeController | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._prefs = prefs
        self._keys = keys
        self._theme = theme or controller()
        self._text = text or text_size.controller()
        self._shown_theme = self._theme.choice if self._theme else prefs.theme()
        self._shown_size = self._text.size if self._text else text_size.nearest(prefs.text_size())
        self._keyring = keys.keyring_available()
        self._drafts: list[_Draft] = []
        self._kept_presets = prefs.presets()
        self._loading = False  # while the editor is filled from a draft, edits are not news
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Settings sections")
        self.tabs.tabBar().setAccessibleName("Settings sections")
        self.tabs.addTab(self._build_general(), "General")
        self.tabs.addTab(self._build_appearance(), "Appearance")
        self.tabs.addTab(self._build_presets(), "Assistant presets")
        self.problem = PlainLabel(name="problem", wrap=True)
        self.problem.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(DIALOG_WIDTH)  # wider at a larger text size
        self._load()
        self._connect_signals()
        self._fit_height()

    def _fit_height(self) -> None:
        """As tall as the tallest page needs at this width, wrapped notes included (Qt sizes a
        window by its layout's size hint, which ignores height-for-width and squeezes them)."""
        layout = self.layout()
        current = self.tabs.currentWidget()
        if layout is None or current is None:
            return
        self.ensurePolished()
        layout.activate()
        wide = max(DIALOG_WIDTH, layout.minimumSize().width())
        if self.width() != wide:
            self.resize(wide, self.height())
            layout.activate()
        width = current.width()
        needed = 0
        for index in range(self.tabs.count()):
            page = self.tabs.widget(index)
            page_layout = page.layout() if page is not None else None
            if page_layout is not None:
                needed = max(needed, page_layout.totalHeightForWidth(width))
        height = self.height() - current.height() + needed
        self.setMinimumHeight(height)
        self.resize(self.width(), height)

    # ----------------------------------------------------------------- building

    def _build_general(self) -> QWidget:
        self.display_name = _line_edit("Display name", "How others see you")
        self.display_name_problem = PlainLabel(name="problem", wrap=True)
        self.separate_hosting = QCheckBox("Use another name when I host")
        self.hosting_name = _line_edit("Name when hosting", "How others see you in your rooms")
        self.hosting_name_problem = PlainLabel(name="problem", wrap=True)
        self.hosting_hint = PlainLabel(HOSTING_NAME_HINT, name="hint", wrap=True)
        names = QFormLayout()
        names.addRow("Display name", self.display_name)
        names.addRow("", self.display_name_problem)
        names.addRow("", self.separate_hosting)
        names.addRow("When hosting", self.hosting_name)
        names.addRow("", self.hosting_name_problem)
        names.addRow("", self.hosting_hint)
        self.names_form = names
        names_box = QGroupBox("Your name")
        names_box.setLayout(names)

        self.enter_sends = QRadioButton("Enter sends; Shift+Enter starts a new line")
        self.ctrl_enter_sends = QRadioButton("Ctrl+Enter sends; Enter starts a new line")
        self.send_keys = QButtonGroup(self)
        self.send_keys.addButton(self.enter_sends)
        self.send_keys.addButton(self.ctrl_enter_sends)
        self.check_sensitive = QCheckBox("Check messages for sensitive data before sending")
        self.sensitive_hint = PlainLabel(SENSITIVE_HINT, name="hint", wrap=True)
        sending = QVBoxLayout()
        for widget in (self.enter_sends, self.ctrl_enter_sends, self.check_sensitive,
                       self.sensitive_hint):  # fmt: skip
            sending.addWidget(widget)
        sending_box = QGroupBox("Sending")
        sending_box.setLayout(sending)

        self.notifications = QCheckBox("Notify me when I am mentioned or my answer is ready")
        self.notify_hint = PlainLabel(NOTIFY_HINT, name="hint", wrap=True)
        notifying = QVBoxLayout()
        notifying.addWidget(self.notifications)
        notifying.addWidget(self.notify_hint)
        notify_box = QGroupBox("Notifications")
        notify_box.setLayout(notifying)

        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(names_box)
        layout.addWidget(sending_box)
        layout.addWidget(notify_box)
        layout.addStretch(1)
        return page

    def _build_appearance(self) -> QWidget:
        self.theme_choice = QComboBox()
        self.theme_choice.setAccessibleName("Theme")
        for choice, words in CHOICE_LABELS.items():
            self.theme_choice.addItem(words, choice)
        self.text_size = QComboBox()
        self.text_size.setAccessibleName("Text size")
        for percent in TEXT_SIZES:
            self.text_size.addItem(text_size.label(percent), percent)
        self.text_size_hint = PlainLabel(TEXT_SIZE_HINT, name="hint", wrap=True)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        form.addRow("Theme", self.theme_choice)
        form.addRow("Text size", self.text_size)
        form.addRow("", self.text_size_hint)
        box = QGroupBox("Look")
        box.setLayout(form)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(box)
        layout.addStretch(1)
        return page

    def _build_presets(self) -> QWidget:
        self.preset_list = QListWidget()
        self.preset_list.setAccessibleName("Saved presets")
        self.preset_list.setMaximumHeight(120)
        self.add_button = QPushButton("Add")
        self.add_button.setAccessibleName("Add a preset")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setAccessibleName("Remove the selected preset")
        for button in (self.add_button, self.remove_button):
            button.setAutoDefault(False)  # Enter means OK
        list_buttons = QVBoxLayout()
        list_buttons.addWidget(self.add_button)
        list_buttons.addWidget(self.remove_button)
        list_buttons.addStretch(1)
        list_row = QHBoxLayout()
        list_row.addWidget(self.preset_list, 1)
        list_row.addLayout(list_buttons)
        self.no_presets = PlainLabel(NO_PRESETS, name="hint", wrap=True)

        self.preset_name = _line_edit("Preset name", "For example: Work OpenAI")
        self.preset_provider = QComboBox()
        self.preset_provider.setAccessibleName("Provider")
        for key, words in PROVIDERS.items():
            self.preset_provider.addItem(words, key)
        self.preset_url = _line_edit("Server address", "http://host:port/v1")
        self.preset_model = _line_edit("Model", "For example: gpt-4o-mini")
        self.preset_key = _line_edit("API key", "sk-…")
        self.preset_key.setEchoMode(QLineEdit.EchoMode.Password)
        editor = QFormLayout()
        editor.addRow("Name", self.preset_name)
        editor.addRow("Provider", self.preset_provider)
        editor.addRow("Server address", self.preset_url)
        editor.addRow("Model", self.preset_model)
        editor.addRow("API key", self.preset_key)
        self._editor_fields: list[QWidget] = [
            self.preset_name, self.preset_provider, self.preset_url, self.preset_model,
            self.preset_key,
        ]  # fmt: skip
        presets_box = QGroupBox("Saved presets")
        presets_layout = QVBoxLayout(presets_box)
        presets_layout.addLayout(list_row)
        presets_layout.addWidget(self.no_presets)
        presets_layout.addLayout(editor)
        presets_layout.addWidget(PlainLabel(PRESETS_HINT, name="hint", wrap=True))

        self.key_note = PlainLabel(name="hint", wrap=True)
        self.key_file = QCheckBox(KEY_FILE_CHOICE)
        self.key_file.setAccessibleDescription(KEY_FILE_EXPLAINED)
        self.key_file_hint = PlainLabel(KEY_FILE_EXPLAINED, name="hint", wrap=True)
        keys_box = QGroupBox("Where keys are kept")
        keys_layout = QVBoxLayout(keys_box)
        keys_layout.addWidget(self.key_note)
        keys_layout.addWidget(self.key_file)
        keys_layout.addWidget(self.key_file_hint)
        # Offered where there is no keyring, and wherever the file exists (to undo it).
        self._offer_file = not self._keyring or self._keys.file_enabled
        self.key_file.setVisible(self._offer_file)
        self.key_file_hint.setVisible(self._offer_file)

        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(presets_box)
        layout.addWidget(keys_box)
        layout.addStretch(1)
        return page

    def _connect_signals(self) -> None:
        self.buttons.accepted.connect(self.on_ok_clicked)
        self.buttons.rejected.connect(self.reject)
        self.display_name.textChanged.connect(self._check_names)
        self.hosting_name.textChanged.connect(self._check_names)
        self.separate_hosting.toggled.connect(self.on_separate_hosting_toggled)
        self.theme_choice.currentIndexChanged.connect(self.on_theme_chosen)
        self.text_size.currentIndexChanged.connect(self.on_text_size_chosen)
        self.preset_list.currentRowChanged.connect(self.on_preset_selected)
        self.add_button.clicked.connect(self.on_add_clicked)
        self.remove_button.clicked.connect(self.on_remove_clicked)
        self.preset_name.textEdited.connect(self._edited)
        self.preset_url.textEdited.connect(self._edited)
        self.preset_model.textEdited.connect(self._edited)
        self.preset_key.textEdited.connect(self._edited)
        self.preset_provider.currentIndexChanged.connect(self.on_provider_chosen)
        self.key_file.toggled.connect(self._say_where_keys_go)
        if self._text is not None:  # the preview changes the dialog's own text too
            self._text.size_changed.connect(self.on_text_size_changed)

    def on_text_size_changed(self, _percent: int) -> None:
        self._fit_height()

    def _load(self) -> None:
        """Fill the fields from what is kept (and shown) now."""
        prefs = self._prefs
        self.display_name.setText(prefs.display_name())
        hosting = prefs.separate_hosting_name()
        self.separate_hosting.setChecked(bool(hosting))
        self.hosting_name.setText(hosting)
        self.on_separate_hosting_toggled(bool(hosting))
        send_key: SendKey = prefs.send_key()
        (self.ctrl_enter_sends if send_key == "ctrl_enter" else self.enter_sends).setChecked(True)
        self.check_sensitive.setChecked(prefs.check_sensitive())
        self.notifications.setChecked(prefs.notifications())
        self.theme_choice.setCurrentIndex(max(0, self.theme_choice.findData(self._shown_theme)))
        self.text_size.setCurrentIndex(max(0, self.text_size.findData(self._shown_size)))
        for preset in self._kept_presets:
            key = self._keys.get(preset.where()) or ""
            self._drafts.append(_Draft(preset.name, preset.provider, preset.base_url,
                                       preset.model, key, preset, key))  # fmt: skip
            self.preset_list.addItem(QListWidgetItem(preset.name))
        self.key_file.setChecked(self._keys.file_enabled)
        self._say_where_keys_go()
        self.preset_list.setCurrentRow(0 if self._drafts else -1)
        self._update_editor()
        self._check_names()

    # ----------------------------------------------------------------- names

    def on_separate_hosting_toggled(self, on: bool) -> None:
        self.hosting_name.setEnabled(on)
        self.names_form.setRowVisible(self.hosting_name, on)
        self.hosting_hint.setVisible(not on)
        if on and self.isVisible():
            self.hosting_name.setFocus()
        self._check_names()

    def _check_names(self, *_: object) -> None:
        """Say under each name what the room's rules would refuse in it, as it is typed."""
        _show(self.display_name_problem, _name_problem(self.display_name.text()))
        hosting = self.separate_hosting.isChecked()
        _show(self.hosting_name_problem,
              _name_problem(self.hosting_name.text()) if hosting else "")  # fmt: skip

    # ----------------------------------------------------------------- the look

    def on_theme_chosen(self) -> None:
        choice = str(self.theme_choice.currentData())
        if self._theme is not None:
            self._theme.set_choice(choice, remember=False)  # a preview until OK

    def on_text_size_chosen(self) -> None:
        if self._text is not None:
            self._text.set_size(int(self.text_size.currentData()), remember=False)

    def _put_back_the_look(self) -> None:
        if self._theme is not None:
            self._theme.set_choice(self._shown_theme, remember=False)
        if self._text is not None:
            self._text.set_size(self._shown_size, remember=False)

    # ----------------------------------------------------------------- presets

    def _current(self) -> _Draft | None:
        row = self.preset_list.currentRow()
        return self._drafts[row] if 0 <= row < len(self._drafts) else None

    def on_preset_selected(self, _row: int) -> None:
        self._update_editor()

    def _update_editor(self) -> None:
        draft = self._current()
        self._loading = True
        try:
            for widget in self._editor_fields:
                widget.setEnabled(draft is not None)
            self.remove_button.setEnabled(draft is not None)
            self.no_presets.setVisible(not self._drafts)
            self.preset_name.setText(draft.name if draft else "")
            index = self.preset_provider.findData(draft.provider if draft else "openai")
            self.preset_provider.setCurrentIndex(max(0, index))
            self.preset_url.setText(draft.base_url if draft else "")
            self.preset_model.setText(draft.model if draft else "")
            self.preset_key.setText(draft.key if draft else "")
            self._update_placeholders()
        finally:
            self._loading = False

    def _update_placeholders(self) -> None:
        info = PRESETS[str(self.preset_provider.currentData())]
        self.preset_url.setPlaceholderText(info.base_url or "http://host:port/v1")
        self.preset_key.setPlaceholderText("sk-…" if info.needs_key else "Not needed by most")

    def _edited(self, *_: object) -> None:
        draft = self._current()
        if draft is None or self._loading:
            return
        draft.name = self.preset_name.text()
        draft.provider = str(self.preset_provider.currentData())
        draft.base_url = self.preset_url.text()
        draft.model = self.preset_model.text()
        draft.key = self.preset_key.text()
        item = self.preset_list.currentItem()
        if item is not None:
            item.setText(draft.name.strip() or "(no name)")
        self._clear_problem()

    def on_provider_chosen(self) -> None:
        """A new provider brings its own address, unless another was typed."""
        draft = self._current()
        if self._loading or draft is None:
            return
        defaults = {info.base_url for info in PRESETS.values()}
        if self.preset_url.text().strip() in defaults:
            self.preset_url.setText("")  # the provider's own (shown as the placeholder)
        self._update_placeholders()
        self._edited()

    def on_add_clicked(self) -> None:
        taken = {d.name.strip().casefold() for d in self._drafts}
        number = 1
        while f"preset {number}" in taken:
            number += 1
        self._drafts.append(_Draft(f"Preset {number}", "openai", "", ""))
        self.preset_list.addItem(QListWidgetItem(f"Preset {number}"))
        self.preset_list.setCurrentRow(len(self._drafts) - 1)
        self.preset_name.setFocus()
        self.preset_name.selectAll()

    def on_remove_clicked(self) -> None:
        row = self.preset_list.currentRow()
        if not 0 <= row < len(self._drafts):
            return
        del self._drafts[row]
        self.preset_list.takeItem(row)  # selects a neighbour, which fills the editor
        self._update_editor()
        (self.preset_list if self._drafts else self.add_button).setFocus()

    def _say_where_keys_go(self, *_: object) -> None:
        if self._keyring:
            note = KEYRING_NOTE
        elif self.key_file.isChecked():
            note = FILE_NOTE
        else:
            note = SESSION_ONLY_NOTE
        self.key_note.setText(note)

    # ----------------------------------------------------------------- OK and Cancel

    def on_ok_clicked(self) -> None:
        problem = self._problem()
        if problem:
            _show(self.problem, problem)
            return
        self._keep()
        self.accept()

    def _problem(self) -> str:
        """What stops the settings from being kept, in a sentence; the field concerned gets
        the focus (on its tab)."""
        for field, on in ((self.display_name, True),
                          (self.hosting_name, self.separate_hosting.isChecked())):  # fmt: skip
            problem = _name_problem(field.text()) if on else ""
            if problem:
                self._focus(field)
                return f"{field.accessibleName()}: {problem}"
        seen: set[str] = set()
        for row, draft in enumerate(self._drafts):
            preset = draft.preset()
            problem = _preset_problem(preset, seen)
            if problem:
                self.preset_list.setCurrentRow(row)
                self._focus(self.preset_name if "name" in problem else self.preset_url)
                return problem
            seen.add(preset.name.casefold())
        return ""

    def _focus(self, field: QWidget) -> None:
        for index in range(self.tabs.count()):
            page = self.tabs.widget(index)
            if page is not None and page.isAncestorOf(field):
                self.tabs.setCurrentIndex(index)
        field.setFocus()

    def _clear_problem(self) -> None:
        _show(self.problem, "")

    def _keep(self) -> None:
        prefs = self._prefs
        prefs.set_display_name(_normalized(self.display_name.text()))
        hosting = self.separate_hosting.isChecked()
        prefs.set_hosting_name(_normalized(self.hosting_name.text()) if hosting else "")
        prefs.set_send_key("ctrl_enter" if self.ctrl_enter_sends.isChecked() else "enter")
        prefs.set_check_sensitive(self.check_sensitive.isChecked())
        prefs.set_notifications(self.notifications.isChecked())
        prefs.set_theme(str(self.theme_choice.currentData()))
        prefs.set_text_size(int(self.text_size.currentData()))
        self._keep_presets()

    def _keep_presets(self) -> None:
        keys = self._keys
        if self._offer_file and self.key_file.isChecked() != keys.file_enabled:
            keys.keep_in_file(self.key_file.isChecked())
        presets = [draft.preset() for draft in self._drafts]
        wheres = {preset.where() for preset in presets}
        # Presets removed, or moved to another address: their keys go, unless a preset kept
        # now uses the same address.
        for old in {preset.where() for preset in self._kept_presets} - wheres:
            keys.delete(old)
        for draft, preset in zip(self._drafts, presets, strict=True):
            key = draft.key.strip()
            moved = draft.kept is None or draft.kept.where() != preset.where()
            if key and (key != draft.kept_key or moved):
                keys.set(preset.where(), key)
            elif not key and draft.kept_key and not moved:
                keys.delete(preset.where())
        self._prefs.set_presets(presets)

    def done(self, result: int) -> None:
        """Closing without OK (Cancel, Esc, the window's close button) puts back the theme and
        the text size shown before."""
        if result != QDialog.DialogCode.Accepted:
            self._put_back_the_look()
        super().done(result)


def open_settings(parent: QWidget | None, prefs: Preferences, keys: KeyStore,
                  theme_controller: ThemeController | None = None) -> None:  # fmt: skip
    """Show the Settings dialog (modal) and keep what the person chose on OK. Call it from a
    slot, never from a coroutine (see :mod:`desktop.modal`)."""
    dialog = SettingsDialog(prefs, keys, parent, theme=theme_controller)
    try:
        dialog.exec()
    finally:
        dialog.deleteLater()  # it held API keys in its fields


def _line_edit(name: str, placeholder: str) -> QLineEdit:
    field = QLineEdit()
    field.setAccessibleName(name)
    field.setPlaceholderText(placeholder)
    return field


def _show(label: PlainLabel, text: str) -> None:
    label.setText(text)
    label.setVisible(bool(text))


def _name_problem(text: str) -> str:
    """What the room's rules would refuse in a name, as a sentence; empty for none (an
    empty name is allowed: the dialogs then ask)."""
    if not text.strip():
        return ""
    try:
        normalize_display_name(text)
    except TextRejected as exc:
        words = str(exc)
        return f"{words[:1].upper()}{words[1:]}."
    return ""


def _normalized(text: str) -> str:
    return normalize_display_name(text) if text.strip() else ""


def _preset_problem(preset: SavedPreset, seen: set[str]) -> str:
    if not preset.name:
        return "Give every preset a name."
    if preset.name.casefold() in seen:
        return f"Two presets are called “{preset.name}”: give each its own name."
    url = preset.base_url
    if not url and not PRESETS[preset.provider].base_url:
        return f"“{preset.name}” needs a server address (http:// or https://)."
    if url:
        try:
            scheme = urlsplit(url).scheme
        except ValueError:
            scheme = ""
        if scheme not in ("http", "https"):
            return f"The server address of “{preset.name}” must start with http:// or https://."
    return ""
