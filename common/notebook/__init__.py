"""Notebook tools: executing a notebook headless and its ``metrics.json`` (``execute``), the
``make demo`` runner and its CPU presets (``run_notebooks``), the torchrun script runner
(``run_script``) and ablation sweeps (``sweep``). Import the submodules directly."""
