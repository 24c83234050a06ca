"""Constants and types shared by the stages of :mod:`talkface.train.person`."""
from __future__ import annotations

from collections.abc import Callable

from ...constants import FPS

SEGMENT_SECONDS = 3           # one training item per 3 s of footage (GRID's clip length)
CHECK_EVERY = FPS             # frames between face detections: one a second
DETECT_SIDE = 640             # detection runs on a copy at most this many pixels a side
DECODE_SIDE = 1920            # frames are decoded at most this many pixels a side
MULTI_SHARE = 0.2             # two or more faces in this share of the checks: not one person
SECOND_FACE = 0.5             # a face counts as another person's at this share of the largest's width
HOLDOUT_SHARE = 0.1           # the last 10 % of the segments are held out
MIN_SECONDS = 60.0            # usable footage needed unless told otherwise
MAX_SECONDS = 1200.0          # longer footage: only the first 20 minutes are read
SMOOTH_SIGMA = 2.0            # frames: the per-frame alignment is smoothed over time
VIDEO_FORMATS = "MP4, MOV, MKV, AVI, WebM"
RUN_FILE = "run.json"
TRACK_FILE = "track.npz"
RECIPES = ("original", "mouth")

Progress = Callable[[str, float, str], None]  # (stage, fraction done 0..1, text)
