"""segcli/scores/table.py's rows: each row's mode and GPU column, a row computed once per batch and kept
in it, ``select`` by groups and names (and its message), ``compute_scores`` under each ``--empty-distance``
policy and the columns it says it replaced."""

from __future__ import annotations

import numpy as np
import pytest

from segcli.errors import UsageError
from segcli.inputs.interpret import BinaryPair
from segcli.scores import table as registry
from segcli.scores.batch import BinaryBatch
from segcli.scores.combine import BINARY_PRESETS
from segcli.scores.loss_rows import BINARY_LOSSES as BINARY_LOSS_ROWS
from segcli.scores.region_rows import ROWS as REGION_AND_SURFACE_ROWS
from segcli.scores.row import Score
from segcli.scores.row import once_per_batch as _once_per_batch
from segcli.scores.table import GROUPS, compute_scores, select
from segcli.settings import ScoreOptions
from tests.scores.test_binary_losses import _probs_unclipped


@pytest.fixture
def binary_batch(rng):
    prob, target = _probs_unclipped(rng, (37, 41))
    return prob, target, BinaryBatch([BinaryPair(prob=prob, hard=prob >= 0.5, target=target)], ScoreOptions())


# -- each row's binary form, its cache, the combined rows -------------------------------------------


def test_binary_rows_mode_and_gpu_column():
    """The README: region and surface scores also run per class; every score but unet_wce runs on
    the device (its U-Net map is built by the CPU workers)."""
    rows = [*REGION_AND_SURFACE_ROWS, *BINARY_LOSS_ROWS.values(), *BINARY_PRESETS]
    assert {r.name for r in rows if not r.on_device} == {"unet_wce"}
    for row in rows:
        assert row.on_device is (row.name != "unet_wce"), row.name
        assert row.mode == ("binary" if row.group == "losses" else "both"), row.name
    assert {r.group for r in rows} == set(GROUPS)


def test_once_per_batch_computes_a_row_once_and_keeps_it_in_the_batch(binary_batch):
    _, _, batch = binary_batch
    calls = []

    def compute(b):
        calls.append(b)
        return np.array([0.25])

    row = _once_per_batch(Score("probe", "losses", "f", compute, direction="lower"))
    assert (row.name, row.group, row.higher_is_better) == ("probe", "losses", False)
    first = row.compute(batch)
    assert row.compute(batch) is first and calls == [batch]
    assert batch.score_values["probe"] is first and first.tolist() == [0.25]


# -- --metrics ---------------------------------------------------------------------------------------


def test_select_groups_names_and_blanks():
    everything = [s.name for s in select(None)]
    assert [s.name for s in select("")] == everything and [s.name for s in select("  ")] == everything
    assert [s.name for s in select("default")] == everything
    assert [s.name for s in select("all")] == [s.name for s in registry.BY_NAME.values()]  # opt-in ones too
    surface = ["hd", "hd95", "hd95_pooled", "assd", "masd", "nsd", "boundary_iou"]  # the README's table
    assert [s.name for s in select("surface")] == surface
    assert [s.name for s in select("dice, ,hd95,,iou")] == ["dice", "iou", "hd95"]  # the table's order
    chosen = select("dice,surface")
    assert [s.name for s in chosen] == ["dice", *surface]
    assert all(s is registry.BY_NAME[s.name] for s in chosen)
    assert [s.name for s in select("ce, dice", multiclass=True)][:2] == ["dice", "ce"]


@pytest.mark.parametrize("multiclass", [False, True])
def test_select_message(multiclass):
    with pytest.raises(UsageError) as raised:
        select("dice,dicee", multiclass=multiclass)
    mode = "multi-class" if multiclass else "binary"
    head, known = str(raised.value).split("; known: ")
    assert head == f"metrics: unknown {mode} score or group 'dicee'"
    table = registry.MULTICLASS_BY_NAME if multiclass else registry.BY_NAME
    groups = ["default", "all", "region", "surface", "losses", "objects"]
    assert known.split(", ") == [*groups, *table, *registry.OBJECT_BY_NAME]
    assert ("ce" in known.split(", ")) is multiclass


# -- --empty-distance --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "replaced"),
    [
        ("inf", np.inf),
        ("worst", np.sqrt((4 * 2.0) ** 2 + (6 * 3.0) ** 2)),  # between opposite corner pixels' centres
        ("nan", np.nan),
        (7.5, 7.5),
    ],
)
def test_compute_scores_empty_distance_policies(policy, replaced):
    target = np.zeros((5, 7), bool)
    target[1:3, 2:5] = True
    empty = np.zeros_like(target)
    options = ScoreOptions(empty_distance=policy, spacing=(2.0, 3.0))
    batch = BinaryBatch([BinaryPair(prob=empty, hard=empty, target=target)], options)
    (values,), (log,) = compute_scores(batch, ["dice", "hd", "assd"], prefix="a_", suffix="_1")
    assert values["a_dice_1"] == 0.0
    for key in ("a_hd_1", "a_assd_1"):
        assert values[key] == pytest.approx(replaced, nan_ok=True), key
    assert log == (() if policy == "inf" else ("a_hd_1", "a_assd_1"))
    assert np.isposinf(batch.score_values["hd"]).all()  # the batch's own column is left as computed
