"""VG-net with landmark maps: the paper's attention/colour blend (docs/paper_facts.md#vg-net)
driven by landmarks drawn as images instead of a landmark vector.

Why (weights/MODEL_CARD.md, issue 16): the authors' VG-net encodes 136 landmark numbers
through a fully connected layer into a 8x8 map; on CPU budgets its attention collapses and
it copies the reference. Here each landmark group (jaw, brows, nose, eyes, outer lips,
inner lips) of the target and of the reference is drawn as a Gaussian map at the crop's
resolution, so where the mouth must change is where the input changes. A small U-Net
reads reference image + both maps in a window around the lips and chin and returns colour
and attention there; as in the paper the frame is ``attention * colour + (1 - attention) *
reference`` (outside the window: the reference). Frames are independent (the landmark
sequence is already smooth), so any batch of frames renders in one pass.

Same interface as :class:`~talkface.render.vgnet.VGNet` (``encode_reference`` /
``render``), so the neural renderer and the trainer take either.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..weights.configs import VGNetConfig

# landmark groups, one map each: jaw, brows, nose, eyes, outer lips, inner lips
GROUPS = ((0, 17), (17, 27), (27, 36), (36, 48), (48, 60), (60, 68))


def landmark_maps(lm: torch.Tensor, size: int, sigma: float = 1.5) -> torch.Tensor:
    """(N, 136) normalised landmarks (``face.shape.to_norm``) -> (N, 6, size, size) maps:
    per group the max over its points of a Gaussian of ``sigma`` pixels."""
    n = lm.shape[0]
    p = lm.reshape(n, 68, 2) * size + size / 2.0 - 0.5  # pixel centres
    ax = torch.arange(size, device=lm.device, dtype=lm.dtype)
    gx = torch.exp(-((ax.view(1, 1, -1) - p[..., 0:1]) ** 2) / (2 * sigma ** 2))  # (N, 68, S)
    gy = torch.exp(-((ax.view(1, 1, -1) - p[..., 1:2]) ** 2) / (2 * sigma ** 2))
    maps = []
    for a, b in GROUPS:
        g = gy[:, a:b, :, None] * gx[:, a:b, None, :]  # (N, k, S, S)
        maps.append(g.amax(1))
    return torch.stack(maps, 1)


def _block(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.GroupNorm(8, cout), nn.SiLU(True),
                         nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.GroupNorm(8, cout), nn.SiLU(True))


class _Res(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.GroupNorm(8, c), nn.SiLU(True),
                                  nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.GroupNorm(8, c))

    def forward(self, x):
        return F.silu(x + self.body(x))


class MapVGNet(nn.Module):
    """U-Net over [reference RGB, reference maps, target maps] -> colour + attention.
    The first layer halves the resolution and the last works at full resolution on
    the upsampled features plus the inputs, so the cost per frame stays low on CPUs."""

    def __init__(self, cfg: VGNetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or VGNetConfig(arch="maps")
        g = cfg.ngf
        if cfg.size % 16:
            raise ValueError("VG-net size must be a multiple of 16")
        ch = (g, 2 * g, 4 * g, 6 * g)  # S/2, S/4, S/8, S/16
        cin = 3 + 2 * len(GROUPS)
        self.enc = nn.ModuleList([nn.Sequential(nn.Conv2d(cin, ch[0], 4, 2, 1), nn.SiLU(True))]
                                 + [_block(ch[i - 1], ch[i], 2) for i in range(1, 4)])
        self.mid = nn.Sequential(*[_Res(ch[3]) for _ in range(cfg.n_blocks)])
        self.dec = nn.ModuleList([_block(ch[i + 1] + ch[i], ch[i], 1) for i in reversed(range(3))])
        self.head = nn.Sequential(nn.Conv2d(ch[0] + cin, g // 2, 3, 1, 1), nn.SiLU(True))
        self.generator_color = nn.Sequential(nn.Conv2d(g // 2, 3, 3, 1, 1), nn.Tanh())
        self.generator_attention = nn.Conv2d(g // 2, 1, 3, 1, 1)

    def encode_reference(self, image, example_landmark):
        """image (B,3,S,S) in [-1,1], example_landmark (B,136) -> cached reference inputs
        and the window the network draws in (``cfg.window`` pixels square around the lips and
        chin of the reference; the rest of the frame is the reference)."""
        return {"image": image, "maps": landmark_maps(example_landmark, self.cfg.size),
                "box": mouth_window(example_landmark, self.cfg.size, self.cfg.window)}

    def forward_window(self, image, ref_maps, maps, fade):
        """The U-Net on one window: image (N,3,h,w), both maps (N,6,h,w), ``fade`` (1,1,h,w) or
        (N,1,h,w) from :func:`feather` -> colour, attention."""
        inp = torch.cat([image, ref_maps, maps], 1)
        x, skips = inp, []
        for e in self.enc:
            x = e(x)
            skips.append(x)
        x = self.mid(skips.pop())
        for d in self.dec:
            sk = skips.pop()
            x = d(torch.cat([F.interpolate(x, size=sk.shape[-2:], mode="nearest"), sk], 1))
        x = self.head(torch.cat([F.interpolate(x, size=inp.shape[-2:], mode="bilinear", align_corners=False), inp],
                                1))
        alpha = torch.sigmoid(self.generator_attention(x)) * fade
        return self.generator_color(x), alpha

    def render(self, ref, landmarks, h=None, recurrent=True):
        """Frames for landmarks (B, T, 136): (frames, attention, colours, attention, None),
        frames (B,T,3,S,S) in [-1,1]; ``h``/``recurrent`` are accepted for VGNet's interface."""
        b, t = landmarks.shape[:2]
        n, s = b * t, self.cfg.size

        def rep(x):
            return x.unsqueeze(1).expand(b, t, *x.shape[1:]).reshape(n, *x.shape[1:])

        img = rep(ref["image"])
        maps = landmark_maps(landmarks.reshape(n, -1), s)
        y0, x0, h, w = box = ref["box"]
        win = (slice(None), slice(None), slice(y0, y0 + h), slice(x0, x0 + w))
        color_w, alpha_w = self.forward_window(img[win], rep(ref["maps"])[win], maps[win],
                                               feather(box, s, img.device, img.dtype))
        color = img.clone()
        color[win] = color_w
        alpha = torch.zeros_like(img[:, :1])
        alpha[win] = alpha_w
        out = alpha * color + (1 - alpha) * img

        def shp(v, c):
            return v.view(b, t, c, s, s)

        return shp(out, 3), shp(alpha, 1), shp(color, 3), shp(alpha, 1), None

    def forward(self, image, landmarks, example_landmark, recurrent=True):
        ref = self.encode_reference(image, example_landmark)
        out, alpha, color, att, _ = self.render(ref, landmarks)
        return out, alpha, color, att


def mouth_window(lm: torch.Tensor, size: int, hw) -> tuple[int, int, int, int]:
    """(y0, x0, h, w): an ``hw`` = (h, w) window inside the crop, centred between the lips
    and the chin of the first landmark set in ``lm`` (..., 136)."""
    p = lm.reshape(-1, 68, 2)[0].float() * size + size / 2.0
    c = (p[48:68].mean(0) + p[8]) / 2
    h, w = min(int(hw[0]), size), min(int(hw[1]), size)
    x0 = int(round(float(c[0]) - w / 2))
    y0 = int(round(float(c[1]) - h / 2))
    return min(max(y0, 0), size - h), min(max(x0, 0), size - w), h, w


def feather(box, size: int, device=None, dtype=torch.float32, edge: int = 6) -> torch.Tensor:
    """(1,1,h,w) for window ``box`` = (y0, x0, h, w): 1 inside, falling linearly to 0 over
    ``edge`` pixels at each border that lies inside the crop, so the window blends into the
    reference without a seam (a border on the crop's edge stays 1)."""
    y0, x0, h, w = box

    def ramp(n, start):
        r = torch.arange(n, device=device, dtype=dtype)
        lo = torch.clamp((r + 0.5) / edge, 0, 1) if start > 0 else torch.ones(n, device=device, dtype=dtype)
        hi = torch.clamp((n - r - 0.5) / edge, 0, 1) if start + n < size else torch.ones(n, device=device,
                                                                                          dtype=dtype)
        return torch.minimum(lo, hi)

    return (ramp(h, y0)[:, None] * ramp(w, x0)[None, :])[None, None]


def build_vgnet(cfg: VGNetConfig):
    """The VG-net of ``cfg.arch``: ``vgnet`` (the authors' layout) or ``maps``."""
    if cfg.arch == "maps":
        return MapVGNet(cfg)
    from .vgnet import VGNet

    return VGNet(cfg)
