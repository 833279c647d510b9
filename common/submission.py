"""Write Kaggle submission CSVs and validate them before a notebook reports success."""
from __future__ import annotations

import csv
import io
import math
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


def validate_submission(path, *, header: Sequence[str], n_rows: int, label_set=None,
                        label_chars=None, numeric_labels: bool = False) -> None:
    """Check a submission CSV; raise ``SubmissionError`` naming the file, the row and the fix.

    Checks: no byte-order mark; the exact header; no blank line (named as such, not counted as
    a row); ``n_rows`` data rows; the first column is 0..n_rows-1 in order;
    labels in ``label_set`` (e.g. phoneme strings), or made of ``label_chars`` (e.g. the
    one-character phoneme codes), or finite numbers when ``numeric_labels``.
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
        line = line_of[i + 1]
        if len(row) != len(header):
            raise SubmissionError(f"{path}, line {line}: {len(row)} fields, expected {len(header)}")
        if row[0] != str(i):
            raise SubmissionError(f"{path}, line {line}: id {row[0]!r}, expected {i} (ids are 0-based "
                                  "and in sorted test-file order)")
        label = row[1]
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
