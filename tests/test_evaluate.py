"""``talkface evaluate``: the metrics, the JSON schema, failures, the CLI, and (when
../shared is there) one real GRID clip."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from clips import to_mpg, write_clip, write_corrupt, write_faceless
from helpers import SHARED
from talkface.cli import app
from talkface.commands import evaluate as E
from talkface.commands import evaluate_metrics as M

runner = CliRunner()
ROW_KEYS = {"clip", "frames", "psnr", "psnr_rgb", "ssim", "lmd", "still_psnr", "still_lmd", "sync_error",
            "baseline_static", "baseline_loudness", "open_corr", "open_ratio", "width_corr", "width_ratio", "loud_corr",
            "av_offset", "offset_corr"}
MEAN_KEYS = ROW_KEYS - {"clip"} | {"open_corr_in_sync"}  # offsets are per clip: the mean row has them as None


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


# ----------------------------------------------------------------------------- metrics
def test_psnr_is_computed_in_float():
    a = np.zeros((8, 8), np.uint8)
    b = np.full((8, 8), 255, np.uint8)
    assert M.psnr(a, b) == pytest.approx(0.0)  # uint8 arithmetic would wrap to MSE 1 (48 dB)
    assert M.psnr(a, a) == 100.0
    c = a.copy()
    c[0, 0] = 16  # MSE = 256 / 64 = 4
    assert M.psnr(a, c) == pytest.approx(20 * np.log10(255 / 2))


def test_image_metrics_on_256_px_crops():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    assert M.image_metrics(real, real) == (100.0, 100.0, pytest.approx(1.0))
    fake = np.clip(real.astype(int) + rng.integers(-20, 21, real.shape), 0, 255).astype(np.uint8)
    grey, rgb, ssim = M.image_metrics(real, fake)
    import cv2

    r, f = (cv2.resize(x, (256, 256), interpolation=cv2.INTER_AREA) for x in (real, fake))
    assert rgb == pytest.approx(M.psnr(r, f))
    assert grey == pytest.approx(M.psnr(cv2.cvtColor(r, cv2.COLOR_RGB2GRAY), cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)))
    assert ssim == pytest.approx(structural_similarity(f, r, channel_axis=2, data_range=255))
    assert 0 < ssim < 1 and grey > rgb - 5


def test_mouth_distance_is_a_centred_per_point_mean():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 128, (68, 2))
    b = a + [5.0, -3.0]  # translation only: centring removes it
    assert M.mouth_distance(a, b) == pytest.approx(0.0, abs=1e-9)
    c = a.copy()
    c[48:68] = a[48:68].mean(0) + 1.5 * (a[48:68] - a[48:68].mean(0))  # mouth scaled about its centroid
    want = 0.5 * np.linalg.norm(a[48:68] - a[48:68].mean(0), axis=1).mean()
    assert M.mouth_distance(a, c) == pytest.approx(want)
    d = a.copy()
    d[:48] += 50  # points outside the mouth do not count
    assert M.mouth_distance(a, d) == pytest.approx(0.0, abs=1e-9)


# ----------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("eval")
    mp4 = write_clip(d / "a_speaker.mp4", seconds=1.0, seed=5, style=1)
    (d / "grid" / "s9").mkdir(parents=True)
    to_mpg(mp4, d / "grid" / "s9" / "b_grid.mpg")  # GRID's container, MP2 audio, in a sub-folder
    write_corrupt(d / "c_broken.mp4")
    write_faceless(d / "d_noface.mp4")
    return d


@pytest.fixture(scope="module")
def result(clip_dir, assets):
    import os

    old = os.environ.get("TALKFACE_WEIGHTS")
    os.environ["TALKFACE_WEIGHTS"] = str(assets["weights"])
    try:
        r = cli("evaluate", clip_dir, "--json", "--renderer", "warp", "--save-videos", clip_dir.parent / "videos")
    finally:
        if old is None:
            os.environ.pop("TALKFACE_WEIGHTS")
        else:
            os.environ["TALKFACE_WEIGHTS"] = old
    return r, clip_dir.parent / "videos"


@pytest.mark.slow
def test_evaluate_json_schema(result):
    r, _ = result
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)  # stdout is the JSON object alone
    assert set(res) == {"clips", "mean", "failed"}
    assert [c["clip"] for c in res["clips"]] == ["a_speaker.mp4", "grid/s9/b_grid.mpg"]
    for row in res["clips"]:
        assert set(row) == ROW_KEYS
        assert row["frames"] == 24  # 25 frames, the first (the reference) left out
        assert 15 < row["psnr"] < 100 and 15 < row["psnr_rgb"] < 100 and 0.3 < row["ssim"] <= 1
        assert 0 <= row["lmd"] < 10 and 0 <= row["sync_error"] < 20 and 0 < row["baseline_static"] < 20
        assert row["still_psnr"] > 15 and (row["still_lmd"] is None or 0 <= row["still_lmd"] < 10)
        assert row["baseline_loudness"] is None  # these random weights store no loudness coefficients
    assert set(res["mean"]) == MEAN_KEYS
    for k in ("psnr", "ssim", "lmd", "sync_error"):
        assert res["mean"][k] == pytest.approx(np.mean([c[k] for c in res["clips"]]), abs=1e-3)


@pytest.mark.slow
def test_failed_clips_are_reported_not_fatal(result):
    res = json.loads(result[0].stdout)
    failed = {f["clip"]: f["error"] for f in res["failed"]}
    assert set(failed) == {"c_broken.mp4", "d_noface.mp4"}
    assert "no face" in failed["d_noface.mp4"]
    assert all(e and "\n" not in e for e in failed.values())


@pytest.mark.slow
def test_save_videos(result):
    _, videos = result
    assert sorted(p.name for p in videos.iterdir()) == ["a_speaker.mp4", "grid__s9__b_grid.mp4"]


@pytest.mark.slow
def test_table_output(clip_dir, random_weights):
    r = cli("evaluate", clip_dir, "--limit", 1, "--renderer", "warp")
    assert r.exit_code == 0, r.output
    assert "a_speaker.mp4" in r.stdout and "mean of 1" in r.stdout and "LMD" in r.stdout


def test_evaluate_input_errors(tmp_path, clip_dir, random_weights):
    r = cli("evaluate", tmp_path / "nope")
    assert r.exit_code == 2 and "not a folder" in r.output and "Traceback" not in r.output
    (tmp_path / "empty").mkdir()
    r = cli("evaluate", tmp_path / "empty")
    assert r.exit_code == 2 and "no clips found" in r.output
    r = cli("evaluate", clip_dir, "--renderer", "magic")
    assert r.exit_code == 2 and "--renderer magic" in r.output
    r = cli("evaluate", clip_dir, "--limit", 0)
    assert r.exit_code == 2 and "--limit" in r.output
    r = cli("evaluate", clip_dir, "--weights", "missing")
    assert r.exit_code == 4


def test_all_clips_failing_exits_2_with_the_report(tmp_path, random_weights):
    write_corrupt(tmp_path / "x.mp4")
    r = cli("evaluate", tmp_path, "--json")
    assert r.exit_code == 2 and "no clip could be evaluated" in r.stderr
    assert json.loads(r.stdout)["failed"][0]["clip"] == "x.mp4"


def test_neural_needs_a_vgnet(tmp_path, clip_dir, assets, monkeypatch):
    d = tmp_path / "weights"
    shutil.copytree(assets["weights"], d)
    m = json.loads((d / "manifest.json").read_text())
    for e in m["weights"]:
        e["files"].pop("vgnet", None)
    (d / "manifest.json").write_text(json.dumps(m))
    monkeypatch.setenv("TALKFACE_WEIGHTS", str(d))
    r = cli("evaluate", clip_dir, "--renderer", "neural")
    assert r.exit_code == 2 and "no VG-net" in r.output


# ----------------------------------------------------------------------------- real data
GRID_VAL = SHARED / "data" / "grid" / "val"


@pytest.mark.slow
@pytest.mark.skipif(not GRID_VAL.is_dir(), reason="needs ../shared/data/grid/val")
def test_grid_clip_with_default_weights(monkeypatch):
    monkeypatch.delenv("TALKFACE_WEIGHTS", raising=False)
    res = E.evaluate(GRID_VAL, limit=1, renderer="warp")
    assert not res["failed"]
    row = res["clips"][0]
    assert row["frames"] == 74
    assert 20 < row["psnr"] < 40 and 0.6 < row["ssim"] < 1 and row["lmd"] < 4
    assert row["sync_error"] < row["baseline_static"]  # AT-net follows the speech better than a still mouth
    # the generated mouth follows the real one better than the loudness envelope does, at a real spread
    assert row["open_corr"] > row["loud_corr"] + 0.1 and row["open_corr"] > 0.5
    assert 0.5 < row["open_ratio"] < 1.5
