"""--resume reads a journal written under the options' former names (``unet_w0``, ``unet_sigma``,
``spacing_override``, ``object_connectivity``), as segcli wrote them before one name everywhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORMER = {"w0": "unet_w0", "sigma": "unet_sigma", "spacing": "spacing_override", "connectivity": "object_connectivity"}


def _segcli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "segcli", *args], cwd=cwd, env=env, capture_output=True, text=True)


def _former(record: dict, top: bool = True) -> dict:
    """A settings record as segcli wrote it before the renames."""
    renamed = {}
    for key, value in record.items():
        if key == "options":
            value = {FORMER.get(k, k): v for k, v in value.items() if k != "spacing"} | {"spacing": value["spacing"]}
        renamed[FORMER.get(key, key) if key != "options" else key] = value
    return renamed


def test_resume_reads_a_journal_of_the_former_names(tmp_path):
    shutil.copytree(ROOT / "sample_data" / "pred", tmp_path / "pred")
    shutil.copytree(ROOT / "sample_data" / "gt", tmp_path / "gt")
    args = ["score", "pred", "gt", "--metrics", "dice,unet_wce", "--w0", "7", "--workers", "1"]
    fresh = _segcli(*args, "-o", "fresh.jsonl", cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    lines = (tmp_path / "fresh.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines if '"name"' in line[:9]]
    settings = json.loads(lines[-1])["settings"]
    settings.pop("units", None)  # the finished output's: the distances' units, known once scored
    assert settings["options"]["w0"] == 7 and "spacing" in settings and "connectivity" in settings
    old = _former(settings)
    assert old["options"]["unet_w0"] == 7 and "spacing_override" in old and "object_connectivity" in old
    header = {"segcli_journal": 1, "format": "jsonl", "columns": ["dice", "unet_wce"], "settings": old}
    first = records[0]
    values = {k: first[k] for k in ("dice", "unet_wce")}
    meta = {k: v for k, v in first.items() if k not in ("name", "dice", "unet_wce")}
    entry = {"name": first["name"], "values": values, "meta": meta}
    (tmp_path / "out.jsonl.partial").write_text(json.dumps(header) + "\n" + json.dumps(entry) + "\n")
    resumed = _segcli(*args, "-o", "out.jsonl", "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: 1 of {len(records)} pair(s) already scored" in resumed.stderr
    # the same records (the summary's unit counts come from the hand-made journal's meta)
    assert (tmp_path / "out.jsonl").read_text().splitlines()[:-1] == lines[:-1]


def test_resume_of_a_finished_output_of_the_former_names(tmp_path):
    shutil.copytree(ROOT / "sample_data" / "pred", tmp_path / "pred")
    shutil.copytree(ROOT / "sample_data" / "gt", tmp_path / "gt")
    args = ["score", "pred", "gt", "--metrics", "dice", "--workers", "1", "-o", "out.json"]
    assert _segcli(*args, cwd=tmp_path).returncode == 0
    document = json.loads((tmp_path / "out.json").read_text())
    document["settings"] = _former(document["settings"])
    (tmp_path / "out.json").write_text(json.dumps(document, indent=1))
    resumed = _segcli(*args, "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "is complete; nothing to resume" in resumed.stderr
