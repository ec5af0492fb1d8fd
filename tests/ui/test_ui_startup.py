"""The UI costs the server's start-up next to nothing: no Jinja2 until the first page is rendered."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
from modelyard.server.app import create_app
from modelyard.settings import load_settings
app = create_app(load_settings({}, backend_store_uri=sys.argv[1], default_artifact_root=sys.argv[2]))
assert "jinja2" not in sys.modules, "create_app imported Jinja2"
assert "plotly" not in sys.modules, "create_app imported plotly"
from starlette.testclient import TestClient
with TestClient(app) as client:
    page = client.get("/experiments")
    assert page.status_code == 200 and "<h1>Experiments</h1>" in page.text
    assert client.get("/static/ui/plotly.min.js").status_code == 200
assert "jinja2" in sys.modules
"""


def test_jinja2_loads_on_the_first_page_only(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-W",
            "ignore::DeprecationWarning",
            "-c",
            CODE,
            f"sqlite:///{tmp_path / 'x.db'}",
            str(tmp_path / "artifacts"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
