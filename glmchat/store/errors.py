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


class UnwritableError(StoreError):
    """The database (or its folder) cannot be written by this user: permissions, never damage.

    `cause` is what SQLite or the OS said. The file is left where it is, with every conversation in it.
    """

    def __init__(self, message: str, hint: str | None = None, *, cause: BaseException | None = None):
        super().__init__(message, hint)
        self.cause = cause
