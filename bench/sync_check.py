"""How well ``talkface data prepare --footage`` finds a clip's audio/video offset
(talkface/train/speakers.py, docs/lipsync.md): clips known to be in sync, their sound
shifted by a known number of frames, the offset found against the shift.

    python bench/sync_check.py PREPARED_DIR [PREPARED_DIR ...] [--shifts -12,-8,-4,0,4,8,12] [--every 20]

PREPARED_DIR: items of ``talkface data prepare`` (GRID clips: in sync). Prints, per shift,
how many clips were found within +-1 frame, how many were kept unshifted or dropped.
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from talkface.face.shape import stabilise, to_norm
from talkface.motion.articulation import inner_lip_opening
from talkface.speech import phones as P
from talkface.speech.audio import n_frames_for
from talkface.train.data import list_items
from talkface.train.speakers import SyncModel, shift_audio, sync_offset


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--shifts", default="-12,-8,-4,-2,0,2,4,8,12")
    ap.add_argument("--every", type=int, default=1, help="every Nth item of each folder")
    a = ap.parse_args(argv)
    shifts = [int(s) for s in a.shifts.split(",")]
    sync = SyncModel()
    tally = {k: Counter() for k in shifts}
    lags0 = []
    items = [it for d in a.dirs for it in list_items(d)[:: a.every]]
    for it in items:
        m = np.load(it / "meta.npz")
        real = inner_lip_opening(to_norm(stabilise(m["points"]), int(m["size"])).reshape(-1, 68, 2))
        wav = m["wav"].astype(np.float32) / 32767.0
        n = min(len(real), n_frames_for(wav.size))
        for k in shifts:
            # the sound made k frames late: what the detector must find (offset +k)
            w = shift_audio(wav, -k)
            s = sync_offset(sync.opening(P.speech_features(w, n)), real[:n], np.ones(n, bool))
            found = s["offset"] if s["decision"] == "shift" else 0
            tally[k]["drop" if s["decision"] == "drop" else ("ok" if abs(found - k) <= 1 else "wrong")] += 1
            if k == 0 and s["decision"] != "drop":
                lags0.append(found)
    print(f"{len(items)} clips")
    print("shift  found(+-1)  wrong  dropped")
    for k in shifts:
        t = tally[k]
        print(f"{k:+5d}  {t['ok']:10d}  {t['wrong']:5d}  {t['drop']:7d}")
    if lags0:
        print("offset found on the unshifted clips: median", float(np.median(lags0)), Counter(lags0).most_common(5))


if __name__ == "__main__":
    main()
