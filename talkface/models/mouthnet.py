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
    norm: str = "layer"  # "layer": per frame; "group": over the whole utterance (one pass)

    def to_dict(self):
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**d)


class _Block(nn.Module):
    def __init__(self, ch: int, k: int, dil: int, drop: float, norm: str = "layer"):
        super().__init__()
        self.conv = nn.Conv1d(ch, ch, k, padding=dil * (k - 1) // 2, dilation=dil)
        self.group = norm == "group"
        # layer: per frame, the output depends on +-context frames only (chunks = one pass);
        # group: statistics over the whole utterance (predict_motion then runs it in one pass)
        self.norm = nn.GroupNorm(1, ch) if self.group else nn.LayerNorm(ch)
        self.act = nn.GELU()
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        h = self.conv(x)
        h = self.norm(h) if self.group else self.norm(h.transpose(1, 2)).transpose(1, 2)
        return x + self.drop(self.act(h))


class MouthNet(nn.Module):
    def __init__(self, cfg: MouthNetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or MouthNetConfig()
        self.inp = nn.Conv1d(cfg.n_in, cfg.hidden, 1)
        self.blocks = nn.Sequential(*[_Block(cfg.hidden, cfg.kernel, d, cfg.dropout, cfg.norm) for d in cfg.dilations])
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


LOUD, SIL = 40, 0  # columns of the normalised loudness and of silence in talkface.phones' features
LEAD, LAG = 8, 5  # frames the mouth may move before the sound starts and after it ends


def speech_gate(feats: np.ndarray) -> np.ndarray:
    """(T,) 0..1: 0 in pauses, 1 near speech. A frame is silent when the recogniser hears
    silence there and it is quiet (loudness more than about 2.2 spreads below the speech
    level); the gate opens LEAD frames (0.32 s) before speech and closes LAG frames (0.2 s)
    after it, with soft edges. The motion is multiplied by it, so the lips rest closed in
    pauses whatever the model makes of them. (Real mouths part before a sentence: on
    GRID s2/s3 a tighter gate cost correlation, docs/lipsync.md.)"""
    f = np.asarray(feats, np.float32)
    act = np.maximum(np.clip((f[:, LOUD] + 2.2) / 0.6, 0.0, 1.0), np.clip((0.8 - f[:, SIL]) / 0.5, 0.0, 1.0))
    n = len(act)
    pad = np.concatenate([np.zeros(LAG, np.float32), act, np.zeros(LEAD, np.float32)])
    held = np.max(np.stack([pad[i:i + n] for i in range(LAG + LEAD + 1)]), 0)
    k = np.array([1, 2, 3, 2, 1], np.float32) / 9
    return np.convolve(np.pad(held, 2, mode="edge"), k, mode="valid")


def predict_motion(model: MouthNet, basis: np.ndarray, feats: np.ndarray, gain: float = 1.0,
                   device="cpu", chunk: int = 3000) -> np.ndarray:
    """(T, 136) landmark motion (normalised crop units) from (T, n_in) speech features,
    gated by :func:`speech_gate`. Long audio runs in overlapping chunks, so memory stays
    flat; the result equals one pass."""
    model.eval()
    ctx = model.context
    if model.cfg.norm == "group":  # utterance statistics: one pass (15 MB of activations per 20 min)
        chunk = max(chunk, len(feats))
    b = torch.from_numpy(np.asarray(basis, np.float32)).to(device)
    outs, n = [], len(feats)
    with torch.inference_mode():
        for s in range(0, max(n, 1), chunk):
            a, e = max(0, s - ctx), min(n, s + chunk + ctx)
            x = torch.from_numpy(np.ascontiguousarray(feats[a:e], np.float32)).to(device)[None]
            c = model(x)[0, s - a: s - a + min(chunk, n - s)]
            outs.append((c @ b.T).float().cpu().numpy())
    m = np.concatenate(outs) if outs else np.zeros((0, b.shape[0]), np.float32)
    if len(m):
        m = smooth(m) * speech_gate(feats)[:, None]
    return (m * gain).astype(np.float32)


CLOSED = 0.01  # inner-lip opening of a closed mouth, inter-ocular distances


def _signed_gap(flat: np.ndarray) -> float:
    """Inner-lip gap (lower minus upper lip, negative when they would cross) over the
    inter-ocular distance."""
    p = flat.reshape(68, 2)
    gap = np.mean(p[[67, 66, 65], 1] - p[[61, 62, 63], 1])
    return float(gap / max(np.linalg.norm(p[45] - p[36]), 1e-6))


def close_mouth(ref_norm: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """The portrait's points with its mouth closed, when the portrait shows it open (a
    photo taken mid-sentence): the motion is relative to a closed mouth, so it is added to
    this, and pauses show closed lips. The mouth is closed along the motion basis' own
    jaw-and-lip direction (its first component), so the jaw rises with the lips."""
    ref = np.asarray(ref_norm, np.float32).reshape(-1)
    g0 = _signed_gap(ref)
    if g0 <= CLOSED * 2:
        return ref
    b = np.asarray(basis, np.float32)[:, 0]
    d = -b if _signed_gap(ref + 0.01 * b) > g0 else b  # the sign that closes it
    lo, hi = 0.0, 0.0
    step = 0.01
    while _signed_gap(ref + hi * d) > CLOSED and hi < 2.0:  # bracket, then bisect
        lo, hi = hi, hi + step
        step *= 2
    for _ in range(30):
        mid = (lo + hi) / 2
        if _signed_gap(ref + mid * d) > CLOSED:
            lo = mid
        else:
            hi = mid
    return (ref + hi * d).astype(np.float32)


def predict_chunks(model: MouthNet, basis: np.ndarray, ref_norm: np.ndarray, feats: np.ndarray, gain: float = 1.0,
                   device="cpu", first: int = 50, chunk: int = 200):
    """Landmarks (k, 136) a chunk at a time: the portrait's points (mouth closed) plus the
    motion."""
    motion = predict_motion(model, basis, feats, gain, device)
    ref = close_mouth(ref_norm, basis).reshape(1, -1)
    s = 0
    while s < len(motion):
        e = min(len(motion), s + (first if s == 0 else chunk))
        yield ref + motion[s:e]
        s = e
