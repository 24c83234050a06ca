"""A noisy copy of a folder of clips: each clip's sound mixed with white noise at a given
SNR (over the whole clip), optionally after a reverberant room, its picture copied unchanged,
for `talkface evaluate` on noisy and reverberant speech (issue 22: neither may shrink the motion).

    python bench/noisy_set.py ../shared/data/real_val /tmp/real_val_10db --snr 10
    python bench/noisy_set.py ../shared/data/real_val /tmp/real_val_room --reverb 0.6 --snr 15
    python bench/noisy_set.py ../shared/data/real_val /tmp/rv_babble --babble ../shared/data/av_train/research

``--babble FOLDER`` takes the noise from other people talking instead of white noise: the sound
of ``--talkers`` clips of that folder (drawn per clip, each looped to the clip's length and
brought to the same loudness), summed; background chatter, which a recogniser hears as speech.

The room (``--reverb RT60``) is a synthetic impulse response: the direct sound, then white
noise decaying by 60 dB in RT60 seconds; the result keeps the clip's loudness.

The noise of clip i (sorted by path) is drawn with seed i, so the set is the same on every
machine. Figures on it move by a few hundredths from one draw to another (docs/lipsync.md).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000


def room(x: np.ndarray, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """``x`` heard in a room whose sound decays by 60 dB in ``rt60`` seconds, at ``x``'s RMS."""
    t = np.arange(max(1, int(SR * rt60))) / SR
    ir = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60) * 0.1
    ir[0] = 1.0  # the direct sound
    y = np.convolve(x, ir)[: len(x)]
    return y * np.sqrt(np.mean(x ** 2) / max(np.mean(y ** 2), 1e-12))


def babble(clips: list[Path], talkers: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) the sum of ``talkers`` clips' sound drawn from ``clips``, each looped from a random
    start to n samples and brought to unit RMS first."""
    from talkface.speech.audio import load_audio
    from talkface.train.voices import talker

    out = np.zeros(n)
    for j in rng.choice(len(clips), talkers, replace=False):
        out += talker(load_audio(clips[j], SR, max_seconds=None), n, rng)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path, help="folder of clips with sound (searched recursively)")
    ap.add_argument("out", type=Path, help="folder to write (created; clips there are replaced)")
    ap.add_argument("--snr", type=float, default=10.0, help="signal-to-noise ratio in dB (default 10)")
    ap.add_argument("--reverb", type=float, default=0.0, metavar="RT60",
                    help="reverberation time of a synthetic room in seconds, applied before the noise (default: none)")
    ap.add_argument("--babble", type=Path, metavar="FOLDER",
                    help="noise from other talkers: clips with sound in FOLDER (default: white noise)")
    ap.add_argument("--talkers", type=int, default=3, help="talkers mixed into the babble (default 3)")
    a = ap.parse_args(argv)
    from talkface.face.clips import find_clips
    from talkface.speech.audio import ffmpeg_exe, load_audio

    ff = ffmpeg_exe()
    clips = sorted(find_clips(a.src))
    if not clips:
        print(f"{a.src}: no clips found", file=sys.stderr)
        return 2
    others = sorted(find_clips(a.babble)) if a.babble else []
    if a.babble and len(others) < a.talkers:
        print(f"{a.babble}: needs at least {a.talkers} clips with sound for --babble", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        noisy = Path(tmp) / "noisy.wav"
        for i, clip in enumerate(clips):
            x = load_audio(clip, SR, max_seconds=None).astype(np.float64)
            rng = np.random.default_rng(i)
            n = rng.standard_normal(len(x)) if not others else babble(others, a.talkers, len(x), rng)
            if a.reverb > 0:
                x = room(x, a.reverb, rng)
            n *= np.sqrt(np.mean(x ** 2) / 10 ** (a.snr / 10) / max(np.mean(n ** 2), 1e-12))
            sf.write(noisy, np.clip(x + n, -1, 1), SR)
            dest = a.out / clip.relative_to(a.src)
            dest.parent.mkdir(parents=True, exist_ok=True)
            part = dest.with_name(dest.stem + ".part" + dest.suffix)
            subprocess.run([ff, "-y", "-loglevel", "error", "-i", str(clip), "-i", str(noisy), "-map", "0:v",
                            "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(part)], check=True)
            part.replace(dest)
            kind = f"{a.talkers} talkers" if others else "white noise"
            print(f"{dest}  ({kind} at SNR {a.snr:g} dB" + (f", RT60 {a.reverb:g} s)" if a.reverb > 0 else ")"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
