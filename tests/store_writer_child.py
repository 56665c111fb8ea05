"""Helper process for tests/store/test_robustness.py (run as a script, not collected by pytest).

    store_writer_child.py stream DB            stream a turn forever, one line per chunk, until killed
    store_writer_child.py write DB CONV TAG N GO   wait for file GO, then add N messages "TAG i"
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from glmchat.store import Store  # noqa: E402


def stream(db: str) -> None:
    store = Store(Path(db))
    conv = store.create_conversation(title="Killed mid-turn")
    store.add_message(conv.id, "user", "Tell me a long story")
    writer = store.stream_writer(conv.id)  # default min_interval: the real setting
    print(f"conv {conv.id} {writer.message_id}", flush=True)
    end = time.time() + 60
    i = 0
    while time.time() < end:
        kind = "reasoning" if i < 60 else "answer"
        text = f"{kind[0]}{i:05d} "
        t = time.time()
        (writer.append_reasoning if kind == "reasoning" else writer.append_answer)(text)
        print(f"chunk {kind} {t:.6f} {text.strip()}", flush=True)
        i += 1
        time.sleep(0.02)


def write(db: str, conv_id: str, tag: str, n: str, go: str) -> None:
    store = Store(Path(db))
    print("ready", flush=True)
    while not Path(go).exists():
        time.sleep(0.005)
    for i in range(int(n)):
        store.add_message(int(conv_id), "user", f"{tag} {i}")
        time.sleep(0.001)  # a breath between writes, as real sessions have; both must still all land
    store.close()
    print("done", flush=True)


if __name__ == "__main__":
    {"stream": stream, "write": write}[sys.argv[1]](*sys.argv[2:])
