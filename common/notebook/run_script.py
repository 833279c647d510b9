"""Run a notebook's code as a script, e.g. on several GPUs with torchrun, for long runs::

    torchrun --standalone --nproc_per_node=2 -m common.notebook.run_script hw2_cnn/hw2p2.ipynb --param DEMO=False \\
        --param DATA_ROOT=/data/11-785-f24-hw2p2-verification --param EPOCHS=30
    python -m common.notebook.run_script hw1_mlp/hw1p2.ipynb --param EPOCHS=2      # one process

The code cells run in order in one namespace, with the notebook's folder as the working
directory (as in Jupyter); ``--param NAME=VALUE`` assignments (Python literals, else strings)
are placed after the cell tagged ``parameters``, as papermill does. Every process runs the
cells up to the training cell; the notebook's ``launch`` (common.engine.distributed) trains on every
rank, then only rank 0 runs the rest (evaluation, plots, submission). Before training, the
other processes of a machine run each cell after its local rank 0 has, so that files a cell
writes (the demo data) are complete before they read them. Lines with IPython syntax
(``%magic``, ``!shell``) are skipped; figures go to files (matplotlib's Agg backend).
"""
from __future__ import annotations

import argparse
import ast
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["notebook_code", "parse_params", "main"]


def parse_params(items) -> dict:
    """``["EPOCHS=3", "DATA_ROOT=/data"]`` -> {"EPOCHS": 3, "DATA_ROOT": "/data"}."""
    params = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise SystemExit(f"--param expects NAME=VALUE, got {item!r}")
        try:
            params[name.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[name.strip()] = value
    return params


def notebook_code(path, params: dict | None = None) -> list[str]:
    """The code cells of notebook ``path`` as sources, the parameter overrides as a cell after
    the ``parameters`` cell (an error naming the notebook when there is none to override)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    sources = ["\n".join(line if not line.lstrip().startswith(("%", "!")) else "pass  # " + line
                         for line in c.source.splitlines()) for c in cells]
    if params:
        tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
        if not tagged:
            raise SystemExit(f"{path} has no cell tagged 'parameters' to override {sorted(params)}")
        sources.insert(tagged[0] + 1, "\n".join(f"{k} = {v!r}" for k, v in params.items()))
    return sources


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m common.notebook.run_script", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="parameter override (repeat for several)")
    args = parser.parse_args(argv)
    notebook = args.notebook.resolve()
    if not notebook.is_file():
        raise SystemExit(f"no notebook at {notebook}")
    sources = notebook_code(notebook, parse_params(args.param))
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.chdir(notebook.parent)
    sys.path.insert(0, str(notebook.parent))
    rank, local_rank = os.environ.get("RANK", "0"), os.environ.get("LOCAL_RANK", "0")
    sync = None
    if int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1"))) > 1:
        # one folder per torchrun invocation: its agent is the parent of every local rank
        sync = Path(tempfile.gettempdir()) / f"idl_run_script_{os.getppid()}_{os.environ.get('MASTER_PORT', '')}"
        sync.mkdir(exist_ok=True)
        os.environ["IDL_RUN_SCRIPT_SYNC"] = str(sync)      # common.engine.distributed.launch marks the training
    namespace = {"__name__": "__main__", "display": print}
    for k, source in enumerate(sources, start=1):
        if rank == "0":
            print(f"[{notebook.name}] cell {k}/{len(sources)}", flush=True)
        if sync is not None and local_rank != "0":
            _wait_for(sync, k)
        exec(compile(source, f"{notebook.name}:cell{k}", "exec"), namespace)
        if sync is not None and local_rank == "0":
            (sync / f"done-{k}").touch()
    if sync is not None and local_rank == "0":
        shutil.rmtree(sync, ignore_errors=True)


def _wait_for(sync: Path, cell: int) -> None:
    """Until local rank 0 has run ``cell`` or has started training (then every rank must join)."""
    while not ((sync / f"done-{cell}").exists() or (sync / "launched").exists()):
        time.sleep(0.2)


if __name__ == "__main__":
    main()
