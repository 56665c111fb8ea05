"""Modal screens of the glmchat TUI."""
