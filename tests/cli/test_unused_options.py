"""weightmap, classweights and compare say each given option that does nothing in the run, with
the one rule of ``segcli.settings.unused`` (the texts score's rule and the former ones used)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from segcli.cli.main import app
from segcli.errors import spelled
from segcli.settings import flag
from segcli.settings.unused import unused_options

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


def _said(given: dict, command: str) -> list[str]:
    return [spelled(message, lambda name: flag(name, command)) for message in unused_options(given, command=command)]


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"kind": "sdf", "w0": 3.0, "sigma": 2.0},
         ["--w0, --sigma: --kind unet options; --kind sdf does not use them"]),
        ({"kind": "boundary", "class_weights": "balanced", "connectivity": 2},
         ["--wc, --connectivity: --kind unet options; --kind boundary does not use them"]),
        ({"w0": 3.0, "sigma": 2.0, "connectivity": 2}, []),  # unet reads them
        ({"device": "cuda:0"}, ["--device: unet maps (a transform per instance) are computed on the CPU"]),
        ({"device": "cuda:0", "kind": "sdf"}, []),
        ({"device": "cpu"}, []),
        ({"device": "cuda:0", "kind": "sdf", "scheduler": "tcp://h:8786", "workers": 2},
         ["--workers applies to local runs; the cluster's workers compute the maps",
          "--device applies to local runs; the cluster's workers compute the maps on their CPUs"]),
        ({"class_weight_scheme": "median"}, ["--wc-scheme picks from a --wc JSON file; without one it does nothing"]),
        ({"class_weight_scheme": "median", "class_weights": "0.5,2"},
         ["--wc-scheme picks from a --wc JSON file; without one it does nothing"]),
    ],
)  # fmt: skip
def test_weightmap_says_the_options_its_kind_does_not_read(given, said):
    assert _said(given, "weightmap") == said


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"beta": 0.9, "scheme": ["inverse", "median"]},
         ["--beta shapes the effective scheme; without it in --scheme it does nothing"]),
        ({"beta": 0.9, "scheme": ["inverse", "effective"]}, []),
        ({"beta": 0.9}, []),  # every scheme, effective included
        ({"scheme": ["inverse"]}, []),
        ({"workers": 2, "scheduler": "tcp://h:8786"},
         ["--workers applies to local runs; the cluster's workers count the files"]),
    ],
)  # fmt: skip
def test_classweights_says_beta_without_the_effective_scheme(given, said):
    assert _said(given, "classweights") == said


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"workers": 2}, ["--workers applies to scoring (--gt); results read back are not scored"]),
        ({"workers": 2, "gt": "gt"}, []),
        ({}, []),
    ],
)
def test_compare_says_workers_without_gt(given, said):
    assert _said(given, "compare") == said


def test_the_commands_say_them_on_stderr(tmp_path):
    runner = CliRunner()
    labels = str(SAMPLE / "labels")
    done = runner.invoke(app, ["classweights", labels, "--scheme", "inverse", "--beta", "0.5", "--workers", "1"])
    assert done.exit_code == 0
    assert "segcli: warning: --beta shapes the effective scheme; without it in --scheme it does nothing" in done.stderr
    done = runner.invoke(app, ["classweights", labels, "--scheme", "effective", "--beta", "0.5", "--workers", "1"])
    assert done.exit_code == 0 and "--beta shapes" not in done.stderr
    out = tmp_path / "w"
    done = runner.invoke(
        app, ["weightmap", str(SAMPLE / "instances"), "--out", str(out), "--kind", "sdf", "--w0", "3", "--workers", "1"]
    )
    assert done.exit_code == 0
    assert "segcli: warning: --w0: --kind unet options; --kind sdf does not use them" in done.stderr
    done = runner.invoke(app, ["compare", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--workers", "2"])
    assert "segcli: warning: --workers applies to scoring (--gt); results read back are not scored" in done.stderr
