#!/usr/bin/env python3
"""How close the 68 points land on stylised portraits: a labelled set built at run time,
and per kind of portrait the found rate and the error of the non-mouth points.

    python bench/stylised.py                       # the auto chain, dev and held-out parts
    python bench/stylised.py --methods chain,dlib,cartoon,mesh --split dev
    python bench/stylised.py --json results.json   # per image and per kind, as JSON
    python bench/stylised.py --sheet sheet.png     # contact sheet: truth green, found red

The set (nothing from ../shared is written into the repository; all made here):

* drawn characters (``tests/cartoons.py``, ``draw_from_points``): each is drawn *from* a
  random 68-point shape, so the truth is exact: flat-shaded, anime-like big eyes,
  pencil line-art, non-human skin (blue, green, purple, with ears), an object with a face
  (a box whose lower outline is the jaw), and a painted look (stylised and shaded);
* stylised photos: the portraits in ``../shared/data/portraits``, ``examples/astronaut.png``
  (NASA, public domain), frames of GRID clips (``../shared/data/grid``, CC-BY 4.0) and of
  the real_val clips (``../shared/data/real_val``, Apache-2.0). Their truth is dlib's 68
  points on the *unstylised* image (checked by eye on overlays); then geometry-keeping
  style transforms: watercolour (``cv2.stylization``), oil (mean-shift), cel shading
  (edge-preserving filter, k-means colours, ink lines), posterized flat colours with thick
  edges, pencil sketch (``cv2.pencilSketch``), line art (ink lines only), halftone, hue
  rotation (blue / green skin) and colour inversion. The unstylised images count as
  ``photo`` (``art_0`` and ``art_2`` as ``painting``, ``art_7`` as ``anime``).

Two parts, ``dev`` (used while tuning) and ``held-out`` (other drawing seeds, other
portraits, other speakers; not looked at while tuning). Kinds: photo, painting, anime,
flat cartoon, sketch, non-human.

Measures, per image: ``found`` (the method returned a face), ``error``: the mean distance
of points 0-47 (jaw, brows, nose, eyes: everything but the mouth) from the truth divided
by the truth's inter-ocular distance (IOD, between the eye centres); per kind: found
rate, mean error over the found, and the share of all images with error <= 0.10 IOD
(a miss counts as over).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's talkface and the drawn characters

KINDS = ("photo", "painting", "anime", "flat cartoon", "sketch", "non-human")
GOOD = 0.10  # error (IOD) at or under which the points count as right
SPLITS = ("dev", "held-out")
# drawing seeds per part
DRAW_SEEDS = {"dev": range(0, 6), "held-out": range(100, 106)}
# photo sources per part: (name, kind of the unstylised image, where)
PHOTO_SOURCES = {
    "dev": [("happy", "photo", "portraits/happy.png"), ("people_0", "photo", "portraits/people_0.png"),
            ("art_0", "painting", "portraits/art_0.png"), ("astronaut", "photo", "examples/astronaut.png"),
            ("grid_s1_a", "photo", "grid/s1/bbaf2n.mp4#40"), ("grid_s1_b", "photo", "grid/s1/lbwr5a.mp4#20"),
            ("real_1", "photo", "real_val/speaker1.mp4#30"), ("real_2", "photo", "real_val/speaker2.mp4#30"),
            ("real_3", "photo", "real_val/speaker3.mp4#30")],
    "held-out": [("art_2", "painting", "portraits/art_2.png"), ("art_7", "anime", "portraits/art_7.png"),
                 ("grid_s2", "photo", "grid/val/s2/bbaf1n.mp4#40"), ("grid_s3", "photo", "grid/val/s3/#40"),
                 ("real_4", "photo", "real_val/speaker4.mp4#30"), ("real_5", "photo", "real_val/speaker5.mp4#30")],
}


@dataclass
class Item:
    name: str
    kind: str
    split: str
    origin: str  # "drawn" or "photo"
    rgb: np.ndarray
    truth: np.ndarray  # (68, 2)
    results: dict = field(default_factory=dict)  # method -> {"found", "error", "detector", "attempt", "points"}


# ----------------------------------------------------------------------------- photo styles
def _smooth(rgb):
    return cv2.edgePreservingFilter(rgb, flags=cv2.RECURS_FILTER, sigma_s=50, sigma_r=0.4)


def _kmeans(rgb, k, seed):
    z = rgb.reshape(-1, 3).astype(np.float32)
    cv2.setRNGSeed(seed)
    _, lab, cen = cv2.kmeans(z, k, None, (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0), 1,
                             cv2.KMEANS_PP_CENTERS)
    return cen.astype(np.uint8)[lab.ravel()].reshape(rgb.shape)


def _ink(rgb, block=9, c=4):
    g = cv2.medianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 5)
    return cv2.adaptiveThreshold(g, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, c)


def watercolour(rgb, rng):
    return cv2.stylization(rgb, sigma_s=float(rng.uniform(40, 80)), sigma_r=float(rng.uniform(0.35, 0.55)))


def oil(rgb, rng):
    return cv2.pyrMeanShiftFiltering(rgb, int(rng.integers(8, 14)), int(rng.integers(22, 36)))


def cel(rgb, rng):
    flat = _kmeans(_smooth(rgb), int(rng.integers(6, 10)), int(rng.integers(1000)))
    return (flat * (_ink(rgb)[..., None] / 255.0) + 0.5).astype(np.uint8)


def posterize(rgb, rng):
    levels = int(rng.integers(3, 5))
    sm = cv2.bilateralFilter(rgb, 9, 60, 9)
    for _ in range(2):
        sm = cv2.bilateralFilter(sm, 9, 60, 9)
    step = 256 // levels
    q = (sm // step) * step + step // 2
    edges = cv2.Canny(cv2.cvtColor(sm, cv2.COLOR_RGB2GRAY), 60, 140)
    edges = cv2.dilate(edges, np.ones((2, 2), np.uint8))
    q[edges > 0] = (20, 20, 20)
    return q.astype(np.uint8)


def pencil(rgb, rng):
    grey, _ = cv2.pencilSketch(rgb, sigma_s=float(rng.uniform(30, 60)), sigma_r=float(rng.uniform(0.05, 0.09)),
                               shade_factor=float(rng.uniform(0.02, 0.06)))
    return np.repeat(grey[:, :, None], 3, 2)


def lineart(rgb, rng):
    ink = _ink(_smooth(rgb), 9 + 2 * int(rng.integers(0, 3)), int(rng.integers(3, 6)))
    return np.repeat(ink[:, :, None], 3, 2)


def halftone(rgb, rng):
    g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    h, w = g.shape
    cell = max(3, int(round(max(h, w) / rng.uniform(110, 170))))
    ang = np.deg2rad(rng.uniform(15, 45))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xx * np.cos(ang) + yy * np.sin(ang)) / cell
    v = (-xx * np.sin(ang) + yy * np.cos(ang)) / cell
    d = np.hypot(u - np.round(u), v - np.round(v))  # 0 at a dot centre, up to 0.707
    dark = cv2.GaussianBlur(1 - g, (0, 0), cell / 2)
    ink = d < np.sqrt(dark / np.pi) * 1.05
    tint = np.array(rng.choice([(250, 250, 245), (255, 240, 200), (230, 245, 255)]), np.uint8)
    out = np.empty_like(rgb)
    out[:] = tint
    out[ink] = (25, 25, 35)
    return out


def hue(rgb, rng):
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(int) + int(rng.integers(45, 120))) % 180).astype(np.uint8)
    hsv[..., 1] = np.clip(hsv[..., 1].astype(np.float32) * rng.uniform(1.3, 2.0) + 30, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def invert(rgb, rng):
    return 255 - rgb


PHOTO_STYLES = {"watercolour": ("painting", watercolour), "oil": ("painting", oil), "cel": ("anime", cel),
                "posterize": ("flat cartoon", posterize), "pencil": ("sketch", pencil),
                "lineart": ("sketch", lineart), "halftone": ("sketch", halftone), "hue": ("non-human", hue),
                "invert": ("non-human", invert)}


# ----------------------------------------------------------------------------- the set
def _frame(path: Path, index: int) -> np.ndarray | None:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, f = cap.read()
    cap.release()
    return cv2.cvtColor(f, cv2.COLOR_BGR2RGB) if ok else None


def _source_image(where: str) -> np.ndarray | None:
    path, _, idx = where.partition("#")
    p = ROOT / path if path.startswith("examples/") else SHARED / path
    if p.is_dir():  # the first clip of a folder
        clips = sorted(p.glob("*.mp4"))
        p = clips[0] if clips else p
    if not p.is_file():
        return None
    if idx:
        img = _frame(p, int(idx))
    else:
        from talkface.face.image import load_image

        img = load_image(p)
    if img is None:
        return None
    h, w = img.shape[:2]
    if max(h, w) < 400:  # GRID: 360x288, a small face; twice the size keeps the styles' detail
        img = cv2.resize(img, (w * 2, h * 2), interpolation=cv2.INTER_CUBIC)
        h, w = img.shape[:2]
    s = min(1.0, 512 / max(img.shape[:2]))
    if s < 1:
        img = cv2.resize(img, (int(w * s) // 2 * 2, int(h * s) // 2 * 2), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img)


def photo_truth(rgb: np.ndarray) -> np.ndarray | None:
    """dlib's 68 points on the unstylised image (the largest face), or None."""
    from talkface.face.detect import detect_faces

    faces = detect_faces(rgb, "dlib", retries=False)
    return faces[0].points.astype(np.float32) if faces else None


def build_set(splits=SPLITS) -> list[Item]:
    from cartoons import KIND_68, STYLES_68, draw_from_points

    items = []
    for split in splits:
        for seed in DRAW_SEEDS[split]:
            for style in STYLES_68:
                rgb, pts = draw_from_points(style, seed)
                items.append(Item(f"{style}_{seed}", KIND_68[style], split, "drawn", rgb, pts))
        for name, kind, where in PHOTO_SOURCES[split]:
            rgb = _source_image(where)
            if rgb is None:
                continue
            truth = photo_truth(rgb)
            if truth is None:
                print(f"{name}: dlib finds no face on the unstylised image; left out", file=sys.stderr)
                continue
            items.append(Item(name, kind, split, "photo", rgb, truth))
            for k, (style, (skind, fn)) in enumerate(PHOTO_STYLES.items()):
                rng = np.random.default_rng([k, sum(map(ord, name))])
                items.append(Item(f"{name}_{style}", skind, split, "photo", fn(rgb, rng), truth))
    return items


# ----------------------------------------------------------------------------- measures
def error(points: np.ndarray, truth: np.ndarray) -> float:
    """Mean distance of points 0-47 from the truth, over the truth's inter-ocular distance."""
    p, t = np.asarray(points, np.float64), np.asarray(truth, np.float64)
    iod = np.linalg.norm(t[36:42].mean(0) - t[42:48].mean(0))
    return float(np.linalg.norm(p[:48] - t[:48], axis=1).mean() / iod)


def method_fn(name: str):
    """``image -> list[Face]`` for a method name: ``chain`` (the auto chain with its
    retries), or one detector alone without retries (``dlib``, ``cartoon``, ``mesh``...)."""
    from talkface.face.detect import detect_faces

    if name == "chain":
        return lambda rgb: detect_faces(rgb)
    return lambda rgb: detect_faces(rgb, name, retries=False)


def run(items: list[Item], methods: list[str]):
    for m in methods:
        fn = method_fn(m)
        for it in items:
            t = time.perf_counter()
            faces = fn(it.rgb)
            r = {"found": bool(faces), "seconds": time.perf_counter() - t}
            if faces:
                f = _nearest(faces, it.truth)
                r.update(error=error(f.points, it.truth), detector=f.detector, attempt=f.attempt, points=f.points)
            it.results[m] = r


def _nearest(faces, truth):
    """The largest face, as the CLI takes it (faces come largest first)."""
    return faces[0]


def summary(items: list[Item], method: str) -> dict:
    """Per split and kind (and ``all``): n, found, mean error of the found, share <= GOOD."""
    out: dict = {}
    for split in sorted({it.split for it in items}, key=SPLITS.index):
        rows = {}
        for kind in (*KINDS, "all"):
            sel = [it for it in items if it.split == split and (kind == "all" or it.kind == kind)]
            if not sel:
                continue
            res = [it.results[method] for it in sel]
            errs = [r["error"] for r in res if r["found"]]
            rows[kind] = {"n": len(sel), "found": sum(r["found"] for r in res) / len(sel),
                          "mean_error": float(np.mean(errs)) if errs else None,
                          "median_error": float(np.median(errs)) if errs else None,
                          "good": sum(r["found"] and r["error"] <= GOOD for r in res) / len(sel)}
        out[split] = rows
    return out


def print_table(items: list[Item], methods: list[str]):
    print(f"non-mouth points (0-47) vs truth, error in IOD; good = error <= {GOOD:.2f} (a miss is not good)")
    head = f"{'method':10s} {'part':9s} {'kind':13s} {'n':>4s} {'found':>6s} {'mean':>6s} {'median':>6s} {'good':>6s}"
    print(head)
    print("-" * len(head))
    for m in methods:
        for split, rows in summary(items, m).items():
            for kind, r in rows.items():
                me = "-" if r["mean_error"] is None else f"{r['mean_error']:.3f}"
                md = "-" if r["median_error"] is None else f"{r['median_error']:.3f}"
                print(f"{m:10s} {split:9s} {kind:13s} {r['n']:4d} {100 * r['found']:5.0f}% {me:>6s} {md:>6s} "
                      f"{100 * r['good']:5.0f}%")
        print()


def contact_sheet(items: list[Item], method: str, path: Path, cell: int = 200, cols: int = 12):
    """Every image with its truth (green) and the method's points (red), error written under."""
    tiles = []
    for it in items:
        img = it.rgb.copy()
        s = cell / max(img.shape[:2])
        img = cv2.resize(img, (int(img.shape[1] * s), int(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
        tile = np.full((cell + 14, cell, 3), 255, np.uint8)
        tile[:img.shape[0], :img.shape[1]] = img
        for x, y in it.truth * s:
            cv2.circle(tile, (int(round(x)), int(round(y))), 1, (0, 220, 0), -1)
        r = it.results.get(method, {})
        if r.get("found"):
            for x, y in r["points"] * s:
                cv2.circle(tile, (int(round(x)), int(round(y))), 1, (255, 0, 0), -1)
        label = f"{it.name[:16]} " + (f"{r['error']:.2f}" if r.get("found") else "miss")
        cv2.putText(tile, label, (2, cell + 11), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(tile)
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)]
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", default="chain", help="comma-separated: chain (auto, with retries) or one "
                    "detector alone (dlib, fan, cartoon, mesh, ...); default chain")
    ap.add_argument("--split", choices=("dev", "held-out", "both"), default="both")
    ap.add_argument("--json", type=Path, help="write per-kind summaries and per-image results here")
    ap.add_argument("--sheet", type=Path, help="write a contact sheet (PNG) of the first method here")
    ap.add_argument("--only", help="only items whose name contains this")
    a = ap.parse_args(argv)
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    splits = SPLITS if a.split == "both" else (a.split,)
    items = build_set(splits)
    if a.only:
        items = [it for it in items if a.only in it.name]
    run(items, methods)
    print_table(items, methods)
    if a.sheet:
        contact_sheet(items, methods[0], a.sheet)
    if a.json:
        res = {"good_threshold": GOOD, "summary": {m: summary(items, m) for m in methods},
               "images": [{"name": it.name, "kind": it.kind, "split": it.split, "origin": it.origin,
                           **{m: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in it.results[m].items()
                                  if k != "points"} for m in methods}} for it in items]}
        a.json.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
