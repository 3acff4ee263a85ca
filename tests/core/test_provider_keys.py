"""Where the API key goes: to the right server, over a safe path, or not at all.

Every case is checked on the wire: the real SDK talks to a server on loopback that records each
request's headers, and the test reads the ``Authorization`` header the server received.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import pytest

from core.ai.provider import (
    ChatProvider,
    InsecureKeyTransport,
    ProviderProblem,
    ProviderSettings,
    is_loopback_url,
)
from tests.cli_processes import Process
from tests.fake_openai import Fail, FakeOpenAI

OPENAI_KEY = "sk-openai-account-key-0001"
OWN_KEY = "sk-explicit-provider-key-0002"
ENVIRONMENT = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "GPTGROUP_PROVIDER_KEY", "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID", "OPENAI_CUSTOM_HEADERS", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
    "all_proxy", "NO_PROXY", "no_proxy",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever this machine's shell exports must not decide these tests."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(models=("llama3.2",)) as server:
        yield server


async def authorization_sent(settings: ProviderSettings, fake: FakeOpenAI) -> str | None:
    """The ``Authorization`` header the server received for one request made with
    ``settings`` (None when there was none)."""
    provider = ChatProvider(settings)
    try:
        assert await provider.list_models() == ["llama3.2"]
    finally:
        await provider.aclose()
    assert len(fake.requests) == 1
    return fake.authorizations[0]


# ---------------------------------------------------------------------- which key, if any


@pytest.mark.parametrize(
    ("preset", "environment", "expected"),
    [
        # Ollama and LM Studio never get OpenAI's key, even where OPENAI_BASE_URL points.
        ("ollama", {"OPENAI_API_KEY": OPENAI_KEY}, None),
        ("lmstudio", {"OPENAI_API_KEY": OPENAI_KEY}, None),
        ("ollama", {"OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": "{fake}"}, None),
        # A compatible server gets it only as the OPENAI_BASE_URL set beside it.
        ("compatible", {"OPENAI_API_KEY": OPENAI_KEY}, None),
        ("compatible", {"OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": "{fake}"}, OPENAI_KEY),
        (
            "compatible",
            {"OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"},
            None,
        ),
        # The OpenAI preset pointed at another server is no different.
        ("openai", {"OPENAI_API_KEY": OPENAI_KEY}, None),
        ("openai", {"OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": "{fake}/"}, OPENAI_KEY),
        # A key given for the chosen provider goes to it, whichever it is.
        ("ollama", {"GPTGROUP_PROVIDER_KEY": OWN_KEY}, OWN_KEY),
        ("lmstudio", {"GPTGROUP_PROVIDER_KEY": OWN_KEY, "OPENAI_API_KEY": OPENAI_KEY}, OWN_KEY),
        ("compatible", {"GPTGROUP_PROVIDER_KEY": OWN_KEY}, OWN_KEY),
    ],
)
async def test_each_server_gets_only_the_key_meant_for_it(
    fake: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    preset: str,
    environment: dict[str, str],
    expected: str | None,
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value.replace("{fake}", fake.base_url))
    settings = ProviderSettings.from_preset(preset, model="llama3.2", base_url=fake.base_url)
    sent = await authorization_sent(settings, fake)
    assert sent == (f"Bearer {expected}" if expected else None)


async def test_a_key_typed_in_is_sent_as_it_is(fake: FakeOpenAI) -> None:
    settings = ProviderSettings.from_preset(
        "ollama", model="llama3.2", base_url=fake.base_url, api_key=OWN_KEY
    )
    assert await authorization_sent(settings, fake) == f"Bearer {OWN_KEY}"


async def test_openai_account_headers_stay_with_openai(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK adds headers from OPENAI_ORG_ID, OPENAI_PROJECT_ID and OPENAI_CUSTOM_HEADERS
    (which may carry an Authorization of its own): none of them reach another server."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-private")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-private")
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "X-Gateway-Key: gw-secret\nAuthorization: Bearer x")
    local = ProviderSettings.from_preset("ollama", model="llama3.2", base_url=fake.base_url)
    assert await authorization_sent(local, fake) is None
    headers = fake.requests[0].headers
    assert not {"openai-organization", "openai-project", "x-gateway-key"} & set(headers)

    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)  # now this server is OpenAI's
    fake.requests.clear()
    meant = ProviderSettings.from_preset("compatible", model="llama3.2", base_url=fake.base_url)
    assert await authorization_sent(meant, fake) == f"Bearer {OPENAI_KEY}"
    assert fake.requests[0].headers["openai-organization"] == "org-private"


async def test_a_server_that_wants_a_key_says_none_was_set(fake: FakeOpenAI) -> None:
    fake.models_behaviour = Fail(401, "invalid_api_key", "You didn't provide an API key.")
    provider = ChatProvider(
        ProviderSettings.from_preset("compatible", model="llama3.2", base_url=fake.base_url)
    )
    try:
        report = await provider.check()
    finally:
        await provider.aclose()
    assert report.problem is ProviderProblem.NO_KEY and fake.authorizations == [None]


# ---------------------------------------------------------------------- never in clear text


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://localhost:11434/v1", True),
        ("http://LOCALHOST.:11434/v1", True),
        ("http://127.0.0.1:1234/v1", True),
        ("http://127.8.9.10/v1", True),
        ("http://[::1]:8000/v1", True),
        ("http://[::ffff:127.0.0.1]:8000/v1", True),
        ("http://192.168.1.20:11434/v1", False),
        ("http://[fe80::1%25eth0]:8000/v1", False),
        ("http://localhost.example.com/v1", False),  # a name that merely looks local
        ("http://127.0.0.1.nip.io/v1", False),
    ],
)
def test_loopback_is_judged_by_the_address_itself(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


@pytest.mark.parametrize(
    ("base_url", "key", "refused"),
    [
        ("http://192.168.1.20:8000/v1", OWN_KEY, True),
        ("http://gpu-box.local:8000/v1", OWN_KEY, True),
        ("http://user:pw@192.168.1.20:8000/v1", None, True),  # URL credentials are a key too
        ("http://192.168.1.20:8000/v1", None, False),  # nothing secret to send
        ("https://192.168.1.20:8000/v1", OWN_KEY, False),
        ("http://127.0.0.1:8000/v1", OWN_KEY, False),
    ],
)
def test_no_key_goes_over_plain_http_to_another_machine(
    base_url: str, key: str | None, refused: bool
) -> None:
    def settings(**confirm: bool) -> ProviderSettings:
        return ProviderSettings.from_preset(
            "compatible", model="m", base_url=base_url, api_key=key, **confirm
        )

    if refused:
        with pytest.raises(InsecureKeyTransport, match=r"unencrypted \(http://\)"):
            settings()
        assert settings(allow_key_over_http=True).api_key == key  # the host confirmed it
    else:
        assert settings().api_key == key


@dataclass
class RecordingProxy:
    """An HTTP proxy on loopback that forwards nothing: it records each request (its target,
    which names the server it was meant for, and its headers) and answers a model list. Set
    as ``HTTP_PROXY``, it lets a test see what would have gone to a machine on the LAN
    without any packet leaving loopback."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            target = head[0].split(" ")[1]
            headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
            self.requests.append((target, {k.lower(): v for k, v in headers.items()}))
            body = json.dumps({"object": "list", "data": [
                {"id": "llama3.2", "object": "model", "created": 0, "owned_by": "x"}
            ]}).encode()  # fmt: skip
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        finally:
            writer.close()


async def test_a_confirmed_key_over_http_reaches_the_lan_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with RecordingProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("http_proxy", proxy.url)
        settings = ProviderSettings.from_preset(
            "ollama", model="llama3.2", base_url="http://192.0.2.10:11434/v1", api_key=OWN_KEY,
            allow_key_over_http=True,
        )  # fmt: skip
        provider = ChatProvider(settings)
        try:
            assert await provider.list_models() == ["llama3.2"]
        finally:
            await provider.aclose()
    [(target, headers)] = proxy.requests
    assert target == "http://192.0.2.10:11434/v1/models"
    assert headers["authorization"] == f"Bearer {OWN_KEY}"


# ---------------------------------------------------------------------- the headless host


async def host_with_provider(*args: str, env: dict[str, str]) -> Process:
    """A headless host with ``env`` on top of this test's clean environment."""
    return await Process.start(
        "gptgroup-host", "--bind", "127.0.0.1", "--port", "0", "--no-advertise", *args, env=env
    )  # fmt: skip


async def test_headless_host_sends_no_openai_key_to_ollama(fake: FakeOpenAI) -> None:
    host = await host_with_provider(
        "--provider", "ollama", "--base-url", fake.base_url, "--model", "llama3.2",
        env={"OPENAI_API_KEY": OPENAI_KEY},
    )  # fmt: skip
    try:
        await host.expect(r"Connected to Ollama; 1 models available")
        host.interrupt()
        assert await host.wait() == 0
    finally:
        await host.kill()
    # The model list, and perhaps Ollama's capability question: neither with a key.
    assert fake.authorizations[:1] == [None] and set(fake.authorizations) == {None}


async def test_headless_host_refuses_a_key_over_http_until_confirmed() -> None:
    base_url = "http://192.0.2.10:8000/v1"  # never reached: refused, or sent to the proxy
    env = {"GPTGROUP_PROVIDER_KEY": OWN_KEY}
    refused = await host_with_provider("--provider", "compatible", "--base-url", base_url, env=env)
    assert await refused.wait() == 2
    [line] = refused.lines
    assert "unencrypted (http://) to 192.0.2.10:8000" in line
    assert "--allow-key-over-http" in line and OWN_KEY not in line

    async with RecordingProxy() as proxy:
        confirmed = await host_with_provider(
            "--provider", "compatible", "--base-url", base_url, "--allow-key-over-http",
            env=env | {"HTTP_PROXY": proxy.url, "http_proxy": proxy.url},
        )  # fmt: skip
        try:
            await confirmed.expect(r"Connected to OpenAI-compatible server at 192\.0\.2\.10:8000")
            confirmed.interrupt()
            assert await confirmed.wait() == 0
        finally:
            await confirmed.kill()
    assert {headers["authorization"] for _, headers in proxy.requests} == {f"Bearer {OWN_KEY}"}
