"""The Python API: load the models once, then make videos.

    import talkface

    tf = talkface.load(weights="default", device="auto")   # verified, loaded once
    for portrait, speech in jobs:
        tf.generate(portrait, speech, options=talkface.GenerateOptions(crop=True, size=256))

    talkface.generate("portrait.png", "speech.wav", "out.mp4")   # one video: load + generate

Both return the dictionary that ``talkface generate --json`` prints and raise
``TalkfaceError`` subclasses (with the CLI's exit codes) for anything the user can fix.
Nothing heavy is imported until it is needed, so ``import talkface`` is quick.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .options import GenerateOptions

if TYPE_CHECKING:
    from .motion.predict import ATNetKind
    from .runtime.progress import Reporter
    from .weights import LoadedWeights

PathLike = str | os.PathLike
_DEFAULT = GenerateOptions()


class TalkingFace:
    """talkface's models on one device, loaded once: :meth:`generate` makes one video per call.

    ``weights`` names a set from ``talkface weights list`` (``default``: the default set);
    ``device`` is ``auto`` (the first GPU when there is one), ``cpu``, ``cuda`` or ``cuda:N``.
    The weights are verified and loaded on first use (``talkface.load`` does it at once), so
    that a single ``generate`` reads the audio and finds the face meanwhile. torch is only
    started for what needs it: the neural renderer (VG-net), the authors' AT-net layout,
    or a GPU asked for by name (``cuda``, ``cuda:N``, checked on first use). MouthNet
    weights with the warp renderer run without it, on the CPU (``device`` ``auto`` then
    reports ``cpu``).
    """

    def __init__(self, weights: str = "default", device: str = "auto"):
        self.weights_name = weights
        self.requested_device = device
        self._device: str | None = None
        self._loaded: LoadedWeights | None = None

    def __repr__(self) -> str:
        state = "loaded" if self._loaded is not None else "not loaded yet"
        return f"TalkingFace(weights={self.weights_name!r}, device={self._device or self.requested_device!r}, {state})"

    @property
    def device(self) -> str:
        """``cpu`` or ``cuda:N``: where the torch models run (resolving ``auto`` or a GPU
        imports torch)."""
        if self._device is None:
            from .runtime.device import resolve_device

            self._device = resolve_device(self.requested_device)
        return self._device

    @property
    def gpu_requested(self) -> bool:
        """A GPU was asked for by name (``cuda``, ``cuda:N``): it is checked and used
        whatever runs (InputError for an unknown device name)."""
        from .runtime.device import wants_gpu

        return wants_gpu(self.requested_device)

    def device_for(self, torch_needed: bool) -> str:
        """The device of a video: :attr:`device` when it needs torch or a GPU was asked
        for by name, else ``cpu``, without importing torch."""
        return self.device if torch_needed or self.gpu_requested else "cpu"

    @property
    def weights(self) -> LoadedWeights:
        """AT-net, VG-net, PCA and pipeline settings of the weights, verified and in eval
        mode (VG-net built on first use). MouthNet weights load without torch."""
        if self._loaded is None:
            from . import weights as W

            dev = self.device if self.gpu_requested or self.atnet_kind.needs_torch else "cpu"
            self._loaded = W.load(self.weights_name, dev)
            if self._loaded.entry.get("use") == "research":
                from .runtime.log import logger

                logger.warning(f"weights {self._loaded.name} are for research use only (trained on footage whose "
                               "terms allow no more; see their model card); the default weights are for any use")
        return self._loaded

    @property
    def atnet_kind(self) -> ATNetKind:
        """Which AT-net the weights have (:mod:`talkface.motion.predict`: what it reads from
        the audio, whether it needs torch); known from the manifest before anything is loaded."""
        from .motion.predict import atnet_kind

        return atnet_kind(self.manifest_entry())

    @property
    def speech(self) -> bool:
        """The AT-net reads speech features (MouthNet), not MFCC windows; known from the
        manifest before anything is loaded."""
        return self.atnet_kind.speech

    def manifest_entry(self) -> dict:
        """The weights' manifest entry (nothing loaded); empty when it cannot be read
        (loading the weights reports why)."""
        if self._loaded is not None:
            return self._loaded.entry
        from . import weights as W
        from .runtime.errors import WeightsError

        try:
            return W.locate(self.weights_name).entry
        except WeightsError:
            return {}

    def needs_torch(self, options: GenerateOptions | None = None) -> bool:
        """Whether a video with ``options`` may need torch, known before the face is
        found: a GPU asked for by name, the authors' AT-net layout (MFCC weights), or a
        renderer that may be neural for these weights (``talkface.render.choose``)."""
        from .render.choose import may_be_neural

        if self.gpu_requested or self.atnet_kind.needs_torch:
            return True
        e = self.manifest_entry()
        return may_be_neural((options or _DEFAULT).renderer, e.get("pipeline"), "vgnet" in e.get("files", {}))

    def generate(self, portrait: PathLike, audio: PathLike, output: PathLike | None = None,
                 options: GenerateOptions | None = None, *, force: bool = False, quiet: bool = True,
                 reporter: Reporter | None = None) -> dict:
        """Make a talking-face MP4 of ``portrait`` speaking ``audio``; returns the summary dict.

        ``output``: the MP4 [default: PORTRAIT_AUDIO.mp4 next to the audio]; ``force``:
        replace an existing one; ``quiet``: no progress on stderr (``reporter``: your own).
        """
        from .pipeline import make_video
        from .runtime.progress import Reporter

        rep = reporter or Reporter(show=not quiet)
        return make_video(self, portrait, audio, output, options or _DEFAULT, force=force, reporter=rep)


def load(weights: str = "default", device: str = "auto") -> TalkingFace:
    """The models of ``weights`` on ``device``, verified and loaded now (``WeightsError``,
    exit 4, when they are missing or corrupt; ``InputError`` for a device this machine lacks)."""
    tf = TalkingFace(weights, device)
    tf.weights  # noqa: B018 - loads them
    return tf


def generate(portrait: PathLike, audio: PathLike, output: PathLike | None = None, *, weights: str = "default",
             device: str = "auto", force: bool = False, quiet: bool = True, reporter: Reporter | None = None,
             **options: Any) -> dict:
    """Make one talking-face MP4 from a portrait and speech; returns the summary dict.

    ``options`` are the fields of :class:`GenerateOptions` by name (``size=512, crop=True``;
    ``talkface generate --help``); ``weights`` and ``device`` as for :func:`load`. For many
    videos, ``load`` once and call ``TalkingFace.generate``. Raises ``TalkfaceError``
    subclasses (with exit codes) for anything the user can fix.
    """
    return TalkingFace(weights, device).generate(portrait, audio, output, GenerateOptions(**options), force=force,
                                                 quiet=quiet, reporter=reporter)
