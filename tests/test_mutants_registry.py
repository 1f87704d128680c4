"""segcli/scores/table.py pinned where mutation testing found it loose.

The rows built when segcli is imported (the four loss presets, binary and multi-class, the
``combined`` rows, each row's binary form and its once-per-batch cache) are built again here at
test time, so that a wrong builder fails a test: each preset's definition against the README's
score table, its value against the weighted sum of the README's weights times its components
computed by the formulas written out in numpy (tests/test_seed_losses.py) or by torch
(multi-class), the multi-class presets' stderr warning, name, group, direction, mode and the GPU
column against the README ("every score but unet_wce" runs on the device). Also the exact
``--combine`` error messages users read (positions, the expected token, the mode, the list of
losses), ``--metrics`` selection of groups and names and its message, the ``--empty-distance``
replacements of ``compute_scores`` (the image diagonal worked by hand) and their log.
"""

from __future__ import annotations

import re
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from segcli.errors import InvalidOption, UsageError
from segcli.inputs.interpret import BinaryPair, MulticlassPair
from segcli.scores import table as registry
from segcli.scores.batch import BinaryBatch, MulticlassBatch
from segcli.scores.table import (
    _SINGLE_CLASS,
    EMPTY_DISTANCE_LOG,
    GROUPS,
    Score,
    _binary_row,
    _combined_row,
    _multiclass_preset_compute,
    _once_per_batch,
    _preset_rows,
    _ThreadLog,
    compute_scores,
    describe,
    multiclass_preset,
    parse_combination,
    select,
)
from segcli.settings import ScoreOptions
from tests.test_seed_losses import _probs, _ref_bce, _ref_boundary_bce, _ref_dice_loss, _ref_focal, _ref_tversky

README = Path(__file__).resolve().parents[2] / "README.md"
PRESET_NAMES = ("loss_balanced", "loss_imbalanced", "loss_boundary", "loss_medical")
REL = 1e-5


def _readme_rows() -> dict[str, str]:
    """The README score table: name -> definition."""
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.split("|")]
        if line.startswith("| ") and len(cells) >= 4:
            rows.setdefault(cells[1], cells[2])
    return rows


def _readme_terms(name: str) -> list[tuple[float, str]]:
    """``0.3 bce + 0.4 dice_loss`` of the README -> [(0.3, 'bce'), (0.4, 'dice_loss')]."""
    return [(float(w), c) for w, c in re.findall(r"([\d.]+) (\w+)", _readme_rows()[name])]


# -- the binary presets ----------------------------------------------------------------------------

REFERENCES = {
    "bce": _ref_bce,
    "dice_loss": _ref_dice_loss,
    "focal_loss": _ref_focal,
    "tversky_loss": _ref_tversky,
    "boundary_bce": _ref_boundary_bce,
}


@pytest.fixture
def binary_batch(rng):
    prob, target = _probs(rng, (37, 41))
    return prob, target, BinaryBatch([BinaryPair(prob=prob, hard=prob >= 0.5, target=target)], ScoreOptions())


def test_preset_rows_are_the_readme_definitions_and_their_weighted_sums(binary_batch):
    prob, target, batch = binary_batch
    binary, multi = _preset_rows()
    assert [r.name for r in binary] == list(PRESET_NAMES) and [r.name for r in multi] == list(PRESET_NAMES)
    for row in binary:
        assert row.group == "losses" and row.higher_is_better is False, row
        assert row.formula == _readme_rows()[row.name]
        expected = sum(w * REFERENCES[c](prob, target) for w, c in _readme_terms(row.name))
        assert float(row.compute(batch)[0]) == pytest.approx(expected, rel=REL), row.name
    for b, m in zip(binary, multi, strict=True):
        # what `segcli metrics` shows: the recipe's preset name (without loss_), the options
        assert b.peers == m.peers == f"loss factory preset '{b.name[len('loss_') :]}'"
        assert b.defaults == m.defaults == "each component's options"
        assert m.group == "losses" and m.higher_is_better is False and m.mode == "multiclass"


def test_describe_writes_a_negative_weight_as_a_difference():
    assert (
        describe(((0.5, "bce"), (-0.25, "dice_loss"), (1.0, "focal_loss"))) == "0.5 bce - 0.25 dice_loss + 1 focal_loss"
    )
    assert describe(((0.3, "bce"),)) == "0.3 bce"


# -- the multi-class presets -----------------------------------------------------------------------

K = 4
# The README: "loss_* (multi-class): bce as ce; boundary_bce and tversky_loss left out (said on stderr)"
MC_FORMULAS = {
    "loss_balanced": "0.5 ce + 0.5 dice_loss",
    "loss_imbalanced": "0.5 dice_loss + 0.5 focal_loss",
    "loss_boundary": "0.3 ce + 0.4 dice_loss (boundary_bce: no multi-class form, left out)",
    "loss_medical": "0.5 dice_loss (tversky_loss: no multi-class form, left out)",
}


def _mc_batch(rng, **options):
    gt = rng.integers(0, K, (23, 29))
    logits = torch.from_numpy(rng.standard_normal((K, 23, 29)))
    prob = torch.softmax(logits, 0).numpy().astype(np.float32)
    pair = MulticlassPair(labels=prob.argmax(0), prob=prob, target=gt, valid=np.ones(gt.shape, bool), kind="prob")
    batch = MulticlassBatch([pair], ScoreOptions(**options), num_classes=K, classes=(1, 2, 3))
    return prob, gt, batch


def _torch_components(prob, gt, gamma=2.0, smooth=1e-6):
    """ce, the foreground soft Dice loss and the softmax focal loss, written out in torch."""
    p, g = torch.from_numpy(prob).double()[None], torch.from_numpy(gt)[None]
    ce = torch.nn.functional.nll_loss(torch.log(p), g).item()
    p_t = p.gather(1, g[:, None])[:, 0]
    focal = (-((1 - p_t) ** gamma) * torch.log(p_t)).mean().item()
    onehot = torch.nn.functional.one_hot(g, K).permute(0, 3, 1, 2).double()
    inter, denominator = (p * onehot).sum((0, 2, 3)), (p + onehot).sum((0, 2, 3))
    dice = (1 - (2 * inter + smooth) / (denominator + smooth))[1:].mean().item()
    return {"ce": ce, "dice_loss": dice, "focal_loss": focal}


def _mc_expected(name, components):
    forms = {"bce": "ce", "dice_loss": "dice_loss", "focal_loss": "focal_loss"}
    return sum(w * components[forms[c]] for w, c in _readme_terms(name) if c in forms)


def test_multiclass_preset_rows_definitions_values_and_warnings(rng):
    prob, gt, batch = _mc_batch(rng, focal_gamma=1.5, smooth=0.5)
    components = _torch_components(prob, gt, gamma=1.5, smooth=0.5)
    _, multi = _preset_rows()
    for row in multi:
        assert row.formula == MC_FORMULAS[row.name]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = float(row.compute(batch)[0])
        assert value == pytest.approx(_mc_expected(row.name, components), rel=REL), row.name
        left_out = {"loss_boundary": "boundary_bce", "loss_medical": "tversky_loss"}.get(row.name)
        if left_out is None:
            assert not caught, row.name
        else:
            formula = MC_FORMULAS[row.name].split(" (")[0]
            assert [str(w.message) for w in caught] == [
                f"{row.name} in multi-class mode is {formula}; left out, with no multi-class form: {left_out}"
            ]


def test_multiclass_preset_terms_and_the_warnings_caller(rng):
    assert multiclass_preset("loss_boundary") == (((0.3, "ce"), (0.4, "dice_loss")), ("boundary_bce",))
    assert multiclass_preset("loss_medical") == (((0.5, "dice_loss"),), ("tversky_loss",))
    assert multiclass_preset("loss_imbalanced") == (((0.5, "dice_loss"), (0.5, "focal_loss")), ())
    prob, gt, batch = _mc_batch(rng)
    compute = _multiclass_preset_compute("loss_boundary")
    with pytest.warns(UserWarning) as caught:
        value = float(compute(batch)[0])
    assert value == pytest.approx(_mc_expected("loss_boundary", _torch_components(prob, gt)), rel=REL)
    assert [str(w.message) for w in caught] == [
        "loss_boundary in multi-class mode is 0.3 ce + 0.4 dice_loss; left out, with no multi-class form: boundary_bce"
    ]
    # the warning points at the code that asked for the value, here this test
    assert caught[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(_multiclass_preset_compute("loss_balanced")(batch)[0]) == pytest.approx(
            _mc_expected("loss_balanced", _torch_components(prob, gt)), rel=REL
        )


def test_a_preset_with_two_components_without_a_multiclass_form(monkeypatch, rng):
    """The table is meant to grow: a preset leaving out two components lists both, comma-separated."""
    monkeypatch.setitem(registry.PRESETS, "loss_probe", ((0.5, "tversky_loss"), (0.5, "boundary_bce"), (2.0, "bce")))
    row = _preset_rows()[1][-1]
    assert row.formula == "2 ce (tversky_loss, boundary_bce: no multi-class form, left out)"
    prob, gt, batch = _mc_batch(rng)
    with pytest.warns(UserWarning) as caught:
        value = float(_multiclass_preset_compute("loss_probe")(batch)[0])
    assert value == pytest.approx(2.0 * _torch_components(prob, gt)["ce"], rel=REL)
    assert [str(w.message) for w in caught] == [
        "loss_probe in multi-class mode is 2 ce; left out, with no multi-class form: tversky_loss, boundary_bce"
    ]


# -- each row's binary form, its cache, the combined rows -------------------------------------------


def test_binary_rows_mode_and_gpu_column():
    """The README: region and surface scores also run per class; every score but unet_wce runs on
    the device (its U-Net map is built by the CPU workers)."""
    rows = [_binary_row(s) for s in _SINGLE_CLASS + _preset_rows()[0]]
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

    row = _once_per_batch(Score("probe", "losses", "f", compute, higher_is_better=False))
    assert (row.name, row.group, row.higher_is_better) == ("probe", "losses", False)
    first = row.compute(batch)
    assert row.compute(batch) is first and calls == [batch]
    assert batch.score_values["probe"] is first and first.tolist() == [0.25]


def test_combined_rows(binary_batch, rng):
    prob, target, _ = binary_batch
    terms = parse_combination("0.3*bce - 0.2*focal_loss + 0.6*tversky_loss")
    batch = BinaryBatch([BinaryPair(prob=prob, hard=prob >= 0.5, target=target)], ScoreOptions(combine=terms))
    binary, multi = _combined_row(False), _combined_row(True)
    expected = 0.3 * _ref_bce(prob, target) - 0.2 * _ref_focal(prob, target) + 0.6 * _ref_tversky(prob, target)
    assert float(binary.compute(batch)[0]) == pytest.approx(expected, rel=REL)
    mc_terms = parse_combination("0.25*ce + 0.5*focal_loss", multiclass=True)
    mc_prob, gt, mc_batch = _mc_batch(rng, combine=mc_terms)
    components = _torch_components(mc_prob, gt)
    assert float(multi.compute(mc_batch)[0]) == pytest.approx(
        0.25 * components["ce"] + 0.5 * components["focal_loss"], rel=REL
    )
    for row, mode in ((binary, "binary"), (multi, "multiclass")):
        assert (row.name, row.group, row.mode, row.higher_is_better) == ("combined", "losses", mode, False)
        # what `segcli metrics` shows for it
        assert row.formula == "sum of weight * loss over the terms of --combine"
        assert row.defaults == '--combine, e.g. "0.3*bce + 0.4*dice_loss + 0.3*boundary_loss"'


# -- the --combine parser: results and the messages users read ---------------------------------------


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("bce + 2*dice_loss", ((1.0, "bce"), (2.0, "dice_loss"))),
        ("bce*2 - dice_loss", ((2.0, "bce"), (-1.0, "dice_loss"))),
        ("bce*2 + dice_loss", ((2.0, "bce"), (1.0, "dice_loss"))),
        ("dice_loss*3", ((3.0, "dice_loss"),)),
        ("  bce  ", ((1.0, "bce"),)),
    ],
)
def test_parse_combination_term_sequences(text, terms):
    assert parse_combination(text) == terms


BINARY_LOSSES = ", ".join(s.name for s in select("losses"))
MC_LOSSES = ", ".join(s.name for s in select("losses", multiclass=True))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty expression; expected e.g. '0.5*bce + 0.5*dice_loss'"),
        ("bce;", "unexpected ';' at position 4 in 'bce;'"),
        ("bé + bce", f"unknown binary loss 'bé' in 'bé + bce'; losses: {BINARY_LOSSES}"),
        ("0.3*bce 0.7*dice_loss", "unexpected '0.7' at position 9 in '0.3*bce 0.7*dice_loss'; expected '+' or '-'"),
        ("0.3 bce", "unexpected 'bce' at position 5 in '0.3 bce'; expected '*'"),
        (
            "bce + + dice_loss",
            "unexpected '+' at position 7 in 'bce + + dice_loss'; expected a number or a loss name",
        ),
        ("bce*dice_loss", "unexpected 'dice_loss' at position 5 in 'bce*dice_loss'; expected a number"),
        ("bce +", "'bce +' ends where a number or a loss name was expected"),
        ("1e999*bce", "weight 1e999 in '1e999*bce' is not a finite number"),
        ("bce*1e999", "weight 1e999 in 'bce*1e999' is not a finite number"),
        ("0.3*bce + 0.7*dice", f"unknown binary loss 'dice' in '0.3*bce + 0.7*dice'; losses: {BINARY_LOSSES}"),
    ],
)
def test_parse_combination_messages(text, message):
    with pytest.raises(InvalidOption) as raised:
        parse_combination(text)
    assert (raised.value.option, raised.value.reason) == ("combine", message)


def test_parse_combination_multiclass_messages():
    with pytest.raises(InvalidOption) as raised:
        parse_combination("0.5*bce", multiclass=True)
    assert raised.value.reason == (
        f"unknown multi-class loss 'bce' in '0.5*bce' (its multi-class form is ce); losses: {MC_LOSSES}"
    )
    with pytest.raises(InvalidOption) as raised:
        parse_combination("tversky_loss", multiclass=True)
    assert raised.value.reason == f"unknown multi-class loss 'tversky_loss' in 'tversky_loss'; losses: {MC_LOSSES}"
    # the list is every loss of the mode, and only those
    assert MC_LOSSES.split(", ") == [
        "ce",
        "dice_loss",
        "squared_dice_loss",
        "focal_loss",
        "lovasz_softmax",
        *PRESET_NAMES,
    ]
    assert set(BINARY_LOSSES.split(", ")) >= {"bce", "boundary_bce", "boundary_loss", *PRESET_NAMES}
    assert not {"dice", "hd95", "ce"} & set(BINARY_LOSSES.split(", "))


def test_cli_combine_error_names_the_option_and_the_token():
    from segcli.cli.main import app

    result = CliRunner().invoke(app, ["score", "pred", "gt", "--combine", "0.3*bce 0.7*dice_loss"])
    assert result.exit_code == 2
    words = " ".join(result.stderr.replace("\u2502", " ").split())  # the panel's borders and wrapping
    assert (
        "Invalid value for --combine: unexpected '0.7' at position 9 in '0.3*bce 0.7*dice_loss'; expected '+' or '-'"
        in words
    )


# -- --metrics ---------------------------------------------------------------------------------------


def test_select_groups_names_and_blanks():
    everything = [s.name for s in select(None)]
    assert [s.name for s in select("")] == everything and [s.name for s in select("  ")] == everything
    assert [s.name for s in select("all")] == everything
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
    assert head == f"--metrics: unknown {mode} score or group 'dicee'"
    table = registry.MULTICLASS_BY_NAME if multiclass else registry.BY_NAME
    assert known.split(", ") == ["region", "surface", "losses", *table]
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
    EMPTY_DISTANCE_LOG.clear()
    try:
        (values,) = compute_scores(batch, ["dice", "hd", "assd"], prefix="a_", suffix="_1")
        log = list(EMPTY_DISTANCE_LOG)
    finally:
        EMPTY_DISTANCE_LOG.clear()
    assert values["a_dice_1"] == 0.0
    for key in ("a_hd_1", "a_assd_1"):
        assert values[key] == pytest.approx(replaced, nan_ok=True), key
    assert log == ([] if policy == "inf" else ["a_hd_1", "a_assd_1"])
    assert np.isposinf(batch.score_values["hd"]).all()  # the batch's own column is left as computed


def test_thread_log_is_one_list_per_thread():
    log = _ThreadLog()
    log.append("hd")
    log.extend(["assd", "hd"])
    assert "hd" in log and "masd" not in log and list(log) == ["hd", "assd", "hd"]
    seen = []
    worker = threading.Thread(target=lambda: (log.append("x"), seen.append(list(log))))
    worker.start()
    worker.join()
    assert seen == [["x"]] and list(log) == ["hd", "assd", "hd"]
    log.clear()
    assert list(log) == []
