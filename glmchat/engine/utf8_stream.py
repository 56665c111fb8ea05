"""Token byte pieces → text, for engines that detokenize one token at a time."""

from __future__ import annotations

import codecs


class Utf8Stream:
    """Turns token byte pieces into text, holding back a multi-byte character split across tokens."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> str:
        return self._decoder.decode(data)

    def flush(self) -> str:
        """Whatever is left at the end (an incomplete sequence becomes U+FFFD)."""
        return self._decoder.decode(b"", final=True)
