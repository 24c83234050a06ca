"""Reading the audio and finding the face while torch starts: a forked helper process."""
from __future__ import annotations

import os

from . import audio as A
from .errors import InputError, NoFaceError, TalkfaceError, WeightsError
from .face.detect import Face
from .face.find import candidate_faces
from .predict import speech_input


def _prefetch_child(conn, face_args, audio_args, audio_fn=A.audio_rows):
    def job(kind, fn, *args):
        try:
            conn.send((kind, "ok", fn(*args)))
        except TalkfaceError as e:
            conn.send((kind, "error", (type(e).__name__, e.message, e.exit_code)))
        except BaseException as e:  # noqa: BLE001 - the parent redoes the job itself
            conn.send((kind, "crash", f"{type(e).__name__}: {e}"))

    try:
        if audio_args is not None:
            job("audio", audio_fn, *audio_args)
        if face_args is not None:
            job("faces", candidate_faces, *face_args)
    finally:
        conn.close()


class Prefetch:
    """Reads the audio and finds the portrait's faces, in a forked process when that saves
    time: decoding + MFCC and loading dlib's 68-point model (~0.8 s) then run on a second
    core while this process imports torch (~1 s) and loads the weights. Inline when torch is
    already imported (forking a process with torch's thread pools is unsafe), when the
    detector is already loaded (batch workers, repeated API calls) or on one core.

    ``audio()`` gives (samples, raw MFCC rows), or with ``speech`` (MouthNet weights) the
    speech features; ``faces(device)`` the faces, best first; errors are raised where these
    are asked for, so they come in the same order as inline.
    """

    def __init__(self, image, image_path, detector="auto", landmarks=None, audio=None,
                 max_seconds: float | None = A.DEFAULT_MAX_SECONDS, scale: tuple[float, float] = (1.0, 1.0),
                 speech: bool = False):
        self.face_args = (image, image_path, detector, landmarks)
        self.audio_fn = speech_input if speech else A.audio_rows  # phones + energy, or MFCC rows
        self.scale = scale  # of --landmarks points: the portrait was shrunk to --max-size
        self.audio_args = (audio, A.SAMPLE_RATE, max_seconds) if audio is not None else None
        self.proc = self.conn = None
        self._got: dict = {}
        if not landmarks and self._fork_pays(detector):
            import multiprocessing as mp

            ctx = mp.get_context("fork")
            self.conn, child = ctx.Pipe(duplex=False)
            self.proc = ctx.Process(target=_prefetch_child,
                                    args=(child, self.face_args + ("cpu",), self.audio_args, self.audio_fn),
                                    daemon=True)
            self.proc.start()
            child.close()

    @staticmethod
    def _fork_pays(detector) -> bool:
        import sys

        from .face import detect as D

        if sys.platform != "linux" or "torch" in sys.modules or detector == "fan" or (os.cpu_count() or 1) < 2:
            return False
        # face-alignment (which wants the GPU) runs here, never in the child
        return D._dlib_models.cache_info().currsize == 0 and not (detector == "auto" and D.fan_weights_present())

    def _result(self, kind):
        """The child's (status, value) for ``kind``; ("crash", None) when it is gone."""
        while kind not in self._got and self.proc is not None:
            try:
                k, status, value = self.conn.recv()
                self._got[k] = (status, value)
            except (EOFError, OSError):  # the child died (killed, out of memory)
                self.close()
        return self._got.get(kind, ("crash", None))

    @staticmethod
    def _raise(value):
        name, message, code = value
        raise {"NoFaceError": NoFaceError, "WeightsError": WeightsError}.get(name, InputError)(message, code)

    def audio(self):
        if self.proc is None and "audio" not in self._got:
            return self.audio_fn(*self.audio_args)
        status, value = self._result("audio")
        if status == "ok":
            return value
        if status == "error":
            self._raise(value)
        return self.audio_fn(*self.audio_args)  # the child failed unexpectedly: redo it here

    def faces(self, device="cpu") -> list[Face]:
        """The faces, best first; ``device`` is for face-alignment when it runs here."""
        if self.proc is None and "faces" not in self._got:
            return candidate_faces(*self.face_args, device, self.scale)
        status, value = self._result("faces")
        self.close()
        if status == "ok":
            return value
        if status == "error":
            self._raise(value)
        return candidate_faces(*self.face_args, device, self.scale)

    def close(self):
        if self.proc is not None:
            if self.proc.is_alive():
                self.proc.terminate()
            self.proc.join()
            self.conn.close()
            self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
