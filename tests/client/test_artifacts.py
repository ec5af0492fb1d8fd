"""The client's file API round-trips bytes exactly, in a local folder and in an S3 bucket.

``artifact_client`` (tests/client/conftest.py) is a client over SQLite whose runs keep their files
in a fresh local folder, or in a fresh bucket of an S3-protocol server in its own process.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
from pathlib import Path

import pytest
import yaml

from modelyard.errors import InvalidInput, NotFound
from modelyard.store.artifacts import FileInfo


def _run(client) -> str:
    return client.create_run("0").info.run_id


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _stored(client, run_id: str, path: str) -> bytes:
    """The bytes the store holds at ``path``, read through the store itself."""
    return b"".join(client.artifacts.run_store(run_id).read(path))


def test_log_artifact_round_trips_a_multi_chunk_binary_file(artifact_client, tmp_path):
    run_id = _run(artifact_client)
    data = os.urandom(3 * (1 << 20) + 12345)  # several 1 MiB chunks and a tail
    local = tmp_path / "weights.bin"
    local.write_bytes(data)

    artifact_client.log_artifact(run_id, str(local))
    artifact_client.log_artifact(run_id, local, artifact_path="checkpoints/epoch-1")

    assert artifact_client.list_artifacts(run_id) == [
        FileInfo("checkpoints", True, None),
        FileInfo("weights.bin", False, len(data)),
    ]
    assert artifact_client.list_artifacts(run_id, "checkpoints/epoch-1") == [
        FileInfo("checkpoints/epoch-1/weights.bin", False, len(data))
    ]
    out = artifact_client.download_artifacts(
        run_id, "checkpoints/epoch-1/weights.bin", tmp_path / "dl"
    )
    assert out == str(tmp_path / "dl" / "checkpoints" / "epoch-1" / "weights.bin")
    assert Path(out).read_bytes() == data
    assert _stored(artifact_client, run_id, "weights.bin") == data
    # no temporary download files are left beside it
    assert sorted(os.listdir(Path(out).parent)) == ["weights.bin"]


def test_log_artifacts_uploads_a_tree_and_download_brings_it_back(artifact_client, tmp_path):
    run_id = _run(artifact_client)
    src = tmp_path / "src"
    files = {
        "config.json": b'{"a": 1}',
        "data/train.csv": b"x,y\n1,2\n",
        "data/deep/er/still.bin": os.urandom(70_000),
        "names/with space.txt": b"spaced",
        "names/100%.txt": b"percent",
        "names/caf\u00e9-\u6587.txt": b"unicode",
        "empty.txt": b"",
    }
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)

    artifact_client.log_artifacts(run_id, str(src), artifact_path="inputs")

    listed = artifact_client.list_artifacts(run_id, "inputs")
    assert [f.path for f in listed] == [
        "inputs/config.json",
        "inputs/data",
        "inputs/empty.txt",
        "inputs/names",
    ]
    whole = artifact_client.download_artifacts(run_id, dst_path=tmp_path / "all")
    assert whole == str(tmp_path / "all")
    assert _tree(tmp_path / "all") == {f"inputs/{k}": v for k, v in files.items()}
    part = artifact_client.download_artifacts(run_id, "inputs/data", tmp_path / "part")
    assert part == str(tmp_path / "part" / "inputs" / "data")
    assert _tree(Path(part)) == {
        "train.csv": files["data/train.csv"],
        "deep/er/still.bin": files["data/deep/er/still.bin"],
    }


def test_download_without_dst_path_uses_a_new_temporary_folder(artifact_client, tmp_path):
    run_id = _run(artifact_client)
    artifact_client.log_text(run_id, "hello", "a/b.txt")
    out = Path(artifact_client.download_artifacts(run_id, "a/b.txt"))
    assert out.read_bytes() == b"hello"
    assert out.parts[-2:] == ("a", "b.txt")
    other = Path(artifact_client.download_artifacts(run_id, "a/b.txt"))
    assert other != out  # each call gets its own folder


def test_log_dict_writes_json_or_yaml_by_extension_and_load_dict_reads_it(artifact_client):
    run_id = _run(artifact_client)
    value = {"name": "m\u00fcller", "layers": [64, 32], "nested": {"dropout": 0.1, "bias": True}}
    artifact_client.log_dict(run_id, value, "config.json")
    artifact_client.log_dict(run_id, value, "conf/config.yaml")
    artifact_client.log_dict(run_id, value, "no-extension")

    assert _stored(artifact_client, run_id, "config.json") == json.dumps(value, indent=2).encode()
    assert _stored(artifact_client, run_id, "no-extension") == json.dumps(value, indent=2).encode()
    assert yaml.safe_load(_stored(artifact_client, run_id, "conf/config.yaml")) == value
    assert artifact_client.load_dict(f"runs:/{run_id}/config.json") == value
    assert artifact_client.load_dict(f"runs:/{run_id}/conf/config.yaml") == value
    root = artifact_client.get_run(run_id).info.artifact_uri
    assert artifact_client.load_dict(f"{root}/config.json") == value


def test_log_text_round_trips_unicode_exactly(artifact_client):
    run_id = _run(artifact_client)
    text = "line 1\nz\u00fcrich \u2603\r\n\ttabs and trailing spaces   \n"
    artifact_client.log_text(run_id, text, "notes/readme.md")
    assert _stored(artifact_client, run_id, "notes/readme.md") == text.encode("utf-8")
    assert artifact_client.load_text(f"runs:/{run_id}/notes/readme.md") == text
    with pytest.raises(InvalidInput, match="string"):
        artifact_client.log_text(run_id, b"bytes", "x.txt")


def test_log_figure_stores_matplotlib_figures_in_the_format_of_the_extension(artifact_client):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_id = _run(artifact_client)
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [2, 0, 1])
    try:  # a fixed salt and no date make matplotlib's SVG output reproducible
        with matplotlib.rc_context({"svg.hashsalt": "modelyard"}):
            artifact_client.log_figure(run_id, fig, "plots/line.png")
            artifact_client.log_figure(
                run_id, fig, "plots/line.svg", save_kwargs={"metadata": {"Date": None}}
            )
            expected_png = io.BytesIO()
            fig.savefig(expected_png, format="png")
            expected_svg = io.BytesIO()
            fig.savefig(expected_svg, format="svg", metadata={"Date": None})
    finally:
        plt.close(fig)
    assert _stored(artifact_client, run_id, "plots/line.png") == expected_png.getvalue()
    assert _stored(artifact_client, run_id, "plots/line.svg") == expected_svg.getvalue()
    assert expected_png.getvalue().startswith(b"\x89PNG\r\n\x1a\n")


def test_log_figure_stores_plotly_figures_as_html_or_image(artifact_client):
    import plotly.graph_objects as go

    run_id = _run(artifact_client)
    fig = go.Figure(data=[go.Bar(x=["a", "b"], y=[3, 5])])
    artifact_client.log_figure(run_id, fig, "plots/bars.html")
    html = artifact_client.load_text(f"runs:/{run_id}/plots/bars.html")
    assert html.lower().startswith(("<html>", "<!doctype html>"))
    assert html.rstrip().endswith("</html>")
    assert "cdn.plot.ly" in html  # plotly.js is referenced, not embedded
    assert '"type":"bar"' in html.replace(" ", "")
    if importlib.util.find_spec("kaleido") is None:
        with pytest.raises(ImportError, match="pip install kaleido"):
            artifact_client.log_figure(run_id, fig, "plots/bars.png")
        assert [f.path for f in artifact_client.list_artifacts(run_id, "plots")] == [
            "plots/bars.html"
        ]
    else:
        artifact_client.log_figure(run_id, fig, "plots/bars.png")
        assert _stored(artifact_client, run_id, "plots/bars.png").startswith(b"\x89PNG")
    with pytest.raises(InvalidInput, match="html"):
        artifact_client.log_figure(run_id, fig, "plots/bars.txt")
    with pytest.raises(InvalidInput, match="figure"):
        artifact_client.log_figure(run_id, object(), "x.png")


def test_log_image_stores_numpy_arrays_and_pil_images_pixel_exact(artifact_client):
    import numpy as np
    from PIL import Image

    run_id = _run(artifact_client)
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, size=(12, 17, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, size=(9, 5), dtype=np.uint8)
    rgba = rng.integers(0, 256, size=(4, 6, 4), dtype=np.uint8)
    unit = np.linspace(0.0, 1.0, 30).reshape(5, 6)
    pil = Image.fromarray(rgb)

    artifact_client.log_image(run_id, rgb, "img/rgb.png")
    artifact_client.log_image(run_id, gray[:, :, None], "img/gray.png")
    artifact_client.log_image(run_id, rgba, "img/rgba.png")
    artifact_client.log_image(run_id, unit, "img/unit.png")
    artifact_client.log_image(run_id, pil, "img/pil.png")

    def pixels(path: str):
        return np.asarray(Image.open(io.BytesIO(_stored(artifact_client, run_id, path))))

    assert np.array_equal(pixels("img/rgb.png"), rgb)
    assert np.array_equal(pixels("img/gray.png"), gray)
    assert np.array_equal(pixels("img/rgba.png"), rgba)
    assert np.array_equal(pixels("img/unit.png"), np.round(unit * 255).astype(np.uint8))
    expected = io.BytesIO()
    pil.save(expected, format="PNG")
    assert _stored(artifact_client, run_id, "img/pil.png") == expected.getvalue()

    with pytest.raises(InvalidInput, match="shape"):
        artifact_client.log_image(run_id, np.zeros((2, 2, 2), dtype=np.uint8), "bad.png")
    with pytest.raises(InvalidInput, match=re.escape("0..255")):
        artifact_client.log_image(run_id, np.full((2, 2), 300), "bad.png")
    with pytest.raises(InvalidInput, match=re.escape("0.0..1.0")):
        artifact_client.log_image(run_id, np.full((2, 2), 1.5), "bad.png")
    with pytest.raises(InvalidInput, match="image type"):
        artifact_client.log_image(run_id, [[0, 1]], "bad.png")
    assert "bad.png" not in [f.path for f in artifact_client.list_artifacts(run_id)]


def test_log_image_with_key_and_step_writes_an_image_series(artifact_client):
    import numpy as np
    from PIL import Image

    run_id = _run(artifact_client)
    image = np.arange(600 * 400 * 3, dtype=np.uint32).reshape(600, 400, 3) % 256
    image = image.astype(np.uint8)
    artifact_client.log_image(run_id, image, key="val/sample", step=3, timestamp=1_700_000_000_000)
    names = [f.path for f in artifact_client.list_artifacts(run_id, "images")]
    assert len(names) == 2
    full = next(n for n in names if n.endswith(".png"))
    thumb = next(n for n in names if n.endswith("+compressed.webp"))
    assert full.startswith("images/val~sample+step+3+timestamp+1700000000000+")
    assert thumb == full[: -len(".png")] + "+compressed.webp"
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(_stored(artifact_client, run_id, full)))), image
    )
    small = Image.open(io.BytesIO(_stored(artifact_client, run_id, thumb)))
    assert max(small.size) <= 256
    assert artifact_client.get_run(run_id).data.tag_dict["mlflow.loggedImages"] == "true"
    with pytest.raises(InvalidInput, match="key"):
        artifact_client.log_image(run_id, image, key="bad#key")
    with pytest.raises(InvalidInput, match="either"):
        artifact_client.log_image(run_id, image, "x.png", key="k")
    with pytest.raises(InvalidInput, match="artifact_file"):
        artifact_client.log_image(run_id, image)


def test_log_table_writes_mlflows_split_json_appends_and_load_table_reads_every_run(
    artifact_client,
):
    import pandas as pd

    experiment_id = artifact_client.create_experiment("tables")
    first = artifact_client.create_run(experiment_id).info.run_id
    second = artifact_client.create_run(experiment_id).info.run_id
    other = artifact_client.create_run(experiment_id).info.run_id
    frame = pd.DataFrame({"question": ["a?", "b?"], "score": [0.5, 0.75]})

    artifact_client.log_table(first, frame, "eval/results.json")
    assert json.loads(_stored(artifact_client, first, "eval/results.json")) == {
        "columns": ["question", "score"],
        "data": [["a?", 0.5], ["b?", 0.75]],
    }
    artifact_client.log_table(first, {"question": ["c?"], "score": [1.0]}, "eval/results.json")
    artifact_client.log_table(second, {"question": "d?", "score": 0.0}, "eval/results.json")
    artifact_client.log_table(other, frame, "eval/other.json")

    stored = json.loads(_stored(artifact_client, first, "eval/results.json"))
    assert stored["data"] == [["a?", 0.5], ["b?", 0.75], ["c?", 1.0]]
    tag = json.loads(artifact_client.get_run(first).data.tag_dict["mlflow.loggedArtifacts"])
    assert tag == [{"path": "eval/results.json", "type": "table"}]

    table = artifact_client.load_table(experiment_id, "eval/results.json", extra_columns=["run_id"])
    by_run = table.groupby("run_id")["question"].apply(list).to_dict()
    assert by_run == {first: ["a?", "b?", "c?"], second: ["d?"]}
    only = artifact_client.load_table(experiment_id, "eval/results.json", run_ids=[second])
    assert only.to_dict(orient="list") == {"question": ["d?"], "score": [0.0]}
    with pytest.raises(NotFound, match=re.escape("eval/none.json")):
        artifact_client.load_table(experiment_id, "eval/none.json")
    with pytest.raises(InvalidInput, match=re.escape(".json or .parquet")):
        artifact_client.log_table(first, frame, "eval/results.csv")
    with pytest.raises(InvalidInput, match="DataFrame or a dict"):
        artifact_client.log_table(first, [1, 2], "eval/results.json")


def test_log_table_as_parquet(artifact_client):
    import pandas as pd

    run_id = _run(artifact_client)
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    artifact_client.log_table(run_id, frame, "t.parquet")
    loaded = pd.read_parquet(io.BytesIO(_stored(artifact_client, run_id, "t.parquet")))
    assert loaded.equals(frame)


def test_missing_files_and_folders_are_errors_that_name_them(artifact_client, tmp_path):
    run_id = _run(artifact_client)
    with pytest.raises(NotFound, match=re.escape("nothing/here.txt")):
        artifact_client.download_artifacts(run_id, "nothing/here.txt", tmp_path)
    with pytest.raises(NotFound, match=re.escape("absent.txt")):
        artifact_client.load_text(f"runs:/{run_id}/absent.txt")
    with pytest.raises(NotFound, match="no-such-file"):
        artifact_client.log_artifact(run_id, tmp_path / "no-such-file")
    with pytest.raises(InvalidInput, match="folder"):
        artifact_client.log_artifact(run_id, tmp_path)
    with pytest.raises(NotFound, match="no-such-dir"):
        artifact_client.log_artifacts(run_id, tmp_path / "no-such-dir")
    assert artifact_client.list_artifacts(run_id, "no-such-folder") == []
    assert artifact_client.list_artifacts(run_id) == []


ATTACKS = [
    "../escape.txt",
    "a/../../escape.txt",
    "/etc/passwd",
    "//etc/passwd",
    "..%2fescape.txt",
    "%2e%2e/escape.txt",
    "%252e%252e/escape.txt",
    "C:\\Windows\\escape.txt",
    "C:/escape.txt",
    "a\\..\\..\\escape.txt",
    "a#b/escape.txt",
    "a?b=1",
    "x\x00y",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_traversal_strings_are_refused_before_anything_is_written(
    artifact_client, tmp_path, attack
):
    import numpy as np

    run_id = _run(artifact_client)
    local = tmp_path / "file.txt"
    local.write_bytes(b"payload")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "inner.txt").write_bytes(b"inner")
    attempts = [
        lambda: artifact_client.log_artifact(run_id, local, artifact_path=attack),
        lambda: artifact_client.log_artifacts(run_id, folder, artifact_path=attack),
        lambda: artifact_client.log_text(run_id, "x", attack),
        lambda: artifact_client.log_dict(run_id, {"a": 1}, attack),
        lambda: artifact_client.log_image(run_id, np.zeros((2, 2), dtype=np.uint8), attack),
        lambda: artifact_client.log_table(run_id, {"a": [1]}, attack + ".json"),
        lambda: artifact_client.list_artifacts(run_id, attack),
        lambda: artifact_client.download_artifacts(run_id, attack, tmp_path / "dl"),
        lambda: artifact_client.load_text(f"runs:/{run_id}/{attack}"),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidInput):
            attempt()
    assert artifact_client.list_artifacts(run_id) == []
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "dl").exists()


def test_a_local_tree_with_an_unsafe_file_name_is_refused_whole(artifact_client, tmp_path):
    run_id = _run(artifact_client)
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.txt").write_bytes(b"good")
    (src / "bad#name.txt").write_bytes(b"bad")
    with pytest.raises(InvalidInput, match=re.escape("bad#name.txt")):
        artifact_client.log_artifacts(run_id, src)
    assert artifact_client.list_artifacts(run_id) == []


def test_many_files_in_parallel_all_arrive(artifact_client, tmp_path):
    run_id = _run(artifact_client)
    src = tmp_path / "many"
    expected = {}
    for i in range(150):
        rel = f"shard-{i % 7}/file-{i:04d}.bin"
        data = os.urandom(i * 37 + 1)
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
        expected[rel] = data
    artifact_client.log_artifacts(run_id, src, artifact_path="many")
    out = artifact_client.download_artifacts(run_id, "many", tmp_path / "back")
    assert _tree(Path(out)) == expected
    assert len(artifact_client.list_artifacts(run_id, "many/shard-3")) == len(
        [k for k in expected if k.startswith("shard-3/")]
    )


def test_the_runs_of_one_bucket_share_one_s3_store(s3_artifact_root, sqlite_uri, client_settings):
    from modelyard.client.artifacts import StoreView
    from modelyard.client.tracking import ModelyardClient

    settings = client_settings(default_artifact_root=s3_artifact_root)
    with ModelyardClient(sqlite_uri, settings=settings) as client:
        first, second = _run(client), _run(client)
        a, b = client.artifacts.run_store(first), client.artifacts.run_store(second)
        assert isinstance(a, StoreView) and isinstance(b, StoreView)
        assert a.base is b.base  # one boto3 client, one connection pool
        assert a.prefix.endswith(f"{first}/artifacts") and b.prefix.endswith(f"{second}/artifacts")
        client.log_text(first, "one", "x.txt")
        client.log_text(second, "two", "x.txt")
        assert client.load_text(f"runs:/{first}/x.txt") == "one"
        assert client.load_text(f"runs:/{second}/x.txt") == "two"
        assert client.list_artifacts(second) == [FileInfo("x.txt", False, 3)]
