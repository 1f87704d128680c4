"""``segcli report RESULTS.jsonl -o report.html``: the HTML report of a saved run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from segcli.cli._locations import local_output_file
from segcli.cli._output import info, library_errors, warn


def report(
    results: Annotated[Path, typer.Argument(help="A run saved by segcli score --format jsonl (or -o X.jsonl).")],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", parser=local_output_file, help="Where to write the HTML page (atomically)."),
    ],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --output file.")] = False,
    report_sort: Annotated[
        str | None, typer.Option(help="Score that ranks the worst cases \\[default: dice, else the first score].")
    ] = None,
    images: Annotated[
        Path | None, typer.Option(help="Images shown under the contours, matched by the records' names.")
    ] = None,
) -> None:
    """Build the self-contained HTML report of a saved run (thumbnails where its files still read).
    A missing RESULTS, or a directory, is a usage error (exit 2), found before any work."""
    with library_errors():
        from segcli.errors import UsageError
        from segcli.results.outputs import OutputLock, check_output_file
        from segcli.results.read_back import RunResults

        if Path(results).is_dir():
            raise UsageError(f"{results}: is a directory; RESULTS is a run saved by segcli score -o X.jsonl")
        if not Path(results).exists():
            raise UsageError(f"{results}: no such file or directory")
        target = check_output_file(output, overwrite=overwrite)
        if Path(results).resolve() == target.resolve():
            raise typer.BadParameter("must differ from RESULTS", param_hint="--output")
        if images is not None and not Path(images).exists():
            raise typer.BadParameter(f"{images}: no such file or directory", param_hint="--images")
        run = RunResults.from_jsonl(results)
        sort_by = report_sort or ("dice" if "dice" in run.columns else (run.columns or ["dice"])[0])
        with OutputLock(target):
            write_report(run, target, sort_by=sort_by, images=images, inputs=(results,), base_dir=results.parent)


def write_report(run, target: Path, *, sort_by: str, images: Path | None, inputs, base_dir: Path | None = None) -> None:
    """Render the page and write it atomically; says where on stderr."""
    import datetime
    import shlex
    import sys

    from segcli import __version__
    from segcli.results.files import write_text
    from segcli.results.html import render_report

    provenance = {
        "segcli version": __version__,
        "command": shlex.join(["segcli", *sys.argv[1:]]),
        "date (UTC)": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "inputs": ", ".join(str(p) for p in inputs),
    }
    page = render_report(
        run, provenance=provenance, sort_by=sort_by, images_dir=images, base_dir=base_dir, on_note=warn
    )
    write_text(target, page, overwrite=True)
    info(f"report written to {target} ({target.stat().st_size / 1e6:.2f} MB)")
