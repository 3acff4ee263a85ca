"""A hostile announcer on a pretend LAN, for the browser's robustness tests.

Run inside a test namespace only. Prints ``ready`` once it has done its part, then keeps
going (or waits) until it is killed. Modes:

``records`` (the default)
    Deliberately malformed GPT Group rooms, and one whose instance name holds control
    characters (which zeroconf itself refuses to register, so it is sent as raw records).
    Serves ``GET /health`` so the rooms pass the browser's reachability check: the point is
    their records.
``flood COUNT``
    COUNT rooms that do not exist: each points at a tarpit (a port that accepts connections
    and never answers) on this host and at addresses nobody has, so every check of them
    holds a socket for as long as the browser allows.
``goodbye INSTANCE``
    A spoofed goodbye for someone else's room (its full instance name), every half second.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
import sys

from zeroconf import DNSAddress, DNSOutgoing, DNSPointer, DNSRecord, DNSService, DNSText
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf
from zeroconf.const import (
    _CLASS_IN,
    _FLAGS_AA,
    _FLAGS_QR_RESPONSE,
    _TYPE_A,
    _TYPE_PTR,
    _TYPE_SRV,
    _TYPE_TXT,
)

TYPE = "_gptgroup._tcp.local."
TTL = 4500


def raw_txt(*entries: bytes) -> bytes:
    """TXT record bytes as on the wire: each string prefixed by its length."""
    return b"".join(struct.pack("B", len(e)) + e for e in entries)


RECORDS = {
    # A newer protocol: must be listed, as incompatible.
    "future": raw_txt(b"v=99", b"rid=future1", b"n=From the future", b"c=2", b"ak=cloud"),
    # Control and direction-override characters in the name; duplicate keys.
    "sneaky": raw_txt(
        b"v=1", b"n=Sneaky\xe2\x80\xae moor\x1b[31m", b"n=second name wins?", b"c=1", b"c=999"
    ),
    # Oversize and nonsense values, invalid UTF-8, keys without values, empty strings.
    "huge": raw_txt(
        b"v=1", b"n=" + b"A" * 250, b"c=-5", b"ak=\xff\xfe", b"am=" + b"m" * 250, b"pw", b""
    ),
    # No useful keys at all.
    "junk": raw_txt(b"\x00\x01\x02", b"=", b"v=one"),
}
# An instance name zeroconf refuses to parse; it used to end a browser task with the raw
# escape sequence in the error printed.
CONTROL_NAME = "Clear\x1b[2J\x1b]0;owned\x07screen"
# Addresses on the pretend LAN (10.77.0.0/24) that no host has: connecting to them hangs.
NOBODY = [f"10.77.0.{i}" for i in range(200, 210)]


def own_address() -> str:
    """This host's address on the pretend LAN (eth0 has 10.77.0.i)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.77.0.254", 9))  # UDP connect sends nothing; it picks a route
        return str(probe.getsockname()[0])


def service_records(name: str, host: str, port: int, txt: bytes) -> list[DNSRecord]:
    """The PTR, SRV and TXT records that announce service ``name`` at ``host``."""
    return [
        DNSPointer(TYPE, _TYPE_PTR, _CLASS_IN, TTL, name),
        DNSService(name, _TYPE_SRV, _CLASS_IN, TTL, 0, 0, port, host),
        DNSText(name, _TYPE_TXT, _CLASS_IN, TTL, txt),
    ]


def address_records(host: str, addresses: list[str]) -> list[DNSRecord]:
    """The A records that give ``host`` these IPv4 addresses."""
    return [
        DNSAddress(host, _TYPE_A, _CLASS_IN, 120, ipaddress.ip_address(a).packed) for a in addresses
    ]


async def send(zc: AsyncZeroconf, records: list[DNSRecord], per_packet: int = 40) -> None:
    """Multicast ``records`` as unsolicited responses, a few at a time so that no receive
    buffer overflows."""
    for start in range(0, len(records), per_packet):
        out = DNSOutgoing(_FLAGS_QR_RESPONSE | _FLAGS_AA)
        for record in records[start : start + per_packet]:
            out.add_answer_at_time(record, 0)
        zc.zeroconf.async_send(out)
        await asyncio.sleep(0.01)


async def health(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
    await writer.drain()
    writer.close()


async def tarpit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # never answer; hold the connection until the other side gives up
    writer.close()


async def malformed_records(zc: AsyncZeroconf) -> None:
    server = await asyncio.start_server(health, "0.0.0.0", 0)
    port = server.sockets[0].getsockname()[1]
    me = own_address()
    host = "hostile-control.local."
    control = service_records(f"{CONTROL_NAME}.{TYPE}", host, port, raw_txt(b"v=1"))
    await send(zc, address_records(host, [me]) + control)
    infos = [
        AsyncServiceInfo(
            TYPE,
            f"{name}.{TYPE}",
            port=port,
            properties=txt,
            server=f"hostile-{name}.local.",
            parsed_addresses=[me],
        )
        for name, txt in RECORDS.items()
    ]
    registered = [await zc.async_register_service(info) for info in infos]
    await asyncio.gather(*registered)  # probing and announcing, all at once
    print("ready", flush=True)
    await asyncio.Event().wait()


async def flood(zc: AsyncZeroconf, count: int) -> None:
    server = await asyncio.start_server(tarpit, "0.0.0.0", 0)
    port = server.sockets[0].getsockname()[1]
    hosts = [(f"fake-{h}.local.", [own_address(), *NOBODY]) for h in range(10)]
    records: list[DNSRecord] = []
    for host, addresses in hosts:
        records += address_records(host, addresses)
    for i in range(count):
        txt = raw_txt(b"v=1", f"rid=f{i:07d}".encode(), f"n=Fake room {i}".encode())
        records += service_records(f"Fake room {i}@f{i:07d}.{TYPE}", hosts[i % 10][0], port, txt)
    await send(zc, records)
    print("ready", flush=True)
    await asyncio.Event().wait()


async def spoofed_goodbyes(zc: AsyncZeroconf, instance: str) -> None:
    goodbye = [DNSPointer(TYPE, _TYPE_PTR, _CLASS_IN, 0, instance)]
    await send(zc, goodbye)
    print("ready", flush=True)
    while True:
        await asyncio.sleep(0.5)
        await send(zc, goodbye)


async def main(argv: list[str]) -> None:
    zc = AsyncZeroconf()
    await zc.zeroconf.async_wait_for_start()
    mode = argv[0] if argv else "records"
    if mode == "flood":
        await flood(zc, int(argv[1]))
    elif mode == "goodbye":
        await spoofed_goodbyes(zc, argv[1])
    else:
        await malformed_records(zc)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
