"""Every face of a picture is counted with Face Mesh installed (issue 23, item 6): Face Mesh's
own detector sees faces near (short range) only, so a small face beside a large one was
missed, and ``--face-index 1`` said "1 face(s) found"."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import write_png
from talkface.cli import app
from talkface.face import detect
from talkface.face.detectors import mesh
from talkface.face.image import load_image

runner = CliRunner()
ASTRONAUT = Path(__file__).resolve().parent.parent / "examples" / "astronaut.png"

pytestmark = pytest.mark.skipif(not mesh.mesh_available(), reason="mediapipe not installed (pip install '.[mesh]')")


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def _hopper() -> np.ndarray:
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        return load_image(f.name)


@pytest.fixture(scope="module")
def pictures():
    import cv2

    a = load_image(ASTRONAUT)
    h = cv2.resize(_hopper(), (437, 512), interpolation=cv2.INTER_AREA)
    return {"astronaut+hopper": np.concatenate([a, h], 1), "astronaut twice": np.concatenate([a, a], 1),
            "hopper+astronaut": np.concatenate([h, a], 1)}


def _centres(faces):
    return sorted(round(float(f.points[:, 0].mean())) for f in faces)


@pytest.mark.parametrize("name", ["astronaut+hopper", "astronaut twice", "hopper+astronaut"])
def test_two_faces_side_by_side_are_both_found(pictures, name):
    img = pictures[name]
    faces = detect.detect_faces(img)
    assert len(faces) == 2, (name, [(f.detector, f.attempt, f.box) for f in faces])
    xs = _centres(faces)
    split = 512 if name != "hopper+astronaut" else 437
    assert xs[0] < split < xs[1]  # one on each side
    assert all(f.detector == "mesh" for f in faces)
    assert faces[0].box[2] * faces[0].box[3] >= faces[1].box[2] * faces[1].box[3]  # largest first


def test_one_face_is_still_one():
    assert len(detect.detect_faces(load_image(ASTRONAUT))) == 1
    assert len(detect.detect_faces(_hopper())) == 1


def test_mesh_detector_counts_both(pictures):
    assert len(detect.detect_faces(pictures["astronaut+hopper"], "mesh")) == 2


def test_face_index_1_and_the_warning(pictures, tmp_path):
    p = write_png(tmp_path / "two.png", pictures["astronaut+hopper"])
    r = cli("landmarks", p, "--face-index", "1", "-o", tmp_path / "f.json")
    assert r.exit_code == 0, r.output
    d = json.loads((tmp_path / "f.json").read_text())
    assert len(d["faces"]) == 1
    from talkface.face.find import choose_face
    from talkface.runtime.progress import Reporter

    faces = detect.detect_faces(pictures["astronaut+hopper"])
    warned = []
    rep = Reporter(show=False)
    rep.warn = warned.append  # type: ignore[method-assign]
    assert choose_face(faces, p, None, rep) is faces[0]
    assert warned and "2 faces found" in warned[0]
