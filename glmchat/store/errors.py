"""Store failures, as GlmchatErrors the CLI and TUI show as one line with a hint."""

from __future__ import annotations

from glmchat.errors import GlmchatError


class StoreError(GlmchatError):
    """The conversation database could not do what was asked."""


class NotFoundError(StoreError, KeyError):
    """No conversation (or message) with that id."""

    def __str__(self) -> str:  # KeyError would quote it
        return GlmchatError.__str__(self)


class ImportFormatError(StoreError):
    """A file handed to import is not a glmchat conversation export."""
