"""Render stage: landmark sequences -> face crops with VG-net (the ``neural`` renderer).

Frames are produced in batches and yielded one by one, so a caller can stream them to
the encoder; the reference image is encoded once and the ConvGRU state is carried from
batch to batch.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..runtime.torch_needed import require_torch

require_torch("the neural renderer (VG-net, --renderer neural)")  # one line, not an ImportError, without it
import torch  # noqa: E402


def to_tensor(img_rgb: np.ndarray, device, dtype=torch.float32) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(img_rgb)).permute(2, 0, 1)[None].to(device)
    return t.to(dtype) / 127.5 - 1.0


def rebatch(seq, batch: int) -> Iterator[np.ndarray]:
    """(k, D) arrays of ``batch`` rows from an (T, D) array or an iterable of (k_i, D) chunks."""
    if isinstance(seq, np.ndarray):
        for s in range(0, len(seq), batch):
            yield seq[s:s + batch]
        return
    buf, have = [], 0
    for c in seq:
        buf.append(np.asarray(c))
        have += len(c)
        while have >= batch:
            cat = np.concatenate(buf)
            yield cat[:batch]
            buf, have = [cat[batch:]], have - batch
    if have:
        yield np.concatenate(buf)


@torch.inference_mode()
def render_neural(vgnet, ref_crop: np.ndarray, ref_norm: np.ndarray, seq_norm, device,
                  batch: int = 32, recurrent: bool = True, half: bool = False
                  ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (colour crop uint8 RGB, attention float32 HxW) per frame.

    ``ref_crop`` is the aligned reference (S x S RGB), ``ref_norm`` its flat landmarks and
    ``seq_norm`` the (T, 136) landmark sequence (an array, or an iterable of chunks as AT-net
    streams them), both in the weights' landmark space. The caller blends colour over the
    reference with the attention (docs/paper_facts.md#vg-net).
    """
    dtype = torch.float16 if half else torch.float32
    net = vgnet.to(device=device, dtype=dtype)
    ref = net.encode_reference(to_tensor(ref_crop, device, dtype),
                               torch.as_tensor(ref_norm, dtype=dtype, device=device).reshape(1, -1))
    h = None
    for chunk in rebatch(seq_norm, batch):
        lm = torch.as_tensor(chunk, dtype=dtype, device=device)[None]
        _, alpha, color, _, h = net.render(ref, lm, h, recurrent=recurrent)
        col = ((color[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        att = alpha[0, :, 0].float().cpu().numpy()
        yield from zip(col, att)
        if not recurrent:
            h = None
