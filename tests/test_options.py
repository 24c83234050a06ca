"""One definition of the generate options (talkface.options.GenerateOptions), and every
surface derived from it: ``talkface generate`` and ``talkface batch`` options, the batch
manifest's columns, the Python API's keywords. These fail when a surface drifts."""
from __future__ import annotations

import dataclasses
import inspect

import pytest
import typer

import talkface
from talkface.batch import manifest
from talkface.cli import app
from talkface.options import GenerateOptions

FIELDS = {f.name: f for f in dataclasses.fields(GenerateOptions)}
FLAGS = GenerateOptions.flags()


def _command(name: str):
    return typer.main.get_command(app).commands[name]


def _options(name: str) -> dict:
    """parameter name -> click option of a command (its arguments left out)."""
    return {p.name: p for p in _command(name).params if p.param_type_name == "option"}


def _decls(opt) -> str:
    """An option's declaration as typer takes it ("--blink/--no-blink")."""
    return "/".join(["".join(opt.opts), *opt.secondary_opts]) if opt.secondary_opts else "/".join(opt.opts)


def test_every_field_has_its_metadata():
    for name, f in FIELDS.items():
        assert set(f.metadata) == {"flag", "help", "column", "per_portrait"}, name
        if f.metadata["flag"]:
            assert f.metadata["flag"].startswith("--" + name.replace("_", "-")) and f.metadata["help"], name
        assert f.metadata["column"] in (None, *manifest.CELLS), name


@pytest.mark.parametrize("command", ["generate", "batch"])
def test_cli_options_are_the_definitions(command):
    opts = _options(command)
    wanted = {n for n, f in FLAGS.items() if command == "generate" or not f.metadata["per_portrait"]}
    given = {n for n in opts if n in FIELDS}
    assert given == wanted, f"talkface {command}: options {sorted(given ^ wanted)} drift from GenerateOptions"
    for name in wanted:
        f, opt = FIELDS[name], opts[name]
        assert _decls(opt) == f.metadata["flag"], (command, name)
        assert opt.help == f.metadata["help"], (command, name)
        assert opt.default == f.default, (command, name)


def test_the_api_options_are_the_definitions():
    """talkface.generate takes the options as keywords (``**options``), as GenerateOptions
    does; TalkingFace.generate takes a GenerateOptions."""
    params = inspect.signature(talkface.generate).parameters
    assert not set(params) & set(FIELDS), "talkface.generate spells out options; take them through **options"
    assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    assert inspect.signature(talkface.TalkingFace.generate).parameters["options"].annotation in (
        "GenerateOptions | None", GenerateOptions)


def test_manifest_columns_are_the_definitions():
    cols = {n: k for n, k in GenerateOptions.columns().items()}
    assert set(manifest.OPTIONS) == set(cols) | {"weights"}
    for name, kind in cols.items():
        assert manifest.OPTIONS[name] is manifest.CELLS[kind], name
    assert manifest.COLUMNS == manifest.REQUIRED + ("id",) + tuple(manifest.OPTIONS)


def test_batch_help_lists_the_manifest_columns():
    arg = next(p for p in _command("batch").params if p.name == "manifest")
    assert f"optional {', '.join(manifest.COLUMNS[3:])}." in " ".join(arg.help.split())


def test_the_cli_builds_the_options_from_its_parameters():
    params = {"size": 512, "crop": True, "weights": "w", "force": True, "landmarks": None, "blink": False}
    o = GenerateOptions.from_params(params)
    assert (o.size, o.crop, o.blink, o.max_size) == (512, True, False, GenerateOptions().max_size)


def test_api_generate_refuses_an_unknown_option(tmp_path):
    with pytest.raises(TypeError, match="bogus"):
        talkface.generate(tmp_path / "p.png", tmp_path / "a.wav", bogus=1)
