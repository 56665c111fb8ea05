"""MCP: tools from Model Context Protocol servers, offered to the model like the built-in ones.

config.py reads `[mcp.servers.NAME]`; manager.py runs the client sessions (official `mcp` SDK) on one
background asyncio thread; tools.py turns a server's tools into glmchat `Tool`s and their results into text.
"""
