"""What a conversation ran on, and running it there again.

The session records it before each turn (`record_engine`): the model's name and quant in the
conversation's columns, and under "run" in its settings JSON either the local GGUF's absolute path
(`hub` when it is a quant in the Hugging Face cache) or the endpoint as shown (never with the
credentials a URL may carry, glmchat.engine.urls) and the model served there, plus the context size.
Profile and thinking mode have columns of their own; each assistant message also keeps the ones it
was written with (`turn_meta`), which the export reads.

`History.run_settings(id)` reads it back as a `RunSettings`; `continue_on` decides what
`glmchat ask -c/--conversation`, `glmchat -c/--conversation` open, and `bench_model` what `glmchat
bench` measures. An explicit --model/--quant/--endpoint (and --ctx) wins over the record; a
recorded file that is gone is a ModelError that says so (exit 1), never a download.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glmchat.errors import ModelError

if TYPE_CHECKING:
    from glmchat.engine.base import Engine
    from glmchat.history import History
    from glmchat.settings import Settings
    from glmchat.store import Conversation

RUN_KEY = "run"  # the key of the record in a conversation's settings JSON


@dataclass(frozen=True)
class RunSettings:
    """What one conversation ran on (fields it never recorded are None)."""

    model: str | None = None  # display name
    quant: str | None = None
    model_path: str | None = None  # absolute path of the local GGUF
    hub: bool = False  # model_path is a quant in the Hugging Face cache (found again by its quant)
    endpoint: str | None = None  # as shown: never with credentials
    served_model: str | None = None  # the model's id on the endpoint
    n_ctx: int | None = None
    profile: str | None = None
    thinking_mode: str | None = None

    @classmethod
    def of(cls, conv: Conversation) -> RunSettings:
        run = conv.settings.get(RUN_KEY) if isinstance(conv.settings, dict) else None
        run = run if isinstance(run, dict) else {}

        def text(key: str) -> str | None:
            value = run.get(key)
            return value if isinstance(value, str) and value else None

        n_ctx = run.get("n_ctx")
        return cls(model=conv.model, quant=conv.quant, model_path=text("model_path"), hub=run.get("hub") is True,
                   endpoint=text("endpoint"), served_model=text("served_model"),
                   n_ctx=n_ctx if isinstance(n_ctx, int) and not isinstance(n_ctx, bool) and n_ctx > 0 else None,
                   profile=conv.profile, thinking_mode=conv.thinking_mode)

    @property
    def recorded(self) -> bool:
        """True when it says where to run again (a file or an endpoint), not only a model's name."""
        return bool(self.model_path or self.endpoint)

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) pairs for `history show`: what it ran on, as far as it was recorded."""
        rows: list[tuple[str, str]] = []
        if self.model:
            rows.append(("model", self.model + (f" ({self.quant})" if self.quant else "")))
        if self.model_path:
            rows.append(("file", self.model_path + (" (downloaded quant)" if self.hub else "")))
        if self.endpoint:
            served = f" · model {self.served_model}" if self.served_model and self.served_model != self.model else ""
            rows.append(("endpoint", self.endpoint + served))
        if self.n_ctx:
            rows.append(("context", f"{self.n_ctx:,} tokens"))
        if self.profile:
            rows.append(("profile", self.profile))
        if self.thinking_mode:
            rows.append(("thinking", self.thinking_mode))
        return rows


# ---- recording -----------------------------------------------------------------------------------


def engine_record(engine: Engine) -> tuple[str | None, str | None, dict[str, Any]]:
    """(model name, quant, the "run" record) of what `engine` runs."""
    info = engine.info
    run: dict[str, Any] = {}
    if info.backend == "remote":
        from glmchat.engine.remote import RemoteEngine
        from glmchat.engine.urls import shown_url

        if info.path:
            run["endpoint"] = shown_url(info.path)
        if isinstance(engine, RemoteEngine):
            run["served_model"] = engine.model
    elif info.path:
        path = os.path.abspath(os.path.expanduser(info.path))
        run["model_path"] = path
        if _in_hub_cache(path):
            run["hub"] = True
    if info.n_ctx:
        run["n_ctx"] = int(info.n_ctx)
    return info.model or None, info.quant, run


def _in_hub_cache(path: str) -> bool:
    from glmchat.hub.cache import repo_dir

    try:
        return Path(path).is_relative_to(os.path.abspath(repo_dir()))
    except (OSError, ValueError):
        return False


def record_engine(store: Any, conv_id: int, engine: Engine) -> None:
    """Make conversation `conv_id`'s record say it runs on `engine` (written only when it changed)."""
    model, quant, run = engine_record(engine)
    conv = store.get_conversation(conv_id)
    if conv.model == model and conv.quant == quant and conv.settings.get(RUN_KEY) == run:
        return
    store.update_conversation(conv_id, model=model, quant=quant, settings={**conv.settings, RUN_KEY: run})


def turn_meta(profile: str, thinking: str) -> dict[str, Any]:
    """What an assistant message keeps of how it was written (the export's per-turn profile)."""
    return {"profile": profile, "thinking": thinking}


# ---- running it again ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineChoice:
    """What to open: `open_engine`'s model/quant/endpoint/n_ctx, and the served model to ask for."""

    model: Path | None = None
    quant: str | None = None
    endpoint: str | None = None
    n_ctx: int | None = None
    served_model: str | None = None
    source: str = ""  # "" (the options or the defaults), else e.g. "conversation 4"

    def prepare(self, settings: Settings) -> dict[str, Any]:
        """open_engine's keyword arguments; [remote] model set to the recorded served model."""
        if self.served_model:
            settings.remote.model = self.served_model
        args = asdict(self)
        del args["served_model"], args["source"]
        return args


def continue_on(history: History | None, conv_id: int | None, settings: Settings, *, model: Path | None = None,
                quant: str | None = None, endpoint: str | None = None, n_ctx: int | None = None) -> EngineChoice:
    """The engine to continue conversation `conv_id` on: the options given win, else what it ran on.

    No conversation, or one recorded before glmchat kept this: the options (and then the defaults).
    A recorded file that is gone raises ModelError naming it and the options that choose another.
    """
    explicit = EngineChoice(model=model, quant=quant, endpoint=endpoint, n_ctx=n_ctx)
    if history is None or conv_id is None:
        return explicit
    run = history.run_settings(conv_id)
    if model or quant or endpoint or not run.recorded:
        local = bool(model or quant) or not (endpoint or settings.remote.base_url)
        return EngineChoice(model=model, quant=quant, endpoint=endpoint,
                            n_ctx=n_ctx or (run.n_ctx if local and run.model_path else None))
    source = f"conversation {conv_id}"
    if run.endpoint:
        return EngineChoice(endpoint=_reconnect_url(run.endpoint, settings), served_model=run.served_model,
                            n_ctx=n_ctx, source=source)
    return EngineChoice(model=_recorded_file(run, conv_id), n_ctx=n_ctx or run.n_ctx, source=source)


def _reconnect_url(shown: str, settings: Settings) -> str:
    """The recorded endpoint; config's [remote] base_url when it is the same one (it may carry credentials)."""
    from glmchat.engine.urls import shown_url

    configured = settings.remote.base_url
    return configured if configured and shown_url(configured) == shown else shown


def _recorded_file(run: RunSettings, conv_id: int) -> Path:
    path = Path(run.model_path or "")
    try:
        path.stat()
        return path
    except OSError as exc:
        why = exc.strerror or str(exc)
    if run.hub and run.quant:  # a newer snapshot of the same quant in the Hugging Face cache
        from glmchat.hub.cache import local_model_path

        found = local_model_path(run.quant)
        if found is not None:
            return found
    raise ModelError(
        f"Conversation {conv_id} ran on {path}, which cannot be opened now ({why}).",
        "Put the file back, or continue it on another model: pass --model PATH, --quant NAME or --endpoint URL.",
    )


def bench_model(history: History | None, settings: Settings) -> tuple[Path, int] | None:
    """(file, conversation id) of the most recent conversation that ran on a local file still there;
    None when config.toml names a model (it comes first) or there is none."""
    if history is None or settings.model.path:
        return None
    for conv in history.list(limit=50):
        run = RunSettings.of(conv)
        if run.model_path and Path(run.model_path).is_file():
            return Path(run.model_path), conv.id
    return None
