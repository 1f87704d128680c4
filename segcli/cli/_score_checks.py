"""``segcli score``'s options and paths, checked before any work: outputs that would replace an
input or another run's state, options that conflict or do nothing in this mode, the output format,
the memory budget and the settings record."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import typer

from segcli.cli._output import info, warn
from segcli.results.journal import journal_path
from segcli.results.outputs import is_stream_target


def never_over_inputs(pairs, targets: dict, *, extra=(), inside=()) -> None:
    """An output path that is one of the run's input files is refused, with or without --overwrite:
    the pairs' files, ``extra`` input files (a dataset.json, a class-weights JSON), and any path
    inside the ``inside`` directories (--images; compare's PRED and GT), existing or not."""
    from segcli.errors import UsageError
    from segcli.inputs.remote import local_path

    inputs = [path for pair in pairs for path in (pair.pred, pair.gt, *pair.raters)] + list(extra)
    # An input exists, so only an existing target can be one; the same file is the same
    # (device, inode), whatever links lead to it (one stat per input, not a path resolution).
    existing = {}
    for option, target in targets.items():
        if target is not None and not is_stream_target(target):
            with contextlib.suppress(OSError):
                found = os.stat(target)
                existing[(found.st_dev, found.st_ino)] = (option, target)
    for path in inputs if existing else ():
        if path is not None and (local := local_path(path)) is not None:  # a remote URL is no local output
            with contextlib.suppress(OSError):
                found = os.stat(local)
                if (found.st_dev, found.st_ino) in existing:
                    option, target = existing[(found.st_dev, found.st_ino)]
                    raise UsageError(f"{option} {target}: is one of the input files; outputs never replace inputs")
    for option, target in targets.items():
        if target is None or is_stream_target(target):
            continue
        resolved = Path(target).resolve()
        for folder in inside:
            if folder is not None and (local := local_path(folder)) is not None and os.path.isdir(local):
                root = Path(local).resolve()
                if resolved.is_relative_to(root):
                    where = "the input directory" if resolved == root else "inside the input directory"
                    raise UsageError(f"{option} {target}: is {where} {folder}; outputs never replace inputs")


def refuse_an_input(output: Path, pred, gt, *, pred_suffix: str, gt_suffix: str) -> None:
    """An existing --output that is one of PRED's or GT's files is refused as an input (before
    the "exists; pass --overwrite" that would be wrong advice for it); if the inputs cannot be
    paired, nothing is said here (pairing says it later)."""
    from segcli.errors import SegcliError
    from segcli.inputs.pairing import pair_files

    try:
        pairs = pair_files(pred, gt, pred_suffix=pred_suffix, gt_suffix=gt_suffix, missing="skip").pairs
    except SegcliError:  # said where pairing runs
        return
    never_over_inputs(pairs, {"--output": Path(output)})


def file_option(value: str | None) -> Path | None:
    """An option that is a file or a literal (``--class-weights 1,2`` or a JSON file): the file."""
    return Path(value) if value and os.path.isfile(value) else None


def check_objects_out(objects_out: Path | None, output: Path | None, overwrite: bool) -> Path | None:
    if objects_out is None:
        return None
    from segcli.results.outputs import check_output_file

    target = check_output_file(objects_out, overwrite=overwrite, option="--objects-out")
    if output is not None and Path(output).resolve() == target.resolve():
        raise typer.BadParameter("must differ from --output", param_hint="--objects-out")
    return target


def with_raters(pairing, raters: list[Path], gt_suffix: str):
    """Each pair with its file from every --rater directory (matched by name like GT)."""
    from dataclasses import replace as replace_pair

    from segcli.errors import PairingError
    from segcli.inputs.pairing import find_images

    found = [find_images(root, suffix=gt_suffix) for root in raters]
    missing = [f"{root}: no file for {pair.name}" for root, files in zip(raters, found, strict=True)
               for pair in pairing.pairs if pair.name not in files]  # fmt: skip
    if missing:
        shown = "; ".join(missing[:5]) + (f"; and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise PairingError(f"{len(missing)} rater file(s) missing: {shown}")
    pairs = [replace_pair(pair, raters=tuple(files[pair.name] for files in found)) for pair in pairing.pairs]
    return replace_pair(pairing, pairs=pairs)


def staple_or_note() -> bool:
    from segcli.run.raters import STAPLE_NOTE, staple_available

    if staple_available():
        return True
    info(STAPLE_NOTE)
    return False


def warn_about_settings(settings, pred, gt) -> None:
    """Settings that are legal but probably not what was meant: said, never silently applied (the
    options that do nothing are ``segcli.settings.unused``'s)."""
    if settings.num_classes is not None and 0 <= settings.ignore_index < settings.num_classes:
        warn(
            f"--ignore-index {settings.ignore_index} is also class {settings.ignore_index} of "
            f"0..{settings.num_classes - 1}: "
            "its ground-truth pixels are ignored, so the class is never scored against ground truth"
        )
    from segcli.inputs.remote import local_path

    with contextlib.suppress(OSError, RuntimeError):  # RuntimeError: a symbolic link loop (pathlib)
        local_pred, local_gt = local_path(pred), local_path(gt)
        local = local_pred is not None and local_gt is not None
        if local_pred.resolve() == local_gt.resolve() if local else str(pred) == str(gt):
            warn(f"PRED and GT are the same path ({gt}): every prediction is scored against itself")


def check_output(output: Path | None, overwrite: bool, resume: bool) -> Path | None:
    """The output's problems, found before any work (exists, a directory, a file as parent)."""
    if output is None:
        return None
    from segcli.results.outputs import check_output_file

    target = check_output_file(output, overwrite=overwrite or resume, resume=resume)
    if not is_stream_target(target) and journal_path(target).exists():
        from segcli.results.outputs import OutputLock

        with OutputLock(target):  # a live run writing it: refused here, naming that run
            pass
    if not resume and not overwrite and not is_stream_target(target) and journal_path(target).exists():
        from segcli.errors import UsageError

        raise UsageError(
            f"{journal_path(target)}: holds the results of an interrupted run; pass --resume to continue it "
            "or --overwrite to start again"
        )
    if resume and is_stream_target(target):
        raise typer.BadParameter(f"{target} is not a regular file; nothing to resume", param_hint="--resume")
    return target


def check_report(report, output, overwrite, sort_by, chosen, num_classes, images) -> Path | None:
    """The report's target and options, checked before any work."""
    if report is None:
        return None
    from segcli.results.outputs import check_output_file

    target = check_output_file(report, overwrite=overwrite, option="--report")
    if output is not None and Path(output).resolve() == target.resolve():
        raise typer.BadParameter("must differ from --output", param_hint="--report")
    if sort_by is not None and sort_by not in chosen and not any(sort_by.startswith(f"{c}_") for c in chosen):
        raise typer.BadParameter(f"{sort_by!r} is not among the scores computed", param_hint="--report-sort")
    if images is not None and not Path(images).exists():
        raise typer.BadParameter(f"{images}: no such file or directory", param_hint="--images")
    return target


def memory_budget(max_memory: float | None, workers: int | None) -> float | None:
    """Bytes one pair may use: the run's budget shared by the pairs in flight."""
    from segcli.run.pipeline import default_workers, total_memory

    if max_memory is not None and max_memory <= 0:
        raise typer.BadParameter(f"expected > 0, got {max_memory}", param_hint="--max-memory")
    total = max_memory * 2**30 if max_memory is not None else (0.8 * total_memory() if total_memory() else None)
    return None if total is None else total / (workers or default_workers())


def say_format_mismatch(output: Path | None, fmt) -> None:
    """-o's name and the format written disagree (out.html, out.csv.gz, out.json --format csv): said."""
    if output is None or is_stream_target(output):
        return
    suffix = output.suffix.lower().lstrip(".")
    written = choose_format(fmt, output)
    if suffix in ("", written):
        return
    hint = "; the HTML page is --report" if suffix in ("html", "htm") else ""
    hint = "; it is not compressed" if suffix in ("gz", "bz2", "xz", "zip", "zst") else hint
    warn(f"{output}: written as {written}, whatever its name says{hint}")


def choose_format(fmt, output: Path | None) -> str:
    if fmt is not None:
        return fmt.value
    if output is not None:
        suffix = output.suffix.lower().lstrip(".")
        return suffix if suffix in ("csv", "tsv", "json", "jsonl") else "csv"
    return "table" if sys.stdout.isatty() else "csv"


def settings_record(settings, device: str) -> dict:
    from segcli.settings.run import settings_record as record_of

    return record_of(settings) | {"device": device}
