"""MouthNet: talkface's speaker-independent AT-net (docs/lipsync.md).

Input per 25 fps frame: phone occupancy from a many-voice phone recogniser, loudness and
its slope, utterance-normalised mel bands (:mod:`talkface.phones`). A stack of dilated,
non-causal 1-D convolutions (about +-1.2 s of context: the mouth moves ahead of the sound
it makes) maps them to landmark-motion PCA coefficients relative to a closed, neutral
mouth; a calibrated gain keeps the spread of the motion at a real mouth's.

Prediction lives here: :func:`predict_motion` gives the (T, 136) motion in the weights'
normalised crop space, and :func:`predict_chunks` the landmarks, a chunk at a time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class MouthNetConfig:
    n_in: int = 50
    n_pca: int = 10
    hidden: int = 128
    kernel: int = 5
    dilations: tuple = (1, 2, 4, 8, 1)
    dropout: float = 0.1

    def to_dict(self):
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**d)


class _Block(nn.Module):
    def __init__(self, ch: int, k: int, dil: int, drop: float):
        super().__init__()
        self.conv = nn.Conv1d(ch, ch, k, padding=dil * (k - 1) // 2, dilation=dil)
        self.norm = nn.LayerNorm(ch)  # per frame: the output depends on +-context frames only
        self.act = nn.GELU()
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        h = self.norm(self.conv(x).transpose(1, 2)).transpose(1, 2)
        return x + self.drop(self.act(h))


class MouthNet(nn.Module):
    def __init__(self, cfg: MouthNetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or MouthNetConfig()
        self.inp = nn.Conv1d(cfg.n_in, cfg.hidden, 1)
        self.blocks = nn.Sequential(*[_Block(cfg.hidden, cfg.kernel, d, cfg.dropout) for d in cfg.dilations])
        self.out = nn.Conv1d(cfg.hidden, cfg.n_pca, 1)

    @property
    def context(self) -> int:
        """Frames of context on each side."""
        return sum(d * (self.cfg.kernel - 1) // 2 for d in self.cfg.dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, n_in) -> (B, T, n_pca)."""
        h = self.blocks(self.inp(x.transpose(1, 2)))
        return self.out(h).transpose(1, 2)


def smooth(x: np.ndarray) -> np.ndarray:
    """[1 2 1]/4 along time: removes frame-to-frame jitter, keeps a 3-frame closure."""
    if len(x) < 3:
        return x
    p = np.concatenate([x[:1], x, x[-1:]])
    return (p[:-2] + 2 * p[1:-1] + p[2:]) / 4.0


def predict_motion(model: MouthNet, basis: np.ndarray, feats: np.ndarray, gain: float = 1.0,
                   device="cpu", chunk: int = 3000) -> np.ndarray:
    """(T, 136) landmark motion (normalised crop units) from (T, n_in) speech features.
    Long audio runs in overlapping chunks, so memory stays flat; the result equals one pass."""
    model.eval()
    ctx = model.context
    b = torch.from_numpy(np.asarray(basis, np.float32)).to(device)
    outs, n = [], len(feats)
    with torch.inference_mode():
        for s in range(0, max(n, 1), chunk):
            a, e = max(0, s - ctx), min(n, s + chunk + ctx)
            x = torch.from_numpy(np.ascontiguousarray(feats[a:e], np.float32)).to(device)[None]
            c = model(x)[0, s - a: s - a + min(chunk, n - s)]
            outs.append((c @ b.T).float().cpu().numpy())
    m = np.concatenate(outs) if outs else np.zeros((0, b.shape[0]), np.float32)
    return (smooth(m) * gain).astype(np.float32)


def predict_chunks(model: MouthNet, basis: np.ndarray, ref_norm: np.ndarray, feats: np.ndarray, gain: float = 1.0,
                   device="cpu", first: int = 50, chunk: int = 200):
    """Landmarks (k, 136) a chunk at a time: the portrait's points plus the motion."""
    motion = predict_motion(model, basis, feats, gain, device)
    ref = np.asarray(ref_norm, np.float32).reshape(1, -1)
    s = 0
    while s < len(motion):
        e = min(len(motion), s + (first if s == 0 else chunk))
        yield ref + motion[s:e]
        s = e
