"""Fixtures of the authentication and authorization tests (helpers in ``authz_world.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import authz_world as w
import pytest

from modelyard.server.app import create_app


@pytest.fixture(scope="session")
def auth_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[w.AuthWorld]:
    """A ``--auth`` server over a fresh SQLite database, seeded with the users and grants of
    :mod:`authz_world`."""
    root = tmp_path_factory.mktemp("auth-server")
    app = create_app(w.auth_settings(root))
    with w.serve_in_thread(app) as url:
        world = w.AuthWorld(url=url, app=app)
        w.seed(world)
        yield world
