"""Text shown to a person (stderr lines, terminal tables): file names and values made harmless.

A file name may hold any character but ``/`` and NUL: an escape sequence in one could recolour,
clear or retitle the terminal it is printed on, a newline would split a one-line message, and
rich would read ``[bold]`` in it as markup. What segcli shows a person goes through ``printable``
(and, in rich tables, ``plain``); what it writes to data files (CSV, JSON, TSV) keeps the names
as they are.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, and the Unicode marks that reorder the text around them.
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    character = match.group()
    code = ord(character)
    return _NAMED.get(character) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: str) -> str:
    """``text`` with its control characters and direction marks written as escapes (``\\x1b``,
    ``\\n``, ``\\t``, ``\\u202e``), so that it stays on one line, keeps a table's columns and
    cannot drive a terminal.

    >>> printable("case\\x1b[2J\\n01.png")
    'case\\\\x1b[2J\\\\n01.png'
    >>> printable("tab\\there, café")
    'tab\\\\there, café'
    """
    return _HIDDEN.sub(_escape, text)


def printable_lines(text: str) -> str:
    """Several lines (a traceback), each ``printable``, kept on their own lines.

    >>> printable_lines("one\\n two \\x1b")
    'one\\n two \\\\x1b'
    """
    return "\n".join(printable(line) for line in text.split("\n"))


def plain(value) -> object:
    """A rich ``Text`` of ``str(value)``, printable and never read as markup (a table cell)."""
    from rich.text import Text

    return Text(printable(str(value)))
