"""talkface: talking-face videos from a portrait and speech (after ATVG-net, CVPR 2019).

    import talkface
    talkface.generate("portrait.png", "speech.wav", "out.mp4")
"""
__version__ = "0.1.0"

from .errors import EXIT_INPUT, EXIT_NO_FACE, EXIT_OK, EXIT_UNEXPECTED, EXIT_WEIGHTS, TalkfaceError  # noqa: E402


def generate(*args, **kwargs):
    """See :func:`talkface.pipeline.generate`."""
    from .pipeline import generate as _g

    return _g(*args, **kwargs)


__all__ = ["generate", "TalkfaceError", "__version__", "EXIT_OK", "EXIT_UNEXPECTED", "EXIT_INPUT",
           "EXIT_NO_FACE", "EXIT_WEIGHTS"]
