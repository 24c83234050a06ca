"""Video stage: the streaming H.264 + AAC writer and output-path checks (talkface.video.writer)."""
from __future__ import annotations

import os

import imageio_ffmpeg
import numpy as np
import pytest

from helpers import probe, synth_speech, video_size, write_wav
from talkface.runtime.errors import InputError
from talkface.video.outputs import check_output_path
from talkface.video.writer import VideoWriter, read_frames


def leftovers(d):
    return [n for n in os.listdir(d) if n.endswith(".part")]


def frames(n, w, h):
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[..., 0] = 20 * i % 256
        f[: h // 2, : w // 2, 1] = 200
        yield f


@pytest.fixture(scope="module")
def short_wav(tmp_path_factory):
    return write_wav(tmp_path_factory.mktemp("vid") / "short.wav", synth_speech(0.4))


def test_writer_writes_frames_and_audio(tmp_path, short_wav):
    out = tmp_path / "v.mp4"
    with VideoWriter(out, 64, 48, audio=short_wav, audio_seconds=0.4) as vw:
        for f in frames(10, 64, 48):
            vw.write(f)
            assert not out.exists()  # only a temporary file while writing
        assert not out.exists()
        assert vw.frames == 10
    assert out.is_file() and out.stat().st_size > 0
    n, secs = imageio_ffmpeg.count_frames_and_secs(str(out))
    assert n == 10
    assert secs == pytest.approx(0.4, abs=0.041)
    info = probe(out)
    assert "Audio:" in info and "aac" in info
    assert "h264" in info and "yuv420p" in info
    assert video_size(out) == (64, 48)
    assert leftovers(tmp_path) == []
    # the pixels survive the round trip (roughly: lossy H.264)
    got = list(read_frames(out))
    assert len(got) == 10
    assert got[0].shape == (48, 64, 3)
    assert got[0][:20, :28, 1].mean() > 150 and got[0][30:, 40:, 1].mean() < 50


def test_audio_shorter_than_video_is_padded(tmp_path, short_wav):
    """The audio may not cut the video short: 20 frames (0.8 s) with 0.4 s of audio."""
    out = tmp_path / "pad.mp4"
    with VideoWriter(out, 32, 32, audio=short_wav, audio_seconds=0.8) as vw:
        for f in frames(20, 32, 32):
            vw.write(f)
    n, secs = imageio_ffmpeg.count_frames_and_secs(str(out))
    assert n == 20
    assert "Audio:" in probe(out)


def test_writer_without_audio(tmp_path):
    out = tmp_path / "silent.mp4"
    with VideoWriter(out, 32, 32) as vw:
        for f in frames(5, 32, 32):
            vw.write(f)
    assert imageio_ffmpeg.count_frames_and_secs(str(out))[0] == 5
    info = probe(out)
    assert "Video:" in info and "Audio:" not in info


def test_exception_inside_leaves_nothing(tmp_path, short_wav):
    out = tmp_path / "boom.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(out, 64, 48, audio=short_wav) as vw:
            for f in frames(3, 64, 48):
                vw.write(f)
            raise RuntimeError("boom")
    assert not out.exists()
    assert leftovers(tmp_path) == []
    assert os.listdir(tmp_path) == []


def test_exception_keeps_an_existing_file(tmp_path):
    out = tmp_path / "old.mp4"
    out.write_bytes(b"previous")
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(out, 32, 32) as vw:
            vw.write(next(frames(1, 32, 32)))
            raise KeyboardInterrupt
    assert out.read_bytes() == b"previous"
    assert leftovers(tmp_path) == []


def test_wrong_frame_size_raises_and_cleans_up(tmp_path):
    out = tmp_path / "bad.mp4"
    with pytest.raises(ValueError):
        with VideoWriter(out, 32, 32) as vw:
            vw.write(np.zeros((32, 34, 3), np.uint8))
    assert not out.exists() and leftovers(tmp_path) == []


def test_odd_size_refused(tmp_path):
    with pytest.raises(ValueError):
        VideoWriter(tmp_path / "odd.mp4", 33, 32)
    assert leftovers(tmp_path) == []


# -- check_output_path -------------------------------------------------------------------

def test_check_output_path_ok(tmp_path):
    assert check_output_path(tmp_path / "a.mp4") == tmp_path / "a.mp4"
    assert check_output_path(tmp_path / "A.MOV") == tmp_path / "A.MOV"


def test_check_output_path_missing_folder(tmp_path):
    p = tmp_path / "no" / "such" / "a.mp4"
    with pytest.raises(InputError) as e:
        check_output_path(p)
    assert str(p) in e.value.message and "does not exist" in e.value.message
    assert e.value.exit_code == 2


@pytest.mark.parametrize("name", ["a.avi", "a.png", "a", "a.mp4.txt"])
def test_check_output_path_wrong_extension(tmp_path, name):
    with pytest.raises(InputError) as e:
        check_output_path(tmp_path / name)
    assert str(tmp_path / name) in e.value.message


def test_check_output_path_exists(tmp_path):
    p = tmp_path / "a.mp4"
    p.write_bytes(b"x")
    with pytest.raises(InputError) as e:
        check_output_path(p)
    assert "--force" in e.value.message
    assert check_output_path(p, force=True) == p
    assert p.read_bytes() == b"x"


def test_check_output_path_directory(tmp_path):
    d = tmp_path / "d.mp4"
    d.mkdir()
    with pytest.raises(InputError):
        check_output_path(d, force=True)


def test_output_respects_umask(tmp_path):
    out = tmp_path / "perm.mp4"
    old = os.umask(0o022)
    try:
        with VideoWriter(out, 32, 32) as vw:
            vw.write(next(frames(1, 32, 32)))
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


def test_atomic_commit_never_replaces_a_file_that_appeared_meanwhile(tmp_path):
    import pytest

    from talkface.runtime.errors import InputError
    from talkface.video.outputs import AtomicFile

    target = tmp_path / "out.mp4"
    a = AtomicFile(target, overwrite=False)
    a.tmp.write_bytes(b"new")
    target.write_bytes(b"someone else's")  # appears while "rendering"
    with pytest.raises(InputError, match="--force"):
        a.commit()
    assert target.read_bytes() == b"someone else's"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]  # temp removed
    b = AtomicFile(target, overwrite=False)
    b.tmp.write_bytes(b"new")
    target.unlink()
    b.commit()
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


# -- audio mixed down to mono ---------------------------------------------------------------

def _muxed_audio(path) -> np.ndarray:
    import subprocess

    r = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0",
                        "-f", "f32le", "-ac", "1", "-"], capture_output=True, check=True)
    return np.frombuffer(r.stdout, np.float32)


def test_stereo_comes_out_as_loud_as_mono_and_never_clips(tmp_path):
    """The same speech in both channels is the same speech: the mixdown averages the
    channels (it used to sum them: +2.7 dB and samples over full scale)."""
    x = synth_speech(1.0) * 1.8  # peaks at 0.9 of full scale
    levels = {}
    for channels in (1, 2):
        wav = write_wav(tmp_path / f"{channels}.wav", x, channels=channels)
        out = tmp_path / f"{channels}.mp4"
        with VideoWriter(out, 32, 32, audio=wav, audio_seconds=1.0) as vw:
            for f in frames(25, 32, 32):
                vw.write(f)
        a = _muxed_audio(out)
        levels[channels] = 10 * np.log10(np.mean(a.astype(np.float64) ** 2))
        assert np.abs(a).max() < 0.999, channels  # no clipped sample
    assert abs(levels[2] - levels[1]) < 0.5, levels


def test_stereo_features_are_those_of_mono(tmp_path):
    from talkface.speech import audio as A

    x = synth_speech(1.0) * 1.8
    mono = A.load_audio(write_wav(tmp_path / "m.wav", x))
    stereo = A.load_audio(write_wav(tmp_path / "s.wav", x, channels=2))
    np.testing.assert_allclose(stereo, mono, atol=2 / 32768)
