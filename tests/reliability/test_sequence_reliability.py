"""Bad input on the sequence homeworks (issue 27): HW4P1 task files, LM text, CTC-infeasible and
per-frame HW3P2 transcripts, the CTC blank in a transcript, integer features, lm.pt tensors, free-text
submissions, a DATA_ROOT two levels too deep, resuming with a scheduler. Each case fails before
training with the file (or value) and the fix named, or is handled and said so."""
import json
import re

import numpy as np
import pytest
import torch
from torch import nn

from common.engine.checkpoint import CheckpointError
from common.engine.options import Checkpointing, Validation
from common.engine.train import fit
from common.layouts import DataFormatError, locate_data_root
from common.lm.checkpoint import LMCheckpointError, load_lm_state, load_lm_weights, save_lm
from common.notebook.execute import REPO_ROOT
from common.speech.feasibility import check_ctc_feasibility, ctc_min_frames, reduced_lengths
from common.speech.utterances import load_hw3p2, load_hw4p2, read_lm_text
from common.submission import SubmissionError, validate_submission, write_submission
from common.text import normalize_texts, read_lm_tasks, read_transcripts, read_wikitext
from common.vocab import HW3_PHONEMES, HW4_CHARS
from tests.common.speech_fixtures import write_hw3_split, write_hw4_split

TRAIN, DEV, TEST = "train-clean-100", "dev-clean", "test-clean"
V = 50


# ================================================================== HW4P1: the graded task files
@pytest.fixture
def tasks(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "prediction.npz", inp=rng.integers(0, V, (6, 12)), out=rng.integers(0, V, 6))
    np.save(tmp_path / "generation.npy", rng.integers(0, V, (4, 10)))
    return tmp_path


def _objects(rows):
    arr = np.empty(len(rows), dtype=object)
    arr[:] = rows
    return arr


def test_good_task_files_are_read_as_saved(tasks):
    t = read_lm_tasks(tasks, V, max_len=64, generate_tokens=20)
    saved = np.load(tasks / "prediction.npz")
    assert np.array_equal(t.prediction_inp, saved["inp"]) and np.array_equal(t.prediction_out, saved["out"])
    assert np.array_equal(t.generation, np.load(tasks / "generation.npy")) and t.generation.dtype == np.int64
    rows = np.load(tasks / "generation.npy")
    np.save(tasks / "generation.npy", _objects(list(rows)), allow_pickle=True)   # rows one by one, one length
    assert np.array_equal(read_lm_tasks(tasks, V).generation, rows)
    assert "prediction.npz 6 x 12 with the true next tokens" in t.describe()
    assert read_lm_tasks(tasks / "nowhere", V).describe().count("skipped") == 2


def test_prediction_without_inp_names_the_file_and_the_arrays(tasks):
    np.savez(tasks / "prediction.npz", x=np.zeros((2, 3), np.int64), out=np.zeros(2, np.int64))
    with pytest.raises(DataFormatError, match=r"prediction\.npz holds the arrays \['out', 'x'\] but no 'inp'") as err:
        read_lm_tasks(tasks, V)
    assert "np.savez(path, inp=" in str(err.value)


@pytest.mark.parametrize("array, message", [
    (np.arange(10), r"generation\.npy has shape \(10,\); expected \(N, L\).*arr\[None\]"),
    (_objects([np.arange(5), np.arange(7)]), r"generation\.npy is ragged: its 2 prefixes have lengths \[5, 7\]"),
    (np.ones((3, 4)), r"generation\.npy holds float64 values; expected integer token ids \(the values are whole"),
    (np.full((3, 4), 0.5, np.float32), r"generation\.npy holds float32 values.*log-probabilities"),
    (np.full((2, 4), V), rf"generation\.npy holds token id {V}, outside the vocabulary of {V} tokens"),
    (np.full((2, 4), -1), r"generation\.npy holds token id -1, outside"),
    (np.zeros((0, 4), np.int64), r"generation\.npy is empty"),
])
def test_bad_generation_file_is_refused_naming_it(tasks, array, message):
    np.save(tasks / "generation.npy", array, allow_pickle=True)
    with pytest.raises(DataFormatError, match=message) as err:
        read_lm_tasks(tasks, V)
    assert str(tasks / "generation.npy") in str(err.value)


@pytest.mark.parametrize("inp, out, message", [
    (np.ones((3, 4)), None, r"prediction\.npz \(inp\) holds float64"),
    (np.full((3, 4), V + 3), None, rf"prediction\.npz \(inp\) holds token id {V + 3}, outside the vocabulary"),
    (np.full((3, 4), -2), None, r"prediction\.npz \(inp\) holds token id -2"),
    (np.arange(4), None, r"prediction\.npz \(inp\) has shape \(4,\)"),
    (np.zeros((3, 4), np.int64), np.zeros(2, np.int64), r"'out' has shape \(2,\), expected \(3,\)"),
    (np.zeros((3, 4), np.int64), np.zeros(3), r"prediction\.npz \(out\) holds float64"),
    (np.zeros((3, 4), np.int64), np.full(3, V), rf"prediction\.npz \(out\) holds token id {V}"),
])
def test_bad_prediction_file_is_refused_naming_it(tasks, inp, out, message):
    arrays = {"inp": inp} if out is None else {"inp": inp, "out": out}
    np.savez(tasks / "prediction.npz", **arrays)
    with pytest.raises(DataFormatError, match=message):
        read_lm_tasks(tasks, V)


def test_sequences_longer_than_the_transformer_are_refused_before_training(tasks):
    with pytest.raises(DataFormatError, match=r"each sequence has 12 tokens, more than .*MAX_LEN=8"):
        read_lm_tasks(tasks, V, max_len=8)
    with pytest.raises(DataFormatError, match=r"generation\.npy: each prefix plus GENERATE_TOKENS=20 is 30 tokens"):
        read_lm_tasks(tasks, V, max_len=24, generate_tokens=20)
    read_lm_tasks(tasks, V, max_len=30, generate_tokens=20)                  # exactly fits


def test_read_wikitext_accepts_one_flat_int_array(tmp_path):
    stream = np.arange(1, 20, dtype=np.int32)
    np.save(tmp_path / "wiki.train.npy", stream)
    articles = read_wikitext(tmp_path, "train", vocab_size=20)
    assert len(articles) == 1 and articles[0].dtype == np.int64 and np.array_equal(articles[0], stream)


def _run_hw4p1_until(cell_id, overrides, tmp_path):
    """hw4p1.ipynb's parameters cell, ``overrides`` (as papermill injects them), then every code cell up to
    and including the one with id ``cell_id``; returns the ids of the cells that ran."""
    nb = json.loads((REPO_ROOT / "hw4_transformer" / "hw4p1.ipynb").read_text())
    ns, ran = {"__name__": "hw4p1"}, []
    for cell in (c for c in nb["cells"] if c["cell_type"] == "code"):
        exec(compile("".join(cell["source"]), f"hw4p1[{cell['id']}]", "exec"), ns)
        if "parameters" in cell["metadata"].get("tags", []):
            ns.update({"OUTPUT_DIR": str(tmp_path / "out"), "GPUS": 1, **overrides})
        ran.append(cell["id"])
        if cell["id"] == cell_id:
            return ns, ran
    raise AssertionError(f"no cell {cell_id}")


def test_hw4p1_checks_the_task_files_in_its_data_section(tmp_path):
    from common.demo.text import write_hw4p1

    root = write_hw4p1(tmp_path / "demo", size={"train_works": 1, "vocab_size": 200, "tasks": 8})
    params = {"DEMO": False, "DATA_ROOT": str(root), "DATA_FORMAT": "wikitext", "TOKENIZATION": "word"}
    ns, _ = _run_hw4p1_until("data-tasks", params, tmp_path)
    assert np.array_equal(ns["lm_tasks"].generation, np.load(root / "generation.npy"))
    np.save(root / "generation.npy", np.load(root / "generation.npy")[0])          # 1-D: one prefix
    nb = json.loads((REPO_ROOT / "hw4_transformer" / "hw4p1.ipynb").read_text())
    ids = [c["id"] for c in nb["cells"] if c["cell_type"] == "code"]
    train_cell = next(c["id"] for c in nb["cells"] if re.search(r"=\s*fit\(", "".join(c["source"])))
    assert ids.index("data-tasks") < ids.index(train_cell)                        # checked before training
    with pytest.raises(DataFormatError, match=r"generation\.npy has shape \(32,\)"):
        _run_hw4p1_until("data-tasks", params, tmp_path)


# ================================================================== LM text: the course's text, counted
def test_normalisation_counts_every_change_and_keeps_course_text():
    texts = ["Hello, World 42", "CAFÉ’S ŒUVRE", "IT'S A GOOD DAY", "!!!"]
    out, report = normalize_texts(texts, ["a.npy", "b.npy", "c.npy", "d.npy"])
    assert out == ["HELLO WORLD", "CAFE'S OEUVRE", "IT'S A GOOD DAY"]
    assert report.n_texts == 4 and report.n_changed == 3 and report.dropped_texts == ["d.npy"]
    assert report.counts["lower"] == 8 and report.counts["accents"] == 2 and report.counts["apostrophes"] == 1
    assert report.dropped_chars == {",": 1, "4": 1, "2": 1, "!": 3}
    summary = report.summary("text-for-LM")
    assert "3 of 4 texts normalised" in summary and "2 of them digits" in summary and "a.npy" in summary
    assert all(set(t) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ '") for t in out)
    course = ["THE OLD MAN", "IT'S ME"]
    assert normalize_texts(course)[0] == course and normalize_texts(course)[1].n_changed == 0
    with pytest.raises(DataFormatError, match=r"b\.npy: character 'É' at position 1 of 'HÉLLO'"):
        normalize_texts(["OK", "HÉLLO"], ["a.npy", "b.npy"], on_invalid="error")


def _hw4_root(tmp_path):
    root = tmp_path / "hw4p2"
    write_hw4_split(root, TRAIN, [40, 33])
    write_hw4_split(root, DEV, [30], seed=1)
    write_hw4_split(root, TEST, [35], labels=False, seed=2)
    (root / "text-for-LM").mkdir()
    np.save(root / "text-for-LM" / "0001.npy", np.array(list("the old day"), dtype="<U1"))
    np.save(root / "text-for-LM" / "0002.npy", np.array("NAÏVE RÉSUMÉ"))
    return root


def test_lm_text_no_longer_becomes_unknown_tokens(tmp_path, capsys):
    root = _hw4_root(tmp_path)
    raw = read_lm_text(root, on_invalid=None)
    assert HW4_CHARS.unk in HW4_CHARS.encode_text(raw[0])                    # what the LM used to be trained on
    texts = read_lm_text(root)
    assert texts == ["THE OLD DAY", "NAIVE RESUME"]
    assert not any(HW4_CHARS.unk in HW4_CHARS.encode_text(t) for t in texts)
    printed = capsys.readouterr().out
    assert "2 of 2 texts normalised" in printed and "text-for-LM/0001.npy" in printed
    with pytest.raises(DataFormatError, match=r"text-for-LM/0001\.npy: character 't'.*lower case"):
        read_lm_text(root, on_invalid="error")
    # the speech transcripts still refuse the same text (they are the targets, not extra text)
    np.save(root / TRAIN / "text" / sorted((root / TRAIN / "text").iterdir())[0].name, np.array(list("the day")))
    with pytest.raises(DataFormatError, match="upper case"):
        load_hw4p2(root, TRAIN, progress=False)
    # hw4p1 reads the same folder through read_transcripts
    assert read_transcripts(root / "text-for-LM") == ["THE OLD DAY", "NAIVE RESUME"]
    with pytest.raises(DataFormatError, match=r"0001\.npy"):
        read_transcripts(root / "text-for-LM", on_invalid="error")


# ================================================================== HW3P2: what CTC can align
def _smallest_alignable(target) -> int:
    """The reference: the fewest frames for which torch's CTC loss of ``target`` is finite."""
    for frames in range(1, 3 * len(target) + 2):
        log_probs = torch.zeros(frames, 1, 5).log_softmax(-1)
        loss = nn.functional.ctc_loss(log_probs, torch.tensor([target]), torch.tensor([frames]),
                                      torch.tensor([len(target)]), blank=0, reduction="sum")
        if torch.isfinite(loss):
            return frames
    raise AssertionError("no alignment")


@pytest.mark.parametrize("target", [[1], [1, 1], [1, 2, 3], [2, 2, 2], [1, 1, 2, 2, 3, 1], [4, 3, 3, 4, 4]])
def test_ctc_min_frames_is_the_fewest_frames_torch_can_align(target):
    assert ctc_min_frames(target) == _smallest_alignable(target)


def test_reduced_lengths_are_the_models_own():
    from common.speech.layers import time_reduce
    from common.speech.transformer import conv_output_lengths

    frames = torch.arange(1, 40)
    x = torch.zeros(len(frames), 39, 3)
    _, once = time_reduce(x, frames, 2)
    _, twice = time_reduce(torch.zeros(len(frames), int(once.max()), 6), once, 2)   # two pyramid layers
    assert reduced_lengths(frames, 2).tolist() == once.tolist()
    assert reduced_lengths(frames, 4).tolist() == twice.tolist()
    assert reduced_lengths(frames[6:], conv_output_lengths).tolist() == conv_output_lengths(frames[6:]).tolist()


def _hw3_root(tmp_path, lengths=(40, 33, 57, 48)):
    root = tmp_path / "11-785-f24-hw3p2"
    write_hw3_split(root, TRAIN, list(lengths))
    write_hw3_split(root, DEV, [30, 41], seed=1)
    write_hw3_split(root, TEST, [35], labels=False, seed=2)
    return root


def _first(root, split, folder):
    return sorted((root / split / folder).glob("*.npy"))[0]


def test_infeasible_utterances_are_counted_named_and_agree_with_ctc_loss(tmp_path, capsys):
    root = _hw3_root(tmp_path)
    long = np.array(["[SOS]", *["AH", "B"] * 12, "[EOS]"])                       # 24 phonemes for 40 frames
    np.save(_first(root, TRAIN, "transcript"), long)
    store = load_hw3p2(root, TRAIN, progress=False)
    assert check_ctc_feasibility(store, 1, max_fraction=None).infeasible.tolist() == []
    report = check_ctc_feasibility(store, 2, split="train", max_fraction=None)
    assert report.infeasible.tolist() == [0] and report.needed[0] == 24 and report.output_frames[0] == 20
    printed = capsys.readouterr().out
    assert "1 of 4 utterances" in printed and store.ids[0] in printed
    assert "1 training utterances will be dropped" in printed
    # the reference: the utterances reported are exactly those whose CTC loss is infinite at that reduction
    out = torch.as_tensor(reduced_lengths(store.feature_lengths, 2))
    for i, target in enumerate(store.targets):
        log_probs = torch.randn(int(out[i]), 1, len(HW3_PHONEMES)).log_softmax(-1)
        loss = nn.functional.ctc_loss(log_probs, torch.as_tensor(target)[None], out[i:i + 1],
                                      torch.tensor([len(target)]), blank=0)
        assert torch.isfinite(loss) == (i not in report.infeasible)
    with pytest.raises(DataFormatError, match=r"1 of 4 utterances \(25\.0%\).*more than 5%.*PYRAMID_LAYERS"):
        check_ctc_feasibility(store, 2)


def test_hw3p2_data_cell_counts_infeasible_utterances_before_training(tmp_path):
    from common.notebook.cells import notebook_namespace

    root = _hw3_root(tmp_path)
    np.save(_first(root, TRAIN, "transcript"), np.array(["[SOS]", *["AH", "B"] * 6, "[EOS]"]))  # 12 for 40 frames
    nb = json.loads((REPO_ROOT / "hw3_rnn" / "hw3p2.ipynb").read_text())
    data_cell = next(c for c in nb["cells"] if "load_hw3p2(DATA_ROOT" in "".join(c["source"]))
    ns = notebook_namespace(REPO_ROOT / "hw3_rnn" / "hw3p2.ipynb", ("parameters",))
    ns.update(DEMO=False, DATA_ROOT=str(root), OUTPUT_DIR=str(tmp_path / "out"), GPUS=1)
    setup = next(c for c in nb["cells"] if "from common.speech.utterances import" in "".join(c["source"]))
    exec("".join(setup["source"]), ns)
    ns["CONV_STRIDE"], ns["PYRAMID_LAYERS"] = 1, 2                             # x4: 40 frames -> 10 < 12
    with pytest.raises(DataFormatError, match="1 of 4 utterances") as err:
        exec("".join(data_cell["source"]), ns)
    assert _first(root, TRAIN, "transcript").stem in str(err.value)
    ns["CONV_STRIDE"], ns["PYRAMID_LAYERS"] = 2, 0                             # x2 (the stem alone): 20 fit
    exec("".join(data_cell["source"]), ns)
    assert ns["feasibility"]["train"].infeasible.tolist() == []


def test_per_frame_transcript_is_named_as_hw1_style(tmp_path):
    root = _hw3_root(tmp_path)
    frames = np.load(_first(root, TRAIN, "mfcc")).shape[0]
    np.save(_first(root, TRAIN, "transcript"), np.array(["[SOS]", *["AH"] * frames, "[EOS]"]))
    with pytest.raises(DataFormatError, match=rf"1 of 4 transcripts have one label per frame.*\({frames} labels for "
                                              rf"{frames} frames\).*HW1P2") as err:
        load_hw3p2(root, TRAIN, progress=False)
    assert _first(root, TRAIN, "transcript").name in str(err.value)


def test_the_ctc_blank_inside_a_transcript_is_refused(tmp_path):
    root = _hw3_root(tmp_path)
    np.save(_first(root, DEV, "transcript"), np.array(["[SOS]", "AH", "", "B", "[EOS]"]))
    with pytest.raises(DataFormatError, match=r"has '' \(the CTC blank, id 0\) inside the transcript "
                                              r"\(label 3 of 5, \[SOS\] included\)"):
        load_hw3p2(root, DEV, progress=False)


@pytest.mark.parametrize("reader, folder, array", [
    ("hw3", "mfcc", np.ones((40, 28), np.int16)),
    ("hw4", "fbank", np.ones((40, 80), np.int32)),
    ("hw4", "fbank", np.full((40, 80), "x")),
])
def test_integer_or_string_features_are_refused(tmp_path, reader, folder, array):
    root = _hw3_root(tmp_path) if reader == "hw3" else _hw4_root(tmp_path)
    victim = _first(root, TRAIN, folder)
    np.save(victim, array)
    load = load_hw3p2 if reader == "hw3" else load_hw4p2
    with pytest.raises(DataFormatError, match=rf"{victim.name} holds {array.dtype}.*not float features"):
        load(root, TRAIN, progress=False)


def test_data_root_two_levels_too_deep_names_the_root(tmp_path):
    root = _hw3_root(tmp_path)
    for deep in (root / TRAIN / "mfcc", root / DEV / "transcript"):
        with pytest.raises(DataFormatError, match="two levels up") as err:
            locate_data_root(deep, "hw3p2")
        assert f"set DATA_ROOT = {str(root)!r}" in str(err.value) and "download" not in str(err.value)
    hw4 = _hw4_root(tmp_path)
    with pytest.raises(DataFormatError, match=f"set DATA_ROOT = {str(hw4)!r}"):
        load_hw4p2(hw4 / TRAIN / "fbank", TRAIN, progress=False)


# ================================================================== lm.pt: tensors against the configuration
def _lm(d_ff=32):
    from tests.hw4.nbcode import notebook_models
    torch.manual_seed(0)
    return notebook_models().TransformerLM(len(HW4_CHARS), 16, 2, 2, d_ff, 0.0, 64)


CONFIG = {"kind": "transformer", "d_model": 16, "n_heads": 2, "n_layers": 2, "d_ff": 32, "dropout": 0.0,
          "max_len": 64, "tokenization": "char"}


def test_lm_file_whose_tensors_do_not_match_its_config_is_refused(tmp_path):
    path = save_lm(tmp_path / "lm.pt", _lm(), HW4_CHARS, CONFIG)
    state = torch.load(path, weights_only=True)
    state["state_dict"] = {k: v for k, v in _lm(d_ff=48).state_dict().items()}   # other tensors, same config
    torch.save(state, path)
    with pytest.raises(LMCheckpointError, match=r"lm\.pt: the weights do not match the file's own configuration .*"
                                                r"d_ff=32.*layers\.0\.ff\.0\.weight \(48, 16\) \(config: \(32, 16\)\)"):
        load_lm_state(path, vocab=HW4_CHARS)
    state["state_dict"] = {k: v for k, v in _lm().state_dict().items() if not k.startswith("layers.1.")}
    torch.save(state, path)
    with pytest.raises(LMCheckpointError, match=r"1 layers of weights \(config: n_layers=2\)"):
        load_lm_state(path)
    with pytest.raises(LMCheckpointError, match=r"not writing .*d_ff=32.*ff\.0\.weight \(48, 16\)"):
        save_lm(tmp_path / "bad.pt", _lm(d_ff=48), HW4_CHARS, CONFIG)


def test_load_lm_weights_names_the_file_instead_of_a_bare_size_mismatch(tmp_path):
    lm = load_lm_state(save_lm(tmp_path / "lm.pt", _lm(), HW4_CHARS, CONFIG), vocab=HW4_CHARS)
    other = _lm(d_ff=48)
    with pytest.raises(RuntimeError, match="size mismatch"):                   # what the notebooks used to see
        other.load_state_dict(lm["state_dict"])
    with pytest.raises(LMCheckpointError, match=r"lm\.pt does not fit this TransformerLM.*size mismatch.*d_ff=32"):
        load_lm_weights(other, lm)
    same = _lm()
    nn.init.zeros_(same.token_embedding.weight)
    load_lm_weights(same, lm)
    assert torch.equal(same.token_embedding.weight, _lm().token_embedding.weight)


# ================================================================== free-text submissions
@pytest.mark.parametrize("label, message", [
    ("HELLO\nTHERE", "holds a line break"),
    ("[10, 7, 14]", r"'\[10, 7, 14\]' is a list of token ids"),
    ("10 7 14", "is a list of token ids"),
    ("tensor([3, 4])", "is a list of token ids"),
    ("HELLO THERE<|endoftext|>", r"holds '<\|endoftext\|>', a special token"),
    ("HELLO <eos>", "holds '<eos>'"),
    ("\u2581HELLO\u2581THERE", "subword word-start marker"),
])
def test_free_text_submission_mistakes_are_refused_naming_the_row(tmp_path, label, message):
    path = write_submission(tmp_path / "submission.csv", range(3), ["THE DAY", label, "IT'S ME"],
                            header=("index", "label"))
    with pytest.raises(SubmissionError, match=message) as err:
        validate_submission(path, header=("index", "label"), n_rows=3)
    assert "line 3" in str(err.value)


def test_free_text_submission_that_is_text_passes(tmp_path):
    path = write_submission(tmp_path / "s.csv", range(3), ["THE OLD DAY", "IT'S 7 O CLOCK", ""],
                            header=("index", "label"))
    validate_submission(path, header=("index", "label"), n_rows=3)
    path = write_submission(tmp_path / "c.csv", range(2), ["7", "12"])         # class indices: a label set applies
    validate_submission(path, header=("id", "label"), n_rows=2, label_set={"7", "12"})


# ================================================================== resuming with a scheduler
def _fit(ckpt, epochs, resume, scheduler_for=None):
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = scheduler_for(opt) if scheduler_for else None
    x = torch.randn(32, 4)
    data = [(x[i:i + 8], (x[i:i + 8, 0] > 0).long()) for i in range(0, 32, 8)]

    def loss(m, batch):
        return nn.functional.cross_entropy(m(batch[0]), batch[1]), {"n": len(batch[1])}
    return fit(model, opt, data, loss, epochs=epochs, device="cpu", validation=Validation(data),
               checkpoints=Checkpointing(ckpt, resume=resume), scheduler=sched)


def test_resuming_with_a_scheduler_from_a_checkpoint_without_one_says_the_ways_forward(tmp_path, capsys):
    cosine = lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, 8)   # noqa: E731
    _fit(tmp_path / "a", 1, resume=False)
    with pytest.raises(CheckpointError, match=r"last\.pt was written by a run without a learning-rate scheduler "
                                              r"\(1 epoch\(s\) done\).*CosineAnnealingLR") as err:
        _fit(tmp_path / "a", 2, resume=True, scheduler_for=cosine)
    assert "scheduler=None" in str(err.value) and "RESUME=False" in str(err.value)
    _fit(tmp_path / "a", 2, resume=True)                                       # the first way forward works
    _fit(tmp_path / "b", 1, resume=False, scheduler_for=cosine)
    capsys.readouterr()
    _fit(tmp_path / "b", 2, resume=True)                                       # the reverse is said, not silent
    assert "holds a learning-rate scheduler's state but this run has none" in capsys.readouterr().out

