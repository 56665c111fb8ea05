"""How fast is the conversation store? Search over 10,000 messages, and one streamed-chunk append.

    python benchmarks/store_speed.py [--messages 10000]

Targets (issue 5): search answers in under 50 ms; appending a streamed chunk costs under 1 ms
(averaged over a long stream, the periodic saves included). Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from glmchat.store import Store  # noqa: E402

WORDS = ("the model answer token cache layer expert router python rust parser stream thinking tool call file "
         "function argument result error context window prompt sample temperature quant memory speed test "
         "search index table query conversation message title export import json markdown sqlite kernel "
         "matrix vector tensor gradient batch offload device thread process lock write read").split()


def fill(store: Store, n: int, rng: random.Random) -> None:
    per_conv = 50
    conv = None
    for i in range(n):
        if i % per_conv == 0:
            conv = store.create_conversation(title=f"Benchmark conversation {i // per_conv}")
        role = "user" if i % 2 == 0 else "assistant"
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 300)))
        reasoning = " ".join(rng.choice(WORDS) for _ in range(rng.randint(50, 200))) if role == "assistant" else None
        if i == n // 2:
            text += " zanzibar"
        store.add_message(conv.id, role, text, reasoning=reasoning)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=3.0, help="length of each timed stream")
    args = ap.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        t0 = time.perf_counter()
        fill(store, args.messages, rng)
        fill_s = time.perf_counter() - t0

        queries = ["zanzibar", "tensor gradient", "python parser stream", "the", "sqlite ind", "offload device lock"]
        store.search("warm up")
        times = {}
        for q in queries:
            runs = []
            for _ in range(5):
                t = time.perf_counter()
                hits = store.search(q, limit=50)
                runs.append(time.perf_counter() - t)
            times[q] = (statistics.median(runs) * 1000, len(hits))
        worst_search = max(ms for ms, _ in times.values())

        conv = store.create_conversation(title="stream")
        stream = {}
        for background in (True, False):
            # a paced stream (a chunk about every millisecond) so the once-a-second saves happen
            writer = store.stream_writer(conv.id, min_interval=1.0, background=background)
            costs = []
            end_at = time.perf_counter() + args.seconds
            while time.perf_counter() < end_at:
                t = time.perf_counter()
                writer.append_answer("token ")
                costs.append(time.perf_counter() - t)
                time.sleep(0.001)
            stream[background] = (statistics.fmean(costs) * 1000, max(costs) * 1000, len(costs), writer.writes)
            writer.finish()
        per_chunk_ms = stream[True][0]
        store.close()

    print(f"filled {args.messages:,} messages in {fill_s:.1f} s ({args.messages / fill_s:,.0f} per second)")
    for q, (ms, n) in times.items():
        print(f"  search {q!r:24} {ms:7.2f} ms  ({n} hits)")
    ok_search = worst_search < 50
    ok_append = per_chunk_ms < 1
    print(f"search over {args.messages:,} messages: worst median {worst_search:.2f} ms "
          f"(target < 50 ms) {'OK' if ok_search else 'MISSED'}")
    for background, label in ((True, "background saver (default)"), (False, "saves in the appending thread")):
        avg, worst, n, writes = stream[background]
        print(f"  {label:30} {n:,} chunks over {args.seconds:.0f} s, {writes} saves: "
              f"average {avg * 1000:.2f} µs, slowest {worst * 1000:.0f} µs")
    print(f"streamed-chunk append: {per_chunk_ms * 1000:.2f} µs average (target < 1 ms) {'OK' if ok_append else 'MISSED'}")
    return 0 if ok_search and ok_append else 1


if __name__ == "__main__":
    sys.exit(main())
