"""Command-line locations: inputs may be fsspec URLs (``segcli.remote``), outputs are local paths."""

from __future__ import annotations

from pathlib import Path

import typer


def local_output(text: str) -> Path:
    """Parser of an output option: a local path; a URL is refused in one line, since outputs are
    written (atomically, by rename) on a local or shared file system only."""
    from segcli.remote import is_url

    if is_url(text):
        raise typer.BadParameter(f"{text}: outputs are local paths (URLs are read, never written)")
    return Path(text)
