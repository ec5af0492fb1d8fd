"""Promote the Staging candidate of a registered model if it beats Production on held-out data.

The script a CI job (Jenkins, GitHub Actions) runs after training registered a new version and moved
it to Staging:

1. load the newest Staging version and the newest Production version of ``--model``;
2. score both on the held-out CSV (``--holdout``, the label in ``--target``) with ``--metric``;
3. as the CI user (``--requester``), ask for the candidate to enter Production, with the scores;
4. as the approver (``--approver``), approve it when it beats Production by at least
   ``--min-improvement`` (the approval moves it and archives the old Production version), else
   reject the request with a comment that carries both numbers.

It prints the decision as JSON and exits 0; with ``--fail-on-reject`` a rejection exits 1, so the
pipeline shows red. A model with no Production version yet is promoted when it reaches
``--min-score``.

    python examples/promote.py --tracking-uri http://mlops:5000 --model fraud-detector \
        --holdout holdout.csv --target label --metric roc_auc --min-improvement 0.005

Models are read with ``modelyard.pyfunc.load_model`` (MLmodel directories, e.g. saved with
``modelyard.sklearn.save_model`` or MLflow's ``mlflow.sklearn``), downloaded from the version's
download URI.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from typing import Any

import numpy as np

import modelyard.pyfunc
from modelyard import ModelyardClient

METRICS = ("accuracy", "roc_auc")


def read_holdout(path: str, target: str) -> tuple[np.ndarray, np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or target not in rows[0]:
        raise SystemExit(f"{path}: no rows, or no column {target!r}")
    features = [c for c in rows[0] if c != target]
    x = np.array([[float(r[c]) for c in features] for r in rows])
    y = np.array([float(r[target]) for r in rows])
    return x, y


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """The probability that a random positive scores above a random negative (ties count half)."""
    pos, neg = score[y == 1], score[y != 1]
    if len(pos) == 0 or len(neg) == 0:
        raise SystemExit("roc_auc needs both classes in the held-out data")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def score(
    client: ModelyardClient, version: Any, x: np.ndarray, y: np.ndarray, metric: str
) -> float:
    uri = client.get_model_version_download_uri(version.name, version.version)
    with tempfile.TemporaryDirectory() as tmp:
        local = client.download_artifacts(artifact_uri=uri, dst_path=tmp)
        model = modelyard.pyfunc.load_model(local)
        predictions = np.asarray(model.predict(x), dtype=float).reshape(len(y), -1)
    predicted = predictions[:, -1]
    if metric == "accuracy":
        labels = predicted if predictions.shape[1] == 1 else predictions.argmax(axis=1)
        return float((np.rint(labels) == y).mean())
    return roc_auc(y, predicted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracking-uri", required=True, help="server URL or database URI")
    parser.add_argument("--model", required=True, help="the registered model")
    parser.add_argument("--holdout", required=True, help="held-out data, CSV with a header")
    parser.add_argument("--target", default="label", help="the label column of --holdout")
    parser.add_argument("--metric", choices=METRICS, default="accuracy")
    parser.add_argument("--min-improvement", type=float, default=0.0)
    parser.add_argument(
        "--min-score", type=float, default=0.0, help="when nothing is in Production"
    )
    parser.add_argument("--requester", default="ci-bot")
    parser.add_argument("--approver", default="ci-gate")
    parser.add_argument("--fail-on-reject", action="store_true")
    args = parser.parse_args(argv)

    x, y = read_holdout(args.holdout, args.target)
    with ModelyardClient(args.tracking_uri) as client:
        staging = client.get_latest_versions(args.model, ["Staging"])
        if not staging:
            print(json.dumps({"decision": "nothing to do", "reason": "no Staging version"}))
            return 0
        candidate = staging[0]
        production = client.get_latest_versions(args.model, ["Production"])
        current = production[0] if production else None

        candidate_score = score(client, candidate, x, y, args.metric)
        current_score = score(client, current, x, y, args.metric) if current else None
        if current_score is None:
            promote = candidate_score >= args.min_score
            numbers = (
                f"{args.metric} {candidate_score:.4f} on {len(y)} held-out rows; nothing in "
                f"Production (minimum {args.min_score:.4f})"
            )
        else:
            promote = candidate_score - current_score >= args.min_improvement
            numbers = (
                f"{args.metric} {candidate_score:.4f} (version {candidate.version}) vs "
                f"{current_score:.4f} (Production, version {current.version}) on {len(y)} "
                f"held-out rows; needed +{args.min_improvement:.4f}, got "
                f"{candidate_score - current_score:+.4f}"
            )
        client.set_model_version_tag(
            args.model, candidate.version, f"holdout_{args.metric}", f"{candidate_score:.6f}"
        )

        client.registry_user = args.requester
        request = client.create_transition_request(
            args.model,
            candidate.version,
            "Production",
            comment=f"CI candidate: {numbers}",
            archive_existing_versions=True,
        )
        client.registry_user = args.approver
        if promote:
            client.approve_transition_request(
                request_id=request.id, comment=f"Approved by CI: {numbers}"
            )
        else:
            client.reject_transition_request(
                request_id=request.id, comment=f"Rejected by CI: {numbers}"
            )
    result = {
        "decision": "promoted" if promote else "rejected",
        "model": args.model,
        "candidate": candidate.version,
        "production": current.version if current else None,
        "metric": args.metric,
        "candidate_score": candidate_score,
        "production_score": current_score,
        "request_id": request.id,
    }
    print(json.dumps(result))
    return 1 if args.fail_on_reject and not promote else 0


if __name__ == "__main__":
    sys.exit(main())
