"""Optimizers against torch.optim, step for step on the same parameters and gradients
(float64, rtol 1e-9, atol 1e-11): Linear W/b, BatchNorm BW/Bb and Swish's scalar beta."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mytorch import nn, optim

from .mlp_reference import close, rand, seeds, t


class Model:
    def __init__(self, layers):
        self.layers = layers


def _model(seed):
    lin, bn, swish = nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Swish(0.7)
    lin.W, lin.b = rand(seed, 4, 3), rand(seed + 1, 4, 1)
    bn.BW, bn.Bb = rand(seed + 2, 1, 4), rand(seed + 3, 1, 4)
    model = Model([lin, bn, swish])
    params = {"W": lin.W, "b": lin.b, "BW": bn.BW, "Bb": bn.Bb, "beta": swish.beta}
    grads = {"W": "dLdW", "b": "dLdb", "BW": "dLdBW", "Bb": "dLdBb", "beta": "dLdbeta"}
    owners = {"W": lin, "b": lin, "BW": bn, "Bb": bn, "beta": swish}
    return model, params, grads, owners


lrs = st.floats(1e-3, 0.5)
decay = st.floats(0.0, 0.1)
betas = st.floats(0.5, 0.999)

CONFIGS = {
    "SGD": (st.fixed_dictionaries({"lr": lrs, "momentum": st.sampled_from([0.0, 0.9]) | betas,
                                   "weight_decay": decay}),
            lambda ps, h: torch.optim.SGD(ps, **h)),
    "Adam": (st.fixed_dictionaries({"lr": lrs, "beta1": betas, "beta2": betas,
                                    "eps": st.sampled_from([1e-8, 1e-3])}),
             lambda ps, h: torch.optim.Adam(ps, lr=h["lr"], betas=(h["beta1"], h["beta2"]),
                                            eps=h["eps"])),
    "AdamW": (st.fixed_dictionaries({"lr": lrs, "beta1": betas, "beta2": betas,
                                     "eps": st.sampled_from([1e-8, 1e-3]),
                                     "weight_decay": decay}),
              lambda ps, h: torch.optim.AdamW(ps, lr=h["lr"], betas=(h["beta1"], h["beta2"]),
                                              eps=h["eps"], weight_decay=h["weight_decay"])),
    "RMSProp": (st.fixed_dictionaries({"lr": lrs, "alpha": betas,
                                       "eps": st.sampled_from([1e-8, 1e-3])}),
                lambda ps, h: torch.optim.RMSprop(ps, **h)),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
@given(data=st.data(), seed=seeds, steps=st.integers(1, 6))
def test_optimizer_matches_torch_step_for_step(name, data, seed, steps):
    strategy, make_torch = CONFIGS[name]
    hyper = data.draw(strategy)
    model, params, grads, owners = _model(seed)
    tparams = {k: torch.nn.Parameter(t(v)) for k, v in params.items()}
    opt = getattr(optim, name)(model, **hyper)
    topt = make_torch(list(tparams.values()), hyper)
    for s in range(steps):
        for i, (k, p) in enumerate(params.items()):
            g = rand(seed + 10 * s + i, *np.shape(p), scale=2.0)
            setattr(owners[k], grads[k], g)
            tparams[k].grad = t(g)
        opt.step()
        topt.step()
        for k in params:
            close(getattr(owners[k], k), tparams[k], rtol=1e-9, atol=1e-10)
    assert owners["W"].W is params["W"]      # updated in place


def test_default_hyperparameters_follow_the_issue():
    model, *_ = _model(0)
    sgd, adamw = optim.SGD(model), optim.AdamW(model)
    assert (sgd.lr, sgd.momentum, sgd.weight_decay) == (0.1, 0.0, 0.0)
    assert (adamw.beta1, adamw.beta2, adamw.eps, adamw.weight_decay) == (0.9, 0.999, 1e-8, 0.01)
    assert optim.RMSProp(model).alpha == 0.99


def test_zero_grad_and_model_without_parameters():
    model, params, _grads, owners = _model(0)
    owners["W"].dLdW = np.ones((4, 3))
    opt = optim.SGD(model, lr=1.0)
    opt.zero_grad()
    before = params["W"].copy()
    opt.step()
    close(owners["W"].W, before)
    with pytest.raises(ValueError, match="no parameters"):
        optim.SGD(Model([nn.ReLU()]))
