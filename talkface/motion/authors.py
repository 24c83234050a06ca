"""The authors' pipeline: their released ATVG-net weights, imported and run with their semantics
(weights of kind ``atvgnet-original``; talkface's own weights run through ``pipeline``).

``import_atvgnet`` turns ``atnet_lstm_18.pth`` and ``generator_23.pth`` (plus the
authors' ``basics/`` arrays) into two verified safetensors files and a manifest entry
of kind ``atvgnet-original``; nothing is unpickled beyond ``torch.load(weights_only=True)``
of the two checkpoints, once, at import time.  ``original_crop`` and ``render_original``
reproduce the demo pipeline (docs/paper_facts.md#demo-pipeline) with talkface's pieces:

* the reference is the 128 px region of a similarity alignment to ``base_68`` (163 px
  frame, rows/cols 1..128);
* the identity landmark is the authors' constant (the mean shape with the mouth
  adjustment; docs/paper_facts.md#identity-landmark), not the landmarks of the portrait;
* AT-net predicts 6 PCA coefficients per frame, coefficients 1..5 are boosted by
  [2.2, 2.4, 2.6, 2.8, 3.0] before reconstruction;
* VG-net renders every frame from a zero ConvGRU state (docs/paper_facts.md#convgru-recurrence);
* frames are mapped from [-1, 1] with (x + 1) / 2, not stretched per frame.
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from ..face.align import Alignment, invert, similarity
from ..face.groups import ALIGN_POINTS
from ..runtime.errors import InputError, WeightsError

KIND = "atvgnet-original"
CROP_SIZE = 128          # the region fed to VG-net
FRAME_SIZE = 163         # the template frame of base_68.npy
REGION_OFFSET = 1        # region = frame[1:129, 1:129]
PCA_SCALE = 5.0
N_PCA = 6
BOOST = (1.0, 2.2, 2.4, 2.6, 2.8, 3.0)
MOUTH_PARAM = (1, -0.06)  # element [1] of the 100-vector of the mouth adjustment

BASICS = {
    # key: (file, expected shape)
    "U": ("U_lrw1.npy", (136, 136)),
    "mean": ("mean_lrw1.npy", (136,)),
    "S": ("S.npy", (100, 136)),
    "mean_shape_norm": ("mean_shape_norm.npy", (1, 136)),
    "mean_shape_img": ("mean_shape_img.npy", (68, 2)),
    "base_68": ("base_68.npy", (68, 2)),
}

_WHERE = ("download the authors' checkpoints (atnet_lstm_18.pth, generator_23.pth) "
          "from the link in the ATVGnet README and pass their paths")


# -- checkpoints -------------------------------------------------------------------------

def strip_state_dict(obj) -> dict:
    """A raw state_dict, or a dict holding one under ``"state_dict"``, with a leading
    ``module.`` (nn.DataParallel) removed from every key that has it."""
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise TypeError(f"expected a state_dict (dict), got {type(obj).__name__}")
    out = {}
    for k, v in obj.items():
        k = str(k)
        out[k[7:] if k.startswith("module.") else k] = v
    return out


def _unreadable(e: Exception, what: str) -> str:
    """Why a file is not ``what``, in a few whole words (the library's own text can run to a
    paragraph): pickled objects are named as such, else the error's type."""
    text = str(e).strip()
    # torch.load(weights_only=True) meeting a class or function; np.load meeting an object array
    if text.startswith("Weights only load failed") or text.startswith("Object arrays cannot be loaded"):
        return f"holds pickled data other than arrays, which talkface never unpickles (not {what})"
    if isinstance(e, TypeError) and text.startswith("expected a state_dict"):  # strip_state_dict's own line
        return f"not {what}: {text}"
    return f"not {what} ({type(e).__name__})"


def _read_checkpoint(path) -> dict:
    """torch.load (weights only) + strip_state_dict; every failure is a WeightsError."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: checkpoint not found; {_WHERE}")
    try:
        with warnings.catch_warnings():  # torch's multi-line notes on odd pickles: the error line says it
            warnings.simplefilter("ignore")
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        sd = strip_state_dict(obj)
    except Exception as e:  # unpickling refused, truncated file, not a dict ...
        raise WeightsError(f"{path}: {_unreadable(e, 'a PyTorch state_dict')}; {_WHERE}") from None
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise WeightsError(f"{path}: entries that are not tensors ({', '.join(bad[:3])}); {_WHERE}")
    return sd


def _load_into(model, sd: dict, path, what: str):
    """Load ``sd`` into ``model``; fill absent BatchNorm ``num_batches_tracked`` (torch
    0.4.0 checkpoints) and raise WeightsError naming mismatching keys."""
    import torch

    own = model.state_dict()
    sd = dict(sd)
    for k, v in own.items():
        if k.endswith("num_batches_tracked") and k not in sd:
            sd[k] = torch.zeros_like(v)
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    if missing or unexpected:
        parts = []
        if unexpected:
            parts.append(f"unexpected keys {', '.join(unexpected[:4])}"
                         + (f" (+{len(unexpected) - 4} more)" if len(unexpected) > 4 else ""))
        if missing:
            parts.append(f"missing keys {', '.join(missing[:4])}"
                         + (f" (+{len(missing) - 4} more)" if len(missing) > 4 else ""))
        raise WeightsError(f"{path}: not an ATVGnet {what} checkpoint ({'; '.join(parts)}); {_WHERE}")
    shape = [f"{k} {tuple(sd[k].shape)} != {tuple(v.shape)}" for k, v in own.items() if sd[k].shape != v.shape]
    if shape:
        raise WeightsError(f"{path}: not an ATVGnet {what} checkpoint (shape mismatch: {'; '.join(shape[:3])}); "
                           f"{_WHERE}")
    try:
        res = model.load_state_dict(sd, strict=False)
    except Exception as e:
        raise WeightsError(f"{path}: cannot be loaded into {what} ({type(e).__name__}); {_WHERE}") from None
    if res.missing_keys or res.unexpected_keys:  # pragma: no cover - checked above
        raise WeightsError(f"{path}: does not match {what} (missing {res.missing_keys[:3]}, "
                           f"unexpected {res.unexpected_keys[:3]}); {_WHERE}")
    return model


# -- basics ------------------------------------------------------------------------------

def load_basics(basics_dir) -> dict:
    """The authors' ``basics/`` arrays as float64 numpy (``base_68`` too), keyed as in
    ``BASICS``; InputError naming a missing file, WeightsError (exit 4, as for a bad
    checkpoint) an unreadable, pickled or misshapen one."""
    d = Path(basics_dir)
    if not d.is_dir():
        raise InputError(f"{d}: basics folder not found; pass the ATVGnet repository's basics/ folder")
    out = {}
    for key, (fname, shape) in BASICS.items():
        p = d / fname
        if not p.is_file():
            raise InputError(f"{p}: missing; it is part of the ATVGnet repository's basics/ folder")
        try:  # an unreadable or pickled file is corrupt weights material, like a bad checkpoint (exit 4)
            a = np.load(p, allow_pickle=False)
        except Exception as e:
            raise WeightsError(f"{p}: {_unreadable(e, 'a .npy array')}; restore it from the ATVGnet "
                               "repository") from None
        if a.shape != shape:
            raise WeightsError(f"{p}: shape {a.shape}, expected {shape}; restore it from the ATVGnet repository")
        out[key] = np.asarray(a, np.float64)
    return out


def identity_landmark(S: np.ndarray, mean_shape_norm: np.ndarray) -> np.ndarray:
    """The authors' identity landmark in the normalised space (136,), float64.

    For a single frame ``normLmarks`` returns MSK - P(Δmouth) whatever the image
    (docs/paper_facts.md#identity-landmark): Δmouth is the mouth part (flat 96..135) of v·S with v a
    100-vector of zeros but v[1] = -0.06, and P = SᵀS projects onto the shape basis.
    Multiply by 5 for the networks.
    """
    S = np.asarray(S, np.float64)
    msk = np.asarray(mean_shape_norm, np.float64).reshape(-1)
    v = np.zeros(S.shape[0])
    v[MOUTH_PARAM[0]] = MOUTH_PARAM[1]
    delta = np.zeros_like(msk)
    delta[96:] = (v @ S)[96:]
    params = delta @ S.T          # "open mouth" parameters
    return msk - params @ S


# -- import ------------------------------------------------------------------------------

def import_atvgnet(atnet_path, vgnet_path, basics_dir, name: str = "atvgnet-original", out_dir=None) -> dict:
    """Import the authors' AT-net / VG-net checkpoints and ``basics/`` into the user's
    weights folder (``out_dir`` if given; see ``weights.target_dir``) as
    ``<name>-atnet.safetensors`` and ``<name>-vgnet.safetensors`` plus a manifest entry
    (not made the default). Returns the entry. TorchMissing (exit 2) without PyTorch.

    Raises WeightsError for an unreadable, pickled or mismatching checkpoint or basics
    file, InputError for a missing basics file.
    """
    from ..runtime.torch_needed import require_torch

    torch = require_torch("talkface weights import-atvgnet")
    from .. import weights as W
    from ..render.vgnet import VGNet
    from ..weights.configs import get_config
    from .atnet import ATNet

    out_dir = W.target_dir(name, out_dir)  # the user folder unless told; a shipped name is refused
    basics = load_basics(basics_dir)      # cheap, fail early

    at_cfg = get_config("original", "atnet")
    vg_cfg = get_config("original", "vgnet")
    at_sd = _read_checkpoint(atnet_path)
    atnet = _load_into(ATNet(at_cfg), at_sd, atnet_path, "AT-net")
    del at_sd
    vg_sd = _read_checkpoint(vgnet_path)
    vgnet = _load_into(VGNet(vg_cfg), vg_sd, vgnet_path, "VG-net")
    del vg_sd

    ident = identity_landmark(basics["S"], basics["mean_shape_norm"]) * PCA_SCALE
    f32 = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32))  # noqa: E731
    at_tensors = dict(atnet.state_dict())
    at_tensors.update({
        "pca.mean": f32(basics["mean"]),
        "pca.basis": f32(basics["U"][:, :N_PCA]),
        "pca.boost": f32(BOOST),
        "extra.identity_landmark": f32(ident),
        "extra.template": f32(basics["base_68"]),
    })
    out_dir.mkdir(parents=True, exist_ok=True)
    src = {"source": Path(atnet_path).name, "kind": KIND}
    at_file = W.save_tensors(at_tensors, out_dir / f"{name}-atnet.safetensors", src)
    vg_file = W.save_tensors(dict(vgnet.state_dict()), out_dir / f"{name}-vgnet.safetensors",
                             {"source": Path(vgnet_path).name, "kind": KIND})
    entry = {
        "name": name,
        "kind": KIND,
        "description": ("ATVG-net (Chen et al., CVPR 2019) released LRW weights "
                        f"({Path(atnet_path).name}, {Path(vgnet_path).name}), imported unchanged; "
                        "renders the 128 px aligned face"),
        "card": None,
        "pipeline": {"kind": KIND, "crop_size": CROP_SIZE, "pca_scale": PCA_SCALE, "feature_norm": False,
                     "boost": True, "recurrent": False},
        "files": {
            "atnet": {**at_file, "config": at_cfg.to_dict()},
            "vgnet": {**vg_file, "config": vg_cfg.to_dict()},
        },
    }
    W.add_entry(entry, out_dir, make_default=False)
    return entry


# -- reference crop ----------------------------------------------------------------------

def original_crop(image_rgb: np.ndarray, points68: np.ndarray, template: np.ndarray) -> tuple[np.ndarray, Alignment]:
    """The authors' 128 px region of a portrait (docs/paper_facts.md#alignment, re-expressed).

    A similarity is fitted from ``template`` (``base_68``, 163 px frame) points 27..44 to
    the detected ``points68`` (as skimage's ``SimilarityTransform.estimate`` does in the
    demo), the image is warped into the 163 px frame (bilinear, black outside, values
    truncated) and rows/cols 1..128 are kept. When the face is shrunk the image is
    first area-resized, as the demo's INTER_AREA resize of the face box to 163 px does.

    Returns (crop 128x128x3 uint8 RGB, Alignment mapping image pixels -> crop pixels).
    """
    img = np.asarray(image_rgb)
    pts = np.asarray(points68, np.float64)
    tpl = np.asarray(template, np.float64)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise InputError(f"portrait must be an RGB uint8 image, got shape {img.shape} {img.dtype}")
    if pts.shape != (68, 2) or tpl.shape != (68, 2):
        raise InputError(f"need 68 (x, y) landmarks and a 68-point template, got {pts.shape} and {tpl.shape}")
    frame_to_img = similarity(tpl[ALIGN_POINTS], pts[ALIGN_POINTS])
    m = invert(frame_to_img)                       # image -> 163 frame
    m[:, 2] -= REGION_OFFSET                       # image -> 128 region
    align = Alignment(m, CROP_SIZE)
    return _warp_region(img, m, CROP_SIZE), align


def _warp_region(img: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """Bilinear warp of ``img`` by ``m`` (image -> output) with black borders and
    truncation to uint8, area-resizing the needed part of the image first when ``m``
    shrinks it."""
    m = np.asarray(m, np.float64)
    s = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    h, w = img.shape[:2]
    src = img
    if s < 1.0:
        inv = invert(m)
        c = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
        c = c @ inv[:, :2].T + inv[:, 2]
        pad = 2.0 / s + 2
        x0 = int(max(0, np.floor(c[:, 0].min() - pad)))
        y0 = int(max(0, np.floor(c[:, 1].min() - pad)))
        x1 = int(min(w, np.ceil(c[:, 0].max() + pad)))
        y1 = int(min(h, np.ceil(c[:, 1].max() + pad)))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return np.zeros((size, size, 3), np.uint8)
        roi = img[y0:y1, x0:x1]
        nw, nh = max(1, int(round((x1 - x0) * s))), max(1, int(round((y1 - y0) * s)))
        src = cv2.resize(roi, (nw, nh), interpolation=cv2.INTER_AREA)
        sx, sy = nw / (x1 - x0), nh / (y1 - y0)
        # resized pixel (u, v) sits at image ((u + .5) / sx - .5 + x0, (v + .5) / sy - .5 + y0)
        back = np.array([[1 / sx, 0, x0 + 0.5 / sx - 0.5], [0, 1 / sy, y0 + 0.5 / sy - 0.5], [0, 0, 1]])
        m = m @ back
    out = cv2.warpAffine(src.astype(np.float32), m, (size, size), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.clip(out, 0, 255).astype(np.uint8)


# -- rendering ---------------------------------------------------------------------------

def reference_tensor(crop_rgb: np.ndarray, device="cpu"):
    """128x128x3 uint8 RGB -> (1, 3, 128, 128) float tensor in [-1, 1]."""
    import torch

    crop = np.asarray(crop_rgb)
    if crop.shape != (CROP_SIZE, CROP_SIZE, 3):
        raise InputError(f"reference crop must be {CROP_SIZE}x{CROP_SIZE}x3, got {crop.shape}")
    x = torch.from_numpy(np.ascontiguousarray(crop, np.float32)).permute(2, 0, 1).unsqueeze(0)
    return (x / 127.5 - 1.0).to(device)


def predict_landmarks(weights, feats: np.ndarray, device="cpu", chunk: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """AT-net over all windows: (T, 28, 12) MFCC -> (landmarks (T, 136), example (136,)),
    both in the x5 space VG-net consumes; predicted coefficients are boosted."""
    import torch

    pca = weights.pca
    extra = weights.pipeline.get("extra", {})
    if "identity_landmark" not in extra:
        raise WeightsError(f"weights {weights.name!r} have no identity landmark; re-import them "
                           "(talkface weights import-atvgnet)")
    scale = pca.scale
    ident = np.asarray(extra["identity_landmark"], np.float32).reshape(1, -1)   # x5 space
    ex_coef = pca.project(ident / scale)                                         # (1, 6)
    example = pca.reconstruct(ex_coef)[0] * scale                                # no boost
    feats = np.asarray(feats, np.float32)
    if feats.ndim != 3:
        raise InputError(f"audio features must be (T, 28, 12), got {feats.shape}")
    t = feats.shape[0]
    if t == 0:
        return np.zeros((0, example.size), np.float32), example.astype(np.float32)
    dev = torch.device(device)
    atnet = weights.atnet
    ex = torch.from_numpy(ex_coef).to(dev)
    coefs: list[np.ndarray] = []
    state = None
    with torch.inference_mode():
        for i in range(0, t, chunk):
            a = torch.from_numpy(np.ascontiguousarray(feats[i:i + chunk])).unsqueeze(0).to(dev)
            y, state = atnet(ex, a, state)
            coefs.append(y[0].float().cpu().numpy())
    lm = pca.reconstruct(np.concatenate(coefs), boost=bool(weights.pipeline.get("boost", True))) * scale
    return lm.astype(np.float32), example.astype(np.float32)


def render_original(weights, crop_rgb: np.ndarray, feats: np.ndarray, device="cpu", batch: int = 32,
                    half: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (frame 128x128x3 uint8 RGB, alpha 128x128 float32) per audio window.

    ``weights`` is a ``talkface.weights.LoadedWeights`` of kind ``atvgnet-original``,
    ``crop_rgb`` the 128 px region from ``original_crop``, ``feats`` the (T, 28, 12)
    unnormalised MFCC windows (``talkface.speech.audio.features(wav, norm=False)``). Every
    frame is rendered from a zero ConvGRU state, ``batch`` frames at a time; ``half``
    runs VG-net under float16 autocast on CUDA.
    """
    import torch

    if weights.vgnet is None:
        raise WeightsError(f"weights {weights.name!r} were loaded without VG-net")
    dev = torch.device(device)
    lm, example = predict_landmarks(weights, feats, dev)
    if len(lm) == 0:
        return
    vg = weights.vgnet
    recurrent = bool(weights.pipeline.get("recurrent", False))
    use_half = bool(half) and dev.type == "cuda"

    def infer():  # entered around each batch only: the caller's code between frames keeps its own grad mode
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        if use_half:
            stack.enter_context(torch.autocast(device_type="cuda", dtype=torch.float16))
        return stack

    with infer():
        ref = vg.encode_reference(reference_tensor(crop_rgb, dev),
                                  torch.from_numpy(example).unsqueeze(0).to(dev))
    h = None
    for i in range(0, len(lm), max(1, int(batch))):
        with infer():
            x = torch.from_numpy(lm[i:i + batch]).unsqueeze(0).to(dev)
            out, alpha, _, _, h = vg.render(ref, x, h=h, recurrent=recurrent)
            frames = ((out[0].float().clamp(-1, 1) + 1.0) * 127.5 + 0.5).to(torch.uint8)
            frames = frames.permute(0, 2, 3, 1).cpu().numpy()
            alphas = alpha[0, :, 0].float().cpu().numpy()
        yield from zip(frames, alphas)
