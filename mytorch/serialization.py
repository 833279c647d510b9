"""Parameters by name, ``state_dict``/``load_state_dict`` and ``.npz`` save/load.

A layer declares its trainable arrays with ``param_grads = (("W", "dLdW"), ...)``
(parameter and gradient attribute names) and its non-trained state with
``buffers = ("running_M", ...)``. Layers that declare nothing are searched for the course's
usual names (W/dLdW, b/dLdb, BW/dLdBW, Bb/dLdBb). Sub-layers are found in attributes that
hold objects with a ``forward`` method, or lists/tuples of them (``model.layers``).
"""
import os
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["load", "load_state_dict", "named_parameters", "save", "state_dict"]

_DEFAULT_PARAM_GRADS = (("W", "dLdW"), ("b", "dLdb"), ("BW", "dLdBW"), ("Bb", "dLdBb"))
_DEFAULT_BUFFERS = ("running_M", "running_V")


def _is_layer(obj):
    return callable(getattr(obj, "forward", None)) and not isinstance(obj, type)


def _children(obj):
    """(name, sub-layer) pairs of ``obj``; a list/tuple model yields its items."""
    if isinstance(obj, (list, tuple)):
        return [(str(i), x) for i, x in enumerate(obj) if _is_layer(x)]
    out = []
    for key, val in vars(obj).items():
        if _is_layer(val):
            out.append((key, val))
        elif isinstance(val, (list, tuple)):
            out += [(f"{key}.{i}", x) for i, x in enumerate(val) if _is_layer(x)]
    return out


def _walk(model, prefix="", seen=None):
    seen = set() if seen is None else seen
    if id(model) in seen:
        return
    seen.add(id(model))
    yield prefix, model
    for name, child in _children(model):
        yield from _walk(child, f"{prefix}{name}.", seen)


def _param_grads(layer):
    if isinstance(layer, (list, tuple)):
        return ()
    declared = getattr(layer, "param_grads", None)
    if declared is not None:
        return declared
    return tuple((p, g) for p, g in _DEFAULT_PARAM_GRADS
                 if isinstance(getattr(layer, p, None), np.ndarray))


def named_parameters(model):
    """[(name, layer, param_attr, grad_attr)] for every trainable array, in a fixed order."""
    return [(f"{prefix}{p}", layer, p, g)
            for prefix, layer in _walk(model) for p, g in _param_grads(layer)]


def _named_buffers(model):
    out = []
    for prefix, layer in _walk(model):
        if isinstance(layer, (list, tuple)):
            continue
        names = getattr(layer, "buffers", None)
        names = _DEFAULT_BUFFERS if names is None else names
        out += [(f"{prefix}{b}", layer, b) for b in names
                if isinstance(getattr(layer, b, None), np.ndarray)]
    return out


def state_dict(model):
    """{name: array copy} of every parameter and buffer of ``model``."""
    state = {name: np.array(getattr(layer, p)) for name, layer, p, _ in named_parameters(model)}
    state.update({name: np.array(getattr(layer, b)) for name, layer, b in _named_buffers(model)})
    return state


def load_state_dict(model, state):
    """Copy ``state`` into ``model``'s arrays; keys and shapes must match exactly."""
    targets = {name: (layer, p) for name, layer, p, _ in named_parameters(model)}
    targets.update({name: (layer, b) for name, layer, b in _named_buffers(model)})
    missing = sorted(set(targets) - set(state))
    unexpected = sorted(set(state) - set(targets))
    if missing or unexpected:
        raise ValueError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
    for name, (layer, attr) in targets.items():
        current = getattr(layer, attr)
        value = np.asarray(state[name])
        if value.shape != current.shape:
            raise ValueError(f"load_state_dict: {name} expected shape {current.shape}, "
                             f"got shape {value.shape}")
        setattr(layer, attr, value.astype(current.dtype, copy=True))


def save(state, path):
    """Write a dict of arrays to ``path`` (.npz; the suffix is added when missing), atomically."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **{k: np.asarray(v) for k, v in state.items()})
    os.replace(tmp, path)
    return path


def load(path):
    """Read a dict of arrays written by ``save``."""
    path = Path(path)
    if not path.exists() and path.with_name(path.name + ".npz").exists():
        path = path.with_name(path.name + ".npz")
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist: write it with mytorch.save(state, path)") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path} is not a readable .npz checkpoint ({e}); "
                         f"re-create it with mytorch.save(model.state_dict(), path)") from e
