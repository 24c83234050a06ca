"""``train vgnet --video`` on footage with a face-like thing beside the person (issue 23):
a talkface-made video of the astronaut, where dlib (at -0.3) finds a second "face" on the
suit patch in every frame, is one person; a face that never changes is a picture, not a
second person, while a second face that moves still is."""
from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from clips import draw_talking_face, write_video
from helpers import ROOT
from talkface.cli import app
from talkface.train.person import footage as F

runner = CliRunner()


@pytest.fixture(scope="module")
def astronaut_video(tmp_path_factory):
    """``talkface generate examples/astronaut.png examples/speech.wav -o x.mp4``."""
    out = tmp_path_factory.mktemp("astro") / "x.mp4"
    r = runner.invoke(app, ["generate", str(ROOT / "examples" / "astronaut.png"),
                            str(ROOT / "examples" / "speech.wav"), "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    return out


def test_astronaut_video_is_one_person(astronaut_video):
    t = F.track(F.sources(astronaut_video))
    assert (t.checks[:, 1] >= 2).all()       # the patch is still found by dlib in every check ...
    assert (t.checks[:, 2] == 1).all()       # ... but it is a picture, not a second person
    segs = F.segments(t)
    assert len(segs) >= 2 and t.ok.all()
    F.check(t, segs, "x.mp4", 5)             # not refused
    c = np.nanmean(t.points, (0, 1))         # the astronaut's face is followed, not the patch
    assert 175 < c[0] < 266 and 76 < c[1] < 190


def test_astronaut_video_is_not_refused_as_several_people(tmp_path, astronaut_video, monkeypatch):
    monkeypatch.setenv("TALKFACE_HOME", str(tmp_path))
    r = runner.invoke(app, ["train", "vgnet", "--video", str(astronaut_video), "--name", "astro",
                            "--min-seconds", "600", "-q"])
    assert r.exit_code == 2, r.output
    assert "usable footage" in r.output and "two or more faces" not in r.output


def test_still_and_moving_second_faces(tmp_path):
    """A talking face beside a still drawing of one: one person; beside another talking
    face: two, refused."""
    def beside(other):
        return lambda i, level: np.concatenate([draw_talking_face(level),
                                                draw_talking_face(other(i), skin=(150, 110, 90))], 1)

    still = F.track(F.sources(write_video(tmp_path / "still.mp4", beside(lambda i: 0.0), 640, 400, 6.5)))
    assert (still.checks[:, 1] == 2).all() and (still.checks[:, 2] == 1).all()
    F.check(still, F.segments(still), "still.mp4", 0)

    moving = F.track(F.sources(write_video(tmp_path / "two.mp4", beside(lambda i: 0.5 + 0.5 * np.sin(i / 3)),
                                           640, 400, 3.0)))
    assert (moving.checks[:, 2] == 2).all()
    with pytest.raises(Exception, match="two or more faces"):
        F.check(moving, F.segments(moving), "two.mp4", 0)


def test_a_picture_is_a_face_that_never_changes():
    """Faces followed across checks: still only when none of its links changed; the first
    check of a picture counts it still too once the next check sees it unchanged."""
    rng = np.random.default_rng(0)
    pic = rng.uniform(0, 255, (F.THUMB, F.THUMB)).astype(np.float32)
    face = rng.uniform(0, 255, (F.THUMB, F.THUMB)).astype(np.float32)

    def check(*faces):
        return [F._Seen(box, thumb, tracked) for box, thumb, tracked in faces]

    a = check(((0, 0, 90, 90), face, True), ((200, 0, 90, 90), pic, False))
    b = check(((1, 0, 90, 90), face + rng.normal(0, 8, face.shape).astype(np.float32), True),
              ((200, 0, 90, 90), pic + 0.1, False))
    assert F._people(a) == 2
    F._link(a, b)
    assert F._people(a) == F._people(b) == 1
    assert not a[0].still and a[1].still and b[1].still
    c = check(((0, 0, 90, 90), face, True), ((202, 0, 90, 90), pic + 30 * (pic > 128), False))  # it moved once
    F._link(b, c)
    assert F._people(a) == F._people(b) == F._people(c) == 2 and not a[1].still
    d = check(((0, 0, 90, 90), face, True), ((600, 0, 90, 90), pic, False))  # elsewhere: a new face
    F._link(c, d)
    assert not d[1].still and d[1].chain is not c[1].chain and d[0].chain is c[0].chain
    assert F._people(check(((0, 0, 100, 100), None, True), ((0, 0, 40, 40), None, False))) == 1
