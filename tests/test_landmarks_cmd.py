"""``talkface landmarks`` (issue 23, items 11, 12, 15 and 21): the --template box is checked,
--video with an image is refused, its outputs are all-or-nothing, and it says what it wrote."""
from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import draw_face, write_png
from talkface.cli import app

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def grey(tmp_path_factory):
    return write_png(tmp_path_factory.mktemp("lmcmd") / "grey.png", np.full((400, 320, 3), 128, np.uint8))


# -- item 11: --box ---------------------------------------------------------------------------

@pytest.mark.parametrize("box", ["nan,nan,100,100", "10,10,nan,100", "inf,10,100,100", "10,10,100,inf",
                                 "1e9,1e9,1e9,1e9", "1e9,10,100,100", "10,10,0,100", "-500,-500,100,100",
                                 "300,380,100,100", "10,10,1e-9,1e-9", "10,10,1e9,1e9"])
def test_template_box_must_be_finite_and_on_the_image(grey, tmp_path, box):
    out = tmp_path / "t.json"
    r = cli("landmarks", grey, "--template", "--box", box, "-o", out)
    assert r.exit_code == 2, (box, r.output)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --box") and "320x400" in lines[0], r.stderr
    assert not out.exists()


@pytest.mark.parametrize("box", ["10,10,100,120", "-20,-20,100,120", "250,300,100,120", "0,0,320,400"])
def test_template_box_mostly_on_the_image_is_fine(grey, tmp_path, box):
    out = tmp_path / "t.json"
    r = cli("landmarks", grey, "--template", "--box", box, "-o", out)
    assert r.exit_code == 0, (box, r.output)
    assert np.isfinite(np.array(json.loads(out.read_text())["faces"][0]["points"], float)).all()


def test_edit_checks_the_box_too(grey, tmp_path):
    r = cli("landmarks", grey, "--edit", "--template", "--box", "nan,nan,100,100", "-o", tmp_path / "t.json")
    assert r.exit_code == 2 and "--box" in r.stderr


# -- item 12: --video applies to audio only -------------------------------------------------------

def test_video_with_an_image_is_refused(grey, tmp_path):
    vid = tmp_path / "v.mp4"
    r = cli("landmarks", grey, "--template", "--box", "10,10,100,120", "--video", vid, "-o", tmp_path / "t.json")
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--video" in lines[0] and "--overlay" in lines[0], r.stderr
    assert not vid.exists() and not (tmp_path / "t.json").exists()


# -- item 15: all-or-nothing outputs ----------------------------------------------------------------

def _fail_png_writes(monkeypatch):
    """Writing any .png temp file fails as on a full disk; the JSON's write succeeds."""
    real = Path.write_bytes

    def write_bytes(self, data):
        if self.name.endswith(".png.part"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)


def test_full_disk_leaves_no_output_and_names_the_file(grey, tmp_path, monkeypatch):
    _fail_png_writes(monkeypatch)
    out, overlay = tmp_path / "f.json", tmp_path / "big.png"
    r = cli("landmarks", grey, "--template", "--box", "10,10,100,120", "-o", out, "--overlay", overlay)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(overlay) in lines[0] and "no space left" in lines[0], r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # neither output nor a temp file


def test_full_disk_with_force_keeps_the_old_outputs(grey, tmp_path, monkeypatch):
    out, overlay = tmp_path / "f.json", tmp_path / "big.png"
    out.write_text("old json")
    overlay.write_bytes(b"old png")
    _fail_png_writes(monkeypatch)
    r = cli("landmarks", grey, "--template", "--box", "10,10,100,120", "-o", out, "--overlay", overlay, "--force")
    assert r.exit_code == 2, r.output
    assert out.read_text() == "old json" and overlay.read_bytes() == b"old png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png", "f.json"]


@pytest.fixture()
def full_disk(tmp_path):
    """A 64 KiB tmpfs (needs root); skipped where it cannot be mounted."""
    d = tmp_path / "full"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(d)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], capture_output=True)


def test_real_full_disk(tmp_path, full_disk):
    """The issue's case: the JSON fits, the big overlay does not."""
    img = write_png(tmp_path / "noisy.png", np.random.default_rng(0).integers(0, 256, (400, 320, 3), np.uint8))
    out, overlay = full_disk / "f.json", full_disk / "big.png"
    r = cli("landmarks", img, "--template", "--box", "10,10,100,120", "-o", out, "--overlay", overlay)
    assert r.exit_code == 2, r.output
    assert str(overlay) in r.stderr and "no space left" in r.stderr
    assert list(full_disk.iterdir()) == []


# -- item 21: "wrote PATH" -----------------------------------------------------------------------------

def test_landmarks_says_what_it_wrote(grey, tmp_path):
    out, overlay = tmp_path / "f.json", tmp_path / "f.png"
    r = cli("landmarks", grey, "--template", "--box", "10,10,100,120", "-o", out, "--overlay", overlay)
    assert r.exit_code == 0, r.output
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert [ln.split(" (")[0] for ln in lines] == [f"wrote {out}", f"wrote {overlay}"], r.stderr


def test_landmarks_quiet_and_json(grey, tmp_path):
    out = tmp_path / "f.json"
    r = cli("landmarks", grey, "--template", "--box", "10,10,100,120", "-o", out, "-q")
    assert r.exit_code == 0 and r.stdout == "" and r.stderr == "", r.output
    r = cli("landmarks", grey, "--template", "--box", "10,10,100,120", "-o", out, "--force", "--json")
    assert r.exit_code == 0 and r.stderr == "", r.output
    d = json.loads(r.stdout)
    assert d["output"] == str(out) and len(d["faces"]) == 1
    assert "output" not in json.loads(out.read_text())  # the file is the landmarks, not the report


def test_landmarks_overlay_only_prints_the_points_and_says_so(tmp_path):
    img = write_png(tmp_path / "face.png", draw_face())
    overlay = tmp_path / "o.png"
    r = cli("landmarks", img, "--template", "--box", "70,150,180,190", "--overlay", overlay)
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["faces"]) == 1
    assert r.stderr.strip().startswith(f"wrote {overlay}")
