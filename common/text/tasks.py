"""The graded HW4P1 task files, read and checked before training (not after it).

    tasks = read_lm_tasks(TASK_DIR, vocab_size=V, max_len=MAX_LEN, generate_tokens=GENERATE_TOKENS)
    tasks.prediction_inp   # (N, L) int64 or None (no prediction.npz)
    tasks.prediction_out   # (N,) int64 or None (no "out" array)
    tasks.generation       # (N, L) int64 or None (no generation.npy)

``prediction.npz`` holds ``inp`` (N, L) token ids (and, in the handout's copy, ``out`` (N,), the
true next tokens); ``generation.npy`` holds (N, L) prefixes to continue. Every problem a user can
hit (a missing ``inp``, a 1-D or ragged array, floats, ids outside the vocabulary, sequences longer
than the transformer's ``max_len``) is a ``DataFormatError`` that names the file and the fix, so
that a Run-all does not train for hours and then stop before ``lm.pt`` is exported.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.layouts import DataFormatError

from .corpus import check_ids

__all__ = ["LMTasks", "read_lm_tasks", "PREDICTION_FILE", "GENERATION_FILE"]

PREDICTION_FILE, GENERATION_FILE = "prediction.npz", "generation.npy"
_FIX = "re-download the HW4P1 handout, or set TASK_DIR to the folder that holds the course's task files"


@dataclass
class LMTasks:
    prediction_inp: np.ndarray | None = None      # (N, L) int64
    prediction_out: np.ndarray | None = None      # (N,) int64
    generation: np.ndarray | None = None          # (N, L) int64

    def describe(self) -> str:
        parts = []
        if self.prediction_inp is not None:
            out = " with the true next tokens (out)" if self.prediction_out is not None else ", no out"
            parts.append(f"{PREDICTION_FILE} {self.prediction_inp.shape[0]} x {self.prediction_inp.shape[1]}{out}")
        else:
            parts.append(f"no {PREDICTION_FILE} (prediction task skipped)")
        if self.generation is not None:
            parts.append(f"{GENERATION_FILE} {self.generation.shape[0]} x {self.generation.shape[1]}")
        else:
            parts.append(f"no {GENERATION_FILE} (generation task skipped)")
        return "; ".join(parts)


def _token_matrix(arr, source: str, what: str) -> np.ndarray:
    """``arr`` as an (N, L) int64 matrix, or a DataFormatError naming ``source``."""
    arr = np.asarray(arr)
    if arr.dtype == object:                       # rows stored one by one: fine if of one length
        rows = [np.asarray(r) for r in arr.reshape(-1)]
        lengths = sorted({r.shape for r in rows})
        if len(lengths) != 1 or len(lengths[0]) != 1:
            shown = [s[0] if len(s) == 1 else s for s in lengths[:6]]
            raise DataFormatError(f"{source} is ragged: its {len(rows)} {what} have lengths {shown}"
                                  f"{' ...' if len(lengths) > 6 else ''}; expected one (N, L) int array of "
                                  f"{what} of one length: cut or left-pad them to one length, or {_FIX}")
        arr = np.stack(rows)
    if arr.ndim != 2:
        hint = " (a single sequence? save it as arr[None], shape (1, L))" if arr.ndim == 1 else ""
        raise DataFormatError(f"{source} has shape {arr.shape}; expected (N, L): one row of token ids per "
                              f"sequence{hint}. {_FIX}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataFormatError(f"{source} is empty (shape {arr.shape}); {_FIX}")
    if arr.dtype.kind not in "iu":
        whole = arr.dtype.kind == "f" and np.isfinite(arr).all() and np.all(arr == np.round(arr))
        hint = (" (the values are whole numbers: saved from a float tensor? save ids with .astype(np.int64))"
                if whole else " (log-probabilities or embeddings, not token ids?)")
        raise DataFormatError(f"{source} holds {arr.dtype} values; expected integer token ids{hint}. {_FIX}")
    return arr.astype(np.int64)


def _check_ids(ids: np.ndarray, vocab_size: int, source: str) -> None:
    try:
        check_ids(ids, vocab_size, source)
    except DataFormatError as err:
        raise DataFormatError(f"{err} (vocab.npy / TOKENIZATION): {_FIX}") from None


def _check_length(length: int, max_len: int | None, source: str, what: str) -> None:
    if max_len is not None and length > max_len:
        raise DataFormatError(f"{source}: {what} {length} tokens, more than the transformer's MAX_LEN={max_len} "
                              "positions: raise MAX_LEN (before training), or drop 'transformer' from MODELS")


def read_lm_tasks(task_dir, vocab_size: int, *, max_len: int | None = None,
                  generate_tokens: int = 0) -> LMTasks:
    """Read and check ``task_dir/prediction.npz`` and ``task_dir/generation.npy`` (each optional).

    ``max_len``: the longest sequence a model can read (the transformer's positions): prediction rows
    and generation prefixes plus ``generate_tokens`` must fit. Errors name the file and the fix.
    """
    task_dir = Path(task_dir)
    tasks = LMTasks()
    pred = task_dir / PREDICTION_FILE
    if pred.exists():
        try:
            with np.load(pred, allow_pickle=True) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except Exception as err:  # not a zip (np.save'd .npy renamed), truncated, ...
            raise DataFormatError(f"{pred} is not a readable .npz archive ({type(err).__name__}: {err}); "
                                  f"{_FIX}") from err
        if "inp" not in arrays:
            raise DataFormatError(
                f"{pred} holds the arrays {sorted(arrays)} but no 'inp' (the (N, L) sequences to score). The "
                "course's file has 'inp' (and 'out'): save yours with np.savez(path, inp=sequences), or "
                f"{_FIX}")
        tasks.prediction_inp = _token_matrix(arrays["inp"], f"{pred} (inp)", "sequences")
        _check_ids(tasks.prediction_inp, vocab_size, f"{pred} (inp)")
        _check_length(tasks.prediction_inp.shape[1], max_len, f"{pred} (inp)", "each sequence has")
        if "out" in arrays:
            out = np.asarray(arrays["out"])
            n = tasks.prediction_inp.shape[0]
            if out.dtype == object or out.shape != (n,):
                raise DataFormatError(f"{pred}: 'out' has shape {out.shape}, expected ({n},): one true next token "
                                      f"per row of 'inp'. {_FIX}")
            if out.dtype.kind not in "iu":
                raise DataFormatError(f"{pred} (out) holds {out.dtype} values; expected integer token ids. {_FIX}")
            tasks.prediction_out = out.astype(np.int64)
            _check_ids(tasks.prediction_out, vocab_size, f"{pred} (out)")
    gen = task_dir / GENERATION_FILE
    if gen.exists():
        try:
            prefixes = np.load(gen, allow_pickle=True)
        except Exception as err:
            raise DataFormatError(f"{gen} is not a readable .npy file ({type(err).__name__}: {err}); {_FIX}") from err
        if isinstance(prefixes, np.lib.npyio.NpzFile):
            prefixes.close()
            raise DataFormatError(f"{gen} is an .npz archive, not one .npy array; expected (N, L) prefixes. {_FIX}")
        tasks.generation = _token_matrix(prefixes, str(gen), "prefixes")
        _check_ids(tasks.generation, vocab_size, str(gen))
        _check_length(tasks.generation.shape[1] + generate_tokens, max_len, str(gen),
                      f"each prefix plus GENERATE_TOKENS={generate_tokens} is")
    return tasks
