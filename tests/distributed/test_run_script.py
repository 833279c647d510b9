"""The command-line path: a notebook's code run by ``torchrun -m common.notebook.run_script`` (2 CPU processes)."""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from common.notebook.execute import REPO_ROOT
from common.notebook.run_script import notebook_code, parse_params

CELLS = [
    ("parameters", 'EPOCHS = 1\nOUT = "out"\nGPUS = None\n%matplotlib inline'),
    (None, """from pathlib import Path
import torch
from torch import nn
from common.engine.distributed import gpus_to_use, get_rank, launch
from common.speech.frames import FrameBatches, FrameStore
from common.engine.options import Checkpointing, Validation
from common.engine.train import fit
GPUS = gpus_to_use(GPUS)
OUT = Path(OUT)"""),
    (None, """def train():
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    store = FrameStore(x, (x[:, 0] > 0).to(torch.uint8), torch.arange(64), 0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    def loss(m, batch):
        xb, yb = batch
        return nn.functional.cross_entropy(m(xb), yb), {"n": len(yb)}
    batches = FrameBatches(store, 16, shuffle=True, generator=torch.Generator().manual_seed(1))
    return fit(model, torch.optim.SGD(model.parameters(), lr=0.1), batches, loss, epochs=EPOCHS, device="cpu",
               checkpoints=Checkpointing(OUT / "ckpt"), validation=Validation(monitor="train_loss"))
history = launch(train, GPUS)"""),
    (None, """with open(OUT / "after_training.txt", "a") as f:    # the evaluation cells: rank 0 only
    f.write(f"rank {get_rank()} epochs {len(history)} gpus {GPUS}\\n")"""),
]


def _notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    for tag, source in CELLS:
        cell = nbformat.v4.new_code_cell(source)
        if tag:
            cell.metadata["tags"] = [tag]
        nb.cells.append(cell)
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("## Setup"))
    nbformat.write(nb, str(path))
    return path


def test_parameters_follow_the_parameters_cell_and_magics_are_skipped(tmp_path):
    params = parse_params(["EPOCHS=3", "OUT=/data/run", "SIZES=[64, 32]", "FLAG=True"])
    assert params == {"EPOCHS": 3, "OUT": "/data/run", "SIZES": [64, 32], "FLAG": True}
    sources = notebook_code(_notebook(tmp_path / "nb.ipynb"), params)
    assert len(sources) == len(CELLS) + 1 and sources[1].splitlines()[0] == "EPOCHS = 3"
    assert "pass  # %matplotlib inline" in sources[0]
    with pytest.raises(SystemExit, match="NAME=VALUE"):
        parse_params(["EPOCHS"])


def test_torchrun_trains_on_two_processes_and_rank_zero_alone_runs_the_rest(tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb")
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "common.notebook.run_script", str(nb),
           "--param", "EPOCHS=2", "--param", f"OUT={str(tmp_path / 'out')!r}"]
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "out" / "after_training.txt").read_text() == "rank 0 epochs 2 gpus 2\n"
    assert sorted(p.name for p in (tmp_path / "out" / "ckpt").iterdir()) == ["best.pt", "last.pt"]
    assert done.stdout.count("epoch 2 | ") == 1
