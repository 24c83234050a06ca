"""The figures ``talkface evaluate`` measures on one pair of frames, in the paper's aligned
crop (docs/paper_facts.md#evaluation), with the paper's bugs fixed: PSNR in float (grey
and RGB) and SSIM on both crops resized to 256 px; the mouth LMD (points 48-67 found by dlib
on each crop, centred, the mean per-point distance)."""
from __future__ import annotations

import math

import numpy as np

METRIC_SIZE = 256      # SSIM / PSNR after resizing both crops (docs/paper_facts.md#evaluation)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images, computed in float (100 when identical, as the paper)."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    mse = float(np.mean(d * d))
    return 100.0 if mse == 0 else 20.0 * math.log10(255.0 / math.sqrt(mse))


def _resized(img: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(img, (METRIC_SIZE, METRIC_SIZE), interpolation=cv2.INTER_AREA)


def _grey(img: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def image_metrics(real: np.ndarray, fake: np.ndarray) -> tuple[float, float, float]:
    """(grey PSNR, RGB PSNR, SSIM) of two RGB crops, both resized to 256 px first."""
    r = _resized(real)
    return _metrics(r, _resized(fake), _grey(r))


def _metrics(r: np.ndarray, f: np.ndarray, r_grey: np.ndarray) -> tuple[float, float, float]:
    """:func:`image_metrics` of crops already resized (``r_grey``: ``r`` in grey)."""
    from skimage.metrics import structural_similarity

    ssim = structural_similarity(f, r, channel_axis=2, data_range=255)
    return psnr(r_grey, _grey(f)), psnr(r, f), float(ssim)


def mouth_distance(a, b) -> float:
    """Mean per-point distance of mouth points 48-67, each set centred on its own centroid."""
    from ..face.shape import mouth_error

    return mouth_error(a, b)


def crop_landmarks(crop: np.ndarray) -> np.ndarray | None:
    """68 points dlib finds in a (128 px) crop, or None: dlib's HOG upsampled once, as the
    paper; when that finds nothing, once more on a 2x copy. dlib only (no other detector
    or fitted template), so real and generated frames are measured alike."""
    import cv2

    from ..face.detect import detect_faces

    faces = detect_faces(crop, "dlib", retries=False)
    if faces:
        return faces[0].points
    big = cv2.resize(crop, (crop.shape[1] * 2, crop.shape[0] * 2), interpolation=cv2.INTER_CUBIC)
    faces = detect_faces(big, "dlib", retries=False)
    return faces[0].points / 2.0 if faces else None


def reference_face(frame: np.ndarray):
    """The dlib face of the first frame (the usual retries, but never a fitted template)."""
    from ..face.detect import detect_faces

    faces = detect_faces(frame, "dlib", retries=False) or detect_faces(frame, "dlib", retries=True)
    faces = [f for f in faces if f.detector == "dlib"]
    return faces[0] if faces else None
