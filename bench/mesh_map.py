#!/usr/bin/env python3
"""Derive and check the MediaPipe 468-vertex -> iBUG 68-point map of talkface/face/detectors/mesh.py.

    python bench/mesh_map.py            # fit on the dev photos, report the error on both parts
    python bench/mesh_map.py --write    # and write the map into talkface/face/detectors/mesh.py

Needs ``mediapipe`` (0.10.14) and ../shared. Frames: GRID s1 clips, the real_val clips of
speakers 1-3 and the dev portraits of bench/stylised.py (fit); GRID s2 / s3 and real_val
speakers 4-5 and the held-out portraits (check only). On each, dlib's 68 points (the
truth) and mediapipe's mesh. Per iBUG point the map is a convex combination of the
``K`` mesh vertices nearest to it on average (in IOD-normalised coordinates), its
weights fitted by non-negative least squares with the weights summing to one.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
SHARED = ROOT.parent / "shared" / "data"
K = 4


def frames(split: str):
    """(name, rgb) of the frames of one part."""
    import stylised

    if split == "fit":
        clips = sorted((SHARED / "grid" / "s1").glob("*.mp4"))[::33]
        vids = [(c, [30]) for c in clips] + [(SHARED / "real_val" / f"speaker{i}.mp4", range(0, 150, 15))
                                           for i in (1, 2, 3)]
        stills = [w for n, k, w in stylised.PHOTO_SOURCES["dev"] if "#" not in w]
    else:
        vids = [(c, [20, 60]) for s in ("s2", "s3") for c in sorted((SHARED / "grid" / "val" / s).glob("*.mp4"))]
        vids += [(SHARED / "real_val" / f"speaker{i}.mp4", range(0, 150, 25)) for i in (4, 5)]
        stills = [w for n, k, w in stylised.PHOTO_SOURCES["held-out"] if "#" not in w]
    for clip, idx in vids:
        for i in idx:
            img = stylised._source_image(f"{clip.relative_to(SHARED)}#{i}")
            if img is not None:
                yield f"{clip.stem}#{i}", img
    for w in stills:
        img = stylised._source_image(w)
        if img is not None:
            yield w, img


def pairs(split: str):
    """IOD-normalised (dlib 68, mesh 468) pairs of the frames where both find one face."""
    from stylised import photo_truth
    from talkface.face.detectors.mesh import mesh_points

    out = []
    for _name, img in frames(split):
        t = photo_truth(img)
        ms = mesh_points(img)
        if t is None or not ms:
            continue
        m = min(ms, key=lambda q: np.linalg.norm(q.mean(0) - t.mean(0)))
        c = t[36:48].mean(0)
        iod = np.linalg.norm(t[36:42].mean(0) - t[42:48].mean(0))
        out.append(((t - c) / iod, (m - c) / iod))
    return out


def fit(data):
    from scipy.optimize import nnls

    T = np.stack([d[0] for d in data])  # (n, 68, 2)
    M = np.stack([d[1] for d in data])  # (n, 468, 2)
    table = []
    for i in range(68):
        near = np.argsort(np.linalg.norm(M - T[:, i:i + 1], axis=2).mean(0))[:K]
        a = M[:, near].transpose(0, 2, 1).reshape(-1, K)  # rows: (frame, x/y); cols: vertices
        b = T[:, i].reshape(-1)
        big = 100.0
        w, _ = nnls(np.vstack([a, big * np.ones((1, K))]), np.concatenate([b, [big]]))
        w = w / w.sum()
        table.append(tuple((int(v), round(float(x), 3)) for v, x in zip(near, w) if x > 1e-3))
    return table


def errors(data, table):
    """Per frame, the mean error (IOD) of points 0-47 and of the mouth 48-67."""
    out = []
    for t, m in data:
        p = np.array([sum(w * m[v] for v, w in row) for row in table])
        d = np.linalg.norm(p - t, axis=1)
        out.append((d[:48].mean(), d[48:].mean()))
    return np.array(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="write the map into talkface/face/detectors/mesh.py")
    a = ap.parse_args(argv)
    fit_data, check_data = pairs("fit"), pairs("check")
    table = fit(fit_data)
    for name, data in (("fit", fit_data), ("check", check_data)):
        e = errors(data, table)
        print(f"{name:6s} {len(data):3d} frames: mean error (IOD) points 0-47 {e[:, 0].mean():.3f} "
              f"(max {e[:, 0].max():.3f}), mouth {e[:, 1].mean():.3f}")
    if a.write:
        path = ROOT / "talkface" / "face" / "detectors" / "mesh.py"
        body = "".join(f"    {row},  # {i}\n" for i, row in enumerate(table))
        src = path.read_text()
        new = re.sub(r"MESH_TO_68: (.*?) = \(.*?\n\)\n|MESH_TO_68: (.*?) = \(\)\n",
                     lambda m_: "MESH_TO_68: tuple[tuple[tuple[int, float], ...], ...] = (\n" + body + ")\n",
                     src, count=1, flags=re.S)
        path.write_text(new)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
