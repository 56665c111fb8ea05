"""glmchat.terminal_text: untrusted text made safe for a terminal (issue 14, escape injection).

Written as the attack: every kind of escape sequence (CSI, OSC ended by BEL or ESC \\, DCS, APC, PM,
SOS, a lone ESC, 8-bit C1, bidi overrides, surrogate-escaped bytes) goes in; nothing a terminal
acts on comes out, and the printable rest is still there to read.
"""

from __future__ import annotations

import io
import json
import os

from hypothesis import given
from hypothesis import strategies as st

from glmchat.terminal_text import for_stream, is_terminal, visible, visible_json
from tests.hostile_text import HOSTILE_TEXT, OSC52, controls_in

ATTACKS = {
    "OSC 52 clipboard, ESC \\ ended": OSC52,
    "OSC 0 title, BEL ended": "\x1b]0;pwned\x07",
    "CSI clear screen": "\x1b[2J\x1b[H",
    "DCS": "\x1bP1$tpwned\x1b\\",
    "APC": "\x1b_Gpwned\x1b\\",
    "PM": "\x1b^pwned\x1b\\",
    "SOS": "\x1bXpwned\x1b\\",
    "lone ESC": "\x1b",
    "8-bit CSI": "\u009b2J",
    "8-bit OSC, 8-bit ST": "\u009d0;pwned\u009c",
    "bidi override": "\u202eesrever\u202c \u2067isolate\u2069",
    "backspace over text": "safe\x08\x08\x08\x08evil",
    "carriage return over a line": "rm -rf ~\rls",
    "surrogate-escaped byte 0x9b": "\udc9b2J",
}

# every character a terminal may act on, plus ordinary text around them
DANGEROUS = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A))]
SURROGATES = ["\ud800", "\udc9b", "\udcff", "\udfff"]
texts = st.text(st.one_of(st.characters(), st.sampled_from(DANGEROUS + SURROGATES)), max_size=200)


def test_each_escape_sequence_comes_out_inert_and_readable():
    for name, attack in ATTACKS.items():
        shown = visible(f"before {attack} after")
        assert controls_in(shown) == [], name
        shown.encode("utf-8")  # no lone surrogate left
        assert shown.startswith("before ") and shown.endswith(" after"), name
    assert visible(OSC52) == "␛]52;c;" + OSC52[7:-2] + "␛\\"  # the payload is shown, not run
    assert visible("\x1b]0;pwned\x07") == "␛]0;pwned␇"
    assert visible("\u009b2J") == "\\x9b2J" and visible("\udc9b") == "\\x9b"
    assert visible("\u202eabc") == "\\u202eabc"


def test_newline_and_tab_stay_and_clean_text_is_unchanged():
    text = "def f():\n\treturn 'héllo → 世界 🙂'\n"
    assert visible(text) is text
    assert visible("a\r\nb\r\n") == "a\nb\n"  # CRLF line ends read as lines


@given(texts)
def test_no_output_contains_a_character_a_terminal_interprets(text):
    shown = visible(text)
    assert controls_in(shown) == []
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in shown)
    shown.encode("utf-8")


@given(texts, texts)
def test_a_stream_can_be_sanitized_piece_by_piece(a, b):
    """One character at a time: a sequence cut between two streamed pieces is caught all the same."""
    assert visible(a + b) == visible(a) + visible(b)
    assert visible(visible(a)) == visible(a)


@given(st.text(st.characters(exclude_categories=("Cs", "Cc")).filter(lambda c: c not in DANGEROUS)))
def test_text_without_controls_is_left_alone(text):
    assert visible(text) == text


@given(st.recursive(texts, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3), max_leaves=8))
def test_json_for_a_terminal_is_the_same_value_with_nothing_to_interpret(value):
    text = visible_json(json.dumps(value, ensure_ascii=False))
    # the same JSON value: what any JSON reader makes of the plain encoding (a lone high and low
    # surrogate side by side read back as one character, in both)
    assert json.loads(text) == json.loads(json.dumps(value))
    assert controls_in(text) == [] and not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def test_only_a_terminal_gets_sanitized_text():
    """`for_stream`: a pipe or a file gets the text byte-exact, a terminal gets it made visible."""
    r, w = os.pipe()
    master, slave = os.openpty()
    try:
        with os.fdopen(w, "w") as pipe, os.fdopen(slave, "w") as tty:
            assert not is_terminal(pipe) and for_stream(pipe)(HOSTILE_TEXT) == HOSTILE_TEXT
            assert is_terminal(tty) and for_stream(tty)(HOSTILE_TEXT) == visible(HOSTILE_TEXT)
        assert not is_terminal(io.StringIO()) and not is_terminal(object())  # stand-ins without a tty
    finally:
        os.close(r)
        os.close(master)
