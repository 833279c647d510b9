"""The HW2P2 notebook end to end on tiny demo data; the other model, losses and resume."""
import csv
import math

import pytest

from common.notebook.execute import REPO_ROOT, run_notebook

NOTEBOOK = REPO_ROOT / "hw2_cnn" / "hw2p2.ipynb"
# CPU-sized: a small ResNet on 64x64 inputs, cross-entropy, EMA; about a minute on one core
TINY = {"DEMO": True, "DEMO_SIZE": "tiny", "IMAGE_SIZE": 64, "STEM_STRIDE": 1, "WIDTHS": [16, 32, 64, 128],
        "DEPTHS": [1, 1, 1, 1], "EMBEDDING_DIM": 64, "EPOCHS": 20, "BATCH_SIZE": 32, "OPTIMIZER": "adamw",
        "LR": 6e-3, "WEIGHT_DECAY": 0.05, "ERASE_P": 0.0, "WORKERS": 0}


def read_submission(path):
    with open(path) as f:
        return list(csv.reader(f))


@pytest.mark.notebook
def test_notebook_on_tiny_demo(tmp_path):
    params = {**TINY, "DEMO_DIR": str(tmp_path / "data"), "CHECKPOINT_DIR": str(tmp_path / "ckpt")}
    m = run_notebook(NOTEBOOK, tmp_path / "run", params)
    # dev classification far above chance (1/48); verification of people never seen in training
    # clearly better than a coin (EER 0.5, AUC 0.5), on validation and on the scored test pairs
    assert m["dev_accuracy"] > 5 * m["chance"]
    assert m["val_eer"] < 0.35 and m["val_auc"] > 0.7
    assert m["test_eer"] < 0.4
    assert m["parameters"] < 18_000_000
    # the submission: ID,Label, one row per test pair in order, finite scores in [-1, 1]
    root = tmp_path / "data" / "11-785-f24-hw2p2-verification"
    n_pairs = len((root / "test_pairs.txt").read_text().splitlines())
    rows = read_submission(tmp_path / "run" / "verification_submission.csv")
    assert rows[0] == ["ID", "Label"] and len(rows) == n_pairs + 1
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(n_pairs)]
    scores = [float(r[1]) for r in rows[1:]]
    assert all(math.isfinite(s) and -1.0001 <= s <= 1.0001 for s in scores)
    assert len(set(scores)) > n_pairs // 2                           # not a constant
    for plot in ("augmentation", "learning_curves", "roc", "similarity_histogram", "hardest_pairs"):
        assert (tmp_path / "run" / f"{plot}.png").stat().st_size > 10_000
    assert not (tmp_path / "run" / "classification_submission.csv").exists()   # F24 has no cls test


@pytest.mark.notebook
def test_convnext_arcface_triplet_cutmix_and_resume(tmp_path):
    """The other code paths (ConvNeXt, ArcFace + triplet with the P x K sampler, cutmix, no EMA),
    the S25 layout with a classification test split, and RESUME continuing from last.pt."""
    from common.demo.faces import FaceDemoSize, write_hw2p2

    data = write_hw2p2(tmp_path / "data", FaceDemoSize(12, 4, 1, 6, 3, 20, 12), seed=1, layout="s25")
    test_dir = data / "cls_data" / "test" / "images"
    test_dir.mkdir(parents=True)
    for i, p in enumerate(sorted((data / "ver_data").iterdir())[:5]):
        (test_dir / f"{i:05d}.jpg").write_bytes(p.read_bytes())
    params = {**TINY, "DEMO": False, "DATA_ROOT": str(data), "ARCH": "convnext", "WIDTHS": [16, 24, 32, 48],
              "DEPTHS": [1, 1, 1, 1], "EPOCHS": 1, "BATCH_SIZE": 16, "ARCFACE_WEIGHT": 1.0, "CE_WEIGHT": 0.0,
              "TRIPLET_WEIGHT": 1.0, "IMAGES_PER_IDENTITY": 4, "MIX": "cutmix", "MIX_P": 0.5, "EMA": False,
              "CHECKPOINT_DIR": str(tmp_path / "ckpt")}
    first = run_notebook(NOTEBOOK, tmp_path / "run", params)
    assert first["epochs"] == 1
    rows = read_submission(tmp_path / "run" / "classification_submission.csv")
    assert rows[0] == ["id", "label"] and len(rows) == 6
    assert all(0 <= int(r[1]) < 12 for r in rows[1:])
    assert len(read_submission(tmp_path / "run" / "verification_submission.csv")) == 13
    second = run_notebook(NOTEBOOK, tmp_path / "run2", {**params, "EPOCHS": 2, "RESUME": True})
    executed = (tmp_path / "run2" / "hw2p2.ipynb").read_text()
    assert "Resumed from" in executed and "1 epoch(s) done" in executed
    assert second["epochs"] == 2


@pytest.mark.notebook
def test_missing_data_without_demo_says_how_to_download(tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match="kaggle competitions download"):
        run_notebook(NOTEBOOK, tmp_path / "run", {"DEMO": False, "DATA_ROOT": str(tmp_path / "missing")})
