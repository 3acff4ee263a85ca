"""The suite runs cut off from every real network interface (make test sees to it as root),
and from the user's own keyring and settings."""

from __future__ import annotations

import os

import ifaddr
import keyring
import pytest
from PySide6.QtCore import QSettings

from tests.conftest import _TEST_HOME, MemoryKeyring


def test_no_real_network_interface_is_reachable() -> None:
    if not os.environ.get("GPTGROUP_TEST_NETNS"):
        if os.environ.get("GPTGROUP_REQUIRE_NETNS") == "1":
            pytest.fail("GPTGROUP_REQUIRE_NETNS=1 but the suite is not in a private namespace")
        pytest.skip("not in a private network namespace (run through make test as root)")
    names = {adapter.name for adapter in ifaddr.get_adapters()}
    assert names == {"lo"}


def test_no_test_can_touch_the_users_keyring_or_settings() -> None:
    assert isinstance(keyring.get_keyring(), MemoryKeyring)
    default = QSettings("GPT Group", "GPT Group").fileName()
    assert default.startswith(str(_TEST_HOME)), default
