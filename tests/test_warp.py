"""Warp renderer (talkface.render.warp), blinks and head sway (talkface.motion.idle), colour-matched
paste-back of the neural renderer (face.align.Paster), on drawn faces."""
from __future__ import annotations

import numpy as np
import pytest

from cartoons import CARTOONS
from helpers import draw_face
from talkface.face.align import Paster, align, face_mask
from talkface.face.detect import detect_faces
from talkface.face.detectors.base import Face
from talkface.face.template import MOUTH_RATIO, TEMPLATE_128, fit_template
from talkface.motion.idle import add_blinks, add_head_motion, apply, blink_schedule, head_motion, stream
from talkface.render.choose import choose_renderer
from talkface.render.warp import WarpRenderer


@pytest.fixture(scope="module")
def face():
    img = draw_face()
    # dlib's points (auto takes Face Mesh's when mediapipe is installed; its eye points sit
    # inside the drawn eye, which then does not blink: README, "Blinks")
    return img, detect_faces(img, "dlib")[0].points.astype(np.float64)


@pytest.fixture(scope="module")
def round_dot():
    img, _ = CARTOONS["round_dot"]()
    f = detect_faces(img, "cartoon")[0]  # the cartoon fit's points (auto may take Face Mesh's when installed)
    assert f.detector == "cartoon"
    return img, f.points.astype(np.float64)


def open_mouth(p, amount=0.3):
    """Points with the jaw and lower lip lowered by ``amount`` x eye-corner distance."""
    q = np.array(p, np.float64)
    s = np.linalg.norm(q[45] - q[36]) * amount
    q[[56, 57, 58, 65, 66, 67], 1] += s
    q[[55, 59], 1] += 0.6 * s
    q[[60, 64], 1] += 0.3 * s
    q[5:12, 1] += 0.5 * s
    return q


def _roi(r):
    return slice(r.y0, r.y1), slice(r.x0, r.x1)


# -- warp ----------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["cv2", "torch"])
def test_still_points_give_the_portrait_back_exactly(face, backend):
    img, p = face
    r = WarpRenderer(img, p, backend=backend)
    np.testing.assert_array_equal(r.frame(p), img)


@pytest.mark.parametrize("which", ["drawn", "round_dot"])
def test_open_mouth_moves_only_the_face_and_paints_a_cavity(face, round_dot, which):
    img, p = face if which == "drawn" else round_dot
    r = WarpRenderer(img, p)
    out = r.frame(open_mouth(p))
    assert out.shape == img.shape and out.dtype == np.uint8
    # outside the region of interest: identical, byte for byte
    diff = np.abs(out.astype(int) - img).max(2)
    ys, xs = _roi(r)
    diff[ys, xs] = 0
    assert diff.max() == 0
    # no seam by construction: a band inside the region's edge is unchanged too, so the
    # gradient across the edge is the portrait's own
    band = 3
    inner = np.abs(out.astype(int) - img)[ys, xs]
    assert inner[:band].max() == 0 and inner[-band:].max() == 0
    assert inner[:, :band].max() == 0 and inner[:, -band:].max() == 0
    # between the parted lips: dark cavity or light teeth, clearly not the closed mouth
    q = open_mouth(p)
    cx, cy = np.round(q[60:68].mean(0)).astype(int)
    assert np.abs(out[cy - 1:cy + 2, cx - 1:cx + 2].astype(int) - img[cy - 1:cy + 2, cx - 1:cx + 2]).mean() > 20
    # the chin moved down: the changed area reaches below the closed mouth
    changed = np.argwhere(np.abs(out.astype(int) - img).sum(2) > 30)
    assert changed[:, 0].max() > p[57, 1] + 5


def test_mouth_interior_colours_come_from_the_portrait(face):
    img, p = face
    r = WarpRenderer(img, p)
    lips = np.array([120, 60, 70], np.float32)  # draw_face's lip colour
    assert np.argmax(r.cavity) == 0 and r.cavity.sum() < lips.sum()  # a darker tone of the lips
    assert r.teeth.min() > 150  # light: from the drawn eye whites
    # a green-skinned, purple-lipped face gets a different cavity
    img2 = img.copy()
    img2[(np.abs(img.astype(int) - [120, 60, 70]).sum(2) < 40)] = (90, 40, 140)
    r2 = WarpRenderer(img2, p)
    assert np.argmax(r2.cavity) == 2


def test_frame_count_and_resolution_follow_the_sequence(face):
    from talkface.render.warp import render_warp

    img, p = face
    seq = np.stack([open_mouth(p, a) for a in np.linspace(0, 0.3, 7)])
    frames = list(render_warp(img, p, seq))
    assert len(frames) == 7 and all(f.shape == img.shape for f in frames)
    opening = [np.abs(f.astype(int) - img).sum() for f in frames]
    assert opening[0] == 0 and all(b >= a for a, b in zip(opening, opening[1:]))


def test_torch_and_cv2_backends_agree(face):
    img, p = face
    q = open_mouth(p)
    a = WarpRenderer(img, p, backend="cv2").frame(q).astype(int)
    b = WarpRenderer(img, p, backend="torch").frame(q).astype(int)
    d = np.abs(a - b)
    # the two samplers may differ by a sub-pixel offset along sharp drawn lines: < 0.1 % of values
    assert d.mean() < 0.5 and np.percentile(d, 99.9) < 40 and (d > 40).mean() < 1e-3


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="no CUDA device")
def test_cuda_backend_agrees_with_cpu(face):
    img, p = face
    q = open_mouth(p)
    a = WarpRenderer(img, p, backend="cv2").frame(q).astype(int)
    r = WarpRenderer(img, p, device="cuda")
    assert r.backend == "torch"
    assert np.abs(a - r.frame(q).astype(int)).mean() < 0.5


def test_cartoon_mouth_opens_in_proportion(round_dot, face):
    """Mouth motion follows the portrait's mouth size relative to a human one: scaled by
    that ratio (within 0.5..1.3) where the mouth is more than 20 % off a human one, as the
    round dot's is; left alone on a face of human proportions."""
    def ratio(p):
        return np.linalg.norm(p[54] - p[48]) / np.linalg.norm(p[42:48].mean(0) - p[36:42].mean(0)) / MOUTH_RATIO

    img, p = round_dot
    assert abs(ratio(p) - 1) > 0.2, ratio(p)  # far from a human mouth: its motion must be scaled
    gain = WarpRenderer(img, p).mouth_gain
    assert gain != 1.0 and gain == pytest.approx(np.clip(ratio(p), 0.5, 1.3))
    img, p = face
    assert abs(ratio(p) - 1) <= 0.2 and WarpRenderer(img, p).mouth_gain == 1.0


# -- blinks ----------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["drawn", "round_dot"])
def test_closed_eye_is_a_lid_in_skin_colour_not_a_smear(face, round_dot, which):
    import cv2

    img, p = face if which == "drawn" else round_dot
    r = WarpRenderer(img, p)
    closed = add_blinks(p[None], closure=np.ones(1))[0]
    out = r.frame(closed)
    for eye in (range(36, 42), range(42, 48)):
        m = np.zeros(img.shape[:2], np.uint8)
        cv2.fillConvexPoly(m, cv2.convexHull(np.round(p[list(eye)]).astype(np.int32)), 1)
        m = cv2.erode(m, np.ones((3, 3), np.uint8))
        before = img[m > 0].astype(float)
        after = out[m > 0].astype(float)
        lid = r.lids[eye.start // 42]
        assert lid is not None
        # the eye (dark iris or dot) is gone: mostly lid colour now, close to the skin around it
        ring = cv2.dilate(m, np.ones((25, 25), np.uint8)) - cv2.dilate(m, np.ones((13, 13), np.uint8))
        skin = np.median(img[ring > 0], 0)
        assert np.linalg.norm(np.median(after, 0) - skin) < 45
        assert np.linalg.norm(np.median(after, 0) - skin) < np.linalg.norm(np.median(before, 0) - skin)
        # a soft, flat lid: little texture left inside
        assert after.std(0).mean() < before.std(0).mean()
    # half closed: the lower part of the eye still shows
    half = r.frame(add_blinks(p[None], closure=np.full(1, 0.4))[0])
    assert 0 < np.abs(half.astype(int) - img).sum() < np.abs(out.astype(int) - img).sum()


def test_eye_inside_a_bigger_drawn_eye_does_not_blink():
    """When the eye points sit inside a large outlined cartoon eye, a lid cannot cover it:
    that eye is left open rather than half painted."""
    img, _ = CARTOONS["flat_outline"]()
    f = detect_faces(img)[0]
    r = WarpRenderer(img, f.points)
    closed = add_blinks(f.points[None], closure=np.ones(1))[0]
    out = r.frame(closed)
    for lid, eye in zip(r.lids, (range(36, 42), range(42, 48))):
        if lid is None:  # untouched: neither painted nor squashed
            c = np.round(f.points[list(eye)].mean(0)).astype(int)
            np.testing.assert_array_equal(out[c[1] - 3:c[1] + 4, c[0] - 3:c[0] + 4],
                                          img[c[1] - 3:c[1] + 4, c[0] - 3:c[0] + 4])


def test_blink_schedule_natural_and_deterministic():
    c = blink_schedule(25 * 60, seed=3)
    np.testing.assert_array_equal(c, blink_schedule(25 * 60, seed=3))
    assert not np.array_equal(c, blink_schedule(25 * 60, seed=4))
    starts = np.flatnonzero((c > 0) & (np.concatenate([[0], c[:-1]]) == 0)) / 25.0
    assert 10 <= len(starts) <= 30  # every 2-6 s over a minute
    gaps = np.diff(starts)
    assert gaps.min() >= 1.9 and gaps.max() <= 6.1
    assert 0.6 < starts[0] < 3.2
    # each blink is short: about 0.15-0.2 s at or near closed
    assert (c >= 0.5).sum() / len(starts) <= 4
    assert c.max() == 1.0 and c.min() == 0.0


def test_add_blinks_moves_only_the_upper_lids(face):
    _, p = face
    seq = np.stack([p] * 3).astype(np.float32)
    out = add_blinks(seq, closure=np.array([0, 0.5, 1.0]))
    moved = np.abs(out - seq).max((0, 2)) > 0
    assert set(np.flatnonzero(moved)) == {37, 38, 43, 44}
    np.testing.assert_array_equal(out[0], seq[0])
    gap = out[2, [41, 40, 47, 46], 1] - out[2, [37, 38, 43, 44], 1]
    assert (gap >= 0).all() and gap.max() < 0.1 * (p[40, 1] - p[38, 1]) + 0.5
    np.testing.assert_array_equal(seq[2], p.astype(np.float32))  # input untouched


# -- head sway ------------------------------------------------------------------------------

def test_head_motion_small_smooth_deterministic(face):
    _, p = face
    m = head_motion(25 * 20, seed=1)
    np.testing.assert_array_equal(m, head_motion(25 * 20, seed=1))
    assert np.abs(np.rad2deg(m[:, 0])).max() <= 1.5 + 1e-6
    assert np.abs(m[:, 1:]).max() <= 0.015 + 1e-6
    assert np.abs(np.diff(m[:, 0])).max() < np.deg2rad(0.15)  # smooth: no jumps between frames
    seq = add_head_motion(np.stack([p] * 250), seed=1)
    width = np.linalg.norm(p[16] - p[0])
    assert np.abs(seq - p).max() < 0.06 * width
    assert np.abs(seq - p).max() > 0.002 * width  # it does move


def test_stream_matches_whole_sequence(face):
    _, p = face
    seq = np.stack([open_mouth(p, a) for a in np.abs(np.sin(np.arange(200) / 5)) * 0.3]).astype(np.float32)
    whole = apply(seq, blink=True, head=True)
    parts = np.stack(list(stream(iter(seq), len(seq), blink=True, head=True)))
    np.testing.assert_allclose(parts, whole, atol=1e-3)
    np.testing.assert_array_equal(np.stack(list(stream(iter(seq), len(seq), blink=False))), seq)


def test_head_motion_render_keeps_outside_still(face):
    img, p = face
    r = WarpRenderer(img, p)
    moved = add_head_motion(np.stack([p] * 60), seed=0)
    out = r.frame(moved[np.argmax(np.abs(moved - p).max((1, 2)))])
    diff = np.abs(out.astype(int) - img).max(2)
    ys, xs = _roi(r)
    diff[ys, xs] = 0
    assert diff.max() == 0


# -- template fit, auto choice ---------------------------------------------------------------

def test_fit_template_hits_the_given_features():
    er, el, m = (100.0, 120.0), (170.0, 118.0), (137.0, 200.0)
    pts = fit_template(er, el, m)
    np.testing.assert_allclose(pts[36:42].mean(0), er, atol=1e-6)
    np.testing.assert_allclose(pts[42:48].mean(0), el, atol=1e-6)
    np.testing.assert_allclose(pts[48:68].mean(0), m, atol=1e-6)
    sized = fit_template(er, el, m, eye_size=[(30, 20), (30, 20)], mouth_size=(80, 30))
    assert np.ptp(sized[36:42, 0]) == pytest.approx(30) and np.ptp(sized[48:60, 0]) == pytest.approx(80)
    assert TEMPLATE_128.shape == (68, 2)


def test_auto_renderer_choice():
    photo = Face((0, 0, 1, 1), 1.0, np.zeros((68, 2)), "dlib")
    drawn = Face((0, 0, 1, 1), 1.0, np.zeros((68, 2)), "cartoon")
    one = {"kind": "talkface"}
    many = {"kind": "talkface", "vgnet_identities": "many"}
    assert choose_renderer("auto", one, photo) == "warp"
    assert choose_renderer("auto", many, photo) == "neural"
    assert choose_renderer("auto", many, drawn) == "warp"
    assert choose_renderer("neural", one, drawn) == "neural"
    assert choose_renderer("warp", many, photo) == "warp"
    person = {"kind": "talkface", "identity": "me", "vgnet_identities": "one"}  # train vgnet --video
    assert choose_renderer("auto", person, photo) == "neural"
    assert choose_renderer("auto", person, drawn) == "warp"
    # Face Mesh finds drawn faces too: a photo only when dlib finds that face as well
    img = draw_face()
    found = Face(detect_faces(img, "dlib", retries=False)[0].box, 1.0, np.zeros((68, 2)), "mesh")
    assert choose_renderer("auto", person, found, img) == "neural"
    assert choose_renderer("auto", person, found, np.full_like(img, 128)) == "warp"
    assert choose_renderer("auto", person, found) == "warp"
    assert choose_renderer("auto", one, found, img) == "warp"


# -- neural paste-back ---------------------------------------------------------------------

def test_paster_colour_match_removes_a_colour_cast(face):
    img, p = face
    al = align(p, 128, 0.85)
    crop = al.warp(img).astype(int)
    cast = np.clip(crop * [1.0, 0.8, 0.8] + [30, -10, -10], 0, 255).astype(np.uint8)  # too red, darker
    mask = face_mask(al.to_crop(p), 128)
    plain = Paster(img, al, mask).paste(cast).astype(int)
    matched = Paster(img, al, mask, color_match=True).paste(cast).astype(int)
    m = Paster(img, al, mask).mask[:, :, 0]
    ys = slice(Paster(img, al, mask).y0, Paster(img, al, mask).y1)
    xs = slice(Paster(img, al, mask).x0, Paster(img, al, mask).x1)
    inside = m > 0.5
    err_plain = np.abs(plain[ys, xs][inside] - img[ys, xs][inside].astype(int)).mean()
    err_matched = np.abs(matched[ys, xs][inside] - img[ys, xs][inside].astype(int)).mean()
    assert err_matched < 0.5 * err_plain
    # nothing outside the paste region changes, and the edge fades: no step at the ROI border
    out = matched.copy()
    out[ys, xs] = img[ys, xs]
    np.testing.assert_array_equal(out, img)
    edge = np.abs(matched[ys, xs] - img[ys, xs])
    assert edge[:2].max() == 0 and edge[-2:].max() == 0 and edge[:, :2].max() == 0 and edge[:, -2:].max() == 0
