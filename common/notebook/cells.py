"""Lifting a notebook's code into tests and benchmarks: the one way this project does it.

The key idea of a homework (its model, its loss, how it calls the decoder) is written in the notebook,
in cells tagged ``model`` / ``decoding`` / ``parameters``; tests run exactly those cells instead of a
copy that could drift from them.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["notebook_namespace"]


def notebook_namespace(notebook, tags=("model",), namespace: dict | None = None) -> dict:
    """Execute, in order, the code cells of ``notebook`` tagged with any of ``tags`` in
    ``namespace`` (default: a fresh dict) and return it. Tests and benchmarks load the model
    written in the notebook this way; ``namespace`` supplies what the cells use but do not import
    (names of the notebook's setup cell, a parameter a test overrides)."""
    import nbformat  # jupyter tooling: only needed here

    nb = nbformat.read(str(notebook), as_version=4)
    ns = {"__name__": "notebook_cells"} if namespace is None else namespace
    found = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and set(tags) & set(cell.metadata.get("tags", [])):
            exec(compile(cell.source, f"{Path(notebook).name}[{','.join(cell.metadata['tags'])}]", "exec"), ns)
            found += 1
    if not found:
        raise ValueError(f"{notebook} has no code cell tagged {list(tags)}")
    return ns
