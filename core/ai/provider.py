"""The AI provider: OpenAI or any OpenAI-compatible server, through the official openai SDK.

:class:`ChatProvider` lists models, checks a connection, streams chat completions and makes
short non-streaming calls. Every failure leaves here as a :class:`ProviderError` whose
``kind`` says what happened and whose ``str()`` is our own wording, safe to show to guests:
the provider's own error text is never passed on (a 401 body can echo part of the key).

The API key lives only in this object (and the SDK client it makes); it is left out of every
``repr`` and every message, and registered with :mod:`core.log_redaction`.

Where a key may go (:func:`key_from_environment`, :class:`ProviderSettings`):

* ``GPTGROUP_PROVIDER_KEY`` is the key for whichever provider the host chose;
* ``OPENAI_API_KEY`` goes only where OpenAI's own convention sends it: to OpenAI's API, or to
  ``OPENAI_BASE_URL`` (set beside it) with the OpenAI and compatible presets; never to Ollama,
  LM Studio or any other server;
* no key (nor a ``user:password@`` in the URL) crosses the network over plain ``http://``,
  only to loopback, unless the settings say ``allow_key_over_http``;
* with no key, no ``Authorization`` header is sent at all.
"""

from __future__ import annotations

import datetime
import email.utils
import enum
import importlib.util
import ipaddress
import json
import logging
import math
import os
import sys
import time
import types
import typing
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlsplit

from core.address import host_port
from core.ai.context import ChatMessage
from core.log_redaction import register_secret
from core.protocol import Usage


def _imported_when_used(name: str) -> types.ModuleType:
    """Module ``name``, executed only when one of its attributes is first read (the recipe
    of :class:`importlib.util.LazyLoader`): importing the SDK takes longer than starting a
    room, and a room without an assistant, or the app's lobby, never needs it."""
    if (module := sys.modules.get(name)) is not None:
        return module
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None, f"{name} is a dependency"
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


if typing.TYPE_CHECKING:
    import httpx2
    import openai
    from openai.types.chat import ChatCompletionMessageParam
    from openai.types.shared import ReasoningEffort
else:
    httpx2 = _imported_when_used("httpx2")  # the openai SDK's HTTP client
    openai = _imported_when_used("openai")

__all__ = [
    "PRESETS",
    "ChatProvider",
    "Completion",
    "ConnectionReport",
    "InsecureKeyTransport",
    "Preset",
    "ProviderError",
    "ProviderProblem",
    "ProviderSettings",
    "StreamChunk",
    "is_loopback_url",
    "key_from_environment",
    "openai_environment_applies",
]

log = logging.getLogger("gptgroup.ai.provider")

PROVIDER_KEY_ENV = "GPTGROUP_PROVIDER_KEY"
OPENAI_KEY_ENV = "OPENAI_API_KEY"
OPENAI_BASE_URL_ENV = "OPENAI_BASE_URL"
# The SDK refuses to start without a key; with none of ours, it gets this one, and the request
# hook of ChatProvider removes the header it makes from it before anything is sent.
_NO_KEY_PLACEHOLDER = "no-key-placeholder"
# Headers the SDK adds from OpenAI's environment (OPENAI_ORG_ID, OPENAI_PROJECT_ID); with
# those of OPENAI_CUSTOM_HEADERS, they are meant for OpenAI only.
_OPENAI_ACCOUNT_HEADERS = ("OpenAI-Organization", "OpenAI-Project")
# Statuses with which a server says it has no model list at all (rather than refusing us).
_NO_MODEL_LIST_STATUSES = (404, 405, 501)
# The most read of an answer that came whole although it was asked for as a stream.
MAX_WHOLE_ANSWER_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    base_url: str
    kind: str  # "cloud" or "local"
    needs_key: bool


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset("openai", "OpenAI", "https://api.openai.com/v1", "cloud", True),
        Preset("ollama", "Ollama", "http://localhost:11434/v1", "local", False),
        Preset("lmstudio", "LM Studio", "http://localhost:1234/v1", "local", False),
        Preset("compatible", "OpenAI-compatible server", "", "", False),
    )
}


OPENAI_API_URL = PRESETS["openai"].base_url


class InsecureKeyTransport(ValueError):
    """A key (or URL credentials) would cross the network unencrypted. ``where`` is the
    server's ``host:port``; ``str()`` says what is wrong in one sentence."""

    def __init__(self, where: str) -> None:
        super().__init__(
            f"the API key would be sent unencrypted (http://) to {where}; use https://, or "
            "confirm that sending it over this network is acceptable"
        )
        self.where = where


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is this machine by its very name: ``localhost`` or a loopback
    address (nothing is resolved, so a name that merely resolves to loopback is not)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def openai_environment_applies(preset: str, base_url: str, environ: Mapping[str, str]) -> bool:
    """Whether OpenAI's environment (``OPENAI_API_KEY`` and the account headers the SDK
    reads from it) is meant for ``base_url``: OpenAI's own API, or ``OPENAI_BASE_URL`` with
    the OpenAI and compatible presets. Never for Ollama, LM Studio or any other server."""
    if preset not in ("openai", "compatible"):
        return False
    configured = environ.get(OPENAI_BASE_URL_ENV) or ""
    return _same_endpoint(base_url, OPENAI_API_URL) or (
        bool(configured) and _same_endpoint(base_url, configured)
    )


def key_from_environment(preset: str, base_url: str, environ: Mapping[str, str]) -> str | None:
    """The key the environment gives for ``preset`` at ``base_url``, or None for none.

    ``GPTGROUP_PROVIDER_KEY`` is given explicitly for the chosen provider, so it always
    applies; ``OPENAI_API_KEY`` only where :func:`openai_environment_applies`.
    """
    explicit = environ.get(PROVIDER_KEY_ENV)
    if explicit:
        return explicit
    if openai_environment_applies(preset, base_url, environ):
        return environ.get(OPENAI_KEY_ENV) or None
    return None


def _same_endpoint(a: str, b: str) -> bool:
    """Same scheme, host, port and path (ignoring case where it does not matter, a trailing
    slash, and any credentials)."""
    try:
        one, other = urlsplit(a.strip()), urlsplit(b.strip())
        ports = (one.port, other.port)
    except ValueError:
        return False
    return (
        one.scheme.lower() == other.scheme.lower()
        and (one.hostname or "") == (other.hostname or "")
        and ports[0] == ports[1]
        and one.path.rstrip("/") == other.path.rstrip("/")
    )


def kind_of_url(url: str) -> str:
    """``"local"`` for a server on this machine or the LAN, ``"cloud"`` otherwise."""
    host = (urlsplit(url).hostname or "").lower()
    if host in ("localhost", "") or host.endswith((".local", ".lan", ".home.arpa")):
        return "local"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "cloud"
    return (
        "local" if address.is_private or address.is_loopback or address.is_link_local else "cloud"
    )


@dataclass(frozen=True)
class ProviderSettings:
    """Which provider, where, with which model. Build with :meth:`from_preset`."""

    preset: str
    base_url: str = field(repr=False)  # may carry credentials (user:password@host)
    model: str
    api_key: str | None = field(default=None, repr=False)
    label: str = ""
    kind: str = "cloud"
    context_tokens: int | None = None
    max_output_tokens: int = 1024
    request_timeout: float = 60.0
    connect_timeout: float = 5.0
    # An answer is given up when the provider sends nothing for ``stall_limit`` seconds
    # (keep-alive comments do not count), or when it has taken ``answer_deadline`` seconds
    # in all, waits for retries included.
    stall_limit: float = 120.0
    answer_deadline: float = 300.0
    allow_key_over_http: bool = False  # the host confirmed: a key may go over plain http://

    def __post_init__(self) -> None:
        """Refuse settings that would send a credential in clear text to another machine.

        Raises :class:`InsecureKeyTransport`."""
        parts = urlsplit(self.base_url)
        credentials = self.api_key is not None or parts.username or parts.password
        if (
            credentials
            and parts.scheme == "http"
            and not is_loopback_url(self.base_url)
            and not self.allow_key_over_http
        ):
            raise InsecureKeyTransport(_where(self.base_url))

    @classmethod
    def from_preset(
        cls,
        preset: str,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        env_key: bool = True,
        allow_key_over_http: bool = False,
        **options: Any,
    ) -> ProviderSettings:
        """Settings for ``preset`` (a key of :data:`PRESETS`). ``base_url`` overrides the
        preset's; ``api_key`` defaults to :func:`key_from_environment` (unless ``env_key`` is
        false) and otherwise stays None: no key is sent. Raises ``ValueError`` for an unknown
        preset or a compatible server without a base URL, and :class:`InsecureKeyTransport`
        (a ``ValueError``) for a key over plain ``http://`` to another machine, unless
        ``allow_key_over_http``."""
        if preset not in PRESETS:
            raise ValueError(f"unknown provider {preset!r}; choose one of {', '.join(PRESETS)}")
        info = PRESETS[preset]
        url = (base_url or info.base_url).rstrip("/")
        if not url:
            raise ValueError("an OpenAI-compatible server needs a base URL")
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"the base URL must start with http:// or https://, not {url!r}")
        key = api_key or (key_from_environment(preset, url, os.environ) if env_key else None)
        moved = url != info.base_url  # a preset pointed elsewhere: judge by where it points
        return cls(
            preset=preset, base_url=url, model=model, api_key=key,
            label=_label_for(url) if preset == "compatible" else info.label,
            kind=kind_of_url(url) if moved else info.kind,
            allow_key_over_http=allow_key_over_http, **options,
        )  # fmt: skip


def _where(url: str) -> str:
    """``host:port`` of ``url``, without any ``user:password@`` it may carry."""
    parts = urlsplit(url)
    return host_port(parts.hostname or "?", parts.port)


def without_credentials(url: str) -> str:
    """``url`` without any ``user:password@`` (for showing or storing it)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def _label_for(url: str) -> str:
    # Guests see this label: "127.0.0.1:8800" would name their own machine, not the host's.
    if is_loopback_url(url):
        return "OpenAI-compatible server on the host's computer"
    return f"OpenAI-compatible server at {_where(url)}"


class ProviderProblem(enum.StrEnum):
    """What went wrong talking to the provider."""

    UNREACHABLE = "unreachable"
    AUTH = "auth"
    RATE_LIMITED = "rate_limited"
    QUOTA = "quota"
    SERVER = "server"
    TIMEOUT = "timeout"
    CONTEXT_TOO_LONG = "context_too_long"
    UNKNOWN_MODEL = "unknown_model"
    NO_MODEL_LIST = "no_model_list"
    NO_KEY = "no_key"
    BAD_REQUEST = "bad_request"
    IMAGES_REFUSED = "images_refused"
    INTERRUPTED = "interrupted"
    DROPPED = "dropped"


_WORDING = {
    ProviderProblem.UNREACHABLE: "The AI provider could not be reached ({where}). Is it running?",
    ProviderProblem.AUTH: "The AI provider refused the host's API key. The host needs to check it.",
    ProviderProblem.RATE_LIMITED: "The AI provider is rate limiting this room. Try again shortly.",
    ProviderProblem.QUOTA: "The host's AI account has run out of quota or credit.",
    ProviderProblem.SERVER: "The AI provider had an internal error.",
    ProviderProblem.TIMEOUT: "The AI provider took too long to answer.",
    ProviderProblem.CONTEXT_TOO_LONG: "The conversation is too long for the model {model}.",
    ProviderProblem.UNKNOWN_MODEL: "The AI provider does not know the model {model}.",
    ProviderProblem.NO_MODEL_LIST: "The model list of the AI provider is unavailable.",
    ProviderProblem.NO_KEY: "No API key is set for the AI provider.",
    ProviderProblem.BAD_REQUEST: "The AI provider refused the request.",
    ProviderProblem.IMAGES_REFUSED: "The AI provider refused the images sent to the model {model}.",
    ProviderProblem.INTERRUPTED: "The connection to the AI provider broke off mid-answer.",
    ProviderProblem.DROPPED: (
        "The connection to the AI provider broke off before the answer began."
    ),
}


class ProviderError(Exception):
    """A failure talking to the provider. ``str()`` is safe to show to everyone in the room.

    ``problem`` says what kind of failure it is; ``retry_after`` is the provider's requested
    wait in seconds, when it gave one, as it gave it: how long to honour it is the caller's
    decision.
    """

    def __init__(
        self, problem: ProviderProblem, message: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.problem = problem
        self.retry_after = retry_after


@dataclass(frozen=True)
class StreamChunk:
    """A piece of a streamed answer: text, and at the end the usage (if the server sends it)
    and why the model stopped (``finish_reason``: ``"stop"``, ``"length"``, ...).

    A chunk may carry none of these (the model is reasoning, or the server sent an empty
    delta): it still shows that the provider is working."""

    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class Completion:
    """A non-streamed reply: its text, usage (if the server said) and why it ended."""

    text: str
    usage: Usage | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class ConnectionReport:
    """The result of :meth:`ChatProvider.check`: ``ok``, or the problem and a sentence.

    ``models`` is the provider's model list; ``model_listed`` says whether it gave one at
    all (a server without ``/v1/models`` does not, and then the model could not be checked:
    ``ok`` stays true and ``message`` says so, since the model may well work).
    """

    ok: bool
    message: str
    problem: ProviderProblem | None = None
    models: tuple[str, ...] = ()
    model_listed: bool = True


class ChatProvider:
    """Talks to one provider with one model. Create it inside the running event loop."""

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        register_secret(settings.api_key)
        register_secret(urlsplit(settings.base_url).password)
        self._client = openai.AsyncOpenAI(
            api_key=settings.api_key or _NO_KEY_PLACEHOLDER,
            base_url=settings.base_url,
            max_retries=0,  # the relay retries itself, so it can tell the room and stay bounded
            timeout=openai.Timeout(settings.request_timeout, connect=settings.connect_timeout),
            default_headers=_fixed_headers(settings, os.environ),
            http_client=openai.DefaultAsyncHttpxClient(
                event_hooks={"request": [_drop_placeholder_authorization]}
            ),
        )

    def __repr__(self) -> str:
        return f"ChatProvider({self.settings.label!r}, model={self.settings.model!r})"

    @property
    def model(self) -> str:
        return self.settings.model

    async def aclose(self) -> None:
        await self._client.close()

    async def list_models(self) -> list[str]:
        """Model ids the provider offers, sorted. Raises :class:`ProviderError`; of kind
        ``no_model_list`` when the server has no model list (``/v1/models`` answers 404) or
        answers something that is not one."""
        no_list = ProviderError(
            ProviderProblem.NO_MODEL_LIST, self._wording(ProviderProblem.NO_MODEL_LIST)
        )
        try:
            # The raw JSON, not the SDK's page: that one breaks with AttributeError, or lists
            # None, on a body of another shape.
            body = await self._client.get("/models", cast_to=object)
        except openai.APIStatusError as exc:
            if exc.status_code in _NO_MODEL_LIST_STATUSES:
                log.info("the provider has no model list (HTTP %d)", exc.status_code)
                raise no_list from None
            raise self._translate(exc) from None
        except openai.OpenAIError as exc:  # anything else is a bug of ours: let it be seen
            raise self._translate(exc) from None
        except json.JSONDecodeError:  # the SDK parses a JSON content type itself
            raise no_list from None
        ids = _model_ids(body)
        if ids is None:
            log.info("the provider's model list is not a list of models")
            raise no_list
        return sorted(ids)

    async def check(self) -> ConnectionReport:
        """Test the connection: reachable, key accepted, model known. Never raises.

        The model is called unknown only when the provider gave a list without it; a server
        without a model list is reported ``ok`` with ``model_listed`` false (unless no model
        is set: then there is nothing to go on, and the report says to name one)."""
        if self.settings.api_key is None and PRESETS[self.settings.preset].needs_key:
            return ConnectionReport(
                False, self._wording(ProviderProblem.NO_KEY), ProviderProblem.NO_KEY
            )
        label = self.settings.label
        try:
            models = await self.list_models()
        except ProviderError as exc:
            if exc.problem is not ProviderProblem.NO_MODEL_LIST:
                return ConnectionReport(False, str(exc), exc.problem)
            if not self.model:
                return ConnectionReport(
                    False,
                    f"Reached {label}, but its model list is unavailable: enter the model's name.",
                    exc.problem,
                    model_listed=False,
                )
            return ConnectionReport(
                True,
                f"Connected to {label}; its model list is unavailable, so the model "
                f"{self.model} was not checked.",
                model_listed=False,
            )
        if models and self.model not in models:
            problem = ProviderProblem.UNKNOWN_MODEL
            return ConnectionReport(False, self._wording(problem), problem, tuple(models))
        count = f"{len(models)} models available" if models else "it lists no models"
        return ConnectionReport(True, f"Connected to {label}; {count}.", None, tuple(models))

    async def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None
    ) -> AsyncGenerator[StreamChunk, None]:
        """Stream a chat completion. Raises :class:`ProviderError`, before or during the stream.

        Every chunk the server sends is yielded, with or without text, so the caller can
        tell a working provider from a stalled one (keep-alive comments yield nothing).
        Closing the generator (or cancelling its consumer) closes the HTTP stream.

        What can go wrong, and how it is reported:

        * a stream that ends without a finish reason was cut off (the SDK does not insist on
          ``[DONE]``): kind ``interrupted`` once text has come, ``dropped`` before;
        * a broken connection: the same two kinds, by the same rule;
        * an error event inside the stream: ``server`` before any text, ``interrupted``
          (saying that the provider reported an error) after;
        * a request carrying images that the provider refuses because of them:
          ``images_refused``, so the caller can ask again without them.

        A server that ignores ``stream: true`` and answers with one JSON completion is
        understood: its whole answer comes as one chunk.
        """
        images = _has_images(messages)
        try:
            stream = await self._client.chat.completions.create(
                model=self.model,
                messages=_typed(messages),
                stream=True,
                stream_options={"include_usage": True},
                # The caller's stall limit decides how long a silence may last (the SDK's read
                # timeout would end it first, and keep-alives would reset it); this is only a
                # backstop.
                timeout=openai.Timeout(
                    self.settings.request_timeout,
                    connect=self.settings.connect_timeout,
                    read=max(self.settings.request_timeout, self.settings.stall_limit + 30),
                ),
                **self._limit(max_tokens or self.settings.max_output_tokens),
            )
        except openai.OpenAIError as exc:  # anything else is a bug of ours: let it be seen
            raise self._translate(exc, images=images) from None
        finished = False
        got_text = False
        try:
            if not _is_event_stream(stream.response):
                yield await self._whole_answer(stream.response)
                return
            async for chunk in stream:
                piece = _piece(chunk, "delta")
                finished = finished or piece.finish_reason is not None
                got_text = got_text or bool(piece.text)
                yield piece
            if not finished:
                raise self._error(_cut_problem(got_text))
        # The SDK wraps neither httpx2's errors nor a chunk that is not JSON, nor checks that
        # a chunk has the shape of one (a ValueError from _piece): all of these are a stream
        # that broke.
        except (openai.OpenAIError, httpx2.HTTPError, ValueError, RecursionError) as exc:
            raise self._translate(exc, mid_stream=True, got_text=got_text) from None
        finally:
            await stream.close()

    async def _whole_answer(self, response: httpx2.Response) -> StreamChunk:
        """The answer of a server that ignored ``stream: true``: one JSON ``chat.completion``
        (read up to :data:`MAX_WHOLE_ANSWER_BYTES`). Raises :class:`ProviderError` (kind
        ``dropped``) for a body that is not one."""
        body = bytearray()
        async for part in response.aiter_bytes():
            body += part
            if len(body) > MAX_WHOLE_ANSWER_BYTES:
                log.info("the provider's non-streamed answer is too large")
                raise self._error(ProviderProblem.DROPPED)
        try:
            whole = _piece(json.loads(bytes(body)), "message")
        except (ValueError, RecursionError):  # not JSON, or not a completion
            log.info("the provider answered a streamed request with something else")
            raise self._error(ProviderProblem.DROPPED) from None
        log.info("the provider ignored stream: true; its answer came whole")
        return replace(whole, finish_reason=whole.finish_reason or "stop")

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 5,
        reasoning_effort: ReasoningEffort = None,
    ) -> Completion:
        """A short non-streaming completion (for decisions). ``reasoning_effort`` goes only
        to OpenAI's own API (other servers may refuse a parameter they do not know).

        Raises :class:`ProviderError`."""
        effort: ReasoningEffort | openai.Omit = openai.omit
        if reasoning_effort is not None and self.settings.preset == "openai":
            effort = reasoning_effort
        try:
            reply = await self._client.chat.completions.create(
                model=self.model,
                messages=_typed(messages),
                reasoning_effort=effort,
                **self._limit(max_tokens),
            )
        except openai.OpenAIError as exc:  # anything else is a bug of ours: let it be seen
            raise self._translate(exc, images=_has_images(messages)) from None
        try:
            piece = _piece(reply, "message")
        except ValueError:  # a reply whose text is not text: no reply
            return Completion("", _usage(reply.usage), None)
        return Completion(piece.text, piece.usage, piece.finish_reason)

    def _limit(self, tokens: int) -> _TokenLimit:
        """OpenAI's newer (reasoning) models refuse ``max_tokens`` and want
        ``max_completion_tokens``; compatible servers know only ``max_tokens``."""
        if self.settings.preset == "openai":
            return {"max_completion_tokens": tokens, "max_tokens": openai.omit}
        return {"max_tokens": tokens, "max_completion_tokens": openai.omit}

    # ----------------------------------------------------------------- errors

    def _wording(self, problem: ProviderProblem) -> str:
        return _WORDING[problem].format(model=self.model, where=_where(self.settings.base_url))

    def _error(self, problem: ProviderProblem) -> ProviderError:
        return ProviderError(problem, self._wording(problem))

    def _translate(
        self,
        exc: BaseException,
        *,
        mid_stream: bool = False,
        got_text: bool = False,
        images: bool = False,
    ) -> ProviderError:
        """Map an SDK exception to a :class:`ProviderError` with our own safe wording;
        ``mid_stream``: it came while a stream was read, ``got_text``: after some text of it;
        ``images``: the request carried images."""
        problem, retry_after = _classify(
            exc, mid_stream=mid_stream, got_text=got_text, images=images
        )
        if problem is ProviderProblem.AUTH and self.settings.api_key is None:
            problem = ProviderProblem.NO_KEY  # it wants a key, and none was sent
        log.info("provider call failed: %s (%s)", problem.value, type(exc).__name__)
        words = self._wording(problem)
        if problem is ProviderProblem.INTERRUPTED and _is_error_event(exc):
            words = "The AI provider reported an error mid-answer."
        return ProviderError(problem, words, retry_after=retry_after)


def _fixed_headers(settings: ProviderSettings, environ: Mapping[str, str]) -> dict[str, str]:
    """Headers that override what the SDK would take from the environment.

    ``Authorization`` is always exactly ours (never one from ``OPENAI_CUSTOM_HEADERS``), and
    OpenAI's account and custom headers are omitted wherever OpenAI's environment does not
    apply (see :func:`openai_environment_applies`).
    """
    headers: dict[str, str | openai.Omit] = {
        "Authorization": f"Bearer {settings.api_key or _NO_KEY_PLACEHOLDER}"
    }
    if not openai_environment_applies(settings.preset, settings.base_url, environ):
        custom = environ.get("OPENAI_CUSTOM_HEADERS", "")
        # Parsed as the SDK parses it: one "Name: value" per line.
        names = [line.split(":", 1)[0].strip() for line in custom.split("\n") if ":" in line]
        for name in (*_OPENAI_ACCOUNT_HEADERS, *names):
            if name and name.lower() != "authorization":
                headers[name] = openai.omit
    # The SDK types these as str, but merges them with its own and drops the Omit ones.
    return typing.cast("dict[str, str]", headers)


async def _drop_placeholder_authorization(request: httpx2.Request) -> None:
    """With no key of ours, send no ``Authorization`` at all (a server on the LAN must not
    learn even a placeholder, and one sent by ``user:password@`` in the URL is kept)."""
    if request.headers.get("authorization") == f"Bearer {_NO_KEY_PLACEHOLDER}":
        del request.headers["authorization"]


class _TokenLimit(typing.TypedDict):
    max_tokens: int | openai.Omit
    max_completion_tokens: int | openai.Omit


def _typed(messages: Sequence[ChatMessage]) -> list[ChatCompletionMessageParam]:
    """Our role/content messages (text, or text and image_url parts) are exactly the SDK's
    message params; mypy cannot see that a TypedDict with a role union is their union."""
    return typing.cast("list[ChatCompletionMessageParam]", list(messages))


def _has_images(messages: Sequence[ChatMessage]) -> bool:
    return any(
        part["type"] == "image_url"
        for m in messages
        if not isinstance(m["content"], str)
        for part in m["content"]
    )


# What a provider says when it will not take images: OpenAI ("image_url is only supported by
# certain models"), LM Studio ("images were provided"), vLLM ("not a multimodal model").
_IMAGE_WORDS = ("image", "vision", "multimodal")


def _classify(
    exc: BaseException, *, mid_stream: bool, got_text: bool = False, images: bool = False
) -> tuple[ProviderProblem, float | None]:
    """What ``exc`` means. While a stream is read (``mid_stream``), a broken connection is
    ``interrupted`` once text has come (``got_text``) and ``dropped`` before, and an error
    event is ``interrupted`` after text and ``server`` before."""
    cut = _cut_problem(got_text) if mid_stream else ProviderProblem.UNREACHABLE
    if isinstance(exc, ProviderError):
        return exc.problem, exc.retry_after
    if isinstance(exc, openai.APITimeoutError):
        return ProviderProblem.TIMEOUT, None
    if isinstance(exc, openai.APIConnectionError):
        return cut, None
    if isinstance(exc, openai.APIStatusError):
        code = _error_code(exc)
        status = exc.status_code
        if status == 401:
            return ProviderProblem.AUTH, None
        if status == 429:
            if code == "insufficient_quota":
                return ProviderProblem.QUOTA, None
            return ProviderProblem.RATE_LIMITED, _retry_after(exc)
        if status == 404 or code == "model_not_found":
            return ProviderProblem.UNKNOWN_MODEL, None
        body = _body_text(exc)
        if code == "context_length_exceeded":
            return ProviderProblem.CONTEXT_TOO_LONG, None
        # Servers give no code for refused images nor (vLLM, llama.cpp) for a context that is
        # too long, only a 400 (or a validation 422) whose body says so: the one place where
        # the words decide, for want of anything else. A context error may mention the image
        # tokens it counted, so "context" wins.
        refused_images = any(word in body for word in _IMAGE_WORDS)
        if images and status in (400, 422) and "context" not in body and refused_images:
            return ProviderProblem.IMAGES_REFUSED, None
        if status == 400 and "context" in body:
            return ProviderProblem.CONTEXT_TOO_LONG, None
        if status >= 500:
            return ProviderProblem.SERVER, _retry_after(exc)
        if status == 403:
            return ProviderProblem.AUTH, None
        return ProviderProblem.BAD_REQUEST, None
    if isinstance(exc, openai.APIError):  # e.g. an error event inside a stream
        code = getattr(exc, "code", None)
        if code == "context_length_exceeded":
            return ProviderProblem.CONTEXT_TOO_LONG, None
        return (ProviderProblem.INTERRUPTED if got_text else ProviderProblem.SERVER), None
    # httpx2's own errors, which the SDK lets through while a stream is read.
    return cut, None


def _cut_problem(got_text: bool) -> ProviderProblem:
    """A stream that broke off: mid-answer, or before the answer began."""
    return ProviderProblem.INTERRUPTED if got_text else ProviderProblem.DROPPED


def _is_error_event(exc: BaseException) -> bool:
    """Whether ``exc`` is the SDK's error for an error event inside a stream."""
    return isinstance(exc, openai.APIError) and not isinstance(
        exc, openai.APIStatusError | openai.APIConnectionError
    )


def _is_event_stream(response: httpx2.Response) -> bool:
    """Whether ``response`` is a server-sent event stream (a server that ignores
    ``stream: true`` answers ``application/json``). A response without a content type is
    taken as a stream, as the SDK takes it."""
    kind = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return kind != "application/json"


def _field(value: object, name: str) -> object:
    """``value.name`` of an SDK object (built from the server's JSON without checking it) or
    ``value[name]`` of a plain dict; None when there is none."""
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)


def _piece(chunk: object, part: Literal["delta", "message"]) -> StreamChunk:
    """What a streamed chunk (``part`` "delta") or a whole completion ("message") says: the
    text of its first choice, why it ended, its usage. The server's JSON is not to be
    trusted: raises ``ValueError`` for one of another shape (text that is not text)."""
    choices = _field(chunk, "choices")
    text: object = None
    reason: object = None
    if isinstance(choices, list) and choices:
        first = choices[0]
        text = _field(_field(first, part), "content")
        reason = _field(first, "finish_reason")
    elif choices is not None and not isinstance(choices, list):
        raise ValueError("choices is not a list")
    if text is not None and not isinstance(text, str):
        raise ValueError("the text of a choice is not text")
    return StreamChunk(
        text or "", _usage(_field(chunk, "usage")), reason if isinstance(reason, str) else None
    )


def _usage(usage: object) -> Usage | None:
    """The token counts the server reported, when they are counts (whole, not negative:
    a negative count would give tokens back to the room's budget)."""
    if usage is None:
        return None
    counts = [_field(usage, k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")]
    if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
        return None
    prompt, completion, total = typing.cast("list[int]", counts)
    return Usage(prompt, completion, total)


def _model_ids(body: object) -> list[str] | None:
    """The ids of an OpenAI model list (``{"data": [{"id": ...}, ...]}``), or None when
    ``body`` is not one."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return None
    ids = [m.get("id") if isinstance(m, dict) else None for m in data]
    return [i for i in ids if isinstance(i, str)] if all(isinstance(i, str) for i in ids) else None


def _error_code(exc: openai.APIStatusError) -> str | None:
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        return code
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("error", body) if isinstance(body, dict) else {}
    value = inner.get("code") if isinstance(inner, dict) else None
    return value if isinstance(value, str) else None


def _body_text(exc: openai.APIStatusError) -> str:
    return str(exc.body).lower() if exc.body is not None else ""


def _retry_after(exc: openai.APIStatusError) -> float | None:
    """The wait the response asks for, in seconds: ``retry-after-ms`` (OpenAI's), else
    ``Retry-After`` in seconds or as an HTTP date. Uncapped; None when absent or unreadable."""
    headers = exc.response.headers
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            seconds = float(raw) / divisor
        except ValueError:
            seconds = _seconds_until(raw) if name == "retry-after" else math.nan
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def _seconds_until(http_date: str) -> float:
    """Seconds from now until ``http_date`` (at least 0), or NaN if it is not a date."""
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return math.nan
    if when.tzinfo is None:  # "-0000": HTTP dates are GMT whatever they say
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - time.time())
