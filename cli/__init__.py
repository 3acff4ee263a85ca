"""Command-line entry points that need no screen: ``gptgroup-host`` and ``gptgroup-chat``."""
