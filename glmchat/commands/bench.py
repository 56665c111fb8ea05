"""`glmchat bench`: prompt processing and generation tok/s through glmchat's engine, median of runs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def bench(
        model: Optional[Path] = typer.Option(None, "--model", "-m", help="GGUF to measure (default: config's model, the file the latest conversation ran on, or a downloaded quant)."),
        quant: Optional[str] = typer.Option(None, "--quant", "-q", help="Downloaded GLM-4.7-Flash quant to measure."),
        n_prompt: int = typer.Option(512, "--n-prompt", "-p", min=0, help="Prompt tokens for the pp test (0 skips it)."),
        n_gen: int = typer.Option(128, "--n-gen", "-n", min=0, help="Tokens to generate for the tg test (0 skips it)."),
        reps: int = typer.Option(3, "--reps", "-r", min=1, help="Repetitions; the median is reported."),
        threads: Optional[int] = typer.Option(None, "--threads", "-t", min=1, help="CPU threads (default: physical cores)."),
        profile: Optional[str] = typer.Option(None, "--profile", help="Sampling profile for tg (default: general)."),
        n_ctx: int = typer.Option(4096, "--ctx", min=256, help="Context size to load the model with."),
        speculative: Optional[str] = typer.Option(None, "--speculative", help="Speculative decoding: auto, ngram, off or mtp (GLM's NextN layer; n-gram on files without one)."),
        speculative_rows: bool = typer.Option(False, "--speculative-rows", help="Also tg on free text and on a copy-heavy task, with and without speculative decoding (greedy unless --profile), and the acceptance."),
        as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Also show llama.cpp's log on stderr."),
    ) -> None:
        """Measure prompt processing and generation speed (llama-bench style).

        Without --model or --quant: the model in config.toml, else the file the most recent
        conversation ran on, else a downloaded quant; it never downloads one.
        """
        import json
        import sys

        from glmchat.bench import run_bench
        from glmchat.commands.common import apply_speculative
        from glmchat.engine.base import Benchmarkable
        from glmchat.engine.factory import open_engine
        from glmchat.errors import UsageError
        from glmchat.settings import load_settings

        settings = load_settings()
        apply_speculative(settings, speculative)
        if threads:
            settings.model.threads = threads
        if n_ctx < n_prompt + n_gen + 64:
            raise UsageError(f"--ctx {n_ctx} is too small for {n_prompt} + {n_gen} tokens.", "Raise --ctx or lower -p/-n.")
        sampling = settings.profile(profile) if profile else None
        source = ""
        if model is None and quant is None:
            model, source = _recent_model(settings)
        engine = open_engine(settings, model=model, quant=quant, n_ctx=n_ctx, verbose=verbose)
        try:
            if not isinstance(engine, Benchmarkable):
                raise UsageError("bench measures the embedded engine only.", "Pass --model PATH or a downloaded --quant.")
            if not as_json:
                print(f"measuring {engine.info.model}{source} · {engine.info.backend} · {engine.info.details.get('threads')} threads · {reps} runs each…", file=sys.stderr)
            result = run_bench(engine, n_prompt=n_prompt, n_gen=n_gen, reps=reps, profile=sampling)
            if speculative_rows:
                result["speculative_rows"] = _speculative_rows(engine, n_gen or 128, reps, sampling, n_ctx)
        finally:
            engine.close()
        if as_json:
            typer.echo(json.dumps(result, indent=2))
            return
        typer.echo(f"model: {result['model']}  backend: {result['backend']}  threads: {result['threads']}  plan: {result['plan']}")
        _echo_speculative(result)
        typer.echo(f"sampling: {result['sampling']}")
        typer.echo(f"{'test':>8} {'t/s (median)':>14} {'± stdev':>9}  runs")
        for r in result["results"]:
            runs = ", ".join(f"{x:.1f}" for x in r["runs_tps"])
            typer.echo(f"{r['test']:>8} {r['median_tps']:>14.2f} {r['stdev_tps']:>9.2f}  {runs}")
        if "speculative_rows" in result:
            from glmchat.speculative_bench import speculative_lines

            typer.echo("\n".join(speculative_lines(result["speculative_rows"])))


def _speculative_rows(engine, n_gen: int, reps: int, sampling, n_ctx: int) -> dict:
    """`--speculative-rows`: glmchat.speculative_bench's tasks, off against drafting, when they fit the context."""
    import sys

    from glmchat.errors import UsageError
    from glmchat.speculative_bench import longest_prompt, measure_speculative

    need = longest_prompt(engine) + n_gen + 64
    if need > n_ctx:
        raise UsageError(f"--speculative-rows needs a context of {need} tokens (the copy task's prompt and {n_gen} tokens); --ctx is {n_ctx}.",
                         f"Pass --ctx {need} or more, or lower -n.")
    print("measuring the speculative rows (free text and a copy task, off and on)…", file=sys.stderr)
    return measure_speculative(engine, n_gen, reps=reps, sampling=sampling)


def _echo_speculative(result: dict) -> None:
    """One line: the speculative mode, what runs, the acceptance of tg's drafts."""
    spec = result["speculative"]
    line = f"speculative: {spec['mode']} (runs: {spec.get('line') or spec['runs']})"
    for r in result["results"]:
        if r.get("draft_tokens"):
            line += f"  {r['test']}: {r['accepted_draft_tokens']}/{r['draft_tokens']} drafted tokens accepted"
    typer.echo(line + (f"  note: {spec['note']}" if spec["note"] else ""))


def _recent_model(settings) -> tuple[Optional[Path], str]:
    """Without --model/--quant: config.toml's model first, else the local file the most recent
    conversation ran on (and a note saying so), else None (a downloaded quant; never a download)."""
    from glmchat.history import History
    from glmchat.run_settings import bench_model
    from glmchat.settings import db_path
    from glmchat.store import StoreError

    if not db_path().is_file():  # no conversations yet (and none made by looking)
        return None, ""
    try:
        with History(read_only_ok=True) as history:
            found = bench_model(history, settings)
    except StoreError:  # no readable history: the defaults
        return None, ""
    return (found[0], f" (the model of conversation {found[1]})") if found else (None, "")
