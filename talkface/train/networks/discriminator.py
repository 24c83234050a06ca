"""Regression discriminator of ATVG-net (docs/paper_facts.md#discriminator): a realness score per clip and
a landmark regression per frame. Parameter names follow the authors' layout."""
from __future__ import annotations

import torch
from torch import nn

from ...motion.atnet import conv_bn
from ...weights.configs import DiscriminatorConfig


class Discriminator(nn.Module):
    def __init__(self, cfg: DiscriminatorConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or DiscriminatorConfig()
        d = cfg.ndf
        p = cfg.n_points * 2
        self.image_encoder_dis = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, d, 3, 2, 1), nn.ReLU(True)),
            conv_bn(d, 2 * d, 3, 2, 1), conv_bn(2 * d, 4 * d, 3, 2, 1), conv_bn(4 * d, 8 * d, 3, 2, 1))
        f = cfg.size // 16
        self.encoder = nn.Sequential(nn.Linear(p, 256), nn.ReLU(True), nn.Linear(256, 512), nn.ReLU(True))
        self.decoder = nn.Sequential(nn.Linear(1024, 512), nn.ReLU(True), nn.Linear(512, p), nn.Tanh())
        self.img_fc = nn.Sequential(nn.Linear(8 * d * f * f, 512), nn.ReLU(True))
        self.lstm = nn.LSTM(1024, cfg.hidden, cfg.lstm_layers, batch_first=True)
        self.lstm_fc = nn.Sequential(nn.Linear(cfg.hidden, p), nn.Tanh())
        self.decision = nn.Sequential(nn.Linear(cfg.hidden, 1))

    def forward(self, xs, example_landmark):
        """xs (B,T,3,S,S), example_landmark (B,136) -> realness (B,), landmarks (B,T,136).

        The realness is averaged over all T steps (the original's AvgPool1d(16) for T=16).
        """
        b, t = xs.shape[:2]
        f = self.image_encoder_dis(xs.reshape(b * t, *xs.shape[2:]))
        f = self.img_fc(f.reshape(b * t, -1)).view(b, t, -1)
        e = self.encoder(example_landmark)
        y, _ = self.lstm(torch.cat([e.unsqueeze(1).expand(b, t, e.shape[-1]), f], 2))
        lm = self.lstm_fc(y) + example_landmark.unsqueeze(1)
        score = torch.sigmoid(self.decision(y).squeeze(-1).mean(1))
        return score, lm
