"""Whether a remote model's prompt opens a thinking block, from what the server says (never a folder name).

Asked once, when a `RemoteEngine` is made, in order of trust:

1. llama-server's ``GET /props`` (beside the API, e.g. ``/props`` for ``/v1``): its ``chat_template``
   is the template the server renders, so rendering its generation prompt says it exactly.
2. llama-cpp-python's ``POST /extras/tokenize``: a vocabulary without a ``</think>`` token belongs
   to a model that does not think (whatever it is called).
3. The served model's id from ``GET /v1/models``: the name the operator serves the model under
   (vLLM's ``--served-model-name``, by default the Hugging Face repo id; llama-cpp-python's model
   file or alias; Ollama's tag). Only its last path component counts, and only a name of a thinking
   GLM generation (GLM-4.5 … 4.7, GLM-Z1) says yes; any other name says nothing.
4. Nothing said: not known (None). The stream decides: a reasoning delta, or a ``</think>`` in the
   content (`glmchat.glm.GlmStreamParser(thinking=None)` holds the text until it knows).

Every finished stream of raw content corrects the verdict (`ThinkingVerdict.learn`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from glmchat.glm.template import THINK_CLOSE, is_glm_model, template_opens_thinking

# A request to the server: (absolute path such as "/props", JSON body or None for a GET) → (HTTP
# status, body). May raise on network failure.
Request = Callable[[str, "dict[str, Any] | None"], "tuple[int, bytes]"]


def server_root(api_path: str) -> str:
    """The server's own root for an API base path: "/v1" → "", "/llm/v1" → "/llm"."""
    return api_path.rstrip("/").removesuffix("/v1")


def _json_answer(request: Request, path: str, body: dict[str, Any] | None = None) -> Any:
    """The decoded JSON of a 200 answer; None for anything else (a probe: most servers lack most routes)."""
    try:
        status, raw = request(path, body)
        return json.loads(raw) if status == 200 else None
    except Exception:  # noqa: BLE001 - a network failure or a body that is not JSON says nothing
        return None


def props_chat_template(request: Request, api_path: str) -> str | None:
    """llama-server's chat template (``GET /props``); None for any other server or any failure."""
    data = _json_answer(request, server_root(api_path) + "/props")
    template = data.get("chat_template") if isinstance(data, dict) else None
    return template if isinstance(template, str) and template.strip() else None


def vocabulary_has_think_end(request: Request, api_path: str) -> bool | None:
    """Whether the model's vocabulary has a ``</think>`` token (llama-cpp-python's tokenizer); None:
    the server has no such route."""
    counts = []
    for text in ("", THINK_CLOSE):  # the difference leaves out a BOS the tokenizer may add
        data = _json_answer(request, server_root(api_path) + "/extras/tokenize", {"input": text})
        tokens = data.get("tokens") if isinstance(data, dict) else None
        if not isinstance(tokens, list):
            return None
        counts.append(len(tokens))
    return counts[1] - counts[0] == 1


@dataclass
class ThinkingVerdict:
    """Whether the generation prompt opens a thinking block (None: not known) and what said so."""

    opens: bool | None
    source: str  # "chat template" | "vocabulary" | "model name" | "stream" | "unknown"

    @classmethod
    def ask(cls, request: Request, api_path: str, model_id: str) -> ThinkingVerdict:
        opens = template_opens_thinking(props_chat_template(request, api_path))
        if opens is not None:
            return cls(opens, "chat template")
        has_think_end = vocabulary_has_think_end(request, api_path)
        if has_think_end is False:
            return cls(False, "vocabulary")
        if is_glm_model(model_id):
            return cls(True, "model name")
        return cls(None, "unknown")

    def learn(self, saw_think_end: bool, complete_answer: bool) -> None:
        """What a finished stream of raw content showed: a ``</think>`` (the prompt opened the block)
        or a complete answer without one (it did not)."""
        if saw_think_end or complete_answer:
            self.opens, self.source = saw_think_end, "stream"
