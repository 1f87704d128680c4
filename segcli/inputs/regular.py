"""Is this input a regular file? Every file segcli reads is asked before it is opened: a FIFO would
block the read until some writer comes (forever, for a planted one), a device never ends (or is a
terminal), a socket or directory is no file to read. Missing files are the callers' own message.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))  # fmt: skip


def not_regular(path: str | Path) -> str | None:
    """What ``path`` is when it exists and is not a regular file (through symbolic links); None
    for a regular file or a path that does not exist.

    >>> not_regular("/dev/null"), not_regular("/nonexistent/x.png")
    ('a character device', None)
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")
