"""Writing weight maps for a set of images: output paths, skip/overwrite rules, parallel workers.

Each job reads one image (a local path or an fsspec URL), computes its map (``segcli.engine.maps``) and
writes it atomically; a job that fails for any reason (a bad file, an unexpected exception, a
worker process that dies, a task the Dask cluster lost) reports its file and the others go on.
On a Dask cluster (``client``) the workers read, compute and write: ``--out`` must be a folder
they all see (a shared file system). A job that cannot write its output (disk full, read-only)
says so in ``MapResult.output_failed``: the caller stops there, as every later write would fail.
"""

from __future__ import annotations

import contextlib
import os
import re
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from segcli.engine.map_preview import preview_rgb
from segcli.engine.maps import map_for_image
from segcli.errors import InvalidOption, OutputError, SegcliError, UsageError, option
from segcli.inputs.images import VOLUME_SUFFIXES, image_stem, image_suffix, read_image
from segcli.inputs.pairing import find_images
from segcli.inputs.remote import Url, local_path
from segcli.inputs.spacing import resolve_spacing
from segcli.results.files import map_target_suffix, tiff_tags, write_png, write_tiff, write_volume_map
from segcli.results.outputs import describe_os_error
from segcli.run.pool import WORKER_DIED, map_isolated
from segcli.settings import default


@dataclass(frozen=True)
class MapSettings:
    kind: str = default("kind")
    w0: float = default("w0")
    sigma: float = default("sigma")
    class_weights: str | tuple[float, ...] = default("class_weights", "weightmap")
    connectivity: int = default("connectivity", "weightmap")
    spacing: tuple[float, ...] | None = None
    preview: bool = False
    overwrite: bool = False
    skip_existing: bool = False
    # A torch device for the sdf, boundary and distance maps ("cuda:0"; "cpu": torch on the
    # CPU); None: numpy. Maps on a device are computed in the main process, one file at a time.
    device: str | None = None


def check_map_options(
    *,
    w0: float,
    sigma: float,
    class_weights: str,
    class_weight_scheme: str,
    connectivity: int,
    workers: int | None = None,
    overwrite: bool = False,
    skip_existing: bool = False,
) -> str | tuple[float, ...]:
    """The options of a weight-map run, checked (``InvalidOption`` naming the option); returns the
    U-Net class term: ``uniform``, ``balanced`` or ``(w_background, w_foreground)``."""
    from segcli.engine.maps import check_unet_options

    if connectivity not in (1, 2):
        raise InvalidOption("connectivity", f"expected 1 or 2, got {connectivity}")
    weights = map_class_weights(class_weights, class_weight_scheme)
    try:
        check_unet_options(w0=w0, sigma=sigma, class_weights=None if isinstance(weights, str) else weights)
    except ValueError as exc:  # engine.maps names the argument: w0, sigma or class_weights
        name, _, reason = str(exc).partition(": ")
        raise InvalidOption(name, reason) from None
    if workers is not None and workers < 1:
        raise InvalidOption("workers", f"expected >= 1, got {workers}")
    if overwrite and skip_existing:
        raise UsageError(f"{option('overwrite')} and {option('skip_existing')} contradict each other")
    return weights


def check_out_dir(masks: Path | Url, out: Path) -> None:
    """Outputs must never be read back as inputs: ``out`` may not be ``masks`` or lie inside it (a
    remote URL never holds a local output)."""
    local = local_path(masks)
    if local is None:
        return
    masks_real, out_real = local.resolve(), out.resolve()
    if out_real == masks_real or out_real.is_relative_to(masks_real):
        where = "the input directory" if out_real == masks_real else f"inside the input directory {masks}"
        raise UsageError(f"{option('out')} {out}: is {where}; outputs must never be read back as inputs")


def inside_out(out: Path, key: str, suffix: str, source: object) -> Path:
    """The map of the input named ``key`` (its path under the input root, no extension): under
    ``out``, or ``UsageError`` naming the input. A key with an empty segment, ``.``, ``..`` or an
    absolute form (an object store's ``masks//tmp/x.png`` lists as ``/tmp/x``) would put the map
    outside ``out``, and so would a symbolic link already under ``out`` that leads elsewhere.

    >>> inside_out(Path("w"), "sub/a", ".tif", "masks/sub/a.png").as_posix()
    'w/sub/a.tif'
    """
    segments = key.split("/")
    if key.startswith("/") or any(segment in ("", ".", "..") for segment in segments):
        raise UsageError(f"{source}: its name {key!r} would put its map outside {option('out')} {out}; rename it")
    target = Path(out).joinpath(*segments[:-1], segments[-1] + suffix)
    if not Path(os.path.realpath(target)).is_relative_to(os.path.realpath(out)):
        raise UsageError(f"{source}: its map {target} leads outside {option('out')} {out} (a symbolic link)")
    return target


def map_class_weights(class_weights: str, scheme: str) -> str | tuple[float, ...]:
    """uniform, balanced, or (w_bg, w_fg) from a comma list or a classweights JSON, each finite >= 0."""
    from segcli.engine.maps import check_class_weights
    from segcli.run.per_class import load_class_weights

    if class_weights in ("uniform", "balanced"):
        return class_weights
    try:
        weights = load_class_weights(class_weights, scheme, 2)
    except UsageError as exc:  # load_class_weights is shared with score, whose num_classes is an option
        raise UsageError(exc.marked.replace(f"{option('num_classes')} 2", "2 classes")) from None
    try:
        return tuple(check_class_weights(weights).tolist())
    except ValueError:
        reason = f"expected two finite weights >= 0 (background, foreground), got {class_weights!r}"
        raise InvalidOption("class_weights", reason) from None


@dataclass(frozen=True)
class MapJob:
    source: Path | Url
    target: Path

    @staticmethod
    def for_inputs(masks: Path | Url | str, out: Path) -> list[MapJob]:
        """One job per image under ``masks``, its output mirroring the relative path under ``out``:
        a medical volume in its own format (``.nhdr`` as ``.nrrd``, ``.mhd`` as ``.mha``), any
        other image as a TIFF.

        Raises ``UsageError`` when an output (map or preview) would be one of the inputs, or would
        land outside ``out`` (``inside_out``).
        """
        jobs = [
            MapJob(path, inside_out(out, key, map_target_suffix(path), path))
            for key, path in find_images(masks).items()
        ]
        sources = {os.path.realpath(local): job.source for job in jobs if (local := local_path(job.source)) is not None}
        for job in jobs:
            for target in (job.target, job.preview):
                if os.path.realpath(target) in sources:
                    raise UsageError(f"{target}: an output would replace the input {sources[os.path.realpath(target)]}")
        return jobs

    @property
    def preview(self) -> Path:
        stem = image_stem(self.target)
        return stem.with_name(stem.name + ".png")


@dataclass(frozen=True)
class MapResult:
    job: MapJob
    error: str | None = None
    skipped: bool = False
    warnings: tuple[str, ...] = ()
    output_failed: bool = False  # the error is a write that failed (disk full, read-only, ...)
    detail: str | None = None  # the traceback of an unexpected exception


def run_map_job(job: MapJob, settings: MapSettings) -> MapResult:
    """Read, compute and write one map. Never raises an ``Exception``: every failure is a result."""
    try:
        return _run_map_job(job, settings)
    except OutputError as exc:  # a write that failed (disk full, read-only): every later one would too
        return MapResult(job, error=str(exc), output_failed=True)
    except SegcliError as exc:  # a bad input file, an output path that cannot be used
        return MapResult(job, error=str(exc))
    except MemoryError:
        return MapResult(job, error=f"{job.source}: out of memory")
    except Exception as exc:  # one file's surprise must not cost the others
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if not isinstance(exc, ValueError):  # ValueError: the maps' own check of the image
            message = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
        return MapResult(job, error=f"{job.source}: {message}", detail=traceback.format_exc())


def _existing(job: MapJob, settings: MapSettings) -> MapResult | None:
    """The result of a job whose map exists already (skipped, or an error without --overwrite);
    None when the job is to run."""
    if job.target.exists():
        if settings.skip_existing:
            return MapResult(job, skipped=True)
        if not settings.overwrite:
            return MapResult(job, error=f"{job.target}: exists; pass --overwrite or --skip-existing")
    return None


def _run_map_job(job: MapJob, settings: MapSettings) -> MapResult:
    preview_path = job.preview
    existing = _existing(job, settings)
    if existing is not None:
        return existing
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = read_image(job.source, spacing=settings.spacing is None)
        spacing = resolve_spacing(settings.spacing, image.spacing, image.array.ndim, job.source)
        weights = settings.class_weights
        result = map_for_image(
            image.array,
            settings.kind,
            w0=settings.w0,
            sigma=settings.sigma,
            class_weights=weights if isinstance(weights, str) else np.asarray(weights),
            connectivity=settings.connectivity,
            spacing=spacing,
            device=settings.device,
        )
        # The preview first: an existing map then always has its preview (--skip-existing).
        writing = preview_path
        try:
            if settings.preview:
                write_png(preview_path, preview_rgb(result, image_ndim=image.array.ndim), overwrite=True)
            writing = job.target
            if image_suffix(job.target) in VOLUME_SUFFIXES:
                write_volume_map(job.target, result, source=image, overwrite=True)
            else:
                write_tiff(job.target, result, overwrite=True, **tiff_tags(image))
        except OSError as exc:
            return MapResult(job, error=describe_os_error(exc, writing), output_failed=True)
    messages = tuple(f"{job.source}: {w.message}" for w in caught)
    return MapResult(job, warnings=messages)


def run_map_jobs(
    jobs: list[MapJob],
    settings: MapSettings,
    *,
    workers: int | None = None,
    on_done: Callable[[], None] | None = None,
    client=None,
) -> Iterator[MapResult]:
    """One result per job, in the order of ``jobs``, computed by up to ``workers`` processes (None:
    one per CPU; with fewer jobs than CPUs each worker's transforms use the CPUs left over); a
    worker process that dies fails the job that killed it, and the others go on.

    Which maps exist is decided here, once, before any job runs: a job run again (its worker
    process died, or Dask lost its worker) then replaces, atomically and with the same bytes, the
    map its first try may have written, instead of reporting it as existing.

    With a ``client`` (``dask.distributed.Client``, ``segcli.run.cluster.connect``) every job is a
    task on that cluster (``workers`` is not used): the workers write the maps at the targets'
    absolute paths as this process sees them (a worker's working folder is not ours), the same
    files as a local run, and a job the cluster loses (after its retries) is a failed result
    naming the file.
    """
    from dataclasses import replace

    from segcli.engine.cpus import plan_cpus

    if workers is not None and workers < 1:
        raise ValueError(f"workers: expected >= 1, got {workers}")
    if settings.device is not None:
        workers = 1  # a torch device is driven from this process (CUDA does not survive a fork)
    if client is not None:
        jobs = [replace(job, target=job.target.absolute()) for job in jobs]
    decided = [_existing(job, settings) for job in jobs]
    to_run = [job for job, result in zip(jobs, decided, strict=True) if result is None]
    task = partial(run_map_job, settings=replace(settings, overwrite=True, skip_existing=False))
    if client is not None:
        from segcli.run.cluster import map_on_cluster

        computed = map_on_cluster(client, task, to_run, on_lost=_lost_on_cluster)
    else:
        plan = plan_cpus(len(to_run), workers)  # few large images: each worker's transforms on threads
        computed = map_isolated(task, to_run, workers=plan.workers, on_crash=_crashed, threads=plan.threads_per_worker)
    try:
        for result in decided:
            yield result if result is not None else next(computed)
            if on_done:
                on_done()
    finally:
        computed.close()
        _remove_partial_files(to_run)


# The temporary name of segcli.results.files.atomic_path: ".<target name>.<8 random characters>.partial[suffix]".
_PARTIAL = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.partial")


def _remove_partial_files(jobs: list[MapJob]) -> None:
    """Remove what a killed writer left of the jobs' maps and previews: a process killed outright
    (the out-of-memory killer, a lost Dask worker) cannot remove its own temporary file. One
    listing per output folder; only this run's targets are matched (the caller holds --out's lock)."""
    names: dict[Path, set[str]] = {}
    for job in jobs:
        for target in (job.target, job.preview):
            names.setdefault(target.parent, set()).add(target.name)
    for folder, wanted in names.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:  # never created (nothing written there)
            continue
        for entry in entries:
            match = _PARTIAL.match(entry.name)
            if match and match["name"] in wanted and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


def _crashed(job: MapJob) -> MapResult:
    return MapResult(job, error=f"{job.source}: {WORKER_DIED}")


def _lost_on_cluster(job: MapJob, error: BaseException) -> MapResult:
    return MapResult(job, error=f"{job.source}: the cluster could not process it ({type(error).__name__}: {error})")
