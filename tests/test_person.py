"""A renderer for one person (issue 16): ``talkface train vgnet --video`` prepares a video
of one talking person, fine-tunes the shipped VG-net on it, registers weights that
``generate --weights NAME --renderer auto`` renders with VG-net; and refuses videos with
no face, two people or too little footage. The test person is a drawn face dlib finds
(tests/clips.py); a few steps of training, a lowered --min-seconds: this is about the
command working end to end, not about what it learns."""
from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from clips import draw_talking_face, write_corrupt, write_video
from helpers import SHARED, synth_speech, write_png, write_wav
from talkface.cli import app
from talkface.train import person as P

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """An empty TALKFACE_HOME (weights and runs) for this module, the shipped weights as base."""
    d = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TALKFACE_HOME", str(d))
        mp.delenv("TALKFACE_WEIGHTS", raising=False)
        yield d


@pytest.fixture(autouse=True)
def small_validation(monkeypatch):
    """Two validation windows instead of 16 (VG-net inference is the slow part on CPU)."""
    from talkface.train import vgnet

    monkeypatch.setattr(vgnet, "validate", functools.partial(vgnet.validate, n=2))


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    from talkface.video.writer import read_frames

    def face(i, level):
        return draw_talking_face(level)

    def two(i, level):  # two people side by side, both talking (a face that never moves is a picture)
        other = 0.5 + 0.5 * np.sin(i / 3)
        return np.concatenate([draw_talking_face(level), draw_talking_face(other, skin=(150, 110, 90))], 1)

    def plain(i, level):
        return np.full((240, 320, 3), (90, 140, 60), np.uint8)

    d = tmp_path_factory.mktemp("videos")
    one = write_video(d / "one.mp4", face, 320, 400, seconds=5.0)

    return {"one": one, "two": write_video(d / "two.mp4", two, 640, 400, seconds=3.0, seed=1),
            "plain": write_video(d / "plain.mp4", plain, 320, 240, seconds=3.0, seed=2),
            "photo": write_png(d / "photo.png", next(iter(read_frames(one)))),
            "speech": write_wav(d / "speech.wav", synth_speech(0.4)), "dir": d}


def train_me(videos, *more):
    return cli("train", "vgnet", "--video", videos["one"], "--name", "me", "--min-seconds", 2, "--batch", 1,
               "--device", "cpu", "--json", "-q", *more)


@pytest.mark.slow
def test_person_weights_end_to_end(home, videos):
    r = train_me(videos, "--steps", 1)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["segments"] == {"train": 1, "val": 1} and out["seconds"] == 5.0 and out["step"] == 1
    assert out["run"] == str(home / "runs" / "me") and out["weights_dir"] == str(home / "weights")
    assert np.isfinite(out["validation"]["val"]["psnr"])
    run = home / "runs" / "me"
    assert [p.name for p in (run / "data" / "train").iterdir()] == ["0000-0000"]
    assert [p.name for p in (run / "data" / "val").iterdir()] == ["0000-0001"]
    m = json.loads((home / "weights" / "manifest.json").read_text())
    e = next(e for e in m["weights"] if e["name"] == "me")
    assert e["pipeline"]["identity"] == "me" and e["pipeline"]["vgnet_identities"] == "one"
    assert e["files"]["atnet"]["arch"] == "mouthnet" and e["person"]["base"] == "talkface-open"
    assert e["validation"]["vgnet_step"] == 1 and m["default"] is None  # not the default unless --default
    assert cli("weights", "verify", "me").exit_code == 0
    # the fine-tuned VG-net renders a photo of the person under --renderer auto
    g = cli("generate", videos["photo"], videos["speech"], "-o", videos["dir"] / "out.mp4", "--weights", "me",
            "--json", "-q")
    assert g.exit_code == 0, g.output
    assert json.loads(g.stdout)["renderer"] == "neural"
    # the same command again: the weights exist
    again = train_me(videos, "--steps", 1)
    assert again.exit_code == 2 and "--force" in again.output and "exist" in again.output


@pytest.mark.slow
def test_resume_continues_from_the_checkpoint(home, videos):
    if not (home / "runs" / "me" / "vgnet" / "last.pt").exists():
        assert train_me(videos, "--steps", 1).exit_code == 0
    r = train_me(videos, "--steps", 2, "--resume")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["step"] == 2
    rows = [json.loads(x) for x in (home / "runs" / "me" / "vgnet" / "log.jsonl").read_text().splitlines()]
    assert any(x.get("event") == "resume" and x["step"] == 1 for x in rows)
    e = next(e for e in json.loads((home / "weights" / "manifest.json").read_text())["weights"] if e["name"] == "me")
    assert e["validation"]["vgnet_step"] == 2
    # removing the set (and its run) leaves the rest verifying; --weights me is then unknown
    rm = cli("weights", "remove", "me", "--run")
    assert rm.exit_code == 0, rm.output
    assert not (home / "runs" / "me").exists() and not list((home / "weights").glob("me-*"))
    assert cli("weights", "verify").exit_code == 0
    assert cli("generate", videos["photo"], videos["speech"], "--weights", "me", "-q").exit_code == 4


def test_interrupts_leave_nothing_half_written(home, videos):
    """Ctrl-C while cutting pieces, then while training: no temp file anywhere, no weights;
    the pieces written before are kept and a rerun continues with them."""
    def stop_at(where):
        def progress(stage, fraction, text):
            if stage == where and fraction > 0:
                raise KeyboardInterrupt
        return progress

    go = functools.partial(P.train_person, videos["one"], "me-int", minutes=None, steps=1, min_seconds=2, batch=1,
                           device="cpu", gain=False)
    with pytest.raises(KeyboardInterrupt):
        go(progress=stop_at("items"))
    run = home / "runs" / "me-int"
    assert (run / "run.json").exists() and (run / "track.npz").exists()
    assert [p.name for p in (run / "data" / "train").iterdir()] == ["0000-0000"] and not (run / "data" / "val").exists()
    with pytest.raises(KeyboardInterrupt):
        go(progress=stop_at("train"))
    assert (run / "data" / "val" / "0000-0001" / "frames.npy").exists()
    assert not list(home.rglob("*.tmp*")) and not list((run / "vgnet").glob("*.pt"))
    manifest = home / "weights" / "manifest.json"
    assert not manifest.exists() or '"me-int"' not in manifest.read_text()


@pytest.mark.parametrize("kind,code,words", [
    ("plain", 3, "no face found"),
    ("two", 2, "two or more faces"),
    ("one", 2, "60 s needed"),        # 5 s of footage, the default --min-seconds
    ("broken", 2, "not readable as video"),
])
def test_refused_videos(home, videos, kind, code, words):
    video = write_corrupt(videos["dir"] / "broken.mp4") if kind == "broken" else videos[kind]
    r = cli("train", "vgnet", "--video", video, "--name", f"refused-{kind}", "--steps", 1, "-q")
    assert r.exit_code == code, r.output
    line = r.output.strip()
    assert line.startswith("error: ") and words in line and "\n" not in line and "Traceback" not in line
    assert not (home / "runs" / f"refused-{kind}").exists()  # nothing written


def test_usage_errors(home, videos, tmp_path):
    assert "DATA_DIR" in cli("train", "vgnet").output
    assert cli("train", "vgnet", tmp_path, "--video", videos["one"], "--name", "x").exit_code == 2
    assert "--name" in cli("train", "vgnet", "--video", videos["one"]).output
    r = cli("train", "vgnet", "--video", videos["one"], "--name", "talkface-open")
    assert r.exit_code == 2 and "ships weights of that name" in r.output
    assert cli("train", "vgnet", "--video", videos["one"], "--name", "x", "--recipe", "best").exit_code == 2
    assert "goes with a DATA_DIR" in cli("train", "vgnet", "--video", videos["one"], "--name", "x", "--config",
                                         "maps").output
    r = cli("train", "vgnet", "--video", videos["one"], "--name", "never-run", "--resume", "--min-seconds", 2)
    assert r.exit_code == 2 and "no run of never-run to resume" in r.output
    assert cli("weights", "remove", "talkface-open").exit_code == 2


def test_moving_head_is_aligned_per_frame(tmp_path):
    """A head that moves across the frame and turns a little: the crops follow it (the
    drawn eyes, whose place in every frame is known, stay put in the crop) without the
    frame-to-frame jitter of the landmarks (the alignment is smoothed over time)."""
    import cv2

    def placed(i):  # face drawing -> frame i
        m = cv2.getRotationMatrix2D((160, 200), 6 * np.sin(i / 9), 1.0)
        m[:, 2] += (100 + 90 * np.sin(i / 11), 30 + 25 * np.cos(i / 13))
        return m

    def frame(i, level):
        img = np.full((460, 520, 3), (90, 120, 160), np.uint8)
        return cv2.warpAffine(draw_talking_face(level), placed(i), (520, 460), dst=img,
                              borderMode=cv2.BORDER_TRANSPARENT)

    video = write_video(tmp_path / "moving.mp4", frame, 520, 460, seconds=3.0)
    paths = P.sources(video)
    t = P.track(paths)
    segs = P.segments(t)
    assert len(segs) == 1 and t.ok.all()
    P.write_items(paths, t, [], segs, tmp_path / "data")
    item = tmp_path / "data" / "val" / segs[0].name
    m, frames = np.load(item / "meta.npz"), np.load(item / "frames.npy")
    assert frames.shape == (75, 128, 128, 3) and m["wav"].size == 75 * 640 and m["points"].shape == (75, 68, 2)
    eyes = np.array([[120.0, 180.0, 1.0], [200.0, 180.0, 1.0]])  # the drawn eyes' centres
    src = np.stack([(placed(i) @ eyes.T).T.mean(0) for i in range(75)])
    crop = np.stack([m["matrix"][i] @ np.r_[src[i], 1.0] for i in range(75)])
    assert np.ptp(src, 0).max() > 100                                 # the head moved 100+ px ...
    assert np.ptp(crop, 0).max() < 8                                  # ... the crop follows it
    assert np.abs(np.diff(crop, axis=0)).mean() < 0.3                 # and does not shake


def test_segments_keep_only_one_tracked_face():
    """A segment is used when every check of it (and the next one) saw exactly one face
    and the points were tracked in every frame."""
    n = 5 * 75
    checks = np.array([(f, 1, 1) for f in range(0, n, 25)])
    checks[4] = (100, 0, 0)          # segment 1 (75-149): no face at 100
    checks[9] = (225, 2, 2)          # segment 3 (225-299): two people; also ends segment 2 (150-224)
    ok = np.ones(n, bool)
    ok[320] = False                  # segment 4 (300-374): a frame lost
    t = P.Track(np.zeros((n, 68, 2), np.float32), ok, checks, [(0, n)])
    assert [s.index for s in P.segments(t)] == [0]
    with pytest.raises(Exception, match="needed"):
        P.check(t, P.segments(t), "v.mp4", 2)
    with pytest.raises(Exception, match="two or more"):
        P.check(P.Track(t.points, ok, np.array([(0, 2, 2), (25, 1, 1), (50, 2, 2)]), [(0, n)]), [], "v.mp4", 0)


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "data" / "grid" / "s1").is_dir(), reason="needs ../shared/data/grid/s1")
def test_folder_of_grid_clips(home, tmp_path):
    """--video also takes a folder of one person's clips (here 4 GRID clips of s1)."""
    import shutil

    clips = sorted((SHARED / "data" / "grid" / "s1").glob("*.mp4"))[:4]
    for c in clips:
        shutil.copy(c, tmp_path / c.name)
    r = cli("train", "vgnet", "--video", tmp_path, "--name", "s1-test", "--min-seconds", 10, "--steps", 1,
            "--batch", 1, "--device", "cpu", "--json", "-q")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["segments"] == {"train": 3, "val": 1} and out["seconds"] == 12.0
    assert cli("weights", "remove", "s1-test", "--run").exit_code == 0
