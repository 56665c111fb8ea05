"""render_prompt(): a chat template rendered with Hugging Face's Jinja semantics.

Hugging Face renders chat templates in a sandboxed, immutable Jinja environment with
``trim_blocks`` and ``lstrip_blocks`` on, the loop-controls extension, a ``tojson`` filter that is
plain ``json.dumps`` (Jinja's own HTML-escapes ``<>&'``, which would corrupt tool schemas), and the
globals ``raise_exception`` and ``strftime_now``. Templates are compiled once per distinct text.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import lru_cache
from typing import Any

from glmchat.errors import EngineError
from glmchat.glm.parser import THINK_CLOSE, THINK_OPEN

# Tokens that end a GLM-4.7 generation (the model hands the turn back).
GLM_END_TOKENS = ("<|user|>", "<|observation|>", "<|endoftext|>")

_HINT = "Check the model's chat template (or the messages passed to it)."


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
    """`json.dumps` with Hugging Face's defaults; no HTML escaping."""
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


class TemplateRefused(Exception):
    """Raised by the template's own `raise_exception(...)`."""


def _raise_exception(message: str) -> None:
    raise TemplateRefused(str(message))


def _generation_extension() -> type:
    """`{% generation %}...{% endgeneration %}` (used by some HF templates): renders its body."""
    from jinja2 import nodes
    from jinja2.ext import Extension

    class GenerationBlock(Extension):
        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body, lineno=lineno)

    return GenerationBlock


@lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols, _generation_extension()]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


@lru_cache(maxsize=16)
def _compile(template: str) -> Any:
    from jinja2 import TemplateSyntaxError

    try:
        return _environment().from_string(template)
    except TemplateSyntaxError as exc:
        raise EngineError(f"The chat template does not compile (line {exc.lineno}: {exc.message}).", _HINT) from None


def render_prompt(
    template: str,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None = None,
    enable_thinking: bool = True,
    clear_thinking: bool = True,
    add_generation_prompt: bool = True,
    **extra: Any,
) -> str:
    """Render `messages` (Hugging Face chat form) with `template`; `extra` adds template variables."""
    from jinja2 import TemplateError

    compiled = _compile(template)
    variables = dict(extra)
    variables.update(
        messages=messages,
        tools=tools,
        enable_thinking=enable_thinking,
        clear_thinking=clear_thinking,
        add_generation_prompt=add_generation_prompt,
    )
    try:
        return compiled.render(**variables)
    except TemplateRefused as exc:
        raise EngineError(f"The chat template refused the conversation: {exc}.", _HINT) from None
    except TemplateError as exc:
        raise EngineError(f"The chat template failed to render: {exc}.", _HINT) from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        raise EngineError(
            f"The chat template failed to render: {type(exc).__name__}: {exc}.",
            "Messages must be in chat form; tool-call arguments must be mappings.",
        ) from None


def close_thought(thinking: str) -> str:
    """The assistant text that ends a thought: appended to a prompt, the model goes on with its answer."""
    return thinking.rstrip() + "\n" + THINK_CLOSE


def prompt_opens_thinking(prompt: str) -> bool:
    """True when the rendered prompt ends with an open ``<think>`` (the model starts reasoning)."""
    return prompt.rstrip().endswith(THINK_OPEN)


def is_glm_template(template: str | None) -> bool:
    """True for a GLM-4.x chat template (it speaks in ``<|assistant|>`` and ``<|observation|>`` turns)."""
    return template is not None and "<|assistant|>" in template and "<|observation|>" in template


# Names of the GLM generations that think (hybrid reasoning): GLM-4.5, 4.6, 4.7 (-Air, -Flash, …),
# GLM-Z1 and the GLM-4.1V-Thinking line. GLM-4-9B-Chat and GLM-4-0414 do not think, so "glm" alone
# says nothing about a <think> block.
_THINKING_GLM = re.compile(r"(?<![a-z0-9])glm[-_ ]?(?:4\.[5-9](?![0-9])|z1|4\.1v[-_.a-z0-9]*thinking)", re.IGNORECASE)


def is_glm_model(model_id: str) -> bool:
    """True when a model id names a thinking GLM: 'GLM-4.7-Flash', 'zai-org/GLM-4.7-Flash', '…/glm-4.7-q4.gguf'.

    Only the name proper counts (the last path component), so a file such as
    ``/home/u/glm-models/llama-3.gguf`` is not taken for GLM, nor is an older GLM-4 that does not
    think (``glm-4-9b-chat``) or any name that merely contains "glm".
    """
    name = model_id.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return _THINKING_GLM.search(name) is not None


def template_opens_thinking(template: str | None) -> bool | None:
    """Whether a chat template's generation prompt opens a ``<think>`` block with thinking on.

    False for a template that never spells ``<think>``; None for no template or one that would not render.
    """
    if not template:
        return None
    if THINK_OPEN not in template:
        return False
    probe = [{"role": "user", "content": "hi"}]
    try:
        prompt = render_prompt(template, probe, enable_thinking=True, bos_token="", eos_token="")
    except EngineError:
        return None
    return prompt_opens_thinking(prompt)


def shows_thinking_end(text: str) -> bool:
    """True when model output `text` closes a thinking block (``</think>``)."""
    return THINK_CLOSE in text
