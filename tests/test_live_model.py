"""A live MouthNet: asymmetric padding (``MouthNetConfig.lookahead``), the same in numpy and
torch, truly limited in what it reads ahead; the default symmetric model unchanged to the
byte; the shipped live weights; the motion streamed a few frames at a time equal to one
pass (:class:`talkface.live.motion.LiveMotion`)."""
from __future__ import annotations

import numpy as np
import pytest

from talkface.live.motion import Blinks, LiveMotion
from talkface.motion import mouthnet as MN
from talkface.motion.mouthnet import MouthNetConfig, NumpyMouthNet, predict_motion, smooth, speech_gate


def _random_net(cfg: MouthNetConfig, seed: int = 0) -> NumpyMouthNet:
    rng = np.random.default_rng(seed)
    sd = {k: (rng.standard_normal(s) * (0.3 if k.endswith("weight") else 0.05)).astype(np.float32)
          for k, s in NumpyMouthNet.keys(cfg).items()}
    for i in range(len(cfg.dilations)):
        sd[f"blocks.{i}.norm.weight"] = rng.uniform(0.5, 1.5, cfg.hidden).astype(np.float32)
    return NumpyMouthNet.from_state_dict(sd, cfg)


def _old_forward(net: NumpyMouthNet, x: np.ndarray) -> np.ndarray:
    """The numpy forward pass as it was before ``lookahead`` (symmetric padding only)."""
    w, b = net.inp
    h = x @ w + b
    k = net.cfg.kernel
    for (taps, bias, gamma, beta), dil in zip(net.blocks, net.cfg.dilations):
        pad = dil * (k - 1) // 2
        hp = np.pad(h, ((pad, pad), (0, 0)))
        n = len(hp) - dil * (k - 1)
        c = np.concatenate([hp[j * dil: j * dil + n] for j in range(k)], axis=1) @ taps + bias
        mu = c.mean(1, keepdims=True)
        c = c - np.float32(mu)
        var = (c * c).mean(1, keepdims=True)
        c = c / np.sqrt(var + MN.EPS) * gamma + beta
        h = h + MN.gelu(c)
    w, b = net.out
    return (h @ w + b).astype(np.float32)


def test_default_config_is_symmetric_and_its_outputs_unchanged_to_the_byte():
    cfg = MouthNetConfig()
    assert cfg.lookahead is None and cfg.pads() == [(2, 2), (4, 4), (8, 8), (16, 16), (2, 2)]
    assert cfg.past == cfg.future == cfg.context == 32
    net = _random_net(cfg)
    x = np.random.default_rng(1).standard_normal((300, cfg.n_in)).astype(np.float32)
    np.testing.assert_array_equal(net(x), _old_forward(net, x))
    assert MouthNetConfig.from_dict({**cfg.to_dict(), "lookahead": None}) == cfg
    assert MouthNetConfig.from_dict({k: v for k, v in cfg.to_dict().items() if k != "lookahead"}) == cfg


@pytest.mark.parametrize("la", [0, 2, 3, 10])
def test_lookahead_pads_and_what_an_output_reads(la):
    cfg = MouthNetConfig(lookahead=la)
    pads = cfg.pads()
    assert [a + b for a, b in pads] == [d * (cfg.kernel - 1) for d in cfg.dilations]  # each block's whole span
    assert cfg.future == la and cfg.past == 64 - la and cfg.context == 64 - la
    net = _random_net(cfg, la)
    x = np.random.default_rng(2).standard_normal((260, cfg.n_in)).astype(np.float32)
    y = net(x)
    x2 = x.copy()
    x2[130] += 3.0  # a change at frame 130 reaches frames 130 - future .. 130 + past, no others
    changed = np.nonzero(np.abs(net(x2) - y).max(1) > 1e-6)[0]
    assert changed.min() == 130 - la and changed.max() == 130 + cfg.past


def test_lookahead_out_of_range_is_refused():
    with pytest.raises(ValueError, match="lookahead 65"):
        MouthNetConfig(lookahead=65).pads()


def test_lookahead_torch_module_equals_numpy():
    torch = pytest.importorskip("torch")
    from talkface.train.networks.mouthnet import MouthNet

    for la in (None, 0, 2, 7):
        torch.manual_seed(0)
        m = MouthNet(MouthNetConfig(lookahead=la)).eval()
        with torch.no_grad():
            for b in m.blocks:
                b.norm.weight.uniform_(0.5, 1.5)
        x = np.random.default_rng(3).standard_normal((200, 50)).astype(np.float32)
        with torch.inference_mode():
            want = m(torch.from_numpy(x)[None])[0].numpy()
        np.testing.assert_allclose(NumpyMouthNet.from_torch(m)(x), want, atol=2e-5, rtol=1e-4)
        # the default keeps Conv1d's own padding (state dict and graph as before)
        assert (m.blocks[0].pad is None) == (la is None or la >= 2)


def test_training_windows_read_their_clips_context_as_inference_does():
    """A training window inside a longer clip reads the real features around it; where the
    clip ends inside the window the network sees exactly the zero padding an utterance's
    end gets at inference (``valid``): each window's outputs equal one inference pass over
    its clip (numpy, as generate and live run it)."""
    torch = pytest.importorskip("torch")
    from talkface.train.mouthnet import SEQ, _batch
    from talkface.train.networks.mouthnet import MouthNet

    class Item:
        def __init__(self, n, seed):
            r = np.random.default_rng(seed)
            self.n, self.x = n, r.standard_normal((n, 50)).astype(np.float32)
            self.voices, self.y = [self.x], r.standard_normal((n, 136)).astype(np.float32)
            self.valid, self.neutral = np.ones(n, np.float32), np.zeros(136, np.float32)

    items = [Item(75, 1), Item(400, 2), Item(90, 3)]  # a GRID clip, long footage, a clip a little longer
    for la in (None, 2):
        torch.manual_seed(0)
        m = MouthNet(MouthNetConfig(lookahead=la)).eval()
        cfg, net = m.cfg, NumpyMouthNet.from_torch(m)
        rng = np.random.default_rng(0)
        for _ in range(4):
            x, valid, y, _neu, mask = _batch(items, [0, 1, 2], rng, aug=False, past=cfg.past, future=cfg.future)
            assert x.shape[1] == cfg.past + SEQ + cfg.future and y.shape[1] == SEQ
            with torch.inference_mode():
                got = m(x, valid)[:, cfg.past: cfg.past + SEQ].numpy()
            for j, it in enumerate(items):
                # where this window starts in its clip: its scored frames are the clip's
                s = next(k for k in range(it.n - SEQ + 1) if np.array_equal(it.y[k:k + SEQ], y[j].numpy()))
                np.testing.assert_allclose(got[j], net(it.x)[s:s + SEQ], atol=3e-5, rtol=1e-4)
                assert mask[j].sum() == SEQ


def test_training_windows_at_another_speaking_rate_move_features_and_motion_together():
    """``train(stretch=...)`` (tried, not the shipped recipe) reads a window at another
    rate: features and target motion are the clip's at the same fractional frames, the
    loudness slope (per frame) scales with the rate, and a frame mixing a bad one is not
    scored."""
    pytest.importorskip("torch")
    from talkface.speech import phones as P
    from talkface.train.mouthnet import SEQ, _rate_window

    class Item:
        n = 300
        t = np.arange(300, dtype=np.float32)
        x = np.repeat(t[:, None], 50, 1)
        voices = [x]
        y = np.repeat(2 * t[:, None], 136, 1)
        valid = np.ones(300, bool)
        valid[100] = False

    slope = len(P.PHONES) + 1
    for seed in range(20):
        x, y, mask = _rate_window(Item, np.random.default_rng(seed), 0.2, voices=True)
        assert len(x) == len(y) == len(mask) <= SEQ and len(x) >= int(SEQ * np.exp(-0.2)) - 1
        step = np.diff(x[:, 0])
        assert np.allclose(step, step[0], atol=1e-3) and np.exp(-0.21) < step[0] < np.exp(0.21)
        np.testing.assert_allclose(y[:, 0], 2 * x[:, 0], rtol=1e-5)  # the motion at the features' frames
        np.testing.assert_allclose(x[:, slope], x[:, 0] * step[0], rtol=1e-4)
        assert np.array_equal(mask == 0, (x[:, 0] > 99) & (x[:, 0] < 101))


class _Feats:
    """Features arriving a few frames at a time (what LiveMotion reads)."""

    def __init__(self, f):
        self.f, self.n = f, 0

    def window(self, a, b):
        return self.f[a: min(b, self.n)]


def _streamed(net, basis, gain, f, step):
    lm, src, out, done = LiveMotion(net, basis, gain), _Feats(f), [], 0
    while done < len(f):
        src.n = min(len(f), src.n + step)
        r = lm.ready(src.n, src.n == len(f))
        if r > done:
            out.append(lm.motion(src, done, r))
            done = r
    return np.concatenate(out), lm


def _features(n=400, seed=4):
    rng = np.random.default_rng(seed)
    f = np.zeros((n, 50), np.float32)
    f[np.arange(n), rng.integers(0, 40, n)] = 1.0
    pause = (np.arange(n) // 60) % 2 == 0
    f[pause, :40] = np.eye(40, dtype=np.float32)[0]  # silence ...
    f[:, 40] = np.where(pause, -4.0, 0.0)  # ... and quiet, then speech
    f[:, 41:] = rng.standard_normal((n, 9)) * 0.5
    return f


@pytest.mark.parametrize("step", [1, 7])
def test_shipped_symmetric_model_streamed_equals_one_pass(step):
    from talkface import weights as W

    net = W.load("talkface-open").atnet
    f = _features()
    got, lm = _streamed(net, net.basis, net.gain, f, step)
    assert lm.latency_frames == 33 and lm.lead == MN.LEAD
    np.testing.assert_array_equal(got, predict_motion(net, net.basis, f, net.gain))


def test_shipped_live_model_looks_two_frames_ahead_and_streams_as_one_pass():
    from talkface import weights as W

    w = W.load("talkface-live")
    net = w.atnet
    assert net.cfg.lookahead == 2 and net.cfg.future == 2 and net.cfg.past == 62
    f = _features()
    got, lm = _streamed(net, net.basis, net.gain, f, 1)
    assert lm.latency_frames == 3 and lm.lead == 1  # 2 frames of the model, 1 of the smoothing: 120 ms
    want = smooth(net(f) @ net.basis.T) * speech_gate(f, lm.lead)[:, None] * net.gain
    np.testing.assert_allclose(got, want, atol=1e-6)
    t = np.arange(len(f)) % 60
    deep = (f[:, 40] < 0) & (t > MN.LAG + 3) & (t < 60 - lm.lead - 3)  # pauses, away from speech
    assert np.abs(got[deep]).max() == 0.0 and np.abs(got[f[:, 40] == 0]).max() > 0.01  # the gate closes pauses
    val = w.entry["validation"]["atnet"]["landmark_level"]
    assert val["grid_s3"]["corr"] > 0.65 and val["heldout_grid_s1"]["corr"] > 0.8


def test_blinks_come_every_two_to_six_seconds_and_never_end():
    b = Blinks(seed=3)
    c = np.array([b.closure(i) for i in range(25 * 600)])  # ten minutes
    starts = np.nonzero((c > 0) & (np.r_[0, c[:-1]] == 0))[0]
    gaps = np.diff(starts) / 25.0
    assert 100 < len(starts) < 320 and gaps.min() >= 1.9 and gaps.max() <= 6.3
    assert c.max() == 1.0
