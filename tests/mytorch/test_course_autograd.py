"""The course's tape autograd API (Autograd.add_operation / backward(divergence), the
gradient buffer, the *_backward functions, the layers on the tape) against torch autograd,
and against mytorch's own Tensor, which uses the same operation table (float64,
rtol 1e-10, atol 1e-12)."""
import numpy as np
import pytest
import torch

from mytorch.autograd import Autograd, GradientBuffer, Operation, Tensor, jvp
from mytorch.autograd import functional as F
from mytorch.autograd import nn as ann
from mytorch.autograd import ops

TOL = {"rtol": 1e-10, "atol": 1e-12}


def close(mine, ref):
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else ref
    np.testing.assert_allclose(np.asarray(mine), ref, **TOL)


def tt(x):
    return torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)


def test_add_operation_records_the_operation():
    engine = Autograd()
    x, y = np.random.randn(1, 5), np.random.randn(1, 5)
    z = x + y
    engine.add_operation(inputs=[x, y], output=z, gradients_to_update=[None, None],
                         backward_operation=F.add_backward)
    assert len(engine.operation_list) == 1
    op = engine.operation_list[0]
    assert type(op) is Operation and op.inputs[0] is x and op.inputs[1] is y
    assert op.output is z and op.gradients_to_update == [None, None]
    assert op.backward_operation is F.add_backward
    assert engine.gradient_buffer.is_in_memory(x) and engine.memory_buffer is engine.gradient_buffer
    with pytest.raises(ValueError, match="one per input"):
        engine.add_operation([x, y], z, [None], F.add_backward)
    engine.zero_grad()
    assert engine.operation_list == [] and engine.gradient_buffer.memory == {}


def test_backward_updates_buffer_and_parameter_gradients_like_torch():
    """(x1 + y1) * y2 with y2 a parameter (its gradient array is updated in place) and the
    others tracked in the buffer; backward(1) on a non-scalar output = sum."""
    rng = np.random.default_rng(0)
    x1, y1, y2 = (rng.normal(size=(2, 5)) for _ in range(3))
    dy2 = np.zeros_like(y2)
    engine = Autograd()
    z1 = x1 + y1
    engine.add_operation([x1, y1], z1, [None, None], F.add_backward)
    z2 = z1 * y2
    engine.add_operation([z1, y2], z2, [None, dy2], F.mul_backward)
    engine.backward(1)
    tx1, ty1, ty2 = tt(x1), tt(y1), tt(y2)
    ((tx1 + ty1) * ty2).sum().backward()
    close(engine.gradient_buffer.get_param(x1), tx1.grad)
    close(engine.gradient_buffer.get_param(y1), ty1.grad)
    close(engine.gradient_buffer.get_param(z1), y2)             # dL/dz1 = y2
    close(dy2, ty2.grad)
    assert not engine.gradient_buffer.is_in_memory(y2)      # a parameter: not in the buffer


BINARY = [("add", F.add_backward, torch.add, (3, 4), (1, 4)),
          ("sub", F.sub_backward, torch.sub, (3, 4), (3, 4)),
          ("mul", F.mul_backward, torch.mul, (3, 4), (4,)),
          ("div", F.div_backward, torch.div, (3, 4), (3, 4)),
          ("matmul", F.matmul_backward, torch.matmul, (3, 4), (4, 2)),
          ("outer", F.outer_backward, torch.outer, (5,), (3,)),
          ("pow", F.pow_backward, torch.pow, (3, 4), (3, 4))]
UNARY = [("log", F.log_backward, torch.log), ("exp", F.exp_backward, torch.exp),
         ("tanh", F.tanh_backward, torch.tanh), ("sigmoid", F.sigmoid_backward, torch.sigmoid),
         ("relu", F.relu_backward, torch.relu), ("sum", F.sum_backward, torch.sum),
         ("identity", F.identity_backward, lambda a: a * 1)]


@pytest.mark.parametrize("name, backward, forward, shape_a, shape_b", BINARY)
def test_binary_backward_functions_match_torch(name, backward, forward, shape_a, shape_b):
    rng = np.random.default_rng(1)
    a = rng.uniform(0.5, 2.0, size=shape_a)                  # positive: pow and div are safe
    b = rng.uniform(0.5, 2.0, size=shape_b)
    ta, tb = tt(a), tt(b)
    out = forward(ta, tb)
    g = rng.normal(size=tuple(out.shape))
    out.backward(torch.tensor(g))
    da, db = backward(g, a, b)
    assert da.shape == a.shape and db.shape == b.shape and backward.__name__ == f"{name}_backward"
    close(da, ta.grad)
    close(db, tb.grad)


@pytest.mark.parametrize("name, backward, forward", UNARY)
def test_unary_backward_functions_match_torch(name, backward, forward):
    rng = np.random.default_rng(2)
    a = rng.uniform(0.1, 2.0, size=(3, 4)) * rng.choice([-1, 1], size=(3, 4))
    a = np.abs(a) if name == "log" else a
    ta = tt(a)
    out = forward(ta)
    g = rng.normal(size=tuple(out.shape))
    out.backward(torch.tensor(g))
    da = backward(g, a)
    assert isinstance(da, np.ndarray) and da.shape == a.shape
    close(da, ta.grad)


def test_pow_with_a_constant_exponent_and_max_and_slice():
    a = np.array([[1.0, 3.0], [3.0, -2.0]])
    da, dp = F.pow_backward(np.ones((2, 2)), a, 3)
    close(da, 3 * a ** 2)
    assert dp is None
    close(F.max_backward(2.0, a), [[0, 2.0], [2.0, 0]])      # every maximum, as the course
    idx = np.array(np.index_exp[1], dtype=object)             # the HW3 autograd slice form
    grad, none = F.slice_backward(np.array([5.0, 7.0]), a, idx)
    assert none is None
    close(grad, [[0, 0], [5.0, 7.0]])


def test_slice_through_the_engine_collects_the_input_gradient():
    """The course's RNN-through-time pattern: slices of one input array registered with
    slice_backward; the buffer then holds dL/d(input) for the whole array."""
    rng = np.random.default_rng(3)
    xs = rng.normal(size=(4, 2, 3))
    engine = Autograd()
    total = np.zeros((2, 3))
    for t in range(4):
        idx = np.index_exp[t]
        piece = xs[idx].copy()
        engine.add_operation([xs, np.array(idx, dtype=object)], piece, [None, None],
                             F.slice_backward)
        scaled = piece * (t + 1.0)
        scale = np.full_like(piece, t + 1.0)
        engine.add_operation([piece, scale], scaled, [None, None], F.mul_backward)
        new_total = total + scaled
        engine.add_operation([total, scaled], new_total, [None, None], F.add_backward)
        total = new_total
    engine.backward(np.ones((2, 3)))
    close(engine.gradient_buffer.get_param(xs),
          np.broadcast_to(np.arange(1.0, 5.0)[:, None, None], xs.shape))


def _paired_mlp(rng, sizes):
    engine = Autograd()
    layers = [ann.Linear(i, o, engine) for i, o in zip(sizes, sizes[1:])]
    torch_layers = []
    for layer in layers:
        lin = torch.nn.Linear(*layer.W.shape[::-1]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(layer.W))
            lin.bias.copy_(torch.tensor(layer.b[:, 0]))
        torch_layers.append(lin)
    return engine, layers, torch_layers


@pytest.mark.parametrize("loss_name", ["xent", "mse"])
def test_tape_layers_and_losses_match_torch(loss_name):
    """Linear -> Tanh -> Linear -> Sigmoid -> Linear -> ReLU -> Linear -> Identity, plus a
    skip connection, and a loss; a batch of 5; every parameter and input gradient."""
    rng = np.random.default_rng(4)
    np.random.seed(4)
    sizes = [6, 5, 5, 4, 3]
    engine, layers, tlayers = _paired_mlp(rng, sizes)
    acts = [ann.Tanh(engine), ann.Sigmoid(engine), ann.ReLU(engine), ann.Identity(engine)]
    tacts = [torch.tanh, torch.sigmoid, torch.relu, lambda a: a]
    x = rng.normal(size=(5, 6))
    y = np.eye(3)[rng.integers(0, 3, size=5)]
    tx = tt(x)
    h, th = x, tx
    for k, (layer, act, tlayer, tact) in enumerate(zip(layers, acts, tlayers, tacts)):
        h, th = act(layer(h)), tact(tlayer(th))
        close(act.state, th)
        if k == 1:                                           # skip connection: h + h
            skip = h + h
            engine.add_operation([h, h], skip, [None, None], F.add_backward)
            h, th = skip, th + th
    loss = ann.SoftmaxCrossEntropy(engine) if loss_name == "xent" else ann.MSELoss(engine)
    value = loss(y, h)
    assert value is loss.loss_val and value.shape == ((1,) if loss_name == "xent" else ())
    tloss = (torch.nn.functional.cross_entropy(th, torch.tensor(y)) if loss_name == "xent"
             else torch.nn.functional.mse_loss(th, torch.tensor(y)))
    tloss.backward()
    close(value, tloss)
    loss.backward()
    close(engine.gradient_buffer.get_param(x), tx.grad)
    for layer, tlayer in zip(layers, tlayers):
        close(layer.dW, tlayer.weight.grad)
        close(layer.db[:, 0], tlayer.bias.grad)


def test_tape_and_tensor_share_the_operation_table():
    """The same expression through Tensor and through the tape gives the same gradients."""
    rng = np.random.default_rng(5)
    a, b, c = rng.uniform(0.5, 2, (3, 4)), rng.uniform(0.5, 2, (4, 2)), rng.uniform(0.5, 2, (3, 2))
    ta, tb, tc = (Tensor(v, requires_grad=True) for v in (a, b, c))
    ((ta @ tb) / tc).exp().log().tanh().sum().backward()
    engine = Autograd()
    m = a @ b
    engine.add_operation([a, b], m, [None, None], F.matmul_backward)
    d = m / c
    engine.add_operation([m, c], d, [None, None], F.div_backward)
    e = np.exp(d)
    engine.add_operation([d], e, [None], F.exp_backward)
    f = np.log(e)
    engine.add_operation([e], f, [None], F.log_backward)
    g = np.tanh(f)
    engine.add_operation([f], g, [None], F.tanh_backward)
    s = np.array(g.sum())
    engine.add_operation([g], s, [None], F.sum_backward)
    engine.backward(1.0)
    for arr, tensor in ((a, ta), (b, tb), (c, tc)):
        close(engine.gradient_buffer.get_param(arr), tensor.grad)


def test_gradient_buffer_keys_views_and_scalars_apart():
    buffer = GradientBuffer()
    x = np.zeros((2, 3))
    buffer.add_spot(x)
    buffer.add_spot(x.reshape(3, 2))                         # same memory, another shape
    buffer.update_param(x, np.ones((2, 3)))
    close(buffer.get_param(x), np.ones((2, 3)))
    close(buffer.get_param(x.reshape(3, 2)), np.zeros((3, 2)))
    loss = np.float64(2.0)
    buffer.add_spot(loss)
    buffer.update_param(loss, 3.0)
    assert buffer.get_param(loss) == 3.0
    with pytest.raises(KeyError, match="not tracked"):
        buffer.update_param(np.ones(4), np.ones(4))


MATMUL_SHAPES = [((3, 4), (4, 2)), ((1, 5), (5, 1)), ((4,), (4, 2)), ((3, 4), (4,)),
                 ((4,), (4,)), ((1, 5), (5,)), ((5,), (5, 1)), ((2, 3, 4), (4, 5)),
                 ((2, 1, 3, 4), (5, 4, 2))]


@pytest.mark.parametrize("shape_a, shape_b", MATMUL_SHAPES)
@pytest.mark.parametrize("grad_form", ["output", "size-1 axes", "scalar"])
def test_matmul_backward_takes_inputs_and_gradient_only(shape_a, shape_b, grad_form, monkeypatch):
    """dL/da = g @ b^T, dL/db = a^T @ g (NumPy's 1-D and stacking rules) against torch, with
    the forward product never formed (ops.MatMul.forward is made to fail) and g given as
    the output's shape, with extra/missing size-1 axes (a (1,) output's gradient as (1, 1),
    a 0-d one's as (1,)), or as a scalar (the divergence: dL/d(sum of the output))."""
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=shape_a), rng.normal(size=shape_b)
    ta, tb = tt(a), tt(b)
    out = torch.matmul(ta, tb)
    g = rng.normal(size=tuple(out.shape)) if grad_form != "scalar" else np.array(1.5)
    out.backward(torch.tensor(np.broadcast_to(g, tuple(out.shape)).copy()))
    given = _other_size_1_axes(g) if grad_form == "size-1 axes" else g
    monkeypatch.setattr(ops.MatMul, "forward", staticmethod(_no_forward))
    da, db = F.matmul_backward(given, a, b)
    assert da.shape == a.shape and db.shape == b.shape
    close(da, ta.grad)
    close(db, tb.grad)


def _other_size_1_axes(g):
    """() -> (1,), (m,) -> (1, m); (1, 1) -> (1,), (n, 1) -> (n,); higher ranks unchanged."""
    if g.ndim < 2:
        return g.reshape(1, *g.shape)
    if g.ndim == 2 and 1 in g.shape:
        return g.reshape([n for n in g.shape if n != 1] or [1])
    return g


def _no_forward(*args, **kw):
    raise AssertionError("a backward function must not recompute the forward")


def test_matmul_backward_names_shapes_that_do_not_multiply():
    with pytest.raises(ValueError, match=r"matmul_backward: a of shape \(3, 4\) and b of "
                                         r"shape \(5, 2\) do not multiply"):
        F.matmul_backward(np.ones((3, 2)), np.ones((3, 4)), np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"grad_output of shape \(2, 3\) does not fit"):
        F.matmul_backward(np.ones((2, 3)), np.ones((3, 4)), np.ones((4, 2)))


@pytest.mark.parametrize("shape_a, shape_b", [((5,), (3,)), ((1, 5), (1, 3)), ((1, 4), (2,))])
def test_outer_backward_matches_torch_outer(shape_a, shape_b):
    """The handout's outer_backward (a, b vectors: 1-D or one row): dL/da = g @ b, dL/db =
    a @ g, each shaped like its input; through the engine, and Tensor.outer / jvp agree."""
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=shape_a), rng.normal(size=shape_b)
    ta, tb = tt(a), tt(b)
    out = torch.outer(ta.reshape(-1), tb.reshape(-1))
    g = rng.normal(size=tuple(out.shape))
    out.backward(torch.tensor(g))
    engine = Autograd()
    y = np.outer(a, b)
    engine.add_operation([a, b], y, [None, None], F.outer_backward)
    engine.backward(g)
    close(engine.gradient_buffer.get_param(a), ta.grad.reshape(shape_a))
    close(engine.gradient_buffer.get_param(b), tb.grad.reshape(shape_b))
    xa, xb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    xa.outer(xb).backward(g)
    close(xa.grad, ta.grad.reshape(shape_a))
    close(xb.grad, tb.grad.reshape(shape_b))
    da, db = rng.normal(size=shape_a), rng.normal(size=shape_b)
    value, tangent = jvp(lambda u, v: u.outer(v), (a, b), (da, db))
    close(value, y)
    close(tangent, np.outer(da, b) + np.outer(a, db))


def test_softmax_cross_entropy_loss_val_is_the_course_shape():
    """loss_val is np.array([L]) (shape (1,)) as in the handout, L = torch's mean
    cross-entropy; its gradient through the tape is torch's."""
    rng = np.random.default_rng(8)
    logits, labels = rng.normal(size=(4, 5)), rng.integers(0, 5, size=4)
    engine = Autograd()
    loss = ann.SoftmaxCrossEntropy(engine)
    value = loss(np.eye(5)[labels], logits)
    tlogits = tt(logits)
    tloss = torch.nn.functional.cross_entropy(tlogits, torch.tensor(labels))
    tloss.backward()
    assert isinstance(value, np.ndarray) and value.shape == (1,)
    close(value[0], tloss)
    loss.backward()
    close(engine.gradient_buffer.get_param(logits), tlogits.grad)
