"""The package's house rules, read from its files: no module over 400 lines, no class over
200 (split by moving code into a module of its own), and every stage a folder, in the order
a video passes them."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "talkface"
MAX_MODULE, MAX_CLASS = 400, 200


def test_no_module_over_400_lines_and_no_class_over_200():
    big = []
    for p in sorted(PACKAGE.rglob("*.py")):
        text = p.read_text(encoding="utf-8")
        name = p.relative_to(PACKAGE.parent)
        if len(text.splitlines()) > MAX_MODULE:
            big.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS:
                big.append(f"{name}: class {node.name} {node.end_lineno - node.lineno + 1} lines")
    assert not big, big


def test_the_stages_are_folders():
    for stage in ("face", "speech", "motion", "render", "video"):
        init = PACKAGE / stage / "__init__.py"
        assert init.is_file(), stage
        assert ast.get_docstring(ast.parse(init.read_text())), f"talkface/{stage}/__init__.py says what it holds"
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert loose == ["__init__.py", "__main__.py", "api.py", "constants.py", "options.py", "pipeline.py"], loose
