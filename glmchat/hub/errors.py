"""Errors raised by the model hub; all are `GlmchatError`s with a hint saying what to do."""

from __future__ import annotations

from glmchat.errors import ModelError


class HubError(ModelError):
    """The Hub could not be reached or refused a request."""


class HubUnreachable(HubError):
    """The network failed or the Hub answered with a server error (5xx)."""


class HubAuthError(HubError):
    """401/403: a token is missing, wrong, or lacks access."""


class HubNotFoundError(HubError):
    """404: the repository, revision or file does not exist."""


class OfflineError(HubError):
    """HF_HUB_OFFLINE is set and the file is not in the cache."""


class DownloadError(HubError):
    """A transfer failed (after its retries); the partial file is kept for resuming."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not hash to the Hub's sha256; the file was moved aside."""

    def __init__(self, message: str, hint: str | None = None, *, corrupt_path: str | None = None):
        super().__init__(message, hint)
        self.corrupt_path = corrupt_path


class DiskFullError(DownloadError):
    """Not enough free space before starting, or ENOSPC while writing."""


class DownloadCancelled(DownloadError):
    """Ctrl-C or a cancel event stopped the transfer; the partial file is kept."""

    exit_code = 130


class NotDownloaded(HubError):
    """A quant would have to be fetched and nobody consented (a headless command): says which, how big, how."""

    def __init__(self, message: str, hint: str | None = None, *, quant: str, size: int | None = None):
        super().__init__(message, hint)
        self.quant = quant
        self.size = size
