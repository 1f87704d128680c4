"""``segcli classweights DATASET``: pixel counts per class and the weights for a weighted loss."""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from segcli.cli._locations import output_or_stdout
from segcli.cli._options import (
    BetaOpt,
    ReaderWorkersOpt,
    SchemeOpt,
    WeightsIgnoreIndexOpt,
    WeightsNumClassesOpt,
    WeightsSchedulerOpt,
)
from segcli.cli._output import cap_workers, error, fail, info, library_errors, progress, spell, warn
from segcli.settings import default

COMMAND = "classweights"


class WeightsFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    torch = "torch"


class Absent(str, Enum):
    zero = "zero"
    error = "error"


def classweights(
    dataset: Annotated[
        str, typer.Argument(help="Label-mask file or directory (searched recursively); a path or an fsspec URL.")
    ],
    num_classes: WeightsNumClassesOpt = default("num_classes"),
    ignore_index: WeightsIgnoreIndexOpt = None,  # not given: 255, except on masks of only 0 and 255
    scheme: SchemeOpt = default("scheme"),
    beta: BetaOpt = default("beta"),
    absent: Annotated[
        Absent, typer.Option(help="A class with no pixel: weight 0 (zero) or exit 1 (error).")
    ] = Absent.zero,
    fmt: Annotated[
        WeightsFormat | None, typer.Option("--format", help="Output format \\[default: table on a terminal, else csv].")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(parser=output_or_stdout, help="Write here (atomically) instead of stdout (- is stdout)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --output file.")] = False,
    workers: ReaderWorkersOpt = default("workers"),
    scheduler: WeightsSchedulerOpt = default("scheduler"),
) -> None:
    """Count pixels per class over a dataset and print class weights for imbalanced training.

    On a dataset of binary 0/255 masks, 255 is counted as class 1 unless --ignore-index is given.
    """
    values = dict(locals())
    from segcli import classweights as cw
    from segcli.results.outputs import OutputLock

    with library_errors(COMMAND):
        values["dataset"], schemes, paths = _plan(values)
        stack, client, workers = _cluster(values, len(paths))
        output = values["output"]
        with stack, OutputLock(output) if output is not None else contextlib.nullcontext():
            with progress(len(paths), "counting") as advance:
                counts = cw.count_classes(
                    paths,
                    num_classes=num_classes,
                    ignore_index=_ignore(ignore_index),
                    workers=workers,
                    on_done=advance,
                    binary_0_255=ignore_index is None and num_classes in (None, 2),
                    errors="collect",
                    client=client,
                )
            _say_counts(counts, values)
            weights = cw.class_weights(counts, schemes, beta=beta)
            _write(_document(counts, weights, values, schemes), values)
        if counts.failed:
            fail(f"{len(counts.failed)} of {len(paths)} file(s) could not be counted; the others were", 1)


def _ignore(ignore_index: int | None) -> int:
    return default("ignore_index") if ignore_index is None else ignore_index


def _plan(values: dict):
    """The dataset, the schemes and the files, every option checked (by the library) before any work."""
    from segcli import classweights as cw
    from segcli.cli._score_plan import given
    from segcli.inputs.pairing import find_images
    from segcli.inputs.remote import as_input
    from segcli.results.outputs import check_output_file
    from segcli.settings.unused import unused_options

    dataset = as_input(values["dataset"], name="DATASET")  # a path, or an fsspec URL
    if values["scheduler"]:
        from segcli.run.cluster import check_address

        check_address(values["scheduler"])  # a malformed address: refused before any work
    names = ("scheme", "beta", "num_classes", "workers")
    schemes = cw.check_options(**{name: values[name] for name in names})
    if values["output"] is not None:
        values["output"] = check_output_file(values["output"], overwrite=values["overwrite"])
    paths = list(find_images(dataset).values())
    if values["output"] is not None:
        from segcli.cli._score_checks import never_over_inputs

        never_over_inputs([], {"--output": values["output"]}, extra=paths)
    options = {name: values[name] for name in (*names, "ignore_index", "scheduler")}
    for message in unused_options(given({**options, "scheme": schemes}, COMMAND), command=COMMAND):
        warn(spell(message, COMMAND))
    return dataset, schemes, paths


def _cluster(values: dict, n_files: int):
    """(the exit stack holding the cluster's client, the client or None, the local workers)."""
    from segcli.run.pipeline import default_workers

    stack = contextlib.ExitStack()
    scheduler = values["scheduler"]
    if not scheduler:
        return stack, None, cap_workers(values["workers"], n_files, default_workers())
    from segcli.run.cluster import connect

    client = stack.enter_context(connect(scheduler, modules=("segcli.classweights",)))
    info(f"counting on the Dask cluster at {scheduler} ({len(client.nthreads())} worker(s))")
    return stack, client, 1


def _say_counts(counts, values: dict) -> None:
    """Each file that could not be counted, how 255 and K were read; a count no weight can come from refused."""
    from segcli import classweights as cw
    from segcli.errors import InputError

    dataset, num_classes, ignore_index = values["dataset"], values["num_classes"], values["ignore_index"]
    ignore = _ignore(ignore_index)
    label_hint = (
        f" (--num-classes {num_classes}, --ignore-index {ignore})"
        if num_classes is not None
        else " (pass --num-classes, or --ignore-index if the label marks pixels to leave out)"
    )
    for failure in counts.failed:
        error(f"{failure}{label_hint if isinstance(failure, cw.LabelRangeError) else ''}")
    if not counts.n_images:
        raise InputError(f"{dataset}: no label image could be counted")
    if counts.binary_0_255:
        info(
            "every mask holds only 0 and 255: 255 counted as class 1 (foreground), not as the ignore "
            "index; pass --ignore-index 255 to ignore it"
        )
    elif num_classes is None:
        info(f"--num-classes not given: inferred K = {counts.num_classes} from the data")
    if counts.ignored_pixels and ignore_index is None:
        left_out = f"{counts.ignored_pixels} pixel(s) of value 255 left out as the default ignore index"
        if counts.images_0_255:  # a 0/255 mask's foreground among label maps that are not
            warn(
                f"{left_out}; {counts.images_0_255} of {counts.n_images} masks hold only 0 and 255 (255 "
                "their foreground?) but the others do not, so 255 is not read as class 1: save every "
                "mask with the same labels, or pass --ignore-index to choose"
            )
        else:
            info(f"{left_out}; pass --ignore-index to choose another")
    if counts.counts.sum() == 0:
        raise InputError(f"{dataset}: no labelled pixel (every pixel is --ignore-index {ignore})")
    if counts.num_classes < 2:
        left_out = f", {counts.ignored_pixels} pixel(s) of --ignore-index {ignore} left out"
        raise InputError(
            f"{dataset}: every labelled pixel is class 0{left_out if counts.ignored_pixels else ''}; "
            "class weights need two or more classes (see --num-classes, --ignore-index)"
        )
    if counts.absent:
        message = f"class(es) with no pixel in {dataset}: {', '.join(map(str, counts.absent))}"
        if values["absent"] is Absent.error:
            raise InputError(message)
        warn(message + " (weight 0)")


def _document(counts, weights: dict, values: dict, schemes: list[str]) -> dict:
    """What every format shows: the counts, the frequencies, each scheme's weights and the settings."""
    return {
        "num_classes": counts.num_classes,
        "ignore_index": None if counts.binary_0_255 else _ignore(values["ignore_index"]),
        "binary_0_255": counts.binary_0_255,
        "ignored_pixels": 0 if counts.binary_0_255 else counts.ignored_pixels,
        "n_images": counts.n_images,
        "counts": counts.counts.tolist(),
        "frequencies": counts.frequencies.tolist(),
        "absent": counts.absent,
        "weights": {name: vector.tolist() for name, vector in weights.items()},
        "failed": [str(failure) for failure in counts.failed],
        "settings": {"beta": values["beta"], "schemes": schemes},
    }


def _write(document: dict, values: dict) -> None:
    """The document in the chosen format, to stdout or (atomically) to --output."""
    from segcli.errors import OutputError
    from segcli.results.outputs import describe_os_error

    output, fmt = values["output"], values["fmt"]
    text = _render(document, fmt.value if fmt else _format_from(output))
    if output is None:
        sys.stdout.write(text)
        return
    from segcli.results.files import write_text

    try:
        write_text(output, text, overwrite=values["overwrite"])
    except OSError as exc:
        raise OutputError(describe_os_error(exc, output)) from None


def _format_from(output: Path | None) -> str:
    if output is not None:
        return "json" if output.suffix.lower() == ".json" else "csv"
    return "table" if sys.stdout.isatty() else "csv"


def _render(document: dict, fmt: str) -> str:
    import io

    weights = document["weights"]
    if fmt == "json":
        return json.dumps(document, indent=1) + "\n"
    if fmt == "torch":
        lines = [f"torch.tensor([{', '.join(f'{w:.6g}' for w in vector)}])" for vector in weights.values()]
        if len(lines) == 1:
            return lines[0] + "\n"
        return "".join(f"{name} = {line}\n" for name, line in zip(weights, lines, strict=True))
    rows = [
        [
            str(c),
            str(document["counts"][c]),
            f"{document['frequencies'][c]:.6g}",
            *(f"{weights[s][c]:.6g}" for s in weights),
        ]
        for c in range(document["num_classes"])
    ]
    header = ["class", "count", "frequency", *weights]
    if fmt == "csv":
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([header, *rows])
        return buffer.getvalue()
    from rich.console import Console
    from rich.table import Table

    from segcli.display import plain

    table = Table(title=f"class weights ({document['n_images']} images)")
    for column in header:
        table.add_column(plain(column), justify="right")
    for row in rows:
        table.add_row(*(plain(cell) for cell in row))
    buffer = io.StringIO()
    Console(file=buffer, width=160).print(table)
    return buffer.getvalue()
