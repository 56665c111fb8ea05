"""README.md tells the truth: its `glmchat` commands and options exist, its slash commands and key table are
the real ones."""

from __future__ import annotations

README = __import__("pathlib").Path(__file__).resolve().parent.parent / "README.md"


def _readme_invocations() -> list[list[str]]:
    """Every `glmchat …` written in README.md (code blocks and inline code), split into words."""
    import re

    text = README.read_text(encoding="utf-8")
    snippets = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    snippets = [s for s in snippets if "[model]" not in s]  # skip config.toml examples
    snippets += re.findall(r"`([^`\n]*glmchat [^`\n]*)`", text)
    out = []
    for snippet in snippets:
        for line in snippet.splitlines():
            line = line.split(" #", 1)[0]
            for part in re.split(r"(?=\bglmchat )", line)[1:]:
                words = part.split()
                if words and words[0] == "glmchat":
                    out.append(words[1:])
    return out


def test_readme_commands_and_options_exist():
    import typer

    from glmchat.cli import app

    root = typer.main.get_command(app)  # typer ships its own click: duck-type groups by `.commands`
    seen = 0
    for words in _readme_invocations():
        cmd = root
        for w in words:
            if w.startswith(("-", "[", "\"", "'", "…")) or not hasattr(cmd, "commands"):
                break
            if w not in cmd.commands:
                break
            cmd = cmd.commands[w]
        known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
        for w in words:
            opt = w.strip("[],|")
            if opt.startswith("-") and len(opt) > 1:
                assert opt.split("=")[0] in known, f"README: `glmchat {' '.join(words)}`: {opt} is not an option of {cmd.name}"
        seen += 1
    assert seen > 15  # the parser found the README's examples


def test_readme_lists_every_slash_command_and_only_those():
    import re

    from glmchat.tui.commands import COMMANDS

    text = README.read_text(encoding="utf-8")
    section = text.split("Slash commands", 1)[1].split("\n\n", 1)[0]
    written = set(re.findall(r"`/([a-z]+)", section))
    names = {c.name for c in COMMANDS}
    assert names - written == set(), f"slash commands missing from README: {sorted(names - written)}"
    assert written - names == set(), f"README names slash commands that do not exist: {sorted(written - names)}"


def test_readme_key_table_uses_real_binding_ids():
    import re

    from glmchat.tui.keys import DEFAULTS

    text = README.read_text(encoding="utf-8")
    table = [ln for ln in text.splitlines() if ln.startswith("| ") and "`" in ln and "Ctrl" in ln or ln.startswith("| F1")]
    ids = {i for ln in table for i in re.findall(r"`([a-z_]+)`", ln)}
    assert ids, "no key table found"
    assert ids <= {d[0] for d in DEFAULTS}, sorted(ids - {d[0] for d in DEFAULTS})
