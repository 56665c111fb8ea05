"""Endpoint URLs as glmchat shows them: never with the credentials a URL may carry.

`https://user:secret@host/v1` is shown as `https://host/v1` in errors, the status bar, `doctor`,
`--verbose` and JSON output; `shown_url` is the one place that rule lives. It also copes with text
that is not a well-formed URL (a bad `--endpoint` quoted in an error): anything before an `@` in
what looks like the authority is dropped.
"""

from __future__ import annotations

import re
import urllib.parse

# optional scheme, then user info (no "/", "?", "#" or white space) up to the authority's last "@"
_USERINFO = re.compile(r"^(\s*(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//)?[^/?#\s]*@")


def shown_url(url: str) -> str:
    """`url` without its user info (`user:password@`), safe to print; everything else unchanged."""
    text = str(url)
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError:
        parts = None
    if parts is not None and parts.netloc and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urllib.parse.urlunsplit(parts._replace(netloc=host))
    # no scheme ("user:pw@host:8000/v1"), or not parseable: drop what stands before the authority's "@"
    return _USERINFO.sub(lambda m: m.group(1) or "", text, count=1)


def url_credentials(url: str) -> tuple[str, str] | None:
    """(user, password) from the URL's user info, percent-decoded; None when it has none."""
    try:
        parts = urllib.parse.urlsplit(url if "://" in url else "http://" + url)
    except ValueError:
        return None
    if parts.username is None:
        return None
    return urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")
