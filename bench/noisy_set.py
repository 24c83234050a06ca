"""A noisy copy of a folder of clips: each clip's sound mixed with white noise at a given
SNR (over the whole clip), its picture copied unchanged, for `talkface evaluate` on noisy
speech (issue 22: noise must not shrink the motion).

    python bench/noisy_set.py ../shared/data/real_val /tmp/real_val_10db --snr 10

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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path, help="folder of clips with sound (searched recursively)")
    ap.add_argument("out", type=Path, help="folder to write (created; clips there are replaced)")
    ap.add_argument("--snr", type=float, default=10.0, help="signal-to-noise ratio in dB (default 10)")
    a = ap.parse_args(argv)
    from talkface.face.clips import find_clips
    from talkface.speech.audio import ffmpeg_exe, load_audio

    ff = ffmpeg_exe()
    clips = sorted(find_clips(a.src))
    if not clips:
        print(f"{a.src}: no clips found", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        noisy = Path(tmp) / "noisy.wav"
        for i, clip in enumerate(clips):
            x = load_audio(clip, SR, max_seconds=None).astype(np.float64)
            n = np.random.default_rng(i).standard_normal(len(x))
            n *= np.sqrt(np.mean(x ** 2) / 10 ** (a.snr / 10) / max(np.mean(n ** 2), 1e-12))
            sf.write(noisy, np.clip(x + n, -1, 1), SR)
            dest = a.out / clip.relative_to(a.src)
            dest.parent.mkdir(parents=True, exist_ok=True)
            part = dest.with_name(dest.stem + ".part" + dest.suffix)
            subprocess.run([ff, "-y", "-loglevel", "error", "-i", str(clip), "-i", str(noisy), "-map", "0:v",
                            "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(part)], check=True)
            part.replace(dest)
            print(f"{dest}  (SNR {a.snr:g} dB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
