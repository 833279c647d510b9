"""Ablation sweeps: run a notebook over a grid of parameters and draw the comparison.

    python -m common.notebook.sweep hw1p2 --grid CONTEXT=0,5,15,30 DROPOUT=0,0.2 --repeat 2
    python -m common.notebook.sweep hw1_mlp/hw1p2.ipynb --grid "HIDDEN_SIZES=[512,256],[1024,512]" --demo-size tiny
    python -m common.notebook.sweep hw1p2 --grid "FREQ_MASKS,TIME_MASKS=(1,1),(0,0)" CONTEXT=15,5 --one-at-a-time

Each run executes the notebook headless (papermill) with the ``make demo`` overrides of
``common.notebook.run_notebooks`` plus its grid values, in ``runs/sweeps/<notebook>/<run>/``. Grid
names are checked against the notebook's parameters cell before anything runs. ``--repeat K``
varies the notebook's ``SEED`` (default, default+1, ...). A failed run is reported and the
others go on (exit status 1 at the end); a rerun skips the runs that finished. The sweep
folder gets ``results.csv`` (also printed), ``<metric>_vs_parameters.png`` and
``learning_curves.png``. ``--wandb`` logs every run to one wandb group (offline unless logged in);
``--report-only`` runs nothing and redraws the table and plots from the runs finished so far.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.notebook.execute import REPO_ROOT

from .grid import Factor, combinations, notebook_parameters, parse_grid, split_values
from .report import headline_metric, load_history, plot_learning_curves, plot_metric, results_table
from .runner import RunResult, RunSpec, demo_overrides, execute, plan_runs, resolve_notebook

__all__ = ["main", "sweep", "Factor", "parse_grid", "split_values", "notebook_parameters", "combinations",
           "plan_runs", "execute", "RunSpec", "RunResult", "results_table", "load_history"]


def sweep(notebook, grid: list[str], *, repeat: int = 1, demo_size: str = "small", out=None,
          one_at_a_time: bool = False, metric: str | None = None, wandb: bool = False,
          group: str | None = None, timeout: int = 3600, runner=None, log=print, report_only: bool = False) -> dict:
    """Run the sweep and write its table and plots; returns the paths and the table."""
    path, demo = resolve_notebook(str(notebook))
    factors = parse_grid(grid)
    out_root = Path(out) if out else REPO_ROOT / "runs" / "sweeps" / path.stem
    specs = plan_runs(path, factors, out_root, base=demo_overrides(demo, demo_size), repeat=repeat,
                      one_at_a_time=one_at_a_time)
    log(f"sweep of {path.name}: {len(specs)} run(s) in {out_root}")
    kwargs = {"runner": runner} if runner is not None else {}
    results = execute(path, specs, wandb=wandb, group=group, timeout=timeout, log=log, report_only=report_only,
                      **kwargs)
    table = results_table(results, factors)
    out_root.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_root / "results.csv", index=False)
    shown = table.drop(columns=["run"] + (["error"] if not table["error"].any() else []))
    log(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    paths = {"table": out_root / "results.csv", "metric_plot": None, "curves_plot": None}
    if (table["status"] == "ok").any():
        name = metric or headline_metric(table, factors, demo.headline if demo else ())
        if name not in table.columns:
            raise ValueError(f"metric {name!r} is not in the results; metrics: {list(table.columns)}")
        baseline = combinations(factors, one_at_a_time=True)[0] if one_at_a_time else None
        if any(len(f.values) > 1 for f in factors):
            paths["metric_plot"] = plot_metric(results, factors, name, out_root, baseline)
        paths["curves_plot"] = plot_learning_curves(results, factors, out_root)
    for key in ("table", "metric_plot", "curves_plot"):
        if paths[key] is not None:
            log(f"wrote {paths[key]}")
    failed = [r.spec.name for r in results if r.status == "failed"]
    if failed:
        log(f"FAILED {len(failed)} of {len(results)} run(s): {', '.join(failed)}")
    return {**paths, "results": results, "table": table, "table_path": out_root / "results.csv",
            "failed": failed}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.notebook.sweep", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebook", help="notebook path, or a `make demo` name such as hw1p2")
    parser.add_argument("--grid", nargs="+", required=True, metavar="NAME=v1,v2",
                        help="values are Python literals (lists allowed); A,B=(a1,b1),(a2,b2) sets two together")
    parser.add_argument("--repeat", type=int, default=1, help="runs per setting, SEED varied (default 1)")
    parser.add_argument("--demo-size", default="small",
                        help="demo corpus: tiny | small | medium, or a number of training utterances (default small)")
    parser.add_argument("--one-at-a-time", action="store_true",
                        help="vary one factor at a time around the first value of each (not the full grid)")
    parser.add_argument("--metric", help="metric to plot (default: the notebook's headline metric)")
    parser.add_argument("--out", help="sweep folder (default runs/sweeps/<notebook>)")
    parser.add_argument("--wandb", action="store_true", help="log runs to one wandb group (offline unless logged in)")
    parser.add_argument("--group", help="wandb group name (default sweep-<notebook>)")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: table and plots of the runs finished so far (e.g. while a sweep runs)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per notebook cell (default 3600)")
    args = parser.parse_args(argv)
    try:
        outcome = sweep(args.notebook, args.grid, repeat=args.repeat, demo_size=args.demo_size, out=args.out,
                        one_at_a_time=args.one_at_a_time, metric=args.metric, wandb=args.wandb,
                        group=args.group, timeout=args.timeout, report_only=args.report_only)
    except (ValueError, FileNotFoundError) as err:   # a bad grid or notebook: before any run
        parser.exit(2, f"error: {err}\n")
    return 1 if outcome["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
