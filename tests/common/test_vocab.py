"""Vocabularies: the exact course tables of DATA.md, round trips, specials, persistence."""
import pickle

import pytest
import torch

from common.vocab import HW1_PHONEMES, HW3_PHONEMES, HW4_CHARS, Vocab

# verbatim from DATA.md (HW3P2 "Label mapping (course's, fixed)"), parsed below
DATA_MD_HW3 = '''
  ""->" " (blank)  [SIL]->-  NG->G F->f M->m AE->@ R->r UW->u N->n IY->i AW->W V->v UH->U
  OW->o AA->a ER->R HH->h Z->z K->k CH->C W->w EY->e ZH->Z T->t EH->E Y->y AH->A B->b
  P->p TH->T DH->D AO->c G->g L->l JH->j OY->O SH->S D->d AY->Y S->s IH->I
'''
DATA_MD_HW1 = ("[SIL] AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T "
               "TH UH UW V W Y Z ZH [SOS] [EOS]")


def _parse_hw3():
    pairs = [("", " ")]
    for item in DATA_MD_HW3.replace('""->" " (blank)', "").split():
        token, code = item.split("->")
        pairs.append((token, code))
    return pairs


def test_hw3_table_is_the_course_order_with_codes():
    pairs = _parse_hw3()
    assert len(pairs) == 41 == len(HW3_PHONEMES)
    assert list(zip(HW3_PHONEMES.tokens, HW3_PHONEMES.codes)) == pairs
    assert HW3_PHONEMES.blank == 0 and HW3_PHONEMES.tokens[0] == "" and HW3_PHONEMES.codes[0] == " "
    assert HW3_PHONEMES.pad is HW3_PHONEMES.sos is HW3_PHONEMES.eos is HW3_PHONEMES.unk is None
    # the 40 phonemes are exactly HW1's 40 classes, in another order
    assert sorted(HW3_PHONEMES.tokens[1:]) == sorted(HW1_PHONEMES.tokens[:40])


def test_hw1_and_hw4_tables():
    assert HW1_PHONEMES.tokens == DATA_MD_HW1.split()
    assert (HW1_PHONEMES.sos, HW1_PHONEMES.eos, HW1_PHONEMES.blank) == (40, 41, None)
    assert HW4_CHARS.tokens[:3] == ["<|endoftext|>", "<|padding|>", "<|unknown|>"]
    assert "".join(HW4_CHARS.tokens[3:]) == "ABCDEFGHIJKLMNOPQRSTUVWXYZ '" and len(HW4_CHARS) == 31
    assert (HW4_CHARS.sos, HW4_CHARS.eos, HW4_CHARS.pad, HW4_CHARS.unk) == (0, 0, 1, 2)


def test_hw3_round_trips_and_submission_string():
    phones = ["[SIL]", "HH", "IY", "HH", "AA", "P", "T", "DH", "EH", "R", "W", "[SIL]"]
    ids = HW3_PHONEMES.encode(phones)
    assert ids == [1, 16, 9, 16, 14, 28, 23, 30, 24, 6, 20, 1]
    assert HW3_PHONEMES.decode(ids) == phones
    assert HW3_PHONEMES.to_string(ids) == "-hihaptDErw-"
    assert HW3_PHONEMES.encode_codes("-hihaptDErw-") == ids
    assert HW3_PHONEMES.decode([0, 1, 0, 0, 16]) == ["[SIL]", "HH"]          # blanks stripped
    assert HW3_PHONEMES.decode([0, 1], strip_special=False) == ["", "[SIL]"]
    assert HW3_PHONEMES.encode_text("[SIL] HH IY") == [1, 16, 9]
    every = list(range(1, 41))
    assert HW3_PHONEMES.encode_codes(HW3_PHONEMES.to_string(every)) == every


def test_hw4_text_round_trip_and_eos_ends_the_sequence():
    text = "IT'S A GOOD DAY"
    ids = HW4_CHARS.encode_text(text)
    assert ids[:4] == [11, 22, 30, 21] and HW4_CHARS.to_string(ids) == text
    assert HW4_CHARS.to_string([0, *ids, 0, 5, 6]) == text                  # sos, then stop at eos
    assert HW4_CHARS.to_string([*ids, 1, 1]) == text                          # padding dropped
    assert HW4_CHARS.encode_text("Ab") == [3, 2]                              # unknown -> unk
    assert HW4_CHARS.decode([2]) == ["<|unknown|>"]                           # unk is kept


def test_decode_batch_with_lengths_and_tensors():
    ids = torch.tensor([[1, 16, 9, 0], [5, 5, 3, 3]])
    assert HW3_PHONEMES.decode_batch(ids, torch.tensor([3, 2])) == [["[SIL]", "HH", "IY"], ["AE", "AE"]]
    assert HW3_PHONEMES.decode_batch(ids) == [["[SIL]", "HH", "IY"], ["AE", "AE", "F", "F"]]
    assert HW4_CHARS.decode_batch([[3, 4, 0, 1], [5, 1, 1, 1]]) == [["A", "B"], ["C"]]


def test_unknown_symbol_without_unk_names_it():
    with pytest.raises(ValueError, match="unknown symbol 'XX' for the HW3P2 phonemes"):
        HW3_PHONEMES.encode(["[SIL]", "XX"])
    with pytest.raises(ValueError, match="unknown code '#'"):
        HW3_PHONEMES.encode_codes("-h#")
    with pytest.raises(ValueError, match="outside the vocabulary of 41"):
        HW3_PHONEMES.decode([41])


def test_state_dict_round_trip_and_pickle():
    for vocab in (HW1_PHONEMES, HW3_PHONEMES, HW4_CHARS):
        again = Vocab.from_state_dict(vocab.state_dict())
        assert again == vocab and again.tokens == vocab.tokens and again.codes == vocab.codes
        assert again.state_dict() == vocab.state_dict()
        assert pickle.loads(pickle.dumps(vocab)) == vocab
    assert HW3_PHONEMES != HW1_PHONEMES
    with pytest.raises(ValueError, match="not a vocabulary state_dict"):
        Vocab.from_state_dict({"tokens": ["a"]})


def test_invalid_vocabularies_are_refused():
    with pytest.raises(ValueError, match="duplicate tokens \\['a'\\]"):
        Vocab(["a", "b", "a"])
    with pytest.raises(ValueError, match="pad id 5 is outside"):
        Vocab(["a", "b"], pad=5)
    with pytest.raises(ValueError, match="codes must be 2 distinct"):
        Vocab(["a", "b"], codes=["x", "x"])


def test_word_vocabulary_joins_with_spaces():
    words = Vocab(["<eos>", "the", "cat"], kind="words", eos=0)
    assert words.encode_text("the cat") == [1, 2] and words.to_string([1, 2, 0, 1]) == "the cat"


def test_subword_tokenizer_round_trip():
    pytest.importorskip("tokenizers")
    from common.vocab import SubwordTokenizer
    texts = ["THE OLD MAN SAT THERE", "IT'S A GOOD DAY", "THE MAN SAT", "A GOOD OLD DAY"] * 30
    tok = SubwordTokenizer.train(texts, vocab_size=60)
    assert tok.tokens[:3] == list(SubwordTokenizer.SPECIAL_TOKENS)
    assert (tok.sos, tok.eos, tok.pad, tok.unk) == (0, 0, 1, 2) and len(tok) <= 60
    for text in ("THE OLD MAN SAT THERE", "A MAN'S DAY", "GOOD"):
        ids = tok.encode_text(text)
        assert tok.to_string(ids) == text and 0 not in ids
    assert len(tok.encode_text("THE OLD MAN SAT THERE")) < len("THE OLD MAN SAT THERE") / 2  # merges learned
    assert tok.to_string([0, *tok.encode_text("THE MAN"), 0, 5]) == "THE MAN"
    again = Vocab.from_state_dict(tok.state_dict())
    assert isinstance(again, SubwordTokenizer) and again.tokens == tok.tokens
    assert again.encode_text("A GOOD DAY") == tok.encode_text("A GOOD DAY")
