"""``--landmarks FILE`` (issue 23, items 7 and 10): a landmarks file records the image its
points were made for, a file made for another image is refused (or, same size, warned),
and any malformed file is one clear line, never Python's error text."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import draw_face, synth_speech, write_png, write_wav
from talkface.cli import app
from talkface.commands.landmarks import template_face
from talkface.face.landmarks_file import read_landmarks_json
from talkface.runtime.errors import InputError

runner = CliRunner()
ASTRONAUT = Path(__file__).resolve().parent.parent / "examples" / "astronaut.png"


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("lmfile")
    face = write_png(d / "face.png", draw_face())  # 320x400
    other = write_png(d / "other.png", np.full((400, 320, 3), 128, np.uint8))  # same size, other pixels
    tall = write_png(d / "tall.png", draw_face(320, 460))  # another size (as hopper.jpg next to astronaut.png)
    wav = write_wav(d / "short.wav", synth_speech(0.4))
    lm = d / "face.json"
    r = cli("landmarks", face, "--template", "--box", "70,150,180,190", "-o", lm)
    assert r.exit_code == 0, r.output
    return {"d": d, "face": face, "other": other, "tall": tall, "wav": wav, "lm": lm}


def _points():
    return template_face((70, 150, 180, 190)).points


def test_written_file_records_its_image(files):
    d = json.loads(files["lm"].read_text())
    assert d["image"] == str(files["face"]) and (d["width"], d["height"]) == (320, 400)
    import hashlib

    assert d["image_sha256"] == hashlib.sha256(files["face"].read_bytes()).hexdigest()


def test_file_for_another_size_is_refused(files):
    with pytest.raises(InputError) as e:
        read_landmarks_json(files["lm"], files["tall"])
    msg = e.value.message
    assert str(files["lm"]) in msg and str(files["face"]) in msg and str(files["tall"]) in msg
    assert "320x400" in msg and "320x460" in msg and "talkface landmarks" in msg


def test_generate_refuses_landmarks_made_for_another_image(files, random_weights, tmp_path):
    """generate hopper.jpg say.wav --landmarks astro.json: exit 2, one line naming both files."""
    out = tmp_path / "o.mp4"
    r = cli("generate", files["tall"], files["wav"], "-o", out, "--landmarks", files["lm"], "-q")
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert str(files["lm"]) in lines[0] and str(files["tall"]) in lines[0] and str(files["face"]) in lines[0]
    assert not out.exists()


def test_landmarks_overlay_refuses_a_file_made_for_another_image(files, tmp_path):
    r = cli("landmarks", files["tall"], "--landmarks", files["lm"], "--overlay", tmp_path / "o.png")
    assert r.exit_code == 2 and str(files["tall"]) in r.stderr
    assert not (tmp_path / "o.png").exists()


def test_same_size_other_pixels_is_warned(files, caplog):
    with caplog.at_level("WARNING", logger="talkface"):
        faces = read_landmarks_json(files["lm"], files["other"])
    assert len(faces) == 1
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and str(files["other"]) in warned[0] and str(files["face"]) in warned[0]


def test_same_pixels_under_another_name_is_silent(files, tmp_path, caplog):
    copy = shutil.copy(files["face"], tmp_path / "renamed.png")
    with caplog.at_level("WARNING", logger="talkface"):
        faces = read_landmarks_json(files["lm"], copy)
    assert len(faces) == 1 and not caplog.records


def test_hand_written_file_without_the_record_still_loads(files, tmp_path):
    p = tmp_path / "hand.json"
    p.write_text(json.dumps({"faces": [{"points": _points().tolist()}]}))
    assert np.allclose(read_landmarks_json(p, files["tall"])[0].points, _points())
    older = tmp_path / "older.json"  # an older talkface file: size, no content hash
    older.write_text(json.dumps({"image": "face.png", "width": 320, "height": 400,
                                 "faces": [{"points": _points().tolist()}]}))
    assert len(read_landmarks_json(older, files["other"])) == 1
    with pytest.raises(InputError, match="320x460"):
        read_landmarks_json(older, files["tall"])


@pytest.mark.parametrize("shift", [(5000, 0), (0, -3000), (1e9, 1e9)])
def test_points_outside_the_image_are_refused(files, tmp_path, shift):
    p = tmp_path / "far.json"
    p.write_text(json.dumps({"faces": [{"points": (_points() + shift).tolist()}]}))
    with pytest.raises(InputError) as e:
        read_landmarks_json(p, files["face"])
    assert str(p) in e.value.message and "outside" in e.value.message and "320x400" in e.value.message


def test_points_a_little_outside_the_image_still_load(files, tmp_path):
    """A face cut by the border (found on the padded retry) has points just past the edge."""
    p = tmp_path / "edge.json"
    p.write_text(json.dumps({"faces": [{"points": (_points() + (0, 150)).tolist()}]}))  # chin 40 px below
    assert len(read_landmarks_json(p, files["face"])) == 1


# -- item 10: a bare list of 68 pairs, and every malformed file one clear line ------------------

def test_bare_list_of_68_pairs_is_one_face(files, tmp_path):
    p = tmp_path / "bare.json"
    p.write_text(json.dumps(np.round(_points(), 2).tolist()))
    faces = read_landmarks_json(p, files["face"])
    assert len(faces) == 1 and np.allclose(faces[0].points, _points(), atol=0.01)
    x, y, w, h = faces[0].box
    assert np.isclose(x, _points()[:, 0].min(), atol=0.01) and np.isclose(w, np.ptp(_points()[:, 0]), atol=0.02)
    one = tmp_path / "one.json"  # one face's object without "faces" around it
    one.write_text(json.dumps({"points": _points().tolist()}))
    assert len(read_landmarks_json(one, files["face"])) == 1


@pytest.mark.slow
def test_generate_with_a_bare_list(files, random_weights, tmp_path):
    p = tmp_path / "bare.json"
    p.write_text(json.dumps(_points().tolist()))
    r = cli("generate", files["face"], files["wav"], "-o", tmp_path / "o.mp4", "--landmarks", p, "--json", "-q")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["detector"] == "file"


PYTHON_TEXT = ("list indices", "KeyError", "TypeError", "ValueError", "object is not", "'faces'", "could not convert",
               "Expecting value:", "not subscriptable", "unexpected")


MALFORMED = {
    "empty object": "{}", "faces a number": '{"faces": 3}', "face a number": '{"faces": [3]}',
    "points a string": '{"faces": [{"points": "abc"}]}', "no faces": '{"faces": []}',
    "5 pairs": json.dumps([[1, 2]] * 5), "strings": json.dumps([["a", "b"]] * 68),
    "triples": json.dumps([[1, 2, 3]] * 68), "a string": '"text"', "null": "null", "a number": "3",
    "box a string": json.dumps({"faces": [{"points": [[1, 2]] * 68, "box": "x"}]}),
    "score a string": json.dumps({"faces": [{"points": [[100, 200]] * 68, "score": "high"}]}),
    "booleans": json.dumps({"faces": [{"points": [[True, 2]] * 68}]}),
    "cut short": '[[1, 2], ', "binary": "\x00\xff\xfe binary",
    "width a string": json.dumps({"faces": [{"points": [[1, 2]] * 68}], "width": "wide", "height": 3}),
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_file_is_one_clear_line(files, tmp_path, body):
    p = tmp_path / "bad.json"
    p.write_bytes(body.encode("latin-1"))
    with pytest.raises(InputError) as e:
        read_landmarks_json(p, files["face"])
    msg = e.value.message
    assert msg.startswith(f"{p}: ") and "\n" not in msg
    assert "68" in msg or "faces" in msg or "JSON" in msg
    assert not any(t in msg for t in PYTHON_TEXT), msg


def test_generate_bare_list_of_wrong_length_names_the_format(files, random_weights, tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps([[1, 2]] * 5))
    r = cli("generate", files["face"], files["wav"], "-o", tmp_path / "o.mp4", "--landmarks", p, "-q")
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    assert str(p) in r.stderr and "68" in r.stderr and "list indices" not in r.stderr
