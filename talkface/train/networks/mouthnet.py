"""MouthNet as a torch module: what ``talkface train atnet`` trains. Inference needs no
torch: :class:`talkface.motion.mouthnet.NumpyMouthNet` runs the same weights."""
from __future__ import annotations

import torch
from torch import nn

from ...motion.mouthnet import MouthNetConfig


class _Block(nn.Module):
    def __init__(self, ch: int, k: int, dil: int, drop: float, norm: str = "layer", pad: tuple | None = None):
        super().__init__()
        # pad (left, right): a live model's asymmetric padding (MouthNetConfig.lookahead); None: symmetric
        self.pad = None if pad is None or pad[0] == pad[1] else (int(pad[0]), int(pad[1]))
        self.conv = nn.Conv1d(ch, ch, k, padding=0 if self.pad else dil * (k - 1) // 2, dilation=dil)
        self.group = norm == "group"
        # layer: per frame, the output depends on +-context frames only (chunks = one pass);
        # group: statistics over the whole utterance (predict_motion then runs it in one pass)
        self.norm = nn.GroupNorm(1, ch) if self.group else nn.LayerNorm(ch)
        self.act = nn.GELU()
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        h = self.conv(x if self.pad is None else nn.functional.pad(x, self.pad))
        h = self.norm(h) if self.group else self.norm(h.transpose(1, 2)).transpose(1, 2)
        return x + self.drop(self.act(h))


class MouthNet(nn.Module):
    def __init__(self, cfg: MouthNetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or MouthNetConfig()
        self.inp = nn.Conv1d(cfg.n_in, cfg.hidden, 1)
        self.blocks = nn.Sequential(*[_Block(cfg.hidden, cfg.kernel, d, cfg.dropout, cfg.norm, p)
                                      for d, p in zip(cfg.dilations, cfg.pads())])
        self.out = nn.Conv1d(cfg.hidden, cfg.n_pca, 1)

    @property
    def context(self) -> int:
        """Frames of context on each side."""
        return self.cfg.context

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, n_in) -> (B, T, n_pca). ``valid`` (B, T), 1 where a sample has audio: the
        hidden activations elsewhere are held at zero before every convolution, which is
        exactly the zero padding an utterance's own ends get at inference, so a training
        window cut from a longer clip can carry the real context around it (read, not
        scored) beside clips that end inside the window."""
        h = self.inp(x.transpose(1, 2))
        if valid is None:
            return self.out(self.blocks(h)).transpose(1, 2)
        m = valid[:, None, :].to(h.dtype)
        h = h * m
        for block in self.blocks:
            h = block(h) * m
        return self.out(h).transpose(1, 2)
