"""A server prompt's command words → its arguments: in order, or NAME=value; a missing one is named."""

from __future__ import annotations

import pytest

from glmchat.errors import UsageError
from glmchat.mcp.prompts import PromptCommand, fill_arguments

REVIEW = PromptCommand("mcp__t__review", "t", "review", (("path", True), ("focus", False)), "Review a file.")


def test_words_fill_the_arguments_in_order():
    assert fill_arguments(REVIEW, ["app.py", "style"]) == {"path": "app.py", "focus": "style"}
    assert fill_arguments(REVIEW, ["app.py"]) == {"path": "app.py"}


def test_name_value_pairs_fill_by_name_and_the_rest_in_order():
    assert fill_arguments(REVIEW, ["focus=speed", "lib.py"]) == {"focus": "speed", "path": "lib.py"}


def test_a_missing_required_argument_is_named_with_the_usage():
    with pytest.raises(UsageError) as err:
        fill_arguments(REVIEW, ["focus=speed"])
    assert "needs path" in err.value.message and "/mcp__t__review path [focus]" in err.value.hint


def test_too_many_words_say_how_many_it_takes():
    with pytest.raises(UsageError, match="takes 2 argument"):
        fill_arguments(REVIEW, ["a", "b", "c"])
