"""The talkface command line, end to end (a few real subprocesses, the rest in-process)."""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import MOUTH_CENTRE, probe, synth_speech, video_size, write_png, write_wav
from talkface.cli import app
from talkface.speech import audio as A

runner = CliRunner()
FACE_W, FACE_H = 320, 400  # draw_face() default size


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def talkface(*args, weights=None, timeout=300):
    env = dict(os.environ)
    if weights is not None:
        env["TALKFACE_WEIGHTS"] = str(weights)
    return subprocess.run([sys.executable, "-m", "talkface", *[str(a) for a in args]], capture_output=True,
                          text=True, env=env, timeout=timeout)




def n_frames(path) -> int:
    return imageio_ffmpeg.count_frames_and_secs(str(path))[0]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, assets):
    d = tmp_path_factory.mktemp("cli")
    grey = write_png(d / "grey.png", np.full((FACE_H, FACE_W, 3), 128, np.uint8))
    short = write_wav(d / "short.wav", synth_speech(0.4))  # 10 video frames: cheap generate runs
    return {"dir": d, "grey": grey, "short": short, **{k: assets[k] for k in ("face", "speech", "weights")}}


@pytest.fixture(scope="module")
def e2e(inputs, tmp_path_factory):
    """One true end-to-end run: ``talkface generate face.png speech.wav -o out.mp4 --json``."""
    out = tmp_path_factory.mktemp("e2e") / "out.mp4"
    r = talkface("generate", inputs["face"], inputs["speech"], "-o", out, "--json", weights=inputs["weights"])
    return r, out


@pytest.fixture(scope="module")
def face_json(inputs, tmp_path_factory):
    """``talkface landmarks face.png -o face.json --overlay face_overlay.png``."""
    d = tmp_path_factory.mktemp("lm")
    out, overlay = d / "face.json", d / "face_overlay.png"
    r = cli("landmarks", inputs["face"], "-o", out, "--overlay", overlay)
    return r, out, overlay


# -- generate ----------------------------------------------------------------------------

@pytest.mark.slow
def test_generate_end_to_end(e2e, inputs):
    r, out = e2e
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    res = json.loads(lines[0])
    for k in ("output", "frames", "fps", "duration", "size", "device", "detector", "weights", "seconds"):
        assert k in res, k
    assert res["output"] == str(out)
    assert res["fps"] == 25
    assert res["device"] == "cpu" or res["device"].startswith("cuda")
    assert res["detector"] in ("dlib", "fan", "mesh")
    assert res["weights"] == "test-random"
    assert res["renderer"] in ("warp", "neural")
    assert isinstance(res["seconds"], dict) and res["seconds"]["total"] > 0
    audio_seconds = A.load_audio(inputs["speech"]).size / A.SAMPLE_RATE
    want = math.ceil(25 * audio_seconds - 1e-6)
    assert res["frames"] == want
    assert res["duration"] == pytest.approx(want / 25, abs=1e-3)
    assert abs(res["duration"] - audio_seconds) <= 1 / 25
    assert out.is_file()
    frames, secs = imageio_ffmpeg.count_frames_and_secs(str(out))
    assert frames == want
    assert abs(secs - audio_seconds) <= 1 / 25 + 1e-3
    info = probe(out)
    assert "Audio:" in info and "Video:" in info
    assert video_size(out) == (FACE_W, FACE_H)
    assert res["size"] == [FACE_W, FACE_H]
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".part")]


@pytest.mark.slow
def test_generate_frames_keep_the_portrait_outside_the_face(e2e, inputs):
    """Full-portrait output: the area far from the face is the portrait (up to H.264 loss)."""
    from talkface.face.image import load_image
    from talkface.video.writer import read_frames

    r, out = e2e
    assert r.returncode == 0
    src = load_image(inputs["face"]).astype(np.int16)
    first = next(read_frames(out)).astype(np.int16)
    assert first.shape == src.shape
    assert np.abs(first[:40] - src[:40]).mean() < 6
    assert np.abs(first[-40:] - src[-40:]).mean() < 6


@pytest.mark.slow
def test_generate_crop_default_name_and_force(inputs, random_weights, tmp_path):
    audio_dir = tmp_path / "audio"
    audio_dir.mkdir()
    audio = shutil.copy(inputs["short"], audio_dir / "hello.wav")
    r = cli("generate", inputs["face"], audio, "--crop", "--size", 128, "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    out = audio_dir / "face_hello.mp4"  # <portrait stem>_<audio stem>.mp4 next to the audio
    assert res["output"] == str(out)
    assert out.is_file()
    assert sorted(p.name for p in audio_dir.iterdir()) == ["face_hello.mp4", "hello.wav"]
    assert res["size"] == [128, 128] and video_size(out) == (128, 128)
    assert n_frames(out) == res["frames"] == 10
    assert "Audio:" in probe(out)

    # exists, no --force: exit 2, file untouched
    before = out.read_bytes()
    r = cli("generate", inputs["face"], audio, "--crop", "--size", 64, "--quiet")
    assert r.exit_code == 2
    assert r.stderr.startswith("error: ") and str(out) in r.stderr and "--force" in r.stderr
    assert out.read_bytes() == before

    # --force overwrites
    r = cli("generate", inputs["face"], audio, "--crop", "--size", 64, "--quiet", "--force")
    assert r.exit_code == 0, r.output
    assert video_size(out) == (64, 64)
    assert not [p for p in audio_dir.iterdir() if p.name.endswith(".part")]


@pytest.mark.slow
def test_generate_neural_renderer_full_portrait(inputs, random_weights, tmp_path):
    """VG-net frames pasted back into the whole portrait (the Paster path of the pipeline)."""
    out = tmp_path / "neural.mp4"
    r = cli("generate", inputs["face"], inputs["short"], "-o", out, "--renderer", "neural", "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["renderer"] == "neural"
    assert res["size"] == [FACE_W, FACE_H] and video_size(out) == (FACE_W, FACE_H)
    assert n_frames(out) == res["frames"] == 10


@pytest.mark.slow
def test_generate_max_size_keeps_even_dims(inputs, random_weights, tmp_path):
    out = tmp_path / "small.mp4"
    r = cli("generate", inputs["face"], inputs["short"], "-o", out, "--max-size", 155, "--json")
    assert r.exit_code == 0, r.output
    w, h = json.loads(r.stdout)["size"]
    assert max(w, h) <= 155 and w % 2 == 0 and h % 2 == 0
    assert video_size(out) == (w, h)


@pytest.mark.slow
def test_generate_missing_portrait_exit_2(inputs, tmp_path):
    missing = tmp_path / "nobody.png"
    r = talkface("generate", missing, inputs["short"], "-o", tmp_path / "o.mp4", weights=inputs["weights"])
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error:") and str(missing) in lines[0]
    assert "Traceback" not in r.stderr + r.stdout
    assert not (tmp_path / "o.mp4").exists()


def test_generate_missing_audio_exit_2(inputs, random_weights, tmp_path):
    missing = tmp_path / "nothing.wav"
    r = cli("generate", inputs["face"], missing, "-o", tmp_path / "o.mp4", "--quiet")
    assert r.exit_code == 2
    assert r.stderr.startswith("error:") and str(missing) in r.stderr
    assert not list(tmp_path.iterdir())


def test_generate_blank_image_exit_3(inputs, random_weights, tmp_path):
    r = cli("generate", inputs["grey"], inputs["short"], "-o", tmp_path / "o.mp4", "--quiet")
    assert r.exit_code == 3, r.output
    assert r.stderr.startswith("error:")
    assert "--landmarks" in r.stderr and str(inputs["grey"]) in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.slow
def test_generate_with_landmarks_file_skips_detection(inputs, face_json, random_weights, tmp_path):
    r0, lm, _ = face_json
    assert r0.exit_code == 0, r0.output
    out = tmp_path / "grey_talks.mp4"
    r = cli("generate", inputs["grey"], inputs["short"], "-o", out, "--landmarks", lm, "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["detector"] == "file"
    assert res["size"] == [FACE_W, FACE_H]
    assert n_frames(out) == 10


def test_generate_bad_landmarks_file_exit_2(inputs, random_weights, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"faces": [{"points": [[1, 2]] * 5}]}))
    r = cli("generate", inputs["grey"], inputs["short"], "-o", tmp_path / "o.mp4", "--landmarks", bad, "--quiet")
    assert r.exit_code == 2
    assert str(bad) in r.stderr


@pytest.mark.parametrize("args", [["--size", "33"], ["--renderer", "nope"], ["--max-size", "10"],
                                  ["--detector", "nope"], ["--device", "tpu"], ["--crf", "52"]])
def test_generate_bad_options_exit_2(inputs, random_weights, tmp_path, args):
    r = cli("generate", inputs["face"], inputs["short"], "-o", tmp_path / "o.mp4", "--quiet", *args)
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error:")
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.slow
def test_generate_crf_sets_the_quality(inputs, random_weights, tmp_path):
    sizes = {}
    for crf in (0, 40):
        out = tmp_path / f"crf{crf}.mp4"
        r = cli("generate", inputs["face"], inputs["short"], "-o", out, "--crop", "--size", "256", "--crf", str(crf),
                "--quiet")
        assert r.exit_code == 0, r.output
        sizes[crf] = out.stat().st_size
    assert sizes[0] > 2 * sizes[40], sizes  # lossless is much larger than crf 40


def test_generate_wrong_output_extension_exit_2(inputs, random_weights, tmp_path):
    r = cli("generate", inputs["face"], inputs["short"], "-o", tmp_path / "o.gif", "--quiet")
    assert r.exit_code == 2
    assert "o.gif" in r.stderr


def test_generate_text_as_audio_exit_2(inputs, random_weights, tmp_path):
    txt = tmp_path / "speech.txt"
    txt.write_text("hello\n" * 50)
    r = cli("generate", inputs["face"], txt, "-o", tmp_path / "o.mp4", "--quiet")
    assert r.exit_code == 2
    assert str(txt) in r.stderr
    assert not (tmp_path / "o.mp4").exists()


def test_generate_cuda_on_cpu_machine_exit_2(inputs, random_weights, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    r = cli("generate", inputs["face"], inputs["short"], "-o", tmp_path / "o.mp4", "--device", "cuda")
    assert r.exit_code == 2
    assert "cuda" in r.stderr.lower() and r.stderr.startswith("error:")
    assert not (tmp_path / "o.mp4").exists()


# -- landmarks ---------------------------------------------------------------------------

def test_landmarks_of_an_image(face_json, inputs):
    r, out, overlay = face_json
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert {"image", "width", "height", "faces"} <= set(d)
    assert d["image"] == str(inputs["face"])
    assert (d["width"], d["height"]) == (FACE_W, FACE_H)
    assert len(d["faces"]) == 1
    f = d["faces"][0]
    assert set(f) == {"box", "score", "points"}
    assert len(f["box"]) == 4 and all(isinstance(v, (int, float)) for v in f["box"])
    assert isinstance(f["score"], (int, float))
    pts = np.array(f["points"], float)
    assert pts.shape == (68, 2)
    assert np.linalg.norm(pts[48:68].mean(0) - MOUTH_CENTRE) < 25
    assert overlay.is_file()
    from talkface.face.image import load_image

    ov, src = load_image(overlay), load_image(inputs["face"])
    assert ov.shape == src.shape
    assert (ov != src).any(2).sum() > 200  # points and numbers drawn


def test_landmarks_without_output_prints_json(inputs):
    r = cli("landmarks", inputs["face"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert len(d["faces"]) == 1 and len(d["faces"][0]["points"]) == 68


def test_landmarks_blank_image_exit_3(inputs, tmp_path):
    r = cli("landmarks", inputs["grey"], "-o", tmp_path / "x.json")
    assert r.exit_code == 3
    assert "--template" in r.stderr
    assert not (tmp_path / "x.json").exists()


def test_landmarks_template_box(inputs, tmp_path):
    out, overlay = tmp_path / "t.json", tmp_path / "t.png"
    r = cli("landmarks", inputs["grey"], "--template", "--box", "10,10,100,120", "-o", out, "--overlay", overlay)
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert (d["width"], d["height"]) == (FACE_W, FACE_H)
    assert len(d["faces"]) == 1
    pts = np.array(d["faces"][0]["points"], float)
    assert pts.shape == (68, 2)
    assert (pts[:, 0] >= 10 - 0.01).all() and (pts[:, 0] <= 110 + 0.01).all()
    assert (pts[:, 1] >= 10 - 0.01).all() and (pts[:, 1] <= 130 + 0.01).all()
    assert pts[:, 0].max() - pts[:, 0].min() > 90  # fills the box
    assert pts[:, 1].max() - pts[:, 1].min() > 100
    assert pts[36:48, 1].mean() < pts[48:68, 1].mean()
    assert overlay.is_file()


@pytest.mark.parametrize("box", [None, "1,2,3", "a,b,c,d", "10,10,-5,20"])
def test_landmarks_template_bad_box_exit_2(inputs, tmp_path, box):
    args = ["landmarks", inputs["grey"], "--template", "-o", tmp_path / "t.json"]
    r = cli(*args, *(["--box", box] if box else []))
    assert r.exit_code == 2
    assert "--box" in r.stderr


def test_landmarks_template_output_exists(inputs, tmp_path):
    out = tmp_path / "t.json"
    out.write_text("keep")
    r = cli("landmarks", inputs["grey"], "--template", "--box", "10,10,100,120", "-o", out)
    assert r.exit_code == 2
    assert out.read_text() == "keep"


def test_landmarks_from_audio(inputs, random_weights, tmp_path):
    seq, vid = tmp_path / "seq.npz", tmp_path / "lm.mp4"
    r = cli("landmarks", inputs["speech"], "--portrait", inputs["face"], "-o", seq, "--video", vid)
    assert r.exit_code == 0, r.output
    want = A.n_frames_for(A.load_audio(inputs["speech"]).size)
    with np.load(seq) as z:
        pts = z["points"]
        assert int(z["fps"]) == 25
        assert (int(z["width"]), int(z["height"])) == (FACE_W, FACE_H)
    assert pts.shape == (want, 68, 2)
    assert np.isfinite(pts).all()
    # predicted points stay on the portrait's face
    assert (pts[..., 0] > 0).all() and (pts[..., 0] < FACE_W).all()
    assert (pts[..., 1] > 0).all() and (pts[..., 1] < FACE_H).all()
    assert np.linalg.norm(pts[:, 48:68].mean((0, 1)) - MOUTH_CENTRE) < 40
    assert vid.is_file()
    assert n_frames(vid) == want
    assert "Audio:" in probe(vid)
    assert video_size(vid) == (FACE_W, FACE_H)


def test_landmarks_from_audio_json_output(inputs, random_weights, tmp_path):
    out = tmp_path / "seq.json"
    r = cli("landmarks", inputs["short"], "--portrait", inputs["face"], "-o", out)
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert d["frames"] == 10 and d["fps"] == 25 and d["shape"] == [10, 68, 2]
    assert np.array(d["points"]).shape == (10, 68, 2)


def test_landmarks_audio_needs_portrait(inputs, tmp_path):
    r = cli("landmarks", inputs["short"], "-o", tmp_path / "s.npz")
    assert r.exit_code == 2
    assert "--portrait" in r.stderr


# -- help, version, doctor ---------------------------------------------------------------

@pytest.mark.slow
def test_help():
    r = talkface("--help")
    assert r.returncode == 0
    for word in ("generate", "landmarks", "weights", "doctor", "Exit codes"):
        assert word in r.stdout
    r = cli("generate", "--help")
    assert r.exit_code == 0 and "--landmarks" in r.stdout and "--crop" in r.stdout


def test_version():
    from talkface import __version__

    r = cli("--version")
    assert r.exit_code == 0
    assert r.stdout.strip() == f"talkface {__version__}"
    # one source: pyproject.toml takes the version from talkface/__init__.py
    tomllib = pytest.importorskip("tomllib")
    proj = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    assert "version" not in proj["project"] and "version" in proj["project"]["dynamic"]
    assert proj["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "talkface.__version__"}


def test_doctor_json(random_weights):
    r = cli("doctor", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    for k in ("talkface", "python", "torch", "ffmpeg", "devices", "detectors", "weights", "weights_dir"):
        assert k in d, k
    assert "cpu" in d["devices"]
    assert "dlib" in d["detectors"] or "fan" in d["detectors"]
    assert "test-random (default): ok" in d["weights"]
    assert d["weights_dir"] == str(random_weights)
    assert d["shipped_dir"].endswith(os.path.join("talkface", "assets", "weights"))
    assert os.path.isfile(d["ffmpeg"])


@pytest.mark.slow
def test_landmarks_file_of_a_large_portrait_follows_max_size(inputs, random_weights, tmp_path):
    """Points written for the portrait's own pixels land on the face after --max-size shrinks it."""
    import cv2

    from helpers import draw_face

    big = write_png(tmp_path / "big.png", cv2.resize(draw_face(), (960, 1200), interpolation=cv2.INTER_CUBIC))
    lm = tmp_path / "big.json"
    r = cli("landmarks", big, "-o", lm)
    assert r.exit_code == 0, r.output
    box = json.loads(lm.read_text())["faces"][0]["box"]
    out = tmp_path / "o.mp4"
    r = cli("generate", big, inputs["short"], "-o", out, "--landmarks", lm, "--max-size", "600", "--json", "-q")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["size"] == [480, 600]
    np.testing.assert_allclose(res["face_box"], np.array(box) * 0.5, atol=1.0)


# -- usage errors: one line ---------------------------------------------------------------

@pytest.mark.parametrize("args,named", [
    (["generate", "{face}", "{short}", "--frobnicate"], "--frobnicate"),
    (["generate", "{face}", "{short}", "--size", "big"], "--size"),
    (["generate", "{face}", "{short}", "--size"], "--size"),
    (["generate", "{face}"], "audio"),
    (["generate", "{face}", "{short}", "extra"], "extra"),
    (["batch", "m.csv", "--jobs", "two"], "--jobs"),
    (["frobnicate"], "frobnicate"),
])
def test_usage_errors_are_one_line(inputs, args, named):
    """Click's Usage / Try / Error block becomes the README's one line: it names the option
    (or argument) and says where the fix is."""
    r = cli(*[a.format(**inputs) for a in args])
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ") and named in lines[0] and "--help" in lines[0], lines[0]
    assert "Usage:" not in r.stderr and "Try " not in r.stderr


@pytest.mark.slow
def test_usage_error_in_a_real_process(inputs):
    r = talkface("generate", inputs["face"], inputs["short"], "--frobnicate")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: --frobnicate: no such option of 'talkface generate' (did you mean --force?); "
        "see 'talkface generate --help'"]


def test_unreadable_input_is_one_line_naming_it(inputs, tmp_path, monkeypatch):
    """chmod 000 (simulated: root reads anything): the file is named, with the fix."""
    locked = tmp_path / "locked.png"
    shutil.copy(inputs["face"], locked)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if str(p) == str(locked) and mode & os.R_OK
                        else real(p, mode, *a, **k))
    r = cli("generate", locked, inputs["short"], "-o", tmp_path / "o.mp4")
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().splitlines() == [
        f"error: {locked}: not readable (permission denied); check its permissions (chmod u+r) or give another file"]
    assert not (tmp_path / "o.mp4").exists()


def test_bare_command_still_prints_the_help():
    r = cli()
    assert r.exit_code == 2 and "Usage:" in r.output and "generate" in r.output


def test_output_that_is_the_input_clip_is_refused_even_with_force(inputs, random_weights, tmp_path):
    """`generate face.png talk.mp4 -o talk.mp4 --force` used to replace the user's clip."""
    clip = tmp_path / "talk.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    "color=c=blue:s=64x64:d=0.4", "-i", str(inputs["short"]), "-shortest", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip)], check=True)
    before = clip.read_bytes()
    r = cli("generate", inputs["face"], clip, "-o", clip, "--force", "-q")
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().splitlines() == [
        f"error: {clip}: is the input {clip}; writing the output there would destroy it, choose another output name"]
    assert clip.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["talk.mp4"]
