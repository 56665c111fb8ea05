"""The GLM-4.7 text contract: prompt rendering and raw-output parsing. Pure Python, no I/O."""

from glmchat.glm.parser import (
    Answer,
    Event,
    GlmStreamParser,
    IncompleteToolCall,
    Thinking,
    ToolCall,
    parse_call_body,
    tool_param_kinds,
)
from glmchat.glm.template import GLM_END_TOKENS, close_thought, is_glm_model, is_glm_template, prompt_opens_thinking, render_prompt

__all__ = [
    "GLM_END_TOKENS",
    "Answer",
    "Event",
    "GlmStreamParser",
    "IncompleteToolCall",
    "Thinking",
    "ToolCall",
    "close_thought",
    "is_glm_model",
    "is_glm_template",
    "parse_call_body",
    "prompt_opens_thinking",
    "render_prompt",
    "tool_param_kinds",
]
