"""The examples of docs/artifacts.md run, and the page names every built-in scheme and setting."""

from __future__ import annotations

import re
from pathlib import Path

from modelyard.store.artifacts import DEFAULT_STORES, ENTRY_POINT_GROUP, FileInfo
from modelyard.store.artifacts.s3 import ENDPOINT_ENV_VARS

PAGE = Path(__file__).resolve().parents[3] / "docs" / "artifacts.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.M | re.S)


def test_the_usage_example_runs(tmp_path, capsys):
    example = python_blocks()[0].replace("/tmp/modelyard-docs-example", str(tmp_path / "store"))
    exec(compile(example, str(PAGE), "exec"), {})
    assert "[('model', True, None)]" in capsys.readouterr().out
    assert not (tmp_path / "store" / "model").exists()


def test_the_plugin_example_is_a_working_store():
    namespace: dict = {}
    exec(compile(python_blocks()[1], str(PAGE), "exec"), namespace)
    store = namespace["MemoryArtifactStore"]("memory://scratch")
    assert store.write("model/MLmodel", [b"abc", b"def"]) == 6
    assert b"".join(store.read("model/MLmodel", 1, 3)) == b"bcd"
    assert store.list() == [FileInfo("model", True, None)]
    assert store.list("model") == [FileInfo("model/MLmodel", False, 6)]
    assert store.stat("model/MLmodel").size == 6


def test_the_page_names_the_schemes_the_group_and_the_endpoint_variables():
    text = PAGE.read_text(encoding="utf-8")
    assert f'[project.entry-points."{ENTRY_POINT_GROUP}"]' in text
    for scheme in DEFAULT_STORES:
        assert f"`{scheme}:`" in text
    for name in ENDPOINT_ENV_VARS:
        assert f"`{name}`" in text
