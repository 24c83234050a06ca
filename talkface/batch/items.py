"""One item of a batch: the checks that need no models, then the video, by the
:class:`~talkface.TalkingFace` of the item's weights (loaded once per process)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..api import TalkingFace
from ..options import GenerateOptions
from ..runtime import signals
from ..runtime.errors import EXIT_INPUT, InputError
from ..runtime.errors import describe as _describe
from .manifest import Item
from .mp4 import valid_video
from .report import result


def describe(e: BaseException) -> tuple[int, str]:
    """(exit code, one-line message) for an item's exception, as the CLI reports it."""
    return _describe(e, "try a smaller --max-size, shorter audio or fewer --jobs")


@dataclass(frozen=True)
class Common:
    """What the items of a batch share: the device, the weights of rows without a
    ``weights`` column, and the options a row's own columns change."""
    device: str
    weights: str = "default"
    options: GenerateOptions = field(default_factory=GenerateOptions)


class Models:
    """A :class:`~talkface.TalkingFace` per weights set, each loaded on first use and kept
    (the last ``keep`` sets): every item of a batch, or of one worker process, uses them."""

    def __init__(self, device: str, keep: int = 4):
        self.device, self.keep = device, keep
        self._by_name: dict[str, TalkingFace] = {}

    def get(self, weights: str) -> TalkingFace:
        tf = self._by_name.get(weights)
        if tf is None:
            if len(self._by_name) >= self.keep:
                self._by_name.pop(next(iter(self._by_name)))
            tf = self._by_name[weights] = TalkingFace(weights, self.device)
        return tf


def precheck(it: Item, resume: bool = False, force: bool = False) -> dict | None:
    """The result of an item that needs no work (bad row, finished, output in the way), else None."""
    t0 = time.perf_counter()
    if it.error:
        return result(it, "failed", EXIT_INPUT, 0.0, it.error)
    from ..video.outputs import refuse_same_file

    out = Path(it.output)  # type: ignore[arg-type]  # a row without error has it
    try:  # never written over an input of the row, --force or not
        refuse_same_file(out, (it.portrait, it.audio, it.options.get("landmarks")))
    except InputError as e:
        return result(it, "failed", EXIT_INPUT, time.perf_counter() - t0, e.message)
    for name in (it.portrait, it.audio, it.options.get("landmarks")):
        if name and os.path.isfile(name) and not os.access(name, os.R_OK):
            return result(it, "failed", EXIT_INPUT, time.perf_counter() - t0,
                           f"{name}: not readable (permission denied); check its permissions (chmod u+r) "
                           "or give another file")
    if os.path.lexists(out) and not out.is_dir():  # a link to a missing file is there too
        if resume and valid_video(out):
            return result(it, "skipped", 0, time.perf_counter() - t0)
        if resume and not force:
            return result(it, "failed", EXIT_INPUT, time.perf_counter() - t0,
                           f"{out}: exists but is not a readable video; delete it or pass --force to replace it")
        if not force:
            return result(it, "failed", EXIT_INPUT, time.perf_counter() - t0,
                           f"{out}: already exists; pass --resume to skip finished items or --force to overwrite")
    return None


def run_item(it: Item, common: Common, resume: bool = False, force: bool = False, debug: bool = False,
             models: Models | None = None) -> dict:
    """Generate one item with ``models`` (a fresh set when None); never raises for the item's own problems."""
    t0 = time.perf_counter()
    pre = precheck(it, resume, force)
    if pre is not None:
        return pre
    try:
        row = dict(it.options)
        weights = row.pop("weights", common.weights)
        options = common.options.replace(**row)  # a bad cell (size 33) fails this item alone
        tf = (models or Models(common.device)).get(weights)
        res = tf.generate(it.portrait, it.audio, it.output, options, force=force)  # type: ignore[arg-type]
    except Exception as e:  # noqa: BLE001 - every failure is reported per item
        signals.raise_if_lost()  # a library turned the interrupt into this error: stop the batch
        if debug:
            import traceback

            traceback.print_exc()
        code, msg = describe(e)
        return result(it, "failed", code, time.perf_counter() - t0, msg)
    return result(it, "ok", 0, time.perf_counter() - t0, frames=res.get("frames"))
