"""Loss presets (loss_balanced, loss_imbalanced, loss_boundary, loss_medical) and ``--combine``: each preset
equals its README definition and the weighted sum of its components (computed by the formulas written
out in numpy in tests/scores/test_binary_losses.py, or by torch and MONAI), follows its components'
options and reuses their values in the batch; ``--combine`` parses weighted sums, names the bad token
and checks the mode, binary and multi-class, through the library and the CLI."""

from __future__ import annotations

import csv
import io
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from benchmarks.synth import label_map
from segcli.errors import InvalidOption
from segcli.inputs.images import Image as SegImage
from segcli.inputs.interpret import BinaryPair, MulticlassPair
from segcli.run.per_class import columns, score_multiclass_pair
from segcli.scores import table as registry
from segcli.scores.batch import BinaryBatch, MulticlassBatch
from segcli.scores.combine import PRESETS, describe, multiclass_preset, parse_combination
from segcli.scores.combine import combined_row as _combined_row
from segcli.scores.combine import multiclass_preset_compute as _multiclass_preset_compute
from segcli.scores.combine import preset_rows as _preset_rows
from segcli.scores.table import BY_NAME, lookup, select
from segcli.settings import ScoreOptions, ScoreSettings
from tests.conftest import smooth_mask
from tests.scores.test_binary_losses import (
    _batch,
    _floats,
    _mask_apart,
    _probs_unclipped,
    _ref_bce,
    _ref_boundary_bce,
    _ref_dice_loss,
    _ref_focal,
    _ref_preset,
    _ref_tversky,
    _value,
)

REL5 = 1e-5

FORMULA_MAKERS = {"prob": _probs_unclipped, "mask": _mask_apart, "floats": _floats}

FORMULA_CASES = [(kind, shape) for kind in FORMULA_MAKERS for shape in ((41, 57), (7, 19, 23))]


@pytest.fixture(params=FORMULA_CASES, ids=[f"{k}-{len(s)}d" for k, s in FORMULA_CASES])
def formula_case(request, rng):
    kind, shape = request.param
    return FORMULA_MAKERS[kind](rng, shape)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_match_their_formulas(formula_case, name):
    prob, target = formula_case
    assert _value(name, prob, target) == pytest.approx(_ref_preset(name, prob, target), rel=REL5)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_follow_their_components_options(formula_case, name):
    prob, target = formula_case
    options = {"focal_alpha": 0.6, "focal_gamma": 1.5, "tversky_alpha": 0.8, "tversky_beta": 0.2, "smooth": 1.0}
    ref = _ref_preset(name, prob, target, focal_alpha=0.6, focal_gamma=1.5, alpha=0.8, beta=0.2, smooth=1.0)
    assert _value(name, prob, target, **options) == pytest.approx(ref, rel=REL5)


def test_presets_reuse_the_component_values_of_the_batch(rng):
    """A preset computes each component once per batch, shared with that component's column."""
    pred, target = _mask_apart(rng, (30, 40))
    batch = _batch(pred, target)
    boundary_bce = BY_NAME["boundary_bce"].compute(batch)
    BY_NAME["loss_boundary"].compute(batch)
    assert set(batch.score_values) == {"bce", "dice_loss", "boundary_bce", "loss_boundary"}
    assert batch.score_values["boundary_bce"] is boundary_bce


def test_combined_is_the_weighted_sum_of_its_columns(formula_case):
    prob, target = formula_case
    terms = parse_combination("0.3*bce + 0.4*dice_loss + 0.3*boundary_loss - 0.25 * squared_dice_loss")
    batch = _batch(prob, target, combine=terms, spacing=(1.0,) * target.ndim)
    expected = sum(w * BY_NAME[name].compute(batch)[0] for w, name in terms)
    assert lookup("combined").compute(batch)[0] == pytest.approx(expected, abs=1e-7)
    assert terms == ((0.3, "bce"), (0.4, "dice_loss"), (0.3, "boundary_loss"), (-0.25, "squared_dice_loss"))


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("bce", ((1.0, "bce"),)),
        ("-bce + dice_loss*2", ((-1.0, "bce"), (2.0, "dice_loss"))),
        (" .5*focal_loss-1e-1*loss_medical ", ((0.5, "focal_loss"), (-0.1, "loss_medical"))),
    ],
)
def test_parse_combination_accepts_weighted_sums(text, terms):
    assert parse_combination(text) == terms


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("0.3*bce + 0.7*dice", "'dice'"),  # a region score, not a loss
        ("0.3*bce + 0.7*foo", "'foo'"),
        ("0.3*bce 0.7*dice_loss", "'0.7'"),
        ("0.3 bce", "'bce'"),
        ("bce**2", "'*'"),
        ("bce*dice_loss", "'dice_loss'"),
        ("2*bce*3", "'*'"),
        ("bce + + dice_loss", "'+'"),
        ("bce;", "';'"),
        ("__import__('os').system('true')", "'('"),
        ("1e999*bce", "1e999"),
        ("nan*bce", "'nan'"),
        ("bce +", "ends"),
        ("", "empty"),
    ],
)
def test_parse_combination_names_the_bad_token(text, named):
    with pytest.raises(InvalidOption) as raised:
        parse_combination(text)
    assert raised.value.option == "combine" and named in str(raised.value)


def test_parse_combination_checks_the_mode():
    assert parse_combination("0.5*ce + 0.5*dice_loss", multiclass=True) == ((0.5, "ce"), (0.5, "dice_loss"))
    with pytest.raises(InvalidOption, match="'bce'.*multi-class form is ce"):
        parse_combination("bce", multiclass=True)
    with pytest.raises(InvalidOption, match="'ce'"):
        parse_combination("ce")


K = 4


def _mc_values(pred, gt, metrics, **options):
    settings = ScoreSettings(metrics=tuple(metrics), num_classes=K, options=ScoreOptions(**options))
    return score_multiclass_pair(
        SegImage(pred, None, Path("p")), SegImage(gt, None, Path("g")), settings, settings.options
    )[0]


@pytest.mark.parametrize("prediction", ["logits", "labels"])
def test_multiclass_presets_use_the_multiclass_components(rng, prediction):
    gt = label_map(rng, (30, 33), num_classes=K)
    logits = rng.standard_normal((K, 30, 33)).astype(np.float32)
    pred = logits if prediction == "logits" else np.where(gt == 255, 0, logits.argmax(0)).astype(np.uint8)
    components = ("ce", "dice_loss", "focal_loss")
    with pytest.warns(UserWarning) as caught:
        values = _mc_values(pred, gt, (*components, *PRESETS), focal_gamma=1.5, smooth=0.5)
    assert values["loss_balanced"] == pytest.approx(0.5 * values["ce"] + 0.5 * values["dice_loss"], abs=1e-9)
    assert values["loss_imbalanced"] == pytest.approx(0.5 * values["dice_loss"] + 0.5 * values["focal_loss"], abs=1e-9)
    assert values["loss_boundary"] == pytest.approx(0.3 * values["ce"] + 0.4 * values["dice_loss"], abs=1e-9)
    assert values["loss_medical"] == pytest.approx(0.5 * values["dice_loss"], abs=1e-9)
    messages = {str(w.message) for w in caught}
    assert any("loss_boundary" in m and "boundary_bce" in m for m in messages), messages
    assert any("loss_medical" in m and "tversky_loss" in m for m in messages), messages
    assert not any("loss_balanced" in m or "loss_imbalanced" in m for m in messages), messages


def test_multiclass_combined_column(rng):
    gt = label_map(rng, (20, 21), num_classes=K)
    logits = rng.standard_normal((K, 20, 21)).astype(np.float32)
    terms = parse_combination("0.3*ce + 0.7*squared_dice_loss", multiclass=True)
    settings = ScoreSettings(metrics=("dice", "ce", "combined"), num_classes=K, options=ScoreOptions(combine=terms))
    assert columns(settings)[-2:] == ["ce", "combined"]
    values = _mc_values(logits, gt, ["ce", "squared_dice_loss", "combined"], combine=terms)
    assert values["combined"] == pytest.approx(0.3 * values["ce"] + 0.7 * values["squared_dice_loss"], abs=1e-7)


def _png(path: Path, array) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)


def _rows(stdout: str) -> list[dict]:
    return [r for r in csv.DictReader(io.StringIO(stdout)) if not r["name"].startswith("summary:")]


@pytest.fixture
def label_pairs(tmp_path, rng):
    for i in range(2):
        gt = label_map(rng, (16, 18), num_classes=3)
        _png(tmp_path / "gt" / f"{i}.png", gt)
        _png(tmp_path / "pred" / f"{i}.png", np.roll(np.where(gt == 255, 0, gt), i + 1, axis=1))
    return tmp_path


def test_cli_combine_multiclass_column_and_preset_warnings(label_pairs):
    args = ["score", str(label_pairs / "pred"), str(label_pairs / "gt"), "--num-classes", "3", "--format", "csv"]
    result = CliRunner().invoke(
        _app(), [*args, "--metrics", "ce,dice_loss,loss_boundary", "--combine", "0.25*ce + 0.75*dice_loss"]
    )
    assert result.exit_code == 0, result.output
    for row in _rows(result.stdout):
        expected = 0.25 * float(row["ce"]) + 0.75 * float(row["dice_loss"])
        assert float(row["combined"]) == pytest.approx(expected, abs=1e-7)
    assert "loss_boundary in multi-class mode is 0.3 ce + 0.4 dice_loss" in result.stderr
    assert "boundary_bce" in result.stderr
    bad = CliRunner().invoke(_app(), [*args, "--combine", "0.5*bce + 0.5*dice_loss"])
    assert bad.exit_code == 2 and "--combine" in bad.stderr and "'bce'" in bad.stderr


def test_cli_combine_binary_column(tmp_path, rng):
    for i in range(2):
        _png(tmp_path / "gt" / f"{i}.png", smooth_mask(rng, (20, 24)) * 255)
        _png(tmp_path / "pred" / f"{i}.png", smooth_mask(rng, (20, 24)) * 255)
    args = ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--format", "csv", "--metrics", "bce,dice_loss"]
    result = CliRunner().invoke(_app(), [*args, "--combine", "0.3*bce + 0.7*dice_loss"])
    assert result.exit_code == 0, result.output
    for row in _rows(result.stdout):
        expected = 0.3 * float(row["bce"]) + 0.7 * float(row["dice_loss"])
        assert float(row["combined"]) == pytest.approx(expected, abs=1e-7)


def _app():
    from segcli.cli.main import app

    return app


# The preset and combined rows of segcli/scores/table.py: the README's definitions, their weighted sums
# (binary and multi-class, against the formulas and torch), a negative weight written as a difference, the
# parser's term sequences and messages.

README = Path(__file__).resolve().parents[2] / "README.md"

PRESET_NAMES = ("loss_balanced", "loss_imbalanced", "loss_boundary", "loss_medical")


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


REFERENCES = {
    "bce": _ref_bce,
    "dice_loss": _ref_dice_loss,
    "focal_loss": _ref_focal,
    "tversky_loss": _ref_tversky,
    "boundary_bce": _ref_boundary_bce,
}


@pytest.fixture
def binary_batch(rng):
    prob, target = _probs_unclipped(rng, (37, 41))
    return prob, target, BinaryBatch([BinaryPair(prob=prob, hard=prob >= 0.5, target=target)], ScoreOptions())


def test_preset_rows_are_the_readme_definitions_and_their_weighted_sums(binary_batch):
    prob, target, batch = binary_batch
    binary, multi = _preset_rows()
    assert [r.name for r in binary] == list(PRESET_NAMES) and [r.name for r in multi] == list(PRESET_NAMES)
    for row in binary:
        assert row.group == "losses" and row.higher_is_better is False, row
        assert row.formula == _readme_rows()[row.name]
        expected = sum(w * REFERENCES[c](prob, target) for w, c in _readme_terms(row.name))
        assert float(row.compute(batch)[0]) == pytest.approx(expected, rel=REL5), row.name
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
        assert value == pytest.approx(_mc_expected(row.name, components), rel=REL5), row.name
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
    assert value == pytest.approx(_mc_expected("loss_boundary", _torch_components(prob, gt)), rel=REL5)
    assert [str(w.message) for w in caught] == [
        "loss_boundary in multi-class mode is 0.3 ce + 0.4 dice_loss; left out, with no multi-class form: boundary_bce"
    ]
    # the warning points at the code that asked for the value, here this test
    assert caught[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(_multiclass_preset_compute("loss_balanced")(batch)[0]) == pytest.approx(
            _mc_expected("loss_balanced", _torch_components(prob, gt)), rel=REL5
        )


def test_a_preset_with_two_components_without_a_multiclass_form(monkeypatch, rng):
    """The table is meant to grow: a preset leaving out two components lists both, comma-separated."""
    monkeypatch.setitem(registry.PRESETS, "loss_probe", ((0.5, "tversky_loss"), (0.5, "boundary_bce"), (2.0, "bce")))
    row = _preset_rows()[1][-1]
    assert row.formula == "2 ce (tversky_loss, boundary_bce: no multi-class form, left out)"
    prob, gt, batch = _mc_batch(rng)
    with pytest.warns(UserWarning) as caught:
        value = float(_multiclass_preset_compute("loss_probe")(batch)[0])
    assert value == pytest.approx(2.0 * _torch_components(prob, gt)["ce"], rel=REL5)
    assert [str(w.message) for w in caught] == [
        "loss_probe in multi-class mode is 2 ce; left out, with no multi-class form: tversky_loss, boundary_bce"
    ]


def test_combined_rows(binary_batch, rng):
    prob, target, _ = binary_batch
    terms = parse_combination("0.3*bce - 0.2*focal_loss + 0.6*tversky_loss")
    batch = BinaryBatch([BinaryPair(prob=prob, hard=prob >= 0.5, target=target)], ScoreOptions(combine=terms))
    binary, multi = _combined_row(False), _combined_row(True)
    expected = 0.3 * _ref_bce(prob, target) - 0.2 * _ref_focal(prob, target) + 0.6 * _ref_tversky(prob, target)
    assert float(binary.compute(batch)[0]) == pytest.approx(expected, rel=REL5)
    mc_terms = parse_combination("0.25*ce + 0.5*focal_loss", multiclass=True)
    mc_prob, gt, mc_batch = _mc_batch(rng, combine=mc_terms)
    components = _torch_components(mc_prob, gt)
    assert float(multi.compute(mc_batch)[0]) == pytest.approx(
        0.25 * components["ce"] + 0.5 * components["focal_loss"], rel=REL5
    )
    for row, mode in ((binary, "binary"), (multi, "multiclass")):
        assert (row.name, row.group, row.mode, row.higher_is_better) == ("combined", "losses", mode, False)
        # what `segcli metrics` shows for it
        assert row.formula == "sum of weight * loss over the terms of --combine"
        assert row.defaults == '--combine, e.g. "0.3*bce + 0.4*dice_loss + 0.3*boundary_loss"'


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
