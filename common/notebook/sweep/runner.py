"""Plan the runs of a sweep and execute them one by one, resumable and failure-tolerant.

Each run lives in ``<sweep folder>/<run name>/`` (the notebook's ``OUTPUT_DIR``) with a
``sweep_run.json`` that records its parameters and status. A rerun skips every run whose
status is ``ok``; failed and interrupted runs are run again.
"""
from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from common.engine.files import atomic_write
from common.notebook.execute import REPO_ROOT, load_metrics, run_notebook
from common.notebook.run_notebooks import NOTEBOOKS, DemoNotebook

from .grid import Factor, check_names, combinations, notebook_parameters, run_name

__all__ = ["RunSpec", "RunResult", "resolve_notebook", "demo_overrides", "plan_runs", "execute"]

STATUS_FILE = "sweep_run.json"


@dataclass
class RunSpec:
    name: str
    folder: Path
    params: dict             # everything injected: demo overrides, grid values, SEED
    varied: dict             # the grid values of this run (no seed)
    seed: int | None
    repeat: int


@dataclass
class RunResult:
    spec: RunSpec
    status: str              # "ok" | "failed" | "not run" (report only)
    metrics: dict = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""
    reused: bool = False     # finished in an earlier invocation, skipped now


def resolve_notebook(arg: str) -> tuple[Path, DemoNotebook | None]:
    """A notebook path, or the name of a ``make demo`` notebook (``hw1p2``); with its demo entry."""
    by_name = {nb.name: nb for nb in NOTEBOOKS}
    if arg in by_name:
        return REPO_ROOT / by_name[arg].path, by_name[arg]
    path = Path(arg).resolve()
    if not path.exists():
        raise FileNotFoundError(f"notebook {arg} does not exist (a path, or one of {sorted(by_name)})")
    demo = next((nb for nb in NOTEBOOKS if (REPO_ROOT / nb.path).resolve() == path), None)
    return path, demo


def demo_overrides(demo: DemoNotebook | None, demo_size: str) -> dict:
    """The CPU-sized settings ``make demo`` uses for this notebook (none for other notebooks)."""
    if demo is None:
        return {}
    params = dict(demo.params)
    if str(demo_size).isdigit():
        demo_size = int(demo_size)            # a number of training utterances
    if demo.sized:
        params.update(DEMO=True, DEMO_SIZE=demo_size, DEMO_DIR=str(REPO_ROOT / "data" / "demo" / str(demo_size)))
    return params


def plan_runs(notebook: Path, factors: list[Factor], out_root: Path, *, base: dict | None = None,
              repeat: int = 1, one_at_a_time: bool = False) -> list[RunSpec]:
    """Every run of the sweep; raises before any run on an unknown grid name or a bad --repeat."""
    known = notebook_parameters(notebook)
    check_names(factors, known, notebook)
    swept = {n for f in factors for n in f.names}
    if repeat < 1:
        raise ValueError(f"--repeat must be at least 1, got {repeat}")
    if repeat > 1 and "SEED" in swept:
        raise ValueError("SEED is in the grid and --repeat > 1 also varies it: use one of the two")
    if repeat > 1 and "SEED" not in known:
        raise ValueError(f"--repeat {repeat} varies the SEED parameter, but {notebook.name} defines none")
    base = dict(base or {})
    first_seed = known.get("SEED") if isinstance(known.get("SEED"), int) else 0
    multi = {n for f in factors if len(f.values) > 1 for n in f.names}   # names in the run's folder name
    specs = []
    for varied in combinations(factors, one_at_a_time):
        for r in range(repeat):
            params = {**base, **varied}
            shown = {k: v for k, v in varied.items() if k in multi}
            if "SEED" in known and "SEED" not in swept:
                params["SEED"] = shown["seed"] = first_seed + r   # always named: a later --repeat K reuses runs
            seed = params.get("SEED")
            name = run_name(shown, {"notebook": notebook.name, **params})
            specs.append(RunSpec(name, out_root / name, params, varied, seed, r))
    return specs


def _status(folder: Path) -> dict:
    path = folder / STATUS_FILE
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except json.JSONDecodeError:
        return {}


def _write_status(spec: RunSpec, result: RunResult) -> None:
    spec.folder.mkdir(parents=True, exist_ok=True)
    record = {"status": result.status, "run": spec.name, "params": spec.params, "seconds": result.seconds,
              "error": result.error, "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
    with atomic_write(spec.folder / STATUS_FILE) as f:
        f.write(json.dumps(record, indent=2, default=str))


def execute(notebook: Path, specs: list[RunSpec], *, runner=run_notebook, wandb: bool = False,
            group: str | None = None, timeout: int = 3600, log=None, report_only: bool = False) -> list[RunResult]:
    """Run every spec not finished before; a failure is recorded and the next run goes on.

    ``report_only``: run nothing; the runs not finished yet come back with status "not run".
    """
    from .report import load_history  # the report reads the same files the learning curves use

    log = log or (lambda message: print(message, flush=True))
    known = notebook_parameters(notebook)
    results = []
    for i, spec in enumerate(specs, 1):
        head = f"[{i}/{len(specs)}] {spec.name}"
        if _status(spec.folder).get("status") == "ok" and (spec.folder / "metrics.json").exists():
            results.append(RunResult(spec, "ok", load_metrics(spec.folder), _status(spec.folder).get("seconds", 0.0),
                                     reused=True))
            log(f"{head}: finished earlier, skipped")
            continue
        if report_only:
            results.append(RunResult(spec, "not run"))
            log(f"{head}: not run yet")
            continue
        params = dict(spec.params)
        if "RESUME" in known and (spec.folder / "checkpoints" / "last.pt").exists():
            params["RESUME"] = True     # an interrupted run continues from its last epoch
        log(f"{head}: running")
        t0 = time.perf_counter()
        try:
            metrics = runner(notebook, spec.folder, params, timeout=timeout)
            result = RunResult(spec, "ok", metrics, time.perf_counter() - t0)
            log(f"{head}: done in {result.seconds:.0f} s")
        except Exception as err:  # report it, keep going with the other runs
            lines = [ln for ln in str(err).strip().splitlines() if ln.strip()]
            if getattr(err, "ename", None):     # papermill: the exception raised inside the notebook
                message = f"{err.ename}: {err.evalue}"[:500]
            else:
                message = f"{type(err).__name__}: {lines[-1] if lines else ''}"[:500]
            result = RunResult(spec, "failed", {}, time.perf_counter() - t0, message)
            log(f"{head}: FAILED after {result.seconds:.0f} s: {message}")
            if not lines:
                log(traceback.format_exc())
        _write_status(spec, result)
        results.append(result)
        if wandb:
            _log_wandb(spec, result, load_history(spec.folder), group or f"sweep-{notebook.stem}",
                       project=notebook.stem)
    return results


def _log_wandb(spec: RunSpec, result: RunResult, history, group: str, project: str) -> None:
    """One wandb run per sweep run, all in one group (offline unless logged in)."""
    from common.engine.tracking import init_wandb

    previous = os.environ.get("WANDB_RUN_GROUP")
    os.environ["WANDB_RUN_GROUP"] = group       # wandb.init reads the group from here
    try:
        run = init_wandb(True, project=project, name=spec.name, dir=str(spec.folder),
                         config={**spec.params, "sweep_status": result.status})
    finally:
        if previous is None:
            os.environ.pop("WANDB_RUN_GROUP", None)
        else:
            os.environ["WANDB_RUN_GROUP"] = previous
    if history is not None:
        for row in history.to_dict("records"):
            run.log({k: v for k, v in row.items() if k != "epoch"}, step=int(row.get("epoch", 0)))
    run.summary.update({k: v for k, v in result.metrics.items() if isinstance(v, (int, float, str, bool))})
    run.finish(exit_code=0 if result.status == "ok" else 1)
