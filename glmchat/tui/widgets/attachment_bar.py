"""The chip bar above the input: what will be attached to the next message, and what it will cost."""

from __future__ import annotations

from dataclasses import dataclass

from textual.widgets import Static

from glmchat.terminal_text import visible


def describe_attachment(label: str, text: str) -> str:
    """'README.md (123 lines)' — how an attachment is named in notices and sent messages."""
    n = len(text.splitlines()) or (1 if text else 0)
    return f"{label} ({n:,} line{'s' if n != 1 else ''})"


def human_tokens(n: int) -> str:
    """812 → '812', 4_700 → '4.7k', 23_000 → '23k'."""
    if n < 1000:
        return str(n)
    return f"{n / 1000:.1f}k" if n < 10_000 else f"{n / 1000:.0f}k"


@dataclass(frozen=True)
class Chip:
    """One attachment as the bar shows it: its label and its tokens (`estimated`: not yet counted
    with the model's tokenizer)."""

    label: str
    tokens: int
    estimated: bool = True

    def text(self, n_ctx: int) -> str:
        """'README.md · 4.7k tok · 29% of ctx' ('~4.7k' while it is an estimate)."""
        parts = [self.label, f"{'~' if self.estimated else ''}{human_tokens(self.tokens)} tok"]
        if n_ctx > 0:
            share = 100 * self.tokens / n_ctx
            parts.append(f"{share:.0f}% of ctx" if share >= 1 else "<1% of ctx")
        return " · ".join(parts)


class AttachmentBar(Static):
    """Chips above the input naming what will be attached to the next message."""

    def __init__(self, **kw) -> None:
        super().__init__("", markup=False, **kw)
        self.labels: list[str] = []  # the chips' texts, as shown

    def on_mount(self) -> None:
        self.display = False

    def show(self, chips: list[Chip], n_ctx: int = 0) -> None:
        self.labels = [chip.text(n_ctx) for chip in chips]
        self.display = bool(self.labels)
        if self.labels:
            self.update("   ".join("📎 " + visible(label) for label in self.labels) + "   (sent with your next message)")
