"""Engines: where tokens come from. See base.py for the protocol."""
