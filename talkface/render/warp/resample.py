"""The warp renderer's resampling: the portrait's pixels pulled along a motion field.

Two back-ends, one result: on CUDA ``torch.nn.functional.grid_sample`` on the GPU; on CPU
``cv2.remap``, which measured faster than CPU ``grid_sample`` on the same region (see
``bench/portraits.py --speed``). Both upsample the coarse field bilinearly to the region
and sample the portrait bilinearly with reflected borders.
"""
from __future__ import annotations

import cv2
import numpy as np

from .roi import Roi


def _lerp_index(n_out: int, n_grid: int, lo: int, hi: int, corners: bool) -> tuple[np.ndarray, np.ndarray]:
    """Node index and weight of the next node, for pixels ``lo:hi`` of the bilinear
    upsampling of ``n_grid`` nodes to ``n_out`` pixels: ``corners`` as
    ``align_corners=True`` (the first and last node on the first and last pixel), else as
    ``cv2.resize`` (pixel centres, clamped at the ends)."""
    i = np.arange(lo, hi, dtype=np.float64)
    t = i * (n_grid - 1) / max(n_out - 1, 1) if corners else (i + 0.5) * n_grid / n_out - 0.5
    t = np.clip(t, 0, n_grid - 1)
    k = np.minimum(np.floor(t).astype(int), max(n_grid - 2, 0))
    return k, (t - k)


def upsample_box(b: np.ndarray, roi: Roi, box: tuple[int, int, int, int], corners: bool) -> np.ndarray:
    """The coarse backward map ``b`` (gy, gx, 2) upsampled to the region pixels of ``box``
    (x0, y0, x1, y1) only: (y1 - y0, x1 - x0, 2) float64, as the whole region's
    upsampling has it."""
    bx0, by0, bx1, by1 = box
    ky, uy = _lerp_index(roi.h, b.shape[0], by0, by1, corners)
    kx, ux = _lerp_index(roi.w, b.shape[1], bx0, bx1, corners)
    k1y, k1x = np.minimum(ky + 1, b.shape[0] - 1), np.minimum(kx + 1, b.shape[1] - 1)
    bb = b.astype(np.float64)
    rows = bb[ky] * (1 - uy)[:, None, None] + bb[k1y] * uy[:, None, None]
    return rows[:, kx] * (1 - ux)[None, :, None] + rows[:, k1x] * ux[None, :, None]


class RemapResampler:
    """``cv2.remap`` on the CPU."""

    def __init__(self, image: np.ndarray, roi: Roi):
        self.image, self.roi = image, roi
        self.xs, self.ys = [a.astype(np.float32) for a in np.meshgrid(np.arange(roi.x0, roi.x1),
                                                                      np.arange(roi.y0, roi.y1))]

    def __call__(self, b: np.ndarray) -> np.ndarray:
        """The region's pixels (rh, rw, 3) uint8 for the coarse backward map ``b``."""
        f = cv2.resize(b, (self.roi.w, self.roi.h), interpolation=cv2.INTER_LINEAR)
        return cv2.remap(self.image, self.xs + f[..., 0], self.ys + f[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT)

    def upsample(self, b: np.ndarray, bx0: int, by0: int, bx1: int, by1: int) -> np.ndarray:
        """``b`` upsampled to one box of the region, as ``__call__`` upsamples it."""
        return upsample_box(b, self.roi, (bx0, by0, bx1, by1), corners=False)


class GridSampleResampler:
    """``torch.nn.functional.grid_sample`` on ``device`` (the portrait is uploaded once)."""

    def __init__(self, image: np.ndarray, roi: Roi, device):
        import torch

        self.torch, self.roi = torch, roi
        self.t_img = torch.as_tensor(np.array(image), device=device).permute(2, 0, 1)[None].float()
        h, w = image.shape[:2]
        ys = torch.linspace(roi.y0, roi.y1 - 1, roi.h, device=device)
        xs = torch.linspace(roi.x0, roi.x1 - 1, roi.w, device=device)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        self.t_base = torch.stack([gx, gy], -1)[None]  # (1, rh, rw, 2) pixels
        self.t_norm = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], device=device)

    def __call__(self, b: np.ndarray) -> np.ndarray:
        torch = self.torch
        F = torch.nn.functional
        with torch.no_grad():
            tb = torch.as_tensor(b, device=self.t_img.device).permute(2, 0, 1)[None]
            f = F.interpolate(tb, size=(self.roi.h, self.roi.w), mode="bilinear", align_corners=True)
            g = (self.t_base + f.permute(0, 2, 3, 1)) * self.t_norm - 1
            out = F.grid_sample(self.t_img, g, mode="bilinear", padding_mode="reflection", align_corners=True)
            return out[0].permute(1, 2, 0).add_(0.5).clamp_(0, 255).to(torch.uint8).cpu().numpy()

    def upsample(self, b: np.ndarray, bx0: int, by0: int, bx1: int, by1: int) -> np.ndarray:
        """``b`` upsampled to one box of the region, as ``__call__`` upsamples it."""
        return upsample_box(b, self.roi, (bx0, by0, bx1, by1), corners=True)


def backend_for(device: str, backend: str = "auto") -> str:
    """``torch`` on CUDA, ``cv2`` elsewhere, unless ``backend`` names one."""
    if backend != "auto":
        return backend
    return "torch" if str(device).startswith("cuda") else "cv2"


def make_resampler(backend: str, image: np.ndarray, roi: Roi, device: str = "cpu"):
    """The resampler of ``backend`` (``cv2`` or ``torch``) for ``image``'s region ``roi``."""
    if backend == "torch":
        return GridSampleResampler(image, roi, device)
    return RemapResampler(image, roi)
