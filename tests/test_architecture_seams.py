"""The seams ARCHITECTURE.md promises, checked by reading the source (no imports run).

- The TUI never touches sqlite3, llama_cpp, subprocesses or the store directly.
- No import cycles in glmchat/, counting imports inside functions (imports under
  `if TYPE_CHECKING:` are for annotations only and never run, so they are not edges).
- The engine protocol stays free of GLM's tags; the tags live in glm/ only.
- Sizes stay small enough to read: the app class, modules, functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "glmchat"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST):
    """Every Import / ImportFrom node that can run (at module level or inside functions)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if _is_type_checking_block(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _imported_names(module: str, path: Path) -> set[str]:
    """Fully qualified names `module` imports: modules, and `source.name` for from-imports (a
    submodule imported from its package is an edge to the submodule, not to the package)."""
    out: set[str] = set()
    for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
            continue
        if node.level:
            base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        out.update(f"{source}.{alias.name}" for alias in node.names)
    return out


def _glmchat_module(name: str) -> str | None:
    """The glmchat module an imported name lives in (`glmchat.glm.parser.X` → glmchat.glm.parser)."""
    while name and name not in MODULES:
        if "." not in name:
            return None
        name = name.rsplit(".", 1)[0]
    return name or None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        targets = {_glmchat_module(n) for n in _imported_names(module, path) if n.startswith("glmchat")}
        graph[module] = {t for t in targets if t and t != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


FORBIDDEN_IN_TUI = ("sqlite3", "llama_cpp", "subprocess", "glmchat.store")


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("glmchat.tui")))
def test_the_tui_never_imports_the_store_the_engine_library_or_subprocess(module):
    names = _imported_names(module, MODULES[module])
    bad = sorted(n for n in names for f in FORBIDDEN_IN_TUI if n == f or n.startswith(f + "."))
    assert not bad, f"{module} imports {bad}: go through the session or glmchat.history instead"


def test_the_checker_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    import subprocess\n    from glmchat.store import Store\n")
    assert {"subprocess", "glmchat.store.Store"} <= _imported_names("glmchat.tui.probe", source)


def test_glmchat_has_no_import_cycles():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_engine_protocol_knows_no_glm_tags():
    names = _imported_names("glmchat.engine.base", MODULES["glmchat.engine.base"])
    assert not any(n.startswith("glmchat.glm") for n in names)
    text = MODULES["glmchat.engine.base"].read_text(encoding="utf-8")
    assert "<|" not in text and "</think>" not in text


def test_glm_end_tokens_are_spelled_only_in_glm():
    spelled = [
        name
        for name, path in MODULES.items()
        if not name.startswith("glmchat.glm") and '"<|observation|>"' in path.read_text(encoding="utf-8")
    ]
    assert spelled == []


def _long_functions(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            above = lines[node.lineno - 2] if node.lineno > 1 else ""
            if length > 80 and "long function:" not in above:
                out.append(f"{node.name} ({length} lines)")
    return out


def test_modules_and_functions_stay_small():
    too_long = {name: n for name, path in MODULES.items() if (n := len(path.read_text(encoding="utf-8").splitlines())) > 600}
    assert too_long == {}
    long_functions = {name: f for name, path in MODULES.items() if (f := _long_functions(path))}
    assert long_functions == {}, "split them where a name explains the piece, or say why above the def ('# long function: …')"


def test_the_app_class_keeps_to_app_wide_concerns():
    tree = ast.parse(MODULES["glmchat.tui.app"].read_text(encoding="utf-8"))
    app = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "GlmchatApp")
    assert app.end_lineno - app.lineno + 1 <= 300
