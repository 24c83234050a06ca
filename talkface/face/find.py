"""The portrait's face: from a ``--landmarks`` file or the detector chain, then ``--face-index``."""
from __future__ import annotations

import numpy as np

from ..runtime.errors import InputError, NoFaceError
from ..runtime.progress import Reporter
from .detect import detect_faces
from .detectors.base import Face
from .landmarks_file import read_landmarks_json


def candidate_faces(image: np.ndarray, image_path, detector="auto", landmarks=None, device="cpu",
                    scale: tuple[float, float] = (1.0, 1.0)) -> list[Face]:
    """Every face of the portrait, best first: from the ``--landmarks`` file (points in the
    portrait's own pixels, multiplied by ``scale`` when the portrait was shrunk to
    ``--max-size``; a file made for another image is refused, see
    :func:`~talkface.face.landmarks_file.read_landmarks_json`) or the detector chain."""
    if landmarks:
        faces = read_landmarks_json(landmarks, image_path)  # made for another image: refused
        if scale != (1.0, 1.0):
            kx, ky = float(scale[0]), float(scale[1])
            faces = [Face((f.box[0] * kx, f.box[1] * ky, f.box[2] * kx, f.box[3] * ky), f.score,
                          (f.points * np.array([kx, ky], np.float32)).astype(np.float32), f.detector, f.attempt)
                     for f in faces]
    else:
        faces = detect_faces(image, detector, device)
    if not faces:
        raise NoFaceError(
            f"{image_path}: no face found; give 68 points with --landmarks FILE (place them by hand with "
            f"talkface landmarks {image_path} --edit -o face.json)")
    return faces


def choose_face(faces: list[Face], image_path, face_index=None, reporter: Reporter | None = None) -> Face:
    """Face ``face_index`` of ``faces`` (InputError when there is no such one), else the first
    (the largest), with a warning through ``reporter`` when there are several."""
    if face_index is not None:
        if not 0 <= face_index < len(faces):
            raise InputError(f"{image_path}: --face-index {face_index} but {len(faces)} face(s) found; "
                             f"use 0..{len(faces) - 1}")
        return faces[face_index]
    if len(faces) > 1 and reporter:
        reporter.warn(f"{image_path}: {len(faces)} faces found; using the largest (pick another with --face-index)")
    return faces[0]


def find_face(image: np.ndarray, image_path, detector="auto", landmarks=None, face_index=None, device="cpu",
              reporter: Reporter | None = None) -> Face:
    """:func:`candidate_faces`, then :func:`choose_face`."""
    return choose_face(candidate_faces(image, image_path, detector, landmarks, device), image_path, face_index,
                       reporter)
