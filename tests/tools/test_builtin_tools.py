"""The tool registry and the in-process built-in tools: reading, listing, finding, writing, editing, undo."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from glmchat.errors import GlmchatError
from glmchat.tools import ToolContext, ToolError, ToolRegistry, ToolResult, UndoLog, Workspace
from glmchat.tools.builtin import MAX_GREP_MATCHES, glob_to_regex
from glmchat.tools.registry import Tool


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text("def main():\n    return 1\n\n\ndef helper():\n    return 2\n")
    (root / "README.md").write_text("# Demo\nhello world\n")
    return Workspace(root)


@pytest.fixture
def reg() -> ToolRegistry:
    return ToolRegistry.builtin()


@pytest.fixture
def ctx(ws: Workspace) -> ToolContext:
    return ToolContext(workspace=ws, undo=UndoLog())


def run(reg: ToolRegistry, ctx: ToolContext, name: str, **args) -> ToolResult:
    return reg.execute(name, args, ctx)


# ---- registry -------------------------------------------------------------------------------------


def test_builtin_names_and_risks(reg: ToolRegistry) -> None:
    assert reg.names() == ["read_file", "list_dir", "glob", "grep", "write_file", "edit_file", "run_shell", "python", "web_fetch"]
    risks = {t.name: t.risk for t in reg}
    assert {n for n, r in risks.items() if r == "read"} == {"read_file", "list_dir", "glob", "grep"}
    assert {n for n, r in risks.items() if r == "write"} == {"write_file", "edit_file"}
    assert {n for n, r in risks.items() if r == "execute"} == {"run_shell", "python"}
    assert {n for n, r in risks.items() if r == "network"} == {"web_fetch"}
    assert reg.get("nope") is None and "grep" in reg and len(reg) == 9


def test_schemas_are_json_schema_shaped(reg: ToolRegistry) -> None:
    schemas = reg.schemas()
    json.dumps(schemas)  # serialisable
    for s in schemas:
        assert s["type"] == "function"
        fn = s["function"]
        assert set(fn) == {"name", "description", "parameters"}
        assert fn["name"].isidentifier() and len(fn["description"]) > 20
        params = fn["parameters"]
        assert params["type"] == "object"
        for key in params["required"]:
            assert key in params["properties"]
        for spec in params["properties"].values():
            assert spec["type"] in ("string", "integer", "number", "boolean")
            assert spec["description"]


def test_unknown_tool(reg: ToolRegistry, ctx: ToolContext) -> None:
    r = reg.execute("delete_everything", {}, ctx)
    assert not r.ok and "Unknown tool 'delete_everything'" in r.error and "read_file" in r.error
    assert r.for_model().startswith("Error: Unknown tool")


def test_missing_unknown_and_mistyped_arguments(reg: ToolRegistry, ctx: ToolContext) -> None:
    r = reg.execute("read_file", {}, ctx)
    assert not r.ok and "Missing required argument 'path' for read_file" in r.error and "path (string, required)" in r.error
    r = reg.execute("read_file", {"path": "README.md", "line": 3}, ctx)
    assert not r.ok and "Unknown argument 'line'" in r.error
    r = reg.execute("read_file", {"path": "README.md", "start_line": "three"}, ctx)
    assert not r.ok and "'start_line' of read_file must be of type integer, got str" in r.error
    r = reg.execute("read_file", {"path": ["README.md"]}, ctx)
    assert not r.ok and "must be of type string, got list" in r.error
    r = reg.execute("read_file", "not json", ctx)
    assert not r.ok and "must be an object" in r.error


def test_arguments_in_string_form_are_converted(reg: ToolRegistry, ctx: ToolContext) -> None:
    # a tool-call parser may hand over numbers as text, or the whole argument object as JSON text
    r = reg.execute("read_file", {"path": "src/app.py", "start_line": "2", "end_line": "2"}, ctx)
    assert r.ok and r.output.startswith("2\t    return 1")
    r = reg.execute("read_file", json.dumps({"path": "README.md"}), ctx)
    assert r.ok and "hello world" in r.output
    r = reg.execute("read_file", {"path": "README.md", "start_line": None}, ctx)
    assert r.ok


def test_registry_caps_output_with_a_note(ctx: ToolContext) -> None:
    big = Tool("big", "Returns a lot of text for the test.", {"type": "object", "properties": {}, "required": []},
               "read", lambda a, c: ToolResult("x" * 1000, ok=True), output_cap=100)
    r = ToolRegistry([big]).execute("big", {}, ctx)
    assert r.ok and r.truncated
    assert r.output == "x" * 100 + "\n[output truncated: 900 more characters]"


def test_tool_bugs_and_os_errors_do_not_raise(ctx: ToolContext) -> None:
    def boom(a, c):
        raise ZeroDivisionError("oops")

    def oserr(a, c):
        raise PermissionError(13, "Permission denied", "/x")

    schema = {"type": "object", "properties": {}, "required": []}
    reg = ToolRegistry([Tool("boom", "Raises for the test.", schema, "read", boom), Tool("oserr", "Raises for the test.", schema, "read", oserr)])
    r = reg.execute("boom", {}, ctx)
    assert not r.ok and "ZeroDivisionError: oops" in r.error
    r = reg.execute("oserr", {}, ctx)
    assert not r.ok and "Permission denied" in r.error and "/x" in r.error


def test_cancelled_context_runs_nothing(reg: ToolRegistry, ws: Workspace) -> None:
    import threading

    ev = threading.Event()
    ev.set()
    r = reg.execute("write_file", {"path": "new.txt", "content": "x"}, ToolContext(ws, cancel=ev))
    assert not r.ok and "Cancelled" in r.error and not (ws.root / "new.txt").exists()


# ---- workspace ------------------------------------------------------------------------------------


def test_escape_attempts_are_refused(reg: ToolRegistry, ctx: ToolContext, ws: Workspace, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret\n")
    outside_dir = tmp_path / "outside"
    outside_dir.mkdir()
    (outside_dir / "x.txt").write_text("outside\n")
    (ws.root / "link.txt").symlink_to(secret)
    (ws.root / "linkdir").symlink_to(outside_dir)
    attempts = ["../secret.txt", "src/../../secret.txt", str(secret), "/etc/passwd", "link.txt", "linkdir/x.txt", "linkdir", "~/x"]
    for path in attempts:
        r = run(reg, ctx, "read_file", path=path)
        assert not r.ok and "outside the workspace" in r.error, path
        assert "secret" not in r.output
    assert "through a symlink" in run(reg, ctx, "read_file", path="link.txt").error
    r = run(reg, ctx, "list_dir", path="linkdir")
    assert not r.ok and "outside the workspace" in r.error
    r = run(reg, ctx, "write_file", path="../evil.txt", content="x")
    assert not r.ok and not (tmp_path / "evil.txt").exists()
    r = run(reg, ctx, "write_file", path="linkdir/evil.txt", content="x")
    assert not r.ok and not (outside_dir / "evil.txt").exists()
    r = run(reg, ctx, "edit_file", path="link.txt", old_string="top", new_string="no")
    assert not r.ok and secret.read_text() == "top secret\n"
    r = run(reg, ctx, "grep", pattern="secret", path="..")
    assert not r.ok and "outside the workspace" in r.error
    # walking the tree does not follow links out either
    assert run(reg, ctx, "grep", pattern="outside|top secret").output.startswith("No matches")
    assert "linkdir/x.txt" not in run(reg, ctx, "glob", pattern="**/*.txt").output


def test_absolute_path_inside_and_symlink_inside_are_fine(reg: ToolRegistry, ctx: ToolContext, ws: Workspace) -> None:
    (ws.root / "alias.md").symlink_to(ws.root / "README.md")
    assert run(reg, ctx, "read_file", path=str(ws.root / "README.md")).ok
    assert "hello world" in run(reg, ctx, "read_file", path="alias.md").output
    assert ws.resolve("src/../README.md") == ws.root / "README.md"
    assert ws.contains(".") and not ws.contains("..")


def test_workspace_root_must_exist(tmp_path: Path) -> None:
    with pytest.raises(GlmchatError, match="is not a directory"):
        Workspace(tmp_path / "missing")


# ---- read_file ------------------------------------------------------------------------------------


def test_read_file_numbers_lines_and_ranges(reg: ToolRegistry, ctx: ToolContext) -> None:
    r = run(reg, ctx, "read_file", path="src/app.py")
    assert r.ok and r.output.splitlines()[0] == "1\tdef main():" and r.output.splitlines()[5] == "6\t    return 2"
    r = run(reg, ctx, "read_file", path="src/app.py", start_line=5, end_line=6)
    assert r.output == "5\tdef helper():\n6\t    return 2\n[lines 5-6 of 6]"
    r = run(reg, ctx, "read_file", path="src/app.py", start_line=9)
    assert not r.ok and "past the end" in r.error and "6 lines" in r.error
    r = run(reg, ctx, "read_file", path="src/app.py", start_line=4, end_line=2)
    assert not r.ok and "before start_line" in r.error


def test_read_file_big_file_in_ranges(reg: ToolRegistry, ctx: ToolContext, ws: Workspace) -> None:
    (ws.root / "big.txt").write_text("".join(f"l{i}\n" for i in range(1, 5001)))
    r = run(reg, ctx, "read_file", path="big.txt")
    lines = r.output.splitlines()
    assert r.ok and lines[0] == "   1\tl1" and lines[-2] == "2000\tl2000"
    assert lines[-1] == "[showing lines 1-2000 of 5000; call read_file with start_line=2001 to read more]"
    r = run(reg, ctx, "read_file", path="big.txt", start_line=4999)
    assert r.output.splitlines() == ["4999\tl4999", "5000\tl5000", "[lines 4999-5000 of 5000]"]
    # long lines: the character budget stops early and says where to continue
    (ws.root / "wide.txt").write_text(("y" * 500 + "\n") * 200)
    r = run(reg, ctx, "read_file", path="wide.txt")
    assert r.ok and not r.truncated and len(r.output) < 30_000
    assert "call read_file with start_line=" in r.output.splitlines()[-1]


def test_read_file_refuses_binary_dirs_missing_and_non_utf8(reg: ToolRegistry, ctx: ToolContext, ws: Workspace) -> None:
    (ws.root / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    r = run(reg, ctx, "read_file", path="img.png")
    assert not r.ok and "binary file" in r.error
    (ws.root / "latin1.txt").write_bytes("café\n".encode("latin-1"))
    r = run(reg, ctx, "read_file", path="latin1.txt")
    assert not r.ok and "not UTF-8" in r.error
    assert "is a directory" in run(reg, ctx, "read_file", path="src").error
    assert "No such file: nope.txt" in run(reg, ctx, "read_file", path="nope.txt").error
    (ws.root / "empty.txt").write_text("")
    assert "empty" in run(reg, ctx, "read_file", path="empty.txt").output


# ---- list_dir / glob / grep ------------------------------------------------------------------------


def test_list_dir(reg: ToolRegistry, ctx: ToolContext, ws: Workspace) -> None:
    (ws.root / "a_dir").mkdir()
    r = run(reg, ctx, "list_dir")
    assert r.ok
    assert r.output.splitlines() == ["./ (2 directories, 1 file)", "a_dir/", "src/", "README.md  (19 bytes)"]
    assert run(reg, ctx, "list_dir", path="src").output.splitlines()[1] == "app.py  (54 bytes)"
    assert "is a file" in run(reg, ctx, "list_dir", path="README.md").error
    assert "No such directory" in run(reg, ctx, "list_dir", path="zzz").error


def test_glob(reg: ToolRegistry, ctx: ToolContext, ws: Workspace) -> None:
    (ws.root / "src" / "pkg").mkdir()
    (ws.root / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    (ws.root / ".git").mkdir()
    (ws.root / ".git" / "hook.py").write_text("")
    assert run(reg, ctx, "glob", pattern="**/*.py").output.splitlines() == ["src/app.py", "src/pkg/mod.py"]
    assert run(reg, ctx, "glob", pattern="*.py").output == "No paths match '*.py'."
    assert run(reg, ctx, "glob", pattern="src/*").output.splitlines() == ["src/app.py", "src/pkg/"]
    assert run(reg, ctx, "glob", pattern="**/{README,mod}.*").output.splitlines() == ["README.md", "src/pkg/mod.py"]
    assert not run(reg, ctx, "glob", pattern="../*").ok
    assert not run(reg, ctx, "glob", pattern="/etc/*").ok


def test_glob_to_regex() -> None:
    assert glob_to_regex("*.py").match("a.py") and not glob_to_regex("*.py").match("d/a.py")
    assert glob_to_regex("**/*.py").match("a.py") and glob_to_regex("**/*.py").match("d/e/a.py")
    assert glob_to_regex("file[0-9].txt").match("file7.txt") and not glob_to_regex("file[!0-9].txt").match("file7.txt")
    assert glob_to_regex("a?c").match("abc") and not glob_to_regex("a?c").match("a/c")


def test_grep(reg: ToolRegistry, ctx: ToolContext, ws: Workspace) -> None:
    (ws.root / "blob.bin").write_bytes(b"def main\x00\x01")
    r = run(reg, ctx, "grep", pattern=r"def \w+")
    assert r.ok and r.output.splitlines() == ["src/app.py:1: def main():", "src/app.py:5: def helper():"]
    assert run(reg, ctx, "grep", pattern="hello", glob="*.py").output.startswith("No matches for 'hello'")
    assert run(reg, ctx, "grep", pattern="hello", path="README.md").output == "README.md:2: hello world"
    r = run(reg, ctx, "grep", pattern="(unclosed")
    assert not r.ok and "Bad regular expression" in r.error


def test_grep_caps_matches(reg: ToolRegistry, ctx: ToolContext, ws: Workspace) -> None:
    (ws.root / "many.txt").write_text("match\n" * 1000)
    lines = run(reg, ctx, "grep", pattern="match", path="many.txt").output.splitlines()
    assert len(lines) == MAX_GREP_MATCHES + 1 and lines[-1].startswith("[more matches not shown")


# ---- write_file / edit_file / undo -----------------------------------------------------------------


def test_write_new_file_creates_dirs_and_undo_removes_it(reg: ToolRegistry, ctx: ToolContext, ws: Workspace) -> None:
    r = run(reg, ctx, "write_file", path="new/deep/f.txt", content="one\ntwo\n")
    assert r.ok and r.output == "Created new/deep/f.txt (2 lines, 8 bytes)."
    assert (ws.root / "new/deep/f.txt").read_text() == "one\ntwo\n"
    assert r.diff.startswith("--- /dev/null\n+++ b/new/deep/f.txt\n") and "+one\n+two\n" in r.diff
    msg = ctx.undo.undo()
    assert "removed" in msg and not (ws.root / "new").exists()
    assert ctx.undo.undo().startswith("Nothing to undo")


def test_overwrite_and_undo_restores(reg: ToolRegistry, ctx: ToolContext, ws: Workspace) -> None:
    r = run(reg, ctx, "write_file", path="README.md", content="# Demo\nbye\n")
    assert r.ok and r.output == "Wrote README.md (2 lines): +1 -1 lines."
    assert "-hello world\n+bye\n" in r.diff
    assert run(reg, ctx, "write_file", path="README.md", content="# Demo\nbye\n").output.startswith("No change")
    assert len(ctx.undo) == 1
    assert "restored" in ctx.undo.undo()
    assert (ws.root / "README.md").read_text() == "# Demo\nhello world\n"
    assert "is a directory" in run(reg, ctx, "write_file", path="src", content="x").error


def test_edit_file_exact_single_match(reg: ToolRegistry, ctx: ToolContext, ws: Workspace) -> None:
    f = ws.root / "src" / "app.py"
    before = f.read_text()
    r = run(reg, ctx, "edit_file", path="src/app.py", old_string="def main():\n    return 1", new_string="def main():\n    return 42")
    assert r.ok and r.output.startswith("Edited src/app.py: +1 -1 lines.")
    assert "-    return 1\n+    return 42\n" in r.diff and r.diff in r.output
    assert "return 42" in f.read_text()
    ctx.undo.undo()
    assert f.read_text() == before


def test_edit_file_zero_and_several_matches(reg: ToolRegistry, ctx: ToolContext, ws: Workspace) -> None:
    f = ws.root / "src" / "app.py"
    before = f.read_text()
    r = run(reg, ctx, "edit_file", path="src/app.py", old_string="return 3", new_string="return 4")
    assert not r.ok and "old_string was not found in src/app.py" in r.error
    r = run(reg, ctx, "edit_file", path="src/app.py", old_string="    return", new_string="    yield")
    assert not r.ok and "occurs 2 times in src/app.py" in r.error and "more surrounding lines" in r.error
    r = run(reg, ctx, "edit_file", path="src/app.py", old_string="1\tdef main():", new_string="x")
    assert not r.ok and "line-number prefixes" in r.error
    r = run(reg, ctx, "edit_file", path="src/app.py", old_string="same", new_string="same")
    assert not r.ok and "the same" in r.error
    assert not run(reg, ctx, "edit_file", path="src/app.py", old_string="", new_string="x").ok
    assert not run(reg, ctx, "edit_file", path="missing.py", old_string="a", new_string="b").ok
    assert f.read_text() == before and len(ctx.undo) == 0


def test_edit_keeps_crlf_line_ends(reg: ToolRegistry, ctx: ToolContext, ws: Workspace) -> None:
    f = ws.root / "win.txt"
    f.write_bytes(b"a\r\nb\r\nc\r\n")
    assert run(reg, ctx, "edit_file", path="win.txt", old_string="a\nb", new_string="a\nB\nb").ok
    assert f.read_bytes() == b"a\r\nB\r\nb\r\nc\r\n"
    ctx.undo.undo()
    assert f.read_bytes() == b"a\r\nb\r\nc\r\n"


def test_undo_is_last_in_first_out_and_refuses_to_clobber(reg: ToolRegistry, ctx: ToolContext, ws: Workspace) -> None:
    f = ws.root / "README.md"
    run(reg, ctx, "edit_file", path="README.md", old_string="hello", new_string="hi")
    run(reg, ctx, "write_file", path="notes.txt", content="n\n")
    assert "1 earlier change" in ctx.undo.undo() and not (ws.root / "notes.txt").exists()
    f.write_text("changed by hand\n")
    with pytest.raises(ToolError, match="changed again"):
        ctx.undo.undo()
    assert f.read_text() == "changed by hand\n"
    assert "restored" in ctx.undo.undo(force=True) and f.read_text() == "# Demo\nhello world\n"


def test_write_preserves_content_exactly(reg: ToolRegistry, ctx: ToolContext, ws: Workspace) -> None:
    content = "no trailing newline\n\ttab, ünïcode, <tags> & \"quotes\""
    r = run(reg, ctx, "write_file", path="exact.txt", content=content)
    assert r.ok and (ws.root / "exact.txt").read_bytes() == content.encode("utf-8")
    assert "\\ No newline at end of file" in r.diff


def test_context_timeout_stops_long_walks(reg: ToolRegistry, ws: Workspace) -> None:
    for i in range(30):
        (ws.root / f"d{i}").mkdir()
    r = reg.execute("grep", {"pattern": "x"}, ToolContext(ws, timeout=1e-9))
    assert not r.ok and "ran out of time" in r.error
    assert os.path.isdir(ws.root / "d0")


def _glmchat_imports() -> dict[str, set[str]]:
    """module → the glmchat modules it imports, counting imports inside functions and TYPE_CHECKING blocks."""
    import ast

    root = Path(__file__).resolve().parents[2]
    files = {}
    for p in (root / "glmchat").rglob("*.py"):
        parts = p.relative_to(root).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p

    def known(name: str) -> str:
        while name not in files and "." in name:
            name = name.rsplit(".", 1)[0]
        return name

    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, p in files.items():
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                graph[mod] |= {known(a.name) for a in node.names if a.name.startswith("glmchat")}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = mod.split(".") if p.name == "__init__.py" else mod.split(".")[:-1]
                    base = ".".join(pkg[: len(pkg) - node.level + 1] + ([node.module] if node.module else []))
                if base.startswith("glmchat"):
                    graph[mod] |= {f"{base}.{a.name}" if f"{base}.{a.name}" in files else known(base) for a in node.names}
    return graph


@pytest.mark.parametrize("package", ["glmchat.tools", "glmchat.store"])
def test_no_module_of_the_package_is_in_an_import_cycle(package: str) -> None:
    graph = _glmchat_imports()

    def reaches(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    in_cycles = [m for m in graph if (m == package or m.startswith(package + ".")) and m in reaches(m)]
    assert in_cycles == []
