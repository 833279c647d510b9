"""HW2P2's EMA of the weights warms its decay up (min(EMA_DECAY, (1 + n) / (10 + n)), as timm / TF), so that a
short run (the CPU demo's ~200 steps) is not evaluated on stale early weights: the notebook's ``ema_update`` in
``AveragedModel`` against a reference computed here."""
import ast
import json

import torch
from torch import nn

from common.notebook.execute import REPO_ROOT

NOTEBOOK = REPO_ROOT / "hw2_cnn" / "hw2p2.ipynb"


def notebook_ema_update(ema_decay):
    """The notebook's ``ema_update``, compiled from its cell with ``EMA_DECAY`` = ema_decay."""
    cells = ["".join(c["source"]) for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    source = next(s for s in cells if "def ema_update(" in s)
    fn = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == "ema_update")
    namespace = {"torch": torch, "EMA_DECAY": ema_decay}
    exec(compile(ast.Module([fn], type_ignores=[]), str(NOTEBOOK), "exec"), namespace)
    return namespace["ema_update"]


def test_ema_decay_warms_up_as_the_reference():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    ema_decay = 0.999
    ema = torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=notebook_ema_update(ema_decay), use_buffers=True)
    reference = None
    for step in range(30):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        model(torch.randn(8, 4))                                      # moves BatchNorm's running statistics
        current = [t.detach().clone() for t in [*model.parameters(), *model.buffers()]]
        ema.update_parameters(model)
        if reference is None:                                         # the first update copies the weights
            reference = current
        else:                                                         # n = updates averaged so far
            decay = min(ema_decay, (1 + step) / (10 + step))
            reference = [decay * r + (1 - decay) * c if torch.is_floating_point(r) else c   # step counters: copied
                         for r, c in zip(reference, current)]
        averaged = [*ema.module.parameters(), *ema.module.buffers()]
        for r, a in zip(reference, averaged):
            torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-5)
    # after 30 steps the warmed-up decay (31/40) keeps the average near recent weights; a fixed 0.999 would
    # still hold ~97% of the first step's
    first_weight = torch.prod(torch.tensor([min(ema_decay, (1 + s) / (10 + s)) for s in range(1, 30)]))
    assert first_weight < 1e-3
