"""glmchat's agent over the Agent Client Protocol (`glmchat acp`): editors drive a ChatSession on stdio."""
