"""Other voices for MouthNet training: every prepared clip decoded again after a pitch and
formant shift (librosa, -3 to +7 semitones) with noise at 10-30 dB SNR (versions 0, 1), in
a reverberant room (RT60 0.3-0.9 s) with white or pink noise at 5-15 dB SNR (version 2), or
with other people talking behind it (version 3: one to three other clips of the same folder,
of the same tier for av_train-style footage, at 5-20 dB SNR), its speech features cached
beside it as ``feats_aug<k>.npy`` (read by ``train/mouthnet.py``: every version there is used).

    python -m talkface.train.voices DATA_DIR [--versions 4 | --only 0 1 3] [--holdout 50] [--jobs 2]

Held-out clips (the same rule as training) are skipped, and never talk behind another clip.
Resumable: existing files are kept.
"""
from __future__ import annotations

import argparse
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

SHIFTS = ((2.0, 5.0), (-3.0, -1.0))  # semitones, one range per pitch-shifted version
ROOM = 2  # the version that is a noisy, reverberant room instead
BABBLE = 3  # the version with other talkers behind the speaker


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


def _wav(item: Path) -> np.ndarray:
    return np.load(item / "meta.npz")["wav"].astype(np.float32) / 32767.0


def talker(y: np.ndarray, n: int, rng) -> np.ndarray:
    """(n,) float64: ``y`` looped from a random point to n samples, at unit RMS: one voice of
    a babble (here and in bench/noisy_set.py's test sets)."""
    y = np.resize(np.roll(np.asarray(y, np.float64), -int(rng.integers(len(y)))), n)
    return y / max(np.sqrt(np.mean(y ** 2)), 1e-9)


def babble(wav: np.ndarray, others: list[str], rng) -> np.ndarray:
    """``wav`` with one to three of ``others`` (prepared clips; fewer if there are fewer) talking behind it, each
    looped from a random point to its length at the same loudness, together 5-20 dB below it.
    Background speech is what the recogniser hears as speech in the speaker's pauses; the
    loudness tells them apart, which this version teaches."""
    n = np.zeros(wav.size)
    talkers = min(int(rng.integers(1, 4)), len(others))
    for j in rng.choice(len(others), talkers, replace=False):
        n += talker(_wav(Path(others[j])), wav.size, rng)
    snr = rng.uniform(5, 20)
    n *= np.sqrt(np.mean(wav.astype(np.float64) ** 2) / 10 ** (snr / 10) / max(np.mean(n ** 2), 1e-12))
    return (wav + n).astype(np.float32)


def augment_item(item: str, k: int, others: tuple[str, ...] = ()) -> int:
    """Write version ``k`` of a prepared clip's speech features; 0 if it is there already.
    ``others``: the clips that may talk behind it (version BABBLE; at least one)."""
    import librosa

    from ..speech import phones as P
    from ..speech.audio import n_frames_for

    item_p = Path(item)
    out = item_p / f"feats_aug{k}.npy"
    if out.exists():
        return 0
    rng = np.random.default_rng(zlib.crc32(f"{item_p.name}/{k}".encode()))
    wav = _wav(item_p)
    if k == BABBLE:
        if not others:
            raise ValueError(f"{item}: no other clip to talk behind it")
        y = babble(wav, list(others), rng)
    elif k == ROOM:
        y = room(wav, rng)
    else:
        lo, hi = SHIFTS[k % len(SHIFTS)]
        y = librosa.effects.pitch_shift(wav, sr=16000, n_steps=rng.uniform(lo, hi))  # type: ignore[attr-defined]
    if k not in (ROOM, BABBLE) and rng.random() < 0.5:
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
    from .data import heldout, list_items, tier

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--versions", type=int, default=4, help="versions 0 .. N-1 (default 4: all)")
    ap.add_argument("--only", type=int, nargs="+", metavar="K", help="these versions instead (e.g. 0 1 3)")
    ap.add_argument("--holdout", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args(argv)
    items = list_items(a.data_dir)
    held = set(heldout([i.name for i in items], a.holdout))
    keep = [i for i in items if i.name not in held]
    ks = a.only if a.only else list(range(a.versions))
    if any(not 0 <= k <= BABBLE for k in ks):
        ap.error(f"versions are 0..{BABBLE}")

    def others(i, k) -> tuple[str, ...]:
        return tuple(str(j) for j in keep if j != i and tier(j.name) == tier(i.name)) if k == BABBLE else ()

    todo = [(str(i), k, others(i, k)) for k in ks for i in keep]
    with ProcessPoolExecutor(a.jobs) as ex:
        done = sum(ex.map(_one, todo, chunksize=8))
    print(f"{done} voices made, {len(todo) - done} already there")


if __name__ == "__main__":
    main()
