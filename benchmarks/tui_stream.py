"""How fast the TUI renders a stream, and what it costs a real model.

    python benchmarks/tui_stream.py [--tokens 5000] [--chunk 4] [--runs 5]
    python benchmarks/tui_stream.py --model SmolLM2.gguf [--reps 9] [--model-tokens 384] [--model-threads N]

A scripted engine yields 5,000 tokens of mixed Markdown (code fences, lists, tables) as fast as it
can; the app streams them into the thinking and answer panes exactly as it does for a real model,
headless. Prints (medians of --runs) the rate the UI sustained (tokens ÷ time from Enter to the
final answer on screen) and the delay from the engine's last token reaching the UI's queue to the
final answer on screen. Targets: ≥ 1,000 tok/s sustained, < 100 ms final render.

With --model it first measures the UI's cost to a real model: rounds of the same greedy request
run by the engine alone, by the headless chat session (`glmchat ask`'s loop) and inside the app,
and the share of one core the UI thread used. Target: under 5% of generation speed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BLOCK = """## Step {i}

Some text with **bold**, *italic* and `inline code`. A longer paragraph follows so that the answer
reads like a real one: the model explains what the code below does, why it was written this way and
what to watch out for when changing it later on.

- first item {i}
- second item with a [link](https://example.com)
  - nested item

```python
def step_{i}(x: int) -> int:
    # comment {i}
    total = 0
    for k in range(x):
        total += k * {i}
    return total + 1
```

"""

TABLE = """| name | value | note |
|------|-------|------|
| a{i} | {i} | first |
| b{i} | {i}{i} | second |

"""


def build_script(tokens: int, chunk: int) -> str:
    thinking = "Let me plan the answer step by step. " * 20
    body = ""
    i = 0
    while (len(thinking) + len("</think>") + len(body)) < tokens * chunk:
        body += BLOCK.format(i=i) + (TABLE.format(i=i) if i % 4 == 3 else "")
        i += 1
    text = thinking + "</think>" + body
    return text[: tokens * chunk]


async def run(tokens: int, chunk: int, size: tuple[int, int], rate: float = 0.0) -> dict[str, float]:
    os.environ.setdefault("GLMCHAT_CONFIG_DIR", tempfile.mkdtemp())
    os.environ.setdefault("GLMCHAT_DATA_DIR", tempfile.mkdtemp())
    from glmchat.engine.scripted import ScriptedEngine
    from glmchat.history import History
    from glmchat.settings import load_settings
    from glmchat.store import Store
    from glmchat.tui.app import GlmchatApp

    script = build_script(tokens, chunk)
    engine = ScriptedEngine(scripts=[script], chunk_chars=chunk, n_ctx=65536, delay=1.0 / rate if rate else 0.0)
    store = Store(Path(tempfile.mkdtemp()) / "bench.db")
    app = GlmchatApp(load_settings(), engine_factory=lambda p: engine, history=History(store), system_clipboard=False)
    async with app.run_test(size=size) as pilot:
        while app.chat_screen.session is None or not app.warmed.is_set():  # a real model loads for longer than the warm-up takes
            await pilot.pause(0.01)
        app.chat_screen.prompt.load_text("Write a long answer.")
        t0 = time.perf_counter()
        await pilot.press("enter")
        while app.chat_screen.turns.turns_done < 1:
            await pilot.pause(0.005)
        t1 = time.perf_counter()
        from glmchat.tui.widgets.assistant_message import AssistantMessage

        msg = app.chat_screen.chat.query(AssistantMessage).last()
        while msg.pending:  # earlier segments a fast engine sent in one batch, rendered after the tail
            await pilot.pause(0.005)
        t2 = time.perf_counter()
        segments = len(msg.segments)
        whole_ok = msg.rendered_correctly()
        n = engine.calls and app.chat_screen.session.last_usage.completion_tokens
        answer = app.chat_screen.answers()[-1]
        ok = answer.strip() == script.split("</think>", 1)[1].strip()
    return {
        "tokens": n,
        "seconds": t1 - t0,
        "tok_s": n / (t1 - t0),
        "final_render_ms": (app.chat_screen.turns.last_render_delay or 0.0) * 1000,
        "backlog_ms": (app.chat_screen.turns.last_backlog or 0.0) * 1000,
        "engine_tok_s": app.chat_screen.session.last_usage.generation_tokens_per_second,
        "answer_correct": float(ok and whole_ok),
        "rest_ms": (t2 - t1) * 1000,
        "segments": segments,
    }


def _in_thread(fn):
    """Run fn in a fresh thread, as the app runs its load and each turn (llama.cpp's OpenMP threads
    are per calling thread: a thread that keeps a pool alive slows every other thread's decode)."""
    import threading

    out: list = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]


async def real_model_cost(model: str, tokens: int, reps: int = 3, threads: int | None = None) -> tuple[dict[str, list[float]], int]:
    """Per round, for the same greedy request: the engine alone, the headless chat session (what
    `glmchat ask` runs: parser and store included) and the app, each in a fresh thread as the app
    runs a turn, alternating so all three see the same background load; the share of one core the
    UI thread used meanwhile (steadier than rates on a shared machine: with the model on every core,
    that is about what the UI takes from it); and the engine's CPU threads."""
    os.environ.setdefault("GLMCHAT_CONFIG_DIR", tempfile.mkdtemp())
    os.environ.setdefault("GLMCHAT_DATA_DIR", tempfile.mkdtemp())
    from dataclasses import replace

    from glmchat.engine.base import ChatRequest, Finished
    from glmchat.engine.local import LocalEngine
    from glmchat.history import History
    from glmchat.session import ChatSession
    from glmchat.settings import load_settings
    from glmchat.store import Store
    from glmchat.tui.app import GlmchatApp

    settings = load_settings()
    settings.chat.thinking = "off"
    params = replace(settings.profiles["general"], temperature=0.0, top_k=1, max_tokens=tokens, seed=1)
    settings.profiles["general"] = params
    engine = _in_thread(lambda: LocalEngine.load(model, n_ctx=2048, n_threads=threads))
    question = "Write a long story about a lighthouse keeper."
    req = ChatRequest(messages=[{"role": "user", "content": question}], sampling=params, enable_thinking=False)

    def alone_once() -> float:
        rate = 0.0
        for item in engine.stream(req):
            if isinstance(item, Finished):
                rate = item.usage.generation_tokens_per_second
        return rate

    def session_once() -> float:
        session = ChatSession(engine, settings, store=Store(Path(tempfile.mkdtemp()) / "s.db"))
        for _ in session.send(question):
            pass
        return session.last_usage.generation_tokens_per_second

    async def in_app_once() -> float:
        app = GlmchatApp(settings, engine_factory=lambda p: engine, history=History(Store(Path(tempfile.mkdtemp()) / "b.db")), system_clipboard=False)
        async with app.run_test(size=(120, 40)) as pilot:
            while app.chat_screen.session is None:
                await pilot.pause(0.01)
            # what Enter does, without the test pilot: pilot.press waits for the process to go idle,
            # polling all the while, which it never does while the model runs — a cost no user pays
            cpu0, wall0 = time.thread_time(), time.perf_counter()
            await app.chat_screen.send(question)
            while app.chat_screen.turns.turns_done < 1:
                await asyncio.sleep(0.2)
            ui_share.append((time.thread_time() - cpu0) / (time.perf_counter() - wall0))
            return app.chat_screen.session.last_usage.generation_tokens_per_second

    _in_thread(alone_once)  # warm-up
    ui_share: list[float] = []  # the UI thread's CPU time ÷ wall time, send → turn rendered
    rates: dict[str, list[float]] = {"engine alone": [], "headless session": [], "in the app": []}
    for _ in range(reps):
        rates["engine alone"].append(_in_thread(alone_once))
        rates["headless session"].append(_in_thread(session_once))
        rates["in the app"].append(await in_app_once())
    threads = engine.info.cpu_threads
    engine.close()
    rates["UI thread CPU %"] = [100 * x for x in ui_share]
    return rates, threads


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=5, help="scripted runs (the figures are their medians)")
    ap.add_argument("--chunk", type=int, default=4, help="characters per token")
    ap.add_argument("--rate", type=float, default=0.0, help="engine tokens per second (0 = as fast as it can)")
    ap.add_argument("--width", type=int, default=120)
    ap.add_argument("--height", type=int, default=40)
    ap.add_argument("--model", help="also measure the UI's cost on a real GGUF (engine alone vs inside the app)")
    ap.add_argument("--model-tokens", type=int, default=256)
    ap.add_argument("--reps", type=int, default=5, help="rounds of (engine alone, headless session, app) with --model")
    ap.add_argument("--model-threads", type=int, help="engine threads with --model (default: physical cores, as glmchat runs)")
    args = ap.parse_args()
    if args.model:
        import statistics

        from glmchat.engine.devices import usable_cpus

        rates, threads = asyncio.run(real_model_cost(args.model, args.model_tokens, args.reps, args.model_threads))
        med = {k: statistics.median(v) for k, v in rates.items()}
        print(f"real model: {Path(args.model).name}, {threads} engine threads on {usable_cpus()} CPUs, {args.model_tokens} tokens × {args.reps}")
        for name, values in rates.items():
            unit = "" if name.endswith("%") else " tok/s"
            print(f"  {name:<18} {med[name]:7.1f}{unit} median   runs: {', '.join(f'{x:.1f}' for x in values)}")
        app = rates["in the app"]
        for base in ("headless session", "engine alone"):
            per_round = 100 * (1 - statistics.median(b / a for a, b in zip(rates[base], app)))
            print(f"  UI cost vs {base:<17} {100 * (1 - med['in the app'] / med[base]):4.1f}% of the medians, {per_round:4.1f}% round by round   (target < 5%)")
    import statistics

    runs = [asyncio.run(run(args.tokens, args.chunk, (args.width, args.height), args.rate)) for _ in range(args.runs)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    each = lambda k, fmt: ", ".join(format(r[k], fmt) for r in runs)  # noqa: E731
    print(f"scripted engine, {args.tokens:,} tokens of mixed Markdown, {args.runs} runs (medians; each run in brackets)")
    print(f"engine alone           {med['engine_tok_s']:,.0f} tok/s (scripted, {f'paced at {args.rate:,.0f} tok/s' if args.rate else 'no delay'})")
    print(f"UI sustained           {med['tok_s']:,.0f} tok/s   (target >= 1,000)   [{each('tok_s', ',.0f')}]")
    print(f"last token -> render   {med['final_render_ms']:.1f} ms   (target < 100; the engine's last token queued → the final answer on screen)   [{each('final_render_ms', '.0f')}]")
    print(f"engine done -> render  {med['backlog_ms']:.1f} ms   (how far the UI lagged an instant engine)   [{each('backlog_ms', '.0f')}]")
    print(f"earlier parts rendered {med['rest_ms']:.0f} ms later  ({runs[0]['segments']} Markdown segments; off-screen when following the end)")
    correct = all(r["answer_correct"] for r in runs)
    print(f"final answer correct   {'yes' if correct else 'NO'} (every run)")
    ok = med["tok_s"] >= 1000 and med["final_render_ms"] < 100 and correct
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
