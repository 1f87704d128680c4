"""Command-line locations: inputs may be fsspec URLs (``segcli.inputs.remote``), outputs are local paths."""

from __future__ import annotations

import os
from pathlib import Path

import typer

STDOUT = "-"


def local_output(text: str) -> Path:
    """Parser of an output option: a local path; a URL is refused in one line, since outputs are
    written (atomically, by rename) on a local or shared file system only. An empty path (which
    would mean the current directory) and ``-`` (stdout, which this option cannot write) are
    refused too; ``./-`` names a file called ``-``."""
    from segcli.inputs.remote import is_url

    if not text:
        raise typer.BadParameter("an empty path; name a file or directory")
    if text == STDOUT:
        raise typer.BadParameter("'-' (stdout) cannot be written here; ./- names a file called -")
    if is_url(text):
        raise typer.BadParameter(f"{text}: outputs are local paths (URLs are read, never written)")
    return Path(text)


def local_output_file(text: str) -> Path:
    """``local_output`` for an option that writes one file: a path ending in ``/`` names a
    directory, and is refused (``Path`` would drop the slash and write a file of that name)."""
    path = local_output(text)
    if text.endswith(("/", os.sep)):
        raise typer.BadParameter(f"{text}: ends with /, which names a directory; this option writes a file")
    return path


def local_input(text: str) -> Path:
    """Parser of a local input option: an empty path is refused, never read as the current
    directory (``Path("")`` is ``.``); ``.`` says that."""
    if not text:
        raise typer.BadParameter("an empty path; write . for the current directory")
    return Path(text)


def output_or_stdout(text: str) -> Path | None:
    """``local_output_file``, and ``-`` for stdout (what the option's absence means)."""
    return None if text == STDOUT else local_output_file(text)
