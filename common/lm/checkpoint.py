"""The language-model file that HW4P1 exports and the speech notebooks load.

    save_lm(OUTPUT_DIR / "lm.pt", model, vocab, {"kind": "transformer", "d_model": 256, ...})
    lm = load_lm_state("runs/hw4_transformer/hw4p1/lm.pt", vocab=HW4_CHARS)
    model = MyTransformerLM(**lm["config"]); model.load_state_dict(lm["state_dict"])

The file is a torch dict ``{"format": "idl-lm", "version": 1, "kind": "transformer" | "lstm",
"config": {...}, "vocab": vocab.state_dict(), "state_dict": {...}}`` written atomically, loaded
with ``weights_only=True``. A transformer's parameter names are fixed (contracts): the HW4P2
decoder loads them with ``strict=False`` and only its cross-attention keys missing.
Loading with another vocabulary than the one the LM was trained with is an error naming the
file and both vocabularies.
"""
from __future__ import annotations

from pathlib import Path

import torch

from common.engine.checkpoint import unwrap
from common.engine.files import atomic_write
from common.vocab import Vocab

__all__ = ["LMCheckpointError", "save_lm", "load_lm_state", "DEFAULT_LM_PATH", "FORMAT", "VERSION", "KINDS"]

FORMAT, VERSION = "idl-lm", 1
KINDS = ("transformer", "lstm")
DEFAULT_LM_PATH = Path("runs") / "hw4_transformer" / "hw4p1" / "lm.pt"
_CONFIG_KEYS = {"transformer": ("d_model", "n_heads", "n_layers", "d_ff", "dropout", "max_len", "tokenization")}


class LMCheckpointError(ValueError):
    """An LM file that cannot be used here: missing, foreign, newer, or for another vocabulary."""


def _plain(value):
    """Config values as plain Python (weights_only loading accepts no other objects)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def save_lm(path, model: torch.nn.Module, vocab: Vocab, config: dict) -> Path:
    """Write the LM file atomically; ``config["kind"]`` (or ``model.kind``) is "transformer" or "lstm"."""
    kind = config.get("kind", getattr(unwrap(model), "kind", None))
    if kind not in KINDS:
        raise ValueError(f"the LM kind must be one of {KINDS} (config['kind'] or model.kind), got {kind!r}")
    missing = [k for k in _CONFIG_KEYS.get(kind, ()) if k not in config]
    if missing:
        raise ValueError(f"a {kind} LM config needs {missing} (the HW4P2 decoder builds itself from them)")
    weights = {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()}
    embedding = weights.get("token_embedding.weight")
    if embedding is not None and embedding.size(0) != len(vocab):
        raise ValueError(f"the model has {embedding.size(0)} token embeddings but the vocabulary "
                         f"{len(vocab)} tokens: save the vocabulary the model was trained with")
    state = {"format": FORMAT, "version": VERSION, "kind": kind,
             "config": _plain({k: v for k, v in config.items() if k != "kind"}),
             "vocab": vocab.state_dict(), "state_dict": weights}
    path = Path(path)
    with atomic_write(path, "wb") as f:
        torch.save(state, f)
    return path


def _describe(v: Vocab) -> str:
    return f"{v.name or v.kind!r} with {len(v)} tokens"


def load_lm_state(path, vocab: Vocab | None = None, map_location="cpu") -> dict:
    """The LM file as ``{"kind", "config", "vocab" (a Vocab), "state_dict"}``; with ``vocab``,
    an LMCheckpointError unless the file's vocabulary is the same (tokens and special ids)."""
    path = Path(path)
    if not path.exists():
        raise LMCheckpointError(f"no language model at {path}: run hw4_transformer/hw4p1.ipynb first "
                                "(it exports OUTPUT_DIR/lm.pt), or point the LM path at its output")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise LMCheckpointError(f"{path} is not a readable LM file ({type(err).__name__}: {str(err)[:200]}); "
                                "it may be truncated: export it again from hw4p1.ipynb") from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = sorted(state)[:6] if isinstance(state, dict) else type(state).__name__
        raise LMCheckpointError(f"{path} is not an LM file written by save_lm (found {found}); a training "
                                "checkpoint (last.pt/best.pt) is not an LM export: use OUTPUT_DIR/lm.pt")
    if state.get("version", 0) > VERSION:
        raise LMCheckpointError(f"{path} has LM format version {state['version']}, newer than this code "
                                f"({VERSION}): update the repository")
    saved = Vocab.from_state_dict(state["vocab"])
    if vocab is not None and saved.state_dict() != vocab.state_dict():
        raise LMCheckpointError(
            f"{path} was trained with another vocabulary: the file has {_describe(saved)}, this notebook "
            f"uses {_describe(vocab)}. Train the LM with the same tokenization (hw4p1.ipynb TOKENIZATION) "
            "or use the vocabulary stored in the file")
    return {"kind": state["kind"], "config": state["config"], "vocab": saved, "state_dict": state["state_dict"]}
