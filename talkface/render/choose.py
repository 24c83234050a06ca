"""What ``--renderer auto`` means for one portrait."""
from __future__ import annotations

RENDERERS = ("auto", "neural", "warp")


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
