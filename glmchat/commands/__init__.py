"""Sub-commands, one module per area. Each module defines `register(app)`.

Modules here must import nothing heavy at module level (typer only): `glmchat --help` has to stay
well under half a second. Import llama_cpp, textual, sqlite work, etc. inside the command functions.
"""

# Registered in this order by glmchat.cli; a module that is not there yet is skipped.
MODULES = ["hub", "history", "doctor", "bench"]
