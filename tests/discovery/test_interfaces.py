"""Choosing where discovery listens: ``--interface`` takes this machine's interface names and
addresses, and anything else is refused in one line that says what there is instead."""

from __future__ import annotations

import ifaddr
import pytest

from core.discovery import InterfaceError, resolve_interfaces
from tests.cli_processes import Process


def interface_names() -> list[str]:
    return sorted({adapter.nice_name for adapter in ifaddr.get_adapters()})


def test_interfaces_by_name_or_by_one_of_their_addresses() -> None:
    assert "127.0.0.1" in resolve_interfaces(["lo"])
    assert resolve_interfaces(["127.0.0.1", "lo"]) == resolve_interfaces(["lo"])


def test_an_unknown_interface_name_is_refused_saying_what_there_is() -> None:
    with pytest.raises(InterfaceError) as refused:
        resolve_interfaces(["nosuch0"])
    expected = "no network interface named 'nosuch0'; this machine has: " + ", ".join(
        interface_names()
    )
    assert str(refused.value) == expected
    assert isinstance(refused.value, ValueError)


@pytest.mark.parametrize("address", ["10.9.9.9", "fd00::99", "fe80::99%lo"])
def test_an_address_that_is_not_this_machines_is_refused(address: str) -> None:
    with pytest.raises(InterfaceError, match=r"is not an address of this machine; its addr"):
        resolve_interfaces([address])


async def test_the_terminal_client_says_so_in_one_line() -> None:
    proc = await Process.start("gptgroup-chat", "--list", "--interface", "nosuch0")
    assert await proc.wait() == 2
    assert proc.lines == [
        "gptgroup-chat: no network interface named 'nosuch0'; this machine has: "
        + ", ".join(interface_names())
    ]
