"""Text that is not valid UTF-8 reaches the store and is kept, never a traceback (issue 14, point 7).

The attack: a file name that is not UTF-8 (Python carries its bytes as lone surrogates, e.g.
"caf\\udce9.txt"), invalid stdin, or "\\ud800" in JSON used to end in UnicodeEncodeError from
SQLite. At the store boundary each lone surrogate now becomes U+FFFD and everything else is kept;
text another program wrote into the file as invalid UTF-8 reads back with U+FFFD too.
"""

from __future__ import annotations

import sqlite3

from glmchat.store import Store, clean_text

NAME = "caf\udce9.txt"  # os.listdir() of the bytes b"caf\xe9.txt"
SHOWN = "caf\ufffd.txt"


def test_every_text_field_takes_lone_surrogates(tmp_path):
    with Store(tmp_path / "c.db") as s:
        conv = s.create_conversation(system_prompt=f"see {NAME}", settings={"file": NAME}, model="m\ud800")
        user = s.add_message(conv.id, "user", f"open {NAME}")
        tool = s.add_message(conv.id, "tool", f"{NAME}  (0 bytes)", name="list\udcff", tool_call_id="c\udc80",
                             meta={NAME: NAME})
        call = s.add_message(conv.id, "assistant", "", reasoning=f"look at {NAME}",
                             tool_calls=[{"id": "c1", "name": "read_file", "arguments": {"path": NAME}}])
        s.update_message(call.id, content=f"read {NAME}", usage={"note": NAME})
        s.update_conversation(conv.id, settings={"again": NAME})
        s.rename(conv.id, f"about {NAME}")
        with s.stream_writer(conv.id, background=False, min_interval=0) as w:
            w.append_answer(f"streamed {NAME}")
        assert s.search(NAME) is not None and s.list_conversations(query=NAME) is not None

        got = s.get_conversation(conv.id)
        assert got.title == f"about {SHOWN}" and got.system_prompt == f"see {SHOWN}" and got.model == "m\ufffd"
        assert got.settings == {"again": SHOWN}
        msgs = s.messages(conv.id)
        assert msgs[0].id == user.id and msgs[0].content == f"open {SHOWN}"
        assert (msgs[1].name, msgs[1].tool_call_id, msgs[1].meta) == ("list\ufffd", "c\ufffd", {SHOWN: SHOWN})
        assert msgs[2].reasoning == f"look at {SHOWN}" and msgs[2].content == f"read {SHOWN}"
        assert msgs[2].tool_calls[0]["arguments"] == {"path": SHOWN} and msgs[2].usage == {"note": SHOWN}
        assert msgs[3].content == f"streamed {SHOWN}" and msgs[3].status == "complete"
        assert [h.message_id for h in s.search("streamed")] == [msgs[3].id]


def test_the_first_message_still_titles_the_conversation(tmp_path):
    with Store(tmp_path / "c.db") as s:
        conv = s.create_conversation()
        s.add_message(conv.id, "user", "what is in caf\udce9.txt?")
        assert s.get_conversation(conv.id).title == "what is in caf\ufffd.txt?"


def test_invalid_utf8_written_by_another_program_reads_back(tmp_path):
    path = tmp_path / "c.db"
    with Store(path) as s:
        conv = s.create_conversation(title="ok")
        s.add_message(conv.id, "user", "placeholder")
    conn = sqlite3.connect(path)
    conn.execute("UPDATE messages SET content = CAST(x'6361ffe92e747874' AS TEXT)")  # b"ca\xff\xe9.txt"
    conn.commit()
    conn.close()
    with Store(path) as s:
        assert s.messages(conv.id)[0].content == "ca\ufffd\ufffd.txt"


def test_clean_text_keeps_valid_text_and_real_pairs():
    assert clean_text("plain ü ✓ 😀") == "plain ü ✓ 😀"
    assert clean_text("\ud83d\ude00 and \ud800") == "😀 and \ufffd"  # a pair joined, a lone one replaced
