"""Run notebooks headless (papermill) and collect their headline metrics.

Contract every notebook follows:
- its first code cell is tagged ``parameters`` and defines ``OUTPUT_DIR`` (plus ``DEMO``,
  ``DEMO_SIZE``, ``DATA_ROOT`` for the homework notebooks);
- it writes its plots (PNG), submission files and a ``metrics.json`` of headline figures
  into ``OUTPUT_DIR`` (``save_metrics`` below);
- ``run_notebook`` injects parameters, executes it with the notebook's folder as working
  directory, stores the executed copy in ``OUTPUT_DIR`` and returns ``metrics.json``.
"""
from __future__ import annotations

import json
from pathlib import Path

from common.engine.files import atomic_write

__all__ = ["run_notebook", "save_metrics", "load_metrics", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[2]


def save_metrics(output_dir, **metrics) -> Path:
    """Merge ``metrics`` into ``output_dir/metrics.json`` (atomic write) and return its path."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "metrics.json"
    current = json.loads(path.read_text()) if path.exists() else {}
    current.update({k: (float(v) if hasattr(v, "item") else v) for k, v in metrics.items()})
    with atomic_write(path) as f:
        f.write(json.dumps(current, indent=2, sort_keys=True))
    return path


def load_metrics(output_dir) -> dict:
    path = Path(output_dir) / "metrics.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} was not written: the notebook must call save_metrics(OUTPUT_DIR, ...)")
    return json.loads(path.read_text())


def run_notebook(notebook, output_dir, parameters: dict | None = None, timeout: int = 1800,
                 log_output: bool = False) -> dict:
    """Execute ``notebook`` with papermill; return the metrics it saved.

    The executed copy is written to ``output_dir/<name>.ipynb``; ``OUTPUT_DIR`` is injected
    as a parameter (absolute path) together with ``parameters``.
    """
    import papermill as pm  # imported here: only the runner needs jupyter tooling

    notebook = Path(notebook).resolve()
    if not notebook.exists():
        raise FileNotFoundError(f"notebook {notebook} does not exist")
    out = Path(output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    stale = out / "metrics.json"
    if stale.exists():
        stale.unlink()
    params = {"OUTPUT_DIR": str(out), **(parameters or {})}
    # the kernel's inline backend renders figures into the executed copy; notebooks also
    # save the figures that matter as PNG files in OUTPUT_DIR
    from nbclient.exceptions import DeadKernelError

    for attempt in (1, 2):
        try:
            pm.execute_notebook(
                str(notebook), str(out / notebook.name), parameters=params,
                cwd=str(notebook.parent), kernel_name="python3", progress_bar=False,
                log_output=log_output, execution_timeout=timeout,
            )
            break
        except DeadKernelError:
            # the kernel process died (killed under memory or CPU pressure): an infrastructure
            # failure, not an error in a cell, which papermill reports as its own exception
            if attempt == 2:
                raise
            print(f"kernel died while running {notebook.name}; retrying once", flush=True)
    return load_metrics(out)
