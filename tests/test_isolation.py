"""The suite runs cut off from every real network interface (make test sees to it as root)."""

from __future__ import annotations

import os

import ifaddr
import pytest


def test_no_real_network_interface_is_reachable() -> None:
    if not os.environ.get("GPTGROUP_TEST_NETNS"):
        if os.environ.get("GPTGROUP_REQUIRE_NETNS") == "1":
            pytest.fail("GPTGROUP_REQUIRE_NETNS=1 but the suite is not in a private namespace")
        pytest.skip("not in a private network namespace (run through make test as root)")
    names = {adapter.name for adapter in ifaddr.get_adapters()}
    assert names == {"lo"}
