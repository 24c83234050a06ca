#!/usr/bin/env python3
"""docs/contact_sheet.png: frames of ``talkface generate`` (default settings: warp
renderer, blinks on) on photos, paintings, anime-like pictures and drawn cartoons.

    python docs/make_contact_sheet.py [OUT.png]

One row per portrait: the whole output frame (its framing and resolution kept, nothing
pasted as a box), then the face at a closed mouth, a half-open and the widest-open mouth
(picked by the mouth box's darkness), and at a blink. Portraits from ../shared are used
when present (a few frames of them only; nothing else from there is written here);
``*`` marks stylised versions made at run time. Each first tile names the detector.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

TILE = 150


def _face_box(points, shape, pad=0.25):
    x0, y0 = points.min(0)
    x1, y1 = points.max(0)
    w, h = x1 - x0, y1 - y0
    s = max(w, h) * (1 + 2 * pad)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - 0.05 * h
    X0, Y0 = int(max(0, cx - s / 2)), int(max(0, cy - s / 2))
    X1, Y1 = int(min(shape[1], cx + s / 2)), int(min(shape[0], cy + s / 2))
    return X0, Y0, X1, Y1


def _tile(img, size=TILE):
    h, w = img.shape[:2]
    s = size / max(h, w)
    t = cv2.resize(img, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
    out = np.full((size, size, 3), 255, np.uint8)
    y, x = (size - t.shape[0]) // 2, (size - t.shape[1]) // 2
    out[y:y + t.shape[0], x:x + t.shape[1]] = t
    return out


def _label(tile, text, y=14):
    cv2.putText(tile, text, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 3, cv2.LINE_AA)
    cv2.putText(tile, text, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (20, 20, 20), 1, cv2.LINE_AA)
    return tile


def main(out=ROOT / "docs" / "contact_sheet.png"):
    with tempfile.TemporaryDirectory(prefix="talkface-sheet-") as td:
        _sheet(Path(td), out)


def _sheet(tmp: Path, out: Path):
    from cartoons import all_cartoons
    from portraits import SHARED, STYLES, speech
    from talkface import generate
    from talkface.face.detect import detect_faces
    from talkface.face.groups import MOUTH
    from talkface.face.image import load_image
    from talkface.motion.idle import blink_schedule
    from talkface.video.writer import read_frames

    wav = speech(tmp / "s.wav", 6.0)
    picks = [("photo", load_image(ROOT / "examples" / "astronaut.png"))]
    if SHARED.is_dir():
        ppl = load_image(SHARED / "people_0.png")
        picks += [("photo", ppl), ("anime-like*", STYLES["anime"](ppl)),
                  ("painted", load_image(SHARED / "art_7.png")),
                  ("painting*", STYLES["painting"](load_image(SHARED / "art_0.png")))]
    cs = all_cartoons()
    picks += [("cartoon.png", load_image(ROOT / "examples" / "cartoon.png"))]
    picks += [(k, cs[k][0]) for k in ("round_dot", "anime_oval", "square_green", "alien_blue",
                                                    "chibi", "bear")]
    rows = []
    header = [_label(np.full((24, TILE, 3), 255, np.uint8), t)
              for t in ("whole frame", "mouth closed", "half open", "open", "blink")]
    for name, img in picks:
        s = min(1.0, 512 / max(img.shape[:2]))
        img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else img
        p = tmp / "p.png"
        cv2.imwrite(str(p), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        res = generate(p, wav, tmp / "v.mp4", force=True, quiet=True)
        frames = np.stack(list(read_frames(tmp / "v.mp4")))
        face = detect_faces(img)[0]
        mp = face.points[MOUTH]
        x0, y0 = mp.min(0).astype(int)
        x1, y1 = mp.max(0).astype(int)
        mh = y1 - y0 + 0.3 * (x1 - x0)
        box = frames[:, max(0, y0):int(y1 + mh), max(0, x0):x1 + 1].astype(np.float32)
        dark = -box.mean((1, 2, 3))
        closure = blink_schedule(len(frames))
        order = np.array([i for i in np.argsort(dark) if closure[i] == 0])  # mouth columns: eyes open
        blink = int(np.argmax(closure)) if closure.max() > 0 else int(order[0])
        chosen = [int(order[0]), int(order[len(order) * 2 // 3]), int(order[-1]), blink]
        X0, Y0, X1, Y1 = _face_box(face.points, img.shape)
        tiles = [_label(_label(_tile(frames[chosen[2]]), name), res["detector"], TILE - 6)]
        tiles += [_tile(frames[i][Y0:Y1, X0:X1]) for i in chosen]
        rows.append(np.concatenate(tiles, 1))
    sheet = np.concatenate([np.concatenate(header, 1)] + rows, 0)
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]}, {len(rows)} portraits)")


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:2]))
