"""The course's tape-style autograd engine (the HW1 autograd bonus), beside ``Tensor``.

Where ``Tensor`` records its graph on the values themselves, the course's engine keeps a tape:
every forward step is registered with ``add_operation(inputs, output, gradients_to_update,
backward_operation)`` and ``backward(divergence)`` walks the tape from the last operation to
the first, calling each operation's ``*_backward`` function (``functional.py``, made from the
same operation table as ``Tensor``). Gradients go to one of two places, chosen per input by
``gradients_to_update``:

- ``None``: the gradient is tracked internally, in ``gradient_buffer`` (``GradientBuffer``),
  keyed by the array itself; the network's inputs and intermediate values go there
  (``autograd.gradient_buffer.get_param(x)`` reads dL/dx after ``backward``);
- an array (a parameter's gradient, e.g. a layer's ``dW``): the gradient is ADDED to it in
  place, so a layer passes its own gradient arrays (or views of them, ``self.dW.T``).

``backward(divergence)`` uses ``divergence`` as the gradient of the LAST operation's output
(pass 1 for dL/dL); every earlier output takes the gradient accumulated for it in the
buffer. An operation whose output never received a gradient is skipped.

Module paths of the course's handout: ``mytorch.autograd_engine`` (``Autograd``,
``Operation``) is ``mytorch.autograd.engine``, ``mytorch.utils`` (``GradientBuffer``, older
``MemoryBuffer``) is this module too, and ``mytorch.nn.functional`` /
``mytorch.functional_hw1`` (the ``*_backward`` functions) is ``mytorch.autograd.functional``;
the autograd layers are in ``mytorch.autograd.nn``.
"""
import numpy as np

__all__ = ["Autograd", "GradientBuffer", "MemoryBuffer", "Operation"]


class GradientBuffer:
    """dL/dx for arrays x registered with ``add_spot``, keyed by the array's memory address
    and shape (a view with another shape is another entry), as in the course's buffer.
    ``memory`` maps keys to the gradient arrays. Objects that are not ndarrays (a NumPy
    scalar such as a loss value) are keyed by identity: ``np.asarray`` would copy them."""

    def __init__(self):
        self.memory = {}

    @staticmethod
    def get_memory_loc(np_array):
        if isinstance(np_array, np.ndarray):
            return np_array.__array_interface__["data"][0], np_array.shape
        return ("id", id(np_array)), np.shape(np_array)

    def is_in_memory(self, np_array):
        return self.get_memory_loc(np_array) in self.memory

    def add_spot(self, np_array):
        """Start tracking ``np_array`` with a zero gradient (kept if already tracked)."""
        key = self.get_memory_loc(np_array)
        if key not in self.memory:
            self.memory[key] = np.zeros(np.shape(np_array))

    def update_param(self, np_array, gradient):
        """Add ``gradient`` to the tracked gradient of ``np_array`` (``None``: nothing)."""
        if gradient is None:
            return
        key = self.get_memory_loc(np_array)
        if key not in self.memory:
            raise KeyError(f"GradientBuffer: an array of shape {np.shape(np_array)} is not "
                           "tracked (add_spot it first)")
        gradient = np.asarray(gradient, dtype=np.float64)
        if gradient.shape != key[1]:
            gradient = gradient.reshape(key[1]) if gradient.size == np.prod(key[1], dtype=int) \
                else np.broadcast_to(gradient, key[1])
        self.memory[key] = self.memory[key] + gradient

    def get_param(self, np_array):
        key = self.get_memory_loc(np_array)
        if key not in self.memory:
            raise KeyError(f"GradientBuffer: no gradient tracked for an array of shape "
                           f"{np.shape(np_array)}")
        return self.memory[key]

    def set_param(self, np_array, gradient):
        key = self.get_memory_loc(np_array)
        if key not in self.memory:
            raise KeyError(f"GradientBuffer: no gradient tracked for an array of shape "
                           f"{np.shape(np_array)}")
        self.memory[key] = np.asarray(gradient)

    def clear(self):
        self.memory = {}


MemoryBuffer = GradientBuffer          # the name of the course's earlier handout


class Operation:
    """One tape entry: ``inputs`` (list of arrays), ``output``, ``gradients_to_update`` (one
    per input: ``None`` or the array to add that input's gradient to) and
    ``backward_operation`` (a ``*_backward`` function)."""

    def __init__(self, inputs, output, gradients_to_update, backward_operation):
        self.inputs = inputs
        self.output = output
        self.gradients_to_update = gradients_to_update
        self.backward_operation = backward_operation

    def __repr__(self):
        shapes = [np.shape(x) for x in self.inputs]
        name = getattr(self.backward_operation, "__name__", repr(self.backward_operation))
        return f"Operation({name}, inputs {shapes} -> {np.shape(self.output)})"


class Autograd:
    """``Autograd()``: ``operation_list`` (the tape), ``gradient_buffer``; ``add_operation``,
    ``backward(divergence)``, ``zero_grad()`` (clears the tape and the buffer).

    Unlike the handout, several engines may exist at once (the handout refuses a second
    instance to catch a forgotten one; nothing here is shared between instances)."""

    def __init__(self):
        self.gradient_buffer = GradientBuffer()
        self.operation_list = []

    @property
    def memory_buffer(self):
        """The buffer under the name of the course's earlier handout."""
        return self.gradient_buffer

    def add_operation(self, inputs, output, gradients_to_update, backward_operation):
        if len(inputs) != len(gradients_to_update):
            raise ValueError(f"Autograd.add_operation: {len(inputs)} inputs but "
                             f"{len(gradients_to_update)} gradients_to_update (one per input)")
        if not callable(backward_operation):
            raise TypeError("Autograd.add_operation: backward_operation must be a function "
                            f"such as add_backward, got {backward_operation!r}")
        for x, target in zip(inputs, gradients_to_update):
            if target is None:
                self.gradient_buffer.add_spot(x)
            elif np.shape(target) != np.shape(x):
                raise ValueError(f"Autograd.add_operation: a gradient_to_update of shape "
                                 f"{np.shape(target)} for an input of shape {np.shape(x)}")
        self.operation_list.append(Operation(inputs, output, gradients_to_update,
                                             backward_operation))

    def backward(self, divergence):
        """Propagate from the last operation (its output's gradient is ``divergence``)."""
        for k, op in enumerate(reversed(self.operation_list)):
            if k == 0:
                grad_output = divergence
            elif self.gradient_buffer.is_in_memory(op.output):
                grad_output = self.gradient_buffer.get_param(op.output)
            else:
                continue                                  # nothing flows into this operation
            grads = op.backward_operation(grad_output, *op.inputs)
            if not isinstance(grads, (tuple, list)):
                grads = (grads,)
            if len(grads) != len(op.inputs):
                raise ValueError(f"{op!r}: its backward returned {len(grads)} gradients for "
                                 f"{len(op.inputs)} inputs")
            for x, grad, target in zip(op.inputs, grads, op.gradients_to_update):
                if grad is None:
                    continue
                if target is None:
                    self.gradient_buffer.update_param(x, grad)
                else:
                    target += np.reshape(grad, np.shape(target))

    def zero_grad(self):
        self.gradient_buffer.clear()
        self.operation_list = []
