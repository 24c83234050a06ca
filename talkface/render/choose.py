"""What ``--renderer auto`` means for one portrait."""
from __future__ import annotations

RENDERERS = ("auto", "neural", "warp")


def choose_renderer(renderer: str, pipeline: dict, face, image=None) -> str:
    """What ``--renderer auto`` means for one portrait (README, "Renderers").

    ``neural`` only when both hold: the weights' VG-net is meant for the portrait's
    person, and the face is a photo-like one: a photo detector (dlib or FAN) found it,
    or Face Mesh (which also finds drawn faces) found it and dlib finds it too in
    ``image``, the portrait (``face.detectors.dlib.dlib_confirms``; without ``image``, warp).
    The VG-net is meant for the portrait when it was trained on many identities (the
    manifest's pipeline says ``"vgnet_identities": "many"``) or fine-tuned on one person
    (the pipeline names its ``"identity"``: ``talkface train vgnet --video``, whose user
    asks for those weights with a photo of that person). Otherwise ``warp``: talkface's
    default VG-net saw a single GRID speaker and draws a soft, low-resolution mouth on
    other faces (weights/MODEL_CARD.md), and faces found only by the cartoon fit, a template or a
    landmarks file are drawings, far from any VG-net's training photos.
    """
    if renderer != "auto":
        return renderer
    if not _meant(pipeline):
        return "warp"
    detector = getattr(face, "detector", "")
    if detector in ("dlib", "fan"):
        return "neural"
    if detector == "mesh" and image is not None:
        from ..face.detectors.dlib import dlib_confirms

        return "neural" if dlib_confirms(image, face.box) else "warp"
    return "warp"


def _meant(pipeline: dict | None) -> bool:
    """The weights' VG-net is meant for the portrait's person (see :func:`choose_renderer`)."""
    p = pipeline or {}
    return str(p.get("vgnet_identities", "one")) == "many" or bool(p.get("identity"))


def may_be_neural(renderer: str, pipeline: dict | None, has_vgnet: bool) -> bool:
    """Whether :func:`choose_renderer` can say ``neural`` for some face, before the face is
    found: weights with a VG-net and ``--renderer neural``, or ``auto`` with a VG-net meant
    for the portrait. When not, the video is warped whatever the face (no torch needed)."""
    return has_vgnet and (renderer == "neural" or (renderer == "auto" and _meant(pipeline)))
