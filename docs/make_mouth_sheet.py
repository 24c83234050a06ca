#!/usr/bin/env python3
"""docs/mouth_sheet.png: the warp renderer at the widest mouth openings the default
AT-net (MouthNet) produces, on a photo, a painting and a cartoon.

    python docs/make_mouth_sheet.py [OUT.png]

For each portrait ``talkface generate`` runs with ``examples/speech.wav``; the frames are
picked by the predicted landmarks (``talkface landmarks speech.wav --portrait ...``): the
closed portrait, then the four widest inner-lip openings, the face cropped around the
lower half. Portraits from ../shared are used when present (a frame each, nothing else
from there is written here); otherwise only the shipped examples.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TILE = 180


def crop_lower_face(frame, pts, tile: int = TILE):
    """The lower half of the face around ``pts`` (68 points), ``tile`` px square."""
    x0, y0 = pts[2:15].min(0)
    x1, y1 = pts[2:15].max(0)
    s = (x1 - x0) * 1.05
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.1 * (y1 - y0)
    X0, Y0 = int(max(0, cx - s / 2)), int(max(0, cy - s / 2))
    c = frame[Y0:Y0 + int(s), X0:X0 + int(s)]
    return cv2.resize(c, (tile, tile), interpolation=cv2.INTER_AREA)


def main(out: Path):
    from talkface import generate
    from talkface.commands.landmarks import audio_landmarks
    from talkface.motion.articulation import inner_lip_opening
    from talkface.video.writer import read_frames

    speech = ROOT / "examples" / "speech.wav"
    shared = ROOT.parent / "shared" / "data" / "portraits"
    picks = [(n, shared / n) for n in ("people_0.png", "art_0.png") if (shared / n).exists()]
    picks.append(("cartoon.png", ROOT / "examples" / "cartoon.png"))
    if len(picks) == 1:
        picks.insert(0, ("astronaut.png", ROOT / "examples" / "astronaut.png"))
    rows = []
    with tempfile.TemporaryDirectory() as td:
        for name, path in picks:
            video = Path(td) / "v.mp4"
            generate(path, speech, video, force=True, blink=False)
            pts, img, face = audio_landmarks(speech, path)
            o = inner_lip_opening(pts)
            want = [int(i) for i in np.argsort(o)[::-1] if o[i] > 0][:16:4]
            frames = {}
            for i, f in enumerate(read_frames(video)):
                if i in want:
                    frames[i] = f
                if i == 0:
                    first = f
            h, w = first.shape[:2]
            scale = np.array([w / img.shape[1], h / img.shape[0]])  # generate shrinks to --max-size
            tiles = [crop_lower_face(first, face.points * scale)]
            tiles += [crop_lower_face(frames[i], pts[i] * scale) for i in want if i in frames]
            row = np.concatenate(tiles, 1)
            cv2.putText(row, name, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1, cv2.LINE_AA)
            rows.append(row)
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    cv2.imwrite(str(out), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))
    print(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "mouth_sheet.png")
