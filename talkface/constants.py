"""Numbers every stage agrees on: one home for each."""
from __future__ import annotations

# Video frame rate of every talkface output, of the training clips and of the paper's pipeline
# (docs/paper_facts.md#audio-features).
FPS = 25
# Audio is decoded to mono at this rate before the MFCC (docs/paper_facts.md#audio-features).
SAMPLE_RATE = 16000
# MFCC rows in the window AT-net reads for one video frame (docs/paper_facts.md#audio-features).
WINDOW = 28
# Side in pixels of the aligned face crop the networks see (the paper's 128 px crop).
CROP_SIZE = 128
# Longest audio generate takes unless told otherwise (--max-seconds): 20 minutes.
DEFAULT_MAX_SECONDS = 1200.0
