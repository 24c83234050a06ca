"""Colours the warp renderer samples from the portrait."""
from __future__ import annotations

import numpy as np

LUMA = [0.299, 0.587, 0.114]  # Rec. 601 weights of R, G, B


def luminance(c) -> float:
    """Luminance of one RGB colour."""
    c = np.asarray(c, np.float64)
    return float(c @ LUMA)


def sample(image: np.ndarray, xy, r: int) -> np.ndarray:
    """Median colour (float32 RGB) of the (2r + 1)-pixel square at ``xy``, clipped to the
    image; a neutral skin tone when the square lies outside it."""
    h, w = image.shape[:2]
    x, y = int(round(xy[0])), int(round(xy[1]))
    p = image[max(0, y - r):min(h, y + r + 1), max(0, x - r):min(w, x + r + 1)].reshape(-1, 3)
    return np.median(p, 0).astype(np.float32) if len(p) else np.array([200, 170, 150], np.float32)
