"""How one video is made: the options of ``generate``, defined and checked once, here.

Each field of :class:`GenerateOptions` carries what every surface needs to offer it: its
command-line flag and help (``talkface generate``, ``talkface batch``: ``cli/params.py``
builds their options from these), and the kind of its manifest column (a ``talkface batch``
row may set it for itself: ``batch/manifest.py`` derives its columns from these). The Python
API takes the same names as keywords (``talkface.generate(..., **options)``,
``TalkingFace.generate(..., options)``). ``tests/test_options.py`` fails if a surface
drifts from this definition. A bad value is refused (``InputError``, exit 2) when the
object is made, naming the option and what it takes.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
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


def _option(default: Any, flag: str | None = None, help: str = "", column: str | None = None,
            per_portrait: bool = False) -> Any:
    """A field of :class:`GenerateOptions` with its command-line ``flag`` and ``help`` (no
    flag: the Python API only), the ``column`` kind of its manifest cell (``int``, ``float``,
    ``bool``, ``text`` or ``path``: relative to the manifest; None: no column) and whether it
    belongs to one portrait only (``per_portrait``: not an option of ``talkface batch``,
    whose rows name their portraits)."""
    return field(default=default, metadata={"flag": flag, "help": help, "column": column,
                                            "per_portrait": per_portrait})


@dataclass(frozen=True)
class GenerateOptions:
    """Options of one generated video (the weights and the device belong to
    :class:`talkface.TalkingFace`, which loads them once)."""

    size: int = _option(256, "--size", "Side of the output with --crop.", "int")
    crop: bool = _option(False, "--crop", "Output the aligned face crop only, not the full portrait.", "bool")
    max_size: int = _option(1024, "--max-size", "Largest side of the full-portrait output.", "int")
    detector: str = _option("auto", "--detector", "auto, dlib, fan (face-alignment), mesh (MediaPipe Face Mesh) or "
                                                  "cartoon.", "text")
    landmarks: str | os.PathLike | None = _option(None, "--landmarks", "68-point JSON to skip detection.", "path",
                                                  per_portrait=True)  # no detection
    face_index: int | None = _option(None, "--face-index", "Which face, largest first (0).", "int",
                                     per_portrait=True)  # None: the largest, with a warning if several
    renderer: str = _option("auto", "--renderer", "auto, neural or warp.", "text")
    max_seconds: float | None = _option(DEFAULT_MAX_SECONDS, "--max-seconds", "Refuse longer audio.",
                                        "float")  # longer audio is refused; None: no limit
    blink: bool = _option(True, "--blink/--no-blink", "Eye blinks every 2-6 s (warp renderer).", "bool")
    head_motion: bool = _option(False, "--head-motion/--no-head-motion", "A very light idle head sway (warp "
                                                                          "renderer).", "bool")
    batch: int = _option(32)  # frames per VG-net batch (neural renderer); the Python API only
    crf: int = _option(20, "--crf", "H.264 quality: 0 (lossless, large files) to 51; 18-23 look good.", "int")

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

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> GenerateOptions:
        """The options among a command's parameters (click's ``ctx.params``), by name;
        those not given keep their defaults, the other parameters are not looked at."""
        return cls(**{n: params[n] for n in cls.names() if n in params})

    @classmethod
    def flags(cls) -> dict[str, dataclasses.Field]:
        """name -> field of the options the command line offers (their ``metadata``:
        ``flag``, ``help``, ``per_portrait``)."""
        return {f.name: f for f in dataclasses.fields(cls) if f.metadata["flag"]}

    @classmethod
    def columns(cls) -> dict[str, str]:
        """name -> kind of cell of the options a ``talkface batch`` manifest row may set."""
        return {f.name: f.metadata["column"] for f in dataclasses.fields(cls) if f.metadata["column"]}
