"""common.notebook.sweep: grid parsing, name checks before any run, and real sweeps of a tiny notebook."""
import json
import os
import sys
import types

import pandas as pd
import pytest

from common.notebook.execute import REPO_ROOT
from common.notebook.sweep import main, notebook_parameters, parse_grid, plan_runs, split_values, sweep
from common.notebook.sweep.grid import combinations

TINY = REPO_ROOT / "tests" / "common" / "notebooks" / "tiny_sweep.ipynb"
HW1P2 = REPO_ROOT / "hw1_mlp" / "hw1p2.ipynb"


def final_loss(lr, epochs=3):
    """The tiny notebook's closed form: gradient steps on (w - 3)^2 from w = 0."""
    return 9 * (1 - 2 * lr) ** (2 * epochs)


# --- grid parsing -------------------------------------------------------------------------

def test_split_values_respects_brackets_and_quotes():
    assert split_values("[1,2],3, 'a,b' ,(4, 5)") == ["[1,2]", "3", "'a,b'", "(4, 5)"]
    with pytest.raises(ValueError, match="unbalanced"):
        split_values("[1,2")
    with pytest.raises(ValueError, match="empty value"):
        split_values("1,,2")


def test_parse_grid_literals_lists_strings_numbers():
    factors = parse_grid(["LR=1e-3,0.01", "HIDDEN_SIZES=[512, 256],[1024]", "OPTIMIZER=adamw,'sgd'",
                          "AMP=True,False", "CONTEXT=0,5"])
    assert [f.names for f in factors] == [("LR",), ("HIDDEN_SIZES",), ("OPTIMIZER",), ("AMP",), ("CONTEXT",)]
    assert factors[0].values == ((0.001,), (0.01,))
    assert factors[1].values == (([512, 256],), ([1024],))
    assert factors[2].values == (("adamw",), ("sgd",))          # bare word and quoted string alike
    assert factors[3].values == ((True,), (False,))
    assert factors[4].values == ((0,), (5,)) and all(type(v[0]) is int for v in factors[4].values)
    assert len(combinations(factors)) == 2 ** 5


def test_parse_grid_joint_factor_and_errors():
    (f,) = parse_grid(["FREQ_MASKS,TIME_MASKS=(1,1),(0,0)"])
    assert f.names == ("FREQ_MASKS", "TIME_MASKS") and f.values == ((1, 1), (0, 0))
    assert combinations([f]) == [{"FREQ_MASKS": 1, "TIME_MASKS": 1}, {"FREQ_MASKS": 0, "TIME_MASKS": 0}]
    for bad, message in [("CONTEXT", "NAME=v1,v2"), ("A,B=(1,2),3", "tuple of 2"), ("X=1,1", "repeats"),
                         ("X=1 2", "not a Python literal"), ("1X=1", "not a parameter name")]:
        with pytest.raises(ValueError, match=message):
            parse_grid([bad])
    with pytest.raises(ValueError, match="twice"):
        parse_grid(["X=1,2", "X=3"])


def test_one_at_a_time_varies_each_factor_around_the_first_levels():
    factors = parse_grid(["CONTEXT=15,0,30", "F,T=(1,1),(0,0)", "DROPOUT=0.2,0"])
    runs = combinations(factors, one_at_a_time=True)
    base = {"CONTEXT": 15, "F": 1, "T": 1, "DROPOUT": 0.2}
    assert runs == [base, {**base, "CONTEXT": 0}, {**base, "CONTEXT": 30}, {**base, "F": 0, "T": 0},
                    {**base, "DROPOUT": 0}]


def test_parameters_cell_of_the_homework_notebook():
    known = notebook_parameters(HW1P2)
    for name in ("CONTEXT", "DROPOUT", "FREQ_MASKS", "TIME_MASKS", "SEED", "EPOCHS"):  # tuple assignments too
        assert name in known
    assert known["FREQ_MASKS"] == 1 and isinstance(known["SEED"], int)


def test_bad_name_is_an_error_before_any_run(tmp_path, capsys):
    calls = []
    with pytest.raises(ValueError, match=r"no parameter CONTEXTT; its parameters cell defines: .*CONTEXT"):
        sweep(HW1P2, ["CONTEXTT=0,5"], out=tmp_path, runner=lambda *a, **k: calls.append(a))
    assert calls == [] and not any(tmp_path.iterdir())
    # the command line says it in one line, exit status 2
    with pytest.raises(SystemExit) as exit_info:
        main(["hw1p2", "--grid", "CONTEXT=0", "DROPUT=0.1", "--out", str(tmp_path)])
    assert exit_info.value.code == 2 and "no parameter DROPUT" in capsys.readouterr().err
    # --repeat varies SEED: refused when SEED is also in the grid, or when the notebook has none
    with pytest.raises(ValueError, match="use one of the two"):
        plan_runs(TINY, parse_grid(["SEED=1,2"]), tmp_path, repeat=2)
    unseeded = tmp_path / "unseeded.ipynb"
    unseeded.write_text(TINY.read_text().replace('"SEED = 0\\n",', ""))
    assert "SEED" not in notebook_parameters(unseeded) and "LR" in notebook_parameters(unseeded)
    with pytest.raises(ValueError, match="defines none"):
        plan_runs(unseeded, parse_grid(["LR=1"]), tmp_path, repeat=2)


def test_homework_runs_get_the_demo_overrides_and_distinct_seeds(tmp_path):
    from common.notebook.run_notebooks import HW1_DEMO

    seen = []
    out = sweep("hw1p2", ["CONTEXT=0,5"], repeat=2, demo_size="tiny", out=tmp_path, log=lambda m: None,
                runner=lambda nb, folder, params, timeout: seen.append(params) or {"dev_accuracy": 0.5})
    assert len(seen) == 4 and len(out["failed"]) == 0
    for params in seen:
        assert params["DEMO"] is True and params["DEMO_SIZE"] == "tiny"
        assert {k: v for k, v in params.items() if k in HW1_DEMO and k != "CONTEXT"} == \
            {k: v for k, v in HW1_DEMO.items() if k != "CONTEXT"}
    assert sorted((p["CONTEXT"], p["SEED"]) for p in seen) == [(0, 11785), (0, 11786), (5, 11785), (5, 11786)]


def test_numeric_demo_size_is_a_number_of_utterances():
    from common.notebook.sweep.runner import demo_overrides, resolve_notebook

    path, demo = resolve_notebook("hw1p2")
    assert path == HW1P2 and demo is not None
    params = demo_overrides(demo, "300")
    assert params["DEMO_SIZE"] == 300 and params["DEMO_DIR"].endswith("demo/300")
    assert demo_overrides(resolve_notebook(str(TINY))[1], "tiny") == {}     # not a demo notebook: no overrides


def test_learning_curves_come_from_history_csv_else_the_checkpoint(tmp_path):
    """Notebooks that save no history file still have one in checkpoints/last.pt (fit stores it)."""
    import torch

    from common.engine.checkpoint import save_checkpoint
    from common.notebook.sweep import load_history

    rows = [{"epoch": 1, "train_loss": 2.5, "val_acc": 0.4}, {"epoch": 2, "train_loss": 1.5, "val_acc": 0.6}]
    save_checkpoint(tmp_path / "checkpoints" / "last.pt", model=torch.nn.Linear(2, 1), epoch=1, history=rows)
    pd.testing.assert_frame_equal(load_history(tmp_path), pd.DataFrame(rows))
    pd.DataFrame({"epoch": [1], "train_loss": [9.0]}).to_csv(tmp_path / "history.csv", index=False)
    assert load_history(tmp_path)["train_loss"].tolist() == [9.0]                # the file wins
    assert load_history(tmp_path / "nothing") is None


def test_metric_series_mean_and_spread_over_repeats_in_axis_order(tmp_path):
    from common.notebook.sweep import RunResult
    from common.notebook.sweep.report import metric_series

    factors = parse_grid(["CONTEXT=15,0,30", "DROPOUT=0.2,0"])
    specs = plan_runs(HW1P2, factors, tmp_path, repeat=2, one_at_a_time=True)
    assert [(s.varied["CONTEXT"], s.varied["DROPOUT"], s.seed) for s in specs] == [
        (15, 0.2, 11785), (15, 0.2, 11786), (0, 0.2, 11785), (0, 0.2, 11786), (30, 0.2, 11785), (30, 0.2, 11786),
        (15, 0, 11785), (15, 0, 11786)]
    acc = [0.70, 0.74, 0.50, 0.52, 0.60, 0.66, 0.80, 0.90]
    results = [RunResult(s, "ok", {"acc": a}) for s, a in zip(specs, acc)]
    results.append(RunResult(specs[0], "failed", {}))                # failed runs are left out
    baseline = combinations(factors, one_at_a_time=True)[0]
    (label, (x, mean, low, high)), = metric_series(results, factors, factors[0], "acc", baseline).items()
    assert label == "DROPOUT=0.2"                 # the DROPOUT=0 runs are not part of the CONTEXT panel
    assert x.tolist() == [0, 15, 30]
    assert mean == pytest.approx([0.51, 0.72, 0.63]) and low.tolist() == [0.50, 0.70, 0.60]
    assert high.tolist() == [0.52, 0.74, 0.66]
    (x, mean, _, _), = metric_series(results, factors, factors[1], "acc", baseline).values()
    assert x.tolist() == [0, 0.2] and mean == pytest.approx([0.85, 0.72])


# --- real sweeps of the tiny notebook (papermill) ---------------------------------------------

@pytest.mark.notebook
def test_two_run_sweep_table_plots_and_rerun_skips(tmp_path):
    logs = []
    out = sweep(TINY, ["LR=0.1,0.3", "SIZES=[1,2]", "OPTIMIZER=adam"], out=tmp_path, metric="final_loss",
                log=logs.append)
    table = pd.read_csv(tmp_path / "results.csv")
    assert list(table["status"]) == ["ok", "ok"] and list(table["LR"]) == [0.1, 0.3]
    assert table["final_loss"].tolist() == pytest.approx([final_loss(0.1), final_loss(0.3)], rel=1e-9)
    assert list(table["optimizer"]) == ["adam", "adam"] and list(table["width"]) == [3, 3]  # string, list values
    assert list(table["SIZES"]) == ["[1, 2]", "[1, 2]"]
    for name in ("final_loss_vs_parameters", "learning_curves"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    folders = [r.spec.folder for r in out["results"]]
    assert len(set(folders)) == 2 and all((f / "history.csv").exists() for f in folders)
    assert all(json.loads((f / "sweep_run.json").read_text())["status"] == "ok" for f in folders)
    assert any("final_loss" in line and "0.1" in line for line in logs)          # the table is printed

    # the rerun runs nothing: both runs are reused with their metrics
    again = sweep(TINY, ["LR=0.1,0.3", "SIZES=[1,2]", "OPTIMIZER=adam"], out=tmp_path, metric="final_loss",
                  runner=lambda *a, **k: pytest.fail("a finished run was run again"), log=lambda m: None)
    assert [r.reused for r in again["results"]] == [True, True]
    assert again["table"]["final_loss"].tolist() == table["final_loss"].tolist()
    # --report-only runs nothing: the finished runs are reported, the others marked "not run"
    partial = sweep(TINY, ["LR=0.1,0.3,0.4", "SIZES=[1,2]", "OPTIMIZER=adam"], out=tmp_path, metric="final_loss",
                    runner=lambda *a, **k: pytest.fail("report only ran a notebook"), log=lambda m: None,
                    report_only=True)
    assert list(partial["table"]["status"]) == ["ok", "ok", "not run"]
    assert partial["table"]["final_loss"].tolist()[:2] == table["final_loss"].tolist()
    # a changed fixed setting is a different run, not a reuse of the old one
    other = plan_runs(TINY, parse_grid(["LR=0.1,0.3", "SIZES=[1,2]", "OPTIMIZER=sgd"]), tmp_path)
    assert {s.folder for s in other}.isdisjoint(folders)


@pytest.mark.notebook
def test_failing_run_is_marked_and_the_others_continue(tmp_path):
    out = sweep(TINY, ["FAIL=False,True", "LR=0.25"], repeat=2, out=tmp_path, metric="final_loss",
                log=lambda m: None)
    table = pd.read_csv(tmp_path / "results.csv")
    assert len(table) == 4 and list(table["status"]) == ["ok", "ok", "failed", "failed"]
    assert list(table["seed"]) == [0, 1, 0, 1]
    failed = table[table["status"] == "failed"]
    assert failed["error"].str.contains("RuntimeError: FAIL=True: this run fails on purpose").all()
    assert table.loc[table["status"] == "ok", "final_loss"].tolist() == pytest.approx([final_loss(0.25)] * 2)
    ok = table[table["status"] == "ok"]
    assert ok["val_loss"].nunique() == 2                  # seeds really differ between repeats
    assert len(out["failed"]) == 2 and (tmp_path / "learning_curves.png").exists()
    # a failed run is retried on the rerun, the finished ones are not
    ran = []
    sweep(TINY, ["FAIL=False,True", "LR=0.25"], repeat=2, out=tmp_path, metric="final_loss", log=lambda m: None,
          runner=lambda nb, folder, params, timeout: ran.append(params["FAIL"]) or {"final_loss": 0.0})
    assert ran == [True, True]


def test_wandb_logs_every_run_to_one_group(tmp_path, monkeypatch):
    """--wandb: one wandb run per sweep run, all in one group (a stand-in wandb module records the calls)."""
    runs = []

    class FakeRun:
        def __init__(self, **kwargs):
            self.kwargs, self.logged, self.summary, self.exit_code = kwargs, [], {}, None
            self.group = os.environ.get("WANDB_RUN_GROUP")

        def log(self, row, step):
            self.logged.append((step, row))

        def finish(self, exit_code=0):
            self.exit_code = exit_code

    fake = types.SimpleNamespace(init=lambda **kw: runs.append(FakeRun(**kw)) or runs[-1],
                                 api=types.SimpleNamespace(api_key=None))
    monkeypatch.setitem(sys.modules, "wandb", fake)
    for var in ("WANDB_MODE", "WANDB_RUN_GROUP"):     # restored after the test
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)

    def runner(nb, folder, params, timeout):
        if params["LR"] == 0.5:
            raise RuntimeError("boom")
        folder.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"epoch": [1, 2], "train_loss": [2.0, 1.0]}).to_csv(folder / "history.csv", index=False)
        (folder / "metrics.json").write_text(json.dumps({"final_loss": 1.0}))
        return {"final_loss": 1.0}

    sweep(TINY, ["LR=0.1,0.5"], out=tmp_path, wandb=True, group="ablation", runner=runner, log=lambda m: None)
    assert [r.group for r in runs] == ["ablation", "ablation"]
    assert os.environ.get("WANDB_MODE") == "offline"       # not logged in: offline
    assert runs[0].logged == [(1, {"train_loss": 2.0}), (2, {"train_loss": 1.0})]
    assert runs[0].summary == {"final_loss": 1.0} and runs[0].exit_code == 0 and runs[1].exit_code == 1
    assert runs[0].kwargs["config"]["LR"] == 0.1 and runs[0].kwargs["name"].startswith("LR=0.1_")
