"""The mixed drafter behind `speculative = "auto"` with a NextN layer, without a model: n-gram first,
MTP's one-token guess otherwise, and each drafter paced by its own control."""

from __future__ import annotations

from glmchat.engine.mixed_draft import mixed
from glmchat.engine.speculative import DraftControl, NgramDrafter


class FakeMtp:
    """Guesses `guess` after any token; records what the loop told it was decoded."""

    def __init__(self, guess: int = 7) -> None:
        self.guess, self.seen, self.decoded_calls = guess, [], []

    def append(self, token):
        self.seen.append(token)

    def propose(self, k, min_match=0):
        return [self.guess] if k > 0 else []

    def decoded(self, tokens, p0, n_kept):
        self.decoded_calls.append((list(tokens), p0, n_kept))


def pair(history):
    mtp = FakeMtp()
    control, drafter = mixed(NgramDrafter(history), DraftControl(k_start=1, k_min=1, k_max=1, cold_match=0, warm_match=0), mtp)
    control.observe(0.01, 0, 0)  # one timed single-token decode: both controls may draft now
    return control, drafter, mtp


def test_a_repeat_gets_an_ngram_draft_and_new_text_an_mtp_guess():
    control, drafter, mtp = pair([1, 2, 3, 4, 5, 6, 9, 1, 2, 3, 4, 5])
    assert control.ngram.t_one > 0 and control.mtp.t_one > 0
    drafter.append(6)  # ...1 2 3 4 5 6 occurred before, followed by 9 1 2 3
    k = control.length(100)
    assert drafter.propose(k, control.min_match) == [9, 1, 2, 3] and control.kind == "ngram"
    control.observe(0.02, 4, 4)
    assert control.ngram.accepted == 4 and control.mtp.drafted == 0
    drafter.append(42)  # nothing like it before
    assert drafter.propose(control.length(100), control.min_match) == [7] and control.kind == "mtp"
    control.observe(0.02, 1, 0)
    assert control.mtp.drafted == 1 and control.drafted == 5 and control.accepted == 4
    assert mtp.seen[-2:] == [6, 42]  # the MTP drafter follows every token too


def test_failing_mtp_guesses_pause_mtp_but_not_ngram_drafts():
    control, drafter, _ = pair(list(range(100, 140)) * 2)
    for t in (500, 501):  # two MTP guesses that neither pay nor hold
        drafter.append(t)
        assert drafter.propose(control.length(100), control.min_match) == [7]
        control.observe(1.0, 1, 0)
    assert control.mtp.paused_for > 0
    drafter.append(502)
    k = control.length(100)
    assert control.k_mtp == 0 and drafter.propose(k, control.min_match) == []  # MTP paused, no repeat: no draft
    control.observe(0.01, 0, 0)
    for t in range(100, 106):  # a repeat of an earlier run: the n-gram drafter still drafts
        drafter.append(t)
    draft = drafter.propose(control.length(100), control.min_match)
    assert draft[:3] == [106, 107, 108] and control.kind == "ngram"


def test_every_decode_reaches_the_mtp_drafter():
    control, drafter, mtp = pair([1, 2, 3])
    drafter.decoded([3, 7], 10, 1)
    assert mtp.decoded_calls == [([3, 7], 10, 1)]
