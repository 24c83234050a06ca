"""The ``warp`` renderer: moves the portrait's own pixels along the predicted landmark
motion, for faces the neural renderer has never seen (paintings, cartoons, strangers).

Per frame:

* **Motion field.** A thin-plate spline through the 68 landmarks plus fixed anchors on
  a box around the face gives each pixel's displacement. The spline's control points
  are the portrait's own landmarks, so its kernel is solved once; a frame costs one
  (grid x 68) @ (68 x 2) product on a coarse grid. That forward field is inverted by
  three fixed-point steps on the coarse grid, faded to exactly zero towards the box
  edge (so nothing outside the box moves and there is no seam by construction),
  upsampled and applied with one resampling pass over the face's region of interest,
  at the portrait's full resolution.
* **Mouth interior.** Where the mouth opens wider than in the portrait, a cavity is
  painted inside the inner lips: a dark tone from the lips' own darker pixels, upper
  teeth whose colour comes from the portrait's eye whites (when it has light ones),
  a tongue from the lip colour, all with soft edges.
* **Eyelids.** When the landmark sequence closes an eye (``motion.add_blinks``), the
  eye itself is not squashed; an eyelid in the skin colour sampled just above the eye
  slides down over it with a soft edge and a lash line in the portrait's own darkest
  lid colour.

Backends: on CUDA the resampling is ``torch.nn.functional.grid_sample`` on the GPU; on
CPU it is ``cv2.remap``, which measured faster than CPU ``grid_sample`` on the same
region (see ``bench/portraits.py --speed``). Both use the same motion field.
"""
from __future__ import annotations

from typing import Iterator

import cv2
import numpy as np

from .face.template import MOUTH_RATIO

INNER = list(range(60, 68))
LOWER_FACE = list(range(3, 14)) + list(range(48, 68))
MOUTH_REF = [27, 28, 29, 30, 36, 39, 42, 45]  # still points: head motion, not articulation
EYES = (list(range(36, 42)), list(range(42, 48)))
BROWS = (list(range(17, 22)), list(range(22, 27)))


def _tps_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return np.where(d2 > 0, 0.5 * d2 * np.log(d2 + 1e-20), 0.0)


def _lum(c) -> float:
    c = np.asarray(c, np.float64)
    return float(c @ [0.299, 0.587, 0.114])


def _lid_curve(p4: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """y on the parabola through four lid points (corner, two lid points, corner)."""
    a = np.polyfit(p4[:, 0], p4[:, 1], 2)
    return np.polyval(a, xs)


class WarpRenderer:
    """Renders full frames of ``image`` with its 68 ``points`` moved to new positions."""

    def __init__(self, image: np.ndarray, points: np.ndarray, grid: int | None = None, device: str = "cpu",
                 backend: str = "auto", reg: float = 1e-3):
        self.image = np.ascontiguousarray(image)
        self.src = np.asarray(points, np.float64)
        h, w = image.shape[:2]
        x0, y0 = self.src.min(0)
        x1, y1 = self.src.max(0)
        fw, fh = x1 - x0, y1 - y0
        # region of interest: the face box grown so the border anchors sit on still skin/background
        self.x0 = int(max(0, np.floor(x0 - 0.35 * fw)))
        self.x1 = int(min(w, np.ceil(x1 + 0.35 * fw)))
        self.y0 = int(max(0, np.floor(y0 - 0.45 * fh)))
        self.y1 = int(min(h, np.ceil(y1 + 0.45 * fh)))
        rw, rh = self.x1 - self.x0, self.y1 - self.y0
        if rw < 2 or rh < 2 or not np.isfinite(self.src).all():
            from .errors import InputError

            raise InputError(f"the face's 68 points ({x0:.0f}..{x1:.0f} x {y0:.0f}..{y1:.0f}) lie outside the "
                             f"{w}x{h} portrait; give landmarks in this portrait's pixels (talkface landmarks "
                             "IMAGE -o face.json)")
        self.rw, self.rh = rw, rh
        k = 6
        border = [(self.x0 + rw * i / k, self.y0) for i in range(k + 1)] + \
                 [(self.x0 + rw * i / k, self.y1 - 1) for i in range(k + 1)] + \
                 [(self.x0, self.y0 + rh * i / k) for i in range(1, k)] + \
                 [(self.x1 - 1, self.y0 + rh * i / k) for i in range(1, k)]
        self.anchors = np.array(border, np.float64)
        # coarse grid: about one node every 6 px, 24..64 per side
        self.gx = grid or int(np.clip(rw / 6, 24, 64))
        self.gy = grid or int(np.clip(rh / 6, 24, 64))
        gx = np.linspace(self.x0, self.x1 - 1, self.gx)
        gy = np.linspace(self.y0, self.y1 - 1, self.gy)
        self.sx = (self.x1 - 1 - self.x0) / (self.gx - 1)
        self.sy = (self.y1 - 1 - self.y0) / (self.gy - 1)
        grid_pts = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
        # thin-plate spline with the portrait's landmarks as control points: solve once
        ctrl = np.concatenate([self.src, self.anchors])
        n = len(ctrl)
        scale = max(fw, fh, 1.0)  # kernel in face units keeps the system well conditioned
        c = ctrl / scale
        L = np.zeros((n + 3, n + 3))
        L[:n, :n] = _tps_kernel(c, c) + reg * np.eye(n)
        L[:n, n] = 1
        L[:n, n + 1:] = c
        L[n, :n] = 1
        L[n + 1:, :n] = c.T
        g = grid_pts / scale
        U = np.concatenate([_tps_kernel(g, c), np.ones((len(g), 1)), g], 1)
        self.field = (U @ np.linalg.inv(L)[:, :68]).astype(np.float32)  # (G, 68): displacement per landmark move
        # fade to zero over the outer 12 % of the box: exact stillness at its edge
        ux = np.minimum(np.arange(self.gx), np.arange(self.gx)[::-1]) / max(1.0, 0.12 * (self.gx - 1))
        uy = np.minimum(np.arange(self.gy), np.arange(self.gy)[::-1]) / max(1.0, 0.12 * (self.gy - 1))
        sm = lambda u: (lambda v: v * v * (3 - 2 * v))(np.clip(u, 0, 1))  # noqa: E731
        self.window = (sm(uy)[:, None] * sm(ux)[None, :]).astype(np.float32)[..., None]
        self.gmx, self.gmy = [a.astype(np.float32) for a in np.meshgrid(np.arange(self.gx), np.arange(self.gy))]
        self.xs, self.ys = [a.astype(np.float32) for a in np.meshgrid(np.arange(self.x0, self.x1),
                                                                      np.arange(self.y0, self.y1))]
        self.face_scale = float(np.linalg.norm(self.src[45] - self.src[36])) or max(fw, 1.0) * 0.4
        self._mouth_setup()
        self._eye_setup()
        self.device = device
        self.backend = ("torch" if str(device).startswith("cuda") else "cv2") if backend == "auto" else backend
        if self.backend == "torch":
            self._torch_setup(device)

    # ------------------------------------------------------------------ colours sampled once
    def _mouth_setup(self):
        img, src = self.image, self.src
        lips = src[48:60].astype(np.int32)
        m = np.zeros(img.shape[:2], np.uint8)
        cv2.fillPoly(m, [lips], 1)
        lip_col = img[m > 0].reshape(-1, 3).astype(np.float32)
        if len(lip_col):  # the darker lip pixels: teeth of a smiling portrait must not tint the cavity
            lip_col = lip_col[np.argsort(lip_col.sum(1))][: max(1, len(lip_col) // 3)]
            lip = np.median(lip_col, 0)
        else:
            lip = np.array([150, 80, 80], np.float32)
        self.cavity = np.clip(lip * 0.4 + np.array([14, 3, 4]), 0, 255).astype(np.float32)
        self.tongue = np.clip(lip * 0.55 + np.array([60, 20, 25]) * 0.5, 0, 255).astype(np.float32)
        self.skin = self._sample(src[[29, 30]].mean(0), 3)
        # teeth: from the portrait's eye whites when it has light, unsaturated ones
        white = np.array([232, 226, 214], np.float32)
        m[:] = 0
        for e in EYES:
            cv2.fillPoly(m, [src[e].astype(np.int32)], 1)
        eye = img[m > 0].reshape(-1, 3).astype(np.float32)
        if len(eye) >= 8:
            lum = eye @ np.float32([0.299, 0.587, 0.114])
            top = eye[lum >= np.percentile(lum, 80)].mean(0)
            if _lum(top) > 150 and np.ptp(top) < 60:
                white = 0.6 * top + 0.4 * white
        self.teeth = np.clip(0.85 * white + 0.15 * self.skin, 0, 255).astype(np.float32) * 0.92
        self.src_gap = self._gap(src)
        iod = np.linalg.norm(src[42:48].mean(0) - src[36:42].mean(0))
        ratio = np.linalg.norm(src[54] - src[48]) / max(iod, 1e-6) / MOUTH_RATIO
        self.mouth_gain = float(np.clip(ratio, 0.5, 1.3)) if abs(ratio - 1) > 0.2 else 1.0

    def _sample(self, xy, r: int) -> np.ndarray:
        h, w = self.image.shape[:2]
        x, y = int(round(xy[0])), int(round(xy[1]))
        p = self.image[max(0, y - r):min(h, y + r + 1), max(0, x - r):min(w, x + r + 1)].reshape(-1, 3)
        return np.median(p, 0).astype(np.float32) if len(p) else np.array([200, 170, 150], np.float32)

    def _eye_setup(self):
        """Per eye: open height, the eyelid's texture source (the skin band between the
        upper lid and the brow, mirrored down over the eye), a flat lid colour (median
        of a ring around the upper half of the eye) where that band is not skin, and the
        lash colour (darkest pixels along the upper lid)."""
        self.lids = []
        img = self.image
        for eye, brow in zip(EYES, BROWS):
            p = self.src[eye]
            ew = float(np.linalg.norm(p[3] - p[0]))
            eh = float(np.mean([p[5, 1] - p[1, 1], p[4, 1] - p[2, 1]]))
            h, w = img.shape[:2]
            if ew < 4 or eh < 0.12 * ew or p.min() < 0 or p[:, 0].max() > w - 1 or p[:, 1].max() > h - 1:
                # already closed, degenerate, or (part of) the eye outside the image: leave it alone
                self.lids.append(None)
                continue
            margin = 0.1 * ew + 1.0
            x0, y0 = p.min(0) - (0.6 * ew, 0.6 * ew)
            x1, y1 = p.max(0) + (0.6 * ew, 0.6 * ew)
            x0, y0 = int(max(0, x0)), int(max(0, y0))
            x1, y1 = int(min(img.shape[1], x1)), int(min(img.shape[0], y1))
            q = (p - (x0, y0)).astype(np.float32)
            hull = cv2.convexHull(np.round(q).astype(np.int32))
            inner = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.fillConvexPoly(inner, hull, 1)
            r1, r2 = max(3, int(0.2 * ew)) | 1, max(5, int(0.5 * ew)) | 1
            ring = cv2.dilate(inner, np.ones((r2, r2), np.uint8)) - cv2.dilate(inner, np.ones((r1, r1), np.uint8))
            ring[int(q[:, 1].mean()):] = 0  # upper half: the lid, not the cheek
            pix = img[y0:y1, x0:x1][ring > 0].reshape(-1, 3)
            lid = np.median(pix, 0).astype(np.float32) if len(pix) else self.skin
            pin = img[y0:y1, x0:x1][inner > 0].reshape(-1, 3)
            if len(pin) and float(np.linalg.norm(np.median(pin, 0) - lid)) < 40:
                # the ring is not skin: the points sit inside a bigger drawn eye (or on
                # glasses); a painted lid would not cover it, so this eye does not blink
                self.lids.append(None)
                continue
            xs = p[0, 0] + (p[3, 0] - p[0, 0]) * np.linspace(0.2, 0.8, 7)
            up = _lid_curve(p[[0, 1, 2, 3]], xs)
            # a dark ring (outlines of a drawing, shadowed sockets, makeup) would paint a
            # black eye: then the skin under the eye gives the lid its colour
            cheek = np.median([self._sample((x, yl + 0.3 * ew), 1)
                               for x, yl in zip(xs, _lid_curve(p[[3, 4, 5, 0]], xs))], 0).astype(np.float32)
            if _lum(lid) < 0.7 * _lum(cheek):
                lid = cheek
            if _lum(lid) < 0.55 * _lum(self.skin):  # dark all round the eye: the face's skin tone
                lid = (0.8 * self.skin + 0.2 * lid).astype(np.float32)
            b = self.src[brow][np.argsort(self.src[brow, 0])]
            brow_y = np.interp(xs, b[:, 0], b[:, 1])
            avail = min(eh + 2 * margin, 0.8 * float(np.min(up - margin - brow_y)))
            mirror = False
            for _ in range(4):  # the band must be plain lid skin: no brow, hair or liner in it
                if avail < max(3.0, 0.4 * eh):
                    break
                if self._band_ok(xs, up - margin, avail, lid):
                    mirror = True
                    break
                avail *= 0.7
            line = np.array([self._sample((x, y), 1) for x, y in zip(xs, up)])
            lash = line[np.argmin(line @ [0.299, 0.587, 0.114])].astype(np.float32)
            if _lum(lash) > _lum(lid) - 40:
                lash = lid * 0.35
            self.lids.append({"eye": eye, "ew": ew, "eh": eh, "lid": lid, "lash": lash,
                              "avail": float(avail) if mirror else 0.0})

        if any(lid is None for lid in self.lids):  # both eyes or neither: never a wink
            self.lids = [None, None]

    def _band_ok(self, xs, top, avail, lid) -> bool:
        h, w = self.image.shape[:2]
        ys = top[:, None] - 0.3 * avail - np.linspace(0, 0.7 * avail, 6)[None, :]
        xi = np.clip(np.round(np.broadcast_to(xs[:, None], ys.shape)).astype(int), 0, w - 1)
        yi = np.clip(np.round(ys).astype(int), 0, h - 1)
        px = self.image[yi, xi].reshape(-1, 3).astype(np.float32)
        med = np.median(px, 0)
        lum = px @ np.float32([0.299, 0.587, 0.114])
        near = min(float(np.linalg.norm(med - lid)), float(np.linalg.norm(med - self.skin))) < 60
        dark = float(np.percentile(lum, 8))  # a few lash or crease pixels are fine; a brow is not
        return near and dark > 0.4 * _lum(med)

    # ------------------------------------------------------------------ geometry
    @staticmethod
    def _gap(p):
        return float(np.mean(p[[65, 66, 67], 1] - p[[63, 62, 61], 1]))

    def _closure(self, dst, info) -> float:
        e = info["eye"]
        gap = float(np.mean([dst[e[5], 1] - dst[e[1], 1], dst[e[4], 1] - dst[e[2], 1]]))
        return float(np.clip(1 - gap / info["eh"], 0, 1))

    def flow(self, dst: np.ndarray) -> np.ndarray:
        """Backward map offsets (rh, rw, 2) float32 of the ROI: output px -> portrait px."""
        fwd = (self.field @ (dst - self.src).astype(np.float32)).reshape(self.gy, self.gx, 2)
        b = -fwd
        for _ in range(3):  # invert y = x + F(x): B(y) = -F(y + B(y))
            mx = self.gmx + b[..., 0] / self.sx
            my = self.gmy + b[..., 1] / self.sy
            b = -cv2.remap(fwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        b *= self.window
        return b

    def _effective(self, dst: np.ndarray):
        """Targets for the warp (eyes kept open: the lid is painted) and eye closures.

        The mouth and chin motion is scaled by the portrait's mouth width relative to
        a human mouth (template.MOUTH_RATIO): AT-net predicts a person's articulation,
        which a cartoon's tiny or huge mouth should follow in proportion."""
        eff = np.array(dst, np.float64)
        if self.mouth_gain != 1.0:
            base = self.src[MOUTH_REF].mean(0)
            move = eff[MOUTH_REF].mean(0) - base  # head motion: leave it as it is
            eff[LOWER_FACE] = eff[LOWER_FACE] - move
            eff[LOWER_FACE] = self.src[LOWER_FACE] + (eff[LOWER_FACE] - self.src[LOWER_FACE]) * self.mouth_gain + move
        closures = []
        for e, info in zip(EYES, self.lids):
            closures.append(0.0 if info is None else self._closure(eff, info))
            shift = eff[[e[0], e[3]]].mean(0) - self.src[[e[0], e[3]]].mean(0)
            eff[e] = self.src[e] + shift
        return eff, closures

    # ------------------------------------------------------------------ frame
    def frame(self, dst: np.ndarray) -> np.ndarray:
        dst, closures = self._effective(dst)
        b = self.flow(dst)
        roi = self._resample(b)
        self._paint_mouth(roi, dst)
        for info, c in zip(self.lids, closures):
            if info is not None and c > 0.04:
                self._paint_lid(roi, dst, info, c)
        out = self.image.copy()
        out[self.y0:self.y1, self.x0:self.x1] = roi
        return out

    def _resample(self, b: np.ndarray) -> np.ndarray:
        if self.backend == "torch":
            return self._resample_torch(b)
        f = cv2.resize(b, (self.rw, self.rh), interpolation=cv2.INTER_LINEAR)
        return cv2.remap(self.image, self.xs + f[..., 0], self.ys + f[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT)

    def _torch_setup(self, device):
        import torch

        self.torch = torch
        self.t_img = torch.as_tensor(np.array(self.image), device=device).permute(2, 0, 1)[None].float()
        h, w = self.image.shape[:2]
        ys = torch.linspace(self.y0, self.y1 - 1, self.rh, device=device)
        xs = torch.linspace(self.x0, self.x1 - 1, self.rw, device=device)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        self.t_base = torch.stack([gx, gy], -1)[None]  # (1, rh, rw, 2) pixels
        self.t_norm = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], device=device)

    def _resample_torch(self, b: np.ndarray) -> np.ndarray:
        torch = self.torch
        F = torch.nn.functional
        with torch.no_grad():
            tb = torch.as_tensor(b, device=self.t_img.device).permute(2, 0, 1)[None]
            f = F.interpolate(tb, size=(self.rh, self.rw), mode="bilinear", align_corners=True)
            g = (self.t_base + f.permute(0, 2, 3, 1)) * self.t_norm - 1
            out = F.grid_sample(self.t_img, g, mode="bilinear", padding_mode="reflection", align_corners=True)
            return out[0].permute(1, 2, 0).add_(0.5).clamp_(0, 255).to(torch.uint8).cpu().numpy()

    # ------------------------------------------------------------------ painting
    def _box(self, pts, mx, my_top, my_bot):
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        bx0 = int(max(0, np.floor(x0 - mx - self.x0)))
        bx1 = int(min(self.rw, np.ceil(x1 + mx - self.x0) + 1))
        by0 = int(max(0, np.floor(y0 - my_top - self.y0)))
        by1 = int(min(self.rh, np.ceil(y1 + my_bot - self.y0) + 1))
        return bx0, by0, bx1, by1

    def _paint_mouth(self, roi: np.ndarray, dst: np.ndarray):
        opening = self._gap(dst) - self.src_gap
        if opening <= 0.01 * self.face_scale:
            return
        inner = dst[INNER]
        k = max(3, int(self.face_scale * 0.04) | 1)
        bx0, by0, bx1, by1 = self._box(inner, k + 2, k + 2, k + 2)
        if bx1 <= bx0 or by1 <= by0:
            return
        bw, bh = bx1 - bx0, by1 - by0
        org = np.array([self.x0 + bx0, self.y0 + by0])
        pi = inner - org
        m = np.zeros((bh, bw), np.float32)
        cv2.fillPoly(m, [np.round(pi * 4).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=2)
        m = cv2.GaussianBlur(m, (k, k), 0)
        strength = 0.92 * float(np.clip(opening / (0.08 * self.face_scale), 0, 1))
        width = float(np.ptp(pi[:, 0]))
        top = pi[1:4].mean(0)
        bot = pi[5:8].mean(0)
        # upper teeth under the upper inner lip, tongue resting on the lower one
        t = np.zeros((bh, bw), np.float32)
        cv2.ellipse(t, (int(round(top[0])), int(round(top[1]))),
                    (max(1, int(width * 0.40)), max(1, int(opening * 0.38) + 1)), 0, 0, 180, 1.0, -1, cv2.LINE_AA)
        t = cv2.GaussianBlur(t, (k, k), 0)
        g = np.zeros((bh, bw), np.float32)
        cv2.ellipse(g, (int(round(bot[0])), int(round(bot[1]))),
                    (max(1, int(width * 0.32)), max(1, int(opening * 0.35) + 1)), 0, 180, 360, 1.0, -1,
                    cv2.LINE_AA)
        g = cv2.GaussianBlur(g, (k | 1, k | 1), 0) * (1 - t) * 0.8
        # the cavity is darkest at the back: a vertical falloff towards the middle
        yy = (np.arange(bh, dtype=np.float32)[:, None] - top[1]) / max(1.0, bot[1] - top[1])
        shade = (0.75 + 0.25 * np.abs(np.clip(yy, 0, 1) - 0.5) * 2)[..., None]
        fill = self.cavity * shade
        fill = fill * (1 - t[..., None]) + self.teeth * t[..., None]
        fill = fill * (1 - g[..., None]) + self.tongue * g[..., None]
        if self.src_gap > 0.04 * self.face_scale:
            # the portrait's mouth is already open (a smile showing teeth): the warp stretches
            # its own teeth, and only the gap a wider jaw opens between the rows is painted
            band = np.zeros((bh, bw), np.float32)
            mid = (top + bot) / 2
            cv2.ellipse(band, (int(round(mid[0])), int(round(mid[1]))),
                        (max(1, int(width * 0.36)), max(1, int(opening * 0.5))), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
            m = m * cv2.GaussianBlur(band, (k, k), 0)
            fill = self.cavity * shade
        a = (m * strength)[..., None]
        sub = roi[by0:by1, bx0:bx1].astype(np.float32)
        roi[by0:by1, bx0:bx1] = np.clip(sub + (fill - sub) * a + 0.5, 0, 255).astype(np.uint8)

    def _paint_lid(self, roi: np.ndarray, dst: np.ndarray, info: dict, c: float):
        e = info["eye"]
        p = dst[e]
        ew, eh = info["ew"], info["eh"]
        margin = 0.1 * ew + 1.0
        bx0, by0, bx1, by1 = self._box(p, 0.15 * ew + 2, margin + 0.3 * eh + 3, 0.1 * ew + 3)
        if bx1 <= bx0 or by1 <= by0:
            return
        bw, bh = bx1 - bx0, by1 - by0
        org = np.array([self.x0 + bx0, self.y0 + by0])
        q = p - org
        xs = np.linspace(q[0, 0] - 0.06 * ew, q[3, 0] + 0.06 * ew, 24)
        up = _lid_curve(q[[0, 1, 2, 3]], xs)
        low = _lid_curve(q[[3, 4, 5, 0]], xs)
        u = (xs - xs.mean()) / max(1e-6, (xs[-1] - xs[0]) / 2)
        # the lid reaches a little past the upper lash line (more at the corners, where a
        # parabola runs inside round, outlined cartoon eyes) and, closed, past the lower one
        top = up - margin - 0.25 * eh * u * u
        edge = up + c * (np.maximum(low - up, 0) + 0.03 * ew)
        poly = np.concatenate([np.stack([xs, top], 1), np.stack([xs[::-1], edge[::-1]], 1)])
        m = np.zeros((bh, bw), np.float32)
        cv2.fillPoly(m, [np.round(poly * 4).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=2)
        k = max(3, int(0.08 * ew) | 1)
        m = cv2.GaussianBlur(m, (k, k), 0)
        cols = np.arange(bw, dtype=np.float32)
        top_c = np.interp(cols, xs, up - margin)[None, :]
        yy = np.arange(bh, dtype=np.float32)[:, None] - top_c  # depth below the lid's top line
        sub = roi[by0:by1, bx0:bx1]
        avail = info["avail"]
        if avail > 0:
            # the skin band above the eye, mirrored down (folded to stay inside the band)
            # rows from the band's upper part: clear of the lash line and liner
            lo, span = 0.3 * avail, 0.7 * avail
            t = np.mod(np.maximum(yy, 0), 2 * span)
            t = np.where(t > span, 2 * span - t, t)
            mx = np.broadcast_to(cols[None, :] + bx0, yy.shape).astype(np.float32)
            my = (top_c + by0 - lo - t).astype(np.float32)
            lid = cv2.remap(roi, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
            lid = 0.6 * lid + 0.4 * info["lid"]  # texture, with mirrored creases toned down
        else:
            lid = np.broadcast_to(info["lid"], (bh, bw, 3)).astype(np.float32)
        depth = np.clip(yy / max(1.0, float(np.max(edge - up)) + margin), 0, 1)
        lid = lid * (1 - 0.08 * depth[..., None])
        lash = np.zeros((bh, bw), np.float32)
        th = max(1, int(round(0.06 * ew)))
        cv2.polylines(lash, [np.round(np.stack([xs[2:-2], edge[2:-2]], 1) * 4).astype(np.int32)], False, 1.0,
                      th, cv2.LINE_AA, shift=2)
        lash = cv2.GaussianBlur(lash, (3, 3), 0) * min(1.0, c * 2.5)
        subf = sub.astype(np.float32)
        out = subf + (lid - subf) * m[..., None]
        out = out + (info["lash"] - out) * lash[..., None]
        roi[by0:by1, bx0:bx1] = np.clip(out + 0.5, 0, 255).astype(np.uint8)


def choose_renderer(renderer: str, pipeline: dict, face) -> str:
    """What ``--renderer auto`` means for one portrait (README, "Renderers").

    ``neural`` only when both hold: the weights' VG-net was trained on many identities
    (their manifest's pipeline says ``"vgnet_identities": "many"``) and the face is a
    photo-like one that a photo detector (dlib or FAN) found. Otherwise ``warp``:
    talkface's default VG-net saw a single GRID speaker and does not draw unseen
    speakers' mouths (weights/MODEL_CARD.md), and faces found only by the cartoon fit,
    a template or a landmarks file are drawings, far from any VG-net's training photos.
    """
    if renderer != "auto":
        return renderer
    many = str((pipeline or {}).get("vgnet_identities", "one")) == "many"
    return "neural" if many and getattr(face, "detector", "") in ("dlib", "fan") else "warp"


def render_warp(image: np.ndarray, points: np.ndarray, seq: np.ndarray, device: str = "cpu") -> Iterator[np.ndarray]:
    """Yield full-resolution frames for the (T, 68, 2) landmark sequence ``seq`` (image px)."""
    r = WarpRenderer(image, points, device=device)
    for dst in seq:
        yield r.frame(dst)
