"""`glmchat serve`: an OpenAI-compatible HTTP server over glmchat's engine and GLM parser."""
