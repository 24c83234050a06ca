"""``generate``'s options and outputs checked before any work (issue 23: 8, 9, 13, 14).

* ``--max-seconds`` must be a positive, finite number of seconds: ``inf`` is refused
  naming the option, not the audio file (ffmpeg was handed ``-t inf``).
* ``--weights ''`` is refused as an empty name (exit 2), not "no default weights".
* An output that is a symbolic link to a missing file counts as there: refused without
  ``--force`` before anything is read (it used to render the whole video, then exit 2);
  with ``--force`` the link itself is replaced, never written through.
* Temp names fit whenever the output's own name fits (NAME_MAX): a 250-byte output name
  used to be refused ("File name too long") because of its ``.NAME.HOST-PID.RANDOM.EXT.part``.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import talkface
from talkface import pipeline
from talkface import weights as W
from talkface.cli import app
from talkface.options import GenerateOptions
from talkface.runtime.errors import InputError
from talkface.video import outputs

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def no_work(monkeypatch):
    """Reading the inputs or rendering fails the test: the refusal must come first."""
    def boom(*a, **k):
        raise AssertionError("the inputs were read: the refusal came after the work started")

    monkeypatch.setattr(pipeline, "_inputs", boom)
    monkeypatch.setattr(pipeline, "_frames", boom)


@pytest.fixture()
def no_render(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("frames were rendered: the refusal came after the work started")

    monkeypatch.setattr(pipeline, "_frames", boom)


def one_error_line(r) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    assert "Traceback" not in r.output and not r.stdout.strip(), r.output
    return lines[0]


# ----------------------------------------------------------------------------- 8. --max-seconds
@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "nan", "1e300"])
def test_max_seconds_must_be_finite_and_is_named(assets, random_weights, tmp_path, no_work, value):
    out = tmp_path / "o.mp4"
    r = cli("generate", assets["face"], assets["speech"], "-o", out, "--max-seconds", value, "-q")
    assert r.exit_code == 2, r.output
    line = one_error_line(r)
    assert line.startswith("error: --max-seconds ") and "number of seconds" in line, line
    assert "not readable" not in line and str(assets["speech"]) not in line, line
    assert not out.exists()


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 1e300, 0, -1, "10"])
def test_generate_options_refuse_a_bad_max_seconds(value):
    with pytest.raises(InputError, match="^--max-seconds "):
        GenerateOptions(max_seconds=value)
    with pytest.raises(InputError, match="^--max-seconds "):
        GenerateOptions().replace(max_seconds=value)


@pytest.mark.parametrize("value", [None, 0.5, 30, 1200.0, 7200, 1e9])
def test_generate_options_take_a_good_max_seconds(value):
    assert GenerateOptions(max_seconds=value).max_seconds == value


# ----------------------------------------------------------------------------- 9. --weights ''
@pytest.mark.parametrize("name", ["", "  "])
def test_empty_weights_name_is_refused_as_such(assets, random_weights, tmp_path, no_render, name):
    out = tmp_path / "o.mp4"
    r = cli("generate", assets["face"], assets["speech"], "-o", out, "--weights", name, "-q")
    assert r.exit_code == 2, r.output
    line = one_error_line(r)
    assert line.startswith(f"error: --weights {name!r}: empty;"), line
    assert "no default weights" not in line
    assert not out.exists()


@pytest.mark.parametrize("name", ["", " "])
def test_empty_weights_name_in_the_api(random_weights, name):
    with pytest.raises(InputError, match="empty"):
        W.locate(name)
    with pytest.raises(InputError, match="empty"):
        W.find_entry(name, random_weights)
    with pytest.raises(InputError, match="empty"):
        talkface.load(weights=name, device="cpu")
    assert W.locate("default").name == "test-random"  # the default is still "default" or None
    assert W.locate(None).name == "test-random"


# ----------------------------------------------------------------------------- 13. dangling symlink
def test_dangling_symlink_output_is_refused_before_the_work(assets, random_weights, tmp_path, no_work):
    out = tmp_path / "dangling.mp4"
    os.symlink("missing.mp4", out)
    r = cli("generate", assets["face"], assets["speech"], "-o", out, "-q")
    assert r.exit_code == 2, r.output
    line = one_error_line(r)
    assert line.startswith(f"error: {out}: already exists, as a symbolic link to missing.mp4"), line
    assert "--force" in line
    assert out.is_symlink() and os.readlink(out) == "missing.mp4"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling.mp4"]  # no temp file, nothing written through


def test_dangling_symlink_with_force_replaces_the_link(tmp_path):
    """--force replaces the link itself (as for a link to an existing file), never its target."""
    out = tmp_path / "dangling.mp4"
    os.symlink(tmp_path / "elsewhere" / "missing.mp4", out)
    with pytest.raises(InputError, match="symbolic link"):
        outputs.check_output_path(out, force=False)
    assert outputs.check_output_path(out, force=True) == out
    a = outputs.AtomicFile(out)
    a.tmp.write_bytes(b"video")
    a.commit(stop_on_signal=False)
    assert not out.is_symlink() and out.read_bytes() == b"video"
    assert not (tmp_path / "elsewhere").exists()


def test_dangling_symlink_is_not_replaced_without_overwrite(tmp_path):
    """A link that appears meanwhile is kept by a commit without overwrite, like a file."""
    out = tmp_path / "o.mp4"
    a = outputs.AtomicFile(out, overwrite=False)
    os.symlink("missing.mp4", out)
    with pytest.raises(InputError, match="created by something else"):
        a.commit(stop_on_signal=False)
    assert out.is_symlink() and not a.tmp.exists()


def test_symlink_to_an_existing_file_is_still_refused_without_force(tmp_path):
    target = tmp_path / "real.mp4"
    target.write_bytes(b"old")
    out = tmp_path / "link.mp4"
    os.symlink(target, out)
    with pytest.raises(InputError, match="already exists; pass --force"):
        outputs.check_output_path(out)


# ----------------------------------------------------------------------------- 14. long names
def long_name(n_bytes: int, ext: str = ".mp4") -> str:
    return "a" * (n_bytes - len(ext)) + ext


@pytest.mark.parametrize("n", [200, 230, 250, 255])
def test_temp_name_fits_whenever_the_name_fits(tmp_path, n):
    if outputs.name_max(tmp_path) < 255:
        pytest.skip("a file system with short names")
    target = tmp_path / long_name(n)
    a = outputs.AtomicFile(target)
    try:
        assert len(os.fsencode(a.tmp.name)) <= 255
        assert a.tmp.parent == tmp_path and a.tmp.name.startswith(".") and a.tmp.name.endswith(".part")
        a.tmp.write_bytes(b"x")
        a.commit(stop_on_signal=False)
    finally:
        a.discard()
    assert target.read_bytes() == b"x"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_short_names_keep_the_readable_temp_name(tmp_path):
    a = outputs.AtomicFile(tmp_path / "talk.mp4")
    try:
        assert a.tmp.name.startswith(f".talk.mp4.{outputs._host()}-{os.getpid()}.")
        assert a.tmp.name.endswith(".mp4.part")
    finally:
        a.discard()


def test_multibyte_names_are_counted_in_bytes(tmp_path):
    if outputs.name_max(tmp_path) < 255:
        pytest.skip("a file system with short names")
    name = "é" * 125 + ".mp4"  # 254 bytes, 129 characters
    a = outputs.AtomicFile(tmp_path / name)
    try:
        assert len(os.fsencode(a.tmp.name)) <= 255
    finally:
        a.discard()


def test_stale_hashed_temp_is_removed(tmp_path):
    """A temp file of a long name left by a killed run is removed by the next write, like any other."""
    import subprocess
    import sys

    target = tmp_path / long_name(250)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    prefix, end = outputs.temp_affixes(target)
    assert not prefix.startswith(f".{target.name}.")  # the hashed form
    stale = tmp_path / (prefix.replace(f"-{os.getpid()}.", f"-{dead.pid}.") + "abcdefgh" + end)
    stale.write_bytes(b"left")
    live = tmp_path / (prefix + "ijklmnop" + end)  # this process: a writer still at work
    live.write_bytes(b"busy")
    assert outputs.remove_stale_temps(target) == [stale]
    assert not stale.exists() and live.exists()


def test_too_long_a_name_is_refused_before_the_work(assets, random_weights, tmp_path, no_work):
    if outputs.name_max(tmp_path) != 255:
        pytest.skip("not a 255-byte NAME_MAX")
    out = tmp_path / long_name(256)
    r = cli("generate", assets["face"], assets["speech"], "-o", out, "-q")
    assert r.exit_code == 2, r.output
    line = one_error_line(r)
    assert "file name is 256 bytes, longer than the 255 this file system allows" in line, line
    assert "not writable" not in line


@pytest.mark.slow
def test_generate_writes_a_250_byte_name(assets, random_weights, tmp_path):
    if outputs.name_max(tmp_path) < 255:
        pytest.skip("a file system with short names")
    out = tmp_path / long_name(250)
    r = cli("generate", assets["face"], assets["speech"], "-o", out, "-q", "--renderer", "warp")
    assert r.exit_code == 0, r.output
    assert out.stat().st_size > 1000
    assert [p.name for p in Path(tmp_path).iterdir()] == [out.name]  # no temp file left
