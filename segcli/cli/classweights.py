"""``segcli classweights DATASET``: pixel counts per class and the weights for a weighted loss."""

from __future__ import annotations

import csv
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from segcli.cli._output import info, library_errors, progress, warn


class WeightsFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    torch = "torch"


class Absent(str, Enum):
    zero = "zero"
    error = "error"


def classweights(
    dataset: Annotated[Path, typer.Argument(help="Label-mask file or directory (searched recursively).")],
    num_classes: Annotated[
        int | None, typer.Option(help="Number of classes K [default: max label + 1, reported].")
    ] = None,
    ignore_index: Annotated[int, typer.Option(help="Label excluded from every count.")] = 255,
    scheme: Annotated[
        str, typer.Option(help="Comma list of inverse, balanced, median, enet, effective, or all.")
    ] = "all",
    beta: Annotated[float, typer.Option(help="beta of the effective-number scheme.")] = 0.9999,
    absent: Annotated[
        Absent, typer.Option(help="A class with no pixel: weight 0 (zero) or exit 1 (error).")
    ] = Absent.zero,
    fmt: Annotated[
        WeightsFormat | None, typer.Option("--format", help="Output format [default: table on a terminal, else csv].")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Write here (atomically) instead of stdout.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --output file.")] = False,
    workers: Annotated[int | None, typer.Option(help="Parallel reader processes [default: all cores].")] = None,
) -> None:
    """Count pixels per class over a dataset and print class weights for imbalanced training."""
    from segcli import classweights as cw
    from segcli.errors import InputError, UsageError
    from segcli.pairing import find_images
    from segcli.pipeline import default_workers

    with library_errors():
        schemes = list(cw.SCHEMES) if scheme.strip() == "all" else [s.strip() for s in scheme.split(",") if s.strip()]
        unknown = [s for s in schemes if s not in cw.SCHEMES]
        if unknown or not schemes:
            raise UsageError(f"--scheme: unknown {', '.join(unknown) or scheme!r}; known: {', '.join(cw.SCHEMES)}, all")
        if not 0 <= beta < 1:
            raise UsageError(f"--beta: expected 0 <= beta < 1, got {beta}")
        if num_classes is not None and num_classes < 1:
            raise UsageError(f"--num-classes: expected >= 1, got {num_classes}")
        paths = list(find_images(dataset).values())
        with progress(len(paths), "counting") as advance:
            counts = cw.count_classes(
                paths,
                num_classes=num_classes,
                ignore_index=ignore_index,
                workers=workers or default_workers(),
                on_done=advance,
            )
        if num_classes is None:
            info(f"--num-classes not given: inferred K = {counts.num_classes} from the data")
        if counts.counts.sum() == 0:
            raise InputError(f"{dataset}: no labelled pixel (every pixel is the ignore index {ignore_index})")
        if counts.absent:
            message = f"class(es) with no pixel in {dataset}: {', '.join(map(str, counts.absent))}"
            if absent is Absent.error:
                raise InputError(message)
            warn(message + " (weight 0)")
        weights = cw.class_weights(counts, schemes, beta=beta)
        document = {
            "num_classes": counts.num_classes,
            "ignore_index": ignore_index,
            "n_images": counts.n_images,
            "counts": counts.counts.tolist(),
            "frequencies": counts.frequencies.tolist(),
            "absent": counts.absent,
            "weights": {name: vector.tolist() for name, vector in weights.items()},
            "settings": {"beta": beta, "schemes": schemes},
        }
        chosen = fmt.value if fmt else _format_from(output)
        text = _render(document, chosen)
        if output is None:
            sys.stdout.write(text)
        else:
            from segcli.io import write_text

            write_text(output, text, overwrite=overwrite)


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

    table = Table(title=f"class weights ({document['n_images']} images)")
    for column in header:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*row)
    buffer = io.StringIO()
    Console(file=buffer, width=160).print(table)
    return buffer.getvalue()
