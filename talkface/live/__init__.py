"""Live mode: the portrait speaks while the audio arrives (``talkface live``, issue 25).

* ``stream.py``: the streaming API (:class:`LiveFace`, :class:`LiveStream`, :class:`Frame`):
  load once, ``push`` PCM from any thread, read frames as they are ready; bounded queues.
* ``portrait.py``: what a stream loads once (weights, portrait, face, renderer).
* ``features.py``: MouthNet's speech features as the audio arrives (incremental phone
  decoding, running loudness statistics).
* ``motion.py``: MouthNet's motion a few frames at a time, with the look-ahead the model
  has (``MouthNetConfig.lookahead``), and endless blinks.
* ``sinks.py``: where ``talkface live`` sends frames (y4m on stdout, an MP4 with its audio)
  and how it reads raw PCM from stdin.
* ``server.py`` (+ ``page.html``): ``talkface live --serve``, a local page that takes the
  browser's microphone and shows the face speaking.
"""
from .stream import Frame, LiveFace, LiveStream

__all__ = ["Frame", "LiveFace", "LiveStream"]
