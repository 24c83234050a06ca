"""MouthNet in numpy (the default weights' AT-net at generate time) against the torch
module it was trained as, and the default warp path without torch."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from helpers import ROOT
from talkface.speech import phones as P

SHIPPED = ROOT / "talkface" / "assets" / "weights"


def _in_fresh_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)


# GELU against the exact x * Phi(x) computed in float64: float32 rounding of the result plus
# a few ulps of erf (torch's vectorised erf differs by CPU: 1.06e-6 off at x = -3.47 on some
# Intel Xeons, 1.2e-6 on AMD EPYC) pass; the tanh approximation (up to 4.7e-4 off, near
# x = -2.7) fails by far, so the check still tells the two apart on any CPU.
GELU_ATOL, GELU_RTOL = 1e-5, 1e-5
GELU_X = np.concatenate([np.linspace(-12, 12, 100_001), [-1e6, -8.0, -3.46968, 0.0, 8.0, 1e6]]).astype(np.float32)


def _exact_gelu(x: np.ndarray) -> np.ndarray:
    return np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in np.asarray(x, np.float64).reshape(-1)])


def _tanh_gelu(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def _is_exact_gelu(got: np.ndarray, x: np.ndarray = GELU_X) -> bool:
    return bool(np.allclose(np.asarray(got, np.float64), _exact_gelu(x), rtol=GELU_RTOL, atol=GELU_ATOL))


def test_gelu_is_the_exact_one():
    from talkface.motion.mouthnet import gelu

    got = gelu(GELU_X)
    assert got.dtype == np.float32
    assert _is_exact_gelu(got)
    # our own float32 code (no CPU-specific kernels): within float32 rounding of the exact value
    np.testing.assert_allclose(got, _exact_gelu(GELU_X), rtol=2e-6, atol=2e-6)
    assert gelu(GELU_X.reshape(-1, 1)).shape == (len(GELU_X), 1)


def test_the_gelu_check_takes_any_cpus_erf_but_not_the_tanh_form():
    exact = _exact_gelu(GELU_X)
    off = exact.copy()
    off[np.argmin(np.abs(GELU_X + 3.46968))] += 1.06e-6  # torch's GELU on an Intel Xeon
    assert _is_exact_gelu(off.astype(np.float32))
    assert _is_exact_gelu((exact + 3e-6 * np.sign(np.sin(GELU_X))).astype(np.float32))  # a few ulps anywhere
    assert not _is_exact_gelu(_tanh_gelu(GELU_X).astype(np.float32))


def test_torchs_gelu_is_the_exact_one_too():
    """The numpy GELU is the function MouthNet was trained with: torch's ``nn.GELU()``."""
    torch = pytest.importorskip("torch")

    t = torch.from_numpy(GELU_X)
    assert _is_exact_gelu(torch.nn.functional.gelu(t).numpy())
    assert _is_exact_gelu(torch.nn.GELU()(t).numpy())
    assert not _is_exact_gelu(torch.nn.functional.gelu(t, approximate="tanh").numpy())


@pytest.mark.parametrize("cfg", [
    dict(n_in=P.N_FEATURES),  # the shipped layout
    dict(n_in=P.N_FEATURES, norm="group"),
    dict(n_in=P.N_FEATURES, n_pca=4, hidden=24, kernel=3, dilations=(1, 3, 2)),
    dict(n_in=P.N_FEATURES, n_pca=4, hidden=24, kernel=7, dilations=(2, 1), norm="group"),
])
def test_numpy_mouthnet_equals_torch(cfg):
    import torch

    from talkface.motion.mouthnet import MouthNetConfig, NumpyMouthNet, predict_chunks, predict_motion
    from talkface.train.networks.mouthnet import MouthNet

    torch.manual_seed(0)
    c = MouthNetConfig(**cfg)
    m = MouthNet(c)
    with torch.no_grad():  # norms away from their identity init, as after training
        for b in m.blocks:
            b.norm.weight.uniform_(0.5, 1.5)
            b.norm.bias.uniform_(-0.3, 0.3)
    m.eval()
    nm = NumpyMouthNet.from_torch(m)
    assert nm.context == m.context
    rng = np.random.default_rng(1)
    x = rng.standard_normal((333, c.n_in)).astype(np.float32)
    with torch.inference_mode():
        want = m(torch.from_numpy(x)[None])[0].numpy()
    got = nm(x)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=2e-5, rtol=1e-4)
    basis = rng.standard_normal((136, c.n_pca)).astype(np.float32) * 0.01
    for chunk in (37, 3000):
        np.testing.assert_allclose(predict_motion(nm, basis, x, 1.3, chunk=chunk),
                                   predict_motion(m, basis, x, 1.3, chunk=chunk), atol=1e-6)
    ref = np.zeros(136, np.float32)
    got = np.concatenate(list(predict_chunks(nm, basis, ref, x, 1.3, first=5, chunk=50)))
    np.testing.assert_allclose(got, predict_motion(m, basis, x, 1.3) + ref, atol=1e-6)
    assert predict_motion(nm, basis, x[:0]).shape == (0, 136)
    assert predict_motion(nm, basis, x[:1]).shape == (1, 136)


def test_shipped_weights_numpy_equals_torch_on_real_speech():
    """The default weights as generate runs them (numpy) and as trained (torch), on the
    example speech: the same motion (an ensemble's: the mean of its torch networks')."""
    from dataclasses import replace

    from talkface import weights as W
    from talkface.motion.mouthnet import MouthNetConfig, NumpyMouthNet, predict_motion
    from talkface.motion.predict import speech_input
    from talkface.train.networks.mouthnet import MouthNet

    wts = W.load("default", "cpu")
    if wts.pca is not None:
        pytest.skip("default weights are not MouthNet")
    assert isinstance(wts.atnet, NumpyMouthNet)
    spec = wts.entry["files"]["atnet"]
    sd, _ = W.load_tensors(SHIPPED, spec)
    basis, gain = sd.pop("mouth.basis").numpy(), float(sd.pop("mouth.gain"))
    cfg = MouthNetConfig.from_dict(spec["config"])
    parts = [{k.split(".", 2)[2]: v for k, v in sd.items() if k.startswith(f"members.{i}.")}
             for i in range(cfg.members)] if cfg.members > 1 else [sd]
    nets = []
    for part in parts:
        m = MouthNet(replace(cfg, members=1))
        m.load_state_dict(part)
        nets.append(m)
    assert len(wts.atnet.members) == (cfg.members if cfg.members > 1 else 0)
    np.testing.assert_array_equal(wts.atnet.basis, basis)
    assert wts.atnet.gain == pytest.approx(gain)
    _, feats = speech_input(ROOT / "examples" / "speech.wav")

    def torch_motion(f):  # the motion is linear in the network's output: the members' mean
        return sum(predict_motion(m, basis, f, gain) for m in nets) / len(nets)

    want = torch_motion(feats)
    got = predict_motion(wts.atnet, wts.atnet.basis, feats, wts.atnet.gain)
    assert np.abs(want).max() > 0.01  # the mouth moves
    assert np.abs(got - want).max() < 1e-4
    long = np.concatenate([feats] * 20)  # several chunks of 3000 frames: still the torch module's
    assert np.abs(predict_motion(wts.atnet, basis, long, gain) - torch_motion(long)).max() < 1e-4


def test_mouthnet_state_dict_of_another_layout_is_refused(tmp_path):
    from talkface.motion.mouthnet import MouthNetConfig, NumpyMouthNet
    from talkface.runtime.errors import WeightsError
    from talkface.weights.networks import _load_mouthnet

    cfg = MouthNetConfig(hidden=8, dilations=(1,))
    sd = {k: np.zeros(s, np.float32) for k, s in NumpyMouthNet.keys(cfg).items()}
    NumpyMouthNet.from_state_dict(sd, cfg)
    spec = {"file": "x.safetensors", "config": cfg.to_dict()}
    extra = dict(sd, **{"blocks.1.conv.weight": np.zeros((8, 8, 5), np.float32)})
    for bad in ({k: v for k, v in sd.items() if k != "out.bias"}, extra,
                dict(sd, **{"inp.weight": np.zeros((8, 3, 1), np.float32)})):
        with pytest.raises(WeightsError) as e:
            _load_mouthnet(dict(bad, **{"mouth.basis": np.zeros((136, 10)), "mouth.gain": np.float32(1)}), spec,
                           tmp_path)
        assert "x.safetensors" in e.value.message and e.value.exit_code == 4


@pytest.mark.slow
def test_default_weights_load_without_torch_and_vgnet_on_first_use():
    r = _in_fresh_python("""
        import json, sys
        from talkface import weights as W
        w = W.load("default")
        out = {"atnet": type(w.atnet).__name__, "has_vgnet": w.has_vgnet, "torch": "torch" in sys.modules}
        vg = w.vgnet
        out.update(vgnet=type(vg).__name__, training=vg.training, torch_after="torch" in sys.modules,
                   same=w.vgnet is vg)
        print(json.dumps(out))
    """)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    if d["atnet"] != "NumpyMouthNet":
        pytest.skip("default weights are not MouthNet")
    assert d["has_vgnet"] and not d["torch"]
    assert d["vgnet"] and not d["training"] and d["torch_after"] and d["same"]


@pytest.mark.slow
def test_default_warp_video_without_torch_then_neural_with_the_same_models(assets, tmp_path):
    """generate with the default weights and the warp renderer never imports torch; the
    same TalkingFace then makes a neural video (VG-net loaded then), as a batch does."""
    r = _in_fresh_python(f"""
        import json, sys
        import talkface
        from talkface.options import GenerateOptions
        tf = talkface.TalkingFace()
        a = tf.generate({str(assets['face'])!r}, {str(assets['speech'])!r}, {str(tmp_path / 'w.mp4')!r},
                        GenerateOptions(crop=True, size=128))
        torch_after_warp = "torch" in sys.modules
        b = tf.generate({str(assets['face'])!r}, {str(assets['speech'])!r}, {str(tmp_path / 'n.mp4')!r},
                        GenerateOptions(crop=True, size=128, renderer="neural"))
        print(json.dumps({{"a": a, "b": b, "torch_after_warp": torch_after_warp,
                           "torch_after_neural": "torch" in sys.modules, "mouthnet": tf.speech}}))
    """)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    if not d["mouthnet"]:
        pytest.skip("default weights are not MouthNet")
    a, b = d["a"], d["b"]
    assert a["renderer"] == "warp" and a["device"] == "cpu" and "setup" not in a["seconds"]
    assert not d["torch_after_warp"]
    assert b["renderer"] == "neural" and (b["device"] == "cpu" or b["device"].startswith("cuda"))
    assert d["torch_after_neural"] and b["seconds"]["setup"] >= 0
    assert a["frames"] == b["frames"] > 0
    assert (tmp_path / "w.mp4").stat().st_size > 0 and (tmp_path / "n.mp4").stat().st_size > 0


def test_cuda_by_name_is_still_checked_with_mouthnet(assets, tmp_path):
    import torch

    from talkface.runtime.errors import InputError

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    import talkface

    with pytest.raises(InputError) as e:
        talkface.generate(assets["face"], assets["speech"], tmp_path / "o.mp4", device="cuda")
    assert "CUDA is not available" in e.value.message and e.value.exit_code == 2
    with pytest.raises(InputError) as e:
        talkface.load(device="cuda:0")
    assert e.value.exit_code == 2
    with pytest.raises(InputError) as e:
        talkface.TalkingFace(device="tpu").generate(assets["face"], assets["speech"], tmp_path / "o.mp4")
    assert "unknown device" in e.value.message
    assert not (tmp_path / "o.mp4").exists()


def test_which_videos_need_torch():
    from talkface import TalkingFace
    from talkface.options import GenerateOptions
    from talkface.render.choose import may_be_neural

    tf = TalkingFace()
    if not tf.speech:
        pytest.skip("default weights are not MouthNet")
    assert not tf.needs_torch(GenerateOptions())  # the default VG-net is not meant for other faces: warp
    assert not tf.needs_torch(GenerateOptions(renderer="warp"))
    assert tf.needs_torch(GenerateOptions(renderer="neural"))
    assert TalkingFace(device="cuda").needs_torch(GenerateOptions())
    assert tf.device_for(False) == "cpu"
    assert may_be_neural("auto", {"vgnet_identities": "many"}, True)
    assert may_be_neural("auto", {"identity": "ann"}, True)
    assert not may_be_neural("auto", {"identity": "ann"}, False)
    assert not may_be_neural("auto", {}, True) and not may_be_neural("warp", {"identity": "ann"}, True)
