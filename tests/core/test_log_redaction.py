"""No credential reaches a log: the redaction rules, a real handler, and the host's ``-v``."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from core.log_redaction import REDACTED, RedactingFilter, redact, register_secret
from tests.cli_processes import Process
from tests.fake_openai import FakeOpenAI


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ('HTTP Request: GET http://proxyuser:s3cret@10.0.0.5:8000/v1/models "200 OK"', "s3cret"),
        ("http://user:p@ss:w0rd@host/v1", "w0rd"),  # an unescaped @ in the password
        ("calling https://apiuser@llm.example.org/v1", "apiuser"),
        ("headers: {'Authorization': 'Bearer sk-abcdef123456', 'Accept': 'json'}", "sk-abcdef"),
        ("[(b'authorization', b'Basic dXNlcjpzM2NyZXQ='), (b'host', b'x')]", "dXNlcjpz"),
        ("Authorization: Token tok-123456789", "tok-123456789"),
        ("retrying with bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGci"),
        ("GET https://maps.example.com/v1?api_key=AIzaSyXYZ&model=m", "AIzaSyXYZ"),
        ("GET /v1/models?model=m&token=t0k3n#x", "t0k3n"),
        ("GET /feed?key=k3y-value", "k3y-value"),
    ],
)
def test_credentials_are_redacted_wherever_they_appear(line: str, secret: str) -> None:
    redacted = redact(line)
    assert secret not in redacted
    assert REDACTED in redacted


@pytest.mark.parametrize(
    "line",
    [
        "room 'Team lunch' listening on port 47321",
        "gptgroup://192.168.1.20:47321/?room=Team%20lunch&v=1&pw=1",
        "write to sam@example.org about the basic plan",
        "the bearer of bad news",
        "HTTP Request: GET http://127.0.0.1:8000/v1/models",
    ],
)
def test_ordinary_lines_are_left_alone(line: str) -> None:
    assert redact(line) == line


@pytest.fixture
def log_output() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose one handler (with the filter) writes to a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, buffer
    finally:
        logger.removeHandler(handler)


def test_registered_secrets_vanish_from_messages_and_tracebacks(
    log_output: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = log_output
    host_key = "9f3a6c0b1d2e4f5a6b7c8d9e0f1a2b3c"
    register_secret(host_key)
    register_secret("abc")  # too short to be a key: not registered, ordinary words survive
    logger.info("joined with %s", host_key)
    try:
        raise RuntimeError(f"bad key {host_key} for http://u:pw123@h/")
    except RuntimeError:
        logger.exception("failed")
    logger.info("the abc of it", stack_info=True)
    text = buffer.getvalue()
    assert host_key not in text and "pw123" not in text
    assert text.count(REDACTED) >= 3 and "Traceback" in text and "the abc of it" in text


def test_a_record_that_cannot_be_formatted_is_left_to_the_handler() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "two %s %s", ("one",), None)
    assert RedactingFilter().filter(record)  # kept, and no exception from the filter itself
    assert (record.msg, record.args) == ("two %s %s", ("one",))


async def test_host_verbose_log_shows_no_credentials() -> None:
    """``gptgroup-host -v`` logs every HTTP request the SDK makes, URL and all."""
    provider_key = "sk-provider-key-for-redaction-0001"
    async with FakeOpenAI(models=("llama3.2",)) as fake:
        base_url = fake.base_url.replace("http://", "http://proxyuser:pr0xy-s3cret@")
        host = await Process.start(
            "gptgroup-host", "-v", "--bind", "127.0.0.1", "--port", "0", "--no-advertise",
            "--provider", "compatible", "--base-url", base_url,
            env={"GPTGROUP_PROVIDER_KEY": provider_key}, stderr_apart=True,
        )  # fmt: skip
        try:
            key = (await host.expect(r"GPTGROUP_HOST_KEY=(\S+) gptgroup-chat")).group(1)
            await host.expect("Connected to")
            host.interrupt()
            assert await host.wait() == 0
        finally:
            await host.kill()
        log = await host.stderr_text()
    assert "HTTP Request: GET http://[redacted]@127.0.0.1:" in log  # the line is there
    for secret in ("proxyuser", "pr0xy-s3cret", provider_key, key):
        assert secret not in log
