"""The Markdown export's header says which profile and thinking mode each turn ran with (from each
answer's meta), not only the conversation's present ones."""

from __future__ import annotations

from glmchat.store import Store


def conversation(store: Store, turns: list[tuple[str, str] | None], profile: str = "general") -> int:
    conv = store.create_conversation(title="t", profile=profile, thinking_mode="on")
    for i, setting in enumerate(turns, 1):
        store.add_message(conv.id, "user", f"question {i}")
        meta = {"profile": setting[0], "thinking": setting[1]} if setting else None
        store.add_message(conv.id, "assistant", f"answer {i}", meta=meta)
    return conv.id


def header(store: Store, cid: int) -> str:
    return store.export_markdown(cid).splitlines()[2]


def test_profile_and_thinking_changes_are_listed_by_turn(tmp_path):
    with Store(tmp_path / "c.db") as store:
        cid = conversation(store, [("general", "on")] * 3 + [("tool", "on"), ("tool", "off")])
        line = header(store, cid)
        assert "profile general (turns 1–3), tool (turns 4–5)" in line
        assert "thinking on (turns 1–4), off (turn 5)" in line


def test_a_profile_that_never_changed_is_named_once(tmp_path):
    with Store(tmp_path / "c.db") as store:
        cid = conversation(store, [("tool", "preserve")] * 2, profile="general")
        line = header(store, cid)
        assert "profile tool ·" in line and "thinking preserve" in line and "turn" not in line


def test_answers_from_before_meta_was_kept_fall_back_to_the_conversation(tmp_path):
    with Store(tmp_path / "c.db") as store:
        cid = conversation(store, [None, None], profile="general")
        assert "profile general · thinking on" in header(store, cid)
        mixed = conversation(store, [None, ("general", "on"), ("tool", "on")])
        assert "profile general (turn 2), tool (turn 3)" in header(store, mixed)
