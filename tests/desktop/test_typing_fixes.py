"""What strict typing found in the dialogs: a field named ``window`` (and one named ``scroll``)
hid ``QWidget``'s own methods, and the assistant's settings went to the room as a loose dict.

The dialogs are real windows again (``window()`` is the dialog), and the quota window the host
chooses still reaches the room, as a typed protocol message from the live settings dialog.
"""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from core.codec import parse_client_frame, serialize
from core.protocol import AssistantReport, ConfigureAssistant, Usage
from desktop.assistant_dialog import AssistantSettingsDialog
from desktop.host_dialog import HostDialog
from desktop.settings import KeyStore, Preferences


def report(quota_window: float = 900.0) -> AssistantReport:
    """What the room reports of its assistant, as the settings dialog opens on it."""
    return AssistantReport("mention", "Be brief.", 50_000, 5, quota_window, Usage(), 0)


def test_the_dialogs_are_their_own_windows(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore
) -> None:
    host = HostDialog(prefs, keys)
    settings = AssistantSettingsDialog(report())
    for dialog in (host, settings):
        qtbot.addWidget(dialog)
        dialog.show()
        assert dialog.window() is dialog
        assert dialog.quota_window.window() is dialog  # the field is inside it, not a window
    host.scroll(0, 0)  # QWidget.scroll, no longer hidden by the scroll area


def test_the_quota_window_the_host_chooses_reaches_the_room(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore
) -> None:
    dialog = HostDialog(prefs, keys)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.your_name.setText("Ana")
    dialog.provider.setCurrentIndex(dialog.provider.findData("ollama"))
    dialog.model.setEditText("llama3.2")
    assert dialog.quota_window.value() == 10  # minutes, until the host changes it
    dialog.quota_window.setValue(25)
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    assert not dialog.isVisible(), dialog.problem.text()

    plan = dialog.plan()
    assert plan.config.assistant is not None
    assert plan.config.assistant.quota_window == 25 * 60.0
    assert plan.config.assistant.model == "llama3.2"
    assert plan.provider is not None
    assert plan.provider.model == "llama3.2" and plan.provider.preset == "ollama"
    assert plan.provider.base_url.startswith("http://")  # a server on this computer


def test_the_live_settings_are_the_message_that_sets_them(qtbot: QtBot) -> None:
    dialog = AssistantSettingsDialog(report())
    qtbot.addWidget(dialog)
    assert dialog.quota_window.value() == 15  # the room's 900 seconds, in minutes
    assert dialog.settings() == ConfigureAssistant(
        mode="mention", persona="Be brief.", token_budget=50_000, answer_quota=5,
        quota_window=900.0,
    )  # fmt: skip

    dialog.mode.setCurrentIndex(dialog.mode.findData("always"))
    dialog.persona.setPlainText("  Answer in French.  \n")
    dialog.budget.setValue(0)  # "No limit"
    dialog.quota.setValue(0)
    dialog.quota_window.setValue(3)
    settings = dialog.settings()
    assert settings == ConfigureAssistant(
        mode="always", persona="Answer in French.", token_budget=None, answer_quota=None,
        quota_window=180.0,
    )  # fmt: skip
    # What the dialog gives is a message the room accepts as it is.
    assert parse_client_frame(serialize(settings)) == settings


@pytest.mark.parametrize("seconds", [30.0, 24 * 3600.0 * 2])
def test_a_window_outside_the_boxs_range_is_shown_within_it(qtbot: QtBot, seconds: float) -> None:
    """A room may report a window the box cannot show (under a minute, over a day): the box
    shows the nearest it can, and saving sends that, never a value the room refuses."""
    dialog = AssistantSettingsDialog(report(quota_window=seconds))
    qtbot.addWidget(dialog)
    settings = dialog.settings()
    assert 60.0 <= settings.quota_window <= 24 * 3600.0
    assert parse_client_frame(serialize(settings)) == settings


def test_instructions_longer_than_the_room_takes_are_said_and_kept(qtbot: QtBot) -> None:
    """The room refuses instructions over its limit: the dialog says so before saving, and
    keeps every character typed so the host can shorten them."""
    dialog = AssistantSettingsDialog(report())
    qtbot.addWidget(dialog)
    dialog.show()
    long = "Be brief. " * 900  # 9,000 characters
    dialog.persona.setPlainText(long)
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    assert dialog.isVisible() and dialog.result() != dialog.DialogCode.Accepted
    assert "at most 8,000 characters; these are 8,999" in dialog.problem.text()
    assert dialog.persona.toPlainText() == long
    dialog.persona.setPlainText("Be brief.")
    with qtbot.waitSignal(dialog.accepted):
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    assert dialog.settings().persona == "Be brief."
