"""talkface: talking-face videos from a portrait and speech (after ATVG-net, CVPR 2019).

    import talkface

    talkface.generate("portrait.png", "speech.wav", "out.mp4")            # one video

    tf = talkface.load(weights="default", device="auto")                  # models loaded once
    tf.generate("a.png", "a.wav", "a.mp4", talkface.GenerateOptions(crop=True))
"""
__version__ = "0.1.0"

from .api import TalkingFace, generate, load  # noqa: E402
from .options import GenerateOptions  # noqa: E402
from .runtime.errors import EXIT_INPUT, EXIT_NO_FACE, EXIT_OK, EXIT_UNEXPECTED, EXIT_WEIGHTS, TalkfaceError  # noqa: E402

__all__ = ["generate", "load", "TalkingFace", "GenerateOptions", "TalkfaceError", "__version__", "EXIT_OK",
           "EXIT_UNEXPECTED", "EXIT_INPUT", "EXIT_NO_FACE", "EXIT_WEIGHTS"]
