"""VG-net: reference image + landmarks -> frames through an attention/colour blend
(docs/paper_facts.md#vg-net). Parameter names follow the authors' layout, so the ``original`` config
loads their ``generator_23.pth`` one for one.

Unlike the original (docs/paper_facts.md#convgru-recurrence) the ConvGRU recurs over time. ``recurrent=False``
gives the authors' inference semantics: every frame from a zero hidden state.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..motion.atnet import conv_bn
from ..weights.configs import VGNetConfig


def deconv_bn(cin, cout):
    return [nn.ConvTranspose2d(cin, cout, 3, 2, 1, output_padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]


class ResnetBlock(nn.Module):
    def __init__(self, dim, dropout=0.5):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.Conv2d(dim, dim, 3, padding=1, bias=False), nn.BatchNorm2d(dim), nn.ReLU(True), nn.Dropout(dropout),
            nn.Conv2d(dim, dim, 3, padding=1, bias=False), nn.BatchNorm2d(dim))

    def forward(self, x):
        return x + self.conv_block(x)


class ConvGRU(nn.Module):
    """One-layer convolutional GRU, 3x3 kernel, dilation 2, torch.nn.GRU gate order."""

    def __init__(self, cin, hidden, k=3, dilation=2):
        super().__init__()
        self.hidden = hidden
        self.pad = dilation * (k - 1) // 2
        self.dilation = dilation
        self.weight_ih_l0 = nn.Parameter(torch.empty(3 * hidden, cin, k, k))
        self.weight_hh_l0 = nn.Parameter(torch.empty(3 * hidden, hidden, k, k))
        self.bias_ih_l0 = nn.Parameter(torch.empty(3 * hidden))
        self.bias_hh_l0 = nn.Parameter(torch.empty(3 * hidden))
        bound = 1.0 / hidden ** 0.5
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def step(self, x, h=None):
        gi = F.conv2d(x, self.weight_ih_l0, self.bias_ih_l0, padding=self.pad, dilation=self.dilation)
        if h is None:
            # zero state: W_hh * h vanishes, its bias stays
            gh = self.bias_hh_l0.view(1, -1, 1, 1).expand_as(gi)
            h = torch.zeros_like(gi[:, : self.hidden])
        else:
            gh = F.conv2d(h, self.weight_hh_l0, self.bias_hh_l0, padding=self.pad, dilation=self.dilation)
        ir, iz, inn = gi.chunk(3, 1)
        hr, hz, hn = gh.chunk(3, 1)
        r = torch.sigmoid(ir + hr)
        z = torch.sigmoid(iz + hz)
        n = torch.tanh(inn + r * hn)
        return n + z * (h - n)


class VGNet(nn.Module):
    def __init__(self, cfg: VGNetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or VGNetConfig()
        g = cfg.ngf
        if cfg.size % 16:
            raise ValueError("VG-net size must be a multiple of 16")
        self.fmap = cfg.size // 16
        self.image_encoder1 = nn.Sequential(nn.ReflectionPad2d(3), conv_bn(3, g, 7, 1, 0), conv_bn(g, g, 3, 2, 1),
                                            conv_bn(g, 2 * g, 3, 2, 1))
        self.image_encoder2 = nn.Sequential(conv_bn(2 * g, 4 * g, 3, 2, 1), conv_bn(4 * g, 8 * g, 3, 2, 1))
        self.landmark_encoder = nn.Sequential(nn.Linear(cfg.n_points * 2, self.fmap * self.fmap), nn.ReLU(True))
        self.landmark_encoder_stage2 = nn.Sequential(conv_bn(1, 4 * g))
        self.lmark_att = nn.Sequential(
            nn.ConvTranspose2d(8 * g, 4 * g, 3, 2, 1, output_padding=1), nn.BatchNorm2d(4 * g), nn.ReLU(True),
            nn.ConvTranspose2d(4 * g, 2 * g, 3, 2, 1, output_padding=1), nn.BatchNorm2d(2 * g), nn.ReLU(True),
            nn.Sequential(nn.Conv2d(2 * g, 1, 3, 1, 1)), nn.Sigmoid())
        self.lmark_feature = nn.Sequential(conv_bn(4 * g, 8 * g))
        self.generator1 = nn.Sequential(*[ResnetBlock(8 * g, cfg.dropout) for _ in range(cfg.n_blocks)],
                                        *deconv_bn(8 * g, 4 * g), *deconv_bn(4 * g, 2 * g))
        self.base = nn.Sequential(*deconv_bn(2 * g, g), *deconv_bn(g, g // 2))
        self.generator_color = nn.Sequential(nn.Conv2d(g // 2, 3, 7, 1, 3), nn.Tanh())
        self.generator_attention = nn.Sequential(nn.Conv2d(g // 2, 1, 7, 1, 3), nn.Sigmoid())
        self.bottle_neck = nn.Sequential(conv_bn(16 * g, 2 * g))
        self.convGRU = ConvGRU(2 * g, 8 * g)

    # -- pieces, so that inference encodes the reference once -------------------------
    def _lmark_stage2(self, lm):  # (N, 136) -> (N, 4g, f, f)
        x = self.landmark_encoder(lm).view(-1, 1, self.fmap, self.fmap)
        return self.landmark_encoder_stage2(x)

    def encode_reference(self, image, example_landmark):
        """image (B,3,S,S) in [-1,1], example_landmark (B,136) -> cached reference features."""
        i1 = self.image_encoder1(image)
        i2 = self.image_encoder2(i1)
        ex2 = self._lmark_stage2(example_landmark)
        return {"image": image, "i1": i1, "i2": i2, "ex2": ex2, "exf": self.lmark_feature(ex2)}

    def render(self, ref, landmarks, h=None, recurrent=True):
        """Render frames for landmarks (B, T, 136) given ``encode_reference`` output.

        Returns (frames, attention, colors, att_p, h) with frames (B,T,3,S,S) in [-1,1].
        """
        b, t = landmarks.shape[:2]
        n = b * t

        def rep(x):  # (B, ...) -> (B*T, ...)
            return x.unsqueeze(1).expand(b, t, *x.shape[1:]).reshape(n, *x.shape[1:])

        l2 = self._lmark_stage2(landmarks.reshape(n, -1))
        att_p = self.lmark_att(torch.cat([l2, rep(ref["ex2"])], 1))
        feat = self.bottle_neck(torch.cat([rep(ref["i2"]), self.lmark_feature(l2) - rep(ref["exf"])], 1))
        if recurrent:
            feat = feat.view(b, t, *feat.shape[1:])
            outs = []
            for k in range(t):
                h = self.convGRU.step(feat[:, k], h)
                outs.append(h)
            g = torch.stack(outs, 1).reshape(n, *h.shape[1:])
        else:
            g = self.convGRU.step(feat, None)
        v = self.generator1(g)
        i1 = rep(ref["i1"])
        v = i1 * (1 - att_p) + v * att_p
        base = self.base(v)
        color = self.generator_color(base)
        alpha = self.generator_attention(base)
        img = rep(ref["image"])
        out = alpha * color + (1 - alpha) * img
        def shp(x, c):
            return x.view(b, t, c, x.shape[-2], x.shape[-1])

        return shp(out, 3), shp(alpha, 1), shp(color, 3), shp(att_p, 1), h

    def forward(self, image, landmarks, example_landmark, recurrent=True):
        ref = self.encode_reference(image, example_landmark)
        out, alpha, color, att_p, _ = self.render(ref, landmarks, recurrent=recurrent)
        return out, alpha, color, att_p
