#!/usr/bin/env python3
"""docs/speech_sheet.jpg: does the mouth follow speech that is not GRID? The warp renderer on
a photo, a painting and a cartoon, driven by voices the AT-net never trained on.

    python docs/make_speech_sheet.py [OUT.jpg] [--speech A.wav --speech B.wav] [--weights NAME]

Per (portrait, voice) row: every 3rd frame over 1.9 s of speech (the stretch where the
loudness varies most), the face cropped around the lower half, and under it the predicted
inner-lip opening (white) over the loudness envelope (grey) for the same frames, the tiles'
frames marked. Without ``--speech``: a sentence spoken by espeak-ng (when installed) and
``examples/speech.wav``. Portraits from ../shared are used when present (a frame each,
nothing else from there is written here); otherwise the shipped examples.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))
TILE = 120
STEP, TILES = 3, 16  # every 3rd frame, 16 tiles: 1.9 s
SENTENCE = "Please call Stella. Ask her to bring these things with her from the store."


def _curve(opening, loud, start, width):
    """A strip: the opening (white) and loudness (grey) over the row's frames, tiles marked."""
    h = 44
    strip = np.zeros((h, width, 3), np.uint8)
    n = STEP * TILES
    xs = np.linspace(0, width - 1, n)

    def line(v, colour):
        v = np.asarray(v[start:start + n], np.float64)
        if v.size < 2 or np.ptp(v) < 1e-9:
            return
        y = (h - 4) - (v - v.min()) / np.ptp(v) * (h - 8)
        pts = np.stack([xs[: v.size], y], 1).astype(np.int32)
        cv2.polylines(strip, [pts], False, colour, 1, cv2.LINE_AA)

    line(loud, (110, 110, 110))
    line(opening, (255, 255, 255))
    for k in range(TILES):
        x = int(xs[k * STEP])
        strip[:3, x] = (255, 200, 0)
    return strip


def _voices(td: Path) -> list[tuple[str, Path]]:
    out = []
    if shutil.which("espeak-ng"):
        wav = td / "espeak.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), SENTENCE], check=True)
        out.append(("espeak-ng", wav))
    out.append(("examples/speech.wav", ROOT / "examples" / "speech.wav"))
    return out


def main(argv=None):
    from make_mouth_sheet import crop_lower_face

    from talkface import generate
    from talkface.commands.landmarks import audio_landmarks
    from talkface.motion.articulation import inner_lip_opening, loudness_envelope
    from talkface.speech.audio import load_audio
    from talkface.video.writer import read_frames

    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", type=Path, default=ROOT / "docs" / "speech_sheet.jpg")
    ap.add_argument("--speech", type=Path, action="append", default=[])
    ap.add_argument("--weights", default="default")
    a = ap.parse_args(argv)
    shared = ROOT.parent / "shared" / "data" / "portraits"
    picks = [(n, shared / n) for n in ("people_0.png", "art_0.png") if (shared / n).exists()]
    if not picks:
        picks.append(("astronaut.png", ROOT / "examples" / "astronaut.png"))
    picks.append(("cartoon.png", ROOT / "examples" / "cartoon.png"))
    rows = []
    with tempfile.TemporaryDirectory() as td:
        voices = [(p.name, p) for p in a.speech] or _voices(Path(td))
        for vname, speech in voices:
            wav = load_audio(speech, max_seconds=None)
            for name, path in picks:
                video = Path(td) / "v.mp4"
                generate(path, speech, video, force=True, blink=False, weights=a.weights)
                pts, img, face = audio_landmarks(speech, path, weights=a.weights)
                o = inner_lip_opening(pts)
                loud = loudness_envelope(wav, len(o))
                n = STEP * TILES
                var = [np.std(loud[s:s + n]) for s in range(max(1, len(o) - n))]
                start = int(np.argmax(var))
                want = list(range(start, start + n, STEP))
                frames = {i: f for i, f in enumerate(read_frames(video)) if i in want}
                h, w = next(iter(frames.values())).shape[:2]
                scale = np.array([w / img.shape[1], h / img.shape[0]])  # generate shrinks to --max-size
                tiles = [crop_lower_face(frames[i], pts[i] * scale, TILE) for i in want if i in frames]
                row = np.concatenate(tiles, 1)
                label = f"{name} / {vname}"
                cv2.putText(row, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1, cv2.LINE_AA)
                rows.append(np.concatenate([row, _curve(o, loud, start, row.shape[1])], 0))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0))) for r in rows]
    cv2.imwrite(str(a.out), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))
    print(a.out)


if __name__ == "__main__":
    main()
