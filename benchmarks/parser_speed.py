"""How fast GlmStreamParser eats raw GLM-4.7 output fed 4 characters at a time.

Generates ~20 MB of realistic raw output (reasoning, a markdown answer with code, tool calls with
string / integer / object arguments), feeds it in 4-character chunks like a token stream, and
prints MB/s (per second of this process's CPU time, so that a busy machine does not skew it; the
wall-clock figure is printed beside it) against the >= 5 MB/s target.

    python benchmarks/parser_speed.py [--mb 20] [--chunk 4]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from glmchat.glm import Answer, GlmStreamParser, IncompleteToolCall, Thinking, ToolCall  # noqa: E402

TARGET_MB_S = 5.0

TOOLS = [
    {"type": "function", "function": {"name": "read_file", "parameters": {"type": "object", "properties": {
        "path": {"type": "string"}, "start": {"type": "integer"}, "end": {"type": "integer"}}}}},
    {"type": "function", "function": {"name": "write_file", "parameters": {"type": "object", "properties": {
        "path": {"type": "string"}, "content": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "search", "parameters": {"type": "object", "properties": {
        "query": {"type": "string"}, "options": {"type": "object"}, "regex": {"type": "boolean"}}}}},
]

WORDS = ("the user wants a function that parses the file so I should check edge cases first then "
         "write tests and look at how the config is loaded because an empty value may break it").split()

CODE = '''```python
def total(items: list[int]) -> int:
    """Sum items, ignoring negatives."""
    return sum(i for i in items if i >= 0)  # a < b and b > c
```
'''


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + ". "


def _generation(rng: random.Random) -> str:
    """One generation: reasoning, then a markdown answer, then 0-3 tool calls."""
    thinking = "".join(_sentence(rng, rng.randint(6, 20)) for _ in range(rng.randint(5, 40)))
    answer = "## Plan\n\n" + "".join(f"- {_sentence(rng, rng.randint(4, 12))}\n" for _ in range(rng.randint(2, 6)))
    if rng.random() < 0.5:
        answer += "\nHere is the code:\n\n" + CODE + "\nThat handles `x < 0` & empty lists.\n"
    calls = []
    for _ in range(rng.randint(0, 3)):
        kind = rng.randrange(3)
        if kind == 0:
            calls.append("<tool_call>read_file<arg_key>path</arg_key><arg_value>src/app.py</arg_value>"
                         f"<arg_key>start</arg_key><arg_value>{rng.randint(1, 99)}</arg_value></tool_call>")
        elif kind == 1:
            calls.append("<tool_call>write_file<arg_key>path</arg_key><arg_value>out.py</arg_value>"
                         f"<arg_key>content</arg_key><arg_value>{CODE * rng.randint(1, 4)}</arg_value></tool_call>")
        else:
            calls.append('<tool_call>search<arg_key>query</arg_key><arg_value>def main</arg_value>'
                         '<arg_key>options</arg_key><arg_value>{"glob": "*.py", "limit": 20}</arg_value>'
                         "<arg_key>regex</arg_key><arg_value>false</arg_value></tool_call>")
    return thinking + "</think>" + answer + "\n".join(calls)


def make_outputs(total_chars: int, seed: int = 7) -> list[str]:
    """Whole generations (one parser each) adding up to about `total_chars` characters."""
    rng = random.Random(seed)
    outputs, size = [], 0
    while size < total_chars:
        out = _generation(rng)
        outputs.append(out)
        size += len(out)
    return outputs


def run(mb: float, chunk: int) -> float:
    outputs = make_outputs(int(mb * 1_000_000))
    pieces = [[o[i : i + chunk] for i in range(0, len(o), chunk)] for o in outputs]
    total = sum(len(o.encode()) for o in outputs)
    counts = {Thinking: 0, Answer: 0, ToolCall: 0, IncompleteToolCall: 0}
    t0, c0 = time.perf_counter(), time.process_time()
    for chunks in pieces:
        parser = GlmStreamParser(tools=TOOLS, thinking=True)
        feed = parser.feed
        for c in chunks:
            for ev in feed(c):
                counts[type(ev)] += 1
        for ev in parser.finish():
            counts[type(ev)] += 1
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    # CPU time, not wall time, decides: on a shared box other processes stretch the wall clock.
    rate = total / 1e6 / cpu
    print(f"fed {total / 1e6:.1f} MB in {chunk}-character chunks ({sum(map(len, pieces)):,} feed calls): "
          f"{cpu:.2f} s CPU, {elapsed:.2f} s wall ({total / 1e6 / elapsed:.1f} MB/s by the wall clock)")
    print(f"events: {counts[Thinking]:,} thinking, {counts[Answer]:,} answer, {counts[ToolCall]:,} tool calls, "
          f"{counts[IncompleteToolCall]:,} incomplete")
    verdict = "meets" if rate >= TARGET_MB_S else "MISSES"
    print(f"{rate:.1f} MB/s of CPU time — {verdict} the >= {TARGET_MB_S:g} MB/s target")
    return rate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=20.0, help="megabytes of raw output to generate")
    ap.add_argument("--chunk", type=int, default=4, help="characters per feed() call")
    args = ap.parse_args()
    return 0 if run(args.mb, args.chunk) >= TARGET_MB_S else 1


if __name__ == "__main__":
    sys.exit(main())
