"""Stage 2, speech: what the AT-net hears, from any audio file ffmpeg decodes.

``audio`` decodes and resamples (16 kHz mono) and makes the MFCC windows of the authors'
AT-net layout; ``phones`` makes MouthNet's speaker-independent speech features (phones,
loudness, a coarse spectrum). Which of the two a set of weights reads is its AT-net kind's
business (``talkface.motion.predict``).
"""
