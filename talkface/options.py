"""How one video is made: the options of ``generate``, checked once, in one place.

The command line (``talkface generate``, ``talkface batch`` and a manifest row's own
columns), the Python API (``talkface.generate``, ``TalkingFace.generate``) and the batch
runner all build a :class:`GenerateOptions`; a bad value is refused (``InputError``, exit 2)
when the object is made, naming the option and what it takes.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any

from .constants import DEFAULT_MAX_SECONDS
from .render.choose import RENDERERS
from .runtime.errors import InputError

MAX_SECONDS_LIMIT = 1e9  # the largest --max-seconds (ffmpeg takes durations up to about 9e12 s)


def _seconds_problem(v) -> str | None:
    """What is wrong with ``v`` as --max-seconds (None: nothing)."""
    try:
        if not v > 0:  # NaN too
            return "must be a positive number of seconds"
        if not (math.isfinite(v) and v <= MAX_SECONDS_LIMIT):
            return (f"must be a finite number of seconds, at most {MAX_SECONDS_LIMIT:.0f} "
                    "(for long audio give a large one, e.g. 7200)")
    except TypeError:
        return "must be a positive number of seconds"
    return None


@dataclass(frozen=True)
class GenerateOptions:
    """Options of one generated video (the weights and the device belong to
    :class:`talkface.TalkingFace`, which loads them once)."""

    size: int = 256  # side of the output with ``crop``
    crop: bool = False  # the aligned face crop only, not the full portrait
    max_size: int = 1024  # largest side of the full-portrait output (the portrait is shrunk to it)
    detector: str = "auto"  # auto, dlib, fan (face-alignment), mesh (MediaPipe Face Mesh) or cartoon
    landmarks: str | os.PathLike | None = None  # a 68-point JSON: no detection
    face_index: int | None = None  # which face, largest first; None: the largest, with a warning if several
    renderer: str = "auto"  # auto, neural or warp
    max_seconds: float | None = DEFAULT_MAX_SECONDS  # longer audio is refused; None: no limit
    blink: bool = True  # eye blinks every 2-6 s (warp renderer)
    head_motion: bool = False  # a very light idle head sway (warp renderer)
    batch: int = 32  # frames per VG-net batch (neural renderer)
    crf: int = 20  # H.264 quality: 0 lossless (large files) .. 51; lower is better and bigger

    def __post_init__(self):
        if self.renderer not in RENDERERS:
            raise InputError(f"--renderer {self.renderer}: unknown; use one of {', '.join(RENDERERS)}")
        if self.size < 32 or self.size > 2048 or self.size % 2:
            raise InputError(f"--size {self.size}: must be an even number between 32 and 2048")
        if self.max_size < 64:
            raise InputError(f"--max-size {self.max_size}: must be at least 64")
        if not 0 <= self.crf <= 51:
            raise InputError(f"--crf {self.crf}: must be between 0 (lossless) and 51 (18-23 look good)")
        problem = None if self.max_seconds is None else _seconds_problem(self.max_seconds)
        if problem:
            raise InputError(f"--max-seconds {self.max_seconds}: {problem}")

    def replace(self, **changes: Any) -> GenerateOptions:
        """A copy with ``changes`` (checked like a new one)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))
