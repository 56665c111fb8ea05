"""`@path` mentions (glmchat.mentions) and the picker's file list (glmchat.workspace_files)."""

from __future__ import annotations

import os
import time

import pytest

from glmchat.errors import GlmchatError
from glmchat.mentions import find_mentions, read_mentions
from glmchat.tools.direct import MAX_ATTACH_CHARS
from glmchat.tools.workspace import Workspace
from glmchat.workspace_files import list_files, rank


@pytest.fixture
def ws(tmp_path) -> Workspace:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "notes.txt").write_text("remember the milk\n")
    (root / "src" / "app.py").write_text("one\ntwo\nthree\n")
    return Workspace(root)


def specs(text: str, ws: Workspace) -> list[str]:
    return [m.spec for m in find_mentions(text, ws)]


def test_a_mention_of_a_workspace_file_is_found_with_its_span(ws):
    [m] = find_mentions("summarise @notes.txt please", ws)
    assert (m.spec, m.start, m.end) == ("notes.txt", 10, 20)
    assert specs("@src/app.py:2-3 then @notes.txt", ws) == ["src/app.py:2-3", "notes.txt"]


def test_trailing_punctuation_is_not_part_of_the_path(ws):
    assert specs("look at @notes.txt. And (@src/app.py), ok?", ws) == ["notes.txt", "src/app.py"]


def test_emails_decorators_missing_paths_folders_and_outside_paths_stay_text(ws, tmp_path):
    (tmp_path / "secret.txt").write_text("x")
    text = "mail a@b.com or me@notes.txt\n@decorator\ndef f(): ...\n@nope.txt @src @../secret.txt @/etc/hostname"
    assert specs(text, ws) == []


def test_a_symlink_out_of_the_workspace_is_not_a_mention(ws, tmp_path):
    (tmp_path / "outside.txt").write_text("secret")
    os.symlink(tmp_path / "outside.txt", ws.root / "link.txt")
    assert specs("@link.txt", ws) == []


def test_read_mentions_attaches_each_file_once_as_read_does(ws):
    got = read_mentions("@src/app.py:2-3 and @notes.txt, again @notes.txt", ws)
    assert got == [("src/app.py:2-3", "two\nthree\n"), ("notes.txt", "remember the milk\n")]
    assert read_mentions("no mentions, a@b.com", ws) == []


def test_a_mentioned_file_too_long_to_attach_names_the_mention_and_a_range(ws):
    (ws.root / "big.log").write_text("x" * (MAX_ATTACH_CHARS + 10) + "\n")
    with pytest.raises(GlmchatError) as info:
        read_mentions("see @big.log", ws)
    assert info.value.message.startswith("@big.log: ") and "@PATH:A-B" in (info.value.hint or "")


def test_listing_respects_gitignore_files_nested_and_negated(tmp_path):
    root = tmp_path / "repo"
    for rel in ("a.py", "node_modules/x/i.js", "build/out.o", "build/keep.o", "sub/a.txt", "sub/b.md", ".git/config"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    (root / ".gitignore").write_text("node_modules/\n*.o\n!keep.o\n")
    (root / "sub" / ".gitignore").write_text("*.txt\n")
    assert list_files(root) == [".gitignore", "a.py", "build/keep.o", "sub/.gitignore", "sub/b.md"]


def test_listing_stops_at_its_limit(tmp_path):
    for i in range(30):
        (tmp_path / f"f{i}.txt").write_text("x")
    assert len(list_files(tmp_path, limit=10)) == 10


def test_rank_is_fuzzy_and_prefers_file_names_and_short_paths():
    paths = ["docs/application.md", "src/app.py", "src/deep/a/p/p.py", "tests/test_app.py", "README.md"]
    assert rank("app", paths)[:2] == ["src/app.py", "docs/application.md"]
    assert rank("sdpp", paths) == ["src/deep/a/p/p.py"]
    assert rank("zzz", paths) == []
    assert rank("", paths, limit=2) == paths[:2]


@pytest.mark.slow
def test_a_50k_file_tree_lists_and_ranks_quickly(tmp_path):
    for d in range(500):
        folder = tmp_path / f"pkg{d % 20}" / f"mod{d}"
        folder.mkdir(parents=True)
        for f in range(100):
            (folder / f"file_{f}.py").touch()
    (tmp_path / "pkg0" / ".gitignore").write_text("mod0/\n")
    started = time.perf_counter()
    files = list_files(tmp_path)
    listed = time.perf_counter() - started
    assert len(files) == 50_000 - 100 + 1  # mod0 ignored, the .gitignore listed
    started = time.perf_counter()
    assert rank("mod42file7", files)[0] == "pkg2/mod42/file_7.py"
    ranked = time.perf_counter() - started
    assert listed < 5.0 and ranked < 0.5, (listed, ranked)  # measured: 0.22 s and 0.07 s on 2 shared cores
