"""Inputs the tests make themselves (a drawn face, speech, small random weights) and
small checks of what they write. Test modules import these from here; conftest.py holds
the fixtures only."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def draw_face(w=320, h=400, skin=(200, 170, 150), bg=(90, 120, 160), opening: float | None = None):
    """A simple cartoon face (RGB) that dlib's HOG detector finds; with ``opening`` (0 closed
    .. 1 wide open) its mouth is drawn open that much, the jaw dropping a little."""
    import cv2

    img = np.full((h, w, 3), bg, np.uint8)
    cx, cy = w // 2, h // 2 + 10
    cv2.ellipse(img, (cx, cy), (95, 125), 0, 0, 360, skin, -1)
    cv2.ellipse(img, (cx, cy - 95), (100, 50), 0, 180, 360, (40, 30, 20), -1)
    for dx in (-40, 40):
        cv2.ellipse(img, (cx + dx, cy - 30), (20, 9), 0, 0, 360, (255, 255, 255), -1)
        cv2.circle(img, (cx + dx, cy - 30), 7, (60, 40, 20), -1)
        cv2.circle(img, (cx + dx, cy - 30), 3, (0, 0, 0), -1)
        cv2.line(img, (cx + dx - 22, cy - 52), (cx + dx + 22, cy - 55), (50, 35, 25), 5)
    d = tuple(int(c * 0.8) for c in skin)
    cv2.line(img, (cx, cy - 25), (cx - 8, cy + 20), d, 3)
    cv2.line(img, (cx - 12, cy + 22), (cx + 12, cy + 22), d, 3)
    if opening is None:
        cv2.ellipse(img, (cx, cy + 55), (32, 10), 0, 0, 360, (120, 60, 70), -1)
        cv2.line(img, (cx - 32, cy + 55), (cx + 32, cy + 55), (70, 30, 40), 2)
        return cv2.GaussianBlur(img, (5, 5), 0)
    o = float(np.clip(opening, 0, 1))
    my = cy + 55 + int(round(6 * o))
    cv2.ellipse(img, (cx, my), (32 - int(4 * o), 10 + int(round(14 * o))), 0, 0, 360, (120, 60, 70), -1)
    if o > 0.1:
        cv2.ellipse(img, (cx, my), (24 - int(4 * o), max(1, int(round(11 * o)))), 0, 0, 360, (45, 15, 20), -1)
    else:
        cv2.line(img, (cx - 32, my), (cx + 32, my), (70, 30, 40), 2)
    return cv2.GaussianBlur(img, (5, 5), 0)


MOUTH_CENTRE = (160, 265)  # of draw_face() with the default size


def write_png(path, rgb):
    import cv2

    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def synth_speech(seconds=2.0, sr=16000, seed=0):
    """Voiced bursts: a 120 Hz pulse train through moving formants, with pauses."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = 120 + 15 * np.sin(2 * np.pi * 0.7 * t)
    phase = np.cumsum(f0 / sr)
    src = (np.diff(np.floor(phase), prepend=0) > 0).astype(np.float32)
    out = np.zeros(n, np.float32)
    for f in (700, 1200, 2500):
        k = np.exp(-np.arange(200) / 40.0) * np.sin(2 * np.pi * f * np.arange(200) / sr)
        out += np.convolve(src, k, "same").astype(np.float32)
    env = (np.sin(2 * np.pi * 2.5 * t) > -0.2).astype(np.float32)
    out = out * env + 0.003 * rng.standard_normal(n).astype(np.float32)
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def write_wav(path, wav, sr=16000, sampwidth=2, channels=1):
    import wave

    x = np.clip(wav, -1, 1)
    if channels > 1:
        x = np.repeat(x[:, None], channels, 1).reshape(-1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(sampwidth)
        w.setframerate(sr)
        if sampwidth == 1:
            w.writeframes(((x * 127) + 128).astype(np.uint8).tobytes())
        elif sampwidth == 2:
            w.writeframes((x * 32767).astype("<i2").tobytes())
        else:
            v = (x * (2 ** 23 - 1)).astype("<i4")
            b = v.view(np.uint8).reshape(-1, 4)[:, :3]
            w.writeframes(b.tobytes())
    return path


def speech_wav(path, text="Hello, this is a short test of talking faces.", seconds=2.0):
    """espeak-ng speech where installed, else synthetic voiced bursts."""
    if shutil.which("espeak-ng"):
        r = subprocess.run(["espeak-ng", "-w", str(path), text], capture_output=True)
        if r.returncode == 0 and Path(path).stat().st_size > 1000:
            return path
    return write_wav(path, synth_speech(seconds))


def make_random_weights(d: Path, name="test-random", default=True, seed=0):
    """Small randomly initialised talkface weights + manifest entry in ``d``."""
    import torch

    from talkface import weights as W
    from talkface.face.align import template
    from talkface.face.shape import to_norm
    from talkface.motion.atnet import ATNet
    from talkface.render.vgnet import VGNet
    from talkface.weights.configs import get_config

    torch.manual_seed(seed)
    acfg = get_config("small", "atnet")
    vcfg = get_config("small", "vgnet")
    at, vg = ATNet(acfg), VGNet(vcfg)
    mean = to_norm(template(128, 0.85), 128).reshape(-1)
    basis = np.linalg.qr(np.random.default_rng(seed).standard_normal((136, acfg.n_pca)))[0] * 0.05
    t = dict(at.state_dict())
    t["pca.mean"] = torch.as_tensor(mean, dtype=torch.float32)
    t["pca.basis"] = torch.as_tensor(basis, dtype=torch.float32)
    d.mkdir(parents=True, exist_ok=True)
    files = {"atnet": {**W.save_tensors(t, d / f"{name}-atnet.safetensors"), "config": acfg.to_dict()},
             "vgnet": {**W.save_tensors(vg.state_dict(), d / f"{name}-vgnet.safetensors"),
                       "config": vcfg.to_dict()}}
    W.add_entry({"name": name, "kind": "talkface", "card": None,
                 "pipeline": {"kind": "talkface", "crop_size": 128, "zoom": 0.85, "feature_norm": True},
                 "files": files}, d, make_default=default)
    return d


def probe(path) -> str:
    """ffmpeg's stream description of ``path`` (ffmpeg -i exits 1 without an output)."""
    r = subprocess.run([_ffmpeg(), "-hide_banner", "-i", str(path)],
                       capture_output=True, text=True)
    return r.stderr


def video_size(path) -> tuple[int, int]:
    m = re.search(r"Video:.*?(\d{2,5})x(\d{2,5})", probe(path))
    assert m, probe(path)
    return int(m.group(1)), int(m.group(2))


def _ffmpeg():
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()
