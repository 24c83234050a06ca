"""Other voices for MouthNet training: every prepared clip decoded again after a pitch and
formant shift (librosa, -3 to +7 semitones) with noise at 10-30 dB SNR (versions 0, 1), or
in a reverberant room (RT60 0.3-0.9 s) with white or pink noise at 5-15 dB SNR (version 2),
its speech features cached beside it as ``feats_aug<k>.npy`` (read by ``train/mouthnet.py``).

    python -m talkface.train.voices DATA_DIR [--versions 2] [--holdout 50] [--jobs 2]

Held-out clips (the same rule as training) are skipped. Resumable: existing files are kept.
"""
from __future__ import annotations

import argparse
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

SHIFTS = ((2.0, 5.0), (-3.0, -1.0))  # semitones, one range per pitch-shifted version
ROOM = 2  # the version that is a noisy, reverberant room instead


def room(y: np.ndarray, rng, sr: int = 16000) -> np.ndarray:
    """``y`` in a reverberant room (an exponentially decaying noise impulse response, RT60
    0.3-0.9 s, 50-70 % wet) with white or pink noise at 5-15 dB SNR."""
    rt60 = rng.uniform(0.3, 0.9)
    t = np.arange(int(sr * rt60)) / sr
    ir = rng.normal(0, 1, t.size) * np.exp(-6.9 * t / rt60)
    ir[0] = 0.0
    from scipy.signal import fftconvolve

    wet = fftconvolve(y, ir)[: y.size]
    wet *= np.sqrt(np.mean(y ** 2) / max(np.mean(wet ** 2), 1e-12))
    mix = rng.uniform(0.5, 0.7)
    out = (1 - mix) * y + mix * wet
    noise = rng.normal(0, 1, y.size)
    if rng.random() < 0.5:  # pink: 1/f power
        spec = np.fft.rfft(noise)
        spec /= np.sqrt(np.maximum(np.arange(spec.size), 1))
        noise = np.fft.irfft(spec, y.size)
    snr = rng.uniform(5, 15)
    noise *= np.sqrt(np.mean(out ** 2) / 10 ** (snr / 10) / max(np.mean(noise ** 2), 1e-12))
    return (out + noise).astype(np.float32)


def augment_item(item: str, k: int) -> int:
    import librosa

    from ..speech import phones as P
    from ..speech.audio import n_frames_for

    item_p = Path(item)
    out = item_p / f"feats_aug{k}.npy"
    if out.exists():
        return 0
    rng = np.random.default_rng(zlib.crc32(f"{item_p.name}/{k}".encode()))
    wav = np.load(item_p / "meta.npz")["wav"].astype(np.float32) / 32767.0
    if k == ROOM:
        y = room(wav, rng)
    else:
        lo, hi = SHIFTS[k % len(SHIFTS)]
        y = librosa.effects.pitch_shift(wav, sr=16000, n_steps=rng.uniform(lo, hi))  # type: ignore[attr-defined]
    if k != ROOM and rng.random() < 0.5:
        snr = rng.uniform(10, 30)
        y = y + rng.normal(0, 1, y.size).astype(np.float32) * np.sqrt(np.mean(y ** 2) / 10 ** (snr / 10))
    y *= rng.uniform(0.3, 1.0) / max(1e-6, float(np.abs(y).max()))
    tmp = out.with_name(out.name + ".tmp.npy")
    np.save(tmp, P.speech_features(y[: wav.size], n_frames_for(wav.size)))
    tmp.replace(out)
    return 1


def _one(args):
    return augment_item(*args)


def main(argv=None):
    from .data import heldout, list_items

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--versions", type=int, default=3)
    ap.add_argument("--holdout", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args(argv)
    items = list_items(a.data_dir)
    held = set(heldout([i.name for i in items], a.holdout))
    todo = [(str(i), k) for k in range(a.versions) for i in items if i.name not in held]
    with ProcessPoolExecutor(a.jobs) as ex:
        done = sum(ex.map(_one, todo, chunksize=8))
    print(f"{done} voices made, {len(todo) - done} already there")


if __name__ == "__main__":
    main()
