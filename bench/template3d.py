"""Derive talkface.face.pose.TEMPLATE_3D: a mean 3-D face on the iBUG 68 points.

    python bench/template3d.py [GRID_DIR ...]    # default: ../shared/data/grid/s1 and val/*

MediaPipe Face Mesh (x, y in pixels, z on x's scale) on two frames (0 and 40) of every 50th
GRID s1 clip and of the s2/s3 clips, mapped onto the 68 points with MESH_TO_68; the shapes
Procrustes-averaged (3-D similarity), turned so that the face's mirror plane is x = 0 (x from
the subject's right to left side, y down), averaged with its mirror image, scaled to one
inter-ocular distance (36-45) and centred on the STABLE points. Prints the rows to paste.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from talkface.face.detectors.mesh import MESH_TO_68, _mesh_model, _quiet
from talkface.face.groups import STABLE
from talkface.video.writer import read_frames

ROOT = Path(__file__).resolve().parent.parent
FLIP = (list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
        + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
        + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])


def mesh68(img: np.ndarray) -> np.ndarray | None:
    with _quiet():
        r = _mesh_model().process(np.ascontiguousarray(img[:, :, :3]))
    if not r.multi_face_landmarks:
        return None
    h, w = img.shape[:2]
    v = np.array([(p.x * w, p.y * h, p.z * w) for p in r.multi_face_landmarks[0].landmark[:468]])
    out = np.zeros((68, 3))
    for i, row in enumerate(MESH_TO_68):
        for k, wt in row:
            out[i] += wt * v[k]
    return out


def procrustes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a`` mapped onto ``b`` by a 3-D similarity."""
    ma, mb = a.mean(0), b.mean(0)
    u, s, vt = np.linalg.svd((a - ma).T @ (b - mb))
    d = np.diag([1, 1, np.sign(np.linalg.det(u @ vt))])
    r = u @ d @ vt
    return (s * np.diag(d)).sum() / ((a - ma) ** 2).sum() * (a - ma) @ r + mb


def main(argv=None):
    dirs = [Path(d) for d in (argv or sys.argv[1:])] or [ROOT.parent / "shared/data/grid/s1",
                                                         ROOT.parent / "shared/data/grid/val"]
    clips = []
    for d in dirs:
        found = sorted(d.rglob("*.mp4"))
        clips += found[::50] if len(found) > 100 else found
    shapes = []
    for c in clips:
        for i, f in enumerate(read_frames(c)):
            if i in (0, 40) and (s := mesh68(f)) is not None:
                shapes.append(s)
            if i > 40:
                break
    ref = shapes[0]
    for _ in range(5):
        ref = np.mean([procrustes(s, ref) for s in shapes], 0)
    r = ref - ref.mean(0)
    xd = sum(r[FLIP[i]] - r[i] for i in range(68) if FLIP[i] > i)
    xd = xd / np.linalg.norm(xd) * (1 if xd[0] >= 0 else -1)
    mids = np.array([(r[i] + r[FLIP[i]]) / 2 for i in range(68)])
    mc = mids - mids.mean(0)
    yd = np.linalg.svd(mc - np.outer(mc @ xd, xd))[2][0]
    yd -= (yd @ xd) * xd
    yd /= np.linalg.norm(yd)
    if (r[8] - r[27]) @ yd < 0:
        yd = -yd
    q = r @ np.stack([xd, yd, np.cross(xd, yd)]).T
    mir = q.copy()
    mir[:, 0] *= -1
    sym = (q + mir[FLIP]) / 2
    sym /= np.linalg.norm(sym[45] - sym[36])
    sym -= sym[STABLE].mean(0)
    print(f"{len(shapes)} frontal frames")
    print(",\n".join("    (" + ", ".join(f"{v:.4f}" for v in p) + ")" for p in sym))


if __name__ == "__main__":
    main()
