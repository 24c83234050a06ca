"""The training commands on a small folder of clips, through the CLI (issue 3):
data prepare -> train atnet -> train vgnet (and --resume) -> train export -> generate
with the exported weights -> evaluate. Tiny steps and batches: this is about the
commands working end to end, not about the quality of what they train."""
from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from clips import make_clips, write_corrupt
from helpers import ROOT, probe
from talkface.cli import app
from talkface.motion.articulation import out_of_sync

pytestmark = pytest.mark.slow
runner = CliRunner()
SHIPPED_MANIFEST = ROOT / "talkface" / "assets" / "weights" / "manifest.json"
ROW_KEYS = {"clip", "frames", "psnr", "psnr_rgb", "ssim", "lmd", "still_psnr", "still_lmd", "sync_error",
            "baseline_static", "baseline_loudness", "open_corr", "open_ratio", "width_corr", "width_ratio", "loud_corr",
            "av_offset", "offset_corr"}
MEAN_KEYS = ROW_KEYS - {"clip"} | {"open_corr_in_sync"}  # offsets are per clip: the mean row has them as None


def cli(*args):
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, (args, r.output, r.exception)
    return r


def digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("train")
    clips = d / "clips"
    make_clips(clips / "speakers", n=4, seconds=2.0)  # a sub-folder: prepare searches recursively
    write_corrupt(clips / "broken.mp4")
    return {"dir": d, "clips": clips, "data": d / "data", "atnet": d / "runs" / "atnet",
            "vgnet": d / "runs" / "vgnet", "weights": d / "weights", "shipped": digest(SHIPPED_MANIFEST)}


def log_rows(run):
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_data_prepare_and_resume(work):
    r = cli("data", "prepare", work["clips"], work["data"], "-q")  # cli(): exit code 0 or the test fails
    assert "4 prepared, 0 already done, 1 skipped" in r.output, r.output
    items = sorted(p.name for p in work["data"].iterdir() if p.is_dir())
    assert items == [f"speakers__speaker{i}" for i in range(4)]
    for it in items:
        m = np.load(work["data"] / it / "meta.npz")
        frames = np.load(work["data"] / it / "frames.npy", mmap_mode="r")
        assert frames.shape == (50, 128, 128, 3) and frames.dtype == np.uint8
        assert m["points"].shape == (50, 68, 2) and m["wav"].size == 32000 and int(m["size"]) == 128
    rep = json.loads((work["data"] / "report.json").read_text())
    assert rep["prepared"] == 4 and rep["already_done"] == 0
    assert [s["clip"] for s in rep["skipped"]] == [str(work["clips"] / "broken.mp4")]
    assert rep["skipped"][0]["error"]
    # a second run skips the finished items and still lists the corrupt clip
    r = cli("data", "prepare", work["clips"], work["data"], "-q")
    assert "0 prepared, 4 already done, 1 skipped" in r.output
    rep = json.loads((work["data"] / "report.json").read_text())
    assert rep["prepared"] == 0 and rep["already_done"] == 4 and len(rep["skipped"]) == 1


def test_train_atnet_and_resume(work):
    run = work["atnet"]
    cli("train", "atnet", work["data"], "--out", run, "--steps", 3, "--batch", 4, "--holdout", 1,
        "--device", "cpu", "--config", "small", "-q")
    assert (run / "last.pt").exists() and (run / "best.pt").exists()
    rows = log_rows(run)
    data = next(r for r in rows if r.get("event") == "data")
    assert data["train"] == 3 and data["heldout"] == 1
    val = [r for r in rows if r.get("event") == "val"]
    assert val[-1]["step"] == 3 and np.isfinite(val[-1]["heldout_atnet"])
    cli("train", "atnet", work["data"], "--out", run, "--steps", 5, "--batch", 4, "--holdout", 1,
        "--device", "cpu", "--config", "small", "--resume", "-q")
    rows = log_rows(run)
    assert any(r.get("event") == "resume" and r["step"] == 3 for r in rows)
    assert [r for r in rows if r.get("event") == "val"][-1]["step"] == 5


def test_train_mouthnet_resume_export_generate(work, tmp_path):
    """The default AT-net (phones + energy): trains, resumes, exports to the user folder with
    its calibrated gain, and drives generate."""
    run = work["dir"] / "runs" / "mouth"
    cli("train", "atnet", work["data"], "--out", run, "--steps", 3, "--batch", 4, "--holdout", 1, "-q")
    rows = log_rows(run)
    assert next(r for r in rows if r.get("event") == "data")["train"] == 3
    val = [r for r in rows if r.get("event") == "val"]
    assert val[-1]["step"] == 3 and np.isfinite(val[-1]["heldout_corr"])
    assert any(r.get("event") == "gain" for r in rows)
    cli("train", "atnet", work["data"], "--out", run, "--steps", 5, "--batch", 4, "--holdout", 1, "--resume", "-q")
    rows = log_rows(run)
    assert any(r.get("event") == "resume" and r["step"] == 3 for r in rows)
    cli("train", "export", run, "--name", "tinymouth")
    from talkface import weights as W

    e = W.locate("tinymouth").entry
    assert e["files"]["atnet"]["arch"] == "mouthnet" and "vgnet" not in e["files"]
    clip = sorted(work["clips"].glob("speakers/*.mp4"))[0]
    out = tmp_path / "m.mp4"
    cli("generate", _first_png(clip, tmp_path), clip, "-o", out, "--weights", "tinymouth", "-q")
    assert out.stat().st_size > 1000


def test_mouthnet_runs_export_as_one_ensemble(work, tmp_path):
    """A second MouthNet run of the same data (its speaker's onsets free) exports with the
    first as one ensemble: both networks in one file, the motion their mean, the gain the
    geometric mean of theirs (or the one given); runs of another layout are refused."""
    from talkface import weights as W
    from talkface.motion.mouthnet import NumpyMouthNet
    from talkface.train.common import load_checkpoint

    a, b = work["dir"] / "runs" / "mouth", work["dir"] / "runs" / "mouth2"
    if not (a / "best.pt").exists():
        cli("train", "atnet", work["data"], "--out", a, "--steps", 3, "--batch", 4, "--holdout", 1, "-q")
    cli("train", "atnet", work["data"], "--out", b, "--steps", 3, "--batch", 4, "--holdout", 1,
        "--free-onsets", work["data"].name, "-q")
    assert next(r for r in log_rows(b) if r.get("event") == "free_onsets")["clips"] == 4
    cli("train", "export", a, "--also", b, "--name", "tinyens")
    w = W.load("tinyens").atnet
    assert len(w.members) == 2 and W.locate("tinyens").entry["files"]["atnet"]["config"]["members"] == 2
    cks = [load_checkpoint(r, "best.pt") for r in (a, b)]
    nets = [NumpyMouthNet.from_state_dict(c["model"], w.members[0].cfg) for c in cks]
    x = np.random.default_rng(0).standard_normal((60, w.cfg.n_in)).astype(np.float32)
    np.testing.assert_allclose(w(x), (nets[0](x) + nets[1](x)) / 2, atol=1e-6)
    assert w.gain == pytest.approx(np.sqrt(float(cks[0]["gain"]) * float(cks[1]["gain"])), rel=1e-5)
    cli("train", "export", a, "--also", b, "--name", "tinyens2", "--gain", 1.25)
    assert W.load("tinyens2").atnet.gain == pytest.approx(1.25)
    r = runner.invoke(app, ["train", "export", str(a), "--also", str(work["atnet"]), "--name", "tinyens3"])
    assert r.exit_code == 2 and "MouthNet" in r.output  # the MFCC AT-net's run: one line, nothing written
    assert not (W.weights_dir() / "tinyens3-atnet.safetensors").exists()


def _first_png(clip, tmp_path):
    import cv2

    from talkface.video.writer import read_frames

    frame = next(iter(read_frames(clip)))
    png = tmp_path / "first.png"
    cv2.imwrite(str(png), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return png


def test_train_vgnet_and_resume(work):
    run = work["vgnet"]
    cli("train", "vgnet", work["data"], "--out", run, "--steps", 1, "--batch", 1, "--holdout", 1,
        "--device", "cpu", "-q")
    assert (run / "last.pt").exists() and (run / "best.pt").exists()
    # the resumed run skips the held-out validation (VG-net inference is the slow part on CPU)
    cli("train", "vgnet", work["data"], "--out", run, "--steps", 2, "--batch", 1, "--holdout", 0,
        "--device", "cpu", "--resume", "-q")
    rows = log_rows(run)
    assert any(r.get("event") == "resume" and r["step"] == 1 for r in rows)
    val = [r for r in rows if r.get("event") == "val"]
    assert [r["step"] for r in val] == [1, 2] and np.isfinite(val[0]["heldout_psnr"])
    import torch

    assert torch.load(run / "last.pt", map_location="cpu", weights_only=False)["step"] == 2


def test_train_vgnet_on_predicted_landmarks(work, tmp_path):
    """--predicted: windows driven by the default AT-net's landmarks (the example's closed
    mouth + the motion predicted from the clip's speech); the validation reports the
    renderer so driven next to the still frame."""
    import torch

    from talkface import weights as W
    from talkface.motion.mouthnet import close_mouth
    from talkface.train.vgnet_data import VGData

    items = sorted(p for p in work["data"].iterdir() if p.is_dir())
    w = W.load("default", "cpu", need_vgnet=False)
    data = VGData(items[:2], (w.atnet, w.atnet.basis, w.atnet.gain))
    x, lm, e, el, li = data.sample(np.random.default_rng(0), 2, 4, predicted=1.0)
    assert li.shape == lm.shape == (2, 4, 136) and not torch.equal(li, lm)
    k = [i for i, (_, norm, _) in enumerate(data.items) if any(np.array_equal(norm[r], el[0].numpy())
                                                               for r in range(len(norm)))][0]
    start = [s for s in range(len(data.motion[k]) - 3)
             if np.allclose(data.items[k][1][s:s + 4], lm[0].numpy())][0]
    want = close_mouth(el[0].numpy(), data.basis)[None] + data.motion[k][start:start + 4]
    np.testing.assert_allclose(li[0].numpy(), want, atol=1e-5)
    run = tmp_path / "pred"
    cli("train", "vgnet", work["data"], "--out", run, "--steps", 1, "--batch", 1, "--holdout", 1,
        "--device", "cpu", "--predicted", "0.5", "-q")
    val = [r for r in log_rows(run) if r.get("event") == "val"]
    assert np.isfinite(val[0]["heldout_pred_psnr"]) and np.isfinite(val[0]["heldout_still_psnr"])
    r = runner.invoke(app, ["train", "vgnet", str(work["data"]), "--out", str(run), "--predicted", "2"])
    assert r.exit_code == 2 and "--predicted 2" in r.stderr


def test_export_into_other_weights_dir(work, monkeypatch):
    d = work["weights"]
    d.mkdir()
    shutil.copy(SHIPPED_MANIFEST, d / "manifest.json")  # an existing registry to add to
    before = json.loads((d / "manifest.json").read_text())
    monkeypatch.setenv("TALKFACE_WEIGHTS", str(d))
    cli("train", "export", work["atnet"], "--vgnet", work["vgnet"], "--name", "tiny")
    m = json.loads((d / "manifest.json").read_text())
    assert m["default"] == before["default"]  # not made the default without --default
    assert [e["name"] for e in m["weights"]] == [e["name"] for e in before["weights"]] + ["tiny"]
    tiny = m["weights"][-1]
    assert set(tiny["files"]) == {"atnet", "vgnet"} and tiny["pipeline"]["zoom"] == 0.85
    r = runner.invoke(app, ["weights", "verify", "tiny", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["ok"]
    assert digest(SHIPPED_MANIFEST) == work["shipped"]  # the shipped registry is untouched


def test_export_lands_in_talkface_home(work, tmp_path, monkeypatch):
    """Without TALKFACE_WEIGHTS an export goes to the per-user folder, never the package;
    a shipped set's name is refused before anything is written; --default wins over the
    shipped default; --weights finds both."""
    from talkface import weights as W

    monkeypatch.delenv("TALKFACE_WEIGHTS", raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("TALKFACE_HOME", str(home))
    shipped = json.loads(SHIPPED_MANIFEST.read_text())["default"]
    r = runner.invoke(app, ["train", "export", str(work["atnet"]), "--name", shipped])
    assert r.exit_code == 2 and "choose another --name" in r.stderr, r.output
    assert not home.exists()
    r = cli("train", "export", work["atnet"], "--vgnet", work["vgnet"], "--name", "mine", "--default")
    assert str(home / "weights") in r.stdout
    assert sorted(p.name for p in (home / "weights").iterdir()) == [
        "manifest.json", "mine-atnet.safetensors", "mine-vgnet.safetensors"]
    assert digest(SHIPPED_MANIFEST) == work["shipped"]
    rows = {w["name"]: w for w in json.loads(cli("weights", "list", "--json").stdout)["weights"]}
    assert (rows["mine"]["where"], rows["mine"]["default"], rows["mine"]["ok"]) == ("user", True, True)
    assert (rows[shipped]["where"], rows[shipped]["default"]) == ("shipped", False)
    assert W.locate("default").name == "mine" and W.locate(shipped).folder.origin == "shipped"


def test_generate_with_exported_weights(work, monkeypatch):
    monkeypatch.setenv("TALKFACE_WEIGHTS", str(work["weights"]))
    clip = work["clips"] / "speakers" / "speaker0.mp4"
    portrait = work["dir"] / "portrait.png"
    import cv2

    from talkface.video.writer import read_frames

    cv2.imwrite(str(portrait), cv2.cvtColor(next(read_frames(clip)), cv2.COLOR_RGB2BGR))
    out = work["dir"] / "tiny.mp4"
    r = cli("generate", portrait, clip, "-o", out, "--weights", "tiny", "--renderer", "neural", "--json")
    res = json.loads(r.stdout)
    assert res["weights"] == "tiny" and res["renderer"] == "neural" and res["frames"] == 50
    info = probe(out)
    assert "Video: h264" in info and "Audio: aac" in info


def test_evaluate_with_exported_weights(work, monkeypatch):
    monkeypatch.setenv("TALKFACE_WEIGHTS", str(work["weights"]))
    r = cli("evaluate", work["clips"], "--weights", "tiny", "--renderer", "neural", "--json", "--limit", 2)
    res = json.loads(r.stdout)
    assert set(res) == {"clips", "mean", "failed"}
    # sorted by path: broken.mp4 first, then the first speaker
    assert [f["clip"] for f in res["failed"]] == ["broken.mp4"]
    assert [c["clip"] for c in res["clips"]] == ["speakers/speaker0.mp4"]
    for row in res["clips"]:
        assert set(row) == ROW_KEYS and row["frames"] == 49
        # lmd is null when dlib finds no face in any generated frame (VG-net after 2 steps draws a blur)
        assert row["lmd"] is None or row["lmd"] >= 0, json.dumps(row)
        floats = ROW_KEYS - {"clip", "frames", "lmd", "still_lmd", "av_offset"}
        assert all(isinstance(row[k], float) and np.isfinite(row[k]) for k in floats), json.dumps(row)
        assert isinstance(row["av_offset"], int) and abs(row["av_offset"]) <= 25
    assert set(res["mean"]) == MEAN_KEYS
    one = res["clips"][0]
    assert res["mean"] == {**{k: v for k, v in one.items() if k != "clip"}, "av_offset": None, "offset_corr": None,
                           "open_corr_in_sync": None if out_of_sync(one) else one["open_corr"]}
