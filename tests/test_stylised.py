"""Stylised portraits (issue 15): characters drawn from 68 points, the optional MediaPipe
Face Mesh detector and its 468 -> 68 map, the chain with and without it."""
from __future__ import annotations

import numpy as np
import pytest

from cartoons import KIND_68, STYLES_68, draw_from_points
from talkface.face import detect, detectors
from talkface.face.detectors import mesh
from talkface.face.detectors.base import Face
from talkface.face.groups import EYE_L, EYE_R
from talkface.runtime.errors import InputError


def _error(points, truth):
    t = np.asarray(truth, np.float64)
    iod = np.linalg.norm(t[EYE_R].mean(0) - t[EYE_L].mean(0))
    return float(np.linalg.norm(np.asarray(points)[:48] - t[:48], axis=1).mean() / iod)


def test_drawn_characters_are_drawn_where_their_points_are():
    """Every style: deterministic per seed, the points inside the image, the eyes drawn
    (the eye centres differ in colour from the cheeks), every kind of the bench covered."""
    assert {KIND_68[s] for s in STYLES_68} >= {"anime", "flat cartoon", "sketch", "non-human", "painting"}
    for style in STYLES_68:
        img, pts = draw_from_points(style, 3)
        img2, pts2 = draw_from_points(style, 3)
        assert np.array_equal(img, img2) and np.array_equal(pts, pts2)
        h, w = img.shape[:2]
        assert pts.shape == (68, 2) and (pts >= 0).all() and (pts[:, 0] < w).all() and (pts[:, 1] < h).all()
        cheek = img[int(pts[[2, 30], 1].mean()), int(pts[[2, 30], 0].mean())].astype(int)
        for eye in (EYE_R, EYE_L):
            x, y = np.round(pts[eye].mean(0)).astype(int)
            assert np.abs(img[y, x].astype(int) - cheek).max() > 40, (style, "eye not drawn")
        assert not np.array_equal(draw_from_points(style, 4)[1], pts)


def test_mesh_map_is_a_convex_combination_of_mesh_vertices():
    assert len(mesh.MESH_TO_68) == 68
    for row in mesh.MESH_TO_68:
        assert row and all(0 <= v < 468 for v, _ in row)
        assert abs(sum(w for _, w in row) - 1) < 0.01 and all(w > 0 for _, w in row)
    # a mesh whose vertices all sit at one place maps every point there
    assert np.allclose(mesh.to_68(np.tile([[5.0, 7.0]], (468, 1))), [5.0, 7.0], atol=0.05)


def test_chain_without_mediapipe(monkeypatch):
    """mediapipe absent: the chain is dlib (+ the cartoon fit) as before, and asking for
    the mesh detector is a one-line usage error naming the fix."""
    monkeypatch.setattr(mesh, "mesh_available", lambda: False)
    assert "mesh" not in detectors.usable_detectors()
    img, pts = draw_from_points("flat", 1)
    faces = detect.detect_faces(img)
    assert faces and faces[0].detector in ("dlib", "cartoon")
    with pytest.raises(InputError, match=r"mediapipe 0\.10\.14.*--detector dlib"):
        detect.detect_faces(img, "mesh")


def test_negative_image_found_by_the_inverted_retry(monkeypatch):
    """A colour-inverted face that the plain image hides from dlib is found on the
    'inverted' retry, with points on the original's pixels."""
    from helpers import draw_face

    monkeypatch.setattr(mesh, "mesh_available", lambda: False)
    plain = detect.detect_faces(draw_face(), "dlib", retries=False)
    assert plain
    variants = dict((n, img) for n, img, _, _ in detect._retries(draw_face()))
    assert np.array_equal(variants["inverted"], 255 - draw_face())
    assert {"smoothed", "inverted", "greyscale"} <= set(variants)


needs_mesh = pytest.mark.skipif(not mesh.mesh_available(), reason="mediapipe not installed (pip install '.[mesh]')")


@needs_mesh
def test_mesh_detector_on_drawn_characters():
    """Face Mesh first in the auto chain; on drawn faces its points land within 0.10 IOD."""
    assert detectors.usable_detectors().index("mesh") < detectors.usable_detectors().index("dlib")
    errs = []
    for style in ("flat", "sketch", "painted"):
        img, pts = draw_from_points(style, 2)
        faces = detect.detect_faces(img)
        assert faces and faces[0].detector == "mesh"
        errs.append(_error(faces[0].points, pts))
    assert max(errs) <= 0.10, errs


@needs_mesh
def test_mesh_in_a_box_takes_over_another_detectors_face():
    """A face found by another detector is looked at again by Face Mesh in a crop around
    its box: the points become Face Mesh's, the attempt says whose box it was."""
    img, pts = draw_from_points("flat", 2)
    f = detect.detect_faces(img, "dlib", retries=False)[0]
    g = mesh._mesh_in_box(img, f)
    assert g.detector == "mesh" and g.attempt == "dlib box"
    assert _error(g.points, pts) <= 0.10
    far = Face((0, 0, 20, 20), 1.0, f.points * 0 + 10, "dlib")  # a box with no face in it
    assert mesh._mesh_in_box(img, far) is far


@pytest.mark.slow
@needs_mesh
def test_chain_loads_only_what_it_uses():
    """A face Face Mesh finds: dlib's models are never loaded, mediapipe comes in without
    matplotlib.pyplot, and pyplot still works afterwards (the real module, for mediapipe's
    drawing helpers too)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    photo = Path(__file__).resolve().parent.parent / "examples" / "astronaut.png"
    code = f"""
import json, sys
from talkface.face import detect
from talkface.face.detectors import dlib
from talkface.face.image import load_image
faces = detect.detect_faces(load_image({str(photo)!r}))
out = {{"detector": faces[0].detector, "dlib_loaded": dlib._dlib_models.cache_info().currsize > 0,
        "pyplot": "matplotlib.pyplot" in sys.modules}}
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from mediapipe.python.solutions import drawing_utils
out["same_plt"] = drawing_utils.plt.figure is plt.figure
print(json.dumps(out))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == {"detector": "mesh", "dlib_loaded": False, "pyplot": False, "same_plt": True}
