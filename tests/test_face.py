"""Face stage: image loading, detection, alignment and paste-back (talkface.face)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers import MOUTH_CENTRE, draw_face
from talkface.face.align import Paster, align, face_mask, similarity, template
from talkface.face.detect import detect_faces
from talkface.face.image import load_image
from talkface.runtime.errors import InputError


@pytest.fixture(scope="module")
def drawn():
    img = draw_face()
    faces = detect_faces(img)
    return img, faces


# -- load_image --------------------------------------------------------------------------

def _rgb_source(w=48, h=40):
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    a[..., 1] = np.linspace(0, 255, h, dtype=np.uint8)[:, None]
    a[..., 2] = 90
    return a


def _variants():
    rgb = Image.fromarray(_rgb_source())
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.fromarray(np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (40, 1))))
    i16 = Image.fromarray((np.tile(np.linspace(0, 65535, 48), (40, 1))).astype(np.uint16))
    i16 = i16 if i16.mode.startswith("I;16") else i16.convert("I;16")
    return [
        ("rgba.png", rgba),
        ("palette.png", rgb.convert("P", palette=Image.ADAPTIVE, colors=32)),
        ("grey.png", rgb.convert("L")),
        ("la.png", rgba.convert("LA")),
        ("cmyk.jpg", rgb.convert("CMYK")),
        ("cmyk.tiff", rgb.convert("CMYK")),
        ("i16.png", i16),
        ("i16.tiff", i16),
        ("rgb.jpg", rgb),
        ("rgb.tiff", rgb),
        ("grey.jpg", rgb.convert("L")),
        ("rgb.bmp", rgb),
        ("rgb.webp", rgb),
    ]


@pytest.mark.parametrize("name,im", _variants(), ids=[n for n, _ in _variants()])
def test_load_image_any_mode_gives_rgb_uint8(tmp_path, name, im):
    p = tmp_path / name
    im.save(p)
    with Image.open(p) as check:  # the file really is in the mode under test
        mode = check.mode
    assert mode == im.mode or (name.startswith("i16") and mode.startswith("I"))
    arr = load_image(p)
    assert arr.shape == (40, 48, 3)
    assert arr.dtype == np.uint8
    assert arr.flags["C_CONTIGUOUS"]
    assert arr.std() > 5  # content survived (not all black or all white)


def test_load_image_rgba_composited_on_white(tmp_path):
    a = np.zeros((32, 32, 4), np.uint8)
    a[..., 0] = 255
    a[:, 16:, 3] = 255  # left half fully transparent, right half opaque red
    Image.fromarray(a, "RGBA").save(tmp_path / "t.png")
    arr = load_image(tmp_path / "t.png")
    assert (arr[:, :16] == 255).all()
    assert (arr[:, 16:] == [255, 0, 0]).all()


def test_load_image_16bit_scaled_to_8bit(tmp_path):
    v = np.full((20, 20), 65535, np.uint16)
    v[:, :10] = 0
    Image.fromarray(v).save(tmp_path / "i16.png")
    arr = load_image(tmp_path / "i16.png")
    assert arr[:, :10].max() == 0
    assert arr[:, 10:].min() == 255


def test_load_image_applies_exif_orientation(tmp_path):
    src = np.zeros((32, 64, 3), np.uint8)  # stored 64 wide, 32 high
    src[:, :32] = (255, 0, 0)  # left half red
    src[:, 32:] = (0, 0, 255)
    im = Image.fromarray(src)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    im.save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    arr = load_image(tmp_path / "rot.jpg")
    assert arr.shape == (64, 32, 3)  # dims swapped
    # rotated clockwise: the stored left (red) half is now on top
    assert arr[5, 16, 0] > 200 and arr[5, 16, 2] < 60
    assert arr[58, 16, 2] > 200 and arr[58, 16, 0] < 60
    # without the tag: as stored
    im.save(tmp_path / "plain.jpg", quality=95)
    assert load_image(tmp_path / "plain.jpg").shape == (32, 64, 3)


def test_load_image_pixel_limit(assets):
    with pytest.raises(InputError) as e:
        load_image(assets["face"], max_pixels=10_000)
    assert str(assets["face"]) in e.value.message
    assert load_image(assets["face"], max_pixels=320 * 400).shape == (400, 320, 3)


@pytest.mark.parametrize("what", ["missing", "empty", "text", "dir", "tiny"])
def test_load_image_bad_inputs(tmp_path, what):
    p = tmp_path / "x.png"
    if what == "empty":
        p.write_bytes(b"")
    elif what == "text":
        p.write_text("not an image\n")
    elif what == "dir":
        p.mkdir()
    elif what == "tiny":
        Image.new("RGB", (8, 8)).save(p)
    with pytest.raises(InputError) as e:
        load_image(p)
    assert str(p) in e.value.message
    assert e.value.exit_code == 2


def test_load_image_truncated_png(tmp_path, assets):
    data = assets["face"].read_bytes()
    p = tmp_path / "cut.png"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError):
        load_image(p)


# -- detect_faces ------------------------------------------------------------------------

def test_detect_finds_the_drawn_face(drawn):
    img, faces = drawn
    assert len(faces) == 1
    f = faces[0]
    assert f.points.shape == (68, 2)
    assert np.isfinite(f.points).all()
    mouth = f.points[48:68].mean(0)
    assert np.linalg.norm(mouth - np.array(MOUTH_CENTRE)) < 25
    eyes_y = f.points[36:48, 1].mean()
    nose_y = f.points[27:36, 1].mean()
    mouth_y = f.points[48:68, 1].mean()
    assert eyes_y < nose_y < mouth_y
    # the subject's right eye (36-41) is on the image's left
    assert f.points[36:42, 0].mean() < 160 < f.points[42:48, 0].mean()
    x, y, w, h = f.box
    assert w > 100 and h > 100
    inside = ((f.points[:, 0] >= x - 0.2 * w) & (f.points[:, 0] <= x + 1.2 * w)
              & (f.points[:, 1] >= y - 0.2 * h) & (f.points[:, 1] <= y + 1.2 * h))
    assert inside.all()
    js = f.to_json()
    assert set(js) == {"box", "score", "points"} and len(js["points"]) == 68


def test_detect_blank_grey_image_finds_nothing():
    grey = np.full((400, 320, 3), 128, np.uint8)
    assert detect_faces(grey) == []


def test_detect_unknown_detector():
    with pytest.raises(InputError):
        detect_faces(np.full((64, 64, 3), 128, np.uint8), detector="nope")


def test_detect_face_touching_the_border(drawn):
    """A face shifted partly off the image is still found (padded retry)."""
    img, faces = drawn
    shifted = np.ascontiguousarray(img[60:, 40:])
    found = detect_faces(shifted)
    assert len(found) == 1
    mouth = found[0].points[48:68].mean(0)
    assert np.linalg.norm(mouth - (np.array(MOUTH_CENTRE) - [40, 60])) < 25


# -- align -------------------------------------------------------------------------------

def test_align_maps_stable_points_onto_the_template(drawn):
    _, faces = drawn
    pts = faces[0].points
    al = align(pts, 128, 0.85)
    got = al.to_crop(pts)[27:45]
    want = template(128, 0.85)[27:45]
    err = np.linalg.norm(got - want, axis=1)
    assert err.mean() < 3.0
    assert err.max() < 6.0
    # the mouth lands in the lower half of the crop, centred horizontally
    mouth = al.to_crop(pts)[48:68].mean(0)
    assert 64 < mouth[1] < 128 and abs(mouth[0] - 64) < 12


def test_align_recovers_a_known_similarity_exactly():
    t = template(128, 1.0)
    ang, s, shift = np.deg2rad(17.0), 2.3, np.array([150.0, 90.0])
    r = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    img_pts = t @ (s * r).T + shift
    al = align(img_pts, 128, 1.0)
    np.testing.assert_allclose(al.to_crop(img_pts), t, atol=1e-6)
    assert al.scale == pytest.approx(1 / s, rel=1e-6)
    # twice the crop size scales the template by two
    al2 = align(img_pts, 256, 1.0)
    np.testing.assert_allclose(al2.to_crop(img_pts), template(256, 1.0), atol=1e-6)
    np.testing.assert_allclose(template(256, 1.0), 2 * t, atol=1e-9)


def test_similarity_is_not_a_reflection():
    rng = np.random.default_rng(0)
    src = rng.standard_normal((20, 2))
    dst = src * [-1, 1]  # mirror image: the best similarity cannot reproduce it
    m = similarity(src, dst)
    assert np.linalg.det(m[:, :2]) > 0


def test_alignment_round_trips(drawn):
    _, faces = drawn
    pts = faces[0].points.astype(np.float64)
    al = align(pts, 128, 0.85)
    np.testing.assert_allclose(al.to_image(al.to_crop(pts)), pts, atol=1e-6)
    grid = np.stack(np.meshgrid(np.arange(0, 128, 16.0), np.arange(0, 128, 16.0)), -1).reshape(-1, 2)
    np.testing.assert_allclose(al.to_crop(al.to_image(grid)), grid, atol=1e-6)


def test_warp_crop_shows_the_face(drawn):
    img, faces = drawn
    al = align(faces[0].points, 128, 0.85)
    crop = al.warp(img)
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8
    # mouth colour (120, 60, 70) at the mapped mouth centre
    mx, my = np.round(al.to_crop(faces[0].points)[48:68].mean(0)).astype(int)
    assert crop[my, mx, 0] > crop[my, mx, 1] + 20


# -- paste back --------------------------------------------------------------------------

def test_paster_changes_only_the_face(drawn):
    img, faces = drawn
    before = img.copy()
    pts = faces[0].points
    al = align(pts, 128, 0.85)
    paster = Paster(img, al, face_mask(al.to_crop(pts), 128))
    red = np.zeros((128, 128, 3), np.uint8)
    red[..., 0] = 255
    out = paster.paste(red)
    assert out.shape == img.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(img, before)  # the portrait is not modified in place
    b = 20
    np.testing.assert_array_equal(out[:b], img[:b])
    np.testing.assert_array_equal(out[-b:], img[-b:])
    np.testing.assert_array_equal(out[:, :b], img[:, :b])
    np.testing.assert_array_equal(out[:, -b:], img[:, -b:])
    for y, x in [(0, 0), (0, -1), (-1, 0), (-1, -1)]:
        np.testing.assert_array_equal(out[y, x], img[y, x])
    # eyes (upper face) are outside the lower-face mask
    eye = np.round(pts[36:42].mean(0)).astype(int)
    np.testing.assert_array_equal(out[eye[1], eye[0]], img[eye[1], eye[0]])
    mx, my = MOUTH_CENTRE
    assert tuple(out[my, mx]) != tuple(img[my, mx])
    assert out[my, mx, 0] > 240 and out[my, mx, 1] < 15 and out[my, mx, 2] < 15
    # alpha 0 everywhere: nothing changes at all
    np.testing.assert_array_equal(paster.paste(red, np.zeros((128, 128), np.float32)), img)


def test_face_mask_soft_and_inside_crop(drawn):
    _, faces = drawn
    al = align(faces[0].points, 128, 0.85)
    m = face_mask(al.to_crop(faces[0].points), 128)
    assert m.shape == (128, 128) and m.dtype == np.float32
    assert 0 <= m.min() and m.max() <= 1 + 1e-5
    assert m[0].max() == 0 and m[-1].max() == 0 and m[:, 0].max() == 0 and m[:, -1].max() == 0
    mx, my = np.round(al.to_crop(faces[0].points)[48:68].mean(0)).astype(int)
    assert m[my, mx] > 0.95
