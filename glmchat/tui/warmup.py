"""Pay the Markdown machinery's first-use costs before the first answer needs it.

The first Markdown parse compiles markdown-it's regular expressions, and the first code block in a
language loads and compiles its Pygments lexer: together 50-150 ms, which would otherwise land on
the frame that shows the first answer (and with a long first answer, on its final render). The app
runs `warm_up()` in a background thread while the model loads, which takes seconds anyway.
"""

from __future__ import annotations

SAMPLE = """# Title

Some **bold**, *italic*, `code` and a [link](https://example.com).

- item
  - nested
1. first

> quote

| a | b |
|---|---|
| 1 | 2 |

```python
def f(x: int) -> int:
    return x + 1
```
"""

LANGUAGES = ("python", "bash", "sh", "javascript", "typescript", "json", "rust", "go", "c", "cpp", "java", "toml", "yaml", "diff", "sql", "html", "css")


def warm_up(languages: tuple[str, ...] = LANGUAGES) -> None:
    from markdown_it import MarkdownIt
    from textual.highlight import highlight

    MarkdownIt("gfm-like").parse(SAMPLE)
    for lang in languages:
        try:
            highlight("x = 1\n", language=lang)
        except Exception:  # an unknown lexer is not worth a failure
            pass
