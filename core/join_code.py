"""A short join code: a room's LAN address, port and certificate, typed in a dozen characters.

The host shows a code such as ``G12G-P7HD-H0T`` (made by :func:`make_join_code`); a guest
types it (:func:`parse_join_code`) to join without mDNS, without a link and without typing an
address. The code holds the host's private IPv4 address, the room's port (unless it is the
default one) and a *tag* of the room's certificate: the client connects to the address and
accepts the room only if :meth:`JoinCode.matches` the certificate it presented (right after
the TLS handshake, before sending anything), then keeps that whole fingerprint for the
session, as if a link had named it. No I/O here.

Text form. Crockford base32: the digits and the letters A-Z without I, L, O and U, five bits
a character, most significant first; shown upper case in groups of four joined by hyphens.
Reading forgives what Crockford forgives: lower case, ``I`` and ``L`` read as ``1``, ``O`` as
``0``, and hyphens and spaces anywhere are ignored.

Bit layout (the characters before the last one, read as one big-endian number of
``5 * (length - 1)`` bits, from the most significant bit):

1. *Header.* Default port (47321): ``0`` for 10.0.0.0/8, ``10`` for 192.168.0.0/16, ``110`` for
   172.16.0.0/12. Any other port: ``111``, then two bits for the range (``00`` 10/8, ``01``
   192.168/16, ``10`` 172.16/12; ``11`` is kept for later versions), then the port in 16 bits.
   So the first character tells the kind: ``0``-``F`` 10/8, ``G``-``Q`` 192.168/16,
   ``R``-``V`` 172.16/12, ``W``-``Y`` another port (``Z``: a later version).
2. *Host.* The address's bits after the range's prefix: 24, 16 or 20 bits.
3. *Tag.* All the bits left: the first bits of the room certificate's tag (below).

Each kind takes the fewest characters that leave the tag at least 30 bits:

=================  ==========  ========  ================  ===========
range              port        header    characters        tag bits
=================  ==========  ========  ================  ===========
192.168.0.0/16     default     2 bits    11                32
10.0.0.0/8         default     1 bit     12                30
172.16.0.0/12      default     3 bits    12                32
192.168.0.0/16     other       21 bits   15                33
10.0.0.0/8         other       21 bits   16                30
172.16.0.0/12      other       21 bits   16                34
=================  ==========  ========  ================  ===========

The last character is a *check character*: with the characters' values ``v_1 … v_n`` (the
check last) taken as elements of GF(32) (the bits of ``v`` as a polynomial over GF(2), modulo
``x^5 + x^2 + 1``), a code is valid when ``x^n + Σ x^(n-i) · v_i = 0``. Every position has its
own non-zero weight (``x`` has order 31 and a code has at most 16 characters), so changing one
character, or swapping any two different ones (neighbours included), always breaks the sum:
a mistyped code is refused, never joined somewhere else. The ``x^n`` term ties the sum to
the length, so a ``0`` added in front (or a leading ``0`` left out), which leaves the number
the same, is refused too; and since the first characters say how long the code is, so is a
character left out or added anywhere after the first one.

The tag is ``scrypt(password = fingerprint, salt = "gptgroup join code v1" ‖ the address's 4
bytes ‖ the port's 2 bytes big-endian, N = 2^14, r = 8, p = 1, 8 bytes)``, read as a
big-endian number, of which the code keeps the most significant bits. Why not the
fingerprint's own first bits: the fingerprint is announced to the whole LAN (mDNS, beacons),
and clients do not check a room certificate's self-signature, so a certificate whose
fingerprint starts with 30 given bits costs about 2^30 SHA-256 computations, a minute or two
of one CPU core. Through scrypt, each try costs a memory-hard hash of 16 MiB (about 40 ms of
a CPU core). To impersonate a room to someone typing its code, an attacker on the LAN must
make about 2^30 to 2^34 certificates (one key, any field changed) and run scrypt on each,
about 1.4 CPU-years or a couple of days of a high-end graphics card, then intercept the
guest's connection. The salt ties a tag to one address and port: certificates ground in
advance serve only rooms at that address and port (192.168.1.20:47321 is a common one, so
the cost is the protection, not secrecy). A 30-bit tag is no long fingerprint: the client
still shows the room's verification code after joining by code, for people to compare with
the host's when in doubt.

Test vector: address ``192.168.1.20``, port 47321, fingerprint the bytes ``00 01 … 1f`` →
``G12G-P7HD-H0T``.

Errors::

    ValueError
     └ JoinCodeError          no code for this, or no room in this text
        ├ NoJoinCode          the address cannot have a code (public IPv4, IPv6, loopback)
        └ InvalidJoinCode     text that is not a valid code (a typo, most likely)
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
from dataclasses import dataclass

from core.address import wss_url
from core.protocol import DEFAULT_PORT
from core.room_tls import FINGERPRINT_BYTES

__all__ = [
    "ALPHABET",
    "MIN_TAG_BITS",
    "TEST_VECTOR",
    "InvalidJoinCode",
    "JoinCode",
    "JoinCodeError",
    "NoJoinCode",
    "can_have_join_code",
    "make_join_code",
    "parse_join_code",
]

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's: no I, L, O, U
_VALUES = {c: v for v, c in enumerate(ALPHABET)} | {"I": 1, "L": 1, "O": 0}
_IGNORED = frozenset("- \t")
GROUP = 4  # characters between hyphens

MIN_TAG_BITS = 30
_CHAR_BITS = 5
_PORT_BITS = 16
_RANGE_BITS = 2  # after the header 111 of a code with a port

# The private ranges a code can hold, by their number in the header (see the docstring).
_RANGES = (
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv4Network("192.168.0.0/16"),
    ipaddress.IPv4Network("172.16.0.0/12"),
)
_DEFAULT_PORT_HEADERS = ((0b0, 1), (0b10, 2), (0b110, 3))  # (bits, how many), by range
_OTHER_PORT_PREFIX = (0b111, 3)

_TAG_CONTEXT = b"gptgroup join code v1"
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_TAG_BYTES = 8
_SCRYPT_MAXMEM = 64 * 2**20  # above the 16 MiB these parameters take (the default is 32 MiB)

# GF(32) modulo x^5 + x^2 + 1 (primitive, so x has order 31); x is the weight's base.
_GF_MODULUS = 0b100101
_GF_ALPHA = 0b00010

TEST_VECTOR = ("192.168.1.20", DEFAULT_PORT, bytes(range(32)), "G12G-P7HD-H0T")


class JoinCodeError(ValueError):
    """A join code could not be made or read; ``str()`` is a sentence meant for people."""


class NoJoinCode(JoinCodeError):
    """The room's address cannot be put in a join code (only private IPv4 addresses can)."""


class InvalidJoinCode(JoinCodeError):
    """Text that is not a valid join code; ``str()`` says what to do about it."""


@dataclass(frozen=True)
class _Kind:
    """One kind of code: a private range, with the default port or another one."""

    range_index: int
    default_port: bool
    header: int
    header_bits: int
    length: int  # characters, the check character included
    tag_bits: int

    @property
    def network(self) -> ipaddress.IPv4Network:
        return _RANGES[self.range_index]

    @property
    def host_bits(self) -> int:
        return 32 - self.network.prefixlen


def _kind(range_index: int, default_port: bool) -> _Kind:
    if default_port:
        header, header_bits = _DEFAULT_PORT_HEADERS[range_index]
    else:
        prefix, prefix_bits = _OTHER_PORT_PREFIX
        header = (prefix << _RANGE_BITS) | range_index
        header_bits = prefix_bits + _RANGE_BITS
    fixed = header_bits + (32 - _RANGES[range_index].prefixlen)
    fixed += 0 if default_port else _PORT_BITS
    data_chars = -(-(fixed + MIN_TAG_BITS) // _CHAR_BITS)  # the fewest that leave the tag room
    tag_bits = data_chars * _CHAR_BITS - fixed
    return _Kind(range_index, default_port, header, header_bits, data_chars + 1, tag_bits)


_KINDS = tuple(_kind(r, d) for d in (True, False) for r in range(len(_RANGES)))
_LENGTHS = frozenset(k.length for k in _KINDS)


@dataclass(frozen=True)
class JoinCode:
    """What a join code says: where the room is, and the tag its certificate must have.

    ``text`` is the code as the host shows it (upper case, in groups). ``tag`` holds the
    first ``tag_bits`` bits of the room certificate's tag (see the module docstring):
    :meth:`matches` tells whether a certificate is the room's.
    """

    address: str
    port: int
    tag: int
    tag_bits: int
    text: str

    @property
    def url(self) -> str:
        """The ``wss://`` URL to connect to."""
        return wss_url(self.address, self.port)

    def matches(self, fingerprint: bytes) -> bool:
        """Whether a certificate with ``fingerprint`` (32 bytes) is the one the code names.

        Runs scrypt (about 40 ms of a CPU core and 16 MiB; the last few results are kept,
        so a reconnect costs nothing): call it off the event loop where that matters, as
        ``await asyncio.to_thread(code.matches, fingerprint)``. False for anything that is
        not a 32-byte fingerprint.
        """
        if len(fingerprint) != FINGERPRINT_BYTES:
            return False
        return _tag(fingerprint, self.address, self.port, self.tag_bits) == self.tag


def can_have_join_code(address: str) -> bool:
    """Whether a room at ``address`` can have a join code: a private IPv4 address of
    10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 (an IPv4-mapped IPv6 one included)."""
    return _private_ipv4(address) is not None


def make_join_code(address: str, port: int, fingerprint: bytes) -> str:
    """The code for the room at ``address`` and ``port`` whose certificate has
    ``fingerprint``, as the host shows it: ``"G12G-P7HD-H0T"``.

    Raises :class:`NoJoinCode` for an address that is not a private IPv4 one (a public or
    IPv6 address, loopback, a name), and ValueError for a port outside 1-65535 or a
    fingerprint that is not 32 bytes. Runs scrypt once (about 40 ms; see
    :meth:`JoinCode.matches`).
    """
    ip = _private_ipv4(address)
    if ip is None:
        raise NoJoinCode(
            "a join code works only on a private IPv4 network; share the room link instead"
        )
    if not 0 < port < 1 << _PORT_BITS:
        raise ValueError(f"a room's port is between 1 and 65535, not {port}")
    if len(fingerprint) != FINGERPRINT_BYTES:
        raise ValueError(f"a room fingerprint is {FINGERPRINT_BYTES} bytes, not {len(fingerprint)}")
    range_index = next(i for i, network in enumerate(_RANGES) if ip in network)
    kind = _KINDS[range_index if port == DEFAULT_PORT else len(_RANGES) + range_index]
    value = kind.header
    if not kind.default_port:
        value = (value << _PORT_BITS) | port
    host = int(ip) - int(kind.network.network_address)
    value = (value << kind.host_bits) | host
    value = (value << kind.tag_bits) | _tag(fingerprint, str(ip), port, kind.tag_bits)
    data = [(value >> (_CHAR_BITS * i)) & 31 for i in reversed(range(kind.length - 1))]
    return _grouped([*data, _check_value(data)])


def parse_join_code(text: str) -> JoinCode:
    """Read a code as people type it: any case, with or without hyphens and spaces, ``I`` or
    ``L`` for ``1`` and ``O`` for ``0``. Raises :class:`InvalidJoinCode` with a sentence
    saying what is wrong and what to do; never anything else, whatever ``text`` holds."""
    if not isinstance(text, str):
        raise InvalidJoinCode("a join code is text")
    typed = [c for c in text.strip().upper() if c not in _IGNORED]
    if not typed:
        raise InvalidJoinCode("enter the join code the host's screen shows, such as G12G-P7HD-H0T")
    values: list[int] = []
    for char in typed:
        value = _VALUES.get(char)
        if value is None:
            shown = char if char.isprintable() and not char.isspace() else ascii(char)
            raise InvalidJoinCode(
                f"a join code has only digits and the letters A to Z without U, not {shown}: "
                "check it with the host"
            )
        values.append(value)
    if len(values) not in _LENGTHS:
        raise InvalidJoinCode(
            f"a join code has 11 or 12 characters (15 or 16 when the room is not on the usual "
            f"port), and this one has {len(values)}: check it with the host"
        )
    if _weighted_sum(values) != 0:
        raise InvalidJoinCode("this code has a typo: check it with the host")
    data = values[:-1]
    value = 0
    for v in data:
        value = (value << _CHAR_BITS) | v
    kind = _read_kind(value, len(data) * _CHAR_BITS)
    if kind.length != len(values):  # a character left out or doubled, where both passed
        raise InvalidJoinCode("this code has a typo: check it with the host")
    port = DEFAULT_PORT
    rest = len(data) * _CHAR_BITS - kind.header_bits
    if not kind.default_port:
        rest -= _PORT_BITS
        port = (value >> rest) & ((1 << _PORT_BITS) - 1)
        if port == 0:
            raise InvalidJoinCode("this code has a typo: check it with the host")
    rest -= kind.host_bits
    host = (value >> rest) & ((1 << kind.host_bits) - 1)
    address = ipaddress.IPv4Address(int(kind.network.network_address) + host)
    tag = value & ((1 << kind.tag_bits) - 1)
    return JoinCode(str(address), port, tag, kind.tag_bits, _grouped(values))


def _read_kind(value: int, bits: int) -> _Kind:
    """The kind of code whose data, ``bits`` bits long, is ``value``, from its header."""
    ones = 0
    while ones < 3 and (value >> (bits - 1 - ones)) & 1:
        ones += 1
    if ones < 3:
        return _KINDS[ones]  # the default-port kinds, in range order
    range_index = (value >> (bits - 3 - _RANGE_BITS)) & ((1 << _RANGE_BITS) - 1)
    if range_index >= len(_RANGES):
        raise InvalidJoinCode(
            "this join code was made by a newer version of GPT Group: update the app, or type "
            "the room's address instead"
        )
    return _KINDS[len(_RANGES) + range_index]


def _private_ipv4(text: str) -> ipaddress.IPv4Address | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is None:
            return None
        ip = ip.ipv4_mapped
    return ip if any(ip in network for network in _RANGES) else None


@functools.lru_cache(maxsize=16)
def _tag(fingerprint: bytes, address: str, port: int, bits: int) -> int:
    """The first ``bits`` bits of the certificate's tag for a room at ``address:port``."""
    salt = _TAG_CONTEXT + ipaddress.IPv4Address(address).packed + port.to_bytes(2, "big")
    digest = hashlib.scrypt(
        fingerprint, salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P,
        maxmem=_SCRYPT_MAXMEM, dklen=_TAG_BYTES,
    )  # fmt: skip
    return int.from_bytes(digest, "big") >> (_TAG_BYTES * 8 - bits)


def _gf_times_alpha(value: int) -> int:
    value <<= 1
    return value ^ _GF_MODULUS if value & 0b100000 else value


def _weighted_sum(values: list[int]) -> int:
    """``x^n + Σ x^(n-i) · v_i`` in GF(32) (Horner's rule from 1; addition is XOR). The
    ``x^n`` ties the sum to the code's length: a ``0`` added in front of a code (or one of a
    code's leading zeros dropped) changes it, as every other typo does."""
    total = 1
    for v in values:
        total = _gf_times_alpha(total) ^ v
    return total


def _check_value(data: list[int]) -> int:
    """The check character's value: the one that makes the weighted sum of the code 0."""
    return _gf_times_alpha(_weighted_sum(data))


def _grouped(values: list[int]) -> str:
    text = "".join(ALPHABET[v] for v in values)
    return "-".join(text[i : i + GROUP] for i in range(0, len(text), GROUP))
