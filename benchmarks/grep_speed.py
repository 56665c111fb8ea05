"""How fast the `grep` tool searches the project's own tree, against the implementation it replaced.

The old grep (kept below, frozen: `os.walk`, `re`, one `search` per line, no time limit) and today's
(`glmchat.tools.search.grep_files`: `regex` with a time limit and the GIL released, the walk by
directory fd, one search over each file's whole text where that finds the same lines) run the same
patterns over glmchat/ and tests/ in interleaved rounds (old, new, new, old, …, so a busy machine
hurts both alike). Each round's ratio is new time / old time over all patterns; the median ratio
is printed against the 1.5x limit (issue 14), with each pattern's own median ratio beside it.

    python benchmarks/grep_speed.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import re
import stat
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from glmchat.tools.search import grep_files  # noqa: E402
from glmchat.tools.workspace import Workspace  # noqa: E402

LIMIT = 1.5
PATHS = ("glmchat", "tests")
PATTERNS = (
    "ToolError",  # a plain word
    r"def \w+\(self",  # a definition
    r"^\s*import \w+$",  # anchored, crosses no line (whole-text search)
    r"(?i)todo|fixme",  # case-insensitive alternation
    r"\bself\.\w+ = ",  # word boundary
    "zzz_no_such_text",  # nothing matches: every line is searched
    r"(?<=def )test_\w+",  # a lookbehind: searched line by line
)

# ---- the old grep (before issue 14), frozen -------------------------------------------------------

SKIPPED = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".mypy_cache",
                     ".pytest_cache", ".ruff_cache", ".tox", ".idea"})


def old_grep(ws: Workspace, pattern: str, path: str) -> str:
    rx = re.compile(pattern)
    top = ws.resolve(path)
    hits: list[str] = []
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED)
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if p.is_symlink() and not ws.contains(p):
                continue
            try:
                if not stat.S_ISREG(p.stat().st_mode) or p.stat().st_size > 5 * 1024 * 1024:
                    continue
                data = p.read_bytes()
            except OSError:
                continue
            if b"\x00" in data[:8192]:
                continue
            rel = ws.display(p)
            for n, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
                if rx.search(line):
                    if len(hits) >= 200:
                        return "\n".join(hits)
                    hits.append(f"{rel}:{n}: {line if len(line) <= 300 else line[:300] + ' […]'}")
    return "\n".join(hits)


def new_grep(ws: Workspace, pattern: str, path: str) -> str:
    return grep_files(ws, pattern, path)


def _timed(fn, ws: Workspace, pattern: str) -> tuple[float, list[str]]:
    t0 = time.perf_counter()
    out = [fn(ws, pattern, path) for path in PATHS]
    return time.perf_counter() - t0, out


def _hits(outputs: list[str]) -> list[str]:
    return [line for out in outputs for line in out.splitlines() if not line.startswith(("No matches", "[more"))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    ws = Workspace(ROOT)
    for pattern in PATTERNS:  # the same lines, or the comparison means nothing
        if _hits(_timed(old_grep, ws, pattern)[1]) != _hits(_timed(new_grep, ws, pattern)[1]):
            print(f"different results for {pattern!r}", file=sys.stderr)
            return 1
    per_pattern: dict[str, list[float]] = {p: [] for p in PATTERNS}
    rounds: list[float] = []
    for r in range(args.rounds):
        old_total = new_total = 0.0
        for pattern in PATTERNS:
            order = (old_grep, new_grep) if r % 2 == 0 else (new_grep, old_grep)
            times = {fn: _timed(fn, ws, pattern)[0] for fn in order}
            old_total += times[old_grep]
            new_total += times[new_grep]
            per_pattern[pattern].append(times[new_grep] / times[old_grep])
        rounds.append(new_total / old_total)
        print(f"round {r + 1:2d}: old {old_total * 1000:7.1f} ms  new {new_total * 1000:7.1f} ms  ratio {rounds[-1]:.2f}")
    print()
    for pattern, ratios in per_pattern.items():
        print(f"  {pattern!r:28} new/old {statistics.median(ratios):5.2f}")
    ratio = statistics.median(rounds)
    verdict = "ok" if ratio <= LIMIT else "SLOWER than allowed"
    print(f"\nmedian per-round ratio new/old: {ratio:.2f} (limit {LIMIT}): {verdict}")
    return 0 if ratio <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
