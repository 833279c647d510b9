"""The lines every homework notebook shares, as calls: setup, configuration, training or loading, finish.

A notebook's setup cell keeps its own imports visible and calls ``setup`` once::

    env = setup(globals(), "hw3p2", "hw3_rnn/hw3p2")

``setup`` reads the notebook's parameters from its globals and writes back the resolved ones:

- ``OUTPUT_DIR``, ``DEMO_DIR``, ``CHECKPOINT_DIR`` (``Path``): in a checkout of this repository,
  ``runs/<output>/`` and ``data/demo/`` at its root (as ``make demo``); outside one (a notebook
  alone in a folder, ``common`` pip-installed) under the working folder: ``./runs/<notebook>/``
  and ``./data/demo/`` (on Kaggle ``/kaggle/working/...``, the folder Kaggle keeps). A value set
  in the parameters cell wins. ``DRIVE = True`` on Colab puts the checkpoints on Google Drive.
- ``GPUS`` (int), ``device`` and ``dtype`` (autocast), after seeding every generator with ``SEED``
  and setting ``CPU_THREADS`` torch threads on a CPU;

and prints the platform, the folders, torch, CUDA and the GPUs (name and memory). With more than
one GPU the kernel stays off CUDA (a forked training process cannot use it once its parent has):
the GPUs are named through ``nvidia-smi``.

``notebook_config(globals())`` is the configuration logged to wandb (the upper-case parameters);
``train_or_load`` runs the training function (one process per GPU) or, with ``TRAIN = False``,
returns the history saved in the checkpoint; ``finish`` saves ``metrics.json``, closes the wandb
run, copies the submission where Kaggle's Submit button reads it, submits when ``SUBMIT`` says
so, and prints where every file went.
"""
from __future__ import annotations

import platform as _platform
import shutil
import subprocess
import time
from pathlib import Path

import torch

from common.engine.checkpoint import read_checkpoint
from common.engine.device import amp_dtype, get_device, seed_everything
from common.engine.distributed import gpus_to_use, launch

from .execute import save_metrics
from .kaggle import KAGGLE_WORKING, SLUGS, platform, submit

__all__ = ["find_checkout", "resolve_folders", "output_dir_of", "setup", "notebook_config", "train_or_load",
           "checkpoint_file",
           "finish", "DRIVE_ROOT"]

DRIVE_ROOT = Path("/content/drive")
DRIVE_FOLDER = DRIVE_ROOT / "MyDrive" / "idl-notebooks"


def find_checkout(start=None) -> Path | None:
    """The root of the checkout of this repository that holds ``start`` (default: the working folder)."""
    start = Path(start or Path.cwd()).resolve()
    for folder in [start, *start.parents]:
        if (folder / "common" / "__init__.py").is_file() and (folder / "pyproject.toml").is_file():
            return folder
    return None


def _mount_drive() -> Path | None:
    try:
        from google.colab import drive  # type: ignore[import-not-found]
    except ImportError:
        print("DRIVE = True: google.colab is not importable (not on Colab), checkpoints stay in the local folder")
        return None
    drive.mount(str(DRIVE_ROOT))
    return DRIVE_FOLDER


def resolve_folders(notebook: str, output: str, output_dir=None, demo_dir=None, checkpoint_dir=None,
                    drive: bool = False, cwd=None) -> dict:
    """OUTPUT_DIR, DEMO_DIR and CHECKPOINT_DIR (see the module doc) and where they come from."""
    checkout = find_checkout(cwd)
    if checkout is not None:
        base, runs, where = checkout, checkout / "runs" / output, f"checkout {checkout}"
    else:
        work = KAGGLE_WORKING if platform() == "kaggle" and KAGGLE_WORKING.is_dir() else Path(cwd or Path.cwd())
        base, runs, where = work, work / "runs" / notebook, f"working folder {work}"
    out = Path(output_dir) if output_dir else runs
    demo = Path(demo_dir) if demo_dir else base / "data" / "demo"
    ckpt = Path(checkpoint_dir) if checkpoint_dir else None
    if drive and ckpt is None:
        folder = _mount_drive()
        ckpt = folder / notebook / "checkpoints" if folder is not None else None
    return {"OUTPUT_DIR": out.resolve(), "DEMO_DIR": demo.resolve(),
            "CHECKPOINT_DIR": (ckpt or out / "checkpoints").resolve(), "where": where}


def output_dir_of(notebook: str, output: str) -> Path:
    """Another notebook's default OUTPUT_DIR seen from here (HW4P2 reads the ``lm.pt`` HW4P1 exports): in a
    checkout ``runs/<output>``, else ``./runs/<notebook>`` of the same working folder (on Kaggle both
    notebooks write under ``/kaggle/working/runs/``)."""
    return resolve_folders(notebook, output)["OUTPUT_DIR"]


def _gpu_lines(gpus: int, device: torch.device) -> list[str]:
    if device.type == "cuda":
        return [f"GPU {i}: {p.name}, {p.total_memory / 2**30:.1f} GiB"
                for i, p in enumerate(map(torch.cuda.get_device_properties, range(torch.cuda.device_count())))]
    if gpus > 1 and shutil.which("nvidia-smi"):     # without touching CUDA in this kernel
        try:
            rows = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                                  capture_output=True, text=True, timeout=20).stdout.strip().splitlines()
        except (OSError, subprocess.TimeoutExpired):
            rows = []
        return [f"GPU {i}: {row.strip()}" for i, row in enumerate(rows)]
    return []


def setup(namespace: dict, notebook: str, output: str) -> dict:
    """Resolve the folders, seed, pick threads and device, print the environment; see the module doc.

    ``namespace``: the notebook's ``globals()`` (read for its parameters, written with the resolved
    ``OUTPUT_DIR``, ``DEMO_DIR``, ``CHECKPOINT_DIR``, ``GPUS``, ``device``, ``dtype``); ``notebook``:
    its short name (``hw3p2``); ``output``: its folder under a checkout's ``runs/``. Returns those values.
    """
    ns = namespace
    folders = resolve_folders(notebook, output, ns.get("OUTPUT_DIR"), ns.get("DEMO_DIR"), ns.get("CHECKPOINT_DIR"),
                              drive=bool(ns.get("DRIVE", False)))
    where = folders.pop("where")
    folders["OUTPUT_DIR"].mkdir(parents=True, exist_ok=True)
    seed_everything(ns.get("SEED", 0))
    gpus = gpus_to_use(ns.get("GPUS"))
    # GPUS > 1: this kernel stays off the GPU until training (a forked process cannot use CUDA once its
    # parent has); each training process then moves the model and data to its own GPU
    device = get_device() if gpus == 1 else torch.device("cpu")
    if device.type == "cpu" and ns.get("CPU_THREADS"):
        torch.set_num_threads(int(ns["CPU_THREADS"]))
    dtype = amp_dtype(device, enabled=ns.get("AMP", True))
    resolved = {**folders, "GPUS": gpus, "device": device, "dtype": dtype}
    ns.update(resolved)
    cuda = torch.version.cuda or "none"
    print(f"{notebook} on {platform()} ({where}); Python {_platform.python_version()}, torch {torch.__version__}, "
          f"CUDA {cuda}; device {device}, autocast {dtype or 'off (fp32)'}, {gpus} training process(es), "
          f"{torch.get_num_threads()} CPU thread(s)")
    for line in _gpu_lines(gpus, device):
        print(line)
    print(f"outputs -> {folders['OUTPUT_DIR']}\ncheckpoints -> {folders['CHECKPOINT_DIR']}"
          + (f"\ndemo data -> {folders['DEMO_DIR']}" if ns.get("DEMO") else ""))
    return resolved


def notebook_config(namespace: dict) -> dict:
    """The notebook's parameters (upper-case names holding plain values), for wandb and the printout."""
    return {k: v for k, v in namespace.items()
            if k.isupper() and not k.startswith("_") and isinstance(v, (int, float, str, bool, list, dict, type(None)))}


def checkpoint_file(checkpoint_dir, checkpoint=None) -> Path:
    """The file a ``TRAIN = False`` run loads: ``CHECKPOINT`` when set, else ``CHECKPOINT_DIR/best.pt``."""
    return Path(checkpoint) if checkpoint else Path(checkpoint_dir) / "best.pt"


def train_or_load(train, train_flag: bool, gpus: int, checkpoint, after_launch=None):
    """(what ``train`` returns, seconds): ``launch(train, gpus)`` (one process per GPU, else here), then
    ``after_launch()`` when more than one process trained; with ``train_flag`` False nothing trains and
    the result is the history saved in ``checkpoint`` (in ``last.pt`` beside a ``best.pt``: the whole run);
    a missing file is an error that says how to get one."""
    import pandas as pd

    t0 = time.perf_counter()
    if not train_flag:
        path = Path(checkpoint)
        if not path.exists():
            raise FileNotFoundError(f"TRAIN = False loads {path}, which does not exist: set CHECKPOINT to a "
                                    "checkpoint file (best.pt of a training run), or train first (TRAIN = True)")
        last = path.parent / "last.pt"     # the whole run's history (best.pt's ends at the best epoch)
        source = last if path.name == "best.pt" and last.exists() else path
        history = pd.DataFrame(read_checkpoint(source)["history"])
        print(f"TRAIN = False: nothing trained; the history of {len(history)} epoch(s) comes from {source}")
        return history, 0.0
    result = launch(train, gpus)       # gpus > 1: one forked process per GPU (DDP); else here
    if gpus > 1 and after_launch is not None:
        after_launch()                 # the processes are done: evaluate on this kernel's device
    seconds = time.perf_counter() - t0
    epochs = f"{len(result)} epochs " if isinstance(result, pd.DataFrame) else ""
    print(f"trained {epochs}in {seconds:.0f} s")
    return result, seconds


def _listing(folder: Path, limit: int = 12) -> str:
    files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    shown = ", ".join(p.name for p in files[:limit]) + (f", ... ({len(files)} files)" if len(files) > limit else "")
    return shown or "(empty)"


def finish(output_dir, metrics: dict, *, notebook: str, submission=None, submit_message=None, slug=None,
           run=None, checkpoint_dir=None) -> Path:
    """The end of a notebook: ``metrics.json``, the wandb summary, the Kaggle copy of the submission,
    the optional submission (``submit_message``: ``SUBMIT``), and where everything went."""
    output_dir = Path(output_dir)
    path = save_metrics(output_dir, **metrics)
    if run is not None:
        run.summary.update(metrics)
        run.finish()
    if submission is not None and platform() == "kaggle" and KAGGLE_WORKING.is_dir():
        target = KAGGLE_WORKING / "submission.csv"
        if Path(submission).resolve() != target.resolve():
            shutil.copyfile(submission, target)
            print(f"copied {submission} to {target} (what Kaggle's Submit button reads)")
    if submit_message and submission is not None:
        submit(submission, slug if slug is not None else SLUGS.get(notebook), submit_message)
    print(f"outputs in {output_dir}: {_listing(output_dir)}")
    if checkpoint_dir is not None:
        print(f"checkpoints in {checkpoint_dir}: {_listing(Path(checkpoint_dir))}")
    return path
