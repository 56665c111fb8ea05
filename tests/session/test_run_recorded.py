"""A conversation records what it ran on (file, endpoint, context, profile, thinking), kept up to date
when the model, the profile or the thinking mode changes mid-conversation, and each answer keeps the
profile and thinking mode it was written with."""

from __future__ import annotations

import os

from glmchat.engine.base import EngineInfo
from glmchat.engine.scripted import ScriptedEngine
from glmchat.run_settings import RUN_KEY, RunSettings
from glmchat.session import ChatSession
from glmchat.settings import Settings
from glmchat.store import Store


def local_engine(path: str, quant: str | None = "Q8_0", n_ctx: int = 4096, replies: int = 4) -> ScriptedEngine:
    info = EngineInfo(model=os.path.basename(path).removesuffix(".gguf"), path=path, quant=quant, n_ctx=n_ctx,
                      thinking=True)
    return ScriptedEngine(["Hmm.</think>Yes."] * replies, info=info, n_ctx=n_ctx)


def turn(session: ChatSession, text: str) -> None:
    for _ in session.send(text):
        pass


def test_a_new_conversation_records_the_absolute_file_profile_thinking_and_context(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Store(tmp_path / "c.db") as store:
        session = ChatSession(local_engine("models/x.gguf"), Settings(path=tmp_path / "cfg.toml"), store=store,
                              profile="tool", thinking="preserve")
        turn(session, "hello")
        conv = store.get_conversation(session.conversation_id)
        run = RunSettings.of(conv)
        assert run.model_path == str(tmp_path / "models" / "x.gguf")  # absolute, whatever the cwd later
        assert (run.model, run.quant, run.n_ctx, run.endpoint) == ("x", "Q8_0", 4096, None)
        assert (run.profile, run.thinking_mode) == ("tool", "preserve")
        answer = store.messages(conv.id)[-1]
        assert answer.role == "assistant" and answer.meta == {"profile": "tool", "thinking": "preserve"}


def test_switching_model_profile_and_thinking_mid_conversation_updates_the_record(tmp_path):
    settings = Settings(path=tmp_path / "cfg.toml")
    with Store(tmp_path / "c.db") as store:
        session = ChatSession(local_engine(str(tmp_path / "a.gguf")), settings, store=store)
        turn(session, "one")
        cid = session.conversation_id
        store.update_conversation(cid, settings={"other": 1, RUN_KEY: store.get_conversation(cid).settings[RUN_KEY]})
        session.use_engine(local_engine(str(tmp_path / "b.gguf"), quant=None, n_ctx=8192))  # /model
        session.set_profile("tool")
        session.set_thinking("off")
        turn(session, "two")
        conv = store.get_conversation(cid)
        run = RunSettings.of(conv)
        assert (run.model_path, run.quant, run.n_ctx) == (str(tmp_path / "b.gguf"), None, 8192)
        assert (run.profile, run.thinking_mode) == ("tool", "off")
        assert conv.settings["other"] == 1  # the rest of the settings JSON is kept
        answers = [m.meta for m in store.messages(cid) if m.role == "assistant"]
        assert answers == [{"profile": "general", "thinking": "on"}, {"profile": "tool", "thinking": "off"}]


def test_an_unchanged_engine_writes_nothing_more(tmp_path):
    with Store(tmp_path / "c.db") as store:
        session = ChatSession(local_engine(str(tmp_path / "a.gguf")), Settings(path=tmp_path / "cfg.toml"), store=store)
        turn(session, "one")
        before = store.get_conversation(session.conversation_id).updated_at
        from glmchat.run_settings import record_engine

        record_engine(store, session.conversation_id, session.engine)
        assert store.get_conversation(session.conversation_id).updated_at == before


def test_a_remote_engine_is_recorded_by_its_shown_url_and_served_model(tmp_path):
    from glmchat.engine.remote import RemoteEngine
    from glmchat.run_settings import engine_record

    # nothing listens on port 9: with a model named, the engine is made without asking the server
    engine = RemoteEngine("http://alice:s3cret@127.0.0.1:9/v1", model="/srv/models/glm-flash.gguf", timeout=1)
    model, quant, run = engine_record(engine)
    assert run["endpoint"] == "http://127.0.0.1:9/v1" and run["served_model"] == "/srv/models/glm-flash.gguf"
    assert "s3cret" not in repr(run) and "alice" not in repr(run) and "model_path" not in run
    assert model == "glm-flash" and quant is None
