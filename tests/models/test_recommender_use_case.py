"""The seed use case: an off-the-shelf recommender plus the team's own rule, shipped as one model.

A scikit-learn ``NearestNeighbors`` over a small item matrix (made here) finds the items closest to
a shopper's taste vector; a diversity rule from the team's own package keeps at most
``max_per_category`` items of one category in the top ``k``. The neighbours model (skops), the item
catalogue and the rule's code travel inside the model directory; nothing is pickled, so it loads
with no opt-in, in modelyard and in MLflow alike.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections import Counter
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.neighbors import NearestNeighbors

import modelyard.pyfunc
from modelyard.errors import InvalidInput
from modelyard.models.signature import Array, DataType

FEATURES = ["sporty", "formal", "price", "warmth"]
CATEGORIES = ["shoes", "jackets", "bags"]


@pytest.fixture
def catalogue(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(7)
    # four items per category around a category centre, so plain neighbours cluster by category
    centres = {"shoes": [1, 0, 0.5, 0], "jackets": [0, 1, 0.5, 1], "bags": [0.5, 0.5, 1, 0]}
    items, rows = [], []
    for cat in CATEGORIES:
        for i in range(4):
            items.append({"id": f"{cat}-{i}", "category": cat})
            rows.append(np.asarray(centres[cat]) + rng.normal(scale=0.05, size=4))
    matrix = np.vstack(rows)
    knn = NearestNeighbors(n_neighbors=len(items)).fit(matrix)
    skops.io.dump(knn, tmp_path / "knn.skops")
    (tmp_path / "items.json").write_text(json.dumps(items))
    np.save(tmp_path / "matrix.npy", matrix)

    rules = tmp_path / "src" / "shop_rules"
    rules.mkdir(parents=True)
    (rules / "__init__.py").write_text(
        textwrap.dedent(
            '''
            def diversify(ranked, categories, k, max_per_category):
                """Greedy: walk the ranked items, skip those whose category is full."""
                picked, count = [], {}
                for item in ranked:
                    cat = categories[item]
                    if count.get(cat, 0) < max_per_category:
                        picked.append(item)
                        count[cat] = count.get(cat, 0) + 1
                    if len(picked) == k:
                        break
                return picked
            '''
        )
    )
    model_code = tmp_path / "recommender.py"
    model_code.write_text(
        textwrap.dedent(
            """
            import json

            import pandas as pd
            import skops.io
            from shop_rules import diversify

            import modelyard.pyfunc

            FEATURES = ["sporty", "formal", "price", "warmth"]


            class DiverseRecommender(modelyard.pyfunc.PythonModel):
                def load_context(self, context):
                    self.knn = skops.io.load(context.artifacts["knn"])
                    with open(context.artifacts["items"]) as f:
                        items = json.load(f)
                    self.ids = [item["id"] for item in items]
                    self.categories = {item["id"]: item["category"] for item in items}

                def predict(self, model_input, params=None):
                    params = params or {}
                    _, neighbours = self.knn.kneighbors(model_input[FEATURES].to_numpy())
                    return pd.DataFrame(
                        {
                            "items": [
                                diversify(
                                    [self.ids[i] for i in row],
                                    self.categories,
                                    params.get("k", 3),
                                    params.get("max_per_category", 1),
                                )
                                for row in neighbours
                            ]
                        }
                    )


            modelyard.pyfunc.set_model(DiverseRecommender())
            """
        )
    )
    return {
        "knn": tmp_path / "knn.skops",
        "items": tmp_path / "items.json",
        "code": model_code,
        "rules": rules,
    }


def _shoppers() -> pd.DataFrame:
    return pd.DataFrame(
        [[0.9, 0.1, 0.5, 0.1], [0.1, 0.9, 0.6, 0.9], [0.5, 0.5, 0.9, 0.1]], columns=FEATURES
    )


def test_recommender_with_diversity_rule_as_one_model(tmp_path: Path, catalogue) -> None:
    example = (_shoppers().head(1), {"k": 3, "max_per_category": 1})
    manifest = modelyard.pyfunc.save_model(
        tmp_path / "model",
        python_model=catalogue["code"],
        artifacts={"knn": catalogue["knn"], "items": catalogue["items"]},
        code_paths=[catalogue["rules"]],
        input_example=example,
    )
    sig = manifest.signature
    assert sig.inputs.names() == FEATURES
    assert sig.outputs.specs[0].type == Array(DataType.string)
    assert {p.name: p.default for p in sig.params.params} == {"k": 3, "max_per_category": 1}
    reqs = (tmp_path / "model" / "requirements.txt").read_text().splitlines()
    assert any(r.startswith("scikit-learn==") for r in reqs)
    assert any(r.startswith("skops==") for r in reqs)
    assert not list((tmp_path / "model").rglob("*.pkl"))

    sys.modules.pop("shop_rules", None)  # the rule must come from the model's own code/
    model = modelyard.pyfunc.load_model(tmp_path / "model")
    shoppers = _shoppers()
    out = model.predict(shoppers)

    items = json.loads(catalogue["items"].read_text())
    category = {item["id"]: item["category"] for item in items}
    matrix = np.load(tmp_path / "matrix.npy")
    for row, picked in zip(shoppers.to_numpy(), out["items"], strict=True):
        ranked = [items[i]["id"] for i in np.argsort(np.linalg.norm(matrix - row, axis=1))]
        assert len(picked) == 3
        assert picked[0] == ranked[0]  # the closest item always leads
        assert len({category[i] for i in picked}) == 3  # one per category
        # the plain recommender alone would repeat the nearest category
        assert len({category[i] for i in ranked[:3]}) == 1
        # each pick is the nearest item whose category still had room
        for n, item in enumerate(picked):
            used = Counter(category[p] for p in picked[:n])
            allowed = [r for r in ranked if r not in picked[:n] and used[category[r]] < 1]
            assert item == allowed[0]

    # the rule's parameter is part of the model: with room for three, it is the plain ranking
    relaxed = model.predict(shoppers, params={"max_per_category": 3})
    for row, picked in zip(shoppers.to_numpy(), relaxed["items"], strict=True):
        ranked = [items[i]["id"] for i in np.argsort(np.linalg.norm(matrix - row, axis=1))]
        assert picked == ranked[:3]
    assert [len(p) for p in model.predict(shoppers, params={"k": 2})["items"]] == [2, 2, 2]

    with pytest.raises(InvalidInput, match=r"missing required column\(s\) \['warmth'\]"):
        model.predict(shoppers.drop(columns=["warmth"]))
    with pytest.raises(InvalidInput, match="Parameter 'k' must be a long"):
        model.predict(shoppers, params={"k": "three"})

    # MLflow serves the same directory with the same answers
    theirs = mlflow.pyfunc.load_model(str(tmp_path / "model")).predict(shoppers)
    assert theirs["items"].tolist() == out["items"].tolist()
