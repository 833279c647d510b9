"""Write Kaggle submission CSVs and validate them before a notebook reports success."""
from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path
from typing import Iterable, Sequence

from common.engine.files import atomic_write

__all__ = ["SubmissionError", "write_submission", "validate_submission"]


class SubmissionError(ValueError):
    """A submission file that Kaggle would reject or score wrongly."""


def write_submission(path, ids: Iterable, labels: Iterable, header: Sequence[str] = ("id", "label")) -> Path:
    """Write ``header`` then one ``id,label`` row per item (atomically) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ids, labels = list(ids), list(labels)
    if len(ids) != len(labels):
        raise SubmissionError(f"{path}: {len(ids)} ids but {len(labels)} labels")
    with atomic_write(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(zip(ids, labels))
    return path


_ID_LIST = re.compile(r"^\s*(tensor\(|array\()?\[\s*-?\d+(\s*[, ]\s*-?\d+)*\s*,?\s*\]\)?\s*$"
                      r"|^\s*-?\d+(\s*[, ]\s*-?\d+)+\s*$")
_SPECIAL = re.compile(r"<\|[^|<>]*\|>|<(?:pad|unk|eos|sos|s|/s|blank|bos)>|\[(?:SOS|EOS|PAD|UNK)\]|\u2581")


def _check_text_label(path, line: int, label: str) -> None:
    """Free-text labels (transcripts, subword output) without a character set: refuse the mistakes a
    decoding step leaves behind, naming the row (Kaggle would score them as text, badly)."""
    if "\n" in label or "\r" in label:
        raise SubmissionError(f"{path}, line {line}: the label holds a line break ({label[:60]!r}): one transcript "
                              "per row, on one line; join the decoded pieces with spaces (' '.join) or strip them")
    if _ID_LIST.match(label):
        raise SubmissionError(f"{path}, line {line}: label {label[:60]!r} is a list of token ids, not text: decode it "
                              "first (vocab.to_string(ids), or the tokenizer's decode)")
    special = _SPECIAL.search(label)
    if special:
        what = "a subword word-start marker" if special.group() == "\u2581" else "a special token"
        raise SubmissionError(f"{path}, line {line}: label {label[:60]!r} holds {special.group()!r}, {what} left by "
                              "decoding: cut the output at the end token and drop specials (vocab.to_string, or the "
                              "tokenizer's decode with skip_special_tokens=True)")


def validate_submission(path, *, header: Sequence[str], n_rows: int, label_set=None,
                        label_chars=None, numeric_labels: bool = False) -> None:
    """Check a submission CSV; raise ``SubmissionError`` naming the file, the row and the fix.

    Checks: no byte-order mark; the exact header; no blank line (named as such, not counted as
    a row); ``n_rows`` data rows; the first column is 0..n_rows-1 in order;
    labels in ``label_set`` (e.g. phoneme strings), or made of ``label_chars`` (e.g. the
    one-character phoneme codes), or finite numbers when ``numeric_labels``. Without a ``label_set``
    (free text: transcripts, subword output) a label may not hold a line break, be a list of token
    ids (``[10, 7, 14]``) or keep a special token (``<|endoftext|>``, ``<eos>``, the subword marker ▁).
    """
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path} does not exist: run the Submission section first")
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        text = f.read()
    if text.startswith("\ufeff"):
        raise SubmissionError(f"{path} starts with a byte-order mark (\\ufeff, as Excel writes 'UTF-8 with BOM'), "
                              f"so its header reads {text[1:].splitlines()[0]!r} with an invisible first character; "
                              "write it with write_submission or save it as plain UTF-8 CSV")
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, line_of = [], []
    for row in reader:
        rows.append(row)
        line_of.append(reader.line_num)
    if not rows or rows[0] != list(header):
        found = rows[0] if rows else "missing"
        why = ""
        if rows and [c.strip() for c in rows[0]] == list(header):
            why = " (spaces around the names)"
        elif rows and [c.lower() for c in rows[0]] == [h.lower() for h in header]:
            why = " (upper/lower case differs: Kaggle compares names exactly)"
        raise SubmissionError(f"{path}: header is {found}{why}, expected {list(header)}")
    blank = [line_of[i] for i, row in enumerate(rows) if not "".join(row).strip()]
    if blank:
        where = "the last line" if blank[0] == line_of[-1] else f"line {blank[0]}"
        raise SubmissionError(
            f"{path}: {where} is blank ({len(blank)} blank line(s) in all, at lines {blank[:5]}); every line after "
            "the header must be one 'id,label' row: remove the blank lines (an edit by hand or a "
            "spreadsheet may have added them) or write the file again with write_submission")
    body = rows[1:]
    if len(body) != n_rows:
        raise SubmissionError(f"{path}: {len(body)} rows, expected {n_rows} (one per test item)")
    label_set = set(label_set) if label_set is not None else None
    label_chars = set(label_chars) if label_chars is not None else None
    for i, row in enumerate(body):
        line = line_of[i] + 1                 # where the row starts (a quoted label may span lines)
        if len(row) != len(header):
            raise SubmissionError(f"{path}, line {line}: {len(row)} fields, expected {len(header)}")
        if row[0] != str(i):
            raise SubmissionError(f"{path}, line {line}: id {row[0]!r}, expected {i} (ids are 0-based "
                                  "and in sorted test-file order)")
        label = row[1]
        if label_set is None and not numeric_labels:
            _check_text_label(path, line, label)
        if label_set is not None and label not in label_set:
            raise SubmissionError(f"{path}, line {line}: label {label!r} is not a known class")
        if label_chars is not None and not set(label) <= label_chars:
            bad = sorted(set(label) - label_chars)
            raise SubmissionError(f"{path}, line {line}: label has characters {bad} outside the vocabulary")
        if numeric_labels:
            try:
                value = float(label)
            except ValueError:
                raise SubmissionError(f"{path}, line {line}: label {label!r} is not a number") from None
            if not math.isfinite(value):
                raise SubmissionError(f"{path}, line {line}: label {label!r} is not finite")
