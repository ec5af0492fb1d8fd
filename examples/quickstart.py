"""Log an example experiment, "quickstart", with modelyard's fluent API.

A small hyper-parameter sweep: one parent run with a nested run per (learning rate, depth) pair, each
with params, a loss curve logged per step, tags and a final score. The parent run records the best
child. Running it again adds another sweep to the same experiment.

    python examples/quickstart.py                                    # MODELYARD_TRACKING_URI or ./modelyard.db
    python examples/quickstart.py --tracking-uri sqlite:///modelyard.db
    python examples/quickstart.py --tracking-uri http://127.0.0.1:5000  # a running modelyard server
"""

from __future__ import annotations

import argparse
import math
import random

import modelyard

EXPERIMENT = "quickstart"
LEARNING_RATES = (0.3, 0.1, 0.03)
DEPTHS = (2, 6)
EPOCHS = 12


def loss_curve(learning_rate: float, depth: int, rng: random.Random) -> list[tuple[float, float]]:
    """A made-up (train loss, validation loss) per epoch: deeper models fit more and generalise less."""
    floor = 0.18 + 0.02 * depth - 0.15 * learning_rate
    curve = []
    for epoch in range(EPOCHS):
        train = floor * 0.8 + math.exp(-learning_rate * 4 * (epoch + 1)) + rng.uniform(0, 0.01)
        val = floor + math.exp(-learning_rate * 3 * (epoch + 1)) + 0.004 * depth * epoch / EPOCHS
        curve.append((round(train, 4), round(val + rng.uniform(0, 0.02), 4)))
    return curve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tracking-uri",
        help="A database URI (logged in-process) or the http(s):// address of a modelyard server. "
        "Default: $MODELYARD_TRACKING_URI, then $MLFLOW_TRACKING_URI, then sqlite:///modelyard.db.",
    )
    args = parser.parse_args(argv)
    if args.tracking_uri:
        modelyard.set_tracking_uri(args.tracking_uri)
    experiment = modelyard.set_experiment(EXPERIMENT)
    rng = random.Random(42)

    results: dict[tuple[float, int], float] = {}
    with modelyard.start_run(run_name="sweep") as parent:
        modelyard.set_tags(
            {"kind": "sweep", "model": "gradient-boosting", "dataset": "synthetic-v1"}
        )
        modelyard.log_params({"learning_rates": LEARNING_RATES, "depths": DEPTHS, "epochs": EPOCHS})
        for learning_rate in LEARNING_RATES:
            for depth in DEPTHS:
                with modelyard.start_run(run_name=f"lr={learning_rate}-depth={depth}", nested=True):
                    modelyard.log_params({"learning_rate": learning_rate, "max_depth": depth})
                    modelyard.set_tag("kind", "trial")
                    curve = loss_curve(learning_rate, depth, rng)
                    for step, (train, val) in enumerate(curve):
                        modelyard.log_metric("train_loss", train, step=step)
                        modelyard.log_metric("val_loss", val, step=step)
                    best_val = min(val for _, val in curve)
                    modelyard.log_metric("best_val_loss", best_val)
                    results[(learning_rate, depth)] = best_val
        (best_lr, best_depth), best_loss = min(results.items(), key=lambda item: item[1])
        modelyard.log_params({"best_learning_rate": best_lr, "best_max_depth": best_depth})
        modelyard.log_metric("best_val_loss", best_loss)

    print(
        f"Logged a sweep of {len(results)} runs to experiment {EXPERIMENT!r} "
        f"(id {experiment.experiment_id}); parent run {parent.info.run_id}. "
        f"Best: learning_rate={best_lr}, max_depth={best_depth}, val_loss={best_loss}."
    )


if __name__ == "__main__":
    main()
