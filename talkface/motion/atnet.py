"""AT-net: MFCC windows + identity landmark coefficients -> landmark PCA coefficients
(docs/paper_facts.md#at-net). Parameter names follow the authors' layout, so the ``original`` config
loads their ``atnet_lstm_18.pth`` one for one."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..weights.configs import ATNetConfig
from .pca import LandmarkPCA


def conv_bn(cin, cout, k=3, s=1, p=1):
    """Conv (no bias) -> BatchNorm -> ReLU, the authors' ``ops.conv2d``."""
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, p, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))


class ATNet(nn.Module):
    def __init__(self, cfg: ATNetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or ATNetConfig()
        h1, h2 = cfg.lmark_hidden
        self.lmark_encoder = nn.Sequential(nn.Linear(cfg.n_pca, h1), nn.ReLU(True), nn.Linear(h1, h2), nn.ReLU(True))
        c = cfg.conv_channels
        self.audio_eocder = nn.Sequential(
            conv_bn(1, c[0]), conv_bn(c[0], c[1]), nn.MaxPool2d(3, stride=(1, 2)),
            conv_bn(c[1], c[2]), conv_bn(c[2], c[3]), conv_bn(c[3], c[4]), nn.MaxPool2d(3, stride=2))
        hh, ww = cfg.window - 2, (cfg.n_mfcc - 3) // 2 + 1
        hh, ww = (hh - 3) // 2 + 1, (ww - 3) // 2 + 1
        self.flat = c[4] * hh * ww
        self.audio_eocder_fc = nn.Sequential(nn.Linear(self.flat, cfg.fc_hidden), nn.ReLU(True),
                                             nn.Linear(cfg.fc_hidden, cfg.audio_feat), nn.ReLU(True))
        self.lstm = nn.LSTM(h2 + cfg.audio_feat, cfg.lstm_hidden, cfg.lstm_layers, batch_first=True)
        self.lstm_fc = nn.Sequential(nn.Linear(cfg.lstm_hidden, cfg.n_pca))

    def forward(self, example_landmark: torch.Tensor, audio: torch.Tensor, state=None):
        """example_landmark (B, n_pca), audio (B, T, window, n_mfcc) -> (B, T, n_pca), state."""
        b, t = audio.shape[:2]
        lf = self.lmark_encoder(example_landmark)
        a = self.audio_eocder(audio.reshape(b * t, 1, audio.shape[2], audio.shape[3]))
        a = self.audio_eocder_fc(a.reshape(b * t, -1)).reshape(b, t, -1)
        x = torch.cat([lf.unsqueeze(1).expand(b, t, lf.shape[-1]), a], dim=2)
        if state is None:
            z = x.new_zeros(self.cfg.lstm_layers, b, self.cfg.lstm_hidden)
            state = (z, z)
        y, state = self.lstm(x, state)
        return self.lstm_fc(y), state


def predict_iter(model, pca: LandmarkPCA, ref_norm: np.ndarray, feats, device="cpu", chunk: int = 200,
                 first: int = 50):
    """Landmarks in norm space, a chunk of frames at a time ((k, 136) float32 arrays): the
    reference plus the predicted motion. ``feats`` is an (T, 28, 12) array or an
    :class:`talkface.speech.audio.Features`; the LSTM state carries over between chunks, so the
    result equals one pass over the whole utterance. The first chunk is short so that
    rendering can start early."""
    model.eval()
    with torch.inference_mode():
        c_ref = torch.from_numpy(pca.project(ref_norm)).float().to(device)
        basis = torch.from_numpy(pca.basis).float().to(device)
    ref = np.asarray(ref_norm, np.float32)[None]
    window = feats.window if hasattr(feats, "window") else (lambda a, b: feats[a:b])
    state, s, n = None, 0, len(feats)
    while s < n:
        e = min(n, s + (first if s == 0 else chunk))
        with torch.inference_mode():
            a = torch.from_numpy(np.ascontiguousarray(window(s, e), np.float32)).to(device)[None]
            d, state = model(c_ref, a, state)
            out = (d[0] @ basis.T).float().cpu().numpy()
        yield ref + out
        s = e


def predict(model, pca: LandmarkPCA, ref_norm: np.ndarray, feats, device="cpu", chunk: int = 500):
    """Landmarks (T, 136) in norm space: the reference plus the predicted motion."""
    return np.concatenate(list(predict_iter(model, pca, ref_norm, feats, device, chunk)))
