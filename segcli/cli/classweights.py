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
from segcli.cli._output import cap_workers, error, fail, info, library_errors, progress, warn


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
    num_classes: Annotated[
        int | None, typer.Option(help="Number of classes K \\[default: max label + 1, reported].")
    ] = None,
    ignore_index: Annotated[
        int | None,
        typer.Option(
            help="Label excluded from every count \\[default: 255, except on masks of only 0 and 255, "
            "where 255 is class 1 unless this is given]."
        ),
    ] = None,
    scheme: Annotated[
        str, typer.Option(help="Comma list of inverse, balanced, median, enet, effective, or all.")
    ] = "all",
    beta: Annotated[float, typer.Option(help="beta of the effective-number scheme.")] = 0.9999,
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
    workers: Annotated[int | None, typer.Option(help="Parallel reader processes \\[default: all cores].")] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            envvar="DASK_SCHEDULER_ADDRESS",
            help="Count on a Dask cluster (tcp://host:8786), the counts summed here (needs segcli[dask]).",
        ),
    ] = None,
) -> None:
    """Count pixels per class over a dataset and print class weights for imbalanced training.

    On a dataset of binary 0/255 masks, 255 is counted as class 1 unless --ignore-index is given.
    """
    from segcli import classweights as cw
    from segcli.errors import InputError, OutputError, UsageError
    from segcli.inputs.pairing import find_images
    from segcli.inputs.remote import as_input
    from segcli.results.outputs import OutputLock, check_output_file, describe_os_error
    from segcli.run.pipeline import default_workers

    with library_errors():
        dataset = as_input(dataset, name="DATASET")  # a path, or an fsspec URL
        if scheduler:
            from segcli.run.cluster import check_address

            check_address(scheduler)  # a malformed address: refused before any work
        schemes = list(cw.SCHEMES) if scheme.strip() == "all" else [s.strip() for s in scheme.split(",") if s.strip()]
        unknown = [s for s in schemes if s not in cw.SCHEMES]
        if unknown or not schemes:
            raise UsageError(f"--scheme: unknown {', '.join(unknown) or scheme!r}; known: {', '.join(cw.SCHEMES)}, all")
        if not 0 <= beta < 1:  # NaN fails too
            raise UsageError(f"--beta: expected 0 <= beta < 1, got {beta}")
        if num_classes is not None and not 2 <= num_classes <= cw.MAX_CLASSES:
            raise UsageError(
                f"--num-classes: expected 2..{cw.MAX_CLASSES} (weights balance two or more classes), got {num_classes}"
            )
        if workers is not None and workers < 1:
            raise UsageError(f"--workers: expected >= 1, got {workers}")
        if output is not None:
            output = check_output_file(output, overwrite=overwrite)
        paths = list(find_images(dataset).values())
        if output is not None:
            from segcli.cli._score_checks import never_over_inputs

            never_over_inputs([], {"--output": output}, extra=paths)
        stack = contextlib.ExitStack()
        client = None
        if scheduler:
            from segcli.run.cluster import connect

            if workers is not None:
                warn("--workers applies to local runs; the cluster's workers count the files")
            client = stack.enter_context(connect(scheduler, modules=("segcli.classweights",)))
            info(f"counting on the Dask cluster at {scheduler} ({len(client.nthreads())} worker(s))")
            workers = 1
        else:
            workers = cap_workers(workers, len(paths), default_workers())
        explicit_ignore = ignore_index is not None
        ignore = ignore_index if explicit_ignore else 255
        with stack, OutputLock(output) if output is not None else contextlib.nullcontext():
            with progress(len(paths), "counting") as advance:
                counts = cw.count_classes(
                    paths,
                    num_classes=num_classes,
                    ignore_index=ignore,
                    workers=workers,
                    on_done=advance,
                    binary_0_255=not explicit_ignore and num_classes in (None, 2),
                    errors="collect",
                    client=client,
                )
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
            if counts.ignored_pixels and not explicit_ignore:
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
                if absent is Absent.error:
                    raise InputError(message)
                warn(message + " (weight 0)")
            weights = cw.class_weights(counts, schemes, beta=beta)
            document = {
                "num_classes": counts.num_classes,
                "ignore_index": None if counts.binary_0_255 else ignore,
                "binary_0_255": counts.binary_0_255,
                "ignored_pixels": 0 if counts.binary_0_255 else counts.ignored_pixels,
                "n_images": counts.n_images,
                "counts": counts.counts.tolist(),
                "frequencies": counts.frequencies.tolist(),
                "absent": counts.absent,
                "weights": {name: vector.tolist() for name, vector in weights.items()},
                "failed": [str(failure) for failure in counts.failed],
                "settings": {"beta": beta, "schemes": schemes},
            }
            chosen = fmt.value if fmt else _format_from(output)
            text = _render(document, chosen)
            if output is None:
                sys.stdout.write(text)
            else:
                from segcli.results.files import write_text

                try:
                    write_text(output, text, overwrite=overwrite)
                except OSError as exc:
                    raise OutputError(describe_os_error(exc, output)) from None
        if counts.failed:
            fail(f"{len(counts.failed)} of {len(paths)} file(s) could not be counted; the others were", 1)


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
