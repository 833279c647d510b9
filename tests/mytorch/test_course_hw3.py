"""The course's HW3P1 GRU inference model (CharacterPredictor, inference) against
torch.nn.GRUCell + torch.nn.Linear run over a sequence, float64 (rtol 1e-9, atol 1e-10)."""
import numpy as np
import pytest
import torch

from mytorch.models import CharacterPredictor, inference

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
