"""The two registries: face detectors by name (talkface.face.detectors) and the kinds of
AT-net by manifest entry (talkface.motion.predict)."""
from __future__ import annotations

import pytest

from talkface.face import detectors
from talkface.face.detectors.base import Detector
from talkface.motion.predict import KINDS, ATNetKind, AuthorsPipeline, MfccATNet, MouthNetATNet, atnet_kind
from talkface.runtime.errors import InputError


def test_every_detector_name_has_a_class():
    named = [d for d in detectors.DETECTORS if d != "auto"]
    assert sorted(named) == sorted(detectors.REGISTRY)
    assert set(detectors.AUTO) <= set(detectors.REGISTRY)
    for name, d in detectors.REGISTRY.items():
        assert isinstance(d, Detector) and d.name == name
        for method in ("installed", "load", "detect"):  # each says it for itself
            assert getattr(type(d), method) is not getattr(Detector, method), (name, method)
    assert [d.name for d in detectors.REGISTRY.values() if d.needs_torch] == ["fan"]


def test_an_unknown_detector_is_refused_by_name():
    with pytest.raises(InputError, match=r"unknown detector 'nope'; use one of auto, dlib, fan, mesh, cartoon"):
        detectors.get_detector("nope")


def test_usable_detectors_keep_the_auto_order():
    for load in (False, True):
        usable = detectors.usable_detectors(load=load)
        assert usable == [d for d in detectors.AUTO if d in usable]
    assert detectors.REGISTRY["cartoon"].installed() and detectors.REGISTRY["cartoon"].load()


def test_a_landmarks_file_needs_no_detector_on_torch():
    assert not detectors.detection_needs_torch("fan", landmarks="face.json")
    assert not detectors.detection_needs_torch("dlib")


@pytest.mark.parametrize("entry, kind", [
    ({}, MfccATNet),  # unreadable: the paper's layout (loading says what is wrong)
    ({"files": {"atnet": {"file": "a", "sha256": "x"}}}, MfccATNet),
    ({"files": {"atnet": {"file": "a", "sha256": "x", "arch": "mouthnet"}}}, MouthNetATNet),
    ({"pipeline": {"kind": "talkface"}, "files": {"atnet": {"arch": "mouthnet"}}}, MouthNetATNet),
    ({"pipeline": {"kind": "atvgnet-original"}, "files": {"atnet": {"file": "a"}}}, AuthorsPipeline),
])
def test_the_kind_of_atnet_comes_from_the_manifest_entry(entry, kind):
    k = atnet_kind(entry)
    assert type(k) is kind and KINDS[k.name] is k


def test_what_each_kind_of_atnet_says():
    rows = {name: (k.needs_torch, k.speech, k.renders_itself) for name, k in KINDS.items()}
    assert rows == {"mouthnet": (False, True, False), "atnet": (True, False, False),
                    "atvgnet-original": (True, False, True)}
    for k in KINDS.values():
        assert isinstance(k, ATNetKind)


def test_the_shipped_default_is_mouthnet_without_torch():
    from talkface import TalkingFace

    tf = TalkingFace()
    assert tf.atnet_kind.name == "mouthnet" and tf.speech and not tf.atnet_kind.needs_torch
