"""Landmark PCA: flat 136-vectors <-> a few coefficients (docs/paper_facts.md#pca)."""
from __future__ import annotations

import numpy as np


class LandmarkPCA:
    """coeffs = (scale * x - mean) @ basis ; x = (coeffs @ basis.T + mean) / scale.

    ``boost`` multiplies predicted coefficients before reconstruction (the authors'
    [1, 2.2, 2.4, 2.6, 2.8, 3.0]); ones for talkface's own weights.
    """

    def __init__(self, mean, basis, scale: float = 1.0, boost=None):
        self.mean = np.asarray(mean, np.float32).reshape(-1)
        self.basis = np.asarray(basis, np.float32)
        self.scale = float(scale)
        k = self.basis.shape[1]
        self.boost = np.ones(k, np.float32) if boost is None else np.asarray(boost, np.float32).reshape(k)

    @property
    def k(self) -> int:
        return self.basis.shape[1]

    def project(self, x):
        x = np.asarray(x, np.float32).reshape(-1, self.mean.size)
        return (self.scale * x - self.mean) @ self.basis

    def reconstruct(self, c, boost: bool = False):
        c = np.asarray(c, np.float32).reshape(-1, self.k)
        if boost:
            c = c * self.boost
        return (c @ self.basis.T + self.mean) / self.scale

    @classmethod
    def fit(cls, x, k: int):
        x = np.asarray(x, np.float64).reshape(len(x), -1)
        mean = x.mean(0)
        _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
        return cls(mean, vt[:k].T), (s[:k] ** 2 / (s ** 2).sum())
