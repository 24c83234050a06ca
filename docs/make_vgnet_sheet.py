"""docs/vgnet_sheet.png: real mouths next to VG-net's, on held-out GRID s1 clips.

    python docs/make_vgnet_sheet.py PREPARED_S1 [--weights NAME] [-o docs/vgnet_sheet.png]

PREPARED_S1 is ``talkface data prepare ../shared/data/grid/s1 DIR``. For each of six held-out
clips (every 20th, never trained on), the frame where the real mouth is widest open and one
where it is half open; per column: the real crop, the reference frame (the clip's first
frame, what a still image shows), and VG-net's frame from that reference and the real
frame's landmarks (so this shows the renderer, not AT-net). Mouth region, 2x.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from talkface import weights as W
from talkface.face.shape import to_norm
from talkface.motion.articulation import inner_lip_opening
from talkface.render.neural import render_neural
from talkface.train.data import heldout, list_items


def _mouth(img, size: int) -> np.ndarray:
    """The lower half of a crop, its middle three quarters across, 2x."""
    return cv2.resize(np.asarray(img)[size // 2:, size // 8: size - size // 8], None, fx=2, fy=2,
                      interpolation=cv2.INTER_CUBIC)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--weights", default="default")
    ap.add_argument("-o", "--out", type=Path, default=Path(__file__).with_name("vgnet_sheet.png"))
    a = ap.parse_args()
    wts = W.load(a.weights, "cpu", need_vgnet=True)
    items = list_items(a.data)
    names = set(heldout([p.name for p in items], 50))
    held = [p for p in items if p.name in names][::8]
    cols = []
    for it in held:
        if len(cols) == 12:
            break
        m = np.load(it / "meta.npz")
        frames = np.load(it / "frames.npy", mmap_mode="r")
        size = int(m["size"])
        n = min(len(frames), len(m["points"]))
        norm = to_norm(m["points"][:n], size).reshape(n, -1)
        op = inner_lip_opening(m["points"][:n])
        wide = int(np.argmax(op))
        half = int(np.argmin(np.abs(op - (op.max() + op.min()) / 2)))
        ref = np.asarray(frames[0])
        if ref.std() < 10:  # a blank first frame (a clip whose first frames had no face)
            continue
        for k in (wide, half):
            colour, alpha = next(render_neural(wts.vgnet, ref, norm[0], norm[k:k + 1], "cpu", batch=1))
            gen = (ref + (colour.astype(np.float32) - ref) * alpha[:, :, None]).clip(0, 255).astype(np.uint8)
            cols.append(np.concatenate([_mouth(frames[k], size), _mouth(ref, size), _mouth(gen, size)], 0))
    sheet = np.concatenate(cols, 1)
    label = np.full((24, sheet.shape[1], 3), 255, np.uint8)
    cv2.putText(label, "rows: real frame | reference (still) | VG-net from the reference + real landmarks",
                (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(a.out), cv2.cvtColor(np.concatenate([label, sheet], 0), cv2.COLOR_RGB2BGR))
    print(a.out)


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
