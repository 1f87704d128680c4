"""Each option's default is written once, in segcli/settings/options.py: no literal default of an
option-named parameter anywhere else in segcli/, and the typer options' defaults and help texts
are the table's."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from segcli.settings import OPTIONS, default, help_text

PACKAGE = Path(__file__).resolve().parents[2] / "segcli"
# Parameters of the public wrappers named after the function's own use of an option.
ALIASES = {"alpha", "beta", "gamma", "tolerance"}
CHECKED = (set(OPTIONS) - {"metrics", "kind", "scheme"}) | ALIASES
# Not the option of that name: read_image's spacing=True says whether to read the file's spacing.
NOT_YET = {
    "segcli/inputs/images.py read_image(spacing=True)",
    "segcli/inputs/volumes.py read_volume(spacing=True)",
    # gamma 1 is the plain Dice of the multi-class dice_loss; squared_dice_loss passes dice_gamma (2)
    "segcli/scores/multiclass_losses.py multiclass_dice_loss(gamma=1.0)",
}


def _literal_defaults(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            pairs = list(zip(args.args[len(args.args) - len(args.defaults) :], args.defaults, strict=True))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
            for arg, value in pairs:
                if arg.arg in CHECKED and isinstance(value, ast.Constant) and value.value is not None:
                    found.append(
                        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}({arg.arg}={value.value!r})"
                    )
    return found


def _doors() -> list[str]:
    # the doors, the public wrappers and the score kernels (scores/); results/ is next
    doors = ("metrics.py", "losses.py", "api.py", "api_checks.py", "weightmaps.py", "classweights.py",
             "engine/maps.py", "engine/instances.py", "inputs/", "cli", "scores")  # fmt: skip
    files = [p for p in sorted(PACKAGE.rglob("*.py")) if p.relative_to(PACKAGE).as_posix().startswith(doors)]
    return [line for path in files for line in _literal_defaults(path)]


def test_no_option_default_is_written_outside_the_settings():
    found = [line for line in _doors() if re.sub(r":\d+", "", line) not in NOT_YET]
    assert not found, "defaults written again (take them from segcli.settings.default):\n" + "\n".join(found)


def test_every_exception_is_still_written():
    # an exception whose literal is gone is taken out of the list, so the list says what is left
    assert NOT_YET == {re.sub(r":\d+", "", line) for line in _doors()}


def test_the_check_sees_a_literal_default(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f(x, *, threshold=0.5, sigma=None):\n    pass\n")
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path
    try:
        assert _literal_defaults(source) == ["tmp_path/m.py:1 f(threshold=0.5)".replace("tmp_path", tmp_path.name)]
    finally:
        PACKAGE = saved


# Typer options whose default is None so that their being given is seen (help states the default).
NONE_UNLESS_GIVEN = {"threshold", "ignore_index"}


@pytest.mark.parametrize("command", ["score", "weightmap", "classweights", "compare", "report", "metrics"])
def test_typer_options_take_default_and_help_from_the_settings(command):
    from segcli.cli import main

    app = main.app
    assert {c.name for c in app.registered_commands} == {"score", "weightmap", "classweights", "compare", "report",
                                                         "metrics"}  # fmt: skip
    function = next(c.callback for c in app.registered_commands if c.name == command)
    # the signature typer reads: the score parameters it does not write out are added from the table
    for name, parameter in inspect.signature(function, eval_str=True).parameters.items():
        if name not in OPTIONS:
            continue
        hint = parameter.annotation
        info = hint.__metadata__[0] if hasattr(hint, "__metadata__") else None
        assert info is not None and info.help == help_text(name, command if command != "score" else None), name
        value = getattr(parameter.default, "value", parameter.default)
        expected = None if name in NONE_UNLESS_GIVEN else default(name, command)
        assert value == expected, name
