"""``make demo``: execute every finished notebook headless on demo data.

Each notebook runs with papermill in demo mode; its executed copy, plots, submission files
and ``metrics.json`` go to its own folder: ``runs/<homework>/`` for a Part 2 notebook,
``runs/<homework>/<notebook>/`` for a Part 1 notebook (the notebooks' own ``OUTPUT_DIR``
defaults are the same folders). A headline metric missing from a notebook's ``metrics.json``
fails the run. The defaults inside the notebooks are for the real competition on a GPU; the
overrides below size the demo runs for a CPU.

    python -m common.notebook.run_notebooks --size small          # all notebooks
    python -m common.notebook.run_notebooks --only hw1p2          # one of them
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

from .execute import REPO_ROOT, run_notebook


@dataclass
class DemoNotebook:
    name: str
    path: str                                # relative to the repository root
    output: str                              # runs/<output>
    headline: tuple[str, ...]                # metric keys printed in the summary
    params: dict = field(default_factory=dict)   # demo overrides (CPU-sized)
    sized: bool = True                       # takes DEMO / DEMO_SIZE / DEMO_DIR


# CPU-sized demo settings; the notebooks' own defaults are the real-data settings.
# HW2P2: the notebook's ResNet at CPU size (64-pixel input, widths 32..256, one block per stage, embedding 128) and
# batch 64 for the 1,152 demo images (18 steps per epoch). One exception to "sizes and epochs only": AdamW lr 5e-3
# (weight decay 0.05, ERASE_P 0.1) instead of the recipe's SGD lr 0.1 (wd 5e-4, ERASE_P 0.25), because the recipe's
# SGD warm-up + cosine is made for tens of thousands of steps (30 epochs of the real set at batch 256) and the demo
# gets ~200 (SGD ends them at 27% augmented train accuracy, AdamW at 60%). At equal time (2 CPU-minutes) on the
# demo faces: val EER 0.12 with this preset, 0.22 with SGD 0.025 (= 0.1 x 64/256), 0.18 with SGD 0.1 (one seed),
# 0.29 with batch 256 and SGD 0.1; a plain CNN baseline reaches 0.07 (benchmarks/RESULTS.md, "HW2P2 preset against
# a plain baseline (issue 23)"). A second, step-count-linked exception: ZERO_INIT_RESIDUAL False. Zero-init of each
# block's last BatchNorm scale (for deep networks over tens of thousands of steps) leaves the blocks nearly closed
# in ~200 steps, so the network is mostly its 1x1 stride-2 shortcuts: 12 epochs, seed 11785, val EER 0.125 -> 0.075
# (dev accuracy 50% -> 75%), level with the plain CNN (0.08 after 12 epochs); at equal time (2 CPU-minutes, two
# seeds) 0.10 against 0.11 before, and the plain CNN still 0.05 with twice the epochs (a notebook epoch costs more)
HW2_DEMO = {"IMAGE_SIZE": 64, "STEM_STRIDE": 1, "WIDTHS": [32, 64, 128, 256], "DEPTHS": [1, 1, 1, 1],
            "EMBEDDING_DIM": 128, "EPOCHS": 15, "BATCH_SIZE": 64, "OPTIMIZER": "adamw", "LR": 5e-3,
            "WEIGHT_DECAY": 0.05, "ERASE_P": 0.1, "ZERO_INIT_RESIDUAL": False}
# HW1P2: the notebook's recipe (lr 2e-3, AdamW, dropout, SpecAugment, label smoothing) at CPU size: context 15, MLP
# 512-256, batch 2048 (twice the steps of 4096 on a small set). On the real-speech HW1P2 layout at equal time (3 min,
# two seeds) it scores as the old preset with lr 3e-3 (dev 80.1% / test 77.1% both); batch 4096 loses ~1 point,
# context 30 ~3 (benchmarks/RESULTS.md, "HW1P2 on real speech: forced-aligned frame labels")
HW1_DEMO = {"CONTEXT": 15, "HIDDEN_SIZES": [512, 256], "EPOCHS": 5, "BATCH_SIZE": 2048}
# HW3P2: the notebook's recipe (stem stride 2 and one pBLSTM: time / 4 before the LSTM; its dropout, SpecAugment
# and learning rate) at 0.23M parameters; BiLSTMs over the padded batch (PACKED=False: same outputs, ~4x faster
# on a CPU); the budget decides the epochs; wider fusion grids for a weak CPU-sized model (tuned on dev)
HW3P2_DEMO = {"CONV_CHANNELS": 64, "RESNET_BLOCKS": 1, "CONV_KERNEL": 3, "LSTM_HIDDEN": 96,
              "LSTM_LAYERS": 0, "PACKED": False, "CPU_THREADS": 1, "CLASSIFIER_HIDDEN": 128,
              "EPOCHS": 300, "TIME_BUDGET": 2.5, "MAX_FRAMES": 6000, "WARMUP_EPOCHS": 1, "BEAM_WIDTH": 8,
              "LM_WEIGHTS": [0.0, 0.3, 0.6, 0.9], "INSERTION_BONUSES": [0.0, 1.0, 2.0, 3.0]}
# LAS: the notebook's recipe at CPU size (listener: first conv stride 2, one pBLSTM, x4, the LSTM at a quarter of
# the frame rate; 192 units); up to 20 epochs of CTC warm-up (a warm-up step costs a third of a joint step, whose
# speller loop takes 70% of it), then joint CTC-attention epochs until TIME_BUDGET (EPOCHS only caps them); the
# beam + LM row skipped (LM_WEIGHT 0: decoding time). The recipe's regularisation (dropout, label smoothing, CTC
# weight, teacher-forcing floor, SpecAugment) and learning rate are the notebook's: at equal CPU time on the
# real-speech set they score as well as the old preset's (benchmarks/RESULTS.md, "LAS and HW4P2 on real speech").
# BiLSTMs over the padded batch (PACKED=False: same outputs, faster on a CPU)
LAS_DEMO = {"CONV_CHANNELS": 128, "CONV_LAYERS": 1, "LISTENER_HIDDEN": 192, "BLSTM_LAYERS": 0,
            "PACKED": False, "ATTENTION_DIM": 64, "LOCATION_CHANNELS": 8, "EMBEDDING_DIM": 64, "SPELLER_HIDDEN": 128,
            "SPELLER_LAYERS": 1, "CTC_WARMUP_EPOCHS": 20, "EPOCHS": 100, "TIME_BUDGET": 2.5,
            "MAX_FRAMES": 4000, "PRETRAIN_LM_EPOCHS": 0, "TF_HOLD_EPOCHS": 4, "TF_DECAY_EPOCHS": 4,
            "BEAM_WIDTH": 4, "LM_ORDER": 3, "LM_WEIGHT": 0.0, "CPU_THREADS": 1}
# HW4P1: the word-level real-text demo (Shakespeare) compares LSTM, transformer and the n-gram baselines in
# TIME_BUDGET minutes shared by the two models (epochs of EPOCH_TOKENS, so that any corpus size stops in time);
# the speech-text run trains the character transformer LM that HW4P2 loads from runs/hw4_transformer/hw4p1/lm.pt
HW4P1_DEMO = {"BATCH_SIZE": 32, "BPTT": 35, "EMB_SIZE": 256, "HIDDEN_SIZE": 384, "LSTM_LAYERS": 2,
              "DROPOUT_INPUT": 0.25, "DROPOUT_HIDDEN": 0.15, "DROPOUT_OUTPUT": 0.25, "WEIGHT_DROP": 0.2,
              "D_MODEL": 128, "N_HEADS": 4, "N_LAYERS": 2, "D_FF": 512, "TRANSFORMER_DROPOUT": 0.2, "MAX_LEN": 256,
              "EPOCHS": 30, "TIME_BUDGET": 3, "EPOCH_TOKENS": 30_000, "LR": {"lstm": 3e-3, "transformer": 2e-3},
              "WARMUP_STEPS": 50, "MAX_GRAD_NORM": 0.5, "CPU_THREADS": 1}
# (its transformer has the shape of HW4P2's demo decoder, so HW4P2 initialises from it instead of pretraining)
HW4P1_SPEECH = {**HW4P1_DEMO, "DEMO_CORPUS": "speech", "MODELS": ["transformer"], "BPTT": 70, "TIME_BUDGET": None,
                "EPOCH_TOKENS": None,
                "LR": {"lstm": 3e-3, "transformer": 4e-3}, "EPOCHS": 6, "TRANSFORMER_DROPOUT": 0.1,
                "D_MODEL": 96, "N_HEADS": 4, "N_LAYERS": 1, "D_FF": 192}
# HW4P2: the notebook's recipe (SpecAugment, CTC weight 0.3, dropout 0.1, BiLSTM embedding, depthwise conv 15) at
# CPU size: d_model 96, 2 + 1 transformer layers, conv front end 32 channels, the BiLSTMs over the padded batch
# (PACKED=False: same outputs, faster on a CPU). LR/LM_LR 3e-3 belong to the size: a transformer's step scales as
# d_model^-0.5 * warm-up^-0.5 (the default 1e-3 is that for d_model 256, 4000 warm-up steps); with 1e-3 this
# preset scores dev CER 0.25 instead of 0.20 on real speech in 3 CPU-minutes (benchmarks/RESULTS.md). The
# submitted decoder is the dev-best of greedy, CTC head, CTC beam+LM, beam, beam+CTC and beam+CTC+LM (0 in every
# weight grid)
HW4P2_DEMO = {"D_MODEL": 96, "N_HEADS": 4, "ENC_LAYERS": 2, "DEC_LAYERS": 1, "D_FF": 192, "CONV_CHANNELS": 32,
              "PACKED": False, "TIME_BUDGET": 2.5,
              "LM_EPOCHS": 4, "LM_BATCH_TOKENS": 2000, "LM_LR": 3e-3,
              "MAX_FRAMES": 6000, "WARMUP_STEPS": 150, "LR": 3e-3,
              "FREEZE_LM_EPOCHS": 1, "CER_EVERY": 5, "CER_UTTERANCES": 50,
              "BEAM_WIDTH": 4, "CTC_WEIGHTS": [0.0, 0.3], "LM_WEIGHTS": [0.1, 0.2], "TUNE_UTTERANCES": 50,
              "DECODE_FRAMES": 60_000, "NUM_WORKERS": 0, "FP16_STORAGE": False, "MAX_TOKENS_PER_FRAME": 0.8,
              "CPU_THREADS": 1}

NOTEBOOKS = [
    DemoNotebook("hw1p2", "hw1_mlp/hw1p2.ipynb", "hw1_mlp", ("dev_accuracy", "test_accuracy", "majority_rate"),
                 HW1_DEMO),
    DemoNotebook("hw1 mytorch experiments", "hw1_mlp/mytorch_experiments.ipynb", "hw1_mlp/mytorch_experiments",
                 ("xor_solved", "speech_dev_accuracy_mytorch", "speech_dev_accuracy_torch"),
                 sized=False),
    DemoNotebook("hw2p2", "hw2_cnn/hw2p2.ipynb", "hw2_cnn", ("dev_accuracy", "val_eer", "val_auc"), HW2_DEMO),
    DemoNotebook("hw2 mytorch cnn", "hw2_cnn/mytorch_cnn.ipynb", "hw2_cnn/mytorch_cnn",
                 ("final_accuracy", "chance_accuracy", "scanning_max_abs_diff"), sized=False),
    DemoNotebook("hw3 mytorch rnn", "hw3_rnn/mytorch_rnn.ipynb", "hw3_rnn/mytorch_rnn",
                 ("gru_dev_accuracy", "rnn_dev_accuracy", "greedy_mean_distance", "beam_mean_distance"), sized=False),
    DemoNotebook("hw4 mytorch attention", "hw4_transformer/mytorch_attention.ipynb",
                 "hw4_transformer/mytorch_attention", ("token_accuracy", "sequence_accuracy", "chance"), sized=False),
    DemoNotebook("hw3p2", "hw3_rnn/hw3p2.ipynb", "hw3_rnn/hw3p2",
                 ("dev_distance_greedy", "dev_distance_beam", "dev_distance_beam_lm", "empty_prediction_distance"),
                 HW3P2_DEMO),
    DemoNotebook("hw3p2 las", "hw3_rnn/las.ipynb", "hw3_rnn/las",
                 ("dev_per_greedy", "dev_per_beam", "dev_per_beam_ctc", "dev_per_ctc_head", "empty_prediction_per",
                  "attention_diagonality", "distinct_greedy_share"), LAS_DEMO),
    DemoNotebook("hw4p1", "hw4_transformer/hw4p1.ipynb", "hw4_transformer/hw4p1",
                 ("dev_ppl_ngram", "dev_ppl_transformer", "prediction_nll"), HW4P1_SPEECH),
    DemoNotebook("hw4p1 shakespeare", "hw4_transformer/hw4p1.ipynb", "hw4_transformer/hw4p1_shakespeare",
                 ("dev_ppl_ngram", "dev_ppl_lstm", "dev_ppl_transformer", "lstm_vs_ngram"), HW4P1_DEMO),
    DemoNotebook("hw4p2", "hw4_transformer/hw4p2.ipynb", "hw4_transformer/hw4p2",
                 ("dev_cer_greedy", "dev_cer_beam_ctc", "dev_cer_beam_ctc_lm", "test_cer", "lm_dev_perplexity"),
                 HW4P2_DEMO),
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="small", help="demo corpus size: tiny | small | medium")
    parser.add_argument("--only", nargs="*", help="names of notebooks to run (default: all)")
    args = parser.parse_args(argv)
    selected = [nb for nb in NOTEBOOKS if not args.only or nb.name in args.only]
    if args.only and not selected:
        parser.error(f"unknown notebook(s) {args.only}; known: {[nb.name for nb in NOTEBOOKS]}")
    results, failed = [], []
    for nb in selected:
        path = REPO_ROOT / nb.path
        if not path.exists():
            print(f"-- {nb.name}: {nb.path} not written yet, skipped")
            continue
        out = REPO_ROOT / "runs" / nb.output
        params = dict(nb.params)
        if nb.sized:
            params.update(DEMO=True, DEMO_SIZE=args.size, DEMO_DIR=str(REPO_ROOT / "data" / "demo" / args.size))
        print(f"== {nb.name}: running {nb.path} -> {out.relative_to(REPO_ROOT)}/", flush=True)
        t0 = time.perf_counter()
        try:
            shown = headline_metrics(nb, run_notebook(path, out, params), out)
        except Exception as err:  # report every notebook, then fail
            print(f"!! {nb.name} FAILED: {type(err).__name__}: {str(err)[-2000:]}")
            failed.append(nb.name)
            continue
        seconds = time.perf_counter() - t0
        results.append((nb, out, seconds, shown))
        print(f"   done in {seconds:.0f} s: {_fmt(shown)}", flush=True)
    print("\nResults (executed notebooks, plots, submissions and metrics.json):")
    for nb, out, seconds, shown in results:
        print(f"  {nb.name:24s} {str(out.relative_to(REPO_ROOT)) + '/':36s} {seconds:5.0f} s  {_fmt(shown)}")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


def headline_metrics(nb: DemoNotebook, metrics: dict, out=None) -> dict:
    """The headline keys of ``nb`` from its ``metrics.json``; a missing key is an error (the
    notebook stopped saving a figure the README quotes), not a shorter summary line."""
    missing = [k for k in nb.headline if k not in metrics]
    if missing:
        where = f"{out}/metrics.json" if out is not None else "metrics.json"
        raise ValueError(f"{nb.path} did not save the headline metric(s) {missing} in {where} "
                       f"(it saved {sorted(metrics)}): save them with save_metrics(OUTPUT_DIR, ...)")
    return {k: metrics[k] for k in nb.headline}


def _fmt(metrics: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())


if __name__ == "__main__":
    sys.exit(main())
