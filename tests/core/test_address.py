"""Addresses and room links as the host prints them and as people type them back."""

from __future__ import annotations

import ifaddr
import pytest

from core.address import host_port, parse_room_address, room_link, ws_url
from core.netinfo import joinable_addresses

# "lo" exists on every machine these tests run on, so the system knows it as a scope name;
# "nosuch9" does not, so its scope is given by number.
LOOPBACK_IPS = [ifaddr.IP("127.0.0.1", 8, "lo"), ifaddr.IP(("fe80::1", 0, 1), 64, "lo")]
ADAPTERS = [
    ifaddr.Adapter("lo", "lo", LOOPBACK_IPS),
    ifaddr.Adapter("nosuch9", "nosuch9", [ifaddr.IP(("fe80::2", 0, 7), 64, "nosuch9")]),
]


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        (["fe80::1"], ["fe80::1%lo"]),  # the scope of the interface that holds it
        (["FE80::0:1"], ["fe80::1%lo"]),
        (["fe80::2"], ["fe80::2%7"]),  # by index where the name is no scope
        (["fe80::3"], []),  # on no interface: it cannot be joined, so it is left out
        (["fe80::3%eth1"], ["fe80::3%eth1"]),  # a scope given is kept
        (["0.0.0.0", "::"], []),
        (["192.168.1.20", "192.168.1.20", "fd00::5"], ["192.168.1.20", "fd00::5"]),
        (["gpu-box.local"], ["gpu-box.local"]),
    ],
)
def test_only_joinable_addresses_are_shown(given: list[str], shown: list[str]) -> None:
    assert joinable_addresses(given, ADAPTERS) == shown


def test_a_link_keeps_the_scope_of_a_link_local_address() -> None:
    link = room_link("fe80::1%eth0", 47321, "Team lunch", password_required=False, protocol=1)
    assert link == "gptgroup://[fe80::1%25eth0]:47321/?room=Team%20lunch&v=1&pw=0"
    address = parse_room_address(link)
    assert (address.host, address.url) == ("fe80::1%eth0", "ws://[fe80::1%eth0]:47321/")


@pytest.mark.parametrize(
    "typed",
    [
        "[fe80::1%eth0]:47321",
        "[fe80::1%25eth0]:47321",
        "ws://[fe80::1%eth0]:47321/",
        "gptgroup://[FE80::1%25eth0]:47321/?room=x",
    ],
)
def test_typed_scoped_addresses_join_the_same_room(typed: str) -> None:
    assert parse_room_address(typed).url == "ws://[fe80::1%eth0]:47321/"


def test_an_interface_name_keeps_its_case() -> None:
    assert parse_room_address("[fe80::1%Eth0]:1").url == "ws://[fe80::1%Eth0]:1/"


@pytest.mark.parametrize(
    ("host", "port", "in_link", "shown"),
    [
        ("192.168.1.20", 47321, False, "192.168.1.20:47321"),
        ("2001:db8::1", 47321, False, "[2001:db8::1]:47321"),
        ("fe80::1%eth0", 47321, False, "[fe80::1%eth0]:47321"),
        ("fe80::1%eth0", 47321, True, "[fe80::1%25eth0]:47321"),
        ("gpu-box.local", None, False, "gpu-box.local"),
        ("::1", None, False, "[::1]"),
    ],
)
def test_one_way_to_write_host_and_port(
    host: str, port: int | None, in_link: bool, shown: str
) -> None:
    assert host_port(host, port, in_link=in_link) == shown


def test_a_room_url_for_an_ipv6_host_has_brackets() -> None:
    assert ws_url("2001:db8::1", 5) == "ws://[2001:db8::1]:5/"
