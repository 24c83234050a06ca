"""Import and inference of the authors' ATVG-net weights (talkface.motion.authors)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from talkface.motion import authors as original
from talkface.motion.atnet import ATNet
from talkface.render.vgnet import VGNet
from talkface.runtime.errors import InputError, WeightsError
from talkface.weights.configs import get_config

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parent.parent
REF = REPO.parent / "shared" / "reference" / "atvgnet"
needs_shared = pytest.mark.skipif(not (REPO.parent / "shared").is_dir() or not REF.is_dir(),
                                  reason="../shared reference material not available")


# -- helpers -----------------------------------------------------------------------------

def parse_listing(path: Path) -> dict:
    """key -> (shape tuple, kind) from a *_state_dict.txt listing."""
    out = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, shape, kind, numel = line.split("\t")
        dims = tuple(int(x) for x in re.findall(r"\d+", shape))
        assert int(numel) == int(np.prod(dims)), line
        out[key] = (dims, kind)
    return out


def model_layout(model) -> dict:
    params = {k for k, _ in model.named_parameters()}
    return {k: (tuple(v.shape), "param" if k in params else "buffer") for k, v in model.state_dict().items()}


def make_basics(d: Path, seed: int = 0) -> Path:
    """Synthetic basics/ arrays of the documented shapes and kinds."""
    from talkface.face.template import TEMPLATE_128

    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    u, _ = np.linalg.qr(rng.standard_normal((136, 136)))
    q, _ = np.linalg.qr(rng.standard_normal((136, 100)))
    msk = rng.uniform(-0.15, 0.18, (1, 136))
    np.save(d / "U_lrw1.npy", u)
    np.save(d / "mean_lrw1.npy", 5.0 * msk[0] + rng.normal(0, 0.001, 136))
    np.save(d / "S.npy", q.T)
    np.save(d / "mean_shape_norm.npy", msk)
    np.save(d / "mean_shape_img.npy", rng.uniform(100, 540, (68, 2)))
    np.save(d / "base_68.npy", np.round(TEMPLATE_128 + 1).astype(np.int64))
    return d


def randomise_bn(model, seed: int):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.num_batches_tracked.fill_(7)
    return model


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Random-weight original AT-net / VG-net checkpoints saved as the authors did
    (DataParallel prefix; one raw, one under "state_dict") plus synthetic basics."""
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("atvgnet")
    at = randomise_bn(ATNet(get_config("original", "atnet")), 1).eval()
    vg = randomise_bn(VGNet(get_config("original", "vgnet")), 2).eval()
    at_sd = torch.nn.DataParallel(at).state_dict()
    assert all(k.startswith("module.") for k in at_sd)
    torch.save(at_sd, d / "atnet_lstm_18.pth")
    torch.save({"state_dict": vg.state_dict()}, d / "generator_23.pth")
    return {"dir": d, "at": d / "atnet_lstm_18.pth", "vg": d / "generator_23.pth",
            "basics": make_basics(d / "basics"), "at_sd": at.state_dict(), "vg_model": vg}


# -- layouts and constants ---------------------------------------------------------------

@needs_shared
@pytest.mark.parametrize("part,listing,cls", [("atnet", "atnet_state_dict.txt", ATNet),
                                              ("vgnet", "vgnet_state_dict.txt", VGNet)])
def test_layout_matches_authors_listing(part, listing, cls):
    ref = parse_listing(REF / listing)
    ref = {k[7:] if k.startswith("module.") else k: v for k, v in ref.items()}
    ours = model_layout(cls(get_config("original", part)))
    assert set(ref) == set(ours), (sorted(set(ref) - set(ours))[:5], sorted(set(ours) - set(ref))[:5])
    for k in ref:
        assert ref[k] == ours[k], (k, ref[k], ours[k])


@needs_shared
def test_identity_landmark_matches_authors_coefficients():
    b = original.load_basics(REF / "basics")
    ident = original.identity_landmark(b["S"], b["mean_shape_norm"])
    assert ident.shape == (136,)
    assert -0.2 < ident.min() and ident.max() < 0.2
    coef = (5.0 * ident - b["mean"]) @ b["U"][:, :6]
    np.testing.assert_allclose(coef, [-0.00079, 0.00724, 0.06239, 0.08183, 0.00235, -0.01311], atol=6e-6)


def test_strip_state_dict():
    t = torch.zeros(1)
    assert original.strip_state_dict({"module.a.weight": t, "b": t}) == {"a.weight": t, "b": t}
    assert list(original.strip_state_dict({"state_dict": {"module.x": t}})) == ["x"]
    assert list(original.strip_state_dict({"module.module.x": t})) == ["module.x"]


# -- import ------------------------------------------------------------------------------

def test_import_and_render(synthetic, tmp_path, monkeypatch):
    from talkface import weights as W

    out = tmp_path / "weights"
    monkeypatch.setenv("TALKFACE_WEIGHTS", str(out))
    entry = original.import_atvgnet(synthetic["at"], synthetic["vg"], synthetic["basics"], out_dir=out)
    assert entry["name"] == "atvgnet-original" and entry["kind"] == "atvgnet-original"
    assert entry["pipeline"]["pca_scale"] == 5.0 and entry["pipeline"]["recurrent"] is False
    assert (out / "atvgnet-original-atnet.safetensors").is_file()
    assert (out / "atvgnet-original-vgnet.safetensors").is_file()
    assert [r["ok"] for r in W.verify("atvgnet-original")] == [True, True]

    lw = W.load("atvgnet-original")
    # weights are the checkpoint's, buffers included
    sd = lw.atnet.state_dict()
    for k in ("lstm.weight_ih_l0", "audio_eocder.3.1.running_var", "audio_eocder.3.1.num_batches_tracked"):
        assert torch.equal(sd[k], synthetic["at_sd"][k]), k
    vsd, osd = lw.vgnet.state_dict(), synthetic["vg_model"].state_dict()
    for k in ("convGRU.weight_ih_l0", "generator1.4.conv_block.5.running_mean"):
        assert torch.equal(vsd[k], osd[k]), k
    # PCA and extras
    basics = original.load_basics(synthetic["basics"])
    np.testing.assert_allclose(lw.pca.basis, basics["U"][:, :6], atol=1e-6)
    np.testing.assert_allclose(lw.pca.boost, [1, 2.2, 2.4, 2.6, 2.8, 3.0], atol=1e-6)
    assert lw.pca.scale == 5.0
    extra = lw.pipeline["extra"]
    np.testing.assert_allclose(extra["identity_landmark"],
                               5 * original.identity_landmark(basics["S"], basics["mean_shape_norm"]), atol=1e-6)
    np.testing.assert_array_equal(extra["template"], basics["base_68"])

    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    feats = rng.normal(0, 20, (5, 28, 12)).astype(np.float32)
    frames = list(original.render_original(lw, crop, feats, "cpu", batch=3))
    assert len(frames) == 5
    # between frames the caller's code runs with its own grad mode: a video writer that stops
    # early and keeps the generator must not leave torch's autograd off (training after a
    # generate call in the same process failed: "does not require grad")
    frames_it = original.render_original(lw, crop, feats, "cpu", batch=3)
    next(frames_it)
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    frames_it.close()
    for f, a in frames:
        assert f.shape == (128, 128, 3) and f.dtype == np.uint8
        assert a.shape == (128, 128) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1

    # the same frames as VG-net run directly on the reconstructed landmarks
    lm, example = original.predict_landmarks(lw, feats)
    assert lm.shape == (5, 136) and example.shape == (136,)
    with torch.inference_mode():
        ref = torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 127.5 - 1
        out_ref, _, _, _ = lw.vgnet(ref, torch.from_numpy(lm)[None], torch.from_numpy(example)[None],
                                    recurrent=False)
    want = ((out_ref[0].clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    got = np.stack([f for f, _ in frames])
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_import_without_num_batches_tracked(synthetic, tmp_path):
    sd = torch.load(synthetic["at"], weights_only=True)
    old = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    assert len(old) < len(sd)
    p = tmp_path / "atnet_040.pth"
    torch.save(old, p)
    out = tmp_path / "w"
    entry = original.import_atvgnet(p, synthetic["vg"], synthetic["basics"], name="old", out_dir=out)
    assert entry["files"]["atnet"]["file"] == "old-atnet.safetensors"
    from talkface import weights as W

    lw = W.load("old", need_vgnet=False, d=out)
    assert int(lw.atnet.state_dict()["audio_eocder.0.1.num_batches_tracked"]) == 0
    assert torch.equal(lw.atnet.state_dict()["lstm_fc.0.weight"], synthetic["at_sd"]["lstm_fc.0.weight"])


def test_unexpected_key_is_named(synthetic, tmp_path):
    sd = torch.load(synthetic["at"], weights_only=True)
    sd["module.bogus_head.weight"] = torch.zeros(3)
    p = tmp_path / "atnet_bad.pth"
    torch.save(sd, p)
    with pytest.raises(WeightsError) as e:
        original.import_atvgnet(p, synthetic["vg"], synthetic["basics"], out_dir=tmp_path / "w")
    assert "bogus_head.weight" in e.value.message and "atnet_bad.pth" in e.value.message
    assert e.value.exit_code == 4
    assert not (tmp_path / "w" / "manifest.json").exists()


def test_swapped_checkpoints_are_refused(synthetic, tmp_path):
    with pytest.raises(WeightsError) as e:
        original.import_atvgnet(synthetic["vg"], synthetic["at"], synthetic["basics"], out_dir=tmp_path / "w")
    assert "generator_23.pth" in e.value.message and "unexpected keys" in e.value.message


def test_corrupt_checkpoint(synthetic, tmp_path):
    p = tmp_path / "garbage.pth"
    p.write_bytes(b"\x80\x02not really a checkpoint" * 10)
    with pytest.raises(WeightsError) as e:
        original.import_atvgnet(p, synthetic["vg"], synthetic["basics"], out_dir=tmp_path / "w")
    assert "garbage.pth" in e.value.message
    with pytest.raises(WeightsError, match="not found"):
        original.import_atvgnet(tmp_path / "nope.pth", synthetic["vg"], synthetic["basics"], out_dir=tmp_path / "w")


def test_missing_basics_file(synthetic, tmp_path):
    b = make_basics(tmp_path / "basics")
    (b / "S.npy").unlink()
    with pytest.raises(InputError, match="S.npy"):
        original.import_atvgnet(synthetic["at"], synthetic["vg"], b, out_dir=tmp_path / "w")


# -- reference crop ----------------------------------------------------------------------

@pytest.mark.parametrize("scale", [1.7, 0.35])
def test_original_crop_geometry(scale):
    from talkface.face.template import TEMPLATE_128

    tpl = np.round(TEMPLATE_128 + 1).astype(np.float64)     # 163 px frame
    th = np.deg2rad(8.0)
    r = scale * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    t = np.array([40.0, 25.0])
    pts = tpl @ r.T + t                                       # the face in the portrait
    h = w = int(np.ceil(170 * scale + 80))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([xx * 255 / w, yy * 255 / h, np.full_like(xx, 128)], -1).astype(np.uint8)

    crop, al = original.original_crop(img, pts, tpl)
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8
    np.testing.assert_allclose(al.to_crop(pts), tpl - 1, atol=1e-6)
    assert al.size == 128
    # the crop samples the portrait where the alignment says
    for u, v in [(20, 30), (64, 64), (100, 110)]:
        x, y = al.to_image(np.array([[u, v]], np.float64))[0]
        assert abs(int(crop[v, u, 0]) - xx[0, int(round(x))] * 255 / w) <= 3
        assert abs(int(crop[v, u, 1]) - yy[int(round(y)), 0] * 255 / h) <= 3


# -- the CLI end to end -------------------------------------------------------------------

def _tree(d: Path) -> dict:
    return {str(p.relative_to(d)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(d.rglob("*"))}


@pytest.mark.slow
def test_cli_import_and_generate(synthetic, tmp_path, monkeypatch, assets):
    """talkface weights import-atvgnet lands in TALKFACE_HOME (never the package or the
    source tree), then talkface generate --weights atvgnet-original."""
    import json as _json

    from typer.testing import CliRunner

    from talkface import weights as W
    from talkface.cli import app
    from talkface.video.writer import count_frames

    home = tmp_path / "home"
    monkeypatch.setenv("TALKFACE_HOME", str(home))
    shipped = W.shipped_dir()
    before = _tree(shipped)
    b = make_basics(tmp_path / "basics")
    runner = CliRunner()
    r = runner.invoke(app, ["weights", "import-atvgnet", "--atnet", str(synthetic["at"]),
                            "--vgnet", str(synthetic["vg"]), "--basics", str(b)])
    assert r.exit_code == 0, r.output
    assert str(home / "weights") in r.stdout
    assert sorted(p.name for p in (home / "weights").iterdir()) == [
        "atvgnet-original-atnet.safetensors", "atvgnet-original-vgnet.safetensors", "manifest.json"]
    assert _tree(shipped) == before  # the installed package (here: the source tree) is untouched
    # listed as the user's, verified; importing does not make the authors' weights the default
    r = runner.invoke(app, ["weights", "list", "--json"])
    rows = {w["name"]: w for w in _json.loads(r.stdout)["weights"]}
    assert rows["atvgnet-original"]["where"] == "user" and rows["atvgnet-original"]["ok"]
    assert rows["atvgnet-original"]["dir"] == str(home / "weights") and not rows["atvgnet-original"]["default"]
    assert rows[W.read_manifest(shipped)["default"]]["default"]
    # a second import under a shipped name is refused before anything is written
    shipped_name = W.read_manifest(shipped)["default"]
    r = runner.invoke(app, ["weights", "import-atvgnet", "--atnet", str(synthetic["at"]),
                            "--vgnet", str(synthetic["vg"]), "--basics", str(b), "--name", shipped_name])
    assert r.exit_code == 2 and "choose another --name" in r.stderr, r.output
    assert not list((home / "weights").glob(f"{shipped_name}*"))
    out = tmp_path / "orig.mp4"
    r = runner.invoke(app, ["generate", str(assets["face"]), str(assets["speech"]), "-o", str(out),
                            "--weights", "atvgnet-original", "--json", "--max-seconds", "30"])
    assert r.exit_code == 0, r.output
    res = _json.loads(r.output.strip().splitlines()[-1])
    assert res["weights"] == "atvgnet-original" and res["renderer"] == "neural"
    n, _ = count_frames(out)
    assert n == res["frames"]
