"""A room's TLS identity: real wss:// on loopback with a fresh certificate, pinning, the key
never on disk in clear, the fingerprint's text form (hypothesis) and the verification code."""

from __future__ import annotations

import base64
import datetime
import hashlib
import os
import re
import ssl
import stat
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import HeadersLike
from websockets.exceptions import InvalidMessage
from websockets.http11 import Request

import core.room_tls
from core.room_tls import (
    CertificateMismatch,
    InvalidFingerprint,
    RoomCertificate,
    RoomIdentityError,
    check_pin,
    client_context,
    fingerprint_text,
    parse_fingerprint,
    peer_fingerprint,
    verification_code,
)

# Worked out once (and checked by hand with `base32` and `openssl dgst -sha256`), then pinned:
# these are what docs/protocol.md gives a third party to check an implementation against.
VECTOR_FINGERPRINT = bytes(range(32))
VECTOR_TEXT = "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq"
VECTOR_CODE = "8781 6279 4641 5215 7511"


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


@pytest.fixture(scope="module")
def room_certificate() -> RoomCertificate:
    return RoomCertificate.generate()


@pytest.fixture
async def tls_room(room_certificate: RoomCertificate) -> AsyncIterator[TlsRoom]:
    room = TlsRoom()
    async with serve(
        echo,
        "127.0.0.1",
        0,
        ssl=room_certificate.server_context(),
        process_request=room.saw_request,
    ) as server:
        room.server = server
        yield room


class TlsRoom:
    """An echo server on wss://127.0.0.1 that notes every HTTP request it receives."""

    server: Server
    requests: list[str]

    def __init__(self) -> None:
        self.requests = []

    def saw_request(self, connection: ServerConnection, request: Request) -> None:
        self.requests.append(request.path)

    @property
    def port(self) -> int:
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"wss://127.0.0.1:{self.port}/"

    async def assert_still_serves(self, fingerprint: bytes) -> None:
        """A guest with the right pin still gets through and is answered."""
        async with connect(self.url, ssl=client_context(), proxy=None) as ws:
            check_pin(peer_fingerprint(ws.transport.get_extra_info("ssl_object")), fingerprint)
            await ws.send("still here?")
            assert await ws.recv() == "still here?"


def pinned(expected: bytes) -> type[ClientConnection]:
    """A websockets connection that checks the room's pin after the TLS handshake and before
    the HTTP upgrade request: a room that fails the pin is sent nothing at all. (The pattern
    the client can use; shown here to work with this module's contexts.)"""

    class PinnedConnection(ClientConnection):
        async def handshake(
            self,
            additional_headers: HeadersLike | None = None,
            user_agent_header: str | None = None,
        ) -> None:
            check_pin(peer_fingerprint(self.transport.get_extra_info("ssl_object")), expected)
            await super().handshake(additional_headers, user_agent_header)

    return PinnedConnection


async def test_a_guest_talks_to_the_room_over_tls_13_and_reads_its_fingerprint(
    tls_room: TlsRoom, room_certificate: RoomCertificate
) -> None:
    async with connect(tls_room.url, ssl=client_context(), proxy=None) as ws:
        ssl_object = ws.transport.get_extra_info("ssl_object")
        assert ssl_object.version() == "TLSv1.3"
        assert peer_fingerprint(ssl_object) == room_certificate.fingerprint
        check_pin(peer_fingerprint(ssl_object), room_certificate.fingerprint)
        await ws.send("hello, room")
        assert await ws.recv() == "hello, room"


async def test_a_room_with_another_certificate_is_refused(
    tls_room: TlsRoom, room_certificate: RoomCertificate
) -> None:
    impostor = RoomCertificate.generate()
    assert impostor.fingerprint != room_certificate.fingerprint
    assert verification_code(impostor.fingerprint) != verification_code(
        room_certificate.fingerprint
    )
    async with connect(tls_room.url, ssl=client_context(), proxy=None) as ws:
        actual = peer_fingerprint(ws.transport.get_extra_info("ssl_object"))
    with pytest.raises(CertificateMismatch, match="impersonating") as refused:
        check_pin(actual, impostor.fingerprint)
    assert isinstance(refused.value, RoomIdentityError)
    assert (refused.value.expected, refused.value.actual) == (impostor.fingerprint, actual)


async def test_a_room_that_fails_the_pin_is_sent_not_even_the_upgrade_request(
    tls_room: TlsRoom, room_certificate: RoomCertificate
) -> None:
    wrong = RoomCertificate.generate().fingerprint
    with pytest.raises(CertificateMismatch):
        await connect(
            tls_room.url, ssl=client_context(), proxy=None, create_connection=pinned(wrong)
        )
    assert tls_room.requests == []
    right = pinned(room_certificate.fingerprint)
    async with connect(tls_room.url, ssl=client_context(), proxy=None, create_connection=right):
        assert tls_room.requests == ["/"]


def test_a_missing_pin_is_no_check_and_any_other_pin_is_a_mismatch() -> None:
    check_pin(VECTOR_FINGERPRINT, None)  # a bare address: people compare the code instead
    for other in (bytes(32), VECTOR_FINGERPRINT[:31], b""):
        with pytest.raises(CertificateMismatch):
            check_pin(VECTOR_FINGERPRINT, other)


def test_a_plain_connection_has_no_fingerprint() -> None:
    with pytest.raises(RoomIdentityError, match="not encrypted"):
        peer_fingerprint(None)


async def test_a_tls_12_client_cannot_connect(
    tls_room: TlsRoom, room_certificate: RoomCertificate
) -> None:
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    # The room drops the connection at the hello: the client sees a TLS alert or a reset.
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await connect(tls_room.url, ssl=old, proxy=None, open_timeout=10)
    assert tls_room.requests == []
    await tls_room.assert_still_serves(room_certificate.fingerprint)


async def test_a_plain_ws_client_fails_cleanly(
    tls_room: TlsRoom, room_certificate: RoomCertificate
) -> None:
    with pytest.raises(InvalidMessage):
        await connect(f"ws://127.0.0.1:{tls_room.port}/", proxy=None, open_timeout=10)
    assert tls_room.requests == []
    await tls_room.assert_still_serves(room_certificate.fingerprint)


@pytest.fixture
def loaded_files(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, bytes, int]]]:
    """Every file OpenSSL is asked to load a certificate chain from: path, content, mode."""
    seen: list[tuple[str, bytes, int]] = []
    load = ssl.SSLContext.load_cert_chain

    def spy(context: ssl.SSLContext, certfile: str, *args: Any, **kwargs: Any) -> None:
        seen.append((certfile, Path(certfile).read_bytes(), os.stat(certfile).st_mode))
        load(context, certfile, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spy)
    yield seen


def clear_key_forms(key: ec.EllipticCurvePrivateKey) -> list[bytes]:
    """The private key as anything could store it unencrypted: PEM and DER, both formats,
    and the bare private number."""
    forms = [key.private_numbers().private_value.to_bytes(32, "big")]
    for encoding in (serialization.Encoding.PEM, serialization.Encoding.DER):
        for private_format in (
            serialization.PrivateFormat.PKCS8,
            serialization.PrivateFormat.TraditionalOpenSSL,
        ):
            forms.append(key.private_bytes(encoding, private_format, serialization.NoEncryption()))
    return forms


def open_descriptors() -> set[str]:
    return set(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else set()


@pytest.mark.parametrize("way", ["memory file", "temporary file"])
async def test_the_key_never_reaches_a_file_in_clear_and_no_file_is_left(
    way: str,
    loaded_files: list[tuple[str, bytes, int]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    if way == "temporary file":  # as on macOS and Windows
        monkeypatch.setattr(core.room_tls, "_load_from_memory_file", lambda *_: False)
    elif not hasattr(os, "memfd_create"):
        pytest.skip("this system has no anonymous memory files")
    descriptors = open_descriptors()

    certificate = RoomCertificate.generate()
    context = certificate.server_context()

    [(path, content, mode)] = loaded_files
    if way == "memory file":
        assert path.startswith("/proc/self/fd/")
    else:
        assert Path(path).parent == tmp_path
        if os.name == "posix":
            assert stat.S_IMODE(mode) == 0o600
    assert b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in content
    forms = clear_key_forms(certificate.private_key)
    assert not any(form in content for form in forms)
    assert os.listdir(tmp_path) == []
    assert open_descriptors() == descriptors
    assert "private" not in repr(certificate).lower()

    # ...and the context loaded from it serves a room whose fingerprint is the certificate's.
    async with serve(echo, "127.0.0.1", 0, ssl=context) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"wss://127.0.0.1:{port}/", ssl=client_context(), proxy=None) as ws:
            assert peer_fingerprint(ws.transport.get_extra_info("ssl_object")) == (
                certificate.fingerprint
            )


@pytest.mark.parametrize(
    "failure",
    [PermissionError(13, "Permission denied"), ssl.SSLError(336245135, "[SSL] PEM lib")],
    ids=["proc-hidden", "openssl-refuses"],
)
async def test_a_memory_file_that_cannot_be_loaded_falls_back_to_a_temporary_file(
    failure: OSError,
    loaded_files: list[tuple[str, bytes, int]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sandbox may allow memfd_create and still refuse to open /proc/self/fd/N. Before,
    the room then could not start at all."""
    if not hasattr(os, "memfd_create"):
        pytest.skip("this system has no anonymous memory files")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    spied = ssl.SSLContext.load_cert_chain

    def refuse_proc(context: ssl.SSLContext, certfile: str, *args: Any, **kwargs: Any) -> None:
        if certfile.startswith("/proc/self/fd/"):
            raise failure
        spied(context, certfile, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", refuse_proc)
    descriptors = open_descriptors()

    certificate = RoomCertificate.generate()
    context = certificate.server_context()

    [(path, _, _)] = loaded_files  # the memory file was refused before the spy saw it
    assert Path(path).parent == tmp_path
    assert os.listdir(tmp_path) == []
    assert open_descriptors() == descriptors  # the memory file was closed too
    async with serve(echo, "127.0.0.1", 0, ssl=context) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"wss://127.0.0.1:{port}/", ssl=client_context(), proxy=None) as ws:
            assert peer_fingerprint(ws.transport.get_extra_info("ssl_object")) == (
                certificate.fingerprint
            )


def test_a_certificate_is_fresh_self_signed_p256_and_short_lived() -> None:
    first, second = RoomCertificate.generate(), RoomCertificate.generate()
    assert first.fingerprint != second.fingerprint
    assert first.fingerprint == hashlib.sha256(first.certificate_der).digest()
    certificate = x509.load_der_x509_certificate(first.certificate_der)
    other = x509.load_der_x509_certificate(second.certificate_der)
    assert certificate.serial_number != other.serial_number
    key = certificate.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    assert key.public_numbers() == first.private_key.public_key().public_numbers()
    key.verify(  # signed by its own key: raises if not
        certificate.signature,
        certificate.tbs_certificate_bytes,
        ec.ECDSA(hashes.SHA256()),
    )
    now = datetime.datetime.now(datetime.UTC)
    assert certificate.not_valid_before_utc < now < certificate.not_valid_after_utc
    assert certificate.not_valid_after_utc - now <= datetime.timedelta(days=31)


@pytest.mark.parametrize(
    "name",
    ["", "Team lunch", "🍕" * 40, "é" * 40, "x" * 200],
    ids=["empty", "ascii", "emoji", "é", "long"],
)
def test_any_room_name_makes_a_certificate(name: str) -> None:
    certificate = x509.load_der_x509_certificate(RoomCertificate.generate(name).certificate_der)
    [common_name] = certificate.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    assert isinstance(common_name.value, str)
    assert 0 < len(common_name.value.encode()) <= 64


def test_the_text_form_and_the_code_match_the_test_vector() -> None:
    assert fingerprint_text(VECTOR_FINGERPRINT) == VECTOR_TEXT
    assert parse_fingerprint(VECTOR_TEXT) == VECTOR_FINGERPRINT
    assert verification_code(VECTOR_FINGERPRINT) == VECTOR_CODE


def test_the_code_reads_as_five_groups_of_four_digits_and_changes_with_any_bit() -> None:
    code = verification_code(VECTOR_FINGERPRINT)
    assert re.fullmatch(r"\d{4}( \d{4}){4}", code)
    for bit in range(256):
        flipped = bytearray(VECTOR_FINGERPRINT)
        flipped[bit // 8] ^= 1 << (bit % 8)
        assert verification_code(bytes(flipped)) != code


@pytest.mark.parametrize("function", [fingerprint_text, verification_code])
def test_only_32_byte_fingerprints_have_a_text_or_a_code(function: Callable[[bytes], str]) -> None:
    for wrong in (b"", bytes(31), bytes(33)):
        with pytest.raises(InvalidFingerprint):
            function(wrong)


@pytest.mark.parametrize(
    "text",
    [
        VECTOR_TEXT.upper(),  # one fingerprint, one text
        VECTOR_TEXT + "====",
        VECTOR_TEXT[:-1] + "r",  # same bytes, non-zero spare bits
        VECTOR_TEXT[:-1],
        VECTOR_TEXT + "a",
        " " + VECTOR_TEXT[1:],
        VECTOR_TEXT[:-1] + "\u0430",  # Cyrillic a
        VECTOR_TEXT[:-1] + "1",
        base64.urlsafe_b64encode(VECTOR_FINGERPRINT).decode().rstrip("="),
        VECTOR_FINGERPRINT.hex(),
        "",
    ],
)
def test_a_fingerprint_text_is_read_strictly(text: str) -> None:
    with pytest.raises(InvalidFingerprint):
        parse_fingerprint(text)


@pytest.mark.parametrize("value", [VECTOR_TEXT.encode(), None, 52, [VECTOR_TEXT]])
def test_a_fingerprint_that_is_not_text_is_invalid_not_a_crash(value: object) -> None:
    with pytest.raises(InvalidFingerprint):
        parse_fingerprint(value)  # type: ignore[arg-type]  # hostile input is untyped


# Near misses of the real form: the right length give or take one, mostly the right letters.
near_fingerprint_texts = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz234567AQZ0189=-_ \u0430\u00e9"),
    min_size=51,
    max_size=53,
)


@given(st.one_of(st.text(), near_fingerprint_texts))
def test_any_text_is_a_fingerprint_that_round_trips_or_invalid(text: str) -> None:
    try:
        fingerprint = parse_fingerprint(text)
    except InvalidFingerprint:
        return
    assert len(fingerprint) == 32
    assert fingerprint_text(fingerprint) == text


@given(st.binary(min_size=32, max_size=32))
def test_every_fingerprint_round_trips_through_its_text(fingerprint: bytes) -> None:
    text = fingerprint_text(fingerprint)
    assert len(text) == 52 and re.fullmatch("[a-z2-7]+", text)
    assert parse_fingerprint(text) == fingerprint
