"""One generation of the model: its thinking pane and its streamed Markdown answer."""

from __future__ import annotations

import asyncio

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Markdown, Static
from textual.widgets._markdown import MarkdownStream

from glmchat.terminal_text import visible
from glmchat.tui.markdown_segments import SEGMENT_CHARS, block_starts, code_blocks, rendered_correctly, split_points
from glmchat.tui.widgets.answer_markdown import AnswerMarkdown
from glmchat.tui.widgets.messages import Copy
from glmchat.tui.widgets.pending_segment import PendingSegment
from glmchat.tui.widgets.thinking_pane import ThinkingPane


class AssistantMessage(Vertical, can_focus=True):
    """One generation: a thinking pane (when there is reasoning) and a streamed Markdown answer.

    The answer is a column of Markdown widgets ("segments"): while it streams, once the last
    segment holds `SEGMENT_CHARS` of complete top-level blocks and a new block starts after a blank
    line, that segment is sealed and a new one takes the rest. So only the tail is ever re-parsed
    and re-laid out. A sealed segment settles in the background (its stream finishes, its blocks
    are checked and re-rendered only if wrong) so sealing never holds up the stream. Segments that
    arrive whole in one burst (a backlog) wait behind one placeholder line and get their Markdown a
    frame at a time, nearest the end first, so the visible tail is always rendered at once.

    Focus it and press `c` to copy the answer, `k` to copy its last code block.
    """

    class Grew(Message):
        """A sealed segment rendered in the background: the log below may need to scroll."""


    BINDINGS = [Binding("c", "copy", "Copy answer"), Binding("k", "copy_code", "Copy code")]

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.answer = ""  # as shown: terminal controls made visible (the history keeps the text as written)
        self.thinking: ThinkingPane | None = None
        self.segments: list[AnswerMarkdown | PendingSegment] = [AnswerMarkdown(classes="answer")]
        self._seg_start = 0  # offset in self.answer where the last segment begins
        self._upgrade_scheduled = False
        self._stream: MarkdownStream | None = None
        self._settling: set[asyncio.Task] = set()  # sealed segments still finishing their render
        self._upgrading = 0
        self.status = "streaming"
        self._note: str | None = None  # a stored answer's mark ("Stopped — partial answer"), shown on mount

    @classmethod
    def stored(cls, answer: str, reasoning: str | None = None, status: str = "complete", note: str | None = None) -> AssistantMessage:
        """A finished answer from the store, built whole before it mounts: its segments (cut as
        streaming would cut them) get their Markdown as they mount, in the same mount as the message;
        its thinking pane is collapsed and renders its text only when expanded."""
        msg = cls()
        msg.answer = visible(answer)  # shown, so control characters made visible
        if reasoning:
            msg.thinking = ThinkingPane.collapsed(reasoning, 0.0, classes="thinking")
        bounds = [0] + split_points(msg.answer) + [len(msg.answer)]
        msg.segments = []
        for a, b in zip(bounds, bounds[1:]):
            seg = AnswerMarkdown(msg.answer[a:b], classes="answer")
            seg.glm_start = a
            msg.segments.append(seg)
        msg._seg_start = bounds[-2]
        msg.status, msg._note = status, note
        return msg

    @property
    def markdown(self) -> AnswerMarkdown:
        """The last (streaming) segment."""
        return self.segments[-1]

    def segment_sources(self) -> list[str]:
        """The part of the answer each segment renders."""
        starts = self._starts()
        return [self.answer[a:b] for a, b in zip(starts, starts[1:] + [len(self.answer)])]

    def _starts(self) -> list[int]:
        return [getattr(seg, "glm_start", 0) for seg in self.segments]

    def compose(self) -> ComposeResult:
        if self.thinking is not None:
            yield self.thinking
        yield from self.segments
        mark = Static(self._note or "", classes="message-mark", markup=False)
        mark.display = self._note is not None
        yield mark

    def on_mount(self) -> None:
        if self._note is not None:
            self.add_class(f"-{self.status}")

    async def add_thinking(self, text: str, tokens: int) -> None:
        if self.thinking is None:
            self.thinking = ThinkingPane(classes="thinking")
            await self.mount(self.thinking, before=self.segments[0])
        self.thinking.append(text, tokens)

    async def add_answer(self, text: str) -> None:
        text = visible(text)  # `answer` is what is shown: control characters made visible, piece by piece
        if not self.answer:
            text = text.lstrip("\n")
            if not text:
                return
        pos = len(self.answer)  # everything before this is in the widgets already
        self.answer += text
        if len(self.answer) - self._seg_start >= SEGMENT_CHARS:
            burst: list[tuple[int, str]] = []
            new_tail: AnswerMarkdown | None = None
            after = self.markdown
            for cut in self._cuts(pos):
                if pos == self._seg_start and self._stream is None and not self.markdown.source and new_tail is None:
                    # a whole segment arrived in this batch: a placeholder now, Markdown a frame later
                    burst.append((pos, self.answer[pos:cut]))
                    self.markdown.glm_start = cut
                elif new_tail is None and not burst:
                    # the streaming segment ends here: it settles in the background, a new one takes over
                    await self._write(self.answer[pos:cut])
                    self._seal(cut)
                    new_tail = self.markdown
                else:
                    burst.append((pos, self.answer[pos:cut]))
                    self.markdown.glm_start = cut
                self._seg_start = cut
                pos = cut
            mounts: list = []
            if burst:
                pending = PendingSegment(burst, classes="answer-pending")
                self.segments.insert(len(self.segments) - 1, pending)
                mounts.append(pending)
            if new_tail is not None:
                mounts.append(new_tail)
                await self.mount_all(mounts, after=after)  # one mount for the whole burst
            elif mounts:
                await self.mount_all(mounts, before=self.markdown)
            if burst:
                self._schedule_upgrade()
        await self._write(self.answer[pos:])

    @property
    def pending(self) -> int:
        """Segments not rendered as Markdown yet (plain-text pieces, or sealed ones still settling)."""
        pieces = sum(len(seg.pieces) for seg in self.segments if isinstance(seg, PendingSegment))
        return pieces + len(self._settling) + self._upgrading

    def _schedule_upgrade(self) -> None:
        if not self._upgrade_scheduled:
            self._upgrade_scheduled = True
            self.set_timer(0.02, self._upgrade_one)

    async def _upgrade_one(self) -> None:
        """Render the pending piece nearest the end as Markdown (one per frame)."""
        self._upgrade_scheduled = False
        idx = next((i for i in range(len(self.segments) - 1, -1, -1) if isinstance(self.segments[i], PendingSegment)), None)
        if idx is None:
            return
        pending = self.segments[idx]
        self._upgrading += 1  # counted in `pending` until the Markdown is rendered
        try:
            start, source = pending.pop_last()
            md = AnswerMarkdown(classes="answer")
            md.glm_start = start
            self.segments.insert(idx + 1, md)
            if not pending.pieces:
                self.segments.remove(pending)
            await self.mount(md, after=pending)
            if not pending.pieces:
                await pending.remove()
            await md.update(source)
        finally:
            self._upgrading -= 1
        self.post_message(self.Grew())  # the log scrolls to the end if it follows
        if self.pending:
            self._schedule_upgrade()

    def _cuts(self, written: int) -> list[int]:
        """Where to seal segments in the tail: starts of top-level blocks that follow a blank line,
        lie in text not yet handed to the widgets, and leave at least SEGMENT_CHARS before them."""
        tail = self.answer[self._seg_start :]
        cuts: list[int] = []
        last = self._seg_start
        for offset, blank_before in block_starts(tail)[1:]:
            cut = self._seg_start + offset
            if blank_before and cut >= written and cut - last >= SEGMENT_CHARS:
                cuts.append(cut)
                last = cut
        return cuts

    async def _write(self, text: str) -> None:
        if not text:
            return
        if self._stream is None:
            self._stream = Markdown.get_stream(self.markdown)
        await self._stream.write(text)

    def _seal(self, cut: int) -> None:
        """End the streaming segment at `cut` (it settles in the background) and start a new one
        there; the caller mounts the new segment."""
        seg, stream = self.markdown, self._stream
        self._stream = None
        source = self.answer[self._seg_start : cut]
        task = asyncio.create_task(self._settle(seg, stream, source))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)
        new = AnswerMarkdown(classes="answer")
        new.glm_start = cut
        self.segments.append(new)
        self._seg_start = cut

    @staticmethod
    async def _settle(seg: AnswerMarkdown, stream: MarkdownStream | None, source: str) -> None:
        if stream is not None:
            await stream.stop()
        if not rendered_correctly(seg, source):
            await seg.update(source)

    async def finish(self, status: str, note: str | None = None) -> None:
        """Stop the stream and make sure the last segment shows its text exactly (fixes half-built fences)."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
            source = self.answer[self._seg_start :]
            if not rendered_correctly(self.markdown, source):
                await self.markdown.update(source)
        elif self.answer and len(self.segments) == 1 and not self.markdown.source:
            await self._render_whole()
        self.status = status
        if note:
            mark = self.query_one(".message-mark", Static)
            mark.update(visible(note))
            mark.display = True
            self.add_class(f"-{status}")

    async def _render_whole(self) -> None:
        """A stored answer shown at once: cut into segments the same way streaming would."""
        cuts = split_points(self.answer)
        bounds = [0] + cuts + [len(self.answer)]
        first = self.segments[0]
        await first.update(self.answer[bounds[0] : bounds[1]])
        new = []
        for a, b in zip(bounds[1:], bounds[2:]):
            seg = AnswerMarkdown(self.answer[a:b], classes="answer")
            seg.glm_start = a
            new.append(seg)
        if new:
            self.segments += new
            await self.mount_all(new, after=first)
        self._seg_start = bounds[-2]

    def rendered_correctly(self) -> bool:
        """Every segment's widgets match its part of the answer, and the parts make up the answer."""
        sources = self.segment_sources()
        if "".join(sources) != self.answer or self.pending:
            return False
        return all(rendered_correctly(seg, src) for seg, src in zip(self.segments, sources))

    def action_copy(self) -> None:
        self.post_message(Copy(self.answer, "answer"))

    def action_copy_code(self) -> None:
        blocks = code_blocks(self.answer)
        if blocks:
            self.post_message(Copy(blocks[-1], "code block"))
