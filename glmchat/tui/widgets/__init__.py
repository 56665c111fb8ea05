"""Small single-purpose widgets of the glmchat TUI."""
