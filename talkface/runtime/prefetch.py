"""Reading the audio and finding the face while torch starts: a forked helper process."""
from __future__ import annotations

from ..face.detectors.base import Face
from ..face.find import candidate_faces
from ..speech import audio as A
from .errors import InputError, NoFaceError, WeightsError
from .forked import ForkedJob, fork_is_safe


class Prefetch:
    """Reads the audio and finds the portrait's faces, in two forked processes when that
    saves time: decoding the speech (the phone recogniser) and finding the face (importing
    and running the detectors) then run side by side, and beside this process loading the
    weights (and importing torch when the job needs it). Inline when torch is
    already imported (forking a process with torch's thread pools is unsafe), when the
    detector is already loaded (batch workers, repeated API calls) or on one core.

    ``audio()`` gives what ``read_audio`` (the weights' AT-net kind's, e.g.
    ``MouthNetATNet.read_audio``: the speech features) gives, by default (samples, raw MFCC
    rows); ``faces(device)`` the faces, best first; errors are raised where these are asked
    for, so they come in the same order as inline.
    """

    def __init__(self, image, image_path, detector="auto", landmarks=None, audio=None,
                 max_seconds: float | None = A.DEFAULT_MAX_SECONDS, scale: tuple[float, float] = (1.0, 1.0),
                 read_audio=None):
        self.face_args = (image, image_path, detector, landmarks)
        self.audio_fn = read_audio or A.audio_rows  # phones + energy (MouthNet), or MFCC rows
        self.scale = scale  # of --landmarks points: the portrait was shrunk to --max-size
        self.audio_args = (audio, A.SAMPLE_RATE, max_seconds) if audio is not None else None
        self.jobs: dict[str, ForkedJob] = {}  # kind -> its job ("faces", "audio")
        if not landmarks and self._fork_pays(detector):
            # one process each: they run side by side
            self.jobs["faces"] = ForkedJob(candidate_faces, self.face_args + ("cpu",))
            if self.audio_args is not None:
                self.jobs["audio"] = ForkedJob(self.audio_fn, self.audio_args)

    @property
    def forked(self) -> bool:
        """Whether the jobs were handed to forked processes (else they run inline when asked for)."""
        return bool(self.jobs)

    @staticmethod
    def _fork_pays(detector) -> bool:
        from ..face.detectors import REGISTRY

        torch_ones = [d for d in REGISTRY.values() if d.needs_torch]
        if not fork_is_safe() or any(d.name == detector for d in torch_ones):
            return False
        # face-alignment (which wants the GPU) runs here, never in the child; a detector this
        # process has loaded is fast here (and mediapipe's threads do not survive a fork)
        loaded = any(d.loaded() for d in REGISTRY.values() if not d.needs_torch)
        return not loaded and not (detector == "auto" and any(d.installed() for d in torch_ones))

    def _result(self, kind):
        """The job's (status, value) for ``kind``, or None when it ran inline."""
        job = self.jobs.get(kind)
        return None if job is None else job.result()

    @staticmethod
    def _raise(value):
        name, message, code = value
        raise {"NoFaceError": NoFaceError, "WeightsError": WeightsError}.get(name, InputError)(message, code)

    def audio(self):
        got = self._result("audio")
        if got is not None and got[0] == "ok":
            return got[1]
        if got is not None and got[0] == "error":
            self._raise(got[1])
        return self.audio_fn(*self.audio_args)  # type: ignore[misc]  # inline, or the child failed: do it here

    def faces(self, device="cpu") -> list[Face]:
        """The faces, best first; ``device`` is for face-alignment when it runs here."""
        got = self._result("faces")
        if got is not None and got[0] == "ok":
            return got[1]
        if got is not None and got[0] == "error":
            self._raise(got[1])
        return candidate_faces(*self.face_args, device, self.scale)

    def close(self):
        for job in self.jobs.values():
            job.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
