"""Finding and joining a room that is not announced, across a pretend LAN, with the terminal
tools: the join code the host prints joins its room, a code with one character changed is
refused before anything is sent, an old code does not join the room opened again at the same
address (it has another certificate); ``--scan`` finds the room; ``--doctor`` says that no
announcements arrive."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.cli_processes import Process
from tests.netns import PretendLan, require_netns

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@pytest.fixture
def lan() -> Iterator[PretendLan]:
    require_netns()
    with PretendLan(2) as pretend:
        yield pretend


async def host_with_code(lan: PretendLan, procs: list[Process], name: str) -> tuple[Process, str]:
    """A headless host in namespace 1 on the default port; returns it and its join code."""
    host = await Process.start(
        "gptgroup-host", "--name", name, "--provider", "none", "--port", "47321",
        "--no-advertise", netns=lan.ns(1),
    )  # fmt: skip
    procs.append(host)
    await host.expect("or give people a join code")
    line = await host.expect(rf"^  ([0-9A-Z-]+)   \(on {re.escape(lan.ipv4(1))}\)$")
    return host, line.group(1)


def nft(ns: str, rules: str) -> None:
    """Load nftables ``rules`` in namespace ``ns`` (a firewall on that host)."""
    subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=rules, text=True,
                   check=True)  # fmt: skip


def one_character_changed(code: str) -> str:
    """``code`` with its third character replaced by the next one of the alphabet."""
    i = 2
    changed = ALPHABET[(ALPHABET.index(code[i]) + 1) % len(ALPHABET)]
    return code[:i] + changed + code[i + 1 :]


async def test_a_join_code_joins_and_a_typo_or_an_old_code_does_not(
    lan: PretendLan, processes: list[Process]
) -> None:
    host, code = await host_with_code(lan, processes, "Code room")
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", code)  # 10/8: 12 characters

    guest = await Process.start(
        "gptgroup-chat", "--code", code.lower(), "--name", "Guest", netns=lan.ns(2)
    )
    processes.append(guest)
    await guest.expect("You joined 'Code room' as Guest")
    await guest.expect("Verification code:")  # a code names only some bits: people compare
    guest.end_input()
    assert await guest.wait() == 0

    typo = await Process.start(
        "gptgroup-chat", "--code", one_character_changed(code), "--name", "Typo",
        netns=lan.ns(2),
    )  # fmt: skip
    processes.append(typo)
    await typo.expect("typo")  # refused as it is read: nothing was sent anywhere
    assert await typo.wait() == 2

    # The room is opened again at the same address and port: a new certificate, a new code.
    host.interrupt()
    await host.wait()
    _, new_code = await host_with_code(lan, processes, "Code room")
    assert new_code != code
    old = await Process.start("gptgroup-chat", "--code", code, "--name", "Late", netns=lan.ns(2))
    processes.append(old)
    await old.expect("is not the one the join code")
    assert await old.wait() == 2
    check = await Process.start(
        "gptgroup-chat", "--code", new_code, "--name", "Check", netns=lan.ns(2)
    )
    processes.append(check)
    await check.expect("You joined 'Code room' as Check")
    await check.type("/who")
    await check.expect(r"^  Check \(you\)$")
    check.end_input()
    assert await check.wait() == 0
    assert not any("Late" in line for line in check.lines)  # the old code never got in


async def test_scan_finds_an_unannounced_room_and_the_doctor_says_why_it_was_not_listed(
    lan: PretendLan, processes: list[Process]
) -> None:
    host, _ = await host_with_code(lan, processes, "Quiet room")
    [code] = [line.split(": ")[1] for line in host.lines if line.startswith("Verification code")]
    scan = await Process.start("gptgroup-chat", "--scan", netns=lan.ns(2))
    processes.append(scan)
    await scan.expect(r"Searching this network: 254 addresses")
    found = await scan.expect(r"Quiet room .* found by scan .*→  10\.77\.0\.1:47321$", 30)
    assert f"code {code}" in found.string  # learned, so shown for people to compare
    assert await scan.wait() == 0

    doctor = await Process.start("gptgroup-chat", "--doctor", netns=lan.ns(2))
    processes.append(doctor)
    await doctor.expect(r"No announcements from other machines arrived", 20)
    await doctor.expect(r"join code")  # and it says what to try
    assert await doctor.wait() == 0


async def test_a_guests_check_sees_the_firewall_the_hosts_own_check_cannot(
    lan: PretendLan, processes: list[Process]
) -> None:
    await host_with_code(lan, processes, "Walled room")
    if shutil.which("nft") is None:
        pytest.fail("nft (nftables) is needed: make system-deps installs it")
    rules = (
        "add table inet wall\n"
        "add chain inet wall input { type filter hook input priority 0 ; }\n"
        'add rule inet wall input iifname "eth0" tcp dport 47321 drop\n'
    )
    nft(lan.ns(1), rules)
    check = await Process.start(
        "gptgroup-chat", "--doctor", f"{lan.ipv4(1)}:47321", netns=lan.ns(2)
    )
    processes.append(check)
    await check.expect(
        rf"\[FAIL\] The room's address does not answer from here \({re.escape(lan.ipv4(1))}, "
        r"port 47321\): no answer: a firewall",
        20,
    )
    await check.expect("Ask the host to allow GPT Group through their firewall")
    assert await check.wait() == 0
