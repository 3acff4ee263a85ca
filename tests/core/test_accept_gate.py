"""The socket limits at accept: on plain values with a fake clock, then with real sockets on
loopback. How often one address may connect, what all of loopback may hold, and how many
sockets may sit in their TLS handshake at once. Each test fails on the gate as it was before
these limits (every 127.0.0.N its own machine, and no limit on accepts or handshakes)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from core.accept_gate import (
    ACCEPT_BURST,
    ACCEPTS_PER_SECOND,
    LOOPBACK_TOTAL,
    MAX_SETTLING,
    AcceptGate,
)
from core.tls_listener import TLS_READ_BUFFER
from tests.conftest import RoomFactory, RoomHarness
from tests.raw_tls import closed_by_peer, tls_hello


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def gate(clock: Clock, **options: int) -> AcceptGate:
    """A gate as a room makes it (64 per address, 4096 in total)."""
    return AcceptGate(64, 4096, 8, clock=clock, **options)


def admit_and_close(g: AcceptGate, address: str) -> bool:
    """A connection that comes and goes at once: whether it was let in."""
    if not g.admit(address):
        return False
    g.settled(address)
    g.release(address)
    return True


# ----------------------------------------------------------------- on plain values


def test_an_address_that_reconnects_too_often_is_refused_at_accept() -> None:
    clock = Clock()
    g = gate(clock)
    admitted = sum(admit_and_close(g, "10.0.0.66") for _ in range(ACCEPT_BURST + 40))
    assert admitted == ACCEPT_BURST  # each one closed at once: only the rate held them back
    assert admit_and_close(g, "10.0.0.7")  # another machine is not held back
    clock.now += 1.0
    admitted = sum(admit_and_close(g, "10.0.0.66") for _ in range(40))
    assert admitted == ACCEPTS_PER_SECOND


def test_one_64_reconnects_as_a_few_machines_and_all_of_loopback_likewise() -> None:
    clock = Clock()
    g = gate(clock)
    group = 8 * ACCEPT_BURST  # network_factor times an address's
    v6 = sum(admit_and_close(g, f"2001:db8::{i // 50 + 1:x}") for i in range(group + 100))
    local = sum(admit_and_close(g, f"127.0.{i // 250}.{2 + i % 250}") for i in range(group + 100))
    assert (v6, local) == (group, group)
    assert admit_and_close(g, "2001:db8:0:1::1")  # the next /64 is someone else


def test_all_of_loopback_holds_a_bounded_number_of_sockets() -> None:
    """A local process may connect from every 127.x.y.z: each keeps its own per-address
    limit (tests and benchmarks rely on it), and all of them together hold at most
    LOOPBACK_TOTAL. The LAN's own total is another one."""
    clock = Clock()
    g = gate(clock)
    held = 0
    for i in range(LOOPBACK_TOTAL + 200):  # 20 from each of 62 addresses: no address is full
        clock.now += 1.0  # ...and never too often
        address = f"127.0.0.{2 + i // 20}"
        if g.admit(address):
            g.settled(address)
            held += 1
    assert held == LOOPBACK_TOTAL
    assert g.admit("192.168.1.50")  # the LAN still gets in
    g.release("127.0.0.2")
    assert g.admit("127.0.0.9")  # a place given back is a place again


def test_loopback_never_takes_more_than_the_host_can_spare() -> None:
    assert AcceptGate(64, 512).loopback_total == 512  # a small open-files limit
    assert AcceptGate(64, 4096).loopback_total == LOOPBACK_TOTAL


def test_sockets_in_their_handshake_are_capped_apart_for_the_lan_and_loopback() -> None:
    """A stalled TLS handshake holds a read buffer and OpenSSL's state: fewer may wait at
    once than may be open. A flood of them from the LAN never keeps the host's own app out,
    nor one from loopback the LAN."""
    clock = Clock()
    g = gate(clock)
    lan = [f"10.0.{i // 32}.{1 + i % 32}" for i in range(MAX_SETTLING)]  # 32 each: not full
    for address in lan:
        clock.now += 1.0
        assert g.admit(address)
    assert not g.admit("10.0.99.1")
    assert g.admit("127.0.0.1")  # the host's own app
    g.settled(lan[0])  # one handshake is over: its socket stays open, a new one may start
    assert g.admit("10.0.99.1")
    assert not g.admit("10.0.99.2")
    assert g.settling() == MAX_SETTLING and g.settling(loopback=True) == 1


# ----------------------------------------------------------------- real sockets on loopback


async def _open(room: RoomHarness, address: str, first: bytes = b"") -> socket.socket:
    s = socket.socket()
    s.setblocking(False)
    s.bind((address, 0))
    loop = asyncio.get_running_loop()
    await loop.sock_connect(s, ("127.0.0.1", room.server.port))
    if first:
        await loop.sock_sendall(s, first)
    return s


async def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_stalled_handshakes_beyond_the_cap_are_cut_at_once(make_room: RoomFactory) -> None:
    """300 stalled TLS hellos from ten loopback addresses (30 each: within every other
    limit). Before, all 300 were held, each with its TLS buffers, until the deadline."""
    room = await make_room(open_timeout=3.0)
    hello = tls_hello()[:40]  # stop inside the hello
    flood: list[socket.socket] = []
    try:
        for i in range(300):
            flood.append(await _open(room, f"127.0.0.{2 + i % 10}", hello))

        def cut() -> int:
            return sum(closed_by_peer(s) for s in flood)

        await _wait_until(lambda: cut() >= 300 - MAX_SETTLING)
        await asyncio.sleep(0.2)  # well before the deadline: nothing more is cut
        assert cut() == 300 - MAX_SETTLING
        await _wait_until(lambda: cut() == 300)  # the deadline cuts the rest
        a, _ = await room.join("Ann")  # and the room's port is open for everyone again
        await a.leave()
    finally:
        for s in flood:
            s.close()


async def test_one_address_connecting_in_a_loop_is_cut_at_accept(make_room: RoomFactory) -> None:
    room = await make_room()
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(ACCEPT_BURST):  # connect and hang up at once, as fast as it can
        (await _open(room, "127.0.0.3")).close()
    kept: list[socket.socket] = []
    try:
        for _ in range(30):
            kept.append(await _open(room, "127.0.0.3"))
        await asyncio.sleep(0.2)
        elapsed = loop.time() - started
        admitted = sum(not closed_by_peer(s) for s in kept)
        assert admitted <= ACCEPTS_PER_SECOND * elapsed + 1
        a, _ = await room.join("Ann")  # from 127.0.0.1: another address
        await a.leave()
    finally:
        for s in kept:
            s.close()


def test_a_stalled_handshake_holds_one_tls_record_of_read_buffer() -> None:
    """asyncio allocates this much per connection as TLS starts (its own default is 256
    KiB; ours was 64). One record (16 KiB of data, 256 bytes of expansion, a 5-byte header)
    must fit, so that OpenSSL always has a whole one to work on."""
    assert 5 + 2**14 + 256 <= TLS_READ_BUFFER <= 17 * 1024
