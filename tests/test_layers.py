"""The layers of ARCHITECTURE.md hold: imports point down, and each outside framework has one door.

Every module of ``src/modelyard`` is parsed (not imported). A module-level import is one that runs
when the module is imported; imports inside functions (the CLI's heavy imports, lazy glue) and under
``if TYPE_CHECKING:`` are counted separately where the rule allows them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "modelyard"


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. "server/rpc.py"
    target: str  # the imported name, e.g. "sqlalchemy.orm"
    top_level: bool  # runs at import time (not in a function, not under TYPE_CHECKING)
    line: int


def _imports() -> list[Import]:
    found: list[Import] = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        tree = ast.parse(path.read_text(), filename=rel)
        _walk(tree, rel, top_level=True, out=found)
    return found


def _deferred(node: ast.AST) -> bool:
    """A function body, or an ``if TYPE_CHECKING:`` block: its imports do not run at import time."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        return True
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _walk(node: ast.AST, rel: str, *, top_level: bool, out: list[Import]) -> None:
    for child in ast.iter_child_nodes(node):
        if _deferred(child):
            _walk(child, rel, top_level=False, out=out)
        elif isinstance(child, ast.Import):
            out += [Import(rel, a.name, top_level, child.lineno) for a in child.names]
        elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
            out.append(Import(rel, child.module, top_level, child.lineno))
        else:
            _walk(child, rel, top_level=top_level, out=out)


IMPORTS = _imports()


def _root(name: str) -> str:
    return name.split(".")[0]


def _offenders(rule) -> list[str]:
    return [f"{i.module}:{i.line} imports {i.target}" for i in IMPORTS if rule(i)]


def test_the_tree_was_parsed() -> None:
    modules = {i.module for i in IMPORTS}
    assert {"server/app.py", "client/tracking.py", "store/sql/tracking.py"} <= modules


@pytest.mark.parametrize(
    ("library", "doors"),
    [
        ("sqlalchemy", ("store/sql/",)),
        ("alembic", ("store/sql/",)),
        ("fastapi", ("server/", "serving/")),
        ("starlette", ("server/", "serving/")),
        ("uvicorn", ("server/", "serving/")),
        ("httpx", ("client/http.py", "store/artifacts/http.py")),
    ],
)
def test_each_framework_has_one_door(library: str, doors: tuple[str, ...]) -> None:
    """Only its door imports the library at module level; the CLI may import it inside a command."""
    assert not _offenders(
        lambda i: (
            _root(i.target) == library
            and not i.module.startswith(doors)
            and (i.top_level or not i.module.startswith("cli/"))
        )
    )


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        (
            "entities/",
            ("modelyard.store", "modelyard.service", "modelyard.server", "modelyard.client"),
        ),
        (
            "search/",
            ("modelyard.store", "modelyard.service", "modelyard.server", "modelyard.client"),
        ),
        (
            "schemas/",
            ("modelyard.store", "modelyard.service", "modelyard.server", "modelyard.client"),
        ),
        ("store/", ("modelyard.service", "modelyard.server", "modelyard.client")),
        (
            "models/",
            ("modelyard.store", "modelyard.service", "modelyard.server", "modelyard.client"),
        ),
        ("service/", ("modelyard.server", "modelyard.client", "modelyard.store.sql")),
        ("server/", ("modelyard.client",)),
        ("client/", ("modelyard.server",)),
    ],
)
def test_imports_point_down(layer: str, forbidden: tuple[str, ...]) -> None:
    """A layer never imports the layers above it at import time."""
    assert not _offenders(
        lambda i: (
            i.module.startswith(layer)
            and i.top_level
            and any(i.target == f or i.target.startswith(f + ".") for f in forbidden)
        )
    )


def test_the_service_never_names_the_sql_store() -> None:
    """Not even for type checking: the service works over store protocols and entities only."""
    assert not _offenders(
        lambda i: i.module.startswith("service/") and i.target.startswith("modelyard.store.sql")
    )


def test_server_and_client_never_meet() -> None:
    """Not even lazily: the server and the client share only service, schemas and errors."""
    assert not _offenders(
        lambda i: (
            (i.module.startswith("server/") and i.target.startswith("modelyard.client"))
            or (i.module.startswith("client/") and i.target.startswith("modelyard.server"))
        )
    )
