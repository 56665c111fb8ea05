"""Key bindings with ids, remappable under [keys] in config.toml (id = "key[,key…]")."""

from __future__ import annotations

from textual.binding import Binding

# (id, default key, action, description, shown in footer)
DEFAULTS: list[tuple[str, str, str, str, bool]] = [
    ("new", "ctrl+n", "new_conversation", "New", True),
    ("sidebar", "ctrl+b", "toggle_sidebar", "Sidebar", True),
    ("thinking", "ctrl+t", "toggle_thinking", "Thinking", True),
    ("expand_thinking", "ctrl+o", "expand_thinking", "Expand thought", False),
    ("palette", "ctrl+p", "command_palette", "Commands", False),
    ("copy_answer", "ctrl+y", "copy_answer", "Copy answer", True),
    ("copy_code", "ctrl+k", "copy_code", "Copy code", False),
    ("cancel", "escape", "cancel", "Stop", False),
    ("quit", "ctrl+q", "quit", "Quit", True),
    ("help", "f1", "help", "Help", True),
    ("focus_input", "ctrl+l", "focus_input", "Focus input", False),
    ("mode", "shift+tab", "cycle_mode", "Mode: default / accept edits / plan", False),
    ("chat_page_up", "pageup", "scroll_chat('page_up')", "Scroll the chat up a page", False),
    ("chat_page_down", "pagedown", "scroll_chat('page_down')", "Scroll the chat down a page", False),
    ("chat_top", "ctrl+home", "scroll_chat('home')", "Chat: to the first message", False),
    ("chat_end", "ctrl+end", "scroll_chat('end')", "Chat: to the end (follows new text again)", False),
]


def app_bindings() -> list[Binding]:
    """The app's bindings, each with its id so `App.set_keymap` can remap it."""
    out = []
    for bid, key, action, desc, show in DEFAULTS:
        # "mode" is a priority binding so the screen's Shift+Tab (focus previous) does not eat it; its
        # action skips (falls through to focus previous) unless the prompt input has focus
        priority = bid in ("quit", "palette", "new", "sidebar", "help", "copy_answer", "copy_code", "thinking", "mode") or bid.startswith("chat_")
        out.append(Binding(key, action, desc, show=show, id=bid, priority=priority))
    return out


def keymap(overrides: dict[str, str]) -> dict[str, str]:
    """config [keys] → Textual keymap, keeping only known binding ids."""
    known = {d[0] for d in DEFAULTS}
    return {k: v for k, v in overrides.items() if k in known}


def unknown_ids(overrides: dict[str, str]) -> list[str]:
    known = {d[0] for d in DEFAULTS}
    return sorted(k for k in overrides if k not in known)


def key_for(binding_id: str, overrides: dict[str, str] | None = None) -> str:
    """The key currently bound to `binding_id` (for help and notices)."""
    if overrides and binding_id in overrides:
        return overrides[binding_id]
    for bid, key, *_ in DEFAULTS:
        if bid == binding_id:
            return key
    return ""


def describe() -> list[tuple[str, str, str]]:
    """(id, default key, description) rows for the help screen."""
    return [(bid, key, desc) for bid, key, _a, desc, _s in DEFAULTS]
