"""Text from data, made safe to print: file names and region names reach terminals, shells and logs."""

from __future__ import annotations

import re

CONTROL_CHARACTERS = (
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb"
    "\U000e0000-\U000e007f]"
)
"""C0/C1 controls (ANSI escapes among them), soft hyphen, zero-width and direction marks, line and paragraph
separators, bidi embeddings, overrides and isolates, the byte-order mark, annotation and tag characters: what
can move a terminal's cursor, hide text or reorder it. Ordinary spaces of any script are not among them."""
_CONTROL = re.compile(CONTROL_CHARACTERS)


def has_control(text: str) -> bool:
    """Whether ``text`` holds any of :data:`CONTROL_CHARACTERS`."""
    return _CONTROL.search(text) is not None


def terminal_safe(text: object) -> str:
    """``text`` made harmless on a terminal: :data:`CONTROL_CHARACTERS` and undecodable file-name bytes are
    shown as escapes such as ``\\x1b`` instead of being sent."""
    value = str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), value)


def terminal_safe_lines(text: str) -> str:
    """:func:`terminal_safe` line by line, keeping the line breaks."""
    return "\n".join(terminal_safe(line) for line in text.split("\n"))
