"""The score table (segcli/scores/table.py and its rows): every row complete and pointing at a
test that exists and checks it, the default set pinned to today's scores, object scores reachable
from the API and ``segcli metrics``, and ``compute_scores`` returning what ``--empty-distance``
replaced."""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import segcli
from segcli.api import READ_OPTIONS, SCORE_OPTIONS
from segcli.cli.main import app
from segcli.inputs.interpret import BinaryPair
from segcli.scores import objects, table
from segcli.scores.batch import BinaryBatch
from segcli.scores.object_labels import label_objects
from segcli.scores.row import DIRECTIONS, MODES, Score
from segcli.settings import ScoreOptions

ROOT = Path(__file__).resolve().parents[2]
ROWS = table.SCORES + table.COMBINED_ROWS
# The options a row may read: the API's option names, the spacing, and the object options.
OPTION_NAMES = set(SCORE_OPTIONS) | set(READ_OPTIONS) | {"spacing", "iou_threshold", "connectivity", "w0", "sigma"}

# Today's scores: what a run that names none computes (the --metrics default, "all"). A row added
# later must not change these lists: an opt-in row has default=False.
DEFAULT_BINARY = (
    "dice iou precision recall specificity accuracy mcc volume_similarity hd hd95 hd95_pooled assd masd nsd "
    "boundary_iou bce balanced_bce wbce nearest_cell_bce focal_loss dice_loss squared_dice_loss tversky_loss "
    "focal_tversky_loss lovasz_hinge combo_loss unet_wce boundary_bce distmap_bce boundary_loss loss_balanced "
    "loss_imbalanced loss_boundary loss_medical"
).split()
DEFAULT_MULTICLASS = (
    "dice iou precision recall specificity accuracy mcc volume_similarity hd hd95 hd95_pooled assd masd nsd "
    "boundary_iou ce dice_loss squared_dice_loss focal_loss lovasz_softmax loss_balanced loss_imbalanced "
    "loss_boundary loss_medical"
).split()


def _test_source(node_id: str) -> str:
    """The source of the test ``file::function`` (decorators included); fails if it is missing."""
    path, _, name = node_id.partition("::")
    file = ROOT / path
    assert file.is_file(), f"{node_id}: no file {path}"
    tree = ast.parse(file.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            assert name.startswith("test_"), f"{node_id}: not a test function"
            lines = file.read_text(encoding="utf-8").splitlines()
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            return "\n".join(lines[start - 1 : node.end_lineno])
    raise AssertionError(f"{node_id}: no test function {name} in {path}")


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.mode}-{r.name}" for r in ROWS])
def test_every_row_names_a_test_that_exists_and_checks_it(row: Score):
    assert row.test.count("::") == 1, f"{row.name}: test {row.test!r} is not file::function"
    source = _test_source(row.test)
    function = row.function.__name__
    named = re.search(rf"\b{re.escape(function)}\b", source) or re.search(rf"[\"']{re.escape(row.name)}[\"']", source)
    named = named or re.search(rf"\b{re.escape(row.name)}\b", source)
    named = named or (row.name in table.PRESETS and "PRESETS" in source)  # parametrized over the presets
    assert named, f"{row.test} mentions neither {function} nor {row.name!r}"


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.mode}-{r.name}" for r in ROWS])
def test_every_row_is_complete(row: Score):
    assert row.formula and row.family in (*table.GROUPS, table.OBJECT_GROUP)
    assert row.direction in DIRECTIONS and set(row.modes) <= set(MODES) and row.modes
    assert callable(row.function) and row.function.__module__.startswith("segcli.scores."), row.name
    assert set(row.options) <= OPTION_NAMES, set(row.options) - OPTION_NAMES
    assert not row.on_device or "binary" in row.modes  # the device path is binary only
    assert row.direction == "lower" if row.family == "losses" else True
    assert "soft" in row.modes if row.family == "losses" else "soft" not in row.modes


def test_rows_options_name_what_the_scores_read():
    assert table.lookup("nsd").options == ("spacing", "nsd_tolerance")
    assert table.lookup("focal_loss").options == ("focal_alpha", "focal_gamma")
    assert table.lookup("unet_wce").options == ("w0", "sigma", "spacing")
    assert table.lookup("obj_f1").options == ("iou_threshold", "connectivity")
    assert table.lookup("obj_ap_mean").options == ("connectivity",)  # every t of 0.50..0.95, not --iou-threshold
    assert table.lookup("loss_imbalanced").options == ("smooth", "focal_alpha", "focal_gamma")
    assert table.lookup("dice").options == ()


def test_names_are_unique_in_each_mode_and_the_object_rows_are_the_object_scores():
    for mode in ("binary", "multiclass"):
        names = [r.name for r in table.SCORES if mode in r.modes and "objects" not in r.modes]
        assert len(names) == len(set(names)), mode
    assert tuple(table.OBJECT_BY_NAME) == objects.SCORE_NAMES
    assert {r.direction for r in table.OBJECT_BY_NAME.values() if r.name.startswith("obj_count")} == {"none"}
    assert [r.name for r in table.OBJECT_BY_NAME.values() if r.direction == "lower"] == ["obj_fp", "obj_fn"]
    assert not set(table.OBJECT_BY_NAME) & (set(table.BY_NAME) | set(table.MULTICLASS_BY_NAME))


def test_on_device_is_every_binary_pixel_score_but_unet_wce():
    assert {r.name for r in table.BY_NAME.values() if not r.on_device} == {"unet_wce"}
    multiclass_only = [r for r in table.MULTICLASS_BY_NAME.values() if "binary" not in r.modes]
    assert multiclass_only and not any(r.on_device for r in (*multiclass_only, *table.OBJECT_BY_NAME.values()))
    assert [r.mode for r in table.COMBINED_ROWS] == ["binary", "multiclass"]


def test_the_default_set_is_todays_scores():
    assert [s.name for s in table.select(None)] == DEFAULT_BINARY
    assert [s.name for s in table.select(None, multiclass=True)] == DEFAULT_MULTICLASS
    assert [s.name for s in table.select("default")] == DEFAULT_BINARY  # the group --metrics defaults to
    assert [s.name for s in table.select(" default ,dice", multiclass=True)] == DEFAULT_MULTICLASS
    for multiclass, today in ((False, DEFAULT_BINARY), (True, DEFAULT_MULTICLASS)):
        rows = table.MULTICLASS_BY_NAME if multiclass else table.BY_NAME
        opt_in = [s.name for s in table.select("all", multiclass=multiclass) if s.name not in today]
        assert opt_in == [s.name for s in rows.values() if not s.default]  # all: every row; opt-in ones only there
        assert "fbeta" in opt_in
    assert [s.name for s in table.select("losses,dice")][:2] == ["dice", "bce"]


def test_an_opt_in_row_is_in_all_but_not_in_the_default_set(monkeypatch):
    row = Score("probe", "region", "f", lambda b: np.zeros(len(b)), np.zeros, default=False)
    monkeypatch.setitem(table.BY_NAME, "probe", row)
    assert "probe" not in [s.name for s in table.select(None)]
    assert [s.name for s in table.select("all")][-1] == "probe"
    assert "probe" not in [s.name for s in table.select("region")]  # --metrics region keeps its columns
    assert [s.name for s in table.select("region,probe")][-1] == "probe"


def test_a_group_of_opt_in_rows_only_is_taken_whole(monkeypatch):
    """A new family (every row opt-in, as counts or rates will be) is what its group name takes."""
    rows = [Score(n, "newfamily", "f", lambda b: np.zeros(len(b)), np.zeros, default=False) for n in ("a1", "a2")]
    for row in rows:
        monkeypatch.setitem(table.BY_NAME, row.name, row)
    monkeypatch.setattr(table, "GROUPS", (*table.GROUPS, "newfamily"))
    assert [s.name for s in table.select("newfamily")] == ["a1", "a2"]
    assert not {"a1", "a2"} & {s.name for s in table.select(None)}


def test_split_objects_takes_names_and_the_group_and_leaves_the_rest():
    assert table.split_objects("dice, obj_f1 ,pq") == ("dice", ["obj_f1", "pq"])
    assert table.split_objects("objects") == ("", list(objects.SCORE_NAMES))
    assert table.split_objects("region", objects="instances") == ("region", list(objects.SCORE_NAMES))
    assert table.split_objects("pq", objects="instances") == ("", ["pq"])
    assert table.split_objects("") == ("default", [])


def _cells():
    gt = np.zeros((24, 24), bool)
    gt[2:8, 2:8] = gt[2:8, 12:20] = gt[14:22, 4:10] = True
    pred = np.zeros_like(gt)
    pred[2:8, 3:8] = pred[2:8, 12:15] = pred[15:22, 15:22] = True
    return pred, gt


def test_score_computes_object_scores_from_the_masks_components():
    pred, gt = _cells()
    gt_objects = label_objects(gt, "components", connectivity=1)
    expected = objects.object_scores(gt_objects, label_objects(pred, "components", connectivity=1))
    assert expected["obj_tp"] == 1 and expected["obj_fp"] == 2  # a case where the scores differ
    assert segcli.score(pred, gt, "obj_f1") == {"obj_f1": expected["obj_f1"]}
    values = segcli.score(pred, gt, ["dice", "objects"])
    assert list(values) == ["dice", *objects.SCORE_NAMES]
    assert values == pytest.approx({"dice": values["dice"], **expected})


def test_score_computes_object_scores_per_class():
    pred, gt = _cells()
    labels_gt, labels_pred = gt.astype(np.int64), pred.astype(np.int64) * 2  # class 1 in GT, class 2 predicted
    values = segcli.score(labels_pred, labels_gt, "pq,obj_fn", num_classes=3)
    assert values == {"pq": 0.0, "pq_1": 0.0, "pq_2": 0.0, "obj_fn": 1.5, "obj_fn_1": 3.0, "obj_fn_2": 0.0}


def test_the_api_and_the_cli_give_the_same_object_scores(tmp_path):
    pred, gt = _cells()
    (tmp_path / "p").mkdir(), (tmp_path / "g").mkdir()
    np.save(tmp_path / "p/a.npy", pred), np.save(tmp_path / "g/a.npy", gt)
    result = CliRunner().invoke(
        app, ["score", str(tmp_path / "p"), str(tmp_path / "g"), "--metrics", "obj_f1,aji", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()[:2]
    api = segcli.score(pred, gt, "obj_f1,aji")
    assert header.split(",")[1:3] == ["obj_f1", "aji"]
    assert [float(v) for v in row.split(",")[1:3]] == pytest.approx(list(api.values()))


def test_segcli_metrics_lists_every_row_with_its_direction():
    result = CliRunner().invoke(app, ["metrics"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    for row in ROWS:
        line = next((x for x in lines if x.startswith(f"│ {row.name} ")), None)
        assert line is not None, row.name
    for name in objects.SCORE_NAMES:
        line = next(x for x in lines if x.startswith(f"│ {name} "))
        cells = [c.strip() for c in line.split("│")]
        assert cells[2:4] == ["objects", "objects"] and cells[7] == table.lookup(name).direction, cells


def _readme_names(section_title: str) -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(section_title) :]
    section = section[: section.index("\n## ", 5)]
    names = set()
    for line in section.splitlines():
        if not line.startswith("| "):
            continue
        cell = line.split("|")[1].strip().split(" (multi-class)")[0]
        names.update(p.strip() for p in re.split(r"[,=]", cell.replace("loss_*", "")) if p.strip())
    return names


def test_the_readme_tables_list_every_row():
    scores = _readme_names("\n## Scores\n")
    for row in (*table.BY_NAME.values(), *table.MULTICLASS_BY_NAME.values(), *table.COMBINED_ROWS):
        assert row.name in scores or row.name.startswith("loss_"), row.name
    object_section = _readme_names("\n## Object scores")
    assert set(objects.SCORE_NAMES) <= object_section, set(objects.SCORE_NAMES) - object_section


def _batch(policy, *, spacing=(1.0, 1.0)):
    target = np.zeros((5, 7), bool)
    target[1:3, 2:5] = True
    empty = np.zeros_like(target)
    pairs = [BinaryPair(prob=empty, hard=empty, target=target), BinaryPair(prob=target, hard=target, target=target)]
    return BinaryBatch(pairs, ScoreOptions(empty_distance=policy, spacing=spacing))


@pytest.mark.parametrize("policy", ["worst", "nan", 7.5])
def test_compute_scores_returns_the_replaced_columns_of_each_pair(policy):
    scored = table.compute_scores(_batch(policy), ["dice", "hd", "masd", "nsd"], suffix="_1")
    assert scored.replaced == [("hd_1", "masd_1"), ()]
    first, second = scored.values
    assert second["hd_1"] == 0.0 and first["nsd_1"] == 0.0  # nsd is no distance: never replaced
    expected = {"worst": math.hypot(4, 6), "nan": math.nan, 7.5: 7.5}[policy]
    assert first["hd_1"] == pytest.approx(expected, nan_ok=True)


def test_compute_scores_under_inf_replaces_nothing():
    scored = table.compute_scores(_batch("inf"), ["hd"])
    assert scored.replaced == [(), ()] and math.isinf(scored.values[0]["hd"])


def test_no_module_keeps_a_log_of_replaced_distances():
    for path in (ROOT / "segcli").rglob("*.py"):
        assert "EMPTY_DISTANCE_LOG" not in path.read_text(encoding="utf-8"), path
