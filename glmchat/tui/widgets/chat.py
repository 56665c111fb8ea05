"""The chat pane: a scrolling log of user messages, assistant messages, tool blocks and notices."""

from __future__ import annotations

import asyncio
import json
import re

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Markdown, Static
from textual.widgets._markdown import MarkdownFence, MarkdownStream

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})[^\n]*\n(?P<body>.*?)(?:^(?P=indent)?(?P=fence)[`~]*[ \t]*$|\Z)", re.M | re.S)


def code_blocks(markdown: str) -> list[str]:
    """The contents of the fenced code blocks in `markdown`, in order."""
    return [m.group("body").rstrip("\n") for m in _FENCE.finditer(markdown)]


class Copy(Message):
    """A widget asks the app to copy `text` to the clipboard."""

    def __init__(self, text: str, what: str) -> None:
        super().__init__()
        self.text = text
        self.what = what


class CopyableFence(MarkdownFence, can_focus=True):
    """A code block that can be focused (Tab or click) and copied with `c`."""

    BINDINGS = [Binding("c", "copy", "Copy code")]

    def action_copy(self) -> None:
        self.post_message(Copy(self.code, "code block"))


class AnswerMarkdown(Markdown):
    """Markdown for answers: highlighted, focusable code blocks."""

    BLOCKS = {**Markdown.BLOCKS, "fence": CopyableFence, "code_block": CopyableFence}


class UserMessage(Static, can_focus=True):
    """What the user sent. Focus it and press `c` to copy."""

    BINDINGS = [Binding("c", "copy", "Copy")]

    def __init__(self, text: str, attachments: list[str] | None = None, **kw) -> None:
        shown = text + "".join(f"\n📎 {a}" for a in attachments or [])
        super().__init__(shown, markup=False, **kw)
        self.text = text
        self.attachments = list(attachments or [])

    def action_copy(self) -> None:
        self.post_message(Copy(self.text, "message"))


class ThinkingPane(Vertical):
    """Live reasoning; collapses to one summary line when the answer starts. Enter/click toggles."""

    can_focus = True
    BINDINGS = [Binding("enter,space", "toggle", "Expand/collapse", show=False)]

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.text = ""
        self.tokens = 0
        self.seconds: float | None = None
        self.expanded = True
        self.done = False

    def compose(self) -> ComposeResult:
        yield Static("Thinking…", classes="thinking-header", markup=False)
        yield Static("", classes="thinking-body", markup=False)

    def append(self, text: str, tokens: int) -> None:
        self.text += text
        self.tokens += tokens
        if self.expanded:
            self.query_one(".thinking-body", Static).update(self.text.strip("\n"))

    def summary(self) -> str:
        secs = f"{self.seconds:.1f} s" if self.seconds is not None else "?"
        return f"Thought for {secs} · {self.tokens:,} tokens"

    def finish(self, seconds: float, collapse: bool = True) -> None:
        """The answer started (or the turn ended): show the summary line, collapse the body."""
        if self.done:
            return
        self.done = True
        self.seconds = seconds
        self.set_expanded(not collapse)

    def set_expanded(self, expanded: bool) -> None:
        self.expanded = expanded
        body = self.query_one(".thinking-body", Static)
        if expanded:
            body.update(self.text.strip("\n"))
        body.display = expanded
        self.set_class(not expanded, "-collapsed")
        if self.done:
            arrow = "▾" if expanded else "▸"
            self.query_one(".thinking-header", Static).update(f"{arrow} {self.summary()}")

    def action_toggle(self) -> None:
        if self.done:
            self.set_expanded(not self.expanded)

    def on_click(self, event: events.Click) -> None:
        self.action_toggle()


SEGMENT_CHARS = 1000  # an answer's Markdown is split into widgets of about this size while it streams


_PARSER = None


def _parser():
    global _PARSER
    if _PARSER is None:
        from markdown_it import MarkdownIt

        _PARSER = MarkdownIt("gfm-like")
    return _PARSER


def block_starts(text: str) -> list[tuple[int, bool]]:
    """(character offset, preceded by a blank line) of every top-level Markdown block in `text`."""
    tokens = _parser().parse(text)
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    out: list[tuple[int, bool]] = []
    prev_end: int | None = None
    for t in tokens:
        if t.level != 0 or t.map is None or t.nesting == -1:
            continue
        start, end = t.map
        out.append((offsets[min(start, len(lines))], prev_end is not None and prev_end < start))
        prev_end = end
    return out


def split_points(text: str, size: int = SEGMENT_CHARS) -> list[int]:
    """Offsets where `text` can be cut into Markdown pieces of at least `size` characters that
    render exactly like the whole: only before a top-level block that follows a blank line."""
    cuts: list[int] = []
    last = 0
    for offset, blank_before in block_starts(text):
        if blank_before and offset - last >= size:
            cuts.append(offset)
            last = offset
    return cuts


def rendered_correctly(md: Markdown, source: str) -> bool:
    """Does a Markdown widget's block tree match `source`? Checks the source, the number of
    top-level blocks and every code fence's code *and* highlighted text (streaming can leave a
    fence's internal state stale, Textual issue 6518). A mismatch needs a full re-render."""
    if md.source != source:
        return False
    tokens = _parser().parse(source)
    top = [t for t in tokens if t.level == 0 and t.nesting in (0, 1)]
    if len(top) != len(md.children):
        return False
    fences = list(md.query(MarkdownFence))
    expected = [t.content for t in tokens if t.type in ("fence", "code_block")]
    if len(fences) != len(expected):
        return False
    for fence, code in zip(fences, expected):
        want = code.rstrip("\n")
        if fence.code.rstrip("\n") != want or fence._highlighted_code.plain.rstrip("\n") != want:
            return False
    return True


class PendingSegment(Static):
    """Pieces of an answer that arrived in one burst, waiting for their Markdown render (see
    AssistantMessage), which comes a frame at a time, nearest the end first. One widget for the
    whole burst, showing one line: a backlog costs one mount, and laying out the whole burst as
    plain text (tens of milliseconds for a long answer) would delay the frame that shows the end."""

    def __init__(self, pieces: list[tuple[int, str]], **kw) -> None:
        super().__init__("", markup=False, **kw)
        self.pieces = list(pieces)  # (offset in the answer, text) of each future Markdown segment
        self.glm_start = self.pieces[0][0]
        self._show()

    @property
    def source(self) -> str:
        return "".join(text for _, text in self.pieces)

    def _show(self) -> None:
        n = len(self.pieces)
        self.update(f"⋯ rendering {n} more section{'s' if n != 1 else ''} ({len(self.source):,} characters)")

    def pop_last(self) -> tuple[int, str]:
        piece = self.pieces.pop()
        if self.pieces:
            self._show()
        return piece


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

    BINDINGS = [Binding("c", "copy", "Copy answer"), Binding("k", "copy_code", "Copy code")]

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.answer = ""
        self.thinking: ThinkingPane | None = None
        self.segments: list[AnswerMarkdown | PendingSegment] = [AnswerMarkdown(classes="answer")]
        self._seg_start = 0  # offset in self.answer where the last segment begins
        self._upgrade_scheduled = False
        self._stream: MarkdownStream | None = None
        self._settling: set[asyncio.Task] = set()  # sealed segments still finishing their render
        self._upgrading = 0
        self.status = "streaming"

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
        yield from self.segments
        yield Static("", classes="message-mark", markup=False)

    def on_mount(self) -> None:
        self.query_one(".message-mark").display = False

    async def add_thinking(self, text: str, tokens: int) -> None:
        if self.thinking is None:
            self.thinking = ThinkingPane(classes="thinking")
            await self.mount(self.thinking, before=self.segments[0])
        self.thinking.append(text, tokens)

    async def add_answer(self, text: str) -> None:
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
        parent = self.parent
        if isinstance(parent, ChatLog):
            parent.keep_up()
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
            mark.update(note)
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


class ToolBlock(Vertical, can_focus=True):
    """A tool call: name and arguments, then its result (decision, output, diff)."""

    BINDINGS = [Binding("c", "copy", "Copy output")]

    def __init__(self, name: str, arguments: dict, **kw) -> None:
        super().__init__(**kw)
        self.tool_name = name
        self.arguments = arguments
        self.output = ""

    def compose(self) -> ComposeResult:
        args = json.dumps(self.arguments, ensure_ascii=False)
        if len(args) > 300:
            args = args[:300] + "…"
        yield Static(f"⚙ {self.tool_name} {args}", classes="tool-title", markup=False)
        yield Static("waiting…", classes="tool-output", markup=False)

    def set_result(self, output: str, ok: bool, decision: str, diff: str | None = None) -> None:
        self.output = output
        lines = output.rstrip().splitlines()
        shown = "\n".join(lines[:12]) + (f"\n… {len(lines) - 12} more lines" if len(lines) > 12 else "")
        label = {"deny": "denied", "auto": "ran", "allow_once": "allowed once", "allow_session": "allowed for this session"}.get(
            decision, decision
        )
        head = f"[{label}{'' if ok or decision == 'deny' else ', failed'}]"
        text = f"{head}\n{shown}" if shown else head
        if diff:
            text += "\n" + diff.rstrip()
        self.query_one(".tool-output", Static).update(text)
        self.set_class(not ok, "-failed")
        self.set_class(decision == "deny", "-denied")

    def action_copy(self) -> None:
        self.post_message(Copy(self.output, "tool output"))


class AttachRequested(Message):
    """The user asks to attach `text` (labelled `label`) to the next message."""

    def __init__(self, label: str, text: str) -> None:
        super().__init__()
        self.label = label
        self.text = text


class OutputBlock(Vertical, can_focus=True):
    """The output of a direct command (/run, /py, /ls, /grep).

    Shows "running…" until `set_output` is called; Esc stops a running command (the app's cancel).
    Afterwards the button, or `a` on the focused block, attaches the output to the next message;
    `c` copies it.
    """

    BINDINGS = [Binding("a", "attach", "Attach"), Binding("c", "copy", "Copy output")]
    MAX_LINES = 20

    def __init__(self, title: str, label: str, *, attachable: bool = True, **kw) -> None:
        super().__init__(**kw)
        self.title = title
        self.label = label  # what the attachment is called, e.g. "$ ls -la"
        self.attachable = attachable
        self.output = ""
        self.ok: bool | None = None  # None while running
        self.meta: dict = {}
        self.attached = False

    def compose(self) -> ComposeResult:
        yield Static(f"⚙ {self.title}", classes="tool-title", markup=False)
        yield Static("running… (Esc stops it)", classes="tool-output", markup=False)
        yield Button("Attach to next message (a)", classes="attach-button", compact=True)

    def on_mount(self) -> None:
        self.query_one(".attach-button").display = False

    @property
    def running(self) -> bool:
        return self.ok is None

    def set_output(self, output: str, ok: bool, status: str | None = None, meta: dict | None = None) -> None:
        """Show the finished command's output (`status` is a short head line such as "exit 0")."""
        self.output = output
        self.ok = ok
        self.meta = dict(meta or {})
        lines = output.rstrip().splitlines()
        shown = "\n".join(lines[: self.MAX_LINES])
        if len(lines) > self.MAX_LINES:
            shown += f"\n… {len(lines) - self.MAX_LINES} more lines (attach or copy to get all of them)"
        text = "\n".join(part for part in (f"[{status}]" if status else "", shown or "(no output)") if part)
        self.query_one(".tool-output", Static).update(text)
        self.set_class(not ok, "-failed")
        self.query_one(".attach-button").display = self.attachable and bool(output.strip())

    def action_attach(self) -> None:
        if self.running or not self.attachable or not self.output.strip() or self.attached:
            return
        self.attached = True
        button = self.query_one(".attach-button", Button)
        button.label = "Attached ✓"
        button.disabled = True
        self.post_message(AttachRequested(self.label, self.output))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_attach()

    def action_copy(self) -> None:
        self.post_message(Copy(self.output, "command output"))


class ErrorBlock(Static):
    """Something failed: the message and what to do about it. Never a traceback."""

    def __init__(self, message: str, hint: str | None = None, **kw) -> None:
        text = f"✖ {message}" + (f"\n  {hint}" if hint else "")
        super().__init__(text, markup=False, **kw)
        self.message = message
        self.hint = hint


class NoticeBlock(Static):
    """An informational line in the log (context notices, command output)."""

    def __init__(self, text: str, level: str = "info", **kw) -> None:
        super().__init__(text, markup=False, **kw)
        self.add_class(f"-{level}")
        self.text = text


class Welcome(Static):
    """Shown on an empty chat: which model, and where to find help."""

    def __init__(self, model: str | None = None, **kw) -> None:
        super().__init__("", markup=False, **kw)
        self.set_model(model)

    def set_model(self, model: str | None) -> None:
        self.model = model
        head = f"glmchat · {model}" if model else "glmchat · loading the model…"
        self.update(
            f"{head}\n\n"
            "Type a message; Enter sends, Shift+Enter or Ctrl+J adds a line.\n"
            "F1 keys · /help commands · Ctrl+P palette · Ctrl+B chats"
        )


class ChatLog(VerticalScroll):
    """The scrolling log. Follows new content until the user scrolls up; scrolling to the end resumes."""

    can_focus = False

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.follow = True

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if new < old - 0.5 and new < self.max_scroll_y - 1:
            self.follow = False
        elif new >= self.max_scroll_y - 1:
            self.follow = True

    def keep_up(self) -> None:
        """Call after adding content: scroll to the end if following."""
        if self.follow:
            self.scroll_end(animate=False, immediate=False)

    async def add(self, widget) -> None:
        await self.drop_welcome()
        await self.mount(widget)
        self.keep_up()

    async def drop_welcome(self) -> None:
        for w in list(self.query(Welcome)):
            await w.remove()

    def answers(self) -> list[AssistantMessage]:
        return [m for m in self.query(AssistantMessage) if m.answer]
