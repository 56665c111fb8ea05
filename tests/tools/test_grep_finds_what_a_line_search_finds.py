"""grep searches a whole file at once where it can (far fewer calls than one per line, each with a
time limit); it must report exactly the lines that a search of each line alone finds, including
for patterns that can run across lines (`\\s`, `[^…]`, `(?s).`) or look around, and anchors."""

from __future__ import annotations

from pathlib import Path

import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glmchat.tools import Workspace
from glmchat.tools.search import MAX_GREP_MATCHES, grep_files

PATTERNS = [
    "ab", "^a", "b$", "^$", r"^\s*$", r"a\s+b", r"\s+a", r"[^a]*b", r"a[^x]*$", "(?s)a.*b", r"\bab\b",
    r"(a|b)\1", "a{2}", "x|$", "", r"\Aa", r"b\Z", "a(?=b)", "(?<=a)b", r"(?>a\s*)b", r"a\s*+b",
    r"(?i)AB", r"^(?:ab|b)+$", r"\Bb", r"\s", r"[\s\S]{3}", r"\n", r"a$\s*^b", r"(?m)^b",
]

LINES = st.lists(st.text(alphabet="ab x\t\x0c\u2028", max_size=8), max_size=12)


def line_by_line(pattern: str, lines: list[str]) -> list[str]:
    rx = regex.compile(pattern)
    return [f"f.txt:{n}: {line}" for n, line in enumerate(lines, 1) if rx.search(line)][:MAX_GREP_MATCHES]


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=LINES, newline=st.sampled_from(["\n", "\r\n"]))
def test_grep_reports_the_lines_a_per_line_search_finds(tmp_path: Path, lines: list[str], newline: str) -> None:
    (tmp_path / "f.txt").write_text(newline.join(lines) + newline, newline="")
    ws = Workspace(tmp_path)
    expected_lines = (newline.join(lines) + newline).splitlines()
    for pattern in PATTERNS:
        out = grep_files(ws, pattern, "f.txt")
        got = [] if out.startswith("No matches") else out.splitlines()
        assert got == line_by_line(pattern, expected_lines), pattern
