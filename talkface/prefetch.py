"""Reading the audio and finding the face while torch starts: a forked helper process."""
from __future__ import annotations

import os

from . import audio as A
from .errors import InputError, NoFaceError, TalkfaceError, WeightsError
from .face.detect import Face
from .face.find import candidate_faces
from .predict import speech_input


def _prefetch_child(conn, kind, fn, args):
    try:
        conn.send((kind, "ok", fn(*args)))
    except TalkfaceError as e:
        conn.send((kind, "error", (type(e).__name__, e.message, e.exit_code)))
    except BaseException as e:  # noqa: BLE001 - the parent redoes the job itself
        conn.send((kind, "crash", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


class Prefetch:
    """Reads the audio and finds the portrait's faces, in two forked processes when that
    saves time: decoding the speech (the phone recogniser) and finding the face (importing
    and running the detectors) then run side by side, and beside this process loading the
    weights (and importing torch when the job needs it). Inline when torch is
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
        self.procs: dict = {}  # kind -> (process, its end of the pipe)
        self._got: dict = {}
        if not landmarks and self._fork_pays(detector):
            import multiprocessing as mp

            ctx = mp.get_context("fork")
            jobs = {"faces": (candidate_faces, self.face_args + ("cpu",))}
            if self.audio_args is not None:
                jobs["audio"] = (self.audio_fn, self.audio_args)
            for kind, (fn, args) in jobs.items():  # one process each: they run side by side
                conn, child = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_prefetch_child, args=(child, kind, fn, args), daemon=True)
                proc.start()
                child.close()
                self.procs[kind] = (proc, conn)

    @property
    def forked(self) -> bool:
        """Whether work is still running (or waiting to be collected) in forked processes."""
        return bool(self.procs)

    @staticmethod
    def _fork_pays(detector) -> bool:
        import sys

        from .face import detect as D

        if sys.platform != "linux" or "torch" in sys.modules or detector == "fan" or (os.cpu_count() or 1) < 2:
            return False
        # face-alignment (which wants the GPU) runs here, never in the child; a detector this
        # process has loaded is fast here (and mediapipe's threads do not survive a fork)
        loaded = D._dlib_models.cache_info().currsize > 0 or "mediapipe" in sys.modules
        return not loaded and not (detector == "auto" and D.fan_weights_present())

    def _result(self, kind):
        """The child's (status, value) for ``kind``; ("crash", None) when it is gone."""
        if kind not in self._got and kind in self.procs:
            try:
                k, status, value = self.procs[kind][1].recv()
                self._got[k] = (status, value)
            except (EOFError, OSError):  # the child died (killed, out of memory)
                pass
            self._close(kind)
        return self._got.get(kind, ("crash", None))

    @staticmethod
    def _raise(value):
        name, message, code = value
        raise {"NoFaceError": NoFaceError, "WeightsError": WeightsError}.get(name, InputError)(message, code)

    def audio(self):
        if "audio" not in self.procs and "audio" not in self._got:
            return self.audio_fn(*self.audio_args)
        status, value = self._result("audio")
        if status == "ok":
            return value
        if status == "error":
            self._raise(value)
        return self.audio_fn(*self.audio_args)  # the child failed unexpectedly: redo it here

    def faces(self, device="cpu") -> list[Face]:
        """The faces, best first; ``device`` is for face-alignment when it runs here."""
        if "faces" not in self.procs and "faces" not in self._got:
            return candidate_faces(*self.face_args, device, self.scale)
        status, value = self._result("faces")
        if status == "ok":
            return value
        if status == "error":
            self._raise(value)
        return candidate_faces(*self.face_args, device, self.scale)

    def _close(self, kind):
        proc, conn = self.procs.pop(kind)
        if proc.is_alive():
            proc.terminate()
        proc.join()
        conn.close()

    def close(self):
        for kind in list(self.procs):
            self._close(kind)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
