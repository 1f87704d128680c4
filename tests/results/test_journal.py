"""segcli/results/journal.py (the resume journal, ``FILE.partial``): a resumed journal keeps its complete
lines byte for byte, drops a line cut short and appends after them (the file equals the one an
uninterrupted run writes); each record's values and meta read back, a record without meta reads
as ``{}``; a non-finite or non-JSON setting in the header round-trips; an existing journal is
refused without --resume/--overwrite and restarted with --overwrite; an empty, garbage, other-
version or directory journal is one usage error saying which; the settings check ignores
``NOT_COMPARED`` and names exactly the keys (top level and settings) that differ; a full disk
while appending names the journal, and closing or removing it afterwards never raises.

A full disk is ``/dev/full``. Expectations are worked out by hand from the README's guarantees
("Nothing lost, nothing clobbered") and the files each test builds."""

from __future__ import annotations

import errno
import json
import math
from pathlib import Path

import pytest

from segcli.errors import OutputError, UsageError
from segcli.results.journal import Journal, journal_path

HEADER = {"format": "csv", "columns": ["dice"], "settings": {"metrics": ["dice"], "threshold": 0.5}}

RECORDS = [
    ("a", {"dice": 0.5}, {"pred_kind": "mask"}),
    ("b", {"dice": 0.25}, {"pred_kind": "prob", "spacing": [1.0, 2.0]}),
    ("c", {"dice": 1.0}, {}),
]


def _journal(target, records, header=HEADER):
    journal = Journal.open(target, header, resume=False, overwrite=False)
    for name, values, meta in records:
        journal.append(name, values, meta)
    journal.close()
    return journal.path


def test_resume_keeps_complete_lines_drops_the_cut_one_and_ends_as_a_clean_run(tmp_path):
    (tmp_path / "clean").mkdir()
    clean = _journal(tmp_path / "clean" / "r.csv", RECORDS)
    target = tmp_path / "r.csv"
    path = _journal(target, RECORDS[:2])
    kept = path.read_bytes()
    with open(path, "ab") as handle:
        handle.write(b'{"name": "c", "values": {"di')  # a kill in the middle of a line
    journal = Journal.open(target, HEADER, resume=True, overwrite=False)
    assert journal.done == {name: (values, meta) for name, values, meta in RECORDS[:2]}
    assert path.read_bytes() == kept  # the cut line is gone before anything is appended
    journal.append(*RECORDS[2])
    journal.close()
    assert path.read_bytes() == clean.read_bytes()
    lines = path.read_bytes().split(b"\n")
    assert len(lines) == 5 and lines[-1] == b""  # header, a, b, c, then the final line end
    assert json.loads(lines[3]) == {"name": "c", "values": {"dice": 1.0}, "meta": {}}


def test_resume_with_nothing_cut_appends_after_the_last_line(tmp_path):
    target = tmp_path / "r.csv"
    path = _journal(target, RECORDS[:1])
    kept = path.read_bytes()
    journal = Journal.open(target, HEADER, resume=True, overwrite=False)
    journal.append(*RECORDS[1])
    journal.close()
    data = path.read_bytes()
    assert data.startswith(kept) and data.count(b"\n") == 3
    again = Journal.open(target, HEADER, resume=True, overwrite=False)
    assert again.done == {name: (values, meta) for name, values, meta in RECORDS[:2]}
    again.close()


def test_a_record_without_meta_reads_back_with_empty_meta(tmp_path):
    target = tmp_path / "r.csv"
    path = _journal(target, [])
    with open(path, "a") as handle:
        handle.write('{"name": "a", "values": {"dice": 0.5}}\n')
    journal = Journal.open(target, HEADER, resume=True, overwrite=False)
    assert journal.done == {"a": ({"dice": 0.5}, {})}
    journal.close()


def test_a_header_with_inf_and_a_path_round_trips_and_resumes(tmp_path):
    """Settings may hold inf (JSON's Infinity, as the records do) and objects JSON cannot hold (a
    path, written as its text): the journal is written, and the same settings resume it."""
    target = tmp_path / "r.csv"
    header = {"format": "csv", "columns": ["hd"], "settings": {"max_distance": math.inf, "labels": tmp_path / "d.json"}}
    path = _journal(target, [("a", {"hd": math.inf}, {})], header)
    stored = json.loads(path.read_bytes().split(b"\n")[0])
    assert stored["settings"] == {"max_distance": math.inf, "labels": str(tmp_path / "d.json")}
    assert stored["segcli_journal"] == 1
    journal = Journal.open(target, header, resume=True, overwrite=False)
    assert journal.done == {"a": ({"hd": math.inf}, {})}
    journal.close()


def test_headers_without_settings_are_compared_too(tmp_path):
    target = tmp_path / "r.csv"
    _journal(target, RECORDS[:1], {"format": "csv", "columns": ["dice"]})
    journal = Journal.open(target, {"format": "csv", "columns": ["dice"]}, resume=True, overwrite=False)
    assert list(journal.done) == ["a"]
    journal.close()
    with pytest.raises(UsageError, match=r"\(format differ\)"):
        Journal.open(target, {"format": "tsv", "columns": ["dice"]}, resume=True, overwrite=False)


def test_an_existing_journal_is_refused_without_resume_and_restarted_with_overwrite(tmp_path):
    target = tmp_path / "r.csv"
    path = _journal(target, RECORDS)
    before = path.read_bytes()
    with pytest.raises(UsageError) as refused:
        Journal.open(target, HEADER, resume=False, overwrite=False)
    assert str(refused.value) == (
        f"{path}: holds the results of an interrupted run; pass --resume to continue it or --overwrite to start again"
    )
    assert path.read_bytes() == before  # never discarded
    journal = Journal.open(target, HEADER, resume=False, overwrite=True)
    journal.close()
    assert journal.done == {}
    lines = path.read_bytes().split(b"\n")
    assert len(lines) == 2 and lines[1] == b"" and json.loads(lines[0]) == {"segcli_journal": 1} | HEADER


def test_a_journal_that_is_a_directory_is_refused(tmp_path):
    journal_path(tmp_path / "r.csv").mkdir()
    with pytest.raises(UsageError) as refused:
        Journal.open(tmp_path / "r.csv", HEADER, resume=True, overwrite=True)
    assert str(refused.value) == f"{tmp_path / 'r.csv.partial'}: exists and is not a regular file"


@pytest.mark.parametrize("content", [b"", b'{"segcli_journal": 1, "format": "csv"'])
def test_an_empty_journal_or_one_cut_in_its_header_is_refused(tmp_path, content):
    path = journal_path(tmp_path / "r.csv")
    path.write_bytes(content)
    with pytest.raises(UsageError) as refused:
        Journal.open(tmp_path / "r.csv", HEADER, resume=True, overwrite=False)
    assert str(refused.value) == f"{path}: empty or not a segcli journal; delete it or pass --overwrite"
    assert path.read_bytes() == content


def test_a_file_that_is_not_a_journal_is_refused_as_that(tmp_path):
    path = journal_path(tmp_path / "r.csv")
    path.write_bytes(b"name,dice\na,0.5\n")
    with pytest.raises(UsageError) as refused:
        Journal.open(tmp_path / "r.csv", HEADER, resume=True, overwrite=False)
    assert str(refused.value) == f"{path}: not a segcli journal; delete it or pass --overwrite"


@pytest.mark.parametrize("first", [b'{"segcli_journal": 2, "format": "csv"}', b"[1]", b'"segcli_journal"'])
def test_a_journal_of_another_version_is_refused_as_that(tmp_path, first):
    path = journal_path(tmp_path / "r.csv")
    path.write_bytes(first + b"\n")
    with pytest.raises(UsageError) as refused:
        Journal.open(tmp_path / "r.csv", HEADER, resume=True, overwrite=False)
    assert str(refused.value) == f"{path}: not a segcli journal of this version; delete it or pass --overwrite"


def test_a_damaged_record_is_named_by_its_line(tmp_path):
    path = _journal(tmp_path / "r.csv", RECORDS[:1])
    with open(path, "a") as handle:
        handle.write("not json\n")
    with pytest.raises(UsageError) as refused:
        Journal.open(tmp_path / "r.csv", HEADER, resume=True, overwrite=False)
    assert str(refused.value) == (
        f"{path}: line 3 is not a record of a segcli run (edited or damaged); "
        "delete the file or pass --overwrite to score again"
    )


def test_settings_that_change_no_value_may_differ_on_resume(tmp_path):
    old = HEADER | {"settings": HEADER["settings"] | {"max_memory": 1, "device": "cpu", "cpu_plan": [1]}}
    new = HEADER | {"settings": HEADER["settings"] | {"max_memory": 2, "device": "cuda", "cpu_plan": [2, 2]}}
    _journal(tmp_path / "r.csv", RECORDS[:1], old)
    journal = Journal.open(tmp_path / "r.csv", new, resume=True, overwrite=False)
    assert list(journal.done) == ["a"]
    journal.close()


def test_other_settings_are_refused_naming_exactly_the_keys_that_differ(tmp_path):
    """columns changed, labels only in the new header, threshold changed, seed only in the new
    settings; format and metrics are equal, device is not compared."""
    path = _journal(tmp_path / "r.csv", RECORDS[:1], HEADER | {"settings": HEADER["settings"] | {"device": "cpu"}})
    new = {
        "format": "csv",
        "columns": ["dice", "iou"],
        "labels": ["liver"],
        "settings": {"metrics": ["dice"], "threshold": 0.6, "seed": 1, "device": "cuda"},
    }
    with pytest.raises(UsageError) as refused:
        Journal.open(tmp_path / "r.csv", new, resume=True, overwrite=False)
    assert str(refused.value) == (
        f"{path}: the interrupted run used other settings (columns, labels, seed, threshold differ); "
        "repeat its command with --resume, or pass --overwrite to start again"
    )


def test_only_a_setting_that_differs_is_refused_too(tmp_path):
    path = _journal(tmp_path / "r.csv", RECORDS[:1])
    new = HEADER | {"settings": HEADER["settings"] | {"threshold": 0.6}}
    with pytest.raises(UsageError, match=r"other settings \(threshold differ\)") as refused:
        Journal.open(tmp_path / "r.csv", new, resume=True, overwrite=False)
    assert str(refused.value).startswith(f"{path}: ")


def test_a_journal_that_cannot_be_created_or_read_is_an_output_error_naming_it(tmp_path, monkeypatch):
    missing = tmp_path / "gone" / "r.csv"
    with pytest.raises(OutputError) as created:
        Journal.open(missing, HEADER, resume=False, overwrite=False)
    assert str(created.value) == f"{journal_path(missing)}: cannot write (No such file or directory)"

    path = _journal(tmp_path / "r.csv", RECORDS[:1])

    def unreadable(self):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", unreadable)
    with pytest.raises(OutputError) as read:
        Journal.open(tmp_path / "r.csv", HEADER, resume=True, overwrite=False)
    assert str(read.value) == f"{path}: cannot read (permission denied)"  # a read, not a write


def test_a_full_disk_while_appending_names_the_journal_and_closing_never_raises(tmp_path):
    journal = Journal.open(tmp_path / "r.csv", HEADER, resume=False, overwrite=False)
    journal._handle.close()
    journal._handle = open("/dev/full", "wb")  # noqa: SIM115 (a stand-in for a full disk)
    with pytest.raises(OutputError) as full:
        journal.append(*RECORDS[0])
    assert str(full.value) == f"{journal.path}: cannot write (no space left on device)"
    journal.close()  # the unwritten line is still buffered: closing fails again, quietly
    assert journal._handle.closed
    journal.remove()
    assert not journal.path.exists()
    journal.remove()  # already gone: nothing to do
