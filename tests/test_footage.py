"""Preparing footage of many speakers for MouthNet (``talkface data prepare --footage``,
talkface/train/speakers.py): head pose taken out, bad frames rejected, each clip's
audio/video offset found and corrected, per-speaker norms; and speaker-balanced training."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from talkface.face.pose import TEMPLATE_3D, fit_pose, frontalise
from talkface.train import speakers as S


def _rotation(yaw, pitch, roll):
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


def _speaking_face(opening):
    x = TEMPLATE_3D.copy()
    x[[61, 62, 63], 1] -= opening / 2
    x[[65, 66, 67], 1] += opening / 2
    return x


@pytest.mark.parametrize("angles", [(0, 0, 0), (30, 0, 0), (0, 20, 0), (-25, -15, 10)])
def test_frontalise_takes_the_head_pose_out(angles):
    face = _speaking_face(0.1)
    seen = 90.0 * face @ _rotation(*angles)[:2].T + [210, 160]
    pose = fit_pose(seen)
    assert pose.residual < 1e-6
    np.testing.assert_allclose(frontalise(seen, pose), face[:, :2], atol=1e-6)
    # the mouth opening read off the frontal points is the true one whatever the pose
    from talkface.motion.articulation import inner_lip_opening

    assert inner_lip_opening(frontalise(seen)) == pytest.approx(inner_lip_opening(face[:, :2]), abs=1e-6)
    assert abs(pose.angles[0]) == pytest.approx(abs(angles[0]), abs=5) if angles[1:] == (0, 0) else True


def test_bad_frames_are_rejected():
    face = 90.0 * TEMPLATE_3D[:, :2] + [200, 150]
    assert S.frame_ok(face)
    assert not S.frame_ok(face / 10)  # too small to read a mouth
    turned = 90.0 * TEMPLATE_3D @ _rotation(60, 0, 0)[:2].T + [200, 150]
    assert not S.frame_ok(turned)
    broken = face.copy()
    broken[27:36] += np.random.default_rng(0).normal(0, 30, (9, 2))  # not a face
    assert not S.frame_ok(broken)
    pts = np.stack([face] * 10)
    pts[5, 17:27, 1] -= 20  # the track slips for one frame: the brows jump
    _, valid = S.frontal_track(pts, np.ones(10, bool))
    assert not valid[4:7].any() and valid[:4].all() and valid[7:].all()


def test_sync_offset_is_found_and_unmatched_clips_dropped():
    rng = np.random.default_rng(1)
    real = np.convolve(rng.normal(size=200), np.ones(4) / 4, "same")
    late = np.r_[np.zeros(7), real[:-7]]  # made from a sound 7 frames behind the picture
    s = S.sync_offset(late, real, np.ones(200, bool))
    assert s["decision"] == "shift" and s["offset"] == 7
    assert S.sync_offset(real, real, np.ones(200, bool))["decision"] == "keep"
    assert S.sync_offset(rng.normal(size=200), real, np.ones(200, bool))["decision"] == "drop"
    # the correction: sound 7 frames late moved 7 frames earlier lines up with the picture
    wav = np.repeat(late, 640).astype(np.float32)
    np.testing.assert_allclose(S.shift_audio(wav, 7)[: 193 * 640], np.repeat(real[:193], 640), rtol=1e-6)
    rows = np.arange(10)[:, None] * np.ones((1, 3))
    np.testing.assert_array_equal(S.shift_rows(rows, 3, -1)[:, 0], [3, 4, 5, 6, 7, 8, 9, -1, -1, -1])
    np.testing.assert_array_equal(S.shift_rows(rows, -2, -1)[:, 0], [-1, -1, 0, 1, 2, 3, 4, 5, 6, 7])


class _LoudnessSync:
    """The tests' clips open the mouth with the loudness: that is their sync model."""

    def opening(self, feats):
        return feats[:, 40]


def _delay_audio(src, dst, seconds):
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(src),
                    "-c:v", "copy", "-af", f"adelay={int(seconds * 1000)}:all=1", "-c:a", "aac", str(dst)], check=True)


@pytest.mark.slow
def test_prepare_footage_folder(tmp_path, monkeypatch):
    from clips import make_clips, write_corrupt

    src = tmp_path / "footage"
    make_clips(src / "ann", n=2, seconds=3.0)
    made = make_clips(tmp_path / "raw", n=3, seconds=3.0)[2]
    (src / "bob").mkdir()
    _delay_audio(made, src / "bob" / "late.mp4", 0.24)  # sound 6 frames behind the picture
    write_corrupt(src / "bob" / "broken.mp4")
    (src / "manifest.tsv").write_text("file\tspeaker\nann/speaker0.mp4\tann_x\n")  # the manifest wins
    monkeypatch.setattr(S, "SyncModel", _LoudnessSync)
    monkeypatch.setattr(S, "_SYNC", [])
    out = tmp_path / "data"
    rep = S.prepare_footage(src, out)
    assert rep["prepared"] == 3 and [s["clip"] for s in rep["skipped"]] == [str(src / "bob" / "broken.mp4")]
    kept = {k["clip"].split("footage/")[1]: k for k in rep["kept"]}
    assert kept["bob/late.mp4"]["av_offset"] == pytest.approx(6, abs=1)
    assert abs(kept["ann/speaker1.mp4"]["av_offset"]) <= 1
    m = np.load(out / "bob__late" / "meta.npz")
    assert str(m["speaker"]) == "bob" and m["valid"].mean() > 0.9 and bool(m["frontal"])
    assert np.load(out / "bob__late" / "phones.npy").shape[0] == len(m["points"])
    norms = json.loads((out / "speakers.json").read_text())
    assert set(norms) == {"ann_x", "ann", "bob"} and len(norms["bob"]["neutral"]) == 136
    # resumable: a second run prepares nothing again
    rep = S.prepare_footage(src, out)
    assert rep["prepared"] == 0 and rep["already_done"] == 3 and len(rep["kept"]) == 3
    # train atnet on it beside a GRID-style folder, one speaker left out as a fold
    from typer.testing import CliRunner

    from talkface.cli import app

    grid = tmp_path / "grid"
    from talkface.train.data import prepare

    prepare(src / "ann", grid)
    run = tmp_path / "run"
    r = CliRunner().invoke(app, ["train", "atnet", str(grid), str(out), "--out", str(run), "--steps", "3",
                                 "--batch", "4", "--holdout", "0", "--holdout-speakers", "bob", "-q"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    spk = next(x for x in rows if x.get("event") == "speakers")
    assert spk["held_out"] == ["bob"] and spk["train"] == 3  # ann_x, ann (footage) and the folder "grid"
    final = next(x for x in rows if x.get("event") == "final")
    assert np.isfinite(final["speakers_out_corr"]) and np.isfinite(final["speakers_out_loud"])


def test_speaker_balanced_sampling():
    from talkface.train.mouthnet import sampling_weights

    class It:
        def __init__(self, speaker, n):
            self.speaker, self.n = speaker, n

    items = [It("s1", 75)] * 1000 + [It("a", 600), It("a", 200)] + [It(f"x{k}", 1000) for k in range(9)]
    w = sampling_weights(items)
    share = lambda spk: w[[i for i, it in enumerate(items) if it.speaker == spk]].sum()  # noqa: E731
    assert share("s1") < 0.5  # 88 % of the frames, under half of the draws
    assert share("a") == pytest.approx(share("s1") * np.sqrt(800 / 75000), rel=1e-6)
    assert w[1000] == pytest.approx(3 * w[1001])  # within a speaker, by length
