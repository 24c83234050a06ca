"""Tiny talking-face clips for tests: a drawn face (which dlib finds) whose mouth opens
with the loudness of a synthetic speech signal, written with talkface's own VideoWriter
(H.264 + AAC MP4, 25 fps); ``to_mpg`` converts one to GRID's container (MPEG-1 + MP2)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

# (width, height, skin, background): sizes and colours of the clips ``make_clips`` writes
STYLES = [
    (320, 400, (200, 170, 150), (90, 120, 160)),
    (352, 416, (160, 120, 95), (60, 140, 90)),
    (288, 384, (225, 195, 175), (150, 150, 150)),
    (336, 400, (150, 105, 80), (70, 90, 140)),
]


def draw_talking_face(opening: float, w=320, h=400, skin=(200, 170, 150), bg=(90, 120, 160)):
    """RGB face like helpers.draw_face, its mouth ``opening`` (0 closed .. 1 wide open)."""
    from helpers import draw_face

    return draw_face(w, h, skin, bg, opening=opening)


def speech(seconds=2.0, sr=16000, seed=0):
    """Voiced syllables (a pulse train through three formants) with random timing."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = 110 + 20 * rng.random() + 15 * np.sin(2 * np.pi * 0.7 * t)
    src = (np.diff(np.floor(np.cumsum(f0 / sr)), prepend=0) > 0).astype(np.float32)
    out = np.zeros(n, np.float32)
    for f in (650 + 100 * rng.random(), 1200, 2500):
        k = np.exp(-np.arange(200) / 40.0) * np.sin(2 * np.pi * f * np.arange(200) / sr)
        out += np.convolve(src, k, "same").astype(np.float32)
    env = np.zeros(n, np.float32)
    pos = int(0.1 * sr)
    while pos < n - int(0.1 * sr):  # syllables of 120-260 ms, gaps of 40-200 ms
        ln = int(rng.uniform(0.12, 0.26) * sr)
        seg = np.sin(np.linspace(0, np.pi, ln)) ** 0.7
        env[pos:pos + ln] = seg[: max(0, min(ln, n - pos))]
        pos += ln + int(rng.uniform(0.04, 0.2) * sr)
    out = out * env + 0.002 * rng.standard_normal(n).astype(np.float32)
    return (0.5 * out / np.abs(out).max()).astype(np.float32), env


def write_clip(path, seconds=2.0, seed=0, style=0) -> Path:
    """A ``seconds`` long 25 fps MP4 of a drawn face speaking; returns its path."""
    from helpers import write_wav
    from talkface.speech import audio as A
    from talkface.video.writer import VideoWriter

    path = Path(path)
    w, h, skin, bg = STYLES[style % len(STYLES)]
    wav, env = speech(seconds, seed=seed)
    wav_path = write_wav(path.with_suffix(".wav"), wav)
    n = A.n_frames_for(wav.size)
    hop = A.SAMPLE_RATE // A.FPS
    level = np.array([env[i * hop:(i + 1) * hop].mean() if i * hop < env.size else 0.0 for i in range(n)])
    with VideoWriter(path, w, h, audio=wav_path, audio_seconds=wav.size / A.SAMPLE_RATE) as vw:
        for o in level:
            vw.write(draw_talking_face(o, w, h, skin, bg))
    wav_path.unlink()
    return path


def make_clips(folder, n=4, seconds=2.0) -> list[Path]:
    """``n`` clips of different sizes, colours and speech in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [write_clip(folder / f"speaker{i}.mp4", seconds, seed=i, style=i) for i in range(n)]


def to_mpg(src, dst) -> Path:
    """GRID's container: MPEG-1 video + MP2 audio in an MPEG program stream."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                    "-i", str(src), "-c:v", "mpeg1video", "-q:v", "3", "-c:a", "mp2", "-b:a", "128k", str(dst)],
                   check=True)
    return Path(dst)


def write_corrupt(path) -> Path:
    """A file with a clip's name that no decoder reads."""
    Path(path).write_bytes(b"\x00\x00\x01\xbanot really a video" * 50)
    return Path(path)


def write_faceless(path, seconds=1.0) -> Path:
    """A clip with speech but no face (flat grey frames)."""
    from helpers import write_wav
    from talkface.speech import audio as A
    from talkface.video.writer import VideoWriter

    path = Path(path)
    wav, _ = speech(seconds, seed=9)
    wav_path = write_wav(path.with_suffix(".wav"), wav)
    with VideoWriter(path, 160, 160, audio=wav_path, audio_seconds=seconds) as vw:
        for _ in range(A.n_frames_for(wav.size)):
            vw.write(np.full((160, 160, 3), 128, np.uint8))
    wav_path.unlink()
    return path


def write_video(path, make_frame, w: int, h: int, seconds: float = 2.0, seed: int = 0) -> Path:
    """An MP4 of ``seconds`` of speech whose frame ``i`` is ``make_frame(i, level)`` (RGB,
    ``h`` x ``w``; ``level`` 0..1 the speech loudness at that frame)."""
    from helpers import write_wav
    from talkface.speech import audio as A
    from talkface.video.writer import VideoWriter

    path = Path(path)
    wav, env = speech(seconds, seed=seed)
    wav_path = write_wav(path.with_suffix(".wav"), wav)
    n = A.n_frames_for(wav.size)
    hop = A.SAMPLE_RATE // A.FPS
    with VideoWriter(path, w, h, audio=wav_path, audio_seconds=wav.size / A.SAMPLE_RATE) as vw:
        for i in range(n):
            vw.write(make_frame(i, float(env[i * hop:(i + 1) * hop].mean()) if i * hop < env.size else 0.0))
    wav_path.unlink()
    return path
