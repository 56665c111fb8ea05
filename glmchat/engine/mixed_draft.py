"""`speculative = "auto"` on a file with a NextN layer: n-gram drafts where the text repeats, MTP elsewhere.

The two drafters are good at different things. Prompt lookup (`NgramDrafter`) proposes up to 16
tokens at once, and when the model copies code it is editing nearly all of them hold; it has nothing
to say about new text. GLM's NextN head (`glmchat.engine.mtp_draft`) guesses one token anywhere, right
somewhat more often than not on a trained model. So each step asks the n-gram drafter first (with its
own match rules) and, when it has no draft, the MTP head for one token.

Each drafter keeps its own `DraftControl`, so a run of failing MTP guesses pauses MTP drafting without
pausing n-gram drafts, and the reverse; `MixedControl` presents the two to the speculative loop as one
(length, min_match, observe, drafted/accepted). A step without a draft is a single-token decode and
times both. The MTP drafter sees every decoded token either way (`decoded`), so its KV cache stays in
step with the model's whichever drafter drafted.
"""

from __future__ import annotations

from typing import Any

from glmchat.engine.speculative import DraftControl, NgramDrafter


class MixedControl:
    """The speculative loop's control over two DraftControls (n-gram's and MTP's)."""

    def __init__(self, ngram: DraftControl, mtp: DraftControl) -> None:
        self.ngram, self.mtp = ngram, mtp
        self.k_ngram = self.k_mtp = 0  # what each may draft this step (set by `length`)
        self.kind: str | None = None  # "ngram" or "mtp": which drafted this step

    @property
    def min_match(self) -> int:
        return self.ngram.min_match

    @property
    def drafted(self) -> int:
        return self.ngram.drafted + self.mtp.drafted

    @property
    def accepted(self) -> int:
        return self.ngram.accepted + self.mtp.accepted

    def length(self, room: int) -> int:
        self.k_ngram, self.k_mtp = self.ngram.length(room), self.mtp.length(room)
        self.kind = None
        return max(self.k_ngram, self.k_mtp)

    def observe(self, seconds: float, drafted: int, accepted: int) -> None:
        if drafted <= 0:  # a single-token decode: both learn what one costs
            self.ngram.observe(seconds, 0, 0)
            self.mtp.observe(seconds, 0, 0)
        elif self.kind == "ngram":
            self.ngram.observe(seconds, drafted, accepted)
        else:
            self.mtp.observe(seconds, drafted, accepted)


class MixedDrafter:
    """N-gram drafts when the recent tokens occurred before, else one MTP guess (see the module docstring)."""

    def __init__(self, ngram: NgramDrafter, mtp: Any, control: MixedControl) -> None:
        self.ngram, self.mtp, self.control = ngram, mtp, control

    def append(self, token: int) -> None:
        self.ngram.append(token)
        self.mtp.append(token)

    def propose(self, k: int, min_match: int = 0) -> list[int]:
        control = self.control
        if control.k_ngram > 0:
            draft = self.ngram.propose(min(k, control.k_ngram), min_match)
            if draft:
                control.kind = "ngram"
                return draft
        if control.k_mtp > 0:
            draft = self.mtp.propose(control.k_mtp)
            if draft:
                control.kind = "mtp"
                return draft
        return []

    def decoded(self, tokens: list[int], p0: int, n_kept: int) -> None:
        self.mtp.decoded(tokens, p0, n_kept)


def mixed(ngram: NgramDrafter, mtp_control: DraftControl, mtp_drafter: Any) -> tuple[MixedControl, MixedDrafter]:
    """The (control, drafter) pair `speculative_loop` takes for one request (`ngram`: the engine's,
    synced to this request's prompt)."""
    control = MixedControl(DraftControl(), mtp_control)
    return control, MixedDrafter(ngram, mtp_drafter, control)
