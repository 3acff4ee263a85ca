"""What a model can do, asked of the provider: Ollama's /api/show, LM Studio's model object,
OpenAI's documented ids, and the name when nothing says; and the provider's answer distrusted.

Every request goes over loopback to :class:`tests.fake_openai.FakeOpenAI` (or, for answers the
fake cannot give, to a raw server in this file), so what is asserted is what crossed the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx2
import pytest

from core.ai.capabilities import (
    MAX_RESPONSE_BYTES,
    UNKNOWN,
    ModelCapabilities,
    detect_capabilities,
    from_name,
    openai_model_capabilities,
)
from core.ai.provider import ChatProvider, ProviderSettings
from tests.fake_openai import Fail, FakeOpenAI, Hang

CAPABILITIES = {
    "llava:13b": ["completion", "vision"],
    "qwen3": ["completion", "thinking", "tools"],
    "qwen2.5vl": ["completion", "vision", "thinking"],
    "nomic-embed-text": ["embedding"],
}
# A name from which nothing is guessed: images False, reasoning unknown.
PLAIN = "house-model"
GUESSED = ModelCapabilities(images=False, reasoning=None, source="name")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key nor proxy from this machine's shell may decide these tests."""
    for name in ("GPTGROUP_PROVIDER_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(models=list(CAPABILITIES), capabilities=CAPABILITIES) as server:
        yield server


def settings_for(preset: str, url: str, model: str, **options: Any) -> ProviderSettings:
    return ProviderSettings.from_preset(preset, model=model, base_url=url, env_key=False, **options)


# ---------------------------------------------------------------------- Ollama


@pytest.mark.parametrize(
    ("model", "images", "reasoning"),
    [
        ("llava:13b", True, False),
        ("qwen3", False, True),
        ("qwen2.5vl", True, True),
        ("nomic-embed-text", False, False),
    ],
)
async def test_ollama_says(fake: FakeOpenAI, model: str, images: bool, reasoning: bool) -> None:
    found = await detect_capabilities(settings_for("ollama", fake.base_url, model))
    assert found == ModelCapabilities(images=images, reasoning=reasoning, source="provider")
    (request,) = fake.requests  # one request, at the root, not under /v1
    assert (request.method, request.path) == ("POST", "/api/show")
    assert request.json == {"model": model}
    assert request.headers["accept-encoding"] == "identity"


async def test_the_provider_outranks_the_name(fake: FakeOpenAI) -> None:
    # Named like a vision model, but the provider says it takes text only; and the other way.
    fake.capabilities = {"llava-custom": ["completion"], PLAIN: ["completion", "vision"]}
    ollama = await detect_capabilities(settings_for("ollama", fake.base_url, "llava-custom"))
    assert ollama.images is False and ollama.source == "provider"
    plain = await detect_capabilities(settings_for("ollama", fake.base_url, PLAIN))
    assert plain.images is True and plain.source == "provider"


async def test_ollama_without_the_model_falls_back_to_the_name(fake: FakeOpenAI) -> None:
    assert await detect_capabilities(settings_for("ollama", fake.base_url, PLAIN)) == GUESSED
    found = await detect_capabilities(settings_for("ollama", fake.base_url, "llava:7b"))
    assert found == ModelCapabilities(images=True, reasoning=None, source="name")
    assert [r.path for r in fake.requests] == ["/api/show", "/api/show"]


async def test_any_server_answering_api_show_is_asked(fake: FakeOpenAI) -> None:
    # An Ollama set up as a plain compatible server, on a path of a reverse proxy's.
    found = await detect_capabilities(settings_for("compatible", fake.base_url, "qwen3"))
    assert found == ModelCapabilities(images=False, reasoning=True, source="provider")
    proxied = fake.base_url.removesuffix("/v1") + "/ollama/v1/"
    await detect_capabilities(settings_for("compatible", proxied, "qwen3"))
    assert [r.path for r in fake.requests] == ["/api/show", "/ollama/api/show"]


async def test_a_cloud_gateway_is_not_asked_outside_its_base_url(fake: FakeOpenAI) -> None:
    """A compatible server in the cloud is no Ollama: its key does not go to a path the
    provider never calls (which may be another service behind the same host)."""
    cloud = dataclasses.replace(
        settings_for("compatible", fake.base_url, "qwen3", api_key="sk-gateway"), kind="cloud"
    )
    found = await detect_capabilities(cloud)
    assert found.source == "name" and fake.requests == []


# ---------------------------------------------------------------------- LM Studio


@pytest.mark.parametrize(
    ("model", "images"),
    [("qwen2.5vl", True), ("qwen3", False), ("nomic-embed-text", False)],
)
async def test_lmstudio_says(fake: FakeOpenAI, model: str, images: bool) -> None:
    found = await detect_capabilities(settings_for("lmstudio", fake.base_url, model))
    # LM Studio's model object says nothing of reasoning.
    assert found == ModelCapabilities(images=images, reasoning=None, source="provider")
    (request,) = fake.requests
    assert (request.method, request.path) == ("GET", f"/api/v0/models/{model}")


async def test_lmstudio_model_ids_are_quoted(fake: FakeOpenAI) -> None:
    model = "lmstudio-community/qwen2-vl 7b?x=1#y"
    fake.capabilities = {model: ["vision"]}
    found = await detect_capabilities(settings_for("lmstudio", fake.base_url, model))
    assert found.source == "provider" and found.images is True
    (request,) = fake.requests
    assert request.path == "/api/v0/models/lmstudio-community%2Fqwen2-vl%207b%3Fx%3D1%23y"
    assert request.query == ""


async def test_lmstudio_without_the_model_falls_back(fake: FakeOpenAI) -> None:
    assert await detect_capabilities(settings_for("lmstudio", fake.base_url, PLAIN)) == GUESSED


# ---------------------------------------------------------------------- OpenAI


@pytest.mark.parametrize(
    ("model", "images", "reasoning"),
    [
        ("gpt-4o", True, False),
        ("gpt-4o-mini-2024-07-18", True, False),
        ("chatgpt-4o-latest", True, False),
        ("gpt-4o-audio-preview", False, False),
        ("gpt-4o-search-preview", False, False),
        ("gpt-4o-mini-tts", False, False),
        ("gpt-4.1", True, False),
        ("gpt-4.1-nano", True, False),
        ("gpt-5", True, True),
        ("gpt-5-mini-2025-08-07", True, True),
        ("gpt-5.1", True, True),
        ("gpt-5-chat-latest", True, False),
        ("gpt-5.1-chat-latest", True, False),
        ("o1", True, True),
        ("o1-2024-12-17", True, True),
        ("o1-mini", False, True),
        ("o1-preview", False, True),
        ("o3-mini", False, True),
        ("o3", True, True),
        ("o3-pro", True, True),
        ("o3-deep-research", True, True),
        ("o4-mini", True, True),
    ],
)
def test_openai_model_ids(model: str, images: bool, reasoning: bool) -> None:
    assert openai_model_capabilities(model) == ModelCapabilities(images, reasoning, "model id")


@pytest.mark.parametrize(
    "model", ["gpt-3.5-turbo", "gpt-4-turbo", "gpt-4.10", "gpt-50", "o2", "o10", "openai/gpt-4o"]
)
def test_ids_openai_does_not_document_here(model: str) -> None:
    assert openai_model_capabilities(model) is None


async def test_openai_is_judged_by_model_id_without_any_request(fake: FakeOpenAI) -> None:
    # The OpenAI preset pointed at the fake: nothing is asked, so the key goes nowhere new.
    settings = settings_for("openai", fake.base_url, "o3-mini", api_key="sk-openai-0001")
    found = await detect_capabilities(settings)
    assert found == ModelCapabilities(images=False, reasoning=True, source="model id")
    unknown_id = await detect_capabilities(settings_for("openai", fake.base_url, "gpt-4-turbo"))
    assert unknown_id == ModelCapabilities(images=True, reasoning=None, source="name")
    assert fake.requests == []


async def test_a_compatible_preset_at_openai_is_openai() -> None:
    # No request is made (in this test's network namespace one could only fail).
    settings = settings_for("compatible", "https://api.openai.com/v1", "gpt-4.1", api_key="sk-x")
    found = await detect_capabilities(settings, timeout=0.5)
    assert found == ModelCapabilities(images=True, reasoning=False, source="model id")


def test_from_name() -> None:
    assert from_name("llava") == ModelCapabilities(True, None, "name")
    assert from_name(PLAIN) == GUESSED
    assert from_name("  ") == UNKNOWN


async def test_no_model_no_request(fake: FakeOpenAI) -> None:
    assert await detect_capabilities(settings_for("ollama", fake.base_url, " ")) == UNKNOWN
    assert fake.requests == []


# ---------------------------------------------------------------------- credentials


@pytest.mark.parametrize(
    ("key", "userinfo", "expected"),
    [
        ("sk-local-0001", "", "Bearer sk-local-0001"),
        (None, "", None),
        (None, "user:pass@", "Basic dXNlcjpwYXNz"),
    ],
)
async def test_credentials_go_as_the_chat_provider_sends_them(
    fake: FakeOpenAI, key: str | None, userinfo: str, expected: str | None
) -> None:
    url = fake.base_url.replace("://", f"://{userinfo}")
    settings = settings_for("ollama", url, "qwen3", api_key=key)
    assert (await detect_capabilities(settings)).source == "provider"
    provider = ChatProvider(settings)
    try:
        await provider.list_models()
    finally:
        await provider.aclose()
    show, models = fake.requests
    assert show.path == "/api/show" and models.path == "/v1/models"
    assert fake.authorizations == [expected, expected]


async def test_no_credentials_over_plain_http_to_another_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[str] = []

    async def record(client: object, request: httpx2.Request, **kwargs: object) -> None:
        sent.append(str(request.url))
        raise httpx2.ConnectError("not in this test")

    monkeypatch.setattr(httpx2.AsyncClient, "send", record)
    lan = "http://192.0.2.7:11434/v1"
    for key, url in (("sk-lan-0001", lan), (None, "http://user:pw@192.0.2.7:11434/v1")):
        # Settings that skipped ProviderSettings' own check (as a later change of it might
        # let through): the lookup checks again, and asks nothing.
        settings = settings_for("ollama", url.replace("http:", "https:"), "llava", api_key=key)
        object.__setattr__(settings, "base_url", url)
        assert await detect_capabilities(settings) == from_name("llava")
    assert sent == []
    # Where the host allowed it, the request is made.
    allowed = settings_for("ollama", lan, "llava", api_key="sk-lan", allow_key_over_http=True)
    assert await detect_capabilities(allowed) == from_name("llava")
    assert sent == ["http://192.0.2.7:11434/api/show"]


# ---------------------------------------------------------------------- hostile answers


@pytest.mark.parametrize(
    "body",
    [
        {"capabilities": "vision thinking"},
        {"capabilities": ["vision", 1]},
        {"capabilities": [["vision"]]},
        {"capabilities": []},
        {"capabilities": None},
        {"capabilities": {"vision": True}},
        {"details": {"families": ["clip"]}},
        ["vision", "thinking"],
        "vision",
        42,
        b"not json at all",
        b'{"capabilities": ["vision", "thinking"]',  # cut short
        b"\xff\xfe{}",
        b"[" * 200_000 + b"]" * 200_000,  # nesting deeper than any parser's recursion
        {"capabilities": ["vision", "thinking"], "pad": "x" * (MAX_RESPONSE_BYTES + 1)},
    ],
    ids=lambda body: repr(body)[:40],
)
async def test_hostile_ollama_answers_fall_back(fake: FakeOpenAI, body: object) -> None:
    fake.native_body = body
    found = await detect_capabilities(settings_for("ollama", fake.base_url, PLAIN))
    assert found == GUESSED
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"type": "VLM"},
        {"type": ["vlm"]},
        {"type": None},
        {"id": PLAIN},
        {"capabilities": ["vision"]},
    ],
)
async def test_hostile_lmstudio_answers_fall_back(fake: FakeOpenAI, body: object) -> None:
    fake.native_body = body
    assert await detect_capabilities(settings_for("lmstudio", fake.base_url, PLAIN)) == GUESSED


@pytest.mark.parametrize(
    "fail",
    [
        Fail(500, None, "The server had an error"),
        Fail(401, "invalid_api_key", "Incorrect API key provided"),
        Fail(404, None, "Not found"),
        Fail(302, None, "Elsewhere", headers={"Location": "http://192.0.2.7/api/show"}),
    ],
    ids=lambda fail: str(fail.status),
)
async def test_error_statuses_fall_back(fake: FakeOpenAI, fail: Fail) -> None:
    fake.native_behaviour = fail
    found = await detect_capabilities(settings_for("ollama", fake.base_url, PLAIN))
    assert found == GUESSED
    assert len(fake.requests) == 1  # the redirect was not followed


async def test_a_server_that_never_answers_is_given_up_on_in_time(fake: FakeOpenAI) -> None:
    fake.native_behaviour = Hang()
    async with asyncio.timeout(2):
        found = await detect_capabilities(settings_for("ollama", fake.base_url, PLAIN), timeout=0.2)
    assert found == GUESSED
    await fake.wait_disconnect(1)  # and the connection was closed, not left open


async def test_nothing_listening_falls_back(fake: FakeOpenAI) -> None:
    url = fake.base_url
    await fake.close()
    assert await detect_capabilities(settings_for("ollama", url, "qwen3")) == from_name("qwen3")


# A raw HTTP server for what the fake does not do: bodies that drip, never end, or come
# compressed.

Handler = Callable[[asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    """Serve ``handler`` (after reading the request head) on loopback; yields the base URL."""
    tasks: set[asyncio.Task[None]] = set()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await reader.readuntil(b"\r\n\r\n")
            await handler(writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()
            tasks.discard(task)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await server.wait_closed()


def head(*headers: str) -> bytes:
    return ("HTTP/1.1 200 OK\r\n" + "".join(f"{h}\r\n" for h in headers) + "\r\n").encode()


async def test_a_body_that_drips_is_given_up_on_in_time() -> None:
    sent = 0

    async def drip(writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        writer.write(head("Content-Type: application/json", "Transfer-Encoding: chunked"))
        writer.write(b"1\r\n{\r\n")
        while True:  # a byte at a time, each well within any read timeout
            await asyncio.sleep(0.02)
            writer.write(b"1\r\n \r\n")
            await writer.drain()
            sent += 1

    async with raw_server(drip) as url:
        async with asyncio.timeout(2):
            found = await detect_capabilities(settings_for("ollama", url, PLAIN), timeout=0.3)
    assert found == GUESSED
    assert sent >= 5  # it was reading the drip when the deadline came


async def test_a_body_that_never_ends_is_not_read_past_the_cap() -> None:
    sent = 0

    async def flood(writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        writer.write(head("Content-Type: application/json", "Transfer-Encoding: chunked"))
        writer.write(b'20\r\n{"capabilities": ["vision"], "x":\r\n')
        piece = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
        while True:
            writer.write(piece)
            await writer.drain()
            sent += len(piece)

    async with raw_server(flood) as url:
        found = await detect_capabilities(settings_for("ollama", url, PLAIN), timeout=5)
    assert found == GUESSED
    # It stopped reading soon after the cap (what the socket buffers hold is sent, not read).
    assert sent < 40 * MAX_RESPONSE_BYTES


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_compressed_body_is_not_read(declared: bool) -> None:
    packed = gzip.compress(json.dumps({"capabilities": ["vision", "thinking"]}).encode())

    async def compressed(writer: asyncio.StreamWriter) -> None:
        if declared:
            writer.write(head("Content-Encoding: gzip", f"Content-Length: {len(packed)}"))
            writer.write(packed)
        else:
            writer.write(head("Content-Encoding: gzip", "Transfer-Encoding: chunked"))
            writer.write(f"{len(packed):x}\r\n".encode() + packed + b"\r\n0\r\n\r\n")
        await writer.drain()

    async with raw_server(compressed) as url:
        assert await detect_capabilities(settings_for("ollama", url, PLAIN)) == GUESSED


async def test_a_declared_length_over_the_cap_is_not_read() -> None:
    async def big(writer: asyncio.StreamWriter) -> None:
        writer.write(head(f"Content-Length: {MAX_RESPONSE_BYTES + 1}"))
        writer.write(b'{"capabilities": ["vision"]}')  # and then nothing: it must not wait
        await writer.drain()
        await asyncio.sleep(10)

    async with raw_server(big) as url, asyncio.timeout(1):
        found = await detect_capabilities(settings_for("ollama", url, PLAIN), timeout=5)
    assert found == GUESSED


async def test_an_answer_of_the_right_shape_from_a_raw_server_is_taken() -> None:
    # The counterpart of the hostile cases above: the raw server itself is not what fails.
    body = json.dumps({"capabilities": ["vision"]}).encode()

    async def plain(writer: asyncio.StreamWriter) -> None:
        writer.write(head("Content-Type: application/json", f"Content-Length: {len(body)}"))
        writer.write(body)
        await writer.drain()

    async with raw_server(plain) as url:
        found = await detect_capabilities(settings_for("ollama", url, PLAIN))
    assert found == ModelCapabilities(images=True, reasoning=False, source="provider")
