"""Escape injection against a real terminal (issue 14): the real TUI on SmolLM2 in tmux, with tmux set
to let programs set the clipboard (`set-clipboard on`: an OSC 52 sequence becomes a paste buffer)
and the title (`set-titles on`: OSC 0/2 change #{pane_title}). /read, /ls and /grep on a file whose
name and contents carry OSC 52, OSC 0 and CSI 2J leave the paste buffers empty and the title as it was."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.hostile_text import CLIPBOARD_SECRET, HOSTILE_NAME, HOSTILE_TEXT, SHOWN_OSC52

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


class Tmux:
    """A private tmux server (its own socket): the test never sees or touches the user's sessions."""

    def __init__(self, conf: Path) -> None:
        self.socket = f"glmchat-hostile-{uuid.uuid4().hex[:12]}"
        self.conf = conf

    def __call__(self, *args: str) -> str:
        proc = subprocess.run(["tmux", "-L", self.socket, "-f", str(self.conf), *args],
                              capture_output=True, text=True, timeout=30)
        return proc.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "app")

    def wait_for(self, text: str, seconds: float, *, must: bool = True) -> bool:
        """Wait until `text` is on the screen; fail the test on timeout unless `must` is false (a
        screen the attack wiped still gets its clipboard and title checked)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if text in self.screen():
                return True
            time.sleep(0.3)
        assert not must, f"timed out waiting for {text!r}; the screen:\n{self.screen()}"
        return False

    def hijacked(self, title: str) -> list[str]:
        """What a program did to the terminal it should not have: set the clipboard, the title."""
        found = []
        if self("list-buffers").strip():
            found.append(f"an OSC 52 sequence set the clipboard: {self('show-buffer')[:60]!r}")
        now = self("display-message", "-p", "-t", "app", "#{pane_title}")
        if now != title:
            found.append(f"the window title changed from {title!r} to {now!r}")
        return found

    def type(self, text: str) -> None:
        self("send-keys", "-t", "app", "-l", text)
        time.sleep(0.3)
        self("send-keys", "-t", "app", "Enter")

    def kill(self) -> None:
        self("kill-server")


@pytest.fixture
def tmux(tmp_path):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    conf = tmp_path / "tmux.conf"
    conf.write_text("set -g set-clipboard on\nset -g set-titles on\nset -g allow-rename on\n")
    t = Tmux(conf)
    yield t
    t.kill()


def test_read_ls_grep_on_a_hostile_file_leave_clipboard_and_title_alone(tmux, tmp_path, smollm2_path):
    pytest.importorskip("llama_cpp")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / HOSTILE_NAME).write_text(HOSTILE_TEXT)
    (ws / "notes.txt").write_text(HOSTILE_TEXT)
    config = Path(os.environ["GLMCHAT_CONFIG_DIR"])
    (config / "config.toml").write_text('[chat]\nthinking = "off"\n\n[model]\nn_ctx = 2048\n')
    env = {k: os.environ[k] for k in os.environ if k.startswith(("GLMCHAT_", "HF_")) or k in ("PATH", "HOME", "LANG")}
    command = " ".join([
        "env", *(shlex.quote(f"{k}={v}") for k, v in env.items()),
        shlex.quote(sys.executable), "-m", "glmchat", "--model", shlex.quote(str(smollm2_path)),
        "--workspace", shlex.quote(str(ws)),
    ])
    tmux("new-session", "-d", "-s", "app", "-x", "150", "-y", "40", "-c", str(ROOT), command)
    tmux.wait_for("· ready", 120)
    title = tmux("display-message", "-p", "-t", "app", "#{pane_title}")

    tmux.type("/read notes.txt")  # a notice and the chip name it (the contents go with the next message)
    tmux.wait_for("Attached notes.txt (", 20, must=False)
    assert tmux.hijacked(title) == []
    tmux.type("/ls")  # the file name
    tmux.wait_for("notes.txt  (", 20, must=False)
    time.sleep(1.0)  # every repaint written
    assert tmux.hijacked(title) == []
    tmux.type("/grep needle")  # the name and the contents
    tmux.wait_for("notes.txt:1", 20, must=False)
    time.sleep(1.0)
    assert tmux.hijacked(title) == []
    assert CLIPBOARD_SECRET not in tmux("show-buffer")

    screen = tmux.screen()  # the commands ran, and what they showed is there to read
    assert "notes.txt:1" in screen and "evil" in screen and SHOWN_OSC52 in screen, screen
    tmux("send-keys", "-t", "app", "C-q")
