"""Numbers every stage agrees on: one home for each."""
from __future__ import annotations

# Video frame rate of every talkface output, of the training clips and of the paper's pipeline
# (docs/paper_facts.md#audio-features).
FPS = 25
# Audio is decoded to mono at this rate before the MFCC (docs/paper_facts.md#audio-features).
SAMPLE_RATE = 16000
# Longest audio generate takes unless told otherwise (--max-seconds): 20 minutes.
DEFAULT_MAX_SECONDS = 1200.0
