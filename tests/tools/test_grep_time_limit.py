"""The attack: a regular expression that backtracks catastrophically, handed to grep (tool or /grep).

Before issue 14, `(a+)+$` on a 27-character line froze the whole process for ~10 s (doubling per
character): `re` holds the GIL while it matches, so neither the tool's timeout nor Esc could stop
it, and the TUI stopped answering keys. Now grep matches with the `regex` package, which releases
the GIL and stops a line after `LINE_TIMEOUT` seconds with a clear message.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from glmchat.errors import GlmchatError
from glmchat.tools import ToolContext, ToolRegistry, Workspace, search
from glmchat.tools.direct import grep_text

SLACK = 2.0  # seconds on top of the limit (a whole-file search is tried first; a busy machine)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "ok.txt").write_text("nothing odd here\n")
    (root / "evil.txt").write_text("x\n" + "a" * 36 + "\n" + "a" * 26 + "!\n")
    return Workspace(root)


@pytest.mark.parametrize("pattern", ["(a|aa)+b", "(a+)+$", r"(\w+\s?)+$", "(x+x+)+y"])
def test_a_catastrophic_pattern_returns_within_its_limit(ws: Workspace, pattern: str) -> None:
    t0 = time.monotonic()
    result = ToolRegistry.builtin().execute("grep", {"pattern": pattern}, ToolContext(ws))
    took = time.monotonic() - t0
    assert took < search.LINE_TIMEOUT + SLACK, f"{pattern}: {took:.1f} s"
    if not result.ok:  # stopped: one line saying where and why, and what to do
        assert result.error.startswith(f"The pattern was stopped after {search.LINE_TIMEOUT:g} s on evil.txt:2")
        assert "backtracks catastrophically" in result.error and "nested repeats" in result.error


def test_the_catastrophic_line_is_named_and_slash_grep_says_so_too(ws: Workspace) -> None:
    with pytest.raises(GlmchatError) as err:
        grep_text("(a|aa)+b", None, ws)
    assert err.value.message == f"The pattern was stopped after {search.LINE_TIMEOUT:g} s on evil.txt:2: it backtracks catastrophically."
    assert "(a+)+" in err.value.hint


def test_other_threads_run_while_a_pattern_backtracks(ws: Workspace) -> None:
    ticks = 0
    done = threading.Event()

    def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0.01)

    thread = threading.Thread(target=ticker, daemon=True)
    thread.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(GlmchatError, match="backtracks catastrophically"):
            grep_text("(a|aa)+b", "evil.txt", ws)
    finally:
        took = time.monotonic() - t0
        done.set()
        thread.join()
    assert ticks >= took * 100 / 4, (ticks, took)  # the ticker got the GIL all along (a 10 ms tick, 4x slack)


def test_esc_stops_a_long_search_between_lines(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "LINE_TIMEOUT", 30.0)
    (ws.root / "slow.txt").write_text(("a" * 26 + "\n") * 200)  # each line ~0.1 s: 20 s in all
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    t0 = time.monotonic()
    with pytest.raises(GlmchatError, match="Cancelled"):
        grep_text("(a|aa)+b", "slow.txt", ws, cancel)
    assert time.monotonic() - t0 < 3.0


def test_the_whole_search_stops_at_its_deadline(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "LINE_TIMEOUT", 30.0)
    (ws.root / "slow.txt").write_text(("a" * 26 + "\n") * 200)
    t0 = time.monotonic()
    with pytest.raises(GlmchatError, match="ran out of time"):
        grep_text("(a|aa)+b", "slow.txt", ws, timeout=0.5)
    assert time.monotonic() - t0 < 0.5 + SLACK


def test_a_hostile_glob_returns_promptly(ws: Workspace) -> None:
    (ws.root / ("a" * 200)).write_text("x\n")
    t0 = time.monotonic()
    result = ToolRegistry.builtin().execute("glob", {"pattern": "*a*a*a*a*a*a*a*a*a*a*a*b"}, ToolContext(ws))
    assert time.monotonic() - t0 < search.LINE_TIMEOUT + SLACK
    assert result.ok and result.output.startswith("No paths match")
