"""The LAS model of hw3_rnn/las.ipynb: masked attention, teacher forcing, greedy vs beam, bad input.

The model lives in the notebook (a reader studies and changes it there), so these tests execute the
notebook's code cells tagged "model" and "decoding" (common.notebook.cells) in a namespace holding the names the
notebook's Setup cell imports, then build a small model from those classes.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from common.notebook.cells import notebook_namespace
from common.notebook.execute import REPO_ROOT
from common.metrics import attention_diagonality
from common.speech.decoding import (CTCPrefixScorer, reorder_state, seq2seq_beam_search, seq2seq_greedy_decode,
                                    trim_at_eos)
from common.speech.utterances import collate_utterances

NOTEBOOK = REPO_ROOT / "hw3_rnn" / "las.ipynb"
V, D, SOS, EOS = 41, 28, 0, 0


@pytest.fixture(scope="module")
def las():
    """The notebook's model/decoding cells, executed: a namespace of their classes and functions."""
    ns = {"torch": torch, "nn": nn, "F": F, "math": math, "MAX_PHONEMES_PER_FRAME": 0.25,
          "reorder_state": reorder_state, "seq2seq_beam_search": seq2seq_beam_search,
          "seq2seq_greedy_decode": seq2seq_greedy_decode, "CTCPrefixScorer": CTCPrefixScorer,
          "trim_at_eos": trim_at_eos, "attention_diagonality": attention_diagonality}
    return notebook_namespace(NOTEBOOK, ("model", "decoding"), ns)


def make_model(ns, location=True, seed=0, tie=True):
    torch.manual_seed(seed)
    listener = ns["Listener"](D, 16, 2, 12, 1, 2, 0.0)
    attention = ns["Attention"](listener.output_dim, 20, 16, 4 if location else 0, 5)
    speller = ns["Speller"](V, 16, 20, 2, attention, 16, 0.0, tie)
    return ns["LAS"](listener, speller, SOS, EOS).eval()


def batch_of(lengths, target_lengths, seed=1):
    g = torch.Generator().manual_seed(seed)
    items = [(torch.randn(T, D, generator=g), torch.randint(1, V, (L,), generator=g))
             for T, L in zip(lengths, target_lengths)]
    return collate_utterances(items)


@pytest.mark.parametrize("location", [False, True])
def test_padded_batch_equals_each_utterance_alone(las, location):
    model = make_model(las, location)
    batch = batch_of([37, 16, 25], [7, 3, 5])
    batch.features[1, 16:] = 50.0                 # garbage in the padding must change nothing
    batch.features[2, 25:] = -50.0
    with torch.no_grad():
        logits, weights = model(batch.features, batch.feature_lengths, batch.targets)
        for b in range(3):
            T, L = int(batch.feature_lengths[b]), int(batch.target_lengths[b])
            alone_logits, alone_weights = model(batch.features[b:b + 1, :T], batch.feature_lengths[b:b + 1],
                                                batch.targets[b:b + 1, :L])
            torch.testing.assert_close(logits[b, :L + 1], alone_logits[0], atol=1e-5, rtol=1e-5)
            Tp = alone_weights.shape[2]           # listener frames of this utterance: ceil(T / 4)
            assert Tp == math.ceil(T / 4)
            torch.testing.assert_close(weights[b, :L + 1, :Tp], alone_weights[0], atol=1e-5, rtol=1e-5)
            assert torch.all(weights[b, :, Tp:] == 0)          # padding frames get exactly no attention
            torch.testing.assert_close(weights[b].sum(-1), torch.ones(weights.shape[1]))


def test_attention_weights_are_a_masked_softmax_of_scaled_dot_products(las):
    torch.manual_seed(0)
    att = las["Attention"](6, 5, 4)
    encoded, lengths = torch.randn(2, 7, 6), torch.tensor([7, 3])
    memory = att.memory(encoded, lengths)
    query = torch.randn(2, 5)
    context, weights = att(query, memory, torch.zeros(2, 7))
    q, k, v = att.query(query), att.key(encoded), att.value(encoded)
    for b, n in enumerate(lengths.tolist()):
        expected = torch.softmax(k[b, :n] @ q[b] / 2.0, dim=0)          # sqrt(4) = 2
        torch.testing.assert_close(weights[b, :n], expected)
        torch.testing.assert_close(context[b], expected @ v[b, :n])


def test_teacher_forcing_rate_one_is_the_teacher_forced_loss(las):
    """las_loss at rate 1.0 = the loss of the true phonemes fed one by one through the decoding step_fn."""
    model = make_model(las)
    batch = batch_of([30, 21], [6, 4])
    with torch.no_grad():
        loss, stats = las["las_loss"](model, batch, tf_rate=1.0)
        state = model.speller.initial_state(model.encode(batch.features, batch.feature_lengths))
        step_fn = las["speller_step_fn"](model)
        tokens, nll = torch.full((2, 1), SOS), []
        for t in range(7):
            log_probs, state = step_fn(tokens, state)
            gold = torch.tensor([batch.targets[b, t] if t < n else EOS
                                 for b, n in enumerate(batch.target_lengths.tolist())])
            nll += [-log_probs[b, gold[b]] for b, n in enumerate(batch.target_lengths.tolist()) if t <= n]
            tokens = torch.cat([tokens, gold[:, None]], 1)
    reference = torch.stack(nll).mean()
    assert int(stats["n"]) == 6 + 4 + 2
    torch.testing.assert_close(loss, reference, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(stats["nll"] / stats["n"], reference, atol=1e-5, rtol=1e-5)
    # rate 1.0 draws nothing: the same loss whatever the random state
    torch.manual_seed(123)
    with torch.no_grad():
        again, _ = las["las_loss"](model, batch, tf_rate=1.0)
        half, _ = las["las_loss"](model, batch, tf_rate=0.5)
    assert float(again) == float(loss)
    assert float(half) != float(loss)                                    # lower rates feed other inputs


def test_teacher_forcing_rate_zero_feeds_back_the_greedy_path(las):
    """At rate 0 the speller reads its own argmax: its predictions are greedy decoding's, step by step."""
    model = make_model(las, seed=3)
    batch = batch_of([40, 33], [9, 9], seed=4)
    with torch.no_grad():
        logits, _ = model(batch.features, batch.feature_lengths, batch.targets, tf_rate=0.0)
        memory = model.encode(batch.features, batch.feature_lengths)
        greedy = seq2seq_greedy_decode(las["speller_step_fn"](model), 2, SOS, EOS, 10,
                                       state=model.speller.initial_state(memory))
        mixed, _ = model(batch.features, batch.feature_lengths, batch.targets, tf_rate=1.0)
    own = logits.argmax(-1)                                              # (2, 10)
    for b in range(2):
        row = greedy[b].tolist()
        n = row.index(EOS) + 1 if EOS in row else len(row)
        assert own[b, :n].tolist() == row[:n]
    assert not torch.allclose(logits, mixed)                             # the inputs really differ


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_width_one_equals_greedy(las, seed):
    model = make_model(las, seed=seed)
    batch = batch_of([44, 29, 36, 51, 18, 40], [1] * 6, seed=seed + 10)
    with torch.no_grad():                              # outputs that depend more on the attended frames
        model.speller.attention.value.weight.mul_(4.0)
        model.speller.project[0].weight.mul_(4.0)
    for bias in torch.arange(-2.0, 6.0, 0.1):         # raise eos until hypotheses end at varying lengths
        with torch.no_grad():
            model.speller.output.bias[EOS] = bias
        greedy = las["decode_batch"](model, batch.features, batch.feature_lengths, max_len=12)
        if len({len(g) for g in greedy}) > 1:
            break
    beam = las["decode_batch"](model, batch.features, batch.feature_lengths, beam_width=1, max_len=12)
    assert beam == greedy
    assert all(EOS not in g for g in greedy)                             # sos/eos stripped
    assert len({len(g) for g in greedy}) > 1 and min(len(g) for g in greedy) < 12   # ended early, not at max_len
    wide = las["decode_batch"](model, batch.features, batch.feature_lengths, beam_width=4, max_len=12)
    step_fn = las["speller_step_fn"](model)

    def score(b, seq, eos=True):                                         # log P(seq[, eos] | utterance b)
        state = model.speller.initial_state(model.encode(batch.features[b:b + 1], batch.feature_lengths[b:b + 1]))
        tokens, total = torch.tensor([[SOS]]), 0.0
        for tok in seq + ([EOS] if eos else []):
            log_probs, state = step_fn(tokens, state)
            total += float(log_probs[0, tok])
            tokens = torch.cat([tokens, torch.tensor([[tok]])], 1)
        return total

    # a wider beam may find a worse sequence than greedy (greedy's prefix can fall out of it); what is
    # guaranteed: decode_batch returns the beam's best, every hypothesis carries the model's exact
    # score of (sequence, eos), and they are ranked by it
    with torch.no_grad():
        encoded, enc_lengths = model.listener(batch.features, batch.feature_lengths)
        memory = model.speller.attention.memory(encoded, enc_lengths)
        memory = reorder_state(memory, torch.arange(6).repeat_interleave(4))
        hyps = seq2seq_beam_search(step_fn, 6, SOS, EOS, 12, 4, state=model.speller.initial_state(memory))
        for b in range(6):
            assert hyps[b][0][0] == wide[b]
            assert [s for _, s in hyps[b]] == sorted((s for _, s in hyps[b]), reverse=True)
            for seq, reported in hyps[b]:
                if len(seq) < 12:                                        # finished: seq + eos
                    assert reported == pytest.approx(score(b, seq), abs=1e-4)
                else:                                                    # none finished: live beams, no eos
                    assert reported == pytest.approx(score(b, seq, eos=False), abs=1e-4)


def test_beam_search_of_a_padded_batch_equals_each_utterance_alone(las):
    model = make_model(las, seed=5)
    batch = batch_of([44, 23], [1, 1], seed=6)
    both = las["decode_batch"](model, batch.features, batch.feature_lengths, beam_width=3, max_len=8)
    for b in range(2):
        T = int(batch.feature_lengths[b])
        alone = las["decode_batch"](model, batch.features[b:b + 1, :T], batch.feature_lengths[b:b + 1],
                                    beam_width=3, max_len=8)
        assert alone[0] == both[b]


def test_tied_output_layer_shares_the_embedding(las):
    tied, untied = make_model(las), make_model(las, tie=False)
    assert tied.speller.output.weight is tied.speller.embedding.weight
    n = lambda m: sum(p.numel() for p in m.parameters())              # noqa: E731
    assert n(untied) - n(tied) == V * 16


def test_attention_diagonality_against_hand_values(las):
    diag = las["attention_diagonality"]
    eye = torch.eye(10)
    assert diag(eye, 10, 10)[0] == pytest.approx(1.0)
    anti = eye.flip(1)
    assert diag(anti, 10, 10)[0] == pytest.approx(0.2)                 # only the 2 rows near the centre
    uniform = torch.full((10, 10), 0.1)
    score, chance = diag(uniform, 10, 10)
    assert score == pytest.approx(chance) and chance == pytest.approx(0.28)


def test_bad_input_is_a_clear_error(las):
    model = make_model(las)
    with pytest.raises(ValueError, match=r"\(batch, frames, 28\).*27"):
        model(torch.randn(2, 30, 27), torch.tensor([30, 20]), torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="lengths"):
        model(torch.randn(2, 30, D), torch.tensor([31, 20]), torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="lengths"):
        model(torch.randn(2, 30, D), torch.tensor([0, 20]), torch.ones(2, 3, dtype=torch.long))


def test_guided_attention_penalty_by_hand(las):
    guided = las["guided_attention"]
    one, two = torch.tensor([1]), torch.tensor([2])                     # 1 phoneme + eos, 2 listener frames
    assert float(guided(torch.eye(2)[None], one, two)) == pytest.approx(0.0)
    anti = torch.eye(2).flip(1)[None]                                    # |n/N - t/T| = 0.5 at both steps
    assert float(guided(anti, one, two)) == pytest.approx(1 - math.exp(-0.25 / (2 * 0.2 ** 2)))
    # padding steps and frames do not count: the same utterance inside a padded batch
    padded = torch.zeros(2, 4, 3)
    padded[0, :2, :2] = anti[0]
    padded[1, :3, :3] = torch.eye(3)
    assert float(guided(padded[:1], one, two)) == pytest.approx(float(guided(anti, one, two)))
    model = make_model(las)
    batch = batch_of([30, 21], [6, 4])
    with torch.no_grad():
        plain, _ = las["las_loss"](model, batch)
        with_prior, _ = las["las_loss"](model, batch, guided_weight=0.5)
        _, weights = model(batch.features, batch.feature_lengths, batch.targets)
    frames = model.frame_lengths(batch.feature_lengths)
    assert frames.tolist() == [math.ceil(30 / 4), math.ceil(21 / 4)]
    expected = plain + 0.5 * las["guided_attention"](weights, batch.target_lengths, frames)
    torch.testing.assert_close(with_prior, expected)


def brute_force_ctc(log_probs, target, blank=0):
    """-log P(target) summed over every frame path (C ** T of them) that collapses to the target."""
    import itertools
    paths = torch.tensor(list(itertools.product(range(log_probs.shape[1]), repeat=len(log_probs))))
    keep = []
    for path in paths.tolist():
        collapsed = [c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1])]
        keep.append(collapsed == target)
    scores = log_probs[torch.arange(len(log_probs)), paths[torch.tensor(keep)]].sum(-1)
    return -torch.logsumexp(scores, 0)


def test_joint_ctc_attention_loss_by_hand(las):
    """las_loss(ctc_weight=w) = w * CTC(listener frames; blank 0) + (1 - w) * attention cross-entropy."""
    torch.manual_seed(0)
    listener = las["Listener"](D, 16, 1, 12, 1, 2, 0.0)
    attention = las["Attention"](listener.output_dim, 20, 16, 4, 5)
    speller = las["Speller"](V, 16, 20, 1, attention, 16, 0.0, True)
    model = las["LAS"](listener, speller, SOS, EOS, ctc_classes=V).eval()
    batch = batch_of([9, 12], [2, 1], seed=3)                               # 3 listener frames each
    with torch.no_grad():
        ce, _ = las["las_loss"](model, batch)
        joint, stats = las["las_loss"](model, batch, ctc_weight=0.3)
        encoded, frames = model.listener(batch.features, batch.feature_lengths)
        log_probs = model.ctc(encoded).log_softmax(-1)
    assert frames.tolist() == [3, 3]
    ctc = torch.stack([brute_force_ctc(log_probs[b, :n], batch.targets[b, :L].tolist()) / L
                       for b, (n, L) in enumerate(zip(frames.tolist(), batch.target_lengths.tolist()))]).mean()
    torch.testing.assert_close(joint, 0.3 * ctc + 0.7 * ce, rtol=1e-4, atol=1e-5)
    assert not torch.isclose(joint, ce)
    assert stats["n"] == 2 + 1 + 2                                          # the CE stats ignore the CTC term


def joint_model(las, seed=0):
    torch.manual_seed(seed)
    listener = las["Listener"](D, 16, 1, 12, 1, 2, 0.0)
    attention = las["Attention"](listener.output_dim, 20, 16, 4, 5)
    speller = las["Speller"](V, 16, 20, 1, attention, 16, 0.0, True)
    return las["LAS"](listener, speller, SOS, EOS, ctc_classes=V).eval()


def test_ctc_prefix_scores_of_a_hypothesis_sum_to_its_ctc_probability(las):
    """eos and the CTC blank share id 0: the scorer's increments along h plus its eos score sum to
    log P_ctc(h), torch's CTC loss over the head's outputs."""
    model = joint_model(las)
    batch = batch_of([40, 29], [5, 3], seed=7)
    hyps = [[3, 3, 7, 12], [40, 1]]                                     # a repeated phoneme needs a blank
    with torch.no_grad():
        encoded, frames = model.listener(batch.features, batch.feature_lengths)
        scorer = las["ctc_prefix_scorer"](model, encoded, frames, beam_width=1)
        log_probs = model.ctc(encoded).float().log_softmax(-1)
    state, total = scorer.initial(2), torch.zeros(2, dtype=torch.float64)
    first = scorer.log_probs(state)
    assert first.shape == (2, V)                                        # eos + 40 phonemes, no blank proposed
    for step in range(4):
        tokens = torch.tensor([h[step] if step < len(h) else -1 for h in hyps])
        increments = scorer.log_probs(state).gather(1, tokens.clamp(min=0)[:, None])[:, 0].double()
        total += torch.where(tokens >= 0, increments, 0.0)
        state = scorer.advance(state, tokens)
    total += scorer.log_probs(state)[:, EOS].double()
    for b, h in enumerate(hyps):
        expected = -F.ctc_loss(log_probs[b, :frames[b], None], torch.tensor([h]), frames[b:b + 1],
                               torch.tensor([len(h)]), blank=0, reduction="sum")
        assert float(total[b]) == pytest.approx(float(expected), rel=1e-4)


class FixedHead(nn.Module):
    """A CTC head that ignores the listener and outputs the given frame logits (B, T', V)."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, encoded):
        return self.logits[:, :encoded.shape[1]]


def test_joint_decoding_with_a_dominant_ctc_head_follows_the_ctc_head(las):
    """With one-hot CTC posteriors along a path (blank 0, repeats split by it) and a CTC weight far
    above the untrained attention's scores, joint beam search returns the path's labels, which
    attention alone does not: the blank (id 0) is not taken for eos (also id 0)."""
    model = joint_model(las, seed=3)
    batch = batch_of([48, 36], [1, 1], seed=8)                           # 12 and 9 listener frames
    paths = [[5, 5, 0, 7, 9, 0, 9, 3, 3, 0, 0, 12], [20, 0, 20, 1, 1, 2, 0, 0, 40, 0, 0, 0]]
    model.ctc = FixedHead(20.0 * F.one_hot(torch.tensor(paths), V).float())
    labels = [[5, 7, 9, 9, 3, 12], [20, 20, 1, 2, 40]]
    with torch.no_grad():
        joint = las["decode_batch"](model, batch.features, batch.feature_lengths, beam_width=4, ctc_weight=50.0,
                                    max_len=16)
        attention_only = las["decode_batch"](model, batch.features, batch.feature_lengths, beam_width=4, max_len=16)
    assert joint == labels
    assert attention_only != labels
