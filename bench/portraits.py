#!/usr/bin/env python3
"""How well talkface handles portraits it was not trained on: a varied set built at run
time, the automatic landmark rate on it, and a video per portrait with a check that its
mouth moves with the speech.

    python bench/portraits.py                  # detection + generate on the whole set
    python bench/portraits.py --no-generate    # detection only (about 30 s)
    python bench/portraits.py --speed          # warp renderer ms/frame, cv2 and torch backends
    python bench/portraits.py --keep DIR       # keep the portraits and videos in DIR

The set (nothing derived from ../shared is written into the repository):

* photos: ``../shared/data/portraits/*.png`` (when present) and ``examples/astronaut.png``;
* paintings and anime-like versions of each photo, made here: ``cv2.stylization``
  (watercolour-like), a mean-shift "oil" filter, an anime-like flat-colour version
  (edge-preserving filter, 8-colour k-means, dark outlines) and a colour pencil sketch;
* cartoons: ``examples/cartoon.png`` and the ten characters of ``tests/cartoons.py``
  (round, oval, square, heart-shaped faces; dot, anime, oval, rectangular eyes; no
  nose; big mouths; green, blue, pink and brown skin; a bear and a robot).

Per portrait: which detector and which attempt found the face, and whether the points
are right where that can be checked (drawn cartoons: their known eye and mouth centres;
stylised photos: dlib's points on the unstylised photo; error under 0.35 of the eye
distance counts as right) and, for the stylised photos, ``err68``: the mean distance of
points 0-47 from dlib's on the unstylised photo over the eye distance (as
``bench/stylised.py``, which measures the points on a larger labelled set). With
generate: ``mouth`` is the mean temporal standard deviation (grey levels) of the mouth box
over the video, ``still`` the same outside the face's region (codec noise only), and
``sync`` the correlation of the mouth box's darkness (the painted cavity) with the speech
loudness, frame by frame.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import wave
from pathlib import Path

import cv2
import numpy as np

from talkface.constants import FPS
from talkface.face.groups import EYE_L, EYE_R, MOUTH

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "portraits"
sys.path.insert(0, str(ROOT / "tests"))


# ----------------------------------------------------------------------------- the set
def _fit(img, side=512):
    h, w = img.shape[:2]
    s = min(1.0, side / max(h, w))
    return cv2.resize(img, (int(w * s) // 2 * 2, int(h * s) // 2 * 2), interpolation=cv2.INTER_AREA) if s < 1 else img


def painting(rgb):
    return cv2.stylization(rgb, sigma_s=60, sigma_r=0.45)


def oil(rgb):
    return cv2.pyrMeanShiftFiltering(rgb, 10, 28)


def anime(rgb):
    smooth = cv2.edgePreservingFilter(rgb, flags=cv2.RECURS_FILTER, sigma_s=50, sigma_r=0.4)
    z = smooth.reshape(-1, 3).astype(np.float32)
    cv2.setRNGSeed(1)
    _, lab, cen = cv2.kmeans(z, 8, None, (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0), 1,
                             cv2.KMEANS_PP_CENTERS)
    flat = cen.astype(np.uint8)[lab.ravel()].reshape(rgb.shape)
    g = cv2.medianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 5)
    edges = cv2.adaptiveThreshold(g, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 9, 4)
    return (flat * (edges[..., None] / 255.0) + 0.5).astype(np.uint8)


def sketch(rgb):
    _, colour = cv2.pencilSketch(rgb, sigma_s=40, sigma_r=0.07, shade_factor=0.05)
    return colour


STYLES = {"painting": painting, "oil": oil, "anime": anime, "sketch": sketch}


def build_set(out: Path) -> list[dict]:
    """Write the portraits into ``out``; one dict per portrait (name, kind, path, truth)."""
    from cartoons import all_cartoons
    from talkface.face.detect import detect_faces
    from talkface.face.image import load_image

    out.mkdir(parents=True, exist_ok=True)
    items = []

    def put(name, kind, rgb, truth=None):
        p = out / f"{name}.png"
        cv2.imwrite(str(p), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        items.append({"name": name, "kind": kind, "path": p, "truth": truth})

    photos = sorted(SHARED.glob("*.png")) if SHARED.is_dir() else []
    photos.append(ROOT / "examples" / "astronaut.png")
    for ph in photos:
        rgb = _fit(load_image(ph))
        put(ph.stem, "photo", rgb)
        f = detect_faces(rgb, "dlib", retries=False)
        truth = None
        if f:
            p = f[0].points
            truth = {"eyes": [tuple(p[EYE_R].mean(0)), tuple(p[EYE_L].mean(0))], "mouth": tuple(p[MOUTH].mean(0)),
                     "points": p}
        for style, fn in STYLES.items():
            put(f"{ph.stem}_{style}", "anime" if style == "anime" else "painting", fn(rgb), truth)
    put("cartoon", "cartoon", load_image(ROOT / "examples" / "cartoon.png"))
    for name, (rgb, truth) in all_cartoons().items():
        put(name, "cartoon", rgb, truth)
    return items


# ----------------------------------------------------------------------------- measures
def point_error(points, truth) -> float:
    """Mean distance of points 0-47 (all but the mouth) from the truth's, over the truth's
    inter-ocular distance (as bench/stylised.py)."""
    p, t = np.asarray(points, np.float64), np.asarray(truth, np.float64)
    iod = np.linalg.norm(t[EYE_R].mean(0) - t[EYE_L].mean(0))
    return float(np.linalg.norm(p[:48] - t[:48], axis=1).mean() / iod)


def detect(items):
    from cartoons import landmark_error
    from talkface.face.detect import detect_faces
    from talkface.face.image import load_image

    for it in items:
        img = load_image(it["path"])
        t = time.perf_counter()
        faces = detect_faces(img)
        it["seconds"] = time.perf_counter() - t
        it["found"] = bool(faces)
        if faces:
            it["face"] = faces[0]
            it["detector"], it["attempt"] = faces[0].detector, faces[0].attempt
            it["error"] = landmark_error(faces[0].points, it["truth"]) if it["truth"] else None
            it["error68"] = (point_error(faces[0].points, it["truth"]["points"])
                             if it["truth"] and "points" in it["truth"] else None)
        else:
            it["detector"] = it["attempt"] = "-"
            it["error"] = it["error68"] = None
    return items


def speech(path: Path, seconds: float = 4.0) -> Path:
    src = ROOT / "examples" / "speech.wav"
    with wave.open(str(src)) as w:
        rate, ch, sw = w.getframerate(), w.getnchannels(), w.getsampwidth()
        data = w.readframes(int(rate * seconds))
    with wave.open(str(path), "wb") as o:
        o.setnchannels(ch)
        o.setsampwidth(sw)
        o.setframerate(rate)
        o.writeframes(data)
    return path


def loudness(wav: Path, n: int, fps: int = FPS) -> np.ndarray:
    with wave.open(str(wav)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32)
        rate = w.getframerate()
    hop = rate // fps
    x = x[: n * hop]
    x = np.pad(x, (0, n * hop - len(x)))
    return np.sqrt((x.reshape(n, hop) ** 2).mean(1))


def mouth_check(video: Path, face, wav: Path) -> dict:
    """``mouth``: mean temporal std (grey levels) of the mouth box; ``still``: the same for
    the frame outside the face's region (codec noise only, should be ~0-1); ``sync``:
    correlation of the mouth box's darkness (an open mouth shows a dark cavity) with
    the speech loudness, frame by frame."""
    from talkface.video.writer import read_frames

    frames = np.stack(list(read_frames(video))).astype(np.float32)
    p = face.points
    x0, y0 = p[MOUTH].min(0)
    x1, y1 = p[MOUTH].max(0)
    mw, mh = x1 - x0, y1 - y0
    mx0, mx1 = int(max(0, x0 - 0.2 * mw)), int(x1 + 0.2 * mw)
    my0, my1 = int(max(0, y0 - 0.2 * mh)), int(y1 + 0.5 * mh + 0.1 * mw)
    box = frames[:, my0:my1, mx0:mx1]
    fx0, fy0 = p.min(0)
    fx1, fy1 = p.max(0)
    fw, fh = fx1 - fx0, fy1 - fy0
    outside = np.ones(frames.shape[1:3], bool)  # beyond the warp's region around the face
    outside[int(max(0, fy0 - 0.5 * fh)):int(fy1 + 0.5 * fh), int(max(0, fx0 - 0.4 * fw)):int(fx1 + 0.4 * fw)] = False
    std = frames.std(0).mean(2)
    dark = -box.mean((1, 2, 3))
    loud = loudness(wav, len(frames))
    k = min(len(dark), len(loud))
    sync = float(np.corrcoef(dark[:k], loud[:k])[0, 1]) if k > 3 and dark.std() > 0 else 0.0
    return {"mouth": float(box.std(0).mean()), "still": float(std[outside].mean()) if outside.any() else 0.0,
            "sync": sync}


def generate_all(items, out: Path):
    from talkface import generate

    wav = speech(out / "speech4s.wav")
    for it in items:
        if not it["found"]:
            continue
        video = out / f"{it['name']}.mp4"
        t = time.perf_counter()
        try:
            res = generate(it["path"], wav, video, force=True, quiet=True)
            it["video"] = video
            it["renderer"] = res["renderer"]
            it["gen_seconds"] = time.perf_counter() - t
            it.update(mouth_check(video, it["face"], wav))
        except Exception as e:  # report, keep going
            it["gen_error"] = f"{type(e).__name__}: {e}"
    return items


def table(items, generated: bool):
    cols = ["portrait", "kind", "found", "detector", "attempt", "points", "err68"]
    if generated:
        cols += ["video", "mouth", "still", "sync"]
    rows = []
    for it in items:
        err = it.get("error")
        pts = "-" if not it["found"] else ("n/a" if err is None else ("ok" if err < 0.35 else "WRONG") + f" {err:.2f}")
        e68 = "-" if it.get("error68") is None else f"{it['error68']:.3f}"
        r = [it["name"], it["kind"], "yes" if it["found"] else "NO", it["detector"], it["attempt"], pts, e68]
        if generated:
            if "video" in it:
                r += ["ok", f"{it['mouth']:.1f}", f"{it['still']:.2f}", f"{it['sync']:+.2f}"]
            else:
                r += [it.get("gen_error", "-")[:30], "-", "-", "-"]
        rows.append(r)
    w = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    line = lambda r: "  ".join(s.ljust(n) for s, n in zip(r, w))  # noqa: E731
    print(line(cols))
    print(line(["-" * n for n in w]))
    for r in rows:
        print(line(r))
    n = len(items)
    found = sum(it["found"] for it in items)
    checked = [it for it in items if it.get("error") is not None]
    right = sum(it["error"] < 0.35 for it in checked)
    print(f"\nlandmarks found automatically: {found}/{n} = {100 * found / n:.0f} %"
          f"  (points checkable on {len(checked)}: {right} right)")
    e68 = [it for it in items if it["truth"] and "points" in it["truth"]]
    if e68:
        good = sum(it["error68"] is not None and it["error68"] <= 0.10 for it in e68)
        errs = [it["error68"] for it in e68 if it["error68"] is not None]
        print(f"points 0-47 against dlib's on the unstylised photo (styled photos): mean {np.mean(errs):.3f} IOD, "
              f"within 0.10 IOD: {good}/{len(e68)}")
    for kind in ("photo", "painting", "anime", "cartoon"):
        k = [it for it in items if it["kind"] == kind]
        if k:
            print(f"  {kind:9s} {sum(i['found'] for i in k)}/{len(k)}")
    if generated:
        vids = [it for it in items if "video" in it]
        moving = sum(it["mouth"] > max(2.0, 3 * it["still"]) for it in vids)
        print(f"videos: {len(vids)}/{found}; mouth visibly moving (std > 2 grey levels and > 3x the still "
              f"part's) in {moving}; sync with loudness: median {np.median([it['sync'] for it in vids]):+.2f}, "
              f"{sum(it['sync'] > 0.2 for it in vids)} above +0.2")


# ----------------------------------------------------------------------------- speed
def speed(frames: int = 100):
    """ms per frame of the warp renderer on the 512 x 512 astronaut (mouth opening and closing)."""
    import torch

    from talkface.face.detect import detect_faces
    from talkface.face.image import load_image
    from talkface.motion.idle import add_blinks
    from talkface.render.warp import WarpRenderer

    img = load_image(ROOT / "examples" / "astronaut.png")
    p = detect_faces(img)[0].points.astype(np.float64)
    s = np.linalg.norm(p[45] - p[36])
    seq = []
    for i in range(frames):
        q = p.copy()
        o = max(0.0, np.sin(i / 3)) * 0.15 * s
        q[[56, 57, 58, 65, 66, 67], 1] += o
        q[[55, 59, 64, 60], 1] += 0.5 * o
        q[5:12, 1] += 0.5 * o
        seq.append(q)
    seq = add_blinks(np.stack(seq))
    backends = [("cv2", "cpu"), ("torch", "cpu")]
    if torch.cuda.is_available():
        backends.append(("torch", "cuda"))
    torch.set_num_threads(2)
    print(f"warp renderer, 512x512 portrait, {frames} frames ({torch.get_num_threads()} torch threads)")
    for backend, dev in backends:
        r = WarpRenderer(img, p, device=dev, backend=backend)
        for q in seq[:5]:
            r.frame(q)
        t = time.perf_counter()
        for q in seq:
            r.frame(q)
        if dev == "cuda":
            torch.cuda.synchronize()
        print(f"  {backend:5s} {dev:4s} {1000 * (time.perf_counter() - t) / frames:6.2f} ms/frame")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-generate", action="store_true", help="detection only")
    ap.add_argument("--speed", action="store_true", help="only time the warp renderer")
    ap.add_argument("--keep", type=Path, help="write portraits and videos here (kept)")
    ap.add_argument("--json", type=Path, help="write the per-portrait results here")
    a = ap.parse_args(argv)
    if a.speed:
        return speed()
    tmp = a.keep or Path(tempfile.mkdtemp(prefix="talkface-portraits-"))
    try:
        items = detect(build_set(tmp))
        if not a.no_generate:
            generate_all(items, tmp)
        table(items, not a.no_generate)
        if a.json:
            keep = ("name", "kind", "found", "detector", "attempt", "error", "error68", "renderer", "mouth", "still",
                    "sync", "gen_error")
            a.json.write_text(json.dumps([{k: it.get(k) for k in keep} for it in items], indent=1))
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
