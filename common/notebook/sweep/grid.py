"""Grid specifications and the parameters cell they are checked against.

A grid is a list of factors. ``NAME=v1,v2`` is one factor; ``A,B=(a1,b1),(a2,b2)`` is one
factor that sets two parameters together (e.g. SpecAugment on/off as both mask counts).
Values are Python literals (``0.2``, ``[512, 256]``, ``"adamw"``, ``True``); a bare word
that is not a literal is taken as a string (``OPTIMIZER=adamw,sgd``).
"""
from __future__ import annotations

import ast
import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Factor", "parse_grid", "split_values", "notebook_parameters", "check_names", "combinations",
           "run_name", "one_at_a_time_grid"]


@dataclass(frozen=True)
class Factor:
    names: tuple[str, ...]     # parameters set together
    values: tuple[tuple, ...]  # one tuple per level, aligned with ``names``

    @property
    def label(self) -> str:
        return ",".join(self.names)

    def level_label(self, level: tuple) -> str:
        return ",".join(_short(v) for v in level)


def split_values(text: str) -> list[str]:
    """Split on commas outside brackets and quotes: ``[1,2],3,'a,b'`` -> ``['[1,2]', '3', "'a,b'"]``."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced brackets in {text!r}")
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth or quote:
        raise ValueError(f"unbalanced brackets or quotes in {text!r}")
    parts.append(text[start:])
    parts = [p.strip() for p in parts]
    if any(p == "" for p in parts):
        raise ValueError(f"empty value in {text!r}")
    return parts


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if re.fullmatch(r"[A-Za-z0-9_.\-/+]+", text):
            return text          # bare word: a string
        raise ValueError(f"{text!r} is not a Python literal; quote strings that contain spaces or symbols") from None


def parse_grid(specs: list[str]) -> list[Factor]:
    """``["CONTEXT=0,5", "FREQ_MASKS,TIME_MASKS=(0,0),(1,1)"]`` -> factors."""
    factors, seen = [], set()
    for spec in specs:
        if "=" not in spec:
            raise ValueError(f"grid entry {spec!r} must look like NAME=v1,v2")
        left, right = spec.split("=", 1)
        names = tuple(n.strip() for n in left.split(","))
        for n in names:
            if not n.isidentifier():
                raise ValueError(f"grid entry {spec!r}: {n!r} is not a parameter name")
            if n in seen:
                raise ValueError(f"parameter {n} appears twice in the grid")
            seen.add(n)
        levels = []
        for text in split_values(right):
            value = _literal(text)
            if len(names) == 1:
                levels.append((value,))
            elif isinstance(value, (tuple, list)) and len(value) == len(names):
                levels.append(tuple(value))
            else:
                raise ValueError(f"grid entry {spec!r}: each value of {','.join(names)} must be a tuple of "
                                 f"{len(names)} values, got {text!r}")
        if len({json.dumps(lv, default=str) for lv in levels}) != len(levels):
            raise ValueError(f"grid entry {spec!r} repeats a value")
        factors.append(Factor(names, tuple(levels)))
    return factors


def notebook_parameters(notebook) -> dict:
    """Names assigned in the notebook's ``parameters`` cell -> their default (None if not a literal)."""
    nb = json.loads(Path(notebook).read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            tree = ast.parse("".join(cell["source"]))
            found = {}
            for node in tree.body:
                if isinstance(node, ast.Assign):
                    pairs = []
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            pairs.append((target.id, node.value))
                        elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                            pairs += [(t.id, v) for t, v in zip(target.elts, node.value.elts)
                                      if isinstance(t, ast.Name)]
                    for name, value in pairs:
                        try:
                            found[name] = ast.literal_eval(value)
                        except ValueError:
                            found[name] = None
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                    found[node.target.id] = None
            return found
    raise ValueError(f"{notebook} has no code cell tagged 'parameters'; tag its first code cell so "
                     "papermill (and the sweep) can set its parameters")


def check_names(factors: list[Factor], known: dict, notebook) -> None:
    """Raise before any run when a grid name is not a parameter of the notebook."""
    bad = [n for f in factors for n in f.names if n not in known]
    if bad:
        raise ValueError(f"{Path(notebook).name} has no parameter {', '.join(bad)}; its parameters cell "
                         f"defines: {', '.join(known)}")


def combinations(factors: list[Factor], one_at_a_time: bool = False) -> list[dict]:
    """Parameter dicts of the full grid, or of one-factor-at-a-time variations around the first levels."""
    if one_at_a_time:
        return one_at_a_time_grid(factors)
    out = []
    for levels in itertools.product(*(f.values for f in factors)):
        params = {}
        for f, level in zip(factors, levels):
            params.update(zip(f.names, level))
        out.append(params)
    return out


def one_at_a_time_grid(factors: list[Factor]) -> list[dict]:
    """The baseline (every factor at its first level), then each factor's other levels alone."""
    base = {}
    for f in factors:
        base.update(zip(f.names, f.values[0]))
    out = [dict(base)]
    for f in factors:
        for level in f.values[1:]:
            out.append({**base, **dict(zip(f.names, level))})
    return out



def _short(value) -> str:
    if isinstance(value, (list, tuple)):
        return "x".join(_short(v) for v in value) or "empty"
    return str(value)


def run_name(varied: dict, fingerprint: dict) -> str:
    """Readable folder name from the varied values plus a hash of everything the run is given,
    so a changed fixed setting (epochs, demo size) never reuses an old run."""
    readable = "_".join(f"{k}={_short(v)}" for k, v in varied.items()) or "run"
    readable = re.sub(r"[^A-Za-z0-9._=+-]", "-", readable)[:120]
    digest = hashlib.sha1(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{readable}_{digest}"
