"""The detector chain: the faces of a portrait, with retries, largest first.

``detect_faces(image)`` runs the detectors of ``talkface.face.detectors`` (dlib,
face-alignment, MediaPipe Face Mesh, the cartoon fit) and the cheap retries (upscaled,
padded, contrast-normalised copies, the other detectors, the cartoon fit) and returns faces
sorted largest first.
"""
from __future__ import annotations

import numpy as np

from ..runtime.errors import InputError
from .detectors import DETECTORS, get_detector, usable_detectors
from .detectors.base import Face
from .detectors.cartoon import _cartoon_faces
from .detectors.dlib import dlib_points
from .detectors.mesh import _mesh_in_box
from .groups import EYE_L, EYE_R, MOUTH


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
        get_detector(detector).check(usable)  # asked for by name: the one-line error where it cannot run
        chain = [detector] + ([d for d in usable if d != detector] if retries else [])
    if retries and "cartoon" not in chain:
        chain.append("cartoon")
    variants = list(_retries(image)) if retries else [("original", image, 1.0, (0, 0))]
    plan = [(det, v) for det in chain for v in (variants if det != "cartoon" else variants[:1])]
    for det, (name, img, scale, (px, py)) in plan:
        faces = get_detector(det).detect(img, device)
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
