"""One name per option across the CLI, the Python API and the library: every flag's stem is its
parameter's name, which is the option's name in the settings table (``flag(name, command)`` and
back), except the flags ``segcli.settings.FLAGS`` lists (each with its reason there); and every
keyword of the public functions is an option of the table."""

from __future__ import annotations

import inspect

import pytest
import typer

import segcli
from segcli.cli.main import app
from segcli.run.build import SCORE_PARAMETERS
from segcli.settings import FLAGS, OPTIONS, flag

COMMANDS = {command.name: command.callback for command in app.registered_commands}
# Python parameter names that cannot be their flag's stem: ``format`` is a builtin.
PARAMETERS = {"fmt": "--format"}
# The public functions' arrays and paths: data, not options.
DATA = {"pred", "target", "gt", "mask", "labels_or_counts"}


def _signature(callback):
    """The parameters typer reads: the signature, the score parameters it does not write out added."""
    return inspect.signature(callback, eval_str=True).parameters.items()


def _settings(callback):
    """(parameter name, the setting its typer option was built from, or None) of each option."""
    for name, parameter in _signature(callback):
        infos = [m for m in getattr(parameter.annotation, "__metadata__", ()) if isinstance(m, typer.models.OptionInfo)]
        if infos:
            yield name, getattr(infos[0], "setting", None)


def _flags(callback):
    """(parameter name, its long flag) of each typer option of a command."""
    for name, parameter in _signature(callback):
        metadata = getattr(parameter.annotation, "__metadata__", ())
        infos = [m for m in metadata if isinstance(m, typer.models.ParameterInfo)]
        if infos and isinstance(infos[0], typer.models.ArgumentInfo):
            continue
        # inside Annotated, typer reads a first positional "--flag" (OptionInfo.default) as a declaration
        declared = [infos[0].default, *infos[0].param_decls] if infos else []
        declared = [d for d in declared if isinstance(d, str) and d.startswith("--")]
        yield name, declared[0] if declared else "--" + name.replace("_", "-")


def _stem(long_flag: str) -> str:
    return long_flag.removeprefix("--").replace("-", "_")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_flag_is_its_option_name(command):
    for name, long_flag in _flags(COMMANDS[command]):
        if name in OPTIONS:
            assert long_flag == flag(name, command), (command, name)
            assert _stem(long_flag) == name or name in FLAGS.get(command, {}), (command, name)
        else:
            assert long_flag == PARAMETERS.get(name, "--" + name.replace("_", "-")), (command, name)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_option_of_the_table_is_the_parameter_of_its_name(command):
    for name, setting in _settings(COMMANDS[command]):
        assert setting == (name if name in OPTIONS else None), (command, name, setting)


def test_every_exception_is_a_flag_its_command_has():
    for command, exceptions in FLAGS.items():
        flags = dict(_flags(COMMANDS[command]))
        for name, long_flag in exceptions.items():
            assert name in OPTIONS and flags.get(name) == long_flag, (command, name)


def test_every_option_of_two_commands_has_one_flag_in_each():
    for command, callback in COMMANDS.items():
        flags = [long_flag for _, long_flag in _flags(callback)]
        assert len(flags) == len(set(flags)), command


@pytest.mark.parametrize("function", ["score", "score_files", "weight_map", "class_weights"])
def test_every_api_keyword_is_an_option(function):
    parameters = inspect.signature(getattr(segcli, function)).parameters
    keywords = [name for name, p in parameters.items() if p.kind is not p.VAR_KEYWORD and name not in DATA]
    assert keywords and not set(keywords) - set(OPTIONS), set(keywords) - set(OPTIONS)


def test_the_score_options_the_api_takes_by_keyword_are_options():
    assert not set(SCORE_PARAMETERS) - set(OPTIONS)
