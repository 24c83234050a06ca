"""The 68-point landmark layout (iBUG 300-W, as dlib and face-alignment give it): which
indices make which part of the face. Every module picks its groups from here.

Indices are lists, so they index numpy arrays (``points[MOUTH]``) and concatenate. "Right"
and "left" are the subject's: the right eye (36-41) is on the image's left.
"""
from __future__ import annotations

N_POINTS = 68

JAW = list(range(0, 17))
BROW_R = list(range(17, 22))
BROW_L = list(range(22, 27))
BROWS = (BROW_R, BROW_L)
NOSE = list(range(27, 36))            # bridge 27-30, then the lower nose 31-35
NOSE_BRIDGE = [27, 28, 29, 30]
EYE_R = list(range(36, 42))           # per eye: outer corner, two upper lid, inner corner, two lower lid points
EYE_L = list(range(42, 48))
EYES = (EYE_R, EYE_L)
EYE_CORNERS = [36, 39, 42, 45]
UPPER_LIDS = ([37, 38], [43, 44])     # per eye, each above the lower-lid point at the same place in LOWER_LIDS
LOWER_LIDS = ([41, 40], [47, 46])
MOUTH = list(range(48, 68))
OUTER_LIPS = list(range(48, 60))
INNER_LIPS = list(range(60, 68))
INNER_UPPER_LIP = [63, 62, 61]        # each above the INNER_LOWER_LIP point at the same place
INNER_LOWER_LIP = [65, 66, 67]

CENTRAL = list(range(27, 68))         # nose, eyes and mouth: the face without its outline and brows
LOWER_FACE = list(range(3, 14)) + MOUTH  # the parts speech moves: the jaw below the ears and the mouth

# Similarity alignment to a template: nose 27-35, right eye and the first three left-eye
# points, 27..44 inclusive, as the paper's pipeline does (docs/paper_facts.md#alignment).
ALIGN_POINTS = list(range(27, 45))
# Points that head motion moves but speech does not: to remove head motion from tracks.
STABLE = [27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45]
# Still points of the warp renderer (nose bridge and eye corners): head motion, not articulation.
MOUTH_REF = NOSE_BRIDGE + EYE_CORNERS
