"""Model sizes. ``original`` reproduces the authors' released layouts exactly
(docs/paper_facts.md#checkpoints); ``small`` is talkface's default, sized for CPU speed."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from ..constants import CROP_SIZE, WINDOW
from ..face.groups import N_POINTS

C = TypeVar("C", bound="ConfigDict")


class ConfigDict:
    """``to_dict`` / ``from_dict`` of a config dataclass, as stored in the weights manifest:
    unknown keys are ignored and JSON lists become the tuples the fields hold."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in fields})


@dataclass
class ATNetConfig(ConfigDict):
    n_pca: int = 6
    lmark_hidden: tuple = (256, 512)
    conv_channels: tuple = (64, 128, 256, 256, 512)
    fc_hidden: int = 2048
    audio_feat: int = 256
    lstm_hidden: int = 256
    lstm_layers: int = 3
    n_mfcc: int = 12
    window: int = WINDOW


@dataclass
class VGNetConfig(ConfigDict):
    size: int = CROP_SIZE
    ngf: int = 64
    n_blocks: int = 9
    n_points: int = N_POINTS
    dropout: float = 0.5
    arch: str = "vgnet"  # "vgnet": the authors' layout; "maps": landmark maps + U-Net (render/vgnet_maps.py)
    window: tuple = (80, 96)  # maps: the (h, w) window around lips and chin that the network draws


@dataclass
class DiscriminatorConfig(ConfigDict):
    size: int = CROP_SIZE
    ndf: int = 64
    hidden: int = 256
    lstm_layers: int = 3
    n_points: int = N_POINTS


CONFIGS = {
    "original": {
        "atnet": ATNetConfig(),
        "vgnet": VGNetConfig(),
        "discriminator": DiscriminatorConfig(),
    },
    "small": {
        "atnet": ATNetConfig(n_pca=8, lmark_hidden=(64, 128), conv_channels=(16, 32, 32, 32, 32),
                             fc_hidden=256, audio_feat=128, lstm_hidden=128, lstm_layers=2),
        "vgnet": VGNetConfig(size=128, ngf=16, n_blocks=3),
        "discriminator": DiscriminatorConfig(size=128, ndf=16, hidden=64, lstm_layers=1),
    },
    "maps": {
        "vgnet": VGNetConfig(size=128, ngf=24, n_blocks=2, arch="maps"),
        "discriminator": DiscriminatorConfig(size=128, ndf=16, hidden=64, lstm_layers=1),
    },
}


def get_config(name: str, part: str):
    try:
        return CONFIGS[name][part]
    except KeyError:
        raise KeyError(f"unknown config {name!r}/{part!r}; known: {', '.join(CONFIGS)}") from None
