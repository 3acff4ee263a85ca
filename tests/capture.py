"""A packet capture on a pretend LAN's switch, without tcpdump, and what the tests read in it.

Run as a script inside the switch's namespace (:class:`Capture` does so)::

    python tests/capture.py OUT.pcap PORT...

it opens one ``AF_PACKET`` socket, prints ``ready``, and writes every frame that *enters* the
switch through one of the named ports (see :meth:`tests.netns.PretendLan.port`) to ``OUT.pcap``
in the classic pcap format (Wireshark reads it), until SIGTERM or SIGINT. Frames leaving the
switch are the same frames again, and are left out, so each frame on the LAN is there once.
Nothing here can see or touch a real interface: a namespace has only its own.

The readers (:func:`read_pcap`, :class:`Frame`, :func:`tcp_streams`, :func:`tls_records`) take
Ethernet frames apart as far as the tests need: IPv4 and IPv6 (with their usual extension
headers), TCP and UDP. A TCP stream is put back together from its segments by sequence number,
so that text cut across two segments is found as well as text inside one.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import struct
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

__all__ = [
    "Capture",
    "Frame",
    "StreamKey",
    "TlsRecord",
    "read_pcap",
    "tcp_streams",
    "tls_records",
]

CAPTURE_SCRIPT = Path(__file__)
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4  # <linux/if_packet.h>: a frame this namespace sends out of a port
PCAP_MAGIC = 0xA1B2C3D4  # microsecond timestamps, written in this machine's byte order
LINKTYPE_ETHERNET = 1
SNAPLEN = 262_144
_ETHERTYPE_IPV4 = 0x0800
_ETHERTYPE_IPV6 = 0x86DD
_ETHERTYPE_VLAN = 0x8100
_PROTO_TCP = 6
_PROTO_UDP = 17
_IPV6_SKIPPABLE = {0, 43, 60}  # hop-by-hop, routing, destination options
_IPV6_FRAGMENT = 44
_SEQ_SPACE = 2**32
_TCP_SYN = 0x02


# ----------------------------------------------------------------------------- the capture


def _capture(out: Path, ports: list[str]) -> None:
    """Write the frames entering the switch through ``ports`` to ``out`` until a signal."""
    stop = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    wanted = set(ports)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    sock.settimeout(0.1)
    with out.open("wb") as pcap:
        pcap.write(struct.pack("=IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET))
        print("ready", flush=True)
        while not stop:
            try:
                data, (interface, _proto, kind, *_rest) = sock.recvfrom(SNAPLEN)
            except (TimeoutError, InterruptedError):
                continue  # a chance to see whether a signal asked us to stop
            if interface not in wanted or kind == PACKET_OUTGOING:
                continue
            now = time.time()
            seconds = int(now)
            micros = int((now - seconds) * 1_000_000)
            pcap.write(struct.pack("=IIII", seconds, micros, len(data), len(data)) + data)
    sock.close()


class Capture:
    """The capture script running in ``switch`` (a namespace) on ``ports``, writing ``path``.

    ``async with Capture(...) as capture:`` returns once it captures; :meth:`stop` (also on
    leaving the block) ends it and returns every frame it wrote.
    """

    def __init__(self, switch: str, ports: Iterable[str], path: Path) -> None:
        self.switch = switch
        self.ports = list(ports)
        self.path = path
        self._proc: asyncio.subprocess.Process | None = None
        self.frames: list[Frame] | None = None

    async def __aenter__(self) -> Capture:
        self._proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", self.switch, sys.executable, str(CAPTURE_SCRIPT),
            str(self.path), *self.ports, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self._proc.stdout is not None
        ready = await asyncio.wait_for(self._proc.stdout.readline(), 15)
        if ready.strip() != b"ready":
            await self.stop()
            raise RuntimeError(f"the capture did not start: {ready!r}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def stop(self) -> list[Frame]:
        """End the capture (once all it was handed is written) and read what it wrote."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
            self.frames = read_pcap(self.path)
        return self.frames or []


# ----------------------------------------------------------------------------- reading it


@dataclass(frozen=True)
class Frame:
    """One Ethernet frame, with what the tests need to know about it (None where the frame
    is not of that kind)."""

    data: bytes
    ip_version: int | None = None
    source: str | None = None
    destination: str | None = None
    protocol: int | None = None  # IP protocol number: 6 TCP, 17 UDP
    source_port: int | None = None
    destination_port: int | None = None
    tcp_seq: int | None = None
    tcp_flags: int = 0
    payload: bytes = b""

    @property
    def is_tcp(self) -> bool:
        return self.protocol == _PROTO_TCP

    @property
    def is_udp(self) -> bool:
        return self.protocol == _PROTO_UDP

    def involves_port(self, port: int) -> bool:
        return port in (self.source_port, self.destination_port)

    @classmethod
    def parse(cls, data: bytes) -> Frame:
        """Take ``data`` apart as far as it goes; what cannot be read is left None."""
        if len(data) < 14:
            return cls(data)
        ethertype, offset = struct.unpack_from("!H", data, 12)[0], 14
        if ethertype == _ETHERTYPE_VLAN and len(data) >= 18:
            ethertype, offset = struct.unpack_from("!H", data, 16)[0], 18
        if ethertype == _ETHERTYPE_IPV4 and len(data) >= offset + 20:
            header = (data[offset] & 0x0F) * 4
            total = struct.unpack_from("!H", data, offset + 2)[0]
            protocol = data[offset + 9]
            source = socket.inet_ntop(socket.AF_INET, data[offset + 12 : offset + 16])
            destination = socket.inet_ntop(socket.AF_INET, data[offset + 16 : offset + 20])
            body = data[offset + header : offset + total]
            return cls._transport(data, 4, source, destination, protocol, body)
        if ethertype == _ETHERTYPE_IPV6 and len(data) >= offset + 40:
            length = struct.unpack_from("!H", data, offset + 4)[0]
            protocol = data[offset + 6]
            source = socket.inet_ntop(socket.AF_INET6, data[offset + 8 : offset + 24])
            destination = socket.inet_ntop(socket.AF_INET6, data[offset + 24 : offset + 40])
            body = data[offset + 40 : offset + 40 + length]
            while protocol in _IPV6_SKIPPABLE | {_IPV6_FRAGMENT} and len(body) >= 8:
                skip = 8 if protocol == _IPV6_FRAGMENT else (body[1] + 1) * 8
                protocol, body = body[0], body[skip:]
            return cls._transport(data, 6, source, destination, protocol, body)
        return cls(data)

    @classmethod
    def _transport(
        cls, data: bytes, version: int, source: str, destination: str, protocol: int, body: bytes
    ) -> Frame:
        sport = dport = seq = None
        flags, payload = 0, body
        if protocol == _PROTO_TCP and len(body) >= 20:
            sport, dport, seq = struct.unpack_from("!HHI", body)
            flags, payload = body[13], body[(body[12] >> 4) * 4 :]
        elif protocol == _PROTO_UDP and len(body) >= 8:
            sport, dport = struct.unpack_from("!HH", body)
            payload = body[8:]
        return cls(
            data, ip_version=version, source=source, destination=destination,
            protocol=protocol, source_port=sport, destination_port=dport, tcp_seq=seq,
            tcp_flags=flags, payload=payload,
        )  # fmt: skip


def read_pcap(path: Path) -> list[Frame]:
    """Every frame in a pcap file written by the capture script (this machine's byte order)."""
    raw = path.read_bytes()
    magic, *_ = struct.unpack_from("=IHHiIII", raw)
    if magic != PCAP_MAGIC:
        raise ValueError(f"{path} is not a pcap file this capture wrote")
    frames, offset = [], 24
    while offset + 16 <= len(raw):
        _, _, captured, _ = struct.unpack_from("=IIII", raw, offset)
        offset += 16
        frames.append(Frame.parse(raw[offset : offset + captured]))
        offset += captured
    return frames


StreamKey = tuple[str, int, str, int]
"""One direction of a TCP connection: source address and port, destination address and port."""


def tcp_streams(frames: Iterable[Frame]) -> dict[StreamKey, bytes]:
    """The bytes each direction of each TCP connection carried, in order, put back together
    from its segments by sequence number (a segment sent again counts once).

    Only connections whose SYN was captured are put together (their first byte's number is
    known); a hole (a lost frame) raises ``ValueError``, since a search of a stream with holes
    proves less than it seems to.
    """
    starts: dict[StreamKey, int] = {}
    segments: dict[StreamKey, dict[int, bytes]] = {}
    for frame in frames:
        if not frame.is_tcp or frame.tcp_seq is None:
            continue
        key = (frame.source or "", frame.source_port or 0, frame.destination or "",
               frame.destination_port or 0)  # fmt: skip
        if frame.tcp_flags & _TCP_SYN:
            starts[key] = (frame.tcp_seq + 1) % _SEQ_SPACE
        if frame.payload:
            segments.setdefault(key, {})
            known = segments[key].get(frame.tcp_seq, b"")
            if len(frame.payload) > len(known):
                segments[key][frame.tcp_seq] = frame.payload
    streams: dict[StreamKey, bytes] = {}
    for key, start in starts.items():
        stream = bytearray()
        by_offset = sorted(
            ((seq - start) % _SEQ_SPACE, payload) for seq, payload in segments.get(key, {}).items()
        )
        for offset, payload in by_offset:
            if offset > len(stream):
                raise ValueError(f"the capture lost part of the TCP stream {key}")
            stream += payload[len(stream) - offset :]
        streams[key] = bytes(stream)
    return streams


@dataclass(frozen=True)
class TlsRecord:
    """One TLS record's header: its content type (20 change_cipher_spec, 21 alert,
    22 handshake, 23 application_data) and the length of what follows."""

    content_type: int
    length: int


def tls_records(stream: bytes) -> list[TlsRecord]:
    """``stream`` read as TLS records from its first byte to its last; ``ValueError`` if it
    is anything else (any byte outside a well-formed record, or a record cut short)."""
    records, offset = [], 0
    while offset < len(stream):
        if offset + 5 > len(stream):
            raise ValueError(f"a TLS record header cut short at byte {offset}")
        content_type, version, length = struct.unpack_from("!BHH", stream, offset)
        if content_type not in (20, 21, 22, 23) or version not in (0x0301, 0x0303):
            raise ValueError(f"not a TLS record at byte {offset}: {stream[offset : offset + 5]!r}")
        if offset + 5 + length > len(stream):
            raise ValueError(f"a TLS record cut short at byte {offset}")
        records.append(TlsRecord(content_type, length))
        offset += 5 + length
    return records


if __name__ == "__main__":
    _capture(Path(sys.argv[1]), sys.argv[2:])
