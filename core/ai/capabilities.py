"""What a model can do (take images, reason before answering), from the provider where it says so.

OpenAI's ``/v1/models`` (and the compatible servers' copies of it) says nothing about what a
model accepts, so :func:`detect_capabilities` asks where an answer exists, in this order:

* **OpenAI's API** (the ``openai`` preset, or any preset pointed at ``api.openai.com``): no
  request at all; OpenAI's documented model ids (:func:`openai_model_capabilities`) decide,
  source ``"model id"``;
* **Ollama** (the ``ollama`` preset, and any other server on this machine or the LAN, since
  an Ollama is often set up as a plain compatible server; never a cloud one):
  ``POST {root}/api/show`` with ``{"model": name}``, whose
  ``capabilities`` list says ``"vision"`` and ``"thinking"``; source ``"provider"``;
* **LM Studio** (the ``lmstudio`` preset): ``GET {root}/api/v0/models/{model}``, whose
  ``type`` is ``"vlm"`` for a model that takes images (it says nothing about reasoning, so
  ``reasoning`` stays None); source ``"provider"``;
* otherwise, or when the provider could not say: the model's name
  (:func:`core.ai.file_parts.takes_images`), source ``"name"``, with ``reasoning`` None.

``{root}`` is the base URL without its final ``/v1``: the native endpoints are not under it.

Bounds and trust: at most one request per call, over within ``timeout`` seconds in all;
redirects are not followed; a compressed body, or one over :data:`MAX_RESPONSE_BYTES`, is not
read; every value in the answer is checked for its type, and anything unexpected (a status
other than 200, a wrong shape, a broken connection) means "the provider did not say", never an
exception. The credentials go exactly as :class:`~core.ai.provider.ChatProvider` sends them: an
``Authorization: Bearer`` header only when a key is set, ``user:password@`` in the URL as basic
auth, and neither over plain ``http://`` to another machine unless the settings allow it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from core.ai.file_parts import takes_images
from core.ai.provider import ProviderSettings, is_loopback_url, openai_environment_applies

if TYPE_CHECKING:
    import httpx2

__all__ = [
    "MAX_RESPONSE_BYTES",
    "UNKNOWN",
    "CapabilitySource",
    "ModelCapabilities",
    "detect_capabilities",
    "from_name",
    "openai_model_capabilities",
]

log = logging.getLogger("gptgroup.ai.capabilities")

MAX_RESPONSE_BYTES = 1_000_000
"""The most of a provider's answer that is read (Ollama's ``/api/show`` is some kilobytes)."""

CapabilitySource = Literal["provider", "model id", "name", "unknown"]


@dataclass(frozen=True)
class ModelCapabilities:
    """What a model can do, and how that is known.

    ``images``: it takes image inputs; ``reasoning``: it is a reasoning model (it thinks before
    it answers, spending output tokens on that, and may take reasoning settings). None where
    nothing tells. ``source``: ``"provider"`` when the server said so, ``"model id"`` for
    OpenAI's documented model ids, ``"name"`` when guessed from the model's name,
    ``"unknown"`` when there is no model to judge.
    """

    images: bool | None
    reasoning: bool | None
    source: CapabilitySource

    @property
    def known_images(self) -> bool | None:
        """``images`` where the provider or OpenAI's documented ids say it, else None (a
        guess from the name is :func:`core.ai.file_parts.takes_images`'s to make, and to
        word as one)."""
        return self.images if self.source in ("provider", "model id") else None


UNKNOWN = ModelCapabilities(images=None, reasoning=None, source="unknown")
"""Nothing is known (there is no model name to go on)."""

# OpenAI's chat model families by id, with dated snapshots ("gpt-4o-2024-08-06") and sizes
# ("-mini", "-nano", "-pro") after a dash.
_O_SERIES = re.compile(r"o[134](-|$)")
_GPT5 = re.compile(r"gpt-5(\.\d+)?(-|$)")
_GPT5_CHAT = re.compile(r"gpt-5(\.\d+)?-chat(-|$)")  # the non-reasoning model of ChatGPT
_GPT4O = re.compile(r"(chatgpt-4o|gpt-4o)(-|$)")
_GPT41 = re.compile(r"gpt-4\.1(-|$)")
# Reasoning models of the o-series that take text only.
_O_TEXT_ONLY = ("o1-mini", "o1-preview", "o3-mini")
# Parts of an id (between dashes) that mark a variant taking audio or searching the web rather
# than taking images ("gpt-4o-search-preview"; but "o3-deep-research" takes images).
_NO_IMAGE_WORDS = frozenset(["audio", "realtime", "search", "transcribe", "tts"])


def openai_model_capabilities(model: str) -> ModelCapabilities | None:
    """What OpenAI documents for the model id ``model``, or None for an id it does not cover.

    Images: gpt-4o (not its audio, realtime, search, transcribe and tts variants), gpt-4.1,
    gpt-5 and o1/o3/o4 (not o1-mini, o1-preview or o3-mini). Reasoning: o1/o3/o4 and gpt-5
    (not gpt-5-chat, ChatGPT's instant model). Source ``"model id"``.
    """
    name = model.strip().lower()
    reasoning = bool(_O_SERIES.match(name)) or (
        bool(_GPT5.match(name)) and not _GPT5_CHAT.match(name)
    )
    family = _O_SERIES.match(name) or _GPT5.match(name) or _GPT4O.match(name)
    if not family and not _GPT41.match(name):
        return None
    images = not name.startswith(_O_TEXT_ONLY) and _NO_IMAGE_WORDS.isdisjoint(name.split("-"))
    return ModelCapabilities(images=images, reasoning=reasoning, source="model id")


def from_name(model: str) -> ModelCapabilities:
    """The guess from ``model``'s name alone: images by :func:`takes_images`, reasoning
    unknown (or :data:`UNKNOWN` for no name at all)."""
    if not model.strip():
        return UNKNOWN
    return ModelCapabilities(images=takes_images(model), reasoning=None, source="name")


async def detect_capabilities(
    settings: ProviderSettings,
    *,
    timeout: float = 3.0,  # noqa: ASYNC109  (the HTTP client's own timeouts are set from it too)
) -> ModelCapabilities:
    """What ``settings.model`` can do, asked of the provider where it can say (see the module
    docstring for where and how). Never raises: whatever goes wrong, the answer falls back to
    :func:`from_name`. At most one request, over within ``timeout`` seconds.

    Cancelling the caller cancels the request (``CancelledError`` is the one exception that
    passes).
    """
    model = settings.model.strip()
    if not model:
        return UNKNOWN
    if settings.preset == "openai" or openai_environment_applies(
        settings.preset, settings.base_url, {}
    ):
        return openai_model_capabilities(model) or from_name(model)
    if not _credentials_may_go(settings):
        log.info("capabilities not asked: the credentials would cross the network unencrypted")
        return from_name(model)
    if settings.preset not in ("ollama", "lmstudio") and settings.kind != "local":
        # A cloud gateway is no Ollama, and a path outside its base URL (which the provider
        # never calls) may be another service entirely: the key does not go there.
        return from_name(model)
    try:
        async with asyncio.timeout(timeout):
            found = await _ask(settings, model, timeout)
    except Exception as exc:  # any failure of a server or of the network: "it did not say"
        log.info("the provider did not say what the model can do (%s)", type(exc).__name__)
        return from_name(model)
    if found is None:
        log.info("the provider's answer did not say what the model can do")
        return from_name(model)
    return found


async def _ask(settings: ProviderSettings, model: str, seconds: float) -> ModelCapabilities | None:
    import httpx2  # noqa: PLC0415 (the openai SDK's HTTP client, imported when first asked)

    root = _root_url(settings.base_url)
    headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
    if settings.api_key is not None:
        headers["Authorization"] = f"Bearer {settings.api_key}"
    limits = httpx2.Timeout(seconds, connect=min(seconds, settings.connect_timeout))
    async with httpx2.AsyncClient(timeout=limits, follow_redirects=False) as http:
        if settings.preset == "lmstudio":
            request = http.build_request(
                "GET", f"{root}/api/v0/models/{quote(model, safe='')}", headers=headers
            )
            return _from_lmstudio(await _read_json(http, request))
        request = http.build_request(
            "POST", f"{root}/api/show", headers=headers, json={"model": model}
        )
        return _from_ollama(await _read_json(http, request))


async def _read_json(http: httpx2.AsyncClient, request: httpx2.Request) -> object:
    """The JSON value of a 200 answer of at most :data:`MAX_RESPONSE_BYTES` bytes, sent as
    is (not compressed), or None for any other answer. Raises on a broken connection or a
    body that is not JSON."""
    response = await http.send(request, stream=True)
    try:
        if response.status_code != 200:
            return None
        if response.headers.get("content-encoding", "identity").strip().lower() != "identity":
            return None  # asked for none: a compressed body could be a decompression bomb
        declared = response.headers.get("content-length", "0")
        if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
            return None
        body = bytearray()
        async for piece in response.aiter_raw():
            body += piece
            if len(body) > MAX_RESPONSE_BYTES:
                return None
    finally:
        await response.aclose()
    # Not strict about the content type (some servers say text/plain), strict about the JSON.
    value: object = json.loads(bytes(body))
    return value


def _from_ollama(body: object) -> ModelCapabilities | None:
    """From Ollama's ``/api/show`` answer: its ``capabilities``, a non-empty list of words
    (``"completion"``, ``"vision"``, ``"thinking"``, ``"tools"``...)."""
    words = body.get("capabilities") if isinstance(body, dict) else None
    if not isinstance(words, list) or not words or not all(isinstance(w, str) for w in words):
        return None
    return ModelCapabilities(
        images="vision" in words, reasoning="thinking" in words, source="provider"
    )


def _from_lmstudio(body: object) -> ModelCapabilities | None:
    """From LM Studio's ``/api/v0/models/{id}`` answer: its ``type``, ``"vlm"`` for a model
    that takes images, ``"llm"`` or ``"embeddings"`` otherwise."""
    kind = body.get("type") if isinstance(body, dict) else None
    if kind not in ("llm", "vlm", "embeddings"):
        return None
    return ModelCapabilities(images=kind == "vlm", reasoning=None, source="provider")


def _root_url(base_url: str) -> str:
    """``base_url`` without its final ``/v1`` (and any query), credentials kept."""
    parts = urlsplit(base_url)
    path = parts.path.rstrip("/")
    path = path.removesuffix("/v1")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _credentials_may_go(settings: ProviderSettings) -> bool:
    """The rule of :class:`ProviderSettings` (which refuses to be built otherwise), checked
    again where the request is made: no key nor ``user:password@`` over plain ``http://`` to
    another machine unless the host allowed it."""
    parts = urlsplit(settings.base_url)
    credentials = settings.api_key is not None or parts.username or parts.password
    return (
        not credentials
        or parts.scheme != "http"
        or is_loopback_url(settings.base_url)
        or settings.allow_key_over_http
    )
