"""Hostile input files: a detached header (NRRD ``.nhdr``, MetaImage ``.mhd``) must not make segcli read
a file outside its inputs, nor hang on a FIFO it names. Each case fails its pair in one line naming the
header; a detached header naming its data file relatively still reads."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from segcli.errors import ReadError
from segcli.inputs.images import read_image

ROOT = Path(__file__).resolve().parents[2]

NHDR = """NRRD0004
type: uint8
dimension: 3
sizes: 4 4 2
encoding: raw
data file: {name}
"""
MHD = """ObjectType = Image
NDims = 3
DimSize = 4 4 2
ElementType = MET_UCHAR
ElementDataFile = {name}
"""


def _header(folder: Path, kind: str, name: str) -> Path:
    path = folder / ("a.nhdr" if kind == "nhdr" else "a.mhd")
    path.write_text((NHDR if kind == "nhdr" else MHD).format(name=name))
    return path


@pytest.mark.parametrize("kind", ["nhdr", "mhd"])
def test_an_absolute_data_file_is_refused_naming_the_header(tmp_path, kind):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(bytes(range(32)))  # 32 bytes: exactly the 4x4x2 uint8 volume the header claims
    (tmp_path / "in").mkdir()
    header = _header(tmp_path / "in", kind, str(secret))
    with pytest.raises(ReadError) as raised:
        read_image(header)
    assert str(raised.value) == f"{header}: its data file {secret} is an absolute path; name it relative to the header"


@pytest.mark.parametrize("kind", ["nhdr", "mhd"])
def test_a_fifo_data_file_fails_at_once_instead_of_hanging(tmp_path, kind):
    os.mkfifo(tmp_path / "pixels.raw")
    header = _header(tmp_path, kind, "pixels.raw")
    code = f"from segcli.inputs.images import read_image\nread_image({str(header)!r})"
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    try:  # a reader that opens the FIFO blocks until a writer comes: none ever does
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading {header} hung on the FIFO it names")
    assert done.returncode != 0
    assert f"ReadError: {header}: its data file {tmp_path / 'pixels.raw'} is not a regular file" in done.stderr


def test_the_cli_fails_the_pair_in_one_line_and_writes_nothing(tmp_path):
    (tmp_path / "masks").mkdir()
    _header(tmp_path / "masks", "nhdr", "/etc/passwd")
    done = subprocess.run(
        [sys.executable, "-m", "segcli", "weightmap", str(tmp_path / "masks"), "--out", str(tmp_path / "w"),
         "--kind", "sdf"],
        capture_output=True, text=True, timeout=120, env=os.environ | {"PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "its data file /etc/passwd is an absolute path" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "w").exists() or not any((tmp_path / "w").iterdir())


def test_a_detached_header_naming_its_data_file_relatively_still_reads(tmp_path):
    pytest.importorskip("nrrd")
    volume = np.arange(32, dtype=np.uint8).reshape(2, 4, 4)
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.raw").write_bytes(volume.tobytes())
    (tmp_path / "hdr").mkdir()
    header = tmp_path / "hdr" / "a.nhdr"
    header.write_text(NHDR.format(name="../raw/a.raw"))  # a dataset's tree: legal
    np.testing.assert_array_equal(read_image(header).array, volume)
    mhd = tmp_path / "raw" / "b.mhd"
    mhd.write_text(textwrap.dedent(MHD.format(name="a.raw")))
    pytest.importorskip("SimpleITK")
    np.testing.assert_array_equal(read_image(mhd).array, volume)


# --- outputs stay outputs: a map's path built from an input's name lies under --out ---------------


def test_a_listed_name_with_an_empty_segment_never_writes_outside_out(tmp_path):
    """An object store lists ``masks//tmp/x.png`` (legal in S3) as the name ``/tmp/x``: joined to
    --out it would be absolute and the map written there. Refused before any work, naming it."""
    pytest.importorskip("fsspec")
    escaped = tmp_path / "escaped"
    code = textwrap.dedent(
        f"""
        import io, sys
        import fsspec, numpy as np
        from PIL import Image
        fs = fsspec.filesystem("memory")
        buf = io.BytesIO()
        Image.fromarray((np.eye(8) * 255).astype(np.uint8)).save(buf, format="PNG")
        fs.pipe("/masks/a.png", buf.getvalue())
        fs.pipe("/masks/{escaped}.png", buf.getvalue())  # the key "{escaped}" after the empty segment
        from segcli.cli.main import main
        sys.argv = ["segcli", "weightmap", "memory://masks", "--out", {str(tmp_path / "w")!r}, "--kind", "sdf"]
        main()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"its name '{escaped}' would put its map outside --out" in done.stderr
    assert not list(tmp_path.glob("escaped*")) and not (tmp_path / "w").exists()


def test_names_and_links_that_leave_out_are_refused(tmp_path):
    from segcli.errors import UsageError
    from segcli.weightmaps import inside_out

    out = tmp_path / "w"
    out.mkdir()
    for key in ("a/../../x", "./a", "a//b", "/abs"):
        with pytest.raises(UsageError, match=f"its name '{key}' would put its map outside"):
            inside_out(out, key, ".tif", "in/x.png")
    (out / "sub").symlink_to(tmp_path)  # planted beforehand: writing through it leaves --out
    with pytest.raises(UsageError, match="leads outside out "):  # the API's spelling; the CLI says --out
        inside_out(out, "sub/x", ".tif", "in/sub/x.png")
    assert inside_out(out, "deep/er/x", ".tif", "in/x.png") == out / "deep" / "er" / "x.tif"


# --- every file read is a regular file: a FIFO, device or directory is refused before it is opened -------


def _segcli(*args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    try:  # a read of a FIFO blocks until a writer comes: none ever does
        return subprocess.run(
            [sys.executable, "-m", "segcli", *args], capture_output=True, text=True, timeout=timeout,
            env=os.environ | {"PYTHONPATH": str(ROOT)}, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"segcli {' '.join(args)} hung on a FIFO")


@pytest.fixture
def pair_and_fifo(tmp_path):
    from PIL import Image

    for side in ("pred", "gt"):
        (tmp_path / side).mkdir()
        Image.fromarray((np.eye(8) * 255).astype(np.uint8)).save(tmp_path / side / "a.png")
    os.mkfifo(tmp_path / "planted.json")
    return tmp_path


def test_read_image_refuses_what_is_not_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "x.png")
    code = f"from segcli.inputs.images import read_image\nread_image({str(tmp_path / 'x.png')!r})"
    try:  # in a child: a read that opened the FIFO would block this suite instead of failing it
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                              env=os.environ | {"PYTHONPATH": str(ROOT)})  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("read_image hung on a FIFO")
    assert "x.png: is a FIFO, not a regular file" in done.stderr
    with pytest.raises(ReadError, match="is a directory, not a regular file$"):
        read_image(tmp_path)
    with pytest.raises(ReadError, match="^/dev/null: is a character device, not a regular file$"):
        read_image("/dev/null")


@pytest.mark.parametrize("option", ["--labels", "--class-weights"])
def test_a_fifo_as_a_json_option_is_a_usage_error_not_a_hang(pair_and_fifo, option):
    root = pair_and_fifo
    args = [str(root / "pred"), str(root / "gt"), option, str(root / "planted.json"), "--workers", "1"]
    if option == "--class-weights":
        args += ["--num-classes", "2"]
    done = _segcli("score", *args)
    assert done.returncode == 2, done.stderr
    assert f"{option} {root / 'planted.json'}: is a FIFO, not a regular file" in done.stderr


@pytest.mark.parametrize("command", ["report", "compare"])
def test_a_fifo_as_a_saved_run_is_refused_not_a_hang(pair_and_fifo, command):
    root = pair_and_fifo
    os.mkfifo(root / "run.jsonl")
    args = [str(root / "run.jsonl"), "-o", str(root / "r.html")] if command == "report" else [
        str(root / "run.jsonl"), str(root / "run.jsonl")]  # fmt: skip
    done = _segcli(command, *args)
    assert done.returncode == 1, done.stderr
    assert f"{root / 'run.jsonl'}: is a FIFO, not a regular file" in done.stderr
