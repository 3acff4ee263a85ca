"""Counting tokens to fit a conversation into a model's context window.

OpenAI models are counted with tiktoken using the ``cl100k_base`` table that ships with the
app (``resources/cl100k_base.tiktoken``, checked against OpenAI's published SHA-256), so
nothing is downloaded at run time. Newer OpenAI models use ``o200k_base``, which needs fewer
tokens for the same text, so counting them with ``cl100k_base`` errs on the safe side. Models
of other providers have unknown tokenizers: they get a conservative estimate (one token per
three bytes of UTF-8, which over-counts English and matches one token per CJK character).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
from collections.abc import Callable

__all__ = ["TokenCounter", "context_window_for"]

log = logging.getLogger("gptgroup.ai.tokens")

MESSAGE_OVERHEAD = 4  # tokens each chat message costs beyond its text (role, separators)

# Context windows of OpenAI models by name prefix (longest prefix wins).
_OPENAI_WINDOWS = {
    "gpt-3.5": 16_385,
    "gpt-4": 8_192,
    "gpt-4-turbo": 128_000,
    "gpt-4o": 128_000,
    "gpt-4.1": 1_000_000,
    "gpt-4.5": 128_000,
    "gpt-5": 400_000,
    "o1": 200_000,
    "o3": 200_000,
    "o4": 200_000,
}
DEFAULT_LOCAL_WINDOW = 8_192
DEFAULT_CLOUD_WINDOW = 32_000


def context_window_for(model: str, provider_kind: str, override: int | None = None) -> int:
    """The context window to plan for: ``override``, else what is known of the model."""
    if override:
        return override
    if provider_kind == "cloud":
        matches = [p for p in _OPENAI_WINDOWS if model.startswith(p)]
        if matches:
            return _OPENAI_WINDOWS[max(matches, key=len)]
        return DEFAULT_CLOUD_WINDOW
    return DEFAULT_LOCAL_WINDOW


# cl100k_base as tiktoken defines it (tiktoken_ext/openai_public.py).
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
CL100K_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}


def load_cl100k_ranks(data: bytes) -> dict[bytes, int]:
    """The merge ranks of a ``.tiktoken`` file; ``ValueError`` unless it is the real table."""
    if hashlib.sha256(data).hexdigest() != CL100K_SHA256:
        raise ValueError("the cl100k_base table does not match OpenAI's published hash")
    return {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }


@functools.cache
def _cl100k() -> Callable[[str], int] | None:
    try:
        import tiktoken  # noqa: PLC0415 (loaded on first use: it builds a 100k-entry table)

        from resources import read_bytes  # noqa: PLC0415

        encoding = tiktoken.Encoding(
            "cl100k_base",
            pat_str=CL100K_PATTERN,
            mergeable_ranks=load_cl100k_ranks(read_bytes("cl100k_base.tiktoken")),
            special_tokens=CL100K_SPECIAL,
        )
    except Exception as exc:  # a missing or damaged table: fall back to the estimate
        log.warning("token table unavailable, estimating tokens instead: %s", exc)
        return None

    def count(text: str) -> int:
        return len(encoding.encode(text, disallowed_special=()))

    return count


def _estimate(text: str) -> int:
    return -(-len(text.encode()) // 3)


class TokenCounter:
    """Counts tokens for one model: exactly-or-above for OpenAI, conservatively otherwise."""

    def __init__(self, model: str, provider_kind: str) -> None:
        exact = _cl100k() if provider_kind == "cloud" and _looks_like_openai(model) else None
        self._count = exact or _estimate
        self.exact = exact is not None

    def text(self, text: str) -> int:
        return self._count(text)

    def message(self, message: dict[str, str]) -> int:
        return MESSAGE_OVERHEAD + self._count(message.get("content", ""))


def _looks_like_openai(model: str) -> bool:
    return model.startswith(("gpt-", "o1", "o3", "o4", "chatgpt"))
