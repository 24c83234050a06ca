"""VG-net's training windows (``talkface train vgnet``): :class:`VGData` draws, from the
prepared clips, T consecutive aligned crops, their landmarks and an example frame + landmark
of the same clip; with ``predicted``, landmarks driven by the AT-net's motion predicted from
each clip's speech; with ``jitter``, the alignment shaken."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..face.shape import to_norm


class VGData:
    def __init__(self, items, speech=None):
        """``speech``: (MouthNet, basis, gain) of the weights the renderer will be driven by;
        each clip's landmark motion is then predicted from its speech features once (for
        ``sample``'s ``predicted``)."""
        self.items: list = []
        self.motion: list[Any] = []  # per clip: the predicted motion, or None
        for it in items:
            m = np.load(it / "meta.npz")
            frames = np.load(it / "frames.npy", mmap_mode="r")
            n = min(len(frames), len(m["points"]))
            self.items.append((frames, to_norm(m["points"][:n], int(m["size"])).astype(np.float32), n))
            self.motion.append(_predicted_motion(it, m["wav"], n, speech) if speech is not None else None)
        self.size = self.items[0][0].shape[1]
        self.basis: Any = speech[1] if speech is not None else None

    def sample(self, rng, batch, t, jitter: float = 0.0, predicted: float = 0.0):
        """``batch`` windows of ``t`` frames + an example frame of the same clip.
        ``jitter``: one random similarity per window (shift up to ``jitter`` x size, scale
        1 +- jitter, rotation up to 60 x jitter degrees) applied to the frames, the example
        and their landmarks alike, so the renderer sees faces aligned a little off.
        ``predicted``: the share of windows whose input landmarks are the ones generation
        would give them (the example's points with the mouth closed + the AT-net motion
        predicted from the clip's speech) instead of the tracked ones. With it, returns a
        fifth tensor: the input landmarks (the tracked ones elsewhere)."""
        imgs, lms, exi, exl, ins = [], [], [], [], []
        for _ in range(batch):
            k = int(rng.integers(len(self.items)))
            frames, norm, n = self.items[k]
            s = int(rng.integers(0, n - t + 1))
            r = int(rng.integers(0, n))
            clip = np.asarray(frames[s:s + t], np.float32)
            ex = np.asarray(frames[r], np.float32)
            # colour jitter shared by the example and the targets (identity variety)
            gain = rng.uniform(0.8, 1.2, size=3).astype(np.float32)
            bias = rng.uniform(-20, 20, size=3).astype(np.float32)
            clip = np.clip(clip * gain + bias, 0, 255)
            ex = np.clip(ex * gain + bias, 0, 255)
            lm, el = norm[s:s + t], norm[r]
            li = lm
            if predicted and self.motion[k] is not None and rng.random() < predicted:
                from ..motion.mouthnet import close_mouth

                li = (close_mouth(el, self.basis)[None] + self.motion[k][s:s + t]).astype(np.float32)
            if jitter:
                clip, ex, both, el = _jitter(rng, jitter, clip, ex, np.concatenate([lm, li]), el)
                lm, li = both[:t], both[t:]
            imgs.append(clip)
            exi.append(ex)
            lms.append(lm)
            exl.append(el)
            ins.append(li)
        to = lambda a: torch.from_numpy(np.stack(a))
        x = to(imgs).permute(0, 1, 4, 2, 3) / 127.5 - 1
        e = to(exi).permute(0, 3, 1, 2) / 127.5 - 1
        if predicted:
            return x.contiguous(), to(lms), e.contiguous(), to(exl), to(ins)
        return x.contiguous(), to(lms), e.contiguous(), to(exl)


def _predicted_motion(item: Path, wav: np.ndarray, n: int, speech) -> np.ndarray:
    """(n, 136) AT-net motion of a prepared clip, from its speech (``wav``: meta.npz's)."""
    from ..motion.mouthnet import predict_motion
    from .mouthnet import clip_speech

    model, basis, gain = speech
    m = predict_motion(model, basis, clip_speech(item, wav), gain)[:n]
    if len(m) < n:
        m = np.concatenate([m, np.repeat(m[-1:], n - len(m), 0)])
    return m.astype(np.float32)


def _jitter(rng, amount, clip, ex, lm, el):
    import cv2

    size = clip.shape[1]
    c = size / 2.0
    m = cv2.getRotationMatrix2D((c, c), float(rng.uniform(-60, 60) * amount),
                                float(1 + rng.uniform(-amount, amount)))
    m[:, 2] += rng.uniform(-amount, amount, 2) * size

    def warp(img):
        return cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    def pts(norm):
        p = norm.reshape(*norm.shape[:-1], 68, 2) * size + c
        p = p @ m[:, :2].T + m[:, 2]
        return (((p - c) / size).reshape(norm.shape)).astype(np.float32)

    return np.stack([warp(f) for f in clip]), warp(ex), pts(lm), pts(el)
