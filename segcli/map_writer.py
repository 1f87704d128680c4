"""Writing weight maps for a set of images: output paths, skip/overwrite rules, parallel workers.

Each job reads one image, computes its map (``segcli.maps``) and writes it atomically; a job
that fails reports its file and the others go on.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segcli.errors import InputError, OutputExistsError
from segcli.io import read_image, write_png, write_tiff
from segcli.maps import map_for_image, preview_rgb
from segcli.pairing import find_images
from segcli.pipeline import default_workers, resolve_spacing


@dataclass(frozen=True)
class MapSettings:
    kind: str = "unet"
    w0: float = 10.0
    sigma: float = 5.0
    class_weights: str | tuple[float, ...] = "uniform"
    connectivity: int = 1
    spacing: tuple[float, ...] | None = None
    preview: bool = False
    overwrite: bool = False
    skip_existing: bool = False


@dataclass(frozen=True)
class MapJob:
    source: Path
    target: Path

    @staticmethod
    def for_inputs(masks: Path, out: Path) -> list[MapJob]:
        """One job per image under ``masks``, its output mirroring the relative path under ``out``."""
        return [MapJob(path, Path(out) / f"{key}.tif") for key, path in find_images(masks).items()]


@dataclass(frozen=True)
class MapResult:
    job: MapJob
    error: str | None = None
    skipped: bool = False
    warnings: tuple[str, ...] = ()


def run_map_job(job: MapJob, settings: MapSettings) -> MapResult:
    preview_path = job.target.with_suffix(".png")
    if job.target.exists():
        if settings.skip_existing:
            return MapResult(job, skipped=True)
        if not settings.overwrite:
            return MapResult(job, error=f"{job.target}: exists; pass --overwrite or --skip-existing")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            image = read_image(job.source)
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
            )
            # The preview first: an existing map then always has its preview (--skip-existing).
            if settings.preview:
                write_png(preview_path, preview_rgb(result), overwrite=True)
            write_tiff(job.target, result, overwrite=True)
        except (InputError, OutputExistsError) as exc:
            return MapResult(job, error=str(exc))
        except MemoryError:
            return MapResult(job, error=f"{job.source}: out of memory")
    messages = tuple(f"{job.source}: {w.message}" for w in caught)
    return MapResult(job, warnings=messages)


def run_map_jobs(
    jobs: list[MapJob], settings: MapSettings, *, workers: int | None = None, on_done: Callable[[], None] | None = None
) -> Iterator[MapResult]:
    workers = default_workers() if workers is None else workers
    if workers <= 1 or len(jobs) <= 1:
        results = (run_map_job(job, settings) for job in jobs)
        for result in results:
            yield result
            if on_done:
                on_done()
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        for result in pool.map(run_map_job, jobs, [settings] * len(jobs)):
            yield result
            if on_done:
                on_done()
