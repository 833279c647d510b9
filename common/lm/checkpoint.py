"""The language-model file that HW4P1 exports and the speech notebooks load.

    save_lm(OUTPUT_DIR / "lm.pt", model, vocab, {"kind": "transformer", "d_model": 256, ...})
    lm = load_lm_state("runs/hw4_transformer/hw4p1/lm.pt", vocab=HW4_CHARS)
    model = MyTransformerLM(**lm["config"]); model.load_state_dict(lm["state_dict"])

The file is a torch dict ``{"format": "idl-lm", "version": 1, "kind": "transformer" | "lstm",
"config": {...}, "vocab": vocab.state_dict(), "state_dict": {...}}`` written atomically, loaded
with ``weights_only=True``. A transformer's parameter names are fixed (contracts): the HW4P2
decoder loads them with ``strict=False`` and only its cross-attention keys missing.
Loading with another vocabulary than the one the LM was trained with is an error naming the
file and both vocabularies; so is a file whose tensors do not have the shapes its configuration
describes (named tensor by tensor). ``load_lm_weights(model, lm)`` loads the weights with a size
mismatch turned into an error naming the file and the fix.
"""
from __future__ import annotations

from pathlib import Path

import torch

from common.engine.checkpoint import unwrap
from common.engine.files import atomic_write
from common.vocab import Vocab

__all__ = ["LMCheckpointError", "save_lm", "load_lm_state", "load_lm_weights", "DEFAULT_LM_PATH", "FORMAT", "VERSION",
           "KINDS"]

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
    _check_tensors(Path(path), kind, config, vocab, weights, saving=True)
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
    _check_tensors(path, state["kind"], state["config"], saved, state["state_dict"])
    return {"kind": state["kind"], "config": state["config"], "vocab": saved, "state_dict": state["state_dict"],
            "path": str(path)}


def _expected_shapes(kind: str, config: dict, vocab_size: int) -> dict[str, tuple]:
    """Parameter name -> shape that ``config`` implies (the transformer's names are contracts; an
    LSTM's tied embedding and output layer)."""
    if kind == "transformer":
        d, ff = config.get("d_model"), config.get("d_ff")
        shapes = {"token_embedding.weight": (vocab_size, d), "final_norm.weight": (d,), "final_norm.bias": (d,)}
        for i in range(int(config.get("n_layers") or 0)):
            p = f"layers.{i}."
            shapes.update({p + "self_attn.qkv.weight": (3 * d, d), p + "self_attn.qkv.bias": (3 * d,),
                           p + "self_attn.out.weight": (d, d), p + "self_attn.out.bias": (d,),
                           p + "self_attn_norm.weight": (d,), p + "ff_norm.weight": (d,),
                           p + "ff.0.weight": (ff, d), p + "ff.0.bias": (ff,), p + "ff.3.weight": (d, ff),
                           p + "ff.3.bias": (d,)})
        return shapes
    emb = config.get("emb_size")
    return {"output.weight": (vocab_size, emb), "embedding.embedding.weight": (vocab_size, emb)}


def _check_tensors(path: Path, kind: str, config: dict, vocab: Vocab, weights: dict, saving: bool = False) -> None:
    """The tensors must be those the configuration describes: a file whose config says one shape and whose
    weights hold another (hand-edited, or the config written from changed parameters) is refused here,
    naming the tensors, instead of failing later in load_state_dict with a bare size mismatch."""
    expected = _expected_shapes(kind, config, len(vocab))
    wrong = [f"{k} {tuple(weights[k].shape)} (config: {shape})" for k, shape in expected.items()
             if k in weights and None not in shape and tuple(weights[k].shape) != tuple(shape)]
    problems = list(wrong)
    if kind == "transformer" and config.get("n_layers") is not None:
        layers = {int(k.split(".")[1]) for k in weights if k.startswith("layers.") and k.split(".")[1].isdigit()}
        if layers and len(layers) != int(config["n_layers"]):
            problems.append(f"{len(layers)} layers of weights (config: n_layers={config['n_layers']})")
    if kind == "transformer" and "token_embedding.weight" not in weights and not saving:
        problems.append(f"no token_embedding.weight (keys: {sorted(weights)[:4]}...)")
    if problems and saving:
        raise LMCheckpointError(f"not writing {path}: the model's weights do not match the configuration given "
                                f"({_describe_config(config)}): {'; '.join(problems[:4])}; pass the configuration "
                                "the model was built with")
    if problems:
        raise LMCheckpointError(
            f"{path}: the weights do not match the file's own configuration ({_describe_config(config)}, vocabulary "
            f"{len(vocab)} tokens): {'; '.join(problems[:4])}{', ...' if len(problems) > 4 else ''}. The file was "
            "written with a configuration that is not the model's (parameters changed after training?): export it "
            "again from hw4p1.ipynb with save_lm(path, model, vocab, config) from the model that was trained")


def _describe_config(config: dict) -> str:
    keys = ("d_model", "n_heads", "n_layers", "d_ff", "emb_size", "hidden_size", "num_layers")
    return ", ".join(f"{k}={config[k]}" for k in keys if k in config)


def load_lm_weights(model: torch.nn.Module, lm: dict, strict: bool = True):
    """``model.load_state_dict(lm["state_dict"], strict)`` with a size mismatch or a missing key turned
    into an LMCheckpointError naming the file (``lm`` from ``load_lm_state``) and the fix."""
    try:
        return unwrap(model).load_state_dict(lm["state_dict"], strict=strict)
    except RuntimeError as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0]            # the first mismatch, not the heading
        raise LMCheckpointError(
            f"{lm.get('path', 'the LM file')} does not fit this {type(unwrap(model)).__name__} "
            f"({detail[:200]} ...; file config: {_describe_config(lm['config'])}): build the model "
            "with the file's configuration (lm['config']), or export the LM again with this one") from err
