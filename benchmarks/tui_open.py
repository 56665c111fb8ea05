"""How fast the TUI opens a long stored conversation, and what a new turn costs in it.

    python benchmarks/tui_open.py [--sizes 10,100,500,1000] [--runs 3] [--turn-tokens 400]

A temporary store holds conversations of 10 … 1,000 messages: user questions and answers of about
40 lines of Markdown (headings, lists, a code block, a table now and then) with a collapsed thinking
pane, as an agent session leaves them. For each size the app opens the conversation from the
sidebar (after start-up and the Markdown warm-up) and the script measures:

- open → last message on screen: from the sidebar's Enter to the last answer mounted, rendered as
  Markdown and inside the chat pane's visible region;
- the UI thread's CPU time meanwhile (steadier than the wall time on a shared machine), and how many
  of the conversation's answers had widgets then;
- a new turn: a scripted answer of --turn-tokens tokens paced at --rate tok/s (as a local model
  would send it), the UI thread's CPU time from Enter to the answer on screen, and the wall time.

Prints a table of medians (each run in brackets). Target: < 1 s to the last message at every size,
and a turn's UI cost flat in the number of messages.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ANSWER = """## Part {i}

Some text with **bold**, *italic* and `inline code`. A longer paragraph follows so that the answer
reads like a real one: the model explains what the code below does, why it was written this way and
what to watch out for when changing it later on.

- first item {i}
- second item with a [link](https://example.com)
  - nested item
- third item

```python
def step_{i}(x: int) -> int:
    # comment {i}
    total = 0
    for k in range(x):
        total += k * {i}
    if total > 100:
        return total
    return total + 1


class Helper{i}:
    def run(self) -> None:
        print(step_{i}(10))
```

Then a closing paragraph with a little more explanation, enough to wrap over two or three lines on
an ordinary terminal, and a note about testing the change before relying on it.

{table}"""

TABLE = """| name | value | note |
|------|-------|------|
| a{i} | {i} | first |
| b{i} | {i}{i} | second |
"""


def answer_text(i: int) -> str:
    return ANSWER.format(i=i, table=TABLE.format(i=i) if i % 3 == 0 else "").rstrip() + f"\n\nEnd of answer {i}."


def fill_store(store, messages: int) -> int:
    conv = store.create_conversation(title=f"{messages} messages")
    for i in range(messages // 2):
        store.add_message(conv.id, "user", f"Question {i}: what does step {i} do, and how would you test it?")
        store.add_message(conv.id, "assistant", answer_text(i), reasoning=f"The user asks about step {i}. " * 8)
    return conv.id


def turn_script(tokens: int, chunk: int) -> str:
    body = ""
    i = 0
    while len(body) < tokens * chunk:
        body += answer_text(1000 + i) + "\n\n"
        i += 1
    return "Let me think about it.</think>" + body[: tokens * chunk]


def last_on_screen(app, expected: str) -> bool:
    from glmchat.tui.widgets.assistant_message import AssistantMessage

    chat = app.chat_screen.chat
    msgs = chat.query_children(AssistantMessage)
    if not msgs:
        return False
    msg = msgs.last()
    region = msg.region  # (checked first: the Markdown check parses the answer)
    if not region.height or not region.intersection(chat.content_region).height:
        return False
    return msg.answer == expected and msg.rendered_correctly()


async def run(messages: int, args) -> dict[str, float]:
    from glmchat.engine.scripted import ScriptedEngine
    from glmchat.history import History
    from glmchat.settings import load_settings
    from glmchat.store import Store
    from glmchat.tui.app import GlmchatApp
    from glmchat.tui.widgets.assistant_message import AssistantMessage

    store = Store(Path(tempfile.mkdtemp()) / "open.db")
    cid = fill_store(store, messages)
    expected = answer_text(messages // 2 - 1)
    engine = ScriptedEngine(scripts=[turn_script(args.turn_tokens, 4)], chunk_chars=4, n_ctx=2_000_000, delay=1.0 / args.rate)
    engine.info.n_ctx_train = 2_000_000
    app = GlmchatApp(load_settings(), engine_factory=lambda p: engine, history=History(store), system_clipboard=False)
    async with app.run_test(size=(args.width, args.height)) as pilot:
        screen = app.chat_screen
        while screen.session is None or not app.warmed.is_set():
            await pilot.pause(0.01)
        await pilot.pause(0.2)
        t0, c0 = time.perf_counter(), time.thread_time()
        opening = asyncio.create_task(screen.conversations.open_from_sidebar(cid))
        while messages and not last_on_screen(app, expected):
            if time.perf_counter() - t0 > args.give_up:
                opening.cancel()
                return dict.fromkeys(("open_s", "open_cpu_ms", "mounted", "turn_cpu_ms", "turn_s"), float("nan"))
            await asyncio.sleep(0.002)
        open_s, open_cpu = time.perf_counter() - t0, time.thread_time() - c0
        mounted = len(screen.chat.query_children(AssistantMessage))
        await opening
        await pilot.pause(0.3)
        # a new turn, sent as Enter does
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        await screen.send("One more question.")
        while screen.turns.turns_done < 1:
            await asyncio.sleep(0.02)
        msg = screen.chat.query_children(AssistantMessage).last()
        while msg.pending:
            await asyncio.sleep(0.01)
        turn_cpu = time.thread_time() - cpu0
        turn_s = time.perf_counter() - wall0
    return {"open_s": open_s, "open_cpu_ms": open_cpu * 1000, "mounted": mounted, "turn_cpu_ms": turn_cpu * 1000, "turn_s": turn_s}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="0,10,100,500,1000", help="messages per conversation, comma-separated (0: a new one)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--turn-tokens", type=int, default=400)
    ap.add_argument("--rate", type=float, default=200.0, help="tokens per second of the new turn's scripted engine")
    ap.add_argument("--width", type=int, default=120)
    ap.add_argument("--height", type=int, default=40)
    ap.add_argument("--give-up", type=float, default=60.0, help="seconds after which an open counts as failed")
    args = ap.parse_args()
    os.environ.setdefault("GLMCHAT_CONFIG_DIR", tempfile.mkdtemp())
    os.environ.setdefault("GLMCHAT_DATA_DIR", tempfile.mkdtemp())
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = {n: [asyncio.run(run(n, args)) for _ in range(args.runs)] for n in sizes}
    print(f"{args.width}×{args.height}, {args.runs} runs per size (medians; each run in brackets); new turn: "
          f"{args.turn_tokens} tokens at {args.rate:.0f} tok/s")
    print(f"{'messages':>8}  {'open → last message on screen':<44} {'UI CPU':>8}  {'answers mounted':<16} "
          f"{'new turn: UI thread CPU':<40} {'turn wall':>9}")
    ok = True
    for n, runs in rows.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        opens = ", ".join(f"{r['open_s']:.2f}" for r in runs)
        turns = ", ".join(f"{r['turn_cpu_ms']:.0f}" for r in runs)
        opened = f"{med['open_s'] * 1000:6.0f} ms [{opens}] s"
        mounted = f"{med['mounted']:.0f} of {n // 2}"
        turn = f"{med['turn_cpu_ms']:6.0f} ms [{turns}]"
        print(f"{n:>8}  {opened:<44} {med['open_cpu_ms']:5.0f} ms  {mounted:<16} {turn:<40} {med['turn_s']:7.2f} s")
        ok = ok and med["open_s"] < 1.0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
