"""Train a regressor on scikit-learn's diabetes data and log it to the run `modelyard run` started.

Params, metrics (rmse, mae, r2 on a held-out split) and the fitted model (MLmodel format, skops) go
to the run named by MODELYARD_RUN_ID; run on its own, the script starts a new run.
"""

from __future__ import annotations

import argparse
import tempfile

from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

import modelyard
import modelyard.sklearn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", choices=["elasticnet", "forest"], default="elasticnet")
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--l1-ratio", type=float, default=0.5)
    parser.add_argument("--n-estimators", type=int, default=100)
    parser.add_argument("--max-depth", type=int, default=4)
    parser.add_argument("--test-size", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=args.test_size, random_state=args.seed
    )
    if args.model == "elasticnet":
        model = ElasticNet(alpha=args.alpha, l1_ratio=args.l1_ratio, random_state=args.seed)
    else:
        model = RandomForestRegressor(
            n_estimators=args.n_estimators, max_depth=args.max_depth, random_state=args.seed
        )

    with modelyard.start_run():  # continues the run of `modelyard run`
        modelyard.log_params({"model": args.model, "train_rows": len(X_train)})
        model.fit(X_train, y_train)
        predicted = model.predict(X_test)
        modelyard.log_metrics(
            {
                "rmse": float(mean_squared_error(y_test, predicted) ** 0.5),
                "mae": float(mean_absolute_error(y_test, predicted)),
                "r2": float(r2_score(y_test, predicted)),
            }
        )
        log_model = getattr(modelyard.sklearn, "log_model", None)
        if log_model is not None:
            log_model(model, "model", input_example=X_test.head(3))
        else:  # save in the MLmodel format, then upload the folder as the run's "model" artifact
            with tempfile.TemporaryDirectory() as folder:
                modelyard.sklearn.save_model(model, f"{folder}/model", input_example=X_test.head(3))
                modelyard.log_artifacts(f"{folder}/model", "model")


if __name__ == "__main__":
    main()
