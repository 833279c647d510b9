"""Text readers, tokenisation, vocabularies, the Shakespeare corpus and the HW4P1 demo layout."""
import json

import numpy as np
import pytest

from common.demo.text import DEV_WORKS, write_hw4p1, write_lm_tasks
from common.text import (
    DataFormatError,
    build_word_vocab,
    check_ids,
    encode_corpus,
    read_transcripts,
    read_wikitext,
    read_wikitext_vocab,
    tokenize,
)
from common.text.shakespeare import shakespeare_lines, shakespeare_works


def _save_objects(path, arrays):
    arr = np.empty(len(arrays), dtype=object)
    arr[:] = arrays
    np.save(path, arr, allow_pickle=True)


def test_wikitext_round_trip_and_bad_files(tmp_path):
    _save_objects(tmp_path / "wiki.train.npy", [np.array([3, 4, 0]), np.array([5, 2, 0])])
    _save_objects(tmp_path / "wiki.valid.npy", [np.array([3, 9, 0])])
    np.save(tmp_path / "vocab.npy", np.array(["<eos>", "<unk>", "a", "b", "c", "d"]))
    vocab = read_wikitext_vocab(tmp_path)
    assert len(vocab) == 6 and vocab.eos == 0 and vocab.unk == 1 and vocab.kind == "words"
    train = read_wikitext(tmp_path, "train", vocab_size=len(vocab))
    assert [a.tolist() for a in train] == [[3, 4, 0], [5, 2, 0]] and train[0].dtype == np.int64
    with pytest.raises(DataFormatError, match=r"wiki\.valid\.npy holds token id 9, outside the vocabulary of 6"):
        read_wikitext(tmp_path, "valid", vocab_size=len(vocab))
    _save_objects(tmp_path / "wiki.valid.npy", [np.array([], dtype=np.int64)])
    with pytest.raises(DataFormatError, match="empty corpus"):
        read_wikitext(tmp_path, "valid")
    _save_objects(tmp_path / "wiki.valid.npy", [np.array([0.5, 1.5])])
    with pytest.raises(DataFormatError, match="article 0 is float64"):
        read_wikitext(tmp_path, "valid")
    with pytest.raises(DataFormatError, match="does not exist"):
        read_wikitext(tmp_path / "nowhere", "train")
    (tmp_path / "vocab.npy").unlink()
    with pytest.raises(DataFormatError, match=r"vocab\.npy is missing"):
        read_wikitext_vocab(tmp_path)


def test_transcripts_tokens_and_vocabulary(tmp_path):
    folder = tmp_path / "text-for-LM"
    folder.mkdir()
    np.save(folder / "b.npy", np.array(list("HELLO THERE"), dtype="<U1"))
    np.save(folder / "a.npy", np.array("IT'S ME"))
    assert read_transcripts(folder) == ["IT'S ME", "HELLO THERE"]           # sorted file order
    np.save(folder / "c.npy", np.zeros((3, 80), dtype=np.float32))
    with pytest.raises(DataFormatError, match="c.npy holds float32"):
        read_transcripts(folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataFormatError, match="holds no .npy files"):
        read_transcripts(empty)

    words = tokenize(["The king's men, 3 of them!", ""], "word", lower=True)
    assert words == [["the", "king's", "men", ",", "3", "of", "them", "!"], []]
    assert tokenize(["ab c"], "char") == [["a", "b", " ", "c"]]
    vocab = build_word_vocab([["b", "a", "b"], ["c", "b", "a"]], max_size=4)
    assert vocab.tokens == ["<eos>", "<unk>", "b", "a"]
    ids = encode_corpus([["a", "c"], ["b"]], vocab)
    assert [x.tolist() for x in ids] == [[3, 1, 0], [2, 0]]                 # c -> <unk>, <eos> appended
    with pytest.raises(DataFormatError, match="empty corpus"):
        build_word_vocab([[], []])
    with pytest.raises(DataFormatError, match="empty"):
        encode_corpus([], vocab)
    with pytest.raises(DataFormatError, match="token id -1"):
        check_ids(np.array([[0, -1]]), 4, "prediction.npz")


def test_shakespeare_lines_are_spoken_text():
    works = shakespeare_works()
    assert len(works) >= 40 and "hamlet" in works
    hamlet = shakespeare_lines(["hamlet"])["hamlet"]
    assert hamlet[0] == "Who's there?" and "To be, or not to be, that is the question:" in hamlet
    assert not any(line.startswith("[") or line in ("Ham.", "ACT I.") for line in hamlet)
    with pytest.raises(ValueError, match="unknown work 'hamlett'"):
        shakespeare_lines(["hamlett"])


def test_hw4p1_demo_layout_and_task_files(tmp_path):
    root = write_hw4p1(tmp_path, size={"train_works": 2, "vocab_size": 300, "tasks": 16})
    vocab = read_wikitext_vocab(root)
    train, dev = read_wikitext(root, "train", len(vocab)), read_wikitext(root, "valid", len(vocab))
    info = json.loads((root / "demo_info.json").read_text())
    assert len(vocab) == 300 and len(train) == 2 and len(dev) == len(DEV_WORKS)
    assert info["stats"]["train_tokens"] == sum(len(a) for a in train)
    assert all(a[-1] == vocab.eos for a in train)                          # every line ends in <eos>
    task = np.load(root / "prediction.npz")
    stream = np.concatenate(dev)
    assert task["inp"].shape == (16, 32) and task["out"].shape == (16,)
    for inp, out in zip(task["inp"], task["out"]):                        # out: the true next word
        starts = np.flatnonzero(np.all(np.lib.stride_tricks.sliding_window_view(stream, 33) ==
                                       np.append(inp, out), axis=1))
        assert len(starts) >= 1
    assert np.load(root / "generation.npy").shape == (16, 32)
    stamp = (root / "wiki.train.npy").stat().st_mtime_ns
    assert write_hw4p1(tmp_path, size={"train_works": 2, "vocab_size": 300, "tasks": 16}) == root
    assert (root / "wiki.train.npy").stat().st_mtime_ns == stamp            # same arguments: reused
    with pytest.raises(ValueError, match="too few"):
        write_lm_tasks(tmp_path / "t", [np.arange(5)], context=32)
