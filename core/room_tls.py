"""Each room's TLS identity: a fresh certificate per room, pinning, and a code to compare aloud.

Rooms are temporary, and so is their identity. The host makes a new ECDSA P-256 key and a
self-signed certificate for every room (:meth:`RoomCertificate.generate`); nothing of it is
written to disk in clear, so nothing outlives the room. A certificate proves nothing by
itself here (no authority signed it): a client learns who the room is from its *fingerprint*,
the SHA-256 of the certificate's DER bytes, which travels in the room's discovery record and
in its link. The client completes the TLS handshake without verifying anything
(:func:`client_context`), reads the fingerprint the room presented (:func:`peer_fingerprint`)
and refuses a room whose fingerprint is not the one it was told (:func:`check_pin`).

Where a client was told no fingerprint (someone typed a bare address), people compare the
room's :func:`verification_code` with the host's, read aloud, as SSH and Syncthing do on
first contact.

Text forms (all of them exact; a third party can reimplement them from this description):

- fingerprint: ``SHA-256(DER certificate)``, 32 bytes.
- :func:`fingerprint_text`: RFC 4648 base32, lowercase, no padding: 52 characters from
  ``a-z2-7`` (the last one is ``a`` or ``q``: it carries one bit). Safe in URLs, TXT
  records and case-insensitive places alike. :func:`parse_fingerprint` accepts exactly that
  form and nothing else (no upper case, no padding, no spaces), so one fingerprint has one
  text.
- :func:`verification_code`: ``n = int.from_bytes(SHA-256(b"gptgroup verification code v1"
  + fingerprint), "big") mod 10**20``, written as 20 decimal digits with leading zeros, in
  five groups of four separated by single spaces: ``"4821 0937 5512 7730 1186"``.

Errors::

    ValueError
     └ InvalidFingerprint     text that is not a fingerprint (hostile input included)
    Exception
     └ RoomIdentityError      the room could not be identified
        └ CertificateMismatch the room's certificate is not the one the client was told
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import hmac
import logging
import os
import secrets
import ssl
import tempfile
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CERTIFICATE_LIFETIME",
    "FINGERPRINT_BYTES",
    "FINGERPRINT_TEXT_CHARS",
    "VERIFICATION_CODE_DIGITS",
    "CertificateMismatch",
    "InvalidFingerprint",
    "RoomCertificate",
    "RoomIdentityError",
    "check_pin",
    "client_context",
    "fingerprint_of",
    "fingerprint_text",
    "parse_fingerprint",
    "peer_fingerprint",
    "verification_code",
]

log = logging.getLogger("gptgroup.server")  # the key is loaded where a room is served

FINGERPRINT_BYTES = 32  # SHA-256
FINGERPRINT_TEXT_CHARS = 52  # ceil(256 / 5) base32 characters
VERIFICATION_CODE_DIGITS = 20  # 10**20 ≈ 2**66.4 certificates to grind for one matching code
VERIFICATION_CODE_GROUP = 4
VERIFICATION_CODE_CONTEXT = b"gptgroup verification code v1"

# Clients pin the fingerprint and check no dates, so this only bounds what a stolen key
# could still be shown for elsewhere; it starts an hour early for hosts whose clocks lag.
CERTIFICATE_LIFETIME = datetime.timedelta(days=30)
_CLOCK_SKEW = datetime.timedelta(hours=1)
DEFAULT_CERTIFICATE_NAME = "GPT Group room"
# No client checks names (they pin); a name under .invalid (RFC 6761) can never be anyone's.
_DUMMY_DNS_NAME = "gptgroup-room.invalid"
_MAX_COMMON_NAME_BYTES = 64  # X.520 ub-common-name, as cryptography counts it (UTF-8 bytes)

_BASE32_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz234567")


class InvalidFingerprint(ValueError):
    """Text that is not a room fingerprint in its one text form; ``str()`` says why."""


class RoomIdentityError(Exception):
    """The room at the other end could not be identified; ``str()`` is meant for people."""


class CertificateMismatch(RoomIdentityError):
    """The room presented a certificate other than the one the client was told about.

    ``expected`` and ``actual`` are the two fingerprints (for logs; people get the message).
    """

    def __init__(self, expected: bytes, actual: bytes) -> None:
        super().__init__(
            "This is not the room you were told about: its security certificate is different. "
            "Someone on the network may be impersonating the room. Do not join; ask the host "
            "to share the room link again, or compare the verification code with them."
        )
        self.expected = expected
        self.actual = actual


def fingerprint_of(certificate_der: bytes) -> bytes:
    """The fingerprint of a certificate: SHA-256 over its DER bytes (32 bytes)."""
    return hashlib.sha256(certificate_der).digest()


@dataclass(frozen=True)
class RoomCertificate:
    """One room's key and self-signed certificate, held in memory only.

    Make one with :meth:`generate` when a room opens and drop it when the room closes: the
    key is never written to disk in clear (see :meth:`server_context`), so nothing outlives
    the room. ``repr()`` shows the fingerprint only.
    """

    certificate_der: bytes
    private_key: ec.EllipticCurvePrivateKey
    fingerprint: bytes = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fingerprint", fingerprint_of(self.certificate_der))

    def __repr__(self) -> str:
        return f"RoomCertificate(fingerprint={fingerprint_text(self.fingerprint)!r})"

    @classmethod
    def generate(cls, name: str = DEFAULT_CERTIFICATE_NAME) -> RoomCertificate:
        """A fresh P-256 key and a certificate for it, signed by itself (ECDSA with SHA-256).

        ``name`` is only a label in the certificate's subject (nobody checks it; clients pin):
        clipped to 64 UTF-8 bytes, the default when empty. The certificate is valid from an
        hour ago for :data:`CERTIFICATE_LIFETIME`, has a random 159-bit serial number, and
        names only ``gptgroup-room.invalid``. Takes well under a millisecond of key
        generation and signing.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _common_name(name))])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _CLOCK_SKEW)
            .not_valid_after(now + CERTIFICATE_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(_DUMMY_DNS_NAME)]), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        return cls(certificate.public_bytes(serialization.Encoding.DER), key)

    def server_context(self) -> ssl.SSLContext:
        """A new server-side context that presents this certificate, TLS 1.3 only.

        :meth:`ssl.SSLContext.load_cert_chain` reads only files, so the certificate and key
        are handed to it through one, in PEM, with the key always *encrypted* (PKCS #8,
        AES-256-CBC, PBKDF2) under a random password that exists only in this call:

        - on Linux, an anonymous memory file (``os.memfd_create``) read through
          ``/proc/self/fd/N``. It has no name in any file system and is never on disk; it is
          gone when closed, right after loading.
        - elsewhere (macOS, Windows, or a system without memory files or ``/proc``), a file
          made by :func:`tempfile.mkstemp` (readable by this user only: mode 0600, or the
          user's own temp folder on Windows), deleted right after loading. Were the process
          killed in between, what stays is a key nobody can decrypt.

        Session tickets are off: our clients never resume a session, so tickets would only
        cost a little CPU and bandwidth per connection.
        """
        password = secrets.token_urlsafe(32).encode("ascii")
        pem = ssl.DER_cert_to_PEM_cert(self.certificate_der).encode("ascii")
        pem += self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password),
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.num_tickets = 0
        if not _load_from_memory_file(context, pem, password):
            _load_from_temporary_file(context, pem, password)
        return context


def client_context() -> ssl.SSLContext:
    """A new client-side context for rooms: TLS 1.3 only, no certificate authority and no
    host name checked, since rooms sign their own certificates.

    The handshake completes with any certificate; the caller must then read
    :func:`peer_fingerprint` and :func:`check_pin` it (or show :func:`verification_code`)
    *before* sending anything that matters, or the encryption protects nothing.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False  # must come before verify_mode: Python refuses otherwise
    context.verify_mode = ssl.CERT_NONE
    return context


def peer_fingerprint(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> bytes:
    """The fingerprint of the certificate the other end presented in a completed handshake.

    Takes what ``transport.get_extra_info("ssl_object")`` gives, ``None`` included (a plain
    connection). Raises :class:`RoomIdentityError` when there is no TLS or no certificate.
    """
    if ssl_object is None:
        raise RoomIdentityError("The connection to the room is not encrypted.")
    certificate = ssl_object.getpeercert(binary_form=True)
    if not certificate:
        raise RoomIdentityError("The room did not present a security certificate.")
    return fingerprint_of(certificate)


def check_pin(actual: bytes, expected: bytes | None) -> None:
    """Refuse a room whose fingerprint is not the one the client was told.

    ``expected`` is None when the client was told none (a typed bare address): then there
    is nothing to check here, and people compare :func:`verification_code` instead. Raises
    :class:`CertificateMismatch` otherwise, comparing in constant time.
    """
    if expected is not None and not hmac.compare_digest(actual, expected):
        raise CertificateMismatch(expected, actual)


def fingerprint_text(fingerprint: bytes) -> str:
    """The fingerprint as it travels in links and TXT records: lowercase base32 without
    padding, 52 characters."""
    _check_length(fingerprint)
    return base64.b32encode(fingerprint).decode("ascii").rstrip("=").lower()


def parse_fingerprint(text: str) -> bytes:
    """Read :func:`fingerprint_text`'s form back, strictly: exactly 52 characters of
    ``a-z2-7`` that encode 32 bytes canonically (``fingerprint_text(result) == text``).
    Anything else, whatever its type, raises :class:`InvalidFingerprint` and nothing else."""
    if not isinstance(text, str):
        raise InvalidFingerprint("a room fingerprint is text")
    if len(text) != FINGERPRINT_TEXT_CHARS:
        raise InvalidFingerprint(
            f"a room fingerprint has {FINGERPRINT_TEXT_CHARS} characters, not {len(text)}"
        )
    if not _BASE32_ALPHABET.issuperset(text):
        raise InvalidFingerprint("a room fingerprint has only the characters a-z and 2-7")
    fingerprint = base64.b32decode(text.upper() + "====")
    # The last character carries one bit of the fingerprint and four zero bits; any other
    # character would decode to the same bytes, and one fingerprint has one text.
    if fingerprint_text(fingerprint) != text:
        raise InvalidFingerprint("a room fingerprint ends with a or q")
    return fingerprint


def verification_code(fingerprint: bytes) -> str:
    """The code people compare aloud: 20 digits in five groups of four, such as
    ``"4821 0937 5512 7730 1186"``.

    ``int(SHA-256(b"gptgroup verification code v1" + fingerprint)) mod 10**20``, the hash
    read as a big-endian integer. The prefix keeps the code from being any other use of the
    fingerprint's hash. Reducing 256 bits mod 10**20 leaves a bias below 10**20 / 2**256
    ≈ 2**-190: none worth a thought. To show a code people would accept, an attacker must
    find a certificate whose code matches the room's among 10**20 ≈ 2**66 codes, one hash of
    a certificate per try, while the room is open: centuries of a fast GPU per room.
    """
    _check_length(fingerprint)
    digest = hashlib.sha256(VERIFICATION_CODE_CONTEXT + fingerprint).digest()
    digits = str(int.from_bytes(digest, "big") % 10**VERIFICATION_CODE_DIGITS).zfill(
        VERIFICATION_CODE_DIGITS
    )
    return " ".join(
        digits[start : start + VERIFICATION_CODE_GROUP]
        for start in range(0, VERIFICATION_CODE_DIGITS, VERIFICATION_CODE_GROUP)
    )


def _check_length(fingerprint: bytes) -> None:
    if len(fingerprint) != FINGERPRINT_BYTES:
        raise InvalidFingerprint(
            f"a room fingerprint is {FINGERPRINT_BYTES} bytes, not {len(fingerprint)}"
        )


def _common_name(name: str) -> str:
    clipped = name.encode("utf-8")[:_MAX_COMMON_NAME_BYTES].decode("utf-8", "ignore")
    return clipped or DEFAULT_CERTIFICATE_NAME


def _load_from_memory_file(context: ssl.SSLContext, pem: bytes, password: bytes) -> bool:
    """Load ``pem`` through an anonymous memory file; False where the system has none, or
    where it cannot be read back by its name (then nothing was loaded)."""
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is None or not os.path.isdir("/proc/self/fd"):
        return False
    try:
        descriptor: int = memfd_create("gptgroup-room-tls", os.MFD_CLOEXEC)
    except OSError:  # an old kernel, or a sandbox that forbids it
        return False
    try:
        _write_all(descriptor, pem)
        context.load_cert_chain(f"/proc/self/fd/{descriptor}", password=password)
    except OSError as exc:  # ssl.SSLError included
        # A sandbox may allow memfd_create yet hide /proc/self/fd, or a full memory file
        # system refuse the write: the temporary file is the way left. (A key that cannot
        # be loaded fails there again, and is raised from there.)
        log.debug("loading the room's key through a memory file failed: %s", exc)
        return False
    finally:
        os.close(descriptor)
    return True


def _load_from_temporary_file(context: ssl.SSLContext, pem: bytes, password: bytes) -> None:
    """Load ``pem`` through a private temporary file, deleted before returning."""
    descriptor, path = tempfile.mkstemp(prefix="gptgroup-room-", suffix=".pem")
    try:
        try:
            _write_all(descriptor, pem)
        finally:
            os.close(descriptor)  # Windows cannot open a file this process holds open
        context.load_cert_chain(path, password=password)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]
