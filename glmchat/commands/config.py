"""`glmchat config`: the paths and the settings in effect (as TOML); `config init` writes a commented
config.toml with every key and its default; `config edit` opens it in $VISUAL / $EDITOR and checks it."""

from __future__ import annotations

import typer

config_app = typer.Typer(
    help="Show where glmchat keeps things and the settings in effect (as TOML); init and edit config.toml.",
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _paths() -> dict[str, str]:
    from glmchat import settings as s

    path = s.config_path()
    return {
        "config file": str(path) + ("" if path.exists() else "  (not created; defaults in effect)"),
        "config dir": str(s.config_dir()),
        "data dir": str(s.data_dir()),
        "cache dir": str(s.cache_dir()),
        "conversations": str(s.db_path()),
        "llama.cpp log": str(s.log_path()),
    }


def _echo(text: str) -> None:
    """Paths and values are the user's: on a terminal their control characters are made visible."""
    import sys

    from glmchat.terminal_text import for_stream

    typer.echo(for_stream(sys.stdout)(text), nl=False)


@config_app.callback(invoke_without_command=True)
def show(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the paths and settings as JSON."),
) -> None:
    """Show where glmchat keeps things and the settings in effect, as TOML (unset values as comments)."""
    if ctx.invoked_subcommand:
        return
    import json

    from glmchat.config_file import settings_toml
    from glmchat.settings import load_settings

    cfg = load_settings()
    paths = _paths()
    if as_json:
        _echo(json.dumps({"paths": paths, "settings": cfg.as_dict()}, indent=2, default=str) + "\n")
        return
    width = max(map(len, paths))
    notes = ["glmchat: the settings in effect, as TOML (`glmchat config init` writes them all, commented)."]
    notes += [f"{k:<{width}}  {v}" for k, v in paths.items()]
    _echo(settings_toml(cfg, notes))


@config_app.command("init")
def init(force: bool = typer.Option(False, "--force", help="Replace an existing config.toml (a copy of it is kept).")) -> None:
    """Write config.toml with every setting, its default and what it does."""
    from glmchat.config_file import write_template
    from glmchat.settings import config_path

    path = config_path()
    backup = write_template(path, force=force)
    _echo(f"Wrote {path} (every setting with its default; `glmchat config edit` opens it).\n")
    if backup:
        _echo(f"The previous file is kept as {backup}.\n")


def _editor_command() -> list[str]:
    """$VISUAL, else $EDITOR, split like a shell would ("code --wait" → two words); [] when neither is set."""
    import os
    import shlex

    for var in ("VISUAL", "EDITOR"):
        value = os.environ.get(var, "").strip()
        if value:
            try:
                return shlex.split(value)
            except ValueError:
                return [value]
    return []


def _run_editor(argv: list[str], path: str) -> int:
    import subprocess

    from glmchat.errors import ConfigError

    try:
        return subprocess.run([*argv, path], check=False).returncode
    except OSError as exc:
        raise ConfigError(
            f"Could not start the editor {argv[0]!r} (from $VISUAL/$EDITOR): {exc.strerror or exc}.",
            f"Set VISUAL or EDITOR to an installed editor, or edit {path} with any editor.",
        ) from None


@config_app.command("edit")
def edit() -> None:
    """Open config.toml in $VISUAL / $EDITOR (created with every default first if missing), then check it."""
    import sys

    from glmchat.commands.common import err
    from glmchat.config_file import write_template
    from glmchat.errors import ConfigError
    from glmchat.settings import config_path, load_settings

    path = config_path()
    if not (path.exists() or path.is_symlink()):
        write_template(path)
        _echo(f"Created {path} with every setting and its default.\n")
    argv = _editor_command()
    if not argv:
        raise ConfigError(
            f"No editor to open {path} with: $VISUAL and $EDITOR are not set.",
            "Edit that file with any editor (`glmchat config` checks it), or set one, e.g. EDITOR=nano glmchat config edit.",
        )
    while True:
        code = _run_editor(argv, str(path))
        if code:
            err(f"The editor exited with status {code}; checking {path} as it is now.")
        try:
            load_settings(path)
        except ConfigError as exc:
            if sys.stdin.isatty() and sys.stdout.isatty():
                err(f"glmchat: {exc.message}")
                if typer.confirm("Open it again to fix that?", default=True):
                    continue
            raise ConfigError(exc.message, f"{exc.hint} Then run `glmchat config edit` again to check it.") from None
        _echo(f"{path} is valid.\n")
        return


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
