"""Sweeps: one entry point over a grid or random sample of parameters, each trial a child run.

The trials are the cartesian product of the ``grid`` values, each combined with ``trials`` random
samples of the ``random`` distributions (``uniform:LOW:HIGH``, ``loguniform:LOW:HIGH``,
``int:LOW:HIGH`` inclusive, ``choice:A,B,C``). Every trial is checked before anything starts; then a
parent run is created (params ``sweep.metric``, ``sweep.mode``, ``sweep.seed``, ``sweep.grid.<name>``
and ``sweep.random.<name>``), and the trials run ``parallel`` at a time as child runs
(``mlflow.parentRunId``) on the chosen backend. At the end the parent records the best trial by the
metric: tag ``best_run_id``, metric ``best_<metric>`` and params ``best_<name>`` for the swept
parameters.
"""

from __future__ import annotations

import itertools
import logging
import math
import random as random_module
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelyard.client.context import SOURCE_NAME, SOURCE_TYPE, USER, current_user
from modelyard.client.tracking import ModelyardClient
from modelyard.entities import Metric, Param, RunStatus, RunTag
from modelyard.errors import InvalidInput
from modelyard.projects.sources import fetch
from modelyard.projects.submit import (
    BACKEND_TAG,
    ENTRY_POINT_TAG,
    PreparedProject,
    SubmittedRun,
    prepare_project,
    remove,
    resolve_experiment,
)
from modelyard.settings import load_settings

log = logging.getLogger("modelyard.projects")

DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")
_POLL_S = 0.2


@dataclass(frozen=True, slots=True)
class Distribution:
    kind: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple[str, ...] = ()

    def text(self) -> str:
        if self.kind == "choice":
            return "choice:" + ",".join(self.choices)
        return f"{self.kind}:{_fmt(self.low)}:{_fmt(self.high)}"

    def sample(self, rng: random_module.Random) -> str:
        if self.kind == "choice":
            return rng.choice(self.choices)
        if self.kind == "int":
            return str(rng.randint(int(self.low), int(self.high)))
        if self.kind == "loguniform":
            return _fmt(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return _fmt(rng.uniform(self.low, self.high))


@dataclass
class Trial:
    index: int
    params: dict[str, str]
    run_id: str = ""
    status: str = "PENDING"
    value: float | None = None
    submitted: SubmittedRun | None = field(default=None, repr=False)


@dataclass
class SweepResult:
    parent_run_id: str
    trials: list[Trial]
    best: Trial | None
    status: str


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _split(item: str, what: str) -> tuple[str, str]:
    name, sep, rest = item.partition("=")
    if not sep or not name.strip() or not rest.strip():
        raise ValueError(f"{what} {item!r} is not NAME=...")
    return name.strip(), rest.strip()


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """``["depth=2,4", "lr=0.1"]`` -> ``{"depth": ["2", "4"], "lr": ["0.1"]}``."""
    grid: dict[str, list[str]] = {}
    for item in items:
        name, rest = _split(item, "--grid")
        values = [v.strip() for v in rest.split(",") if v.strip()]
        if not values:
            raise ValueError(f"--grid {item!r} lists no value.")
        if name in grid:
            raise ValueError(f"--grid names the parameter '{name}' twice.")
        grid[name] = values
    return grid


def parse_random(items: Sequence[str]) -> dict[str, Distribution]:
    """``["lr=loguniform:1e-4:1e-1"]`` -> ``{"lr": Distribution("loguniform", 1e-4, 0.1)}``."""
    found: dict[str, Distribution] = {}
    for item in items:
        name, rest = _split(item, "--random")
        kind, _, args = rest.partition(":")
        if kind not in DISTRIBUTIONS:
            raise ValueError(
                f"--random {item!r}: unknown distribution {kind!r}; use "
                "uniform:LOW:HIGH, loguniform:LOW:HIGH, int:LOW:HIGH or choice:A,B,C."
            )
        if kind == "choice":
            choices = tuple(v.strip() for v in args.split(",") if v.strip())
            if not choices:
                raise ValueError(f"--random {item!r}: choice needs values, e.g. choice:a,b.")
            dist = Distribution(kind, choices=choices)
        else:
            bounds = args.split(":")
            try:
                low, high = (float(bounds[0]), float(bounds[1])) if len(bounds) == 2 else (0, -1)
            except ValueError:
                low, high = 0, -1
            if not low <= high or (kind == "loguniform" and low <= 0):
                raise ValueError(
                    f"--random {item!r}: {kind} needs LOW:HIGH with LOW <= HIGH"
                    + (" and LOW > 0." if kind == "loguniform" else ".")
                )
            if kind == "int" and (low != int(low) or high != int(high)):
                raise ValueError(f"--random {item!r}: int needs integer bounds.")
            dist = Distribution(kind, low, high)
        if name in found:
            raise ValueError(f"--random names the parameter '{name}' twice.")
        found[name] = dist
    return found


def trial_params(
    grid: Mapping[str, Sequence[str]],
    random: Mapping[str, Distribution],
    trials: int | None,
    seed: int,
) -> list[dict[str, str]]:
    """Every trial's swept parameters, in order (grid points times random samples)."""
    overlap = set(grid) & set(random)
    if overlap:
        raise InvalidInput(f"The parameter '{sorted(overlap)[0]}' is both in --grid and --random.")
    if not grid and not random:
        raise InvalidInput("A sweep needs at least one --grid or --random parameter.")
    per_point = trials if trials is not None else (10 if random and not grid else 1)
    rng = random_module.Random(seed)
    names = list(grid)
    out = []
    for point in itertools.product(*(grid[n] for n in names)):
        for _ in range(per_point):
            params = dict(zip(names, point, strict=True))
            params.update({n: d.sample(rng) for n, d in random.items()})
            out.append(params)
    return out


def sweep(
    uri: str,
    entry_point: str = "main",
    *,
    grid: Mapping[str, Sequence[str]] | None = None,
    random: Mapping[str, Distribution] | None = None,
    trials: int | None = None,
    parallel: int = 1,
    metric: str,
    mode: str = "min",
    parameters: Mapping[str, Any] | None = None,
    seed: int | None = None,
    version: str | None = None,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    env_manager: str | None = None,
    backend: str = "local",
    backend_config: Mapping[str, Any] | None = None,
    storage_dir: str | None = None,
    tracking_uri: str | None = None,
) -> SweepResult:
    """Run the sweep described in the module docstring; returns the trials and the best one."""
    if mode not in ("min", "max"):
        raise InvalidInput(f"mode must be 'min' or 'max', not {mode!r}.")
    if parallel < 1:
        raise InvalidInput("parallel must be at least 1.")
    grid, random = dict(grid or {}), dict(random or {})
    seed = seed if seed is not None else random_module.SystemRandom().randrange(2**31)
    swept = trial_params(grid, random, trials, seed)
    settings = load_settings(tracking_uri=tracking_uri, async_logging=False)
    client = ModelyardClient(settings=settings)
    source = None
    prepared: list[PreparedProject] = []
    try:
        if experiment_name is not None and experiment_id is not None:
            raise InvalidInput("Give --experiment-name or --experiment-id, not both.")
        if experiment_id is not None:
            client.get_experiment(str(experiment_id))
        source = fetch(uri, version)
        fixed = dict(parameters or {})
        for params in swept:  # every trial is checked before anything starts
            prepared.append(
                prepare_project(
                    uri,
                    entry_point,
                    version,
                    {**fixed, **params},
                    env_manager=env_manager,
                    backend=backend,
                    backend_config=backend_config,
                    storage_dir=storage_dir,
                    settings=settings,
                    client=client,
                    source=source,
                )
            )
        exp_id = resolve_experiment(client, experiment_name, experiment_id)
        return _execute(
            client, exp_id, prepared, swept, fixed, grid, random, seed, metric, mode, parallel,
            run_name, backend,
        )  # fmt: skip
    finally:
        for item in prepared:
            remove([c for c in item.cleanup if c is not source])
        if source is not None:
            source.cleanup()
        client.close()


def _execute(
    client: ModelyardClient,
    exp_id: str,
    prepared: list[PreparedProject],
    swept: list[dict[str, str]],
    fixed: Mapping[str, Any],
    grid: Mapping[str, Sequence[str]],
    random: Mapping[str, Distribution],
    seed: int,
    metric: str,
    mode: str,
    parallel: int,
    run_name: str | None,
    backend: str,
) -> SweepResult:
    first = prepared[0]
    parent = client.create_run(
        exp_id,
        tags={
            USER: current_user(),
            SOURCE_NAME: first.source.name,
            SOURCE_TYPE: "PROJECT",
            ENTRY_POINT_TAG: first.entry_point,
            BACKEND_TAG: backend,
            "modelyard.sweep": "true",
            **first.source.tags,
        },
        run_name=run_name,
    )
    parent_id = parent.info.run_id
    sweep_params = {
        **{str(k): str(v) for k, v in fixed.items()},
        "sweep.metric": metric,
        "sweep.mode": mode,
        "sweep.seed": str(seed),
        "sweep.trials": str(len(swept)),
        **{f"sweep.grid.{k}": ",".join(v) for k, v in grid.items()},
        **{f"sweep.random.{k}": d.text() for k, d in random.items()},
    }
    client.log_batch(parent_id, params=[Param(k, v) for k, v in sweep_params.items()])
    log.info("sweep %s: %d trials, %d at a time", parent_id, len(swept), parallel)
    trials = [Trial(i, params) for i, params in enumerate(swept)]
    pending = list(zip(trials, prepared, strict=True))
    running: list[Trial] = []
    try:
        while pending or running:
            while pending and len(running) < parallel:
                trial, project = pending.pop(0)
                submitted = project.launch(
                    client,
                    exp_id,
                    run_name=f"trial-{trial.index:03d}",
                    parent_run_id=parent_id,
                    own_cleanup=False,
                    owns_client=False,
                )
                trial.submitted, trial.run_id, trial.status = submitted, submitted.run_id, "RUNNING"
                running.append(trial)
            time.sleep(_POLL_S)
            for trial in list(running):
                assert trial.submitted is not None
                status = trial.submitted.poll()
                if status is not None:
                    trial.status = status
                    running.remove(trial)
    except BaseException:
        for trial in running:
            if trial.submitted is not None:
                trial.submitted.cancel()
                trial.status = RunStatus.KILLED.value
        client.set_terminated(parent_id, RunStatus.KILLED)
        raise
    best = _record_best(client, parent_id, trials, metric, mode, list(grid) + list(random))
    status = RunStatus.FINISHED if best is not None else RunStatus.FAILED
    client.set_terminated(parent_id, status)
    return SweepResult(parent_id, trials, best, status.value)


def _record_best(
    client: ModelyardClient,
    parent_id: str,
    trials: list[Trial],
    metric: str,
    mode: str,
    swept_names: list[str],
) -> Trial | None:
    for trial in trials:
        if trial.status == RunStatus.FINISHED.value:
            metrics = {m.key: m.value for m in client.get_run(trial.run_id).data.metrics}
            value = metrics.get(metric)
            if value is not None and not math.isnan(value):
                trial.value = value
    scored = [t for t in trials if t.value is not None]
    if not scored:
        log.info("sweep %s: no trial finished with the metric '%s'", parent_id, metric)
        return None
    best = (min if mode == "min" else max)(scored, key=lambda t: t.value or 0.0)
    assert best.value is not None
    client.log_batch(
        parent_id,
        metrics=[Metric(f"best_{metric}", best.value, int(time.time() * 1000), 0)],
        params=[Param(f"best_{k}", best.params[k]) for k in swept_names],
        tags=[RunTag("best_run_id", best.run_id)],
    )
    return best
