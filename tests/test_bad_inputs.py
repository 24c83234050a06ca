"""Bad and odd inputs through the real CLI (``talkface generate``), one table.

Every refused input must give the documented exit code, exactly one ``error:`` line on
stderr that names the file and says what to do, no traceback, nothing on stdout and no
file (nor temp file) at the output path. Odd-but-valid inputs must give a valid video.

What is odd but valid (README "Inputs"): grey, RGBA, palette, CMYK, 16-bit images and
several faces (the largest is used, with a warning); stereo, 8/48 kHz, 8/24-bit,
float WAV, MP3, M4A, FLAC, OGG, a WAV cut short in its data, a video's audio track, and
silent audio (a still mouth).
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import draw_face, probe, synth_speech, write_png, write_wav
from talkface.cli import app

runner = CliRunner()
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg(*args):
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def png_bomb(path, w=30000, h=30000):
    """A PNG whose header claims w x h pixels (a decompression bomb as far as the loader can tell)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                           + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def f(tmp_path_factory, assets):
    """Every input file of the table, made once."""
    from PIL import Image

    d = tmp_path_factory.mktemp("bad")
    face = draw_face()
    p = {"face": assets["face"], "dir": d}
    sp = synth_speech(0.4)
    p["wav"] = write_wav(d / "speech.wav", sp)
    # -- images
    p["empty_png"] = d / "empty.png"
    p["empty_png"].write_bytes(b"")
    raw = Path(assets["face"]).read_bytes()
    p["trunc_png"] = d / "truncated.png"
    p["trunc_png"].write_bytes(raw[: len(raw) // 2])
    Image.fromarray(face).save(d / "full.jpg", quality=90)
    jraw = (d / "full.jpg").read_bytes()
    p["trunc_jpg"] = d / "truncated.jpg"
    p["trunc_jpg"].write_bytes(jraw[: len(jraw) // 3])
    p["text_png"] = d / "notes.png"
    p["text_png"].write_text("this is not an image\n" * 20)
    p["huge"] = png_bomb(d / "huge.png")
    p["tiny"] = write_png(d / "tiny.png", face[::40, ::40][:12, :12].copy())
    p["blank"] = write_png(d / "blank.png", np.full((400, 320, 3), 128, np.uint8))
    p["tiny_blank"] = write_png(d / "tiny_blank.png", np.full((24, 24, 3), 200, np.uint8))
    p["img_dir"] = d / "portrait_dir.png"
    p["img_dir"].mkdir()
    Image.fromarray(face).convert("L").save(d / "grey.png")
    rgba = np.dstack([face, np.full(face.shape[:2], 255, np.uint8)])
    rgba[:60, :, 3] = 0
    Image.fromarray(rgba).save(d / "rgba.png")
    Image.fromarray(face).convert("P", palette=Image.ADAPTIVE).save(d / "palette.png")
    Image.fromarray(face).convert("CMYK").save(d / "cmyk.jpg")
    Image.fromarray(face[..., 1].astype(np.uint16) * 257).save(d / "grey16.png")
    import cv2

    cv2.imwrite(str(d / "rgb16.png"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)
    two = np.full((400, 640, 3), (90, 120, 160), np.uint8)
    two[:, :320] = face
    two[100:300, 400:560] = cv2.resize(face, (160, 200))
    write_png(d / "two_faces.png", two)
    # -- audio
    p["empty_wav"] = d / "empty.wav"
    p["empty_wav"].write_bytes(b"")
    write_wav(d / "silent.wav", np.zeros(6400, np.float32))
    p["very_short"] = write_wav(d / "very_short.wav", sp[:320])  # 20 ms < one 40 ms frame
    p["over_limit"] = write_wav(d / "three_seconds.wav", synth_speech(3.0))
    with __import__("wave").open(str(d / "very_long.wav"), "wb") as w:  # 1201 s > the 1200 s default limit
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(b"\x80" * (8000 * 1201))
    write_wav(d / "stereo.wav", sp, channels=2)
    write_wav(d / "8k.wav", synth_speech(0.4, sr=8000), sr=8000)
    write_wav(d / "48k.wav", synth_speech(0.4, sr=48000), sr=48000)
    write_wav(d / "24bit.wav", sp, sampwidth=3)
    write_wav(d / "8bit.wav", sp, sampwidth=1)
    import scipy.io.wavfile

    scipy.io.wavfile.write(str(d / "float.wav"), 16000, sp.astype(np.float32))
    ffmpeg("-i", p["wav"], "-c:a", "libmp3lame", "-b:a", "64k", d / "speech.mp3")
    ffmpeg("-i", p["wav"], "-c:a", "aac", d / "speech.m4a")
    ffmpeg("-i", p["wav"], "-c:a", "flac", d / "speech.flac")
    ffmpeg("-i", p["wav"], "-c:a", "libvorbis", d / "speech.ogg")
    wav2 = Path(write_wav(d / "long_for_cut.wav", synth_speech(0.8))).read_bytes()
    (d / "cut.wav").write_bytes(wav2[: int(len(wav2) * 0.6)])  # header says 0.8 s, data stops at ~0.48 s
    p["header_only"] = d / "header_only.wav"
    p["header_only"].write_bytes(wav2[:44])
    p["text_wav"] = d / "speech.txt"
    p["text_wav"].write_text("hello\n" * 50)
    p["png_as_audio"] = assets["face"]
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=64x64:d=0.4", "-i", p["wav"], "-shortest", "-c:v", "libx264",
           "-c:a", "aac", "-pix_fmt", "yuv420p", d / "clip_with_audio.mp4")
    p["silent_clip"] = d / "clip_no_audio.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=64x64:d=0.4", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-an",
           p["silent_clip"])
    p["audio_dir"] = d / "audio_dir.wav"
    p["audio_dir"].mkdir()
    return p


def weights_copy(tmp_path, assets, monkeypatch, name="w"):
    d = tmp_path / name
    shutil.copytree(assets["weights"], d)
    monkeypatch.setenv("TALKFACE_WEIGHTS", str(d))
    return d


# ----------------------------------------------------------------------------- refused
# Each case: (id, setup(f, tmp_path, out, assets, monkeypatch) -> (portrait, audio, extra args, named file),
#             exit code). ``out`` is tmp_path / "out" / "o.mp4" unless the setup returns another.

def _img(key):
    return lambda f, t, out, a, m: (f[key], f["wav"], [], f[key])


def _aud(key, *extra):
    return lambda f, t, out, a, m: (f["face"], f[key] if key in f else f["dir"] / key, list(extra),
                                    f[key] if key in f else f["dir"] / key)


def _missing_portrait(f, t, out, a, m):
    return t / "nobody.png", f["wav"], [], t / "nobody.png"


def _missing_audio(f, t, out, a, m):
    return f["face"], t / "nothing.wav", [], t / "nothing.wav"


def _wav_as_portrait(f, t, out, a, m):
    return f["wav"], f["wav"], [], f["wav"]


def _out_missing_folder(f, t, out, a, m):
    o = t / "no" / "such" / "o.mp4"
    return f["face"], f["wav"], ["-o", o], o


def _out_unwritable(f, t, out, a, m):
    ro = t / "readonly"
    ro.mkdir()
    ro.chmod(0o500)
    if os.geteuid() == 0:  # root writes anywhere: make the access check see what a user would
        real = os.access
        m.setattr(os, "access", lambda p, mode, *k, **kw: False if Path(p) == ro and mode & os.W_OK
                  else real(p, mode, *k, **kw))
    return f["face"], f["wav"], ["-o", ro / "o.mp4"], ro / "o.mp4"


def _out_extension(ext):
    def setup(f, t, out, a, m):
        o = out.with_name("o" + ext)
        return f["face"], f["wav"], ["-o", o], o
    return setup


def _out_is_dir(f, t, out, a, m):
    o = out.parent / "video.mp4"
    o.mkdir()
    return f["face"], f["wav"], ["-o", o], o


def _out_exists(f, t, out, a, m):
    out.write_bytes(b"keep me")
    return f["face"], f["wav"], ["-o", out], out


def _out_exists_force_fails(f, t, out, a, m):
    out.write_bytes(b"keep me")  # --force, but the run fails: the old file stays
    return f["blank"], f["wav"], ["-o", out, "--force"], f["blank"]


def _weights_corrupt(f, t, out, a, m):
    d = weights_copy(t, a, m)
    p = d / "test-random-atnet.safetensors"
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0xFF
    p.write_bytes(bytes(b))
    return f["face"], f["wav"], [], p


def _weights_corrupt_no_face(f, t, out, a, m):
    """Broken weights are reported as such, never as a misleading "no face found"."""
    _, _, _, p = _weights_corrupt(f, t, out, a, m)
    return f["blank"], f["wav"], [], p


def _weights_truncated(f, t, out, a, m):
    d = weights_copy(t, a, m)
    p = d / "test-random-vgnet.safetensors"
    p.write_bytes(p.read_bytes()[:1000])
    return f["face"], f["wav"], [], p


def _weights_missing_file(f, t, out, a, m):
    d = weights_copy(t, a, m)
    p = d / "test-random-atnet.safetensors"
    p.unlink()
    return f["face"], f["wav"], [], p


def _weights_bad_manifest(f, t, out, a, m):
    d = weights_copy(t, a, m)
    (d / "manifest.json").write_text('{"default": "test-random", "weights": [')
    return f["face"], f["wav"], [], d / "manifest.json"


def _weights_unknown_name(f, t, out, a, m):
    d = weights_copy(t, a, m)
    return f["face"], f["wav"], ["--weights", "nope"], d / "manifest.json"


def _weights_none_installed(f, t, out, a, m):
    d = t / "empty_weights"
    d.mkdir()
    m.setenv("TALKFACE_WEIGHTS", str(d))
    return f["face"], f["wav"], [], d / "manifest.json"


def _disk_full_ffmpeg(f, t, out, a, m):
    """ffmpeg stops with ENOSPC halfway through the stream."""
    fake = t / "ffmpeg_full_disk.sh"
    fake.write_text("#!/bin/sh\nhead -c 100000 >/dev/null\necho 'Error writing trailer: No space left on device' >&2\n"
                    "exit 1\n")
    fake.chmod(0o755)
    import talkface.video.writer

    m.setattr(talkface.video.writer, "ffmpeg_exe", lambda: str(fake))
    return f["face"], f["wav"], [], out


def _disk_full_fsync(f, t, out, a, m):
    """The video is complete but the disk fills when it is flushed."""
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    m.setattr(os, "fsync", full)
    return f["face"], f["wav"], [], out


def _folder_denied_at_write(f, t, out, a, m):
    """The folder passes the access check but creating the temp file is refused (ACLs, root-squash NFS)."""
    import tempfile

    def denied(*k, **kw):
        raise PermissionError(errno.EACCES, "Permission denied", str(out.parent / ".o.mp4.tmp"))

    m.setattr(tempfile, "mkstemp", denied)
    return f["face"], f["wav"], [], out


def _out_is_the_audio(f, t, out, a, m):
    """-o names the input clip itself: --force must not replace the user's audio source."""
    clip = out.parent / "talk.mp4"
    shutil.copy(f["dir"] / "clip_with_audio.mp4", clip)
    return f["face"], clip, ["-o", clip, "--force"], clip


def _out_links_to_the_audio(f, t, out, a, m):
    clip = t / "talk.mp4"
    shutil.copy(f["dir"] / "clip_with_audio.mp4", clip)
    link = out.parent / "link.mp4"
    link.symlink_to(clip)
    return f["face"], clip, ["-o", link, "--force"], link


def _out_hard_link_to_the_audio(f, t, out, a, m):
    clip = t / "talk.mp4"
    shutil.copy(f["dir"] / "clip_with_audio.mp4", clip)
    hard = out.parent / "hard.mp4"
    os.link(clip, hard)
    return f["face"], clip, ["-o", hard, "--force"], hard


def _out_is_the_portrait(f, t, out, a, m):
    """An .mp4 portrait is refused as an image anyway; the same-file check comes first."""
    p = out.parent / "face.mov"
    shutil.copy(f["dir"] / "clip_with_audio.mp4", p)
    return p, f["wav"], ["-o", p, "--force"], p


REFUSED = [
    # images
    ("missing-portrait", _missing_portrait, 2),
    ("empty-image", _img("empty_png"), 2),
    ("truncated-png", _img("trunc_png"), 2),
    ("truncated-jpeg", _img("trunc_jpg"), 2),
    ("text-as-image", _img("text_png"), 2),
    ("wav-as-image", _wav_as_portrait, 2),
    ("directory-as-image", _img("img_dir"), 2),
    ("huge-image-bomb", _img("huge"), 2),
    ("tiny-image", _img("tiny"), 2),
    ("tiny-blank-image", _img("tiny_blank"), 3),
    ("no-face", _img("blank"), 3),
    # audio
    ("missing-audio", _missing_audio, 2),
    ("empty-audio", _aud("empty_wav"), 2),
    ("very-short-audio", _aud("very_short"), 2),
    ("very-long-audio", _aud("very_long.wav"), 2),
    ("longer-than-max-seconds", _aud("over_limit", "--max-seconds", "2"), 2),
    ("wav-header-only", _aud("header_only"), 2),
    ("text-as-audio", _aud("text_wav"), 2),
    ("image-as-audio", _aud("png_as_audio"), 2),
    ("video-without-audio", _aud("silent_clip"), 2),
    ("directory-as-audio", _aud("audio_dir"), 2),
    # output
    ("output-folder-missing", _out_missing_folder, 2),
    ("output-folder-unwritable", _out_unwritable, 2),
    ("output-gif", _out_extension(".gif"), 2),
    ("output-no-extension", _out_extension(""), 2),
    ("output-is-directory", _out_is_dir, 2),
    ("output-exists", _out_exists, 2),
    ("output-exists-force-but-fails", _out_exists_force_fails, 3),
    ("output-is-the-audio-input-force", _out_is_the_audio, 2),
    ("output-symlink-to-the-audio-force", _out_links_to_the_audio, 2),
    ("output-hard-link-to-the-audio-force", _out_hard_link_to_the_audio, 2),
    ("output-is-the-portrait-force", _out_is_the_portrait, 2),
    # weights
    ("weights-corrupt", _weights_corrupt, 4),
    ("weights-corrupt-and-no-face", _weights_corrupt_no_face, 4),
    ("weights-truncated", _weights_truncated, 4),
    ("weights-file-missing", _weights_missing_file, 4),
    ("weights-manifest-not-json", _weights_bad_manifest, 4),
    ("weights-unknown-name", _weights_unknown_name, 4),
    ("weights-none-installed", _weights_none_installed, 4),
    # the machine
    ("disk-full-while-encoding", _disk_full_ffmpeg, 2),
    ("disk-full-at-fsync", _disk_full_fsync, 2),
    ("folder-refuses-temp-file", _folder_denied_at_write, 2),
]


@pytest.mark.parametrize("case,setup,code", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused(case, setup, code, f, assets, random_weights, tmp_path, monkeypatch):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "o.mp4"
    portrait, audio, extra, named = setup(f, tmp_path, out, assets, monkeypatch)
    if "-o" not in extra:
        extra = ["-o", out, *extra]
    target = Path(extra[extra.index("-o") + 1])
    before = {p.name: p.stat().st_mtime_ns for p in target.parent.iterdir()} if target.parent.is_dir() else {}
    kept = target.read_bytes() if target.is_file() else None
    r = runner.invoke(app, ["generate", str(portrait), str(audio), *map(str, extra), "--quiet"])
    monkeypatch.undo()
    assert r.exit_code == code, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert "Traceback" not in r.output
    assert r.stdout == ""
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    msg = lines[0]
    assert msg.startswith("error: "), msg
    assert str(named) in msg, msg  # names the file
    assert "; " in msg, msg  # ... and says what to do
    if kept is not None:
        assert target.read_bytes() == kept  # an existing output is never touched
    elif not target.is_dir():
        assert not target.exists()
    if target.parent.is_dir():
        after = {p.name for p in target.parent.iterdir()}
        assert not [n for n in after if n.endswith(".part")], after
        assert after == set(before), after  # nothing new beside the target


def test_refused_messages_say_what_to_do(f, random_weights, tmp_path):
    """Spot checks of the advice in some messages."""
    def err(*args):
        r = runner.invoke(app, ["generate", *map(str, args), "-o", str(tmp_path / "o.mp4"), "--quiet"])
        return r.stderr

    assert "--max-seconds" in err(f["face"], f["dir"] / "very_long.wav")
    assert "MP" in err(f["huge"], f["wav"]) and "downscale" in err(f["huge"], f["wav"])
    assert "--landmarks" in err(f["blank"], f["wav"])
    assert "no audio stream" in err(f["face"], f["silent_clip"])
    assert "truncated" in err(f["trunc_png"], f["wav"]) and "truncated" in err(f["trunc_jpg"], f["wav"])


@pytest.mark.slow
def test_refused_in_a_real_process(f, assets, tmp_path):
    """The same contract from a real ``talkface`` process: exit code, one line, no traceback."""
    import sys

    env = dict(os.environ, TALKFACE_WEIGHTS=str(assets["weights"]))
    r = subprocess.run([sys.executable, "-m", "talkface", "generate", str(f["huge"]), str(f["wav"]), "-o",
                        str(tmp_path / "o.mp4")], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and str(f["huge"]) in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert not (tmp_path / "o.mp4").exists()


# ----------------------------------------------------------------------------- odd but valid
VALID = [
    ("grey-image", "grey.png", "speech.wav"),
    ("rgba-image", "rgba.png", "speech.wav"),
    ("palette-image", "palette.png", "speech.wav"),
    ("cmyk-jpeg", "cmyk.jpg", "speech.wav"),
    ("16-bit-grey-png", "grey16.png", "speech.wav"),
    ("16-bit-rgb-png", "rgb16.png", "speech.wav"),
    ("two-faces", "two_faces.png", "speech.wav"),
    ("silent-audio", None, "silent.wav"),
    ("stereo-wav", None, "stereo.wav"),
    ("8-khz-wav", None, "8k.wav"),
    ("48-khz-wav", None, "48k.wav"),
    ("24-bit-wav", None, "24bit.wav"),
    ("8-bit-wav", None, "8bit.wav"),
    ("float-wav", None, "float.wav"),
    ("mp3", None, "speech.mp3"),
    ("m4a", None, "speech.m4a"),
    ("flac", None, "speech.flac"),
    ("ogg-vorbis", None, "speech.ogg"),
    ("wav-cut-in-its-data", None, "cut.wav"),
    ("video-as-audio", None, "clip_with_audio.mp4"),
]


@pytest.mark.slow
@pytest.mark.parametrize("case,image,audio", VALID, ids=[c[0] for c in VALID])
def test_odd_but_valid(case, image, audio, f, random_weights, tmp_path):
    portrait = f["dir"] / image if image else f["face"]
    out = tmp_path / "o.mp4"
    r = runner.invoke(app, ["generate", str(portrait), str(f["dir"] / audio), "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    res = json.loads(r.stdout)
    assert res["output"] == str(out) and out.is_file()
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(out))
    assert frames == res["frames"] > 0
    info = probe(out)
    assert "Video:" in info and "Audio:" in info
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    if case == "two-faces":
        assert "2 faces found" in r.stderr and "--face-index" in r.stderr
        assert res["face_box"][2] > 150  # the larger face
    if case == "wav-cut-in-its-data":
        assert res["frames"] < 20  # what is there, not what the header promised
        warn = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
        assert len(warn) == 1 and str(f["dir"] / audio) in warn[0], r.stderr
        assert "0.80 s" in warn[0] and "cut short" in warn[0], warn  # the header's length vs what is there
    elif case != "two-faces":
        assert "warning" not in r.stderr, r.stderr


def test_output_folder_that_takes_no_file_is_named(f, random_weights, tmp_path):
    """/proc passes the access check (as root) but takes no new file: the folder is named
    as not writable, not the temp file as missing."""
    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc")
    r = runner.invoke(app, ["generate", str(f["face"]), str(f["wav"]), "-o", "/proc/x.mp4", "--quiet"])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: /proc/x.mp4: folder /proc is not writable"), r.stderr
    assert ".part" not in r.stderr and "; choose another output folder" in lines[0], r.stderr


@pytest.mark.parametrize("value", ["0", "-5"])
def test_max_seconds_must_be_positive(f, random_weights, tmp_path, value):
    r = runner.invoke(app, ["generate", str(f["face"]), str(f["wav"]), "-o", str(tmp_path / "o.mp4"),
                            "--max-seconds", value, "--quiet"])
    assert r.exit_code == 2
    want = f"error: --max-seconds {float(value)}: must be a positive number of seconds"
    assert r.stderr.strip().splitlines() == [want]
    assert not (tmp_path / "o.mp4").exists()
