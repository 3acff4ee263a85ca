"""Provider settings and the connection check, against the fake server through the real SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.ai.provider import (
    ChatProvider,
    InsecureKeyTransport,
    ProviderError,
    ProviderProblem,
    ProviderSettings,
    kind_of_url,
)
from tests.fake_openai import Fail, FakeOpenAI, Hang


@pytest.fixture(autouse=True)
def no_provider_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever this machine's shell exports must not decide these tests."""
    for name in ("GPTGROUP_PROVIDER_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID",
                 "OPENAI_PROJECT_ID", "OPENAI_CUSTOM_HEADERS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(models=("gpt-4o-mini", "llama3.2", "qwen2.5")) as server:
        yield server


def test_presets_know_where_local_servers_live(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    ollama = ProviderSettings.from_preset("ollama", model="llama3.2")
    assert (ollama.base_url, ollama.kind, ollama.label) == (
        "http://localhost:11434/v1", "local", "Ollama",
    )  # fmt: skip
    assert ollama.api_key is None  # local servers need no key, and get none
    lmstudio = ProviderSettings.from_preset("lmstudio", model="any")
    assert lmstudio.base_url == "http://localhost:1234/v1"
    openai = ProviderSettings.from_preset("openai", model="gpt-4o-mini")
    assert (openai.kind, openai.api_key) == ("cloud", None)


def test_key_and_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    settings = ProviderSettings.from_preset("openai", model="gpt-4o")
    assert settings.api_key == "sk-from-env"
    assert "sk-from-env" not in repr(settings)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://localhost:8000/v1", "local"),
        ("http://127.0.0.1:8000/v1", "local"),
        ("http://192.168.1.20:8000/v1", "local"),
        ("http://gpu-box.local:8000/v1", "local"),
        ("http://[::1]:8000/v1", "local"),
        ("https://api.example.com/v1", "cloud"),
        ("https://8.8.8.8/v1", "cloud"),
    ],
)
def test_compatible_servers_are_labelled_cloud_or_local(url: str, kind: str) -> None:
    assert kind_of_url(url) == kind
    assert ProviderSettings.from_preset("compatible", model="m", base_url=url).kind == kind


@pytest.mark.parametrize(
    ("preset", "url", "message"),
    [
        ("nope", None, "unknown provider"),
        ("compatible", None, "needs a base URL"),
        ("compatible", "ftp://host/v1", "http:// or https://"),
    ],
)
def test_bad_settings_say_what_is_wrong(preset: str, url: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ProviderSettings.from_preset(preset, model="m", base_url=url)


def provider_for(
    fake: FakeOpenAI, model: str = "llama3.2", key: str | None = "sk-x"
) -> ChatProvider:
    return ChatProvider(
        ProviderSettings.from_preset(
            "compatible",
            model=model,
            base_url=fake.base_url,
            api_key=key,
            request_timeout=1.0,
        )
    )


async def test_models_and_a_good_connection(fake: FakeOpenAI) -> None:
    provider = provider_for(fake)
    try:
        assert await provider.list_models() == ["gpt-4o-mini", "llama3.2", "qwen2.5"]
        report = await provider.check()
        assert report.ok and "3 models available" in report.message
    finally:
        await provider.aclose()


@pytest.mark.parametrize(
    ("setup", "problem", "words"),
    [
        ("bad_key", ProviderProblem.AUTH, "API key"),
        ("unknown_model", ProviderProblem.UNKNOWN_MODEL, "does not know the model"),
        ("unreachable", ProviderProblem.UNREACHABLE, "could not be reached"),
        ("hang", ProviderProblem.TIMEOUT, "too long"),
    ],
)
async def test_connection_check_says_what_is_wrong(
    fake: FakeOpenAI, setup: str, problem: ProviderProblem, words: str
) -> None:
    if setup == "bad_key":
        fake.models_behaviour = Fail(401, "invalid_api_key", "Incorrect API key provided: sk-x")
    if setup == "hang":
        fake.models_behaviour = Hang()
    model = "gpt-9-imaginary" if setup == "unknown_model" else "llama3.2"
    provider = provider_for(fake, model)
    if setup == "unreachable":
        await provider.aclose()
        provider = ChatProvider(
            ProviderSettings.from_preset(
                "compatible", model=model, base_url="http://127.0.0.1:9/v1", connect_timeout=1
            )
        )
    try:
        report = await provider.check()
    finally:
        await provider.aclose()
    assert not report.ok and report.problem is problem
    assert words in report.message and "sk-x" not in report.message


@pytest.mark.parametrize(
    "answer",
    [
        Fail(404, None, "Invalid URL (GET /v1/models)"),
        Fail(405, None, "Method Not Allowed"),
        {"object": "list"},
        {"data": "none here"},
        {"models": [{"name": "llama3.2"}]},
        ["llama3.2"],
    ],
)
async def test_a_server_without_a_model_list_is_not_said_to_lack_the_model(
    fake: FakeOpenAI, answer: object
) -> None:
    if isinstance(answer, Fail):
        fake.models_behaviour = answer
    else:
        fake.models_body = answer
    provider = provider_for(fake, "gpt-4o-mini")
    try:
        report = await provider.check()
        with pytest.raises(ProviderError) as listing:
            await provider.list_models()
    finally:
        await provider.aclose()
    assert report.ok and not report.model_listed
    assert "model list is unavailable" in report.message and "gpt-4o-mini" in report.message
    assert "does not know" not in report.message
    assert listing.value.problem is ProviderProblem.NO_MODEL_LIST
    assert "model list" in str(listing.value) and "does not know" not in str(listing.value)


async def test_without_a_model_list_or_a_model_the_check_asks_for_its_name(
    fake: FakeOpenAI,
) -> None:
    fake.models_behaviour = Fail(404, None, "Not Found")
    provider = provider_for(fake, "")
    try:
        report = await provider.check()
    finally:
        await provider.aclose()
    assert not report.ok and report.problem is ProviderProblem.NO_MODEL_LIST
    assert "enter the model's name" in report.message


async def test_an_empty_model_list_is_not_a_missing_model(fake: FakeOpenAI) -> None:
    fake.models = []
    provider = provider_for(fake)
    try:
        report = await provider.check()
    finally:
        await provider.aclose()
    assert report.ok and report.model_listed and "lists no models" in report.message


async def test_openai_without_a_key_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    provider = ChatProvider(ProviderSettings.from_preset("openai", model="gpt-4o-mini"))
    try:
        report = await provider.check()
    finally:
        await provider.aclose()
    assert report.problem is ProviderProblem.NO_KEY and "No API key" in report.message


def test_credentials_in_the_base_url_are_never_shown() -> None:
    settings = ProviderSettings.from_preset(
        "compatible", model="m", base_url="https://proxyuser:s3cret@llm.example.org:8080/v1"
    )
    assert settings.label == "OpenAI-compatible server at llm.example.org:8080"
    assert "s3cret" not in repr(settings)
    with pytest.raises(InsecureKeyTransport, match=r"llm\.example\.org:8080"):  # not over http
        ProviderSettings.from_preset(
            "compatible", model="m", base_url="http://proxyuser:s3cret@llm.example.org:8080/v1"
        )


async def test_unreachable_error_hides_credentials_in_the_url() -> None:
    provider = ChatProvider(
        ProviderSettings.from_preset(
            "compatible",
            model="m",
            base_url="http://user:s3cret@127.0.0.1:9/v1",
            connect_timeout=1,
        )
    )
    try:
        report = await provider.check()
    finally:
        await provider.aclose()
    assert report.problem is ProviderProblem.UNREACHABLE
    assert "127.0.0.1:9" in report.message and "s3cret" not in report.message


def test_a_preset_pointed_at_the_cloud_is_announced_as_cloud() -> None:
    moved = ProviderSettings.from_preset("ollama", model="m", base_url="https://api.example.com/v1")
    assert moved.kind == "cloud"
    assert ProviderSettings.from_preset("ollama", model="m").kind == "local"
    openai_local = ProviderSettings.from_preset(
        "openai", model="m", base_url="http://127.0.0.1:8000/v1", api_key="k"
    )
    assert openai_local.kind == "local"


async def test_openai_gets_max_completion_tokens_and_others_max_tokens(fake: FakeOpenAI) -> None:
    for preset in ("openai", "compatible"):
        provider = ChatProvider(
            ProviderSettings.from_preset(
                preset, model="gpt-4o-mini", base_url=fake.base_url, api_key="k"
            )
        )
        try:
            async for _ in provider.stream([{"role": "user", "content": "hi"}], max_tokens=50):
                pass
        finally:
            await provider.aclose()
    openai_body, compatible_body = (r.json for r in fake.chat_requests)
    assert openai_body is not None and compatible_body is not None
    assert openai_body["max_completion_tokens"] == 50 and "max_tokens" not in openai_body
    assert compatible_body["max_tokens"] == 50 and "max_completion_tokens" not in compatible_body


@pytest.mark.parametrize("url", ["http://127.0.0.1:8800/v1", "http://localhost:1234/v1"])
def test_a_server_on_the_hosts_own_machine_is_named_so_for_guests(url: str) -> None:
    settings = ProviderSettings.from_preset("compatible", model="m", base_url=url)
    assert settings.label == "OpenAI-compatible server on the host's computer"
    assert "127.0.0.1" not in settings.label and settings.kind == "local"
