"""The network check ("why can't I see the room?"): on plain values, then on a pretend LAN
whose switch can drop multicast and broadcast, with VPN-like interfaces and a firewall."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import ifaddr
import pytest

from core.beacon import decode_beacon
from core.network_doctor import (
    PROBE_INSTANCE_PREFIX,
    PROBE_MAGIC,
    Diagnosis,
    NetworkInterface,
    PortAnswer,
    RoomPortCheck,
    list_interfaces,
)
from core.room_records import decode_txt
from tests.cli_processes import Process
from tests.discovery.test_lan import host_in
from tests.netns import PretendLan, require_netns

# Run in a namespace: the check, printed as JSON with its findings, advice and text.
CHECK = """
import asyncio, dataclasses, json, sys
from core.network_doctor import HostedRoomInfo, diagnose
port = int(sys.argv[2]) if len(sys.argv) > 2 else None
hosting = HostedRoomInfo(port) if port is not None else None
d = asyncio.run(diagnose(listen_seconds=float(sys.argv[1]), hosting=hosting))
print(json.dumps(dataclasses.asdict(d) | {
    "findings": [dataclasses.asdict(f) for f in d.findings], "advice": d.advice,
    "text": d.as_text(), "only_vpn": d.only_vpn,
}))
"""

ETH0 = NetworkInterface("eth0", ("192.168.1.7",), up=True, loopback=False, vpn=False)
WG0 = NetworkInterface("wg0", ("10.8.0.2",), up=True, loopback=False, vpn=True)
LO = NetworkInterface("lo", ("127.0.0.1", "::1"), up=True, loopback=True, vpn=False)


def diagnosis(**changes: Any) -> Diagnosis:
    """A healthy machine's diagnosis, with ``changes``."""
    values: dict[str, Any] = {
        "interfaces": (LO, ETH0),
        "port": 47321,
        "listened": 3.0,
        "own_mdns": True,
        "own_broadcast": True,
        "others_by_mdns": ("192.168.1.20",),
        "others_by_broadcast": ("192.168.1.20",),
    }
    return Diagnosis(**(values | changes))


def statuses(d: Diagnosis) -> list[str]:
    return [f.status for f in d.findings]


# -- on plain values ----------------------------------------------------------------------


def test_a_healthy_network_needs_nothing_done() -> None:
    d = diagnosis()
    assert statuses(d) == ["ok", "ok", "ok"] and d.advice == []
    text = d.as_text()
    assert "eth0: 192.168.1.7" in text and "127.0.0.1" not in text  # loopback is not shown
    assert "Announcements from other machines arrive (192.168.1.20)." in text
    assert "Everything looks fine." in text


def test_nothing_from_other_machines_suggests_the_join_code_the_address_and_the_hotspot() -> None:
    d = diagnosis(others_by_mdns=(), others_by_broadcast=())
    assert "No announcements from other machines arrived in 3 seconds (if someone" in d.as_text()
    advice = " ".join(d.advice)
    for words in ("join code", "address and port (such as 192.168.1.20:47321)", "hotspot",
                  "Guest Wi-Fi often keeps devices apart", "run this check too"):  # fmt: skip
        assert words in advice
    assert "Everything looks fine" not in d.as_text()


def test_heard_only_by_broadcast_means_multicast_is_dropped() -> None:
    d = diagnosis(others_by_mdns=())
    assert statuses(d)[-1] == "warning"
    assert "this network drops multicast" in d.as_text()


def test_a_machine_that_does_not_hear_itself_has_something_blocking_it() -> None:
    d = diagnosis(own_mdns=False, own_broadcast=None, notes=("UDP port 47322 is in use.",))
    texts = [f.text for f in d.findings]
    assert "This machine does not hear its own announcements (mDNS): something on it blocks " \
        "UDP port 5353." in texts  # fmt: skip
    assert "Whether this machine hears its own broadcasts was not checked." in texts
    assert "UDP port 47322 is in use." in texts
    assert any("firewall or security program" in tip for tip in d.advice)


def test_a_vpn_is_pointed_out_and_a_vpn_alone_is_a_problem() -> None:
    beside = diagnosis(interfaces=(LO, ETH0, WG0), others_by_mdns=(), others_by_broadcast=())
    assert "A VPN is on (wg0)." in beside.as_text() and "wg0 (a VPN): 10.8.0.2" in beside.as_text()
    assert beside.advice[-1] == "Turn off the VPN and look again."
    alone = diagnosis(interfaces=(LO, WG0), own_mdns=None, own_broadcast=None, others_by_mdns=(),
                      others_by_broadcast=())  # fmt: skip
    assert alone.only_vpn and statuses(alone)[0] == "problem"
    assert "only through a VPN (wg0)" in alone.as_text()
    assert "turn off the VPN" in alone.advice[0]
    assert "join code" not in " ".join(alone.advice)  # first of all, get onto the network


def test_a_room_that_answers_only_on_loopback_is_behind_a_firewall() -> None:
    room = RoomPortCheck(47321, "answers", (PortAnswer("192.168.1.7", "no answer"),))
    d = diagnosis(room=room)
    assert room.firewalled == ("192.168.1.7",)
    assert "a firewall blocks it, so nobody else can join" in d.as_text()
    assert "Allow GPT Group through this machine's firewall (TCP port 47321)" in d.advice[0]
    gone = diagnosis(room=RoomPortCheck(47321, "refused", (PortAnswer("192.168.1.7", "refused"),)))
    assert gone.room is not None and gone.room.firewalled == ()
    assert "The room does not answer on this machine (port 47321)." in gone.as_text()


def test_tunnels_with_link_local_addresses_only_are_no_vpn_in_use() -> None:
    # macOS keeps a few utun interfaces for its own services, with link-local addresses only.
    utun = NetworkInterface("utun0", ("fe80::1%utun0",), up=True, loopback=False, vpn=True)
    d = diagnosis(interfaces=(LO, ETH0, utun))
    assert d.vpns == () and d.advice == []
    assert "utun0" not in d.as_text() and "VPN" not in d.as_text()


def test_the_probes_are_never_taken_for_rooms() -> None:
    # The mDNS probe names port 0 and has no fp or v; the broadcast probe is no beacon.
    probe_txt = {b"probe": b"1"}
    assert decode_txt("k", PROBE_INSTANCE_PREFIX + "ab12", probe_txt, ["10.0.0.1"], 0) is None
    assert decode_beacon(PROBE_MAGIC + bytes(8), "10.0.0.1") is None


def test_vpn_interfaces_are_told_by_name() -> None:
    def adapter(name: str, nice: str | None = None) -> ifaddr.Adapter:
        return ifaddr.Adapter(name, nice or name, [ifaddr.IP("10.1.2.3", 24, name)])

    names = ["tun0", "tap1", "wg0", "ppp0", "utun4", "ipsec0", "tailscale0", "ztabcdef12",
             "eth0", "wlan0", "enp3s0", "{4D36E972}"]  # fmt: skip
    adapters = [*(adapter(n) for n in names), adapter("{8A1F}", "WireGuard Tunnel: office")]
    found = {i.name: i.vpn for i in list_interfaces(adapters)}
    assert [n for n, vpn in found.items() if vpn] == [*names[:8], "WireGuard Tunnel: office"]


# -- on a pretend LAN ---------------------------------------------------------------------


@pytest.fixture
def lan() -> Iterator[PretendLan]:
    require_netns()
    with PretendLan(3) as pretend:
        yield pretend


async def check_in(ns: str, listen: float = 2.5, hosting_port: str | None = None) -> Any:
    """The check run in namespace ``ns``, as the JSON CHECK prints."""
    args = [str(listen)] + ([hosting_port] if hosting_port else [])
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", ns, sys.executable, "-c", CHECK, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


def run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


def drop_multicast_and_broadcast(lan: PretendLan) -> None:
    """Make the switch drop every multicast and broadcast frame, as a Wi-Fi access point
    that filters them does: no flooding of either to any port, and no multicast snooping
    (which would forward groups that hosts joined regardless of the flooding flags)."""
    run("ip", "-n", lan.switch, "link", "set", "br0", "type", "bridge", "mcast_snooping", "0")
    for i in range(1, lan.count + 1):
        run("bridge", "-n", lan.switch, "link", "set", "dev", lan.port(i),
            "mcast_flood", "off", "bcast_flood", "off")  # fmt: skip


async def test_on_a_healthy_lan_a_machine_hears_itself_and_the_others(
    lan: PretendLan, processes: list[Process]
) -> None:
    await host_in(lan, 1, processes, "--name", "Healthy")
    # Host 3 runs the check at the same time: its probes are announcements from another
    # machine too, by mDNS and by broadcast, whether or not the room sends beacons.
    mine, theirs = await asyncio.gather(check_in(lan.ns(2)), check_in(lan.ns(3)))
    assert mine["own_mdns"] is True and mine["own_broadcast"] is True
    assert lan.ipv4(1) in mine["others_by_mdns"]  # the room's record
    assert lan.ipv4(3) in mine["others_by_mdns"] and lan.ipv4(3) in mine["others_by_broadcast"]
    assert lan.ipv4(2) in theirs["others_by_mdns"] and lan.ipv4(2) in theirs["others_by_broadcast"]
    assert not set(mine["others_by_mdns"]) & {lan.ipv4(2), lan.ipv6(2)}  # itself is no other
    assert [f["status"] for f in mine["findings"]] == ["ok", "ok", "ok"]
    assert f"eth0: {lan.ipv4(2)}, {lan.ipv6(2)}" in mine["text"]
    assert "Announcements from other machines arrive" in mine["text"]
    assert mine["advice"] == []


async def test_when_the_switch_drops_announcements_the_check_says_so_and_what_to_try(
    lan: PretendLan, processes: list[Process]
) -> None:
    await host_in(lan, 1, processes, "--name", "Hidden")
    drop_multicast_and_broadcast(lan)
    mine, _ = await asyncio.gather(check_in(lan.ns(2)), check_in(lan.ns(3)))
    # Its own announcements loop back inside the machine, so it still hears those...
    assert mine["own_mdns"] is True and mine["own_broadcast"] is True
    # ...but nothing from the room's host nor from host 3, which is checking at the same time.
    assert mine["others_by_mdns"] == [] and mine["others_by_broadcast"] == []
    assert "No announcements from other machines arrived in 2.5 seconds (if" in mine["text"]
    advice = " ".join(mine["advice"])
    assert "join code" in advice and "address and port" in advice and "hotspot" in advice


async def test_vpn_interfaces_are_reported_and_a_vpn_alone_is_a_problem(lan: PretendLan) -> None:
    # An Ethernet-like interface (a TAP device: not point-to-point) that is a VPN by its name.
    run("ip", "-n", lan.ns(2), "tuntap", "add", "dev", "wg0", "mode", "tap")
    run("ip", "-n", lan.ns(2), "addr", "add", "10.99.0.2/24", "dev", "wg0")
    run("ip", "-n", lan.ns(2), "link", "set", "wg0", "up")
    # A tunnel with a name that says nothing is still a point-to-point link, as VPNs are.
    run("ip", "-n", lan.ns(2), "tuntap", "add", "dev", "corp0", "mode", "tun")
    run("ip", "-n", lan.ns(2), "addr", "add", "10.98.0.2", "peer", "10.98.0.1", "dev", "corp0")
    run("ip", "-n", lan.ns(2), "link", "set", "corp0", "up")
    beside = await check_in(lan.ns(2), listen=0.5)
    vpn = {i["name"]: i["vpn"] for i in beside["interfaces"]}
    assert vpn == {"lo": False, "eth0": False, "wg0": True, "corp0": True}
    assert not beside["only_vpn"] and beside["own_mdns"] is True  # checked on eth0 alone
    assert "A VPN is on (wg0, corp0)." in beside["text"]
    assert "wg0 (a VPN): 10.99.0.2" in beside["text"]

    run("ip", "-n", lan.ns(2), "link", "set", "eth0", "down")  # the VPN is all that is left
    alone = await check_in(lan.ns(2), listen=0.5)
    assert alone["only_vpn"] and alone["own_mdns"] is None and alone["own_broadcast"] is None
    assert "only through a VPN (wg0, corp0)" in alone["text"]
    assert "turn off the VPN" in alone["advice"][0]


async def test_a_room_port_blocked_on_the_lan_address_is_reported_as_a_firewall(
    lan: PretendLan, processes: list[Process]
) -> None:
    _, port = await host_in(lan, 1, processes, "--name", "Walled")
    # A firewall rule refusing the room's port at the IPv4 LAN address (loopback and IPv6
    # pass): a routing rule that prohibits it, looked up before the table of local addresses.
    ns = lan.ns(1)
    run("ip", "-n", ns, "rule", "add", "pref", "100", "lookup", "local")
    run("ip", "-n", ns, "rule", "del", "pref", "0")
    run("ip", "-n", ns, "rule", "add", "pref", "10", "to", lan.ipv4(1), "ipproto", "tcp",
        "dport", port, "prohibit")  # fmt: skip
    result = await check_in(ns, listen=0.5, hosting_port=port)
    room = result["room"]
    assert room["loopback"] == "answers"
    answers = {a["address"]: a["outcome"] for a in room["lan"]}
    assert answers == {lan.ipv4(1): "blocked", lan.ipv6(1): "answers"}
    text = result["text"]
    assert f"not at its network address ({lan.ipv4(1)}, port {port}): a firewall blocks" in text
    assert f"Allow GPT Group through this machine's firewall (TCP port {port})" in text
