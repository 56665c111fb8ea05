"""An independent Hugging Face-style renderer of GLM-4.7's official chat template.

Configured here, apart from glmchat.glm.template, so tests can compare render_prompt() with it.
"""

from __future__ import annotations

import json

import jinja2
import jinja2.ext
import jinja2.sandbox

from tests.fixtures import GLM47_TEMPLATE as TEMPLATE


def _ref_tojson(obj, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(obj, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _ref_raise(msg):
    raise jinja2.exceptions.TemplateError(msg)


_REF_ENV = jinja2.sandbox.ImmutableSandboxedEnvironment(
    trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
)
_REF_ENV.filters["tojson"] = _ref_tojson
_REF_ENV.globals["raise_exception"] = _ref_raise
_REF_TEMPLATE = _REF_ENV.from_string(TEMPLATE)


def reference(messages, tools=None, enable_thinking=True, clear_thinking=True, add_generation_prompt=True):
    return _REF_TEMPLATE.render(
        messages=messages,
        tools=tools,
        enable_thinking=enable_thinking,
        clear_thinking=clear_thinking,
        add_generation_prompt=add_generation_prompt,
    )
