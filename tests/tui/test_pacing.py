"""The stream's repaint pacing: full rate with a spare core, a CPU budget when the model fills every core."""

from __future__ import annotations

import pytest

from glmchat.engine.base import EngineInfo
from glmchat.engine.devices import usable_cpus
from glmchat.engine.scripted import ScriptedEngine
from glmchat.tui.pacing import FramePacer
from tests.tui_support import make_app, wait_for


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_remote_model_gets_full_rate_repaints():
    clock = FakeClock()
    pacer = FramePacer(interval=1 / 30, budget=0.02, cpu_clock=clock)
    assert pacer.start(engine_cpu_threads=0, cpus=2) == pytest.approx(1 / 30)
    assert not pacer.contended and not pacer.local
    clock.t += 0.050  # a costly frame changes nothing: no model shares this machine
    assert pacer.after_frame() == pytest.approx(1 / 30)


def test_a_spare_core_gets_the_spare_budget():
    clock = FakeClock()
    pacer = FramePacer(interval=1 / 30, budget=0.02, spare_budget=0.15, cpu_clock=clock)
    pacer.start(engine_cpu_threads=2, cpus=4)
    assert pacer.local and not pacer.contended
    clock.t += 0.003  # cheap frames: full rate
    assert pacer.after_frame() == pytest.approx(1 / 30)
    clock.t += 0.015  # 15 ms frames: 15 / 0.15 = 100 ms apart (the GIL is still shared with the model)
    assert pacer.after_frame() == pytest.approx(0.1)


def test_full_cores_hold_the_ui_to_its_budget():
    clock = FakeClock()
    pacer = FramePacer(interval=1 / 30, budget=0.02, max_interval=0.5, cpu_clock=clock)
    pacer.start(engine_cpu_threads=2, cpus=2)
    assert pacer.contended
    clock.t += 0.004  # 4 ms of UI CPU since the last frame → wait 4 / 0.02 = 200 ms
    assert pacer.after_frame() == pytest.approx(0.2)
    clock.t += 0.0001  # a cheap frame never goes faster than the full rate
    assert pacer.after_frame() == pytest.approx(1 / 30)
    clock.t += 0.1  # a very costly one never stalls the stream for longer than max_interval
    assert pacer.after_frame() == pytest.approx(0.5)


def test_a_model_with_cores_to_spare_is_not_contended():
    pacer = FramePacer(cpu_clock=FakeClock())
    pacer.start(engine_cpu_threads=1, cpus=2)  # e.g. a model on the GPU: one thread drives it
    assert pacer.local and not pacer.contended
    pacer.start(engine_cpu_threads=2, cpus=2)
    assert pacer.contended


def test_usable_cpus_is_positive():
    assert usable_cpus() >= 1


def busy_engine(**kw) -> ScriptedEngine:
    """A scripted engine that says it keeps every core busy, as a CPU-only local model does."""
    info = EngineInfo(model="scripted", backend="CPU", n_ctx=16384, n_ctx_train=202752, thinking=True, cpu_threads=usable_cpus())
    return ScriptedEngine(info=info, **kw)


async def test_app_paces_a_cpu_bound_engine_and_still_ends_with_the_whole_answer(tmp_path):
    answer = "".join(f"Paragraph {i}: " + "word " * 30 + "\n\n" for i in range(60))
    engine = busy_engine(scripts=["thinking…</think>" + answer], chunk_chars=3, delay=0.0005)
    app = make_app(tmp_path, engine=engine, drain_chars=500)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.chat_screen.session is not None)
        app.chat_screen.prompt.load_text("go")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat_screen.generating)
        assert app.chat_screen.turns.pacer.contended
        await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 1, timeout=30)
        assert app.chat_screen.answers()[-1].strip() == answer.strip()
        assert not app.chat_screen.turns.queue


async def test_turn_end_is_shown_at_once_even_with_a_slow_frame_rate(tmp_path):
    """The paced timer may be far off; the end of the turn wakes the UI without waiting for it."""
    engine = ScriptedEngine(scripts=["</think>short answer"], chunk_chars=4)
    app = make_app(tmp_path, engine=engine, flush_interval=30.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.chat_screen.session is not None)
        app.chat_screen.prompt.load_text("go")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 1, timeout=5)
        assert app.chat_screen.answers()[-1] == "short answer"


async def test_a_local_model_turn_pauses_cyclic_gc_and_hands_the_gil_over_quickly(tmp_path):
    import gc
    import sys

    from glmchat.tui.turn_tuning import GIL_SWITCH_INTERVAL

    before = sys.getswitchinterval()
    engine = busy_engine(scripts=["</think>" + "word " * 400], chunk_chars=4, delay=0.002)
    app = make_app(tmp_path, engine=engine)
    seen: list[tuple[bool, float]] = []
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.chat_screen.session is not None)
        app.chat_screen.prompt.load_text("go")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat_screen.generating and app.chat_screen.turns.gc_paused)
        seen.append((gc.isenabled(), sys.getswitchinterval()))
        await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 1, timeout=30)
        assert gc.isenabled() and sys.getswitchinterval() == pytest.approx(before)
    assert len(seen) == 1 and seen[0][0] is False and seen[0][1] == pytest.approx(GIL_SWITCH_INTERVAL, rel=0.01)


async def test_quitting_mid_turn_restores_gc_and_the_switch_interval(tmp_path):
    import gc
    import sys

    before = sys.getswitchinterval()
    engine = busy_engine(scripts=["</think>" + "word " * 2000], chunk_chars=4, delay=0.01)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.chat_screen.session is not None)
        app.chat_screen.prompt.load_text("go")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat_screen.turns.gc_paused)
        app.stop_background()
    assert gc.isenabled() and sys.getswitchinterval() == pytest.approx(before)
