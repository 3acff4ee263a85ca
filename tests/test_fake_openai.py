"""The fake OpenAI server, driven through the real ``openai`` SDK (and raw ``httpx2``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Literal

import httpx2
import openai
import pytest
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from tests.fake_openai import (
    Cut,
    Fail,
    FakeOpenAI,
    Hang,
    IgnoresStream,
    KeepAlive,
    Reasoning,
    Reply,
    StreamError,
)

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "You are a helpful assistant in a group chat."},  # 45 chars
    {"role": "user", "content": "alice: what's the capital of France?"},  # 36 chars
]
PROMPT_TOKENS = (45 + 36) // 4


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
async def client(fake: FakeOpenAI) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(
        api_key="sk-test", base_url=fake.base_url, max_retries=0, timeout=5
    ) as sdk:
        yield sdk


async def collect(stream: openai.AsyncStream[ChatCompletionChunk]) -> list[str]:
    """The content of every chunk, until the stream ends or fails (``got`` keeps what came)."""
    got: list[str] = []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            got.append(chunk.choices[0].delta.content)
    return got


def test_base_url_needs_start() -> None:
    fake = FakeOpenAI()
    with pytest.raises(RuntimeError):
        _ = fake.base_url


async def test_base_url(fake: FakeOpenAI) -> None:
    assert fake.base_url == f"http://127.0.0.1:{fake.port}/v1"


async def test_models_list(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    page = await client.models.list()
    assert [m.id for m in page.data] == ["gpt-4o-mini", "llama3.2"]
    assert all(m.owned_by == "fake" and m.object == "model" for m in page.data)

    fake.models = ["qwen3"]
    page = await client.models.list()
    assert [m.id for m in page.data] == ["qwen3"]
    assert (await client.models.retrieve("qwen3")).id == "qwen3"
    with pytest.raises(openai.NotFoundError) as caught:
        await client.models.retrieve("nope")
    assert caught.value.code == "model_not_found"


async def test_models_behaviour(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.models_behaviour = Fail(401, "invalid_api_key", "Incorrect API key provided: sk-t...abcd")
    with pytest.raises(openai.AuthenticationError):
        await client.models.list()


async def test_non_streaming_completion(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(model="llama3.2", messages=MESSAGES)
    assert completion.object == "chat.completion"
    assert completion.model == "llama3.2"
    choice = completion.choices[0]
    assert choice.message.content == "Hello there!"
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == PROMPT_TOKENS
    assert completion.usage.completion_tokens == 3
    assert completion.usage.total_tokens == PROMPT_TOKENS + 3

    (request,) = fake.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.json == {"model": "llama3.2", "messages": MESSAGES}
    assert not request.stream
    assert not request.disconnected


async def test_streaming_with_usage(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.script(Reply(["Paris", " is", " the", " capital", "."], usage=(11, 22)))
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    contents = [c.choices[0].delta.content for c in chunks if c.choices]
    assert contents == ["Paris", " is", " the", " capital", ".", None]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].object == "chat.completion.chunk"
    assert len({c.id for c in chunks}) == 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices] == [None] * 5 + ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (11, 22)
    assert chunks[-1].usage.total_tokens == 33
    assert all(c.usage is None for c in chunks[:-1])
    assert fake.requests[0].stream
    await fake.wait_until(lambda: fake.active_streams == 0, 1)
    assert fake.disconnects == 0


async def test_streaming_without_usage_and_default_usage(
    fake: FakeOpenAI, client: AsyncOpenAI
) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
    )
    chunks = [chunk async for chunk in stream]
    assert all(c.choices and c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello there!"

    fake.script(Reply(["a", "b"], finish_reason="length"))
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (
        PROMPT_TOKENS,
        2,
    )


async def test_script_is_consumed_in_order_then_default(
    fake: FakeOpenAI, client: AsyncOpenAI
) -> None:
    fake.script(Reply(["one"]), Fail(503, None, "Overloaded"), Reply(["three"]))
    fake.default = Reply(["fallback"])
    assert fake.pending == 3
    first = await client.chat.completions.create(model="m", messages=MESSAGES)
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="m", messages=MESSAGES)
    third = await client.chat.completions.create(model="m", messages=MESSAGES)
    fourth = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert [first.choices[0].message.content, third.choices[0].message.content] == ["one", "three"]
    assert fourth.choices[0].message.content == "fallback"
    assert fake.pending == 0
    # The models endpoint does not consume the script.
    fake.script(Reply(["kept"]))
    await client.models.list()
    assert fake.pending == 1


FAILURES = [
    pytest.param(
        Fail(401, "invalid_api_key", "Incorrect API key provided: sk-test-...abcd"),
        openai.AuthenticationError,
        "invalid_request_error",
        id="401-invalid-key",
    ),
    pytest.param(
        Fail(429, "rate_limit_exceeded", "Rate limit reached", retry_after="7"),
        openai.RateLimitError,
        "requests",
        id="429-rate-limit",
    ),
    pytest.param(
        Fail(429, "insufficient_quota", "You exceeded your current quota"),
        openai.RateLimitError,
        "insufficient_quota",
        id="429-quota",
    ),
    pytest.param(
        Fail(500, None, "The server had an error"),
        openai.InternalServerError,
        "server_error",
        id="500",
    ),
    pytest.param(
        Fail(503, None, "Overloaded", retry_after="1"),
        openai.InternalServerError,
        "server_error",
        id="503",
    ),
    pytest.param(
        Fail(400, "context_length_exceeded", "This model's maximum context length is 8 tokens"),
        openai.BadRequestError,
        "invalid_request_error",
        id="400-context-length",
    ),
    pytest.param(
        Fail(404, "model_not_found", "The model `gpt-9` does not exist"),
        openai.NotFoundError,
        "invalid_request_error",
        id="404-model",
    ),
]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(("fail", "exc_class", "error_type"), FAILURES)
async def test_failures_map_to_sdk_exceptions(
    fake: FakeOpenAI,
    client: AsyncOpenAI,
    fail: Fail,
    exc_class: type[openai.APIStatusError],
    error_type: str,
    stream: bool,
) -> None:
    fake.script(fail)
    with pytest.raises(exc_class) as caught:
        await client.chat.completions.create(model="m", messages=MESSAGES, stream=stream)
    error = caught.value
    assert error.status_code == fail.status
    assert error.code == fail.code
    assert error.type == error_type
    assert error.message.endswith(fail.message)
    assert error.body == {
        "message": fail.message,
        "type": error_type,
        "param": None,
        "code": fail.code,
    }
    assert error.response.headers.get("retry-after") == fail.retry_after
    assert error.request_id is not None


async def test_fail_extra_headers_and_type(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.script(
        Fail(
            429,
            "rate_limit_exceeded",
            "Slow down",
            type="tokens",
            headers={"retry-after-ms": "1500", "x-ratelimit-remaining-requests": "0"},
        )
    )
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="m", messages=MESSAGES)
    assert caught.value.type == "tokens"
    assert caught.value.response.headers["retry-after-ms"] == "1500"
    assert caught.value.response.headers["x-ratelimit-remaining-requests"] == "0"


@pytest.mark.parametrize(
    ("how", "cause"),
    [("reset", httpx2.ReadError), ("close", httpx2.RemoteProtocolError)],
)
async def test_cut_raises_connection_error_mid_stream(
    fake: FakeOpenAI,
    client: AsyncOpenAI,
    how: Literal["reset", "close"],
    cause: type[Exception],
) -> None:
    fake.script(Cut(["a", "b", "c", "d"], after=2, delay=0.02, how=how))
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    got: list[str] = []
    with pytest.raises(openai.APIConnectionError) as caught:
        async for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert got == ["a", "b"]
    assert type(caught.value) is openai.APIConnectionError  # not APITimeoutError
    assert isinstance(caught.value.__cause__, cause)
    await fake.wait_until(lambda: fake.open_connections == 0, 1)
    assert fake.disconnects == 0  # the fake cut it, the client did not leave


async def test_cut_ending_the_body_ends_iteration_silently(
    fake: FakeOpenAI, client: AsyncOpenAI
) -> None:
    fake.script(Cut(["a", "b", "c"], after=1, how="end"))
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    chunks = [chunk async for chunk in stream]
    # No error, no finish_reason, no [DONE]: only the consumer can tell the answer is cut short.
    assert [c.choices[0].delta.content for c in chunks] == ["a"]
    assert chunks[-1].choices[0].finish_reason is None
    assert fake.disconnects == 0


async def test_cut_non_streaming(client: AsyncOpenAI, fake: FakeOpenAI) -> None:
    fake.script(Cut(["a", "b"], after=1), Cut(["a", "b"], after=1, how="close"))
    for _ in range(2):
        with pytest.raises(openai.APIConnectionError) as caught:
            await client.chat.completions.create(model="m", messages=MESSAGES)
        assert type(caught.value) is openai.APIConnectionError


async def test_hang_times_out(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.script(Hang(), Hang())
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(
            model="m",
            messages=MESSAGES,
            stream=True,
            timeout=0.2,
        )
    # The client giving up on a hung request counts as leaving early.
    await fake.wait_disconnect(1)
    assert fake.requests[0].disconnected
    with pytest.raises(openai.APITimeoutError):
        await client.with_options(timeout=0.2).chat.completions.create(
            model="m",
            messages=MESSAGES,
        )
    await fake.wait_disconnect(1, count=2)


async def test_stream_error_event_raises_api_error(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.script(StreamError(["partial", " answer"], "The server had an error while processing"))
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    got: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert got == ["partial", " answer"]
    # The base class itself: not a status error (the HTTP status was 200), not a connection one.
    assert type(caught.value) is openai.APIError
    assert caught.value.message == "The server had an error while processing"
    assert caught.value.type == "server_error"

    fake.script(StreamError([], "boom", code="oops"))
    with pytest.raises(openai.InternalServerError) as status_error:
        await client.chat.completions.create(model="m", messages=MESSAGES)
    assert status_error.value.code == "oops"


async def test_closing_a_stream_early_is_detected(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.script(Reply(["a", "b", "c", "d"], delay=1.0))
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    async for chunk in stream:
        assert chunk.choices[0].delta.content == "a"
        break
    assert fake.active_streams == 1
    await stream.close()
    await fake.wait_disconnect(0.5)  # while the fake sleeps: the next token is not due yet
    assert fake.disconnects == 1
    assert fake.requests[0].disconnected
    await fake.wait_until(lambda: fake.active_streams == 0 and fake.open_connections == 0, 1)


async def test_cancelling_the_consumer_is_detected(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.script(Reply(["a", "b", "c", "d"], delay=1.0))
    first = asyncio.Event()

    async def consume() -> list[str]:
        got: list[str] = []
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
            first.set()
        return got

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 1)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await fake.wait_disconnect(0.5)
    assert fake.requests[0].disconnected
    await fake.wait_until(lambda: fake.active_streams == 0, 1)


async def test_slow_non_streaming_reply_detects_disconnect(
    fake: FakeOpenAI, client: AsyncOpenAI
) -> None:
    fake.script(Reply(["a", "b", "c"], delay=0.5))
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model="m", messages=MESSAGES, timeout=0.1)
    await fake.wait_disconnect(0.5)


async def test_wait_disconnect_times_out(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    await collect(await client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    with pytest.raises(TimeoutError):
        await fake.wait_disconnect(0.05)


async def test_requests_are_recorded(fake: FakeOpenAI) -> None:
    async with AsyncOpenAI(
        api_key="sk-other", base_url=fake.base_url, max_retries=0, timeout=5
    ) as other:
        await other.models.list()
        await other.chat.completions.create(
            model="m",
            messages=MESSAGES,
            temperature=0.5,
        )
    assert fake.authorizations == ["Bearer sk-other", "Bearer sk-other"]
    models, chat = fake.requests
    assert (models.method, models.path, models.json) == ("GET", "/v1/models", None)
    assert chat.json["temperature"] == 0.5
    assert chat.headers["content-type"] == "application/json"
    assert all(name == name.lower() for name in chat.headers)
    assert fake.chat_requests == [chat]


async def test_unknown_path_and_chunked_request_body(fake: FakeOpenAI) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"model": "m", "messages": '
        yield b'[{"role": "user", "content": "hi"}]}'

    async with httpx2.AsyncClient(base_url=fake.base_url) as http:
        missing = await http.get("/nope?x=1")
        assert missing.status_code == 404
        assert missing.headers["connection"] == "close"
        assert missing.json() == {
            "error": {
                "message": "Invalid URL (GET /v1/nope)",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
        chunked = await http.post("/chat/completions", content=body())
        assert chunked.status_code == 200
        assert chunked.json()["choices"][0]["message"]["content"] == "Hello there!"
        bad = await http.post("/chat/completions", content=b"not json")
        assert bad.status_code == 400
    assert fake.requests[0].query == "x=1"
    assert fake.requests[1].headers["transfer-encoding"] == "chunked"
    assert fake.requests[1].json == {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def test_close_aborts_open_connections(client: AsyncOpenAI) -> None:
    fake = FakeOpenAI()
    await fake.start()
    sdk = client.with_options(base_url=fake.base_url)
    fake.script(Hang())
    pending = asyncio.create_task(sdk.chat.completions.create(model="m", messages=MESSAGES))
    await fake.wait_requests(1)
    assert fake.open_connections == 1
    await fake.close()
    with pytest.raises(openai.APIConnectionError):
        await pending
    assert fake.open_connections == 0
    assert fake.disconnects == 0


async def test_a_crashing_handler_fails_close(client: AsyncOpenAI) -> None:
    fake = FakeOpenAI()
    await fake.start()
    fake.default = "not a behaviour"  # type: ignore[assignment]
    sdk = client.with_options(base_url=fake.base_url)
    with pytest.raises(openai.APIConnectionError):
        await sdk.chat.completions.create(model="m", messages=MESSAGES)
    with pytest.raises(RuntimeError, match="handler crashed"):
        await fake.close()


# --------------------------------------------------------------------------------------------
# Keep-alives, servers that ignore streaming, reasoning models


async def test_keep_alive_comments_then_reply_in_the_same_stream(
    fake: FakeOpenAI, client: AsyncOpenAI
) -> None:
    fake.script(KeepAlive(0.5, then=Reply(["Hi", "!"]), interval=0.05))
    # The SDK's read timeout is shorter than the silence before the first token: only the
    # comments keep the request alive, and the SDK yields nothing for them.
    stream = await client.chat.completions.create(
        model="m", messages=MESSAGES, stream=True, timeout=0.3
    )
    chunks = [chunk async for chunk in stream]
    assert [c.choices[0].delta.content for c in chunks] == ["Hi", "!", None]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert fake.keepalives >= 5
    assert len(fake.chat_requests) == 1
    assert fake.disconnects == 0


async def test_keep_alive_comments_on_the_wire(fake: FakeOpenAI) -> None:
    fake.script(KeepAlive(0.25, then=Reply(["a"]), interval=0.1))
    async with httpx2.AsyncClient(base_url=fake.base_url) as http:
        response = await http.post(
            "/chat/completions", json={"model": "m", "messages": MESSAGES, "stream": True}
        )
    text = response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert text.startswith(": keep-alive\n\n")
    assert text.index(": keep-alive") < text.index("data: {") < text.index("data: [DONE]")
    assert text.count(": keep-alive\n\n") == fake.keepalives


async def test_keep_alive_for_ever_until_the_client_leaves(
    fake: FakeOpenAI, client: AsyncOpenAI
) -> None:
    fake.script(KeepAlive(0, interval=0.02))
    got: list[str] = []

    async def read() -> None:
        stream = await client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, timeout=0.4
        )
        got.extend(await collect(stream))

    reader = asyncio.create_task(read())
    # Twice the SDK's read timeout of comments alone: its own timeout never fires, only a
    # deadline of the caller's can end this.
    await fake.wait_until(lambda: fake.keepalives >= 40 or reader.done(), 5)
    assert not reader.done()
    assert got == []
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    await fake.wait_disconnect(1)
    await fake.wait_until(lambda: fake.active_streams == 0 and fake.open_connections == 0, 1)


async def test_keep_alive_then_a_stream_error(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.script(KeepAlive(0.1, then=StreamError(["part"], "Upstream failed"), interval=0.04))
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    got: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert got == ["part"]
    assert caught.value.message == "Upstream failed"
    assert fake.keepalives >= 1


async def test_keep_alive_non_streaming(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.script(KeepAlive(0.2, then=Reply(["late"])), KeepAlive(0.2))
    loop = asyncio.get_running_loop()
    started = loop.time()
    completion = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content == "late"
    assert loop.time() - started >= 0.2
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model="m", messages=MESSAGES, timeout=0.3)
    assert fake.keepalives == 0  # nothing is sent before a JSON body
    await fake.wait_disconnect(1)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_ignores_stream_answers_plain_json(
    fake: FakeOpenAI, client: AsyncOpenAI, stream: bool
) -> None:
    fake.script(IgnoresStream(Reply(["Whole", " answer"], usage=(5, 2))))
    async with httpx2.AsyncClient(base_url=fake.base_url) as http:
        response = await http.post(
            "/chat/completions", json={"model": "m", "messages": MESSAGES, "stream": stream}
        )
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "Whole answer"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == 2
    assert fake.active_streams == 0


async def test_ignores_stream_through_the_sdk(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.script(IgnoresStream(Reply(["Whole"])))
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    # The SDK reads a JSON body as an event stream without events: it yields nothing, and
    # only the content type tells the answer is in the body.
    assert stream.response.headers["content-type"] == "application/json"
    body = json.loads(await stream.response.aread())
    assert body["choices"][0]["message"]["content"] == "Whole"
    assert await collect(stream) == []


async def test_reasoning_in_fields_streamed(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.script(Reasoning(["Paris", " is", " it."], ["Paris", "."]))
    stream = await client.chat.completions.create(
        model="m",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    thoughts = [(d.model_extra or {}).get("reasoning_content") for d in deltas]
    assert thoughts == ["Paris", " is", " it.", None, None, None]
    assert [(d.model_extra or {}).get("reasoning") for d in deltas[:3]] == thoughts[:3]
    assert [d.content for d in deltas] == [None, None, None, "Paris", ".", None]
    assert deltas[0].role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.completion_tokens == 5
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 3


async def test_reasoning_in_think_tags_streamed(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.script(Reasoning(["Hmm", "."], ["Yes"], style="think"))
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert "".join(await collect(stream)) == "<think>Hmm.</think>Yes"


async def test_reasoning_not_streamed(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.script(
        Reasoning(["Think", "ing"], ["Yes"]),
        Reasoning(["Think", "ing"], ["Yes"], style="think", finish_reason="stop"),
    )
    field = await client.chat.completions.create(model="m", messages=MESSAGES)
    message = field.choices[0].message
    assert message.content == "Yes"
    assert (message.model_extra or {})["reasoning_content"] == "Thinking"
    assert (message.model_extra or {})["reasoning"] == "Thinking"
    assert field.usage is not None
    assert field.usage.completion_tokens == 3
    think = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert think.choices[0].message.content == "<think>Thinking</think>Yes"
    assert think.choices[0].finish_reason == "stop"
    assert think.usage is not None
    assert think.usage.completion_tokens == 5  # the two tags count


@pytest.mark.parametrize("limit", ["max_tokens", "max_completion_tokens"])
async def test_reasoning_cut_by_the_token_limit_answers_nothing(
    fake: FakeOpenAI, client: AsyncOpenAI, limit: str
) -> None:
    reasoning = ["The", " user", " asks", " whether", " I", " should", " answer"]
    fake.script(
        Reasoning(reasoning, ["yes"]),
        Reasoning(reasoning, ["yes"], style="think"),
        Reasoning(reasoning, ["yes"]),
    )
    limits = {limit: 4}  # sent as it is, whichever field the SDK would type
    field = await client.chat.completions.create(model="m", messages=MESSAGES, extra_body=limits)
    assert field.choices[0].message.content == ""
    assert field.choices[0].finish_reason == "length"
    assert (field.choices[0].message.model_extra or {})[
        "reasoning_content"
    ] == "The user asks whether"
    assert field.usage is not None and field.usage.completion_tokens == 4

    think = await client.chat.completions.create(model="m", messages=MESSAGES, extra_body=limits)
    assert think.choices[0].message.content == "<think>The user asks"
    assert think.choices[0].finish_reason == "length"

    stream = await client.chat.completions.create(
        model="m", messages=MESSAGES, stream=True, extra_body=limits
    )
    chunks = [chunk async for chunk in stream]
    assert all(c.choices[0].delta.content is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "length"
    assert len(chunks) == 5  # four pieces of reasoning and the finishing chunk


async def test_reasoning_with_room_to_answer(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.script(Reasoning(["a", "b"], ["yes", "!"]))
    # Exactly enough: reasoning and answer fit, so the model stops by itself.
    completion = await client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=4)
    assert completion.choices[0].message.content == "yes!"
    assert completion.choices[0].finish_reason == "stop"
    fake.script(Reasoning(["a", "b"], ["yes", "!"]))
    cut = await client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=3)
    assert cut.choices[0].message.content == "yes"
    assert cut.choices[0].finish_reason == "length"


async def test_reply_cut_at_the_length_limit(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.script(Reply(["It", " was"], finish_reason="length"))
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    chunks = [chunk async for chunk in stream]
    assert [c.choices[0].delta.content for c in chunks] == ["It", " was", None]
    assert [c.choices[0].finish_reason for c in chunks] == [None, None, "length"]
    fake.script(Reply(["It", " was"], finish_reason="length"))
    completion = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content == "It was"
    assert completion.choices[0].finish_reason == "length"


# --------------------------------------------------------------------------------------------
# What a model can do: Ollama's /api/show and LM Studio's /api/v0/models/{id}


async def test_ollama_show() -> None:
    capabilities = {"llava": ["completion", "vision"], "qwen3": ["completion", "thinking", "tools"]}
    async with (
        FakeOpenAI(capabilities=capabilities) as fake,
        httpx2.AsyncClient(base_url=fake.root_url) as http,
    ):
        assert fake.base_url == fake.root_url + "/v1"
        llava = await http.post("/api/show", json={"model": "llava"})
        assert llava.status_code == 200
        assert llava.json()["capabilities"] == ["completion", "vision"]
        assert "clip" in llava.json()["details"]["families"]
        assert isinstance(llava.json()["model_info"], dict)
        qwen = await http.post("/api/show", json={"name": "qwen3"})  # Ollama's older field
        assert qwen.json()["capabilities"] == ["completion", "thinking", "tools"]
        missing = await http.post("/api/show", json={"model": "gpt-4o"})
        assert missing.status_code == 404
        assert missing.json() == {"error": "model 'gpt-4o' not found"}
        wrong_method = await http.get("/api/show")
        assert wrong_method.status_code == 404
        # Under /v1 there is no such endpoint, as with Ollama.
        assert (await http.post("/v1/api/show", json={"model": "llava"})).status_code == 404
    assert [(r.method, r.path) for r in fake.requests[:3]] == [("POST", "/api/show")] * 3
    assert fake.requests[0].json == {"model": "llava"}


async def test_lmstudio_model() -> None:
    capabilities = {"qwen2-vl-7b-instruct": ["vision"], "llama-3.1-8b": ["completion"]}
    async with (
        FakeOpenAI(capabilities=capabilities) as fake,
        httpx2.AsyncClient(base_url=fake.root_url) as http,
    ):
        vlm = await http.get("/api/v0/models/qwen2-vl-7b-instruct")
        assert vlm.status_code == 200
        assert (vlm.json()["id"], vlm.json()["type"]) == ("qwen2-vl-7b-instruct", "vlm")
        llm = await http.get("/api/v0/models/llama-3.1-8b")
        assert llm.json()["type"] == "llm"
        missing = await http.get("/api/v0/models/nope")
        assert missing.status_code == 404
    assert fake.requests[0].path == "/api/v0/models/qwen2-vl-7b-instruct"


async def test_native_endpoints_scripted(fake: FakeOpenAI) -> None:
    fake.capabilities = {"llava": ["vision"]}
    async with httpx2.AsyncClient(base_url=fake.root_url) as http:
        fake.native_body = {"capabilities": "vision"}
        wrong = await http.post("/api/show", json={"model": "anything"})
        assert wrong.json() == {"capabilities": "vision"}
        fake.native_body = b"\xff not json"
        raw = await http.get("/api/v0/models/llava")
        assert (raw.status_code, raw.content) == (200, b"\xff not json")
        fake.native_behaviour = Fail(500, None, "boom")
        failed = await http.post("/api/show", json={"model": "llava"})
        assert failed.status_code == 500
        fake.native_behaviour = Hang()
        with pytest.raises(httpx2.ReadTimeout):
            await http.post("/api/show", json={"model": "llava"}, timeout=0.1)
    await fake.wait_disconnect(1)
    assert fake.pending == 0  # the chat script is not touched
