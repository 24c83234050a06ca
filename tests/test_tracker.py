"""The landmark tracker of evaluate and data prepare: it follows the face, and where its
points slip off it (a box gone wrong), it finds the face again instead of drifting."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dlib")

from talkface.face.clips import LandmarkTracker  # noqa: E402
from talkface.face.detect import detect_faces  # noqa: E402
from talkface.face.image import load_image  # noqa: E402

PORTRAIT = Path(__file__).resolve().parent.parent / "examples" / "astronaut.png"


def _iod(p):
    return float(np.linalg.norm(p[45] - p[36]))


def test_a_slipped_track_finds_the_face_again():
    img = load_image(PORTRAIT)
    face = detect_faces(img, "dlib", retries=False)[0]
    t = LandmarkTracker(face.box)
    good = [t(img) for _ in range(3)]
    assert t.redetections == 0
    x, y, w, h = t.box
    t.box = (x - 0.6 * w, y - 0.3 * h, 1.6 * w, 1.6 * h)  # a box gone wrong (what drift leads to)
    p = t(img)
    assert t.redetections == 1
    assert _iod(p) == pytest.approx(_iod(good[0]), rel=0.05)
    assert np.abs(p - good[0]).max() < 0.15 * _iod(good[0])
    assert np.abs(np.array(t.box) - np.array(LandmarkTracker(face.box)._box_of(good[0]))).max() < 0.1 * w
