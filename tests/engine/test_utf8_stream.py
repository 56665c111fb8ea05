"""Token byte pieces to text: a character split over several tokens is held back until it is whole."""

from __future__ import annotations

from glmchat.engine.utf8_stream import Utf8Stream


def test_utf8_stream_holds_back_split_characters():
    data = "a🙂中é".encode()
    s = Utf8Stream()
    out = [s.feed(data[i : i + 1]) for i in range(len(data))]
    assert "".join(out) + s.flush() == "a🙂中é"
    assert out[1:4] == ["", "", ""]  # the emoji's first three bytes produce nothing yet
    assert out[4] == "🙂"
    t = Utf8Stream()
    assert t.feed(b"x\xe4\xb8") == "x"
    assert t.flush() == "\ufffd"
