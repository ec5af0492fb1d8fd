"""The UI's routes are documented: every ``/ui/data/`` JSON route in docs/rest-api.md (the REST API's
docs test checks FastAPI routes only), and every page and form post in docs/ui.md."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.routing import Route

from modelyard.server.app import create_app
from modelyard.settings import load_settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
PLACEHOLDER = re.compile(r"\{[^}]+\}|<[^>]+>")


def _normal(path: str) -> str:
    return PLACEHOLDER.sub("<>", path.split("?")[0])


def _documented(doc: str) -> set[str]:
    text = (DOCS / doc).read_text()
    return {_normal(p) for p in re.findall(r"`(/[^`\s]*)`", text)}


def test_every_ui_route_is_documented(tmp_path):
    app = create_app(
        load_settings(
            {},
            backend_store_uri=f"sqlite:///{tmp_path / 'docs.db'}",
            default_artifact_root=str(tmp_path / "artifacts"),
        )
    )
    routes = [r for r in app.routes if isinstance(r, Route) and (r.name or "").startswith("ui:")]
    data = [r.path for r in routes if r.path.startswith("/ui/data/")]
    assert "/ui/data/metric-history" in data and "/ui/data/run-keys" in data
    rest = _documented("rest-api.md")
    assert [p for p in data if _normal(p) not in rest] == [], "missing from docs/rest-api.md"
    ui = _documented("ui.md")
    others = [r.path for r in routes if not r.path.startswith("/ui/data/")]
    assert len(others) > 15
    assert [p for p in others if _normal(p) not in ui] == [], "missing from docs/ui.md"
