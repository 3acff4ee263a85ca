"""Keep credentials out of log output, whoever writes the log line.

Our own code never logs a key, but libraries do log what they send: the HTTP client logs every
request URL (``http://user:password@host/v1/models``), and debug logs can show headers. So
every log record is redacted on its way to a handler, whatever logger it came from:

* the userinfo of any URL (``scheme://user:password@`` becomes ``scheme://[redacted]@``);
* the value of an ``Authorization`` header, and any ``Bearer`` token;
* the values of query parameters that carry credentials (``api_key``, ``key``, ``token``, …);
* every secret registered at run time (the API key, the host key), wherever it appears.

Call :func:`install_log_redaction` once the process's logging handlers are set up (after
``logging.basicConfig``); secrets can be registered before or after, with
:func:`register_secret`, by whoever learns them.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "install_log_redaction",
    "redact",
    "register_secret",
]

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 4  # shorter strings are no credential, and replacing them would garble logs

# Greedy up to the authority's last "@": a password may hold an unescaped "@".
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#'\"<>]+@")
# The header's value, in every shape it is logged in: "Authorization: Bearer x",
# "'Authorization': 'Bearer x'", "(b'authorization', b'Bearer x')", "authorization=x".
_AUTHORIZATION = re.compile(
    r"(?P<name>\b(?:proxy-)?authorization\b['\"]?\s*[:=,]\s*(?:b?['\"])?)[^'\"\r\n]+", re.IGNORECASE
)
_BEARER = re.compile(r"(?P<name>\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
_CREDENTIAL_PARAMETER = re.compile(
    r"(?P<name>[?&;](?:api[_-]?key|key|token|access[_-]?token|auth|password|secret)=)"
    r"[^&;#\s'\"<>]+",
    re.IGNORECASE,
)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()  # handlers may run on any thread


def register_secret(secret: str | None) -> None:
    """Redact ``secret`` wherever it appears in a log line from now on.

    ``None``, empty and very short strings (under :data:`MIN_SECRET_CHARS`) are ignored.
    """
    if secret is None or len(secret) < MIN_SECRET_CHARS:
        return
    with _secrets_lock:
        _secrets.add(secret)


def redact(text: str) -> str:
    """``text`` with every registered secret and every credential-shaped part replaced."""
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)  # a longer secret may contain another
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _URL_USERINFO.sub(rf"\g<scheme>{REDACTED}@", text)
    text = _AUTHORIZATION.sub(rf"\g<name>{REDACTED}", text)
    text = _BEARER.sub(rf"\g<name>{REDACTED}", text)
    return _CREDENTIAL_PARAMETER.sub(rf"\g<name>{REDACTED}", text)


class RedactingFilter(logging.Filter):
    """A handler filter that redacts each record's message, traceback and stack in place.

    It never drops a record and never raises: a record whose message cannot be formatted is
    left for the handler to report as it always does.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: the handler reports it, not us
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            # Formatters use exc_text when it is set, so the traceback is redacted once here.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_filter = RedactingFilter()


def install_log_redaction(secrets: Iterable[str | None] = ()) -> RedactingFilter:
    """Redact every record that reaches the root logger's handlers (and the last-resort
    handler), and register ``secrets``. Safe to call again, e.g. after adding a handler."""
    for secret in secrets:
        register_secret(secret)
    handlers = list(logging.getLogger().handlers)
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        if _filter not in handler.filters:
            handler.addFilter(_filter)
    return _filter
