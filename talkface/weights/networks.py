"""State dicts -> the networks they hold: the authors' AT-net (with its landmark PCA),
MouthNet (numpy, with its motion basis and gain) and VG-net, checked against their configs."""
from __future__ import annotations

from ..runtime.errors import WeightsError


def _load_atnet(sd, spec, e, d):
    """The authors' AT-net layout (talkface's older weights and the imported original)."""
    from ..motion.atnet import ATNet
    from ..motion.pca import LandmarkPCA
    from .configs import ATNetConfig

    pca = LandmarkPCA(sd.pop("pca.mean").numpy(), sd.pop("pca.basis").numpy(),
                      float(e.get("pipeline", {}).get("pca_scale", 1.0)),
                      sd.pop("pca.boost").numpy() if "pca.boost" in sd else None)
    extra = {k[6:]: sd.pop(k).numpy() for k in [k for k in sd if k.startswith("extra.")]}
    atnet = ATNet(ATNetConfig.from_dict(spec["config"]))
    _load_strict(atnet, sd, d / spec["file"])
    atnet.extra = extra
    return atnet, pca


def _load_mouthnet(sd, spec, d):
    """MouthNet for inference (numpy, :class:`~talkface.motion.mouthnet.NumpyMouthNet`: no
    torch); ``sd`` holds numpy arrays or torch tensors. Its motion basis and calibrated
    gain travel in the same file."""
    import numpy as np

    from ..motion.mouthnet import MouthNetConfig, NumpyMouthNet

    if "mouth.basis" not in sd or "mouth.gain" not in sd:
        raise WeightsError(f"{d / spec['file']}: MouthNet file without its motion basis; re-export the weights")
    basis = np.asarray(sd.pop("mouth.basis"), np.float32)
    gain = float(np.asarray(sd.pop("mouth.gain"), np.float64).reshape(-1)[0])
    try:
        model = NumpyMouthNet.from_state_dict(sd, MouthNetConfig.from_dict(spec["config"]))
    except ValueError as e:
        raise WeightsError(f"{d / spec['file']}: does not match its config ({e}); re-export the weights")
    model.basis, model.gain, model.extra = basis, gain, {}
    return model


def _load_strict(model, sd, path):
    res = model.load_state_dict(sd, strict=False)
    if res.missing_keys or res.unexpected_keys:
        raise WeightsError(f"{path}: does not match its config (missing {list(res.missing_keys)[:3]}, "
                           f"unexpected {list(res.unexpected_keys)[:3]}); re-export the weights")


def _load_vgnet(sd, spec, d):
    """VG-net of its config (``arch``: the authors' layout or landmark maps)."""
    from ..render.vgnet_maps import build_vgnet
    from .configs import VGNetConfig

    vg = build_vgnet(VGNetConfig.from_dict(spec["config"]))
    _load_strict(vg, sd, d / spec["file"])
    return vg
