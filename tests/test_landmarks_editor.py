"""The landmark editor's save request is checked strictly (issue 23, item 20): ``finish``
must be a JSON boolean, the points finite numbers on (or just off) the image."""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

from helpers import draw_face
from talkface.commands.landmarks import template_face
from talkface.editor import LandmarkEditor
from talkface.face.landmarks_file import read_landmarks_json


def _points():
    return template_face((70, 150, 180, 190)).points


@pytest.fixture()
def editor(tmp_path):
    ed = LandmarkEditor(tmp_path / "face.png", draw_face(), _points(), tmp_path / "face.json", start="template")
    t = threading.Thread(target=ed.serve, daemon=True)
    t.start()
    yield ed, t
    ed.stop()
    t.join(10)


def post(ed, body) -> tuple[int, dict]:
    base, key = ed.url.split("/?t=")
    req = urllib.request.Request(base + "/save", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", "X-Talkface-Token": key})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize("finish", ["false", "true", 0, 1, None, [], {}])
def test_finish_must_be_a_json_boolean(editor, tmp_path, finish):
    ed, thread = editor
    code, r = post(ed, {"points": _points().tolist(), "finish": finish})
    assert code == 400 and "finish" in r["error"] and "true or false" in r["error"], r
    assert not (tmp_path / "face.json").exists()
    assert thread.is_alive()  # "false" is not finish


@pytest.mark.parametrize("where", [(1e12, 1e12), (-1e12, 0), (5000, 0), (0, -2000)])
def test_points_off_the_image_are_refused(editor, tmp_path, where):
    ed, thread = editor
    pts = _points()
    pts[30] = where
    code, r = post(ed, {"points": pts.tolist(), "finish": True})
    assert code == 400 and "320x400" in r["error"] and "point 30" in r["error"], r
    assert not (tmp_path / "face.json").exists() and thread.is_alive()


def test_points_must_be_numbers(editor, tmp_path):
    ed, thread = editor
    pts = _points().tolist()
    pts[5] = [True, 20]
    code, r = post(ed, {"points": pts, "finish": False})
    assert code == 400 and "68" in r["error"]
    assert not (tmp_path / "face.json").exists()


def test_a_point_dragged_just_past_the_edge_is_saved(editor, tmp_path):
    ed, thread = editor
    pts = _points()
    pts[8] = (160, 415)  # the chin, 15 px below the image
    code, r = post(ed, {"points": pts.tolist()})  # no "finish": a plain save
    assert code == 200 and r["finished"] is False
    assert np.allclose(read_landmarks_json(tmp_path / "face.json")[0].points, pts, atol=0.006)
    code, r = post(ed, {"points": pts.tolist(), "finish": True})
    assert code == 200 and r["finished"] is True
    thread.join(10)
    assert not thread.is_alive()
