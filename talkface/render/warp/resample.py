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
