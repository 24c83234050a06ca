"""Stage 5, video: the frames become an H.264 + AAC MP4, written safely.

``writer`` is the stage's entry: ``VideoWriter`` streams frames to ffmpeg and muxes the
speech (``read_frames`` reads a clip back). ``outputs`` decides whether a file may be
written and writes it atomically (a temp file beside the target, renamed into place).
"""
