"""Announce deliberately malformed GPT Group rooms, for the browser's robustness test.

Run inside a test namespace only. Serves ``GET /health`` so the rooms pass the browser's
reachability check (the point is their TXT records), prints ``ready``, then waits to be killed.
"""

from __future__ import annotations

import asyncio
import struct

from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

TYPE = "_gptgroup._tcp.local."


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


async def health(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
    await writer.drain()
    writer.close()


async def main() -> None:
    server = await asyncio.start_server(health, "0.0.0.0", 0)
    port = server.sockets[0].getsockname()[1]
    zc = AsyncZeroconf()
    for name, txt in RECORDS.items():
        info = AsyncServiceInfo(
            TYPE, f"{name}.{TYPE}", port=port, properties=txt,
            server=f"hostile-{name}.local.", parsed_addresses=["10.77.0.1"],
        )  # fmt: skip
        await (await zc.async_register_service(info))
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
