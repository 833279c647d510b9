"""The course's HW3P1 GRU inference model (CharacterPredictor, inference) against
torch.nn.GRUCell + torch.nn.Linear run over a sequence, float64 (rtol 1e-9, atol 1e-10), and
its construction's draws from the global NumPy generator (the course's order, exactly)."""
import numpy as np
import pytest
import torch

from mytorch.models import CharacterPredictor, inference
from mytorch.nn.gru_cell import WEIGHT_NAMES

from .test_rnn_cells import gru_weights_from_torch

TOL = {"rtol": 1e-9, "atol": 1e-10}


@pytest.mark.parametrize("input_dim, hidden_dim, num_classes, seq_len", [(5, 2, 3, 10),
                                                                         (7, 4, 3, 1)])
def test_inference_matches_torch_gru_and_linear(input_dim, hidden_dim, num_classes, seq_len):
    torch.manual_seed(11785)
    cell = torch.nn.GRUCell(input_dim, hidden_dim).double()
    linear = torch.nn.Linear(hidden_dim, num_classes).double()
    inputs = np.random.default_rng(0).normal(size=(seq_len, input_dim))
    h, expected = torch.zeros(1, hidden_dim, dtype=torch.float64), []
    for x in torch.tensor(inputs):
        h = cell(x[None], h)
        expected.append(linear(h)[0].detach().numpy())

    net = CharacterPredictor(input_dim, hidden_dim, num_classes)
    assert net.projection.W.shape == (num_classes, hidden_dim) and net.rnn is net.gru
    net.init_rnn_weights(*gru_weights_from_torch(cell))
    net.projection.W = linear.weight.detach().numpy()                 # the autograder's way
    net.projection.b = linear.bias.detach().numpy().reshape(-1, 1)
    logits = inference(net, inputs)
    assert logits.shape == (seq_len, num_classes)
    np.testing.assert_allclose(logits, np.stack(expected), **TOL)
    step_logits, h_next = net(inputs[0], np.zeros(hidden_dim))          # one step, unbatched
    assert step_logits.shape == (num_classes,) and h_next.shape == (hidden_dim,)
    np.testing.assert_allclose(step_logits, expected[0], **TOL)


def test_inference_rejects_a_wrong_feature_dimension():
    with pytest.raises(ValueError, match=r"inputs of shape \(seq_len, 5\), got \(4, 3\)"):
        inference(CharacterPredictor(5, 2, 3), np.zeros((4, 3)))


def test_construction_draws_the_course_values_in_the_course_order():
    """The HW3P1 "GRU Inference" check seeds np.random, builds the model, and compares with
    values saved from the reference: the GRU draws twelve randn arrays (Wrx, Wzx, Wnx, Wrh,
    Wzh, Wnh, brx, bzx, bnx, brh, bzh, bnh), then projection.W = np.random.rand(C, H)."""
    input_dim, hidden_dim, num_classes = 5, 4, 3
    np.random.seed(11785)
    net = CharacterPredictor(input_dim, hidden_dim, num_classes)
    np.random.seed(11785)
    shapes = [(hidden_dim, input_dim)] * 3 + [(hidden_dim, hidden_dim)] * 3 + [(hidden_dim,)] * 6
    gru = [np.random.randn(*shape) for shape in shapes]
    projection_W = np.random.rand(num_classes, hidden_dim)
    for name, value in zip(WEIGHT_NAMES, gru):
        np.testing.assert_array_equal(getattr(net.gru, name), value, err_msg=name)
    np.testing.assert_array_equal(net.projection.W, projection_W)
    assert not net.projection.b.any()
