"""What ``--renderer auto`` means for one portrait."""
from __future__ import annotations

RENDERERS = ("auto", "neural", "warp")


def choose_renderer(renderer: str, pipeline: dict, face) -> str:
    """What ``--renderer auto`` means for one portrait (README, "Renderers").

    ``neural`` only when both hold: the weights' VG-net is meant for the portrait's
    person, and the face is a photo-like one that a photo detector (dlib or FAN) found.
    The VG-net is meant for the portrait when it was trained on many identities (the
    manifest's pipeline says ``"vgnet_identities": "many"``) or fine-tuned on one person
    (the pipeline names its ``"identity"``: ``talkface train vgnet --video``, whose user
    asks for those weights with a photo of that person). Otherwise ``warp``: talkface's
    default VG-net saw a single GRID speaker and does not draw unseen speakers' mouths
    (weights/MODEL_CARD.md), and faces found only by the cartoon fit, a template or a
    landmarks file are drawings, far from any VG-net's training photos.
    """
    if renderer != "auto":
        return renderer
    p = pipeline or {}
    meant = str(p.get("vgnet_identities", "one")) == "many" or bool(p.get("identity"))
    return "neural" if meant and getattr(face, "detector", "") in ("dlib", "fan") else "warp"
