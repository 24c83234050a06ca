"""Load any still image a user may hand us as an RGB uint8 array."""
from __future__ import annotations

import os

import numpy as np

from ..runtime.errors import InputError
from ..runtime.inputs import check_input_file

# Decompression-bomb guard: 64 megapixels is far beyond any portrait.
MAX_PIXELS = 64_000_000
MIN_SIDE = 16


def load_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Return the image at ``path`` as an (H, W, 3) uint8 RGB array.

    Handles PNG/JPEG/WebP/BMP/TIFF in any mode (L, LA, P, RGBA, CMYK, I;16 ...) and
    applies the EXIF orientation. Transparent areas are composited on white.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = check_input_file(path, "portrait", "image file", "PNG, JPEG, WebP, BMP")
    Image.MAX_IMAGE_PIXELS = None  # we check ourselves, with a clearer message
    try:
        with Image.open(p) as im:
            w, h = im.size
            if w * h > max_pixels:
                raise InputError(
                    f"{p}: image is {w}x{h} ({w * h / 1e6:.0f} MP), over the {max_pixels / 1e6:.0f} MP "
                    "limit; downscale it first")
            im.load()
            im = ImageOps.exif_transpose(im)
            arr = _to_rgb(im)
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        why = ("not an image format it knows" if isinstance(e, UnidentifiedImageError)
               else "the file is truncated" if "truncated" in str(e).lower() else type(e).__name__)
        raise InputError(f"{p}: not a readable image ({why}); give a PNG, JPEG, WebP or BMP file")
    if min(arr.shape[:2]) < MIN_SIDE:
        raise InputError(f"{p}: image is only {arr.shape[1]}x{arr.shape[0]} pixels; give a larger portrait")
    return arr


def _to_rgb(im) -> np.ndarray:
    from PIL import Image

    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im).astype(np.float64)
        if mode == "F":
            lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
            a = (a - lo) / max(hi - lo, 1e-12) * 255.0
        else:
            a = a / 257.0 if a.max() > 255 else a
        g = np.clip(a, 0, 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    if mode == "P":
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, rgba).convert("RGB")
    elif mode != "RGB":
        im = im.convert("RGB")
    arr = np.asarray(im)
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


def fit_size(shape, max_size: int) -> tuple[int, int]:
    """(width, height) of an image of ``shape`` shrunk so its longest side is at most ``max_size``."""
    h, w = shape[:2]
    if max(h, w) <= max_size:
        return w, h
    s = max_size / max(h, w)
    return max(2, int(round(w * s))), max(2, int(round(h * s)))


def fit_scale(shape, max_size: int) -> tuple[float, float]:
    """(x, y) factors from the pixels of an image of ``shape`` to those of ``fit_image``'s result."""
    w2, h2 = fit_size(shape, max_size)
    return w2 / shape[1], h2 / shape[0]


def fit_image(img: np.ndarray, max_size: int) -> np.ndarray:
    """``img`` shrunk to ``max_size`` (``--max-size``; INTER_AREA), cut to even sides (H.264)."""
    import cv2

    w2, h2 = fit_size(img.shape, max_size)
    if (w2, h2) != (img.shape[1], img.shape[0]):
        img = cv2.resize(img, (w2, h2), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img[: h2 - h2 % 2, : w2 - w2 % 2])
