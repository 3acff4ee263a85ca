"""The headless host's assistant options, and turning them into a provider and its settings.

The API key comes from the environment only, never from the command line, so it stays out of
the process list and shell history: ``GPTGROUP_PROVIDER_KEY`` for whichever provider is
chosen, or ``OPENAI_API_KEY`` for OpenAI and for the server in ``OPENAI_BASE_URL`` (see
:func:`core.ai.provider.key_from_environment` for where each may go).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from core.ai.desk import AssistantConfig
from core.ai.provider import (
    OPENAI_BASE_URL_ENV,
    OPENAI_KEY_ENV,
    PRESETS,
    PROVIDER_KEY_ENV,
    ChatProvider,
    InsecureKeyTransport,
    ProviderError,
    ProviderProblem,
    ProviderSettings,
)
from core.protocol import ANSWER_MODES

__all__ = ["AssistantSetup", "SetupError", "add_assistant_arguments", "assistant_from_args"]

DEFAULT_MODELS = {"openai": "gpt-4o-mini"}
DEFAULT_DEADLINE = ProviderSettings.answer_deadline  # seconds
DEFAULT_STALL = ProviderSettings.stall_limit
MAX_DEADLINE_MINUTES = 60


def add_assistant_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "assistant",
        f"The AI in the room. The API key comes from {PROVIDER_KEY_ENV}, or from "
        f"{OPENAI_KEY_ENV}, which is sent only to OpenAI or to {OPENAI_BASE_URL_ENV}.",
    )
    default = "openai" if os.environ.get(OPENAI_KEY_ENV) else "none"
    group.add_argument(
        "--provider", choices=["none", *PRESETS], default=default,
        help=f"where the assistant runs (default: openai if {OPENAI_KEY_ENV} is set, else none)",
    )  # fmt: skip
    group.add_argument(
        "--base-url",
        help="the provider's API address (default: the preset's; for openai and compatible, "
        f"{OPENAI_BASE_URL_ENV} when set)",
    )
    group.add_argument(
        "--allow-key-over-http", action="store_true",
        help="send the API key even over plain http:// to another machine, where anyone on "
        "the network path can read it (without this, a key goes over http:// to this "
        "machine only)",
    )  # fmt: skip
    group.add_argument(
        "--model", help="model name (default: gpt-4o-mini for OpenAI, else the first listed)"
    )
    group.add_argument("--assistant-name", default="assistant", help="what people @mention")
    group.add_argument("--answer-mode", choices=ANSWER_MODES, default="mention")
    persona = group.add_mutually_exclusive_group()
    persona.add_argument("--persona", default="", help="instructions for the assistant")
    persona.add_argument("--persona-file", type=Path, help="read the instructions from a file")
    group.add_argument("--token-budget", type=int, help="stop answering after this many tokens")
    group.add_argument("--answer-quota", type=int, metavar="N", help="answers per guest per window")
    group.add_argument(
        "--quota-window", type=float, default=10.0, metavar="MINUTES",
        help="the window of --answer-quota (default 10 minutes)",
    )  # fmt: skip
    group.add_argument(
        "--answer-deadline", type=float, default=DEFAULT_DEADLINE / 60, metavar="MINUTES",
        help="give up an answer that takes longer than this, retries included (default "
        f"{DEFAULT_DEADLINE / 60:g} minutes); an answer is also given up when the provider "
        f"sends nothing for {DEFAULT_STALL / 60:g} minutes",
    )  # fmt: skip
    group.add_argument("--context-tokens", type=int, help="the model's context window")
    group.add_argument(
        "--list-models", action="store_true", help="print the provider's models and exit"
    )


@dataclass
class AssistantSetup:
    provider: ChatProvider
    config: AssistantConfig
    status: str  # one line for the terminal: connected, or what is wrong


class SetupError(Exception):
    """The options cannot make a working assistant; ``str()`` says why."""


async def assistant_from_args(args: argparse.Namespace) -> AssistantSetup | None:
    """The provider and assistant settings the options ask for (None for ``--provider none``).

    Raises :class:`SetupError` for unusable options. A provider that does not answer is not
    an error here: the room still opens, and the status line says what is wrong.
    """
    if args.provider == "none":
        return None
    for value, flag in (
        (args.token_budget, "--token-budget"),
        (args.answer_quota, "--answer-quota"),
    ):
        if value is not None and value < 1:
            raise SetupError(f"{flag} must be at least 1")
    if not 0.5 <= args.answer_deadline <= MAX_DEADLINE_MINUTES:
        raise SetupError(f"--answer-deadline must be 0.5 to {MAX_DEADLINE_MINUTES} minutes")
    persona = args.persona
    if args.persona_file is not None:
        try:
            persona = args.persona_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise SetupError(f"cannot read {args.persona_file}: {exc.strerror}") from None
    if args.base_url is None and args.provider in ("openai", "compatible"):
        args.base_url = os.environ.get(OPENAI_BASE_URL_ENV) or None
    try:
        settings = ProviderSettings.from_preset(
            args.provider, model=args.model or DEFAULT_MODELS.get(args.provider, ""),
            base_url=args.base_url, context_tokens=args.context_tokens,
            allow_key_over_http=args.allow_key_over_http,
            answer_deadline=args.answer_deadline * 60,
        )  # fmt: skip
    except InsecureKeyTransport as exc:
        raise SetupError(
            f"not sending the API key unencrypted (http://) to {exc.where}: use https://, "
            "or pass --allow-key-over-http if everyone on this network may read it"
        ) from None
    except ValueError as exc:
        raise SetupError(str(exc)) from None
    provider = ChatProvider(settings)
    if not settings.model:  # a local server: take the first model it offers
        try:
            models = await provider.list_models()
        except ProviderError as exc:
            await provider.aclose()
            raise SetupError(f"{exc} Or pass --model.") from None
        if not models:
            await provider.aclose()
            raise SetupError(f"{settings.label} offers no models; pass --model")
        settings = dataclasses.replace(settings, model=models[0])
        await provider.aclose()
        provider = ChatProvider(settings)
    report = await provider.check()
    status = report.message if report.ok else f"Warning: {report.message}"
    if report.problem is ProviderProblem.NO_KEY:
        status += f" Set {PROVIDER_KEY_ENV} (never a command-line option)"
        if os.environ.get(OPENAI_KEY_ENV):
            status += f"; {OPENAI_KEY_ENV} is sent only to OpenAI or to {OPENAI_BASE_URL_ENV}"
        status += "."
    config = AssistantConfig(
        model=settings.model, provider=settings.label, provider_kind=settings.kind,
        name=args.assistant_name, mode=args.answer_mode, persona=persona,
        token_budget=args.token_budget, answer_quota=args.answer_quota,
        quota_window=args.quota_window * 60,
    )  # fmt: skip
    return AssistantSetup(provider, config, status)
