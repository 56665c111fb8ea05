"""Single-client generation rate: `glmchat serve` vs llama-cpp-python's own server, same GGUF and threads.

    python benchmarks/serve_speed.py [--model PATH] [--threads 1] [--n-gen 128] [--reps 3] [--json]

Both servers run at once (each `--threads` threads, context 2048) but are asked one after the other,
in interleaved rounds, so bursts of load from other work hit them alike. Each request streams with the
openai client: the same prompt, greedy sampling (temperature 0), `max_tokens` = n. Rate = (content
chunks - 1) / (last chunk - first chunk): decoding only, the prompt excluded. Prints the medians and the
ratio glmchat / llama-cpp-python (target >= 1.0). Default model: the SmolLM2 test model.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMPT = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm, with many details."}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_up(client, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            client.models.list()
            return
        except Exception:  # noqa: BLE001 - not up yet
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"server did not come up: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.3)


def rate(client, n_gen: int) -> float:
    stamps = []
    for chunk in client.chat.completions.create(model="m", messages=PROMPT, max_tokens=n_gen, temperature=0.0, stream=True, seed=1):
        if chunk.choices and chunk.choices[0].delta.content:
            stamps.append(time.perf_counter())
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else 0.0


def main() -> None:
    import openai

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n-gen", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.model is None:
        sys.path.insert(0, str(ROOT))
        from tests.conftest import find_smollm2

        args.model = str(find_smollm2() or sys.exit("no --model and the SmolLM2 test model is not installed"))
    tmp = Path(tempfile.mkdtemp(prefix="serve-speed-"))
    (tmp / "config.toml").write_text(f"[model]\nthreads = {args.threads}\n")
    env = {**os.environ, "GLMCHAT_CONFIG_DIR": str(tmp), "GLMCHAT_DATA_DIR": str(tmp), "GLMCHAT_CACHE_DIR": str(tmp / "cache")}
    pg, pl = free_port(), free_port()
    procs = {
        "glmchat": start([sys.executable, "-m", "glmchat", "serve", "--model", args.model, "--ctx", "2048", "--port", str(pg)], env, tmp / "glmchat.log"),
        "llama-cpp-python": start([sys.executable, "-m", "llama_cpp.server", "--model", args.model, "--host", "127.0.0.1", "--port", str(pl),
                                   "--n_ctx", "2048", "--n_threads", str(args.threads), "--n_threads_batch", str(args.threads)], env, tmp / "llama.log"),
    }
    clients = {"glmchat": openai.OpenAI(base_url=f"http://127.0.0.1:{pg}/v1", api_key="x"),
               "llama-cpp-python": openai.OpenAI(base_url=f"http://127.0.0.1:{pl}/v1", api_key="x")}
    try:
        for name, client in clients.items():
            wait_up(client, procs[name], tmp / ("glmchat.log" if name == "glmchat" else "llama.log"))
            rate(client, 16)  # warm-up
        rates: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(args.reps):
            for name, client in clients.items():
                rates[name].append(rate(client, args.n_gen))
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(30)
    med = {name: statistics.median(r) for name, r in rates.items()}
    ratio = med["glmchat"] / med["llama-cpp-python"] if med["llama-cpp-python"] else 0.0
    if args.json:
        print(json.dumps({"model": args.model, "threads": args.threads, "n_gen": args.n_gen, "rates": rates, "medians": med, "ratio": ratio}))
        return
    for name, r in rates.items():
        print(f"{name:18} median {med[name]:7.1f} tok/s  runs {', '.join(f'{x:.1f}' for x in r)}")
    print(f"glmchat / llama-cpp-python: {ratio:.2f}x (target >= 1.0)")


if __name__ == "__main__":
    main()
