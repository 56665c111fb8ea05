"""Sub-commands, one module per area. Each module in MODULES defines `register(app)`.

Two modules are not registered: `ask` (the body of `glmchat ask`, imported by cli.py's command only when
it runs) and `common` (small helpers shared by cli.py and the commands).

The registered modules must import nothing heavy at module level (typer only): `glmchat --help` has
to stay well under half a second. Import llama_cpp, textual, sqlite work, etc. inside the command functions.
"""

# Registered in this order by glmchat.cli; a module that is not there yet is skipped.
MODULES = ["hub", "history", "doctor", "bench", "config", "mcp", "acp", "serve"]
