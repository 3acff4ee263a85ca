"""GPT Group's core: rooms, protocol, networking and the assistant. Asyncio only, no Qt."""

from __future__ import annotations

__all__ = ["APP_NAME", "__version__"]

APP_NAME = "GPT Group"
__version__ = "0.1.0"
