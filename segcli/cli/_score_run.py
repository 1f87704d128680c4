"""One ``segcli score`` run once its options are checked: scoring the pairs, streaming the records
to stdout or journaling them to ``-o FILE`` (written atomically at the end, resumable), the
summary, and --resume's checks of a finished output."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import typer

from segcli.cli._output import info, progress, spell, state, warn
from segcli.display import printable_lines
from segcli.results.journal import input_stamp, journal_path
from segcli.results.outputs import TEXT_ERRORS


def written_format(target: Path) -> str:
    """The format of a finished output, from its first bytes: JSON is one indented document
    (``{`` and a line end), JSONL one record a line (``{"``), TSV has a tab in its header."""
    with open(target, "rb") as handle:
        head = handle.read(4096)
    text = head.lstrip()
    if text.startswith(b"{"):
        return "jsonl" if text.startswith(b'{"') else "json"
    return "tsv" if b"\t" in head.partition(b"\n")[0] else "csv"


def recorded_paths(target: Path) -> dict[str, tuple[str, str]]:
    """name -> (pred_path, gt_path) as a finished output records them (JSON, JSON lines, CSV, TSV);
    empty where it does not (a --thresholds CSV)."""
    import csv
    import io
    import json

    text = Path(target).read_text(encoding="utf-8", errors=TEXT_ERRORS)
    if text.lstrip().startswith("{"):
        try:
            documents = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            documents = [json.loads(text)]
        records = [r for d in documents for r in ([d] if "name" in d else d.get("images", []))]
    else:
        delimiter = "\t" if "\t" in text.partition("\n")[0] else ","
        records = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))
    return {
        r["name"]: (r.get("pred_path") or "", r.get("gt_path") or "")
        for r in records
        if isinstance(r, dict) and "gt_path" in r and not str(r.get("name", "")).startswith("summary:")
    }


OBJECT_COLUMNS = ("image", "side", "id", "area", "centroid", "matched_id", "iou", "best_id", "best_iou", "kind")


def write_objects_out(run, target: Path) -> None:
    """Every object of every scored pair, in pair order, written atomically."""
    from segcli.results.files import atomic_path
    from segcli.results.formats import SafeCsvWriter
    from segcli.results.outputs import OutputLock

    with (
        OutputLock(target),
        atomic_path(target, overwrite=True) as tmp,
        open(tmp, "w", encoding="utf-8", errors=TEXT_ERRORS, newline="") as stream,
    ):
        writer = SafeCsvWriter(stream)
        writer.writerow(OBJECT_COLUMNS)
        for pair in run.pairs:
            if pair.name not in run.scored:
                continue
            for row in run.scored[pair.name][1].get("objects", []):
                cells = {"image": pair.name} | row
                cells["centroid"] = " ".join(f"{v:.6g}" for v in row["centroid"])
                writer.writerow(
                    [f"{cells[c]:.10g}" if isinstance(cells[c], float) else cells[c] for c in OBJECT_COLUMNS]
                )
    info(f"objects written to {target}")


@dataclass
class ScoreRun:
    """One scoring run: the pairs, what to compute, where the records go."""

    pairs: list
    settings: object
    columns: list[str]
    fmt: str
    record: dict
    workers: int
    device: str
    fail_fast: bool
    threads: int = 1  # each worker's threads for its own transforms (segcli.engine.cpus)
    interval: tuple[float, int, int] | None = None  # --ci, --bootstrap, --seed
    client: object = None  # a dask.distributed Client (--scheduler)
    failures: list[str] = field(default_factory=list)
    messages: dict[str, str] = field(default_factory=dict)
    scored: dict[str, tuple[dict, dict]] = field(default_factory=dict)
    complete: Path | None = None  # --resume found this output already complete (nothing scored now)

    def results(self):
        """The run's records in pair order, for the HTML report."""
        from segcli.results.read_back import RunResults

        units = distance_units(meta for _, meta in self.scored.values())
        results = RunResults(columns=list(self.columns), settings=self.record | {"units": units})
        for pair in self.pairs:
            if pair.name in self.scored:
                values, meta = self.scored[pair.name]
                results.names.append(pair.name)
                results.rows.append(values)
                results.metas.append(meta)
        results.failures = [(name, self.messages.get(name, "")) for name in self.failures]
        return results

    def outcomes(self, pairs) -> Iterator:
        """Scored records of ``pairs`` in order; failures and warnings said on stderr as they come."""
        from segcli.run.outcomes import Failure
        from segcli.run.pipeline import score_pairs

        seen: set[str] = set()
        with progress(len(pairs), "scoring") as advance:
            for outcome in score_pairs(
                pairs,
                self.settings,
                workers=self.workers,
                threads=self.threads,
                on_done=advance,
                torch_device=None if self.device == "cpu" else self.device,
                client=self.client,
            ):
                for message in outcome.warnings:
                    if message not in seen:
                        seen.add(message)
                        warn(message)
                if isinstance(outcome, Failure):
                    self.failures.append(outcome.name)
                    message = spell(outcome.message)  # its options as flags
                    self.messages[outcome.name] = message
                    warn(f"not scored: {message}")
                    if outcome.detail and state["debug"]:
                        typer.echo(printable_lines(outcome.detail), err=True)
                    if self.fail_fast:
                        return
                else:
                    yield outcome

    def writer(self, stream):
        from segcli.results.formats import META_COLUMNS, ReportWriter

        confidence, n_resamples, seed = self.interval or (None, None, None)
        if self.settings.thresholds is not None:
            from segcli.results.thresholds import ThresholdWriter
            from segcli.scores.table import BY_NAME

            direction = {name: BY_NAME[name].higher_is_better for name in self.settings.metrics}
            return ThresholdWriter(stream, self.fmt, self.columns, higher_is_better=direction, settings=self.record)
        return ReportWriter(
            stream,
            self.fmt,
            self.columns,
            settings=self.record,
            meta_columns=META_COLUMNS,
            confidence=confidence,
            n_resamples=n_resamples,
            seed=seed,
            empty_distance=self.settings.options.empty_distance,
        )

    def finish(self, writer) -> None:
        """The summary (with the distances' unit), and one line on stderr for each column left
        without an interval and for pairs whose units disagree."""
        units = distance_units(writer.metas)
        writer.settings = writer.settings | {"units": units}
        writer.unit_note = "distances in " + ("mixed units" if units["distance"] == "mixed" else units["distance"])
        if units["distance"] == "mixed":
            counts = ", ".join(f"{unit}: {n}" for unit, n in units["pairs"].items())
            warn(f"the pairs' distances are in different units ({counts}); see the records' spacing_source")
        summary = writer.finish(self.failures, self.messages)
        policy = self.settings.options.empty_distance
        if policy != "inf":
            touched = {c: s["n_empty_distance"] for c, s in summary.items() if s.get("n_empty_distance")}
            if touched:
                counts = ", ".join(f"{c}: {n}" for c, n in touched.items())
                info(f"--empty-distance {policy} replaced the distance of a missed structure ({counts})")
        for column, reason in writer.interval_notes.items():
            warn(f"no confidence interval for {column}: {reason}")

    def to_stream(self, target) -> None:
        """Stream records to stdout (or a device / FIFO given as --output) as they come."""
        if not isinstance(target, Path):
            self._write_stream(target)
            return
        try:
            with open(target, "w", encoding="utf-8", errors=TEXT_ERRORS, newline="") as stream:
                self._write_stream(stream)
        except OSError as exc:  # a full or closed device: named, not "stdout"
            from segcli.errors import OutputError
            from segcli.results.outputs import describe_os_error

            raise OutputError(describe_os_error(exc, target)) from None

    def _write_stream(self, stream) -> None:
        writer = self.writer(stream)
        for outcome in self.outcomes(self.pairs):
            writer.write(outcome.name, outcome.values, outcome.meta)
            self.scored[outcome.name] = (outcome.values, outcome.meta)
        self.finish(writer)

    def _check_complete(self, target: Path) -> None:
        """--resume of a finished output: it must hold this run's results (its scores, its pairs and,
        where the file records them, its settings), else it is refused, never passed off as done."""
        from segcli.errors import InputError, UsageError
        from segcli.results.compare import read_results
        from segcli.results.journal import NOT_COMPARED, _normal

        try:
            table = read_results(target)
        except InputError:
            warn(f"{target}: cannot be read back to check that it holds this run's results")
            return
        written = written_format(target)
        if written != self.fmt:  # a table cannot be read back: never here
            raise UsageError(
                f"{target}: complete, but written as {written}, not {self.fmt}; "
                f"pass --format {written} to keep it, or --overwrite to write it again as {self.fmt}"
            )
        differ = []
        if list(table.columns) != list(self.columns):
            differ.append("scores")
        names = {pair.name for pair in self.pairs}
        if any(name not in names for name in table.values):
            differ.append("pairs")
        recorded = recorded_paths(target)
        for pair in self.pairs:
            paths = (str(pair.pred) if pair.pred is not None else "", str(pair.gt))
            if pair.name in recorded and recorded[pair.name] != paths:
                differ.append("input files")
                break
        if table.settings is not None:
            from segcli.settings import current_names

            now, recorded_settings = current_names(_normal(self.record)), current_names(table.settings)
            if any(recorded_settings.get(k) != v for k, v in now.items() if k not in NOT_COMPARED):
                differ.append("settings")
        if differ:
            raise UsageError(
                f"{target}: complete, but holds another run's results ({', '.join(differ)} differ); "
                "pass --overwrite to score again"
            )

    def to_file(self, target: Path, *, resume: bool, overwrite: bool) -> None:
        """Journal each record as it comes (``FILE.partial``); write FILE atomically at the end."""
        from segcli.results.files import atomic_path
        from segcli.results.journal import Journal
        from segcli.results.outputs import OutputLock

        with OutputLock(target) as lock:
            if lock.stale is not None:
                warn(f"{lock.path}: left by process {lock.stale}, which is gone; taken over")
            if resume and not journal_path(target).exists() and target.exists():
                self._check_complete(target)
                info(f"{target} is complete; nothing to resume")
                self.complete = target
                return
            header = {"format": self.fmt, "columns": self.columns, "settings": self.record}
            journal = Journal.open(target, header, resume=resume, overwrite=overwrite)
            by_name = {pair.name: pair for pair in self.pairs}
            done = {name: entry for name, entry in journal.done.items() if name in by_name}
            if resume:
                self._resumed(journal, done, by_name)
            try:
                for outcome in self.outcomes([p for p in self.pairs if p.name not in done]):
                    stamp = input_stamp(_inputs(by_name[outcome.name]))
                    journal.append(outcome.name, outcome.values, outcome.meta, stamp)
                    done[outcome.name] = (outcome.values, outcome.meta)
            except BaseException:
                journal.close()
                warn(
                    f"{len(done)} of {len(self.pairs)} pair(s) saved in {journal.path}; "
                    "repeat the command with --resume to finish"
                )
                raise
            with (
                atomic_path(target, overwrite=True) as tmp,
                open(tmp, "w", encoding="utf-8", errors=TEXT_ERRORS, newline="") as stream,
            ):
                writer = self.writer(stream)
                for pair in self.pairs:
                    if pair.name in done:
                        values, meta = done[pair.name]
                        writer.write(pair.name, values, meta)
                self.finish(writer)
            journal.remove()
            self.scored = done

    def _resumed(self, journal, done: dict, by_name: dict) -> None:
        """Leave out of ``done`` the journal's pairs whose files changed since (scored again), each
        said; a journal holding pairs that are not among these inputs is refused."""
        changed = [
            name
            for name in done
            if name in journal.stamps and journal.stamps[name] != input_stamp(_inputs(by_name[name]))
        ]
        for name in changed:
            del done[name]
        info(f"resuming: {len(done)} of {len(self.pairs)} pair(s) already scored in {journal.path}")
        if changed:
            shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
            info(f"{len(changed)} pair(s) whose files changed since they were scored are scored again: {shown}")
        if len(done) + len(changed) != len(journal.done):
            journal.close()
            from segcli.errors import UsageError

            raise UsageError(
                f"{journal.path}: {len(journal.done) - len(done) - len(changed)} of its pair(s) are not "
                "among these inputs; repeat the interrupted run's command with --resume, or pass --overwrite "
                "to start again"
            )


def _inputs(pair) -> tuple:
    """A pair's input files: prediction (None: scored as empty), GT, raters."""
    return (pair.pred, pair.gt, *pair.raters)


def distance_units(metas) -> dict:
    """The unit of a run's distances: one unit, or ``mixed`` with the count of pairs per unit."""
    from collections import Counter

    counts = Counter(meta.get("unit") for meta in metas if meta.get("unit"))
    distance = next(iter(counts)) if len(counts) == 1 else ("mixed" if counts else "px")
    return {"distance": distance, "pairs": dict(sorted(counts.items()))}
