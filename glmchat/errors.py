"""Errors people can act on.

Every expected failure (bad path, bad config, unknown quant, no network, ...) is raised as a
`GlmchatError` carrying one line that says what went wrong and, in `hint`, what to do about it.
The CLI prints it without a traceback and exits with `exit_code`; the TUI shows it as a message.
"""

from __future__ import annotations


class GlmchatError(Exception):
    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # one line, hint appended
        return f"{self.message} {self.hint}" if self.hint else self.message


class UsageError(GlmchatError):
    """The user asked for something that makes no sense (bad option values, unknown names)."""

    exit_code = 2


class ConfigError(GlmchatError):
    """config.toml is unreadable or invalid; the message names file, line and key."""


class ModelError(GlmchatError):
    """A model file could not be found, read or loaded."""


class EngineError(GlmchatError):
    """The engine failed while generating (local or remote)."""
