"""The point editor's page in a real headless Chromium: real mouse drags of a point and of a
part, a Shift+drag, Ctrl+Z, the wheel zoom, then "Save and finish" and the file it wrote.

Needs Chromium and its chromedriver (Debian: ``apt-get install chromium chromium-driver``);
skipped, saying so, where they are missing.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

from helpers import draw_face
from talkface.commands.landmarks import template_face
from talkface.editor import LandmarkEditor
from talkface.face import groups as G
from talkface.face.landmarks_file import read_landmarks_json
from webdriver import browser_or_skip

pytestmark = pytest.mark.slow  # a real browser: a few seconds


@pytest.fixture()
def page(tmp_path):
    start = template_face((70, 150, 180, 190)).points
    editor = LandmarkEditor(tmp_path / "face.png", draw_face(), start, tmp_path / "face.json", start="template")
    done = {}
    t = threading.Thread(target=lambda: done.update(result=editor.serve()), daemon=True)
    t.start()
    browser = browser_or_skip()
    try:
        browser.get(editor.url)
        browser.wait_for("return window.talkfaceEditor && window.talkfaceEditor.ready")
        yield browser, editor, start, t, done
    finally:
        browser.close()
        editor.stop()
        t.join(10)


def points(browser) -> np.ndarray:
    return np.array(browser.js("return window.talkfaceEditor.points"), float)


def where(browser, i: int) -> tuple[float, float]:
    x, y = browser.js("return window.talkfaceEditor.client(arguments[0])", i)
    return x, y


def test_drag_point_and_part_then_save_and_finish(page, tmp_path):
    browser, editor, start, thread, done = page
    s = browser.js("return window.talkfaceEditor.scale")
    assert np.allclose(points(browser), start, atol=0.006)
    start = points(browser)  # as the page has them (to 0.01 px)
    assert s > 0.5

    # one point: the nose tip, 30 px right and 12 down on the screen
    x, y = where(browser, 30)
    browser.drag(x, y, x + 30, y + 12)
    p = points(browser)
    moved = np.abs(p - start).max(1) > 0.01
    assert moved.nonzero()[0].tolist() == [30]
    assert np.allclose(p[30] - start[30], [30 / s, 12 / s], atol=1.0 / s + 0.01)

    # a part: "its part" chosen by a real click, then a mouth point dragged up and left
    browser.click('input[name="mode"][value="part"]')
    x, y = where(browser, 51)
    browser.drag(x, y, x - 20, y - 16)
    p = points(browser)
    d = p[G.MOUTH] - start[G.MOUTH]
    assert np.allclose(d, d[0], atol=1e-6)  # the whole mouth, rigidly
    assert np.allclose(d[0], [-20 / s, -16 / s], atol=1.0 / s + 0.01)
    others = [i for i in range(68) if i not in G.MOUTH and i != 30]
    assert np.allclose(p[others], start[others])
    after_mouth = p.copy()

    # Shift+drag in "that point" mode moves the point's part too; Ctrl+Z takes it back
    browser.click('input[name="mode"][value="point"]')
    x, y = where(browser, 19)
    browser.drag(x, y, x, y - 15, hold="shift")
    p = points(browser)
    assert np.allclose(p[G.BROW_R] - after_mouth[G.BROW_R], [0, -15 / s], atol=1.0 / s + 0.01)
    assert np.allclose(p[G.BROW_L], after_mouth[G.BROW_L])
    browser.press("z", "control")
    assert np.allclose(points(browser), after_mouth)

    # the wheel zooms in around the cursor: the point under it stays put
    x, y = where(browser, 30)
    browser.actions([{"type": "pointerMove", "origin": "viewport", "x": int(x), "y": int(y), "duration": 0}])
    browser._call("POST", browser._s("/actions"), {"actions": [{"type": "wheel", "id": "wheel", "actions": [
        {"type": "scroll", "origin": "viewport", "x": int(x), "y": int(y), "deltaX": 0, "deltaY": -300,
         "duration": 0}]}]})
    browser.wait_for(f"return window.talkfaceEditor.scale > {s * 1.3}")
    x2, y2 = where(browser, 30)
    assert abs(x2 - x) < 2 and abs(y2 - y) < 2
    assert np.allclose(points(browser), after_mouth)  # zooming moves no point

    shown = points(browser)
    browser.screenshot(tmp_path / "editor.png")
    browser.click("#finish")
    thread.join(20)
    assert not thread.is_alive(), "Save and finish did not end the editor"
    browser.wait_for("return window.talkfaceEditor.finished")
    res = done["result"]
    assert res["output"] == str(tmp_path / "face.json") and res["moved"] == 21
    saved = read_landmarks_json(tmp_path / "face.json")[0].points
    assert np.allclose(saved, shown, atol=0.006)
