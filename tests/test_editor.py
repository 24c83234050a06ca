"""``talkface landmarks IMAGE --edit``: the point editor's server (no browser here; see
test_editor_browser.py for the page driven by real mouse events)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import draw_face, synth_speech, write_png, write_wav
from talkface.cli import app
from talkface.commands.landmarks import template_face
from talkface.editor import LandmarkEditor
from talkface.face import groups as G
from talkface.face.landmarks_file import read_landmarks_json

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


class Served:
    """An editor serving in a thread, and HTTP calls to it as its page makes them."""

    def __init__(self, editor: LandmarkEditor):
        self.editor = editor
        self.base, self.key = editor.url.split("/?t=")
        self.result = "not finished"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.result = self.editor.serve()

    def call(self, path, body=None, key=True, host=None):
        headers = {"Content-Type": "application/json"}
        if key:
            headers["X-Talkface-Token"] = self.key
        if host:
            headers["Host"] = host
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.headers.get("Content-Type"), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read()

    def points(self) -> dict:
        code, _, body = self.call("/points")
        assert code == 200
        return json.loads(body)

    def save(self, points, finish=False):
        code, _, body = self.call("/save", {"points": np.asarray(points).tolist(), "finish": finish})
        return code, json.loads(body)

    def end(self):
        self.editor.stop()
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture(scope="module")
def face_img():
    return draw_face()


@pytest.fixture()
def start_points():
    return template_face((70, 150, 180, 190)).points


@pytest.fixture()
def served(face_img, start_points, tmp_path):
    s = Served(LandmarkEditor(tmp_path / "face.png", face_img, start_points, tmp_path / "face.json",
                              start="template"))
    yield s
    s.end()


def test_page_image_and_points(served, face_img, start_points):
    code, ctype, page = served.call(f"/?t={served.key}", key=False)
    assert code == 200 and ctype.startswith("text/html")
    html = page.decode()
    assert "Save and finish" in html and "<script>" in html and "<style>" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # everything inline, nothing fetched
    assert "http://" not in html and "https://" not in html

    code, ctype, png = served.call(f"/image?t={served.key}", key=False)
    assert code == 200 and ctype == "image/png"
    import cv2

    back = cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, face_img)  # lossless: the points are placed on these very pixels

    d = served.points()
    assert (d["width"], d["height"]) == (320, 400)
    assert d["start"] == "template" and d["saved"] is False and d["output"].endswith("face.json")
    assert np.allclose(d["points"], start_points, atol=0.01)
    assert np.allclose(d["start_points"], start_points, atol=0.01)
    assert sorted(i for idx in d["parts"].values() for i in idx) == list(range(68))  # each point in one part
    assert d["parts"]["mouth"] == G.MOUTH and d["parts"]["jaw"] == G.JAW
    assert all(set(ln["points"]) <= set(range(68)) for ln in d["lines"])


def test_refuses_requests_without_the_key_or_from_another_host(served, tmp_path):
    assert served.call("/points", key=False)[0] == 403
    assert served.call("/", key=False)[0] == 403
    assert served.call(f"/image?t={served.key}x", key=False)[0] == 403
    assert served.call("/points", host="evil.example")[0] == 403  # DNS rebinding
    assert served.call(f"/points?t={served.key}", key=False, host=f"localhost:{served.editor.port}")[0] == 200
    code, _, _ = served.call("/save", {"points": [[1, 2]] * 68, "finish": True}, key=False)
    assert code == 403
    assert served.call("/nope")[0] == 404
    assert not (tmp_path / "face.json").exists()
    assert served.editor.url.startswith("http://127.0.0.1:")
    assert served.editor.httpd.server_address[0] == "127.0.0.1"


@pytest.mark.parametrize("body", [{"points": [[1, 2]] * 5}, {"points": [[1, "x"]] * 68}, {"points": None},
                                  {"points": [[1, float("nan")]] * 68}, {"finish": True}, [1, 2]])
def test_bad_save_400_writes_nothing(served, tmp_path, body):
    code, _, msg = served.call("/save", body)
    assert code == 400 and b"68" in msg
    assert not (tmp_path / "face.json").exists()
    assert served.thread.is_alive()


def test_save_then_save_and_finish(served, start_points, tmp_path):
    out = tmp_path / "face.json"
    pts = start_points.copy()
    pts[G.MOUTH] += [3.0, -2.0]  # the mouth moved up and right
    code, r = served.save(pts)
    assert code == 200 and r == {"output": str(out), "moved": 20, "finished": False}
    assert served.thread.is_alive()  # a plain Save keeps editing
    assert np.allclose(read_landmarks_json(out)[0].points, pts, atol=0.006)
    assert served.points()["saved"] is True and np.allclose(served.points()["points"], pts, atol=0.01)

    pts[30] = [150.25, 240.75]  # then the nose tip; the second save replaces our own file without --force
    code, r = served.save(pts, finish=True)
    assert code == 200 and r["finished"] and r["moved"] == 21
    served.thread.join(10)
    assert not served.thread.is_alive()
    res = served.result
    assert res["output"] == str(out) and res["moved"] == 21
    d = json.loads(out.read_text())
    assert d["edited"] is True and d["start"] == "template" and (d["width"], d["height"]) == (320, 400)
    faces = read_landmarks_json(out)
    assert len(faces) == 1 and faces[0].detector == "file"
    assert np.allclose(faces[0].points, pts, atol=0.006)
    x, y, w, h = faces[0].box  # the box follows the edited points
    assert np.isclose(x, pts[:, 0].min(), atol=0.01) and np.isclose(x + w, pts[:, 0].max(), atol=0.01)
    assert np.isclose(y, pts[:, 1].min(), atol=0.01) and np.isclose(y + h, pts[:, 1].max(), atol=0.01)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.json"]  # no temp file left
    with pytest.raises(urllib.error.URLError):  # after finishing the server is gone
        served.call("/points")


def test_existing_output_kept_without_force(face_img, start_points, tmp_path):
    out = tmp_path / "face.json"
    served = Served(LandmarkEditor(tmp_path / "face.png", face_img, start_points, out))
    try:
        out.write_text("mine\n")  # appeared while the page was open
        code, r = served.save(start_points, finish=True)
        assert code == 409 and "already exists" in r["error"] and "--force" in r["error"]
        assert out.read_text() == "mine\n" and served.thread.is_alive()
    finally:
        served.end()
    served = Served(LandmarkEditor(tmp_path / "face.png", face_img, start_points, out, force=True))
    code, r = served.save(start_points, finish=True)
    served.thread.join(10)
    assert code == 200 and r["moved"] == 0
    assert np.allclose(read_landmarks_json(out)[0].points, start_points, atol=0.006)


def test_port_in_use_is_a_one_line_error(face_img, start_points, tmp_path, served):
    from talkface.runtime.errors import InputError

    with pytest.raises(InputError, match=f"--port {served.editor.port}: .*in use"):
        LandmarkEditor(tmp_path / "f.png", face_img, start_points, tmp_path / "x.json", port=served.editor.port)


@pytest.mark.slow
def test_saved_file_drives_generate(face_img, start_points, tmp_path, random_weights):
    """What the page saves is what ``generate --landmarks`` reads: on a blank image (no face
    to detect) the video is made from the edited points."""
    grey = write_png(tmp_path / "grey.png", np.full((400, 320, 3), 128, np.uint8))
    wav = write_wav(tmp_path / "short.wav", synth_speech(0.4))
    served = Served(LandmarkEditor(grey, face_img, start_points, tmp_path / "face.json", start="template"))
    code, _ = served.save(start_points + [4.0, 0.0], finish=True)
    served.thread.join(10)
    assert code == 200
    r = cli("generate", grey, wav, "-o", tmp_path / "o.mp4", "--landmarks", tmp_path / "face.json", "--json", "-q")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["detector"] == "file" and res["size"] == [320, 400]
    assert (tmp_path / "o.mp4").stat().st_size > 1000


# -- the command line --------------------------------------------------------------------

def _edit_in_thread(image, out, landmarks, detector):
    """``landmarks_cmd.edit`` serving in a thread: (thread, result holder, base URL, key,
    the starting points the page gets)."""
    from talkface.commands import landmarks as landmarks_cmd

    urls, res = [], {}
    t = threading.Thread(target=lambda: res.update(r=landmarks_cmd.edit(
        image, out, landmarks, False, None, "cpu", detector, None, False, on_ready=urls.append)), daemon=True)
    t.start()
    for _ in range(600):
        if urls:
            break
        t.join(0.05)
    assert urls, "the editor did not start"
    base, key = urls[0].split("/?t=")
    req = urllib.request.Request(base + "/points", headers={"X-Talkface-Token": key})
    return t, res, base, key, json.loads(urllib.request.urlopen(req, timeout=30).read())


def test_edit_starts_from_the_template_where_no_face_is_found(tmp_path):
    """The Python entry of ``landmarks --edit`` on a blank image: the template in the middle."""
    grey = write_png(tmp_path / "grey.png", np.full((300, 400, 3), 128, np.uint8))
    t, res, base, key, d = _edit_in_thread(grey, tmp_path / "f.json", None, "dlib")
    assert d["start"] == "template"
    pts = np.array(d["points"])
    assert np.allclose(pts.mean(0), [200, 150], atol=25)  # in the middle of the image
    assert 0 < pts[:, 0].min() and pts[:, 0].max() < 400 and 0 < pts[:, 1].min() and pts[:, 1].max() < 300
    body = json.dumps({"points": d["points"], "finish": True}).encode()
    req = urllib.request.Request(base + "/save", data=body, headers={"X-Talkface-Token": key})
    assert urllib.request.urlopen(req, timeout=30).status == 200
    t.join(10)
    assert res["r"]["start"] == "template" and len(read_landmarks_json(tmp_path / "f.json")) == 1


def test_edit_starts_from_a_landmarks_file(tmp_path, face_img):
    img = write_png(tmp_path / "face.png", face_img)
    lm = tmp_path / "in.json"
    pts = template_face((60, 140, 200, 200)).points
    lm.write_text(json.dumps({"width": 320, "height": 400, "faces": [{"points": pts.tolist()}]}))
    t, res, base, key, d = _edit_in_thread(img, tmp_path / "out.json", lm, "auto")
    assert d["start"] == "file" and np.allclose(d["points"], pts, atol=0.01)
    body = json.dumps({"points": d["points"], "finish": True}).encode()
    urllib.request.urlopen(urllib.request.Request(base + "/save", data=body, headers={"X-Talkface-Token": key}))
    t.join(10)
    assert res["r"]["moved"] == 0


@pytest.mark.parametrize("extra, needle", [
    ([], "-o FILE.json"),
    (["-o", "{d}/x.json", "--overlay", "{d}/x.png"], "--overlay"),
    (["-o", "{d}/x.txt"], ".json"),
    (["-o", "{d}/exists.json"], "--force"),
    (["-o", "{d}/x.json", "--landmarks", "{d}/missing.json"], "missing.json"),
    (["-o", "{d}/x.json", "--landmarks", "{d}/exists.json", "--template", "--box", "1,1,50,50"], "--template"),
    (["-o", "{d}/x.json", "--port", "70000"], "--port"),
])
def test_edit_usage_errors_exit_2_before_serving(tmp_path, face_img, extra, needle):
    img = write_png(tmp_path / "face.png", face_img)
    (tmp_path / "exists.json").write_text("{}")
    r = cli("landmarks", img, "--edit", *[a.format(d=tmp_path) for a in extra])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error:") and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.json").exists()


def test_edit_of_audio_exit_2(tmp_path):
    wav = write_wav(tmp_path / "s.wav", synth_speech(0.2))
    r = cli("landmarks", wav, "--edit", "-o", tmp_path / "x.json")
    assert r.exit_code == 2 and "audio" in r.stderr


def test_landmarks_from_a_file_draws_its_overlay(tmp_path, face_img):
    """``talkface landmarks IMAGE --landmarks FILE --overlay PNG``: the file's points, no detection."""
    img = write_png(tmp_path / "grey.png", np.full((400, 320, 3), 128, np.uint8))
    pts = template_face((60, 140, 200, 200)).points
    lm = tmp_path / "in.json"
    lm.write_text(json.dumps({"faces": [{"points": pts.tolist()}]}))
    r = cli("landmarks", img, "--landmarks", lm, "--overlay", tmp_path / "o.png", "-o", tmp_path / "o.json")
    assert r.exit_code == 0, r.output
    assert np.allclose(read_landmarks_json(tmp_path / "o.json")[0].points, pts, atol=0.006)
    assert (tmp_path / "o.png").stat().st_size > 0


def _start_cli(tmp_path, img, *extra):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen([sys.executable, "-m", "talkface", "landmarks", str(img), "--edit", "-o",
                          str(tmp_path / "face.json"), *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    line = p.stderr.readline()
    m = re.search(r"(http://127\.0\.0\.1:\d+)/\?t=(\S+)", line)
    if not m:
        p.kill()
        raise AssertionError(f"no address printed: {line!r} {p.communicate()}")
    return p, m.group(1), m.group(2)


@pytest.mark.slow
def test_cli_edit_save_and_finish(tmp_path, face_img):
    """The real command: prints the address, serves, exits 0 once the page saves and finishes."""
    img = write_png(tmp_path / "face.png", face_img)
    p, base, key = _start_cli(tmp_path, img, "--json", "--detector", "dlib")
    try:
        req = urllib.request.Request(base + "/points", headers={"X-Talkface-Token": key})
        d = json.loads(urllib.request.urlopen(req, timeout=30).read())
        assert d["start"] == "dlib"
        pts = np.array(d["points"]) + [0.0, 2.0]
        body = json.dumps({"points": pts.tolist(), "finish": True}).encode()
        req = urllib.request.Request(base + "/save", data=body, headers={"X-Talkface-Token": key})
        assert json.loads(urllib.request.urlopen(req, timeout=30).read())["finished"] is True
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 0, err
    res = json.loads(out)
    assert res["moved"] == 68 and res["output"] == str(tmp_path / "face.json")
    assert np.allclose(read_landmarks_json(tmp_path / "face.json")[0].points, pts, atol=0.006)


@pytest.mark.slow
def test_cli_edit_ctrl_c_exit_130_nothing_written(tmp_path, face_img):
    img = write_png(tmp_path / "face.png", face_img)
    p, base, key = _start_cli(tmp_path, img, "--template", "--box", "60,140,200,200")
    try:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        p.kill()
    assert p.returncode == 130, err
    assert "interrupted" in err
    assert sorted(x.name for x in tmp_path.iterdir()) == ["face.png"]  # no file, no temp file
