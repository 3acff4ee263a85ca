"""The stand-in assistant, spoken to by the real openai SDK, as the self-test's room does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import openai
import pytest
from openai import AsyncOpenAI

from core.ai.stand_in import MAX_BODY_BYTES, STAND_IN_MODEL, StandInAssistant


@pytest.fixture
async def stand_in() -> AsyncIterator[StandInAssistant]:
    async with StandInAssistant() as server:
        yield server


@pytest.fixture
async def sdk(stand_in: StandInAssistant) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(base_url=stand_in.base_url, api_key="x", max_retries=0)
    yield client
    await client.close()


async def test_a_streamed_answer_echoes_the_last_user_message_in_several_deltas(
    sdk: AsyncOpenAI,
) -> None:
    stream = await sdk.chat.completions.create(
        model=STAND_IN_MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Ana: an earlier line"},
            {"role": "user", "content": "Sam: tell me about otters"},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    deltas: list[str] = []
    finish_reasons: list[str] = []
    usages = []
    async for chunk in stream:
        if chunk.choices:
            deltas.append(chunk.choices[0].delta.content or "")
            if chunk.choices[0].finish_reason is not None:
                finish_reasons.append(chunk.choices[0].finish_reason)
        if chunk.usage is not None:
            usages.append(chunk.usage)
    assert "".join(deltas) == "You said: Sam: tell me about otters"
    assert len([d for d in deltas if d]) >= 2
    assert finish_reasons == ["stop"]
    assert len(usages) == 1 and usages[0].completion_tokens > 0
    assert usages[0].total_tokens == usages[0].prompt_tokens + usages[0].completion_tokens


async def test_a_stream_without_usage_asked_carries_none(sdk: AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(
        model=STAND_IN_MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = [chunk async for chunk in stream]
    assert all(chunk.usage is None for chunk in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "You said: hi"
    )


async def test_a_plain_request_gets_the_whole_answer_with_usage(sdk: AsyncOpenAI) -> None:
    reply = await sdk.chat.completions.create(
        model=STAND_IN_MODEL, messages=[{"role": "user", "content": "one  two\nthree"}]
    )
    assert reply.choices[0].message.content == "You said: one two three"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.completion_tokens == 5


async def test_models_are_listed(sdk: AsyncOpenAI) -> None:
    page = await sdk.models.list()
    assert [model.id async for model in page] == [STAND_IN_MODEL]


async def test_an_oversize_body_is_refused_with_413(
    sdk: AsyncOpenAI, stand_in: StandInAssistant
) -> None:
    with pytest.raises(openai.APIStatusError) as refused:
        await sdk.chat.completions.create(
            model=STAND_IN_MODEL, messages=[{"role": "user", "content": "x" * MAX_BODY_BYTES}]
        )
    assert refused.value.status_code == 413
    # Refused, not broken: the next request is answered as usual.
    reply = await sdk.chat.completions.create(
        model=STAND_IN_MODEL, messages=[{"role": "user", "content": "still there?"}]
    )
    assert reply.choices[0].message.content == "You said: still there?"


async def test_an_unknown_path_is_a_404_json_error(sdk: AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        await sdk.embeddings.create(model=STAND_IN_MODEL, input="hello")
    assert isinstance(missing.value.body, dict) and "message" in missing.value.body


@pytest.mark.parametrize(
    "body", [b'{"stream": true}', b"[" * 200_000, b"not json"], ids=["no-messages", "deep", "text"]
)
async def test_a_body_that_is_not_a_chat_request_is_a_400(
    stand_in: StandInAssistant, body: bytes
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", stand_in.port)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    response = await reader.read()
    writer.close()
    await writer.wait_closed()
    assert response.startswith(b"HTTP/1.1 400 ")
    assert b'"error"' in response


async def test_closing_ends_an_answer_being_streamed() -> None:
    server = StandInAssistant(pace=10.0)  # the second word would come only after 10 s
    await server.start()
    sdk = AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    try:
        stream = await sdk.chat.completions.create(
            model=STAND_IN_MODEL, messages=[{"role": "user", "content": "a b c"}], stream=True
        )
        first = await anext(aiter(stream))
        assert first.choices[0].delta.content == "You"
        async with asyncio.timeout(5):
            await server.close()
        with pytest.raises(openai.APIConnectionError):
            async with asyncio.timeout(5):
                async for _chunk in stream:
                    pass
    finally:
        await sdk.close()
        await server.close()
