import pytest

from common.submission import SubmissionError, validate_submission, write_submission


def test_round_trip_and_exact_format(tmp_path):
    path = write_submission(tmp_path / "s.csv", range(3), ["AH", "[SIL]", "ZH"])
    assert path.read_text() == "id,label\n0,AH\n1,[SIL]\n2,ZH\n"
    validate_submission(path, header=("id", "label"), n_rows=3, label_set={"AH", "[SIL]", "ZH"})


@pytest.mark.parametrize("content, kwargs, message", [
    ("ID,label\n0,AH\n", {}, "header"),
    ("id,label\n0,AH\n", {"n_rows": 2}, "1 rows, expected 2"),
    ("id,label\n1,AH\n", {}, "id '1', expected 0"),
    ("id,label\n0,QQ\n", {"label_set": {"AH"}}, "'QQ' is not a known class"),
    ("id,label\n0,a-b#\n", {"label_chars": set("ab-")}, "characters \\['#'\\]"),
    ("id,label\n0,nan\n", {"numeric_labels": True}, "not finite"),
    ("id,label\n0,x\n", {"numeric_labels": True}, "not a number"),
])
def test_validator_rejects_with_line_and_reason(tmp_path, content, kwargs, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    args = {"header": ("id", "label"), "n_rows": 1, **kwargs}
    with pytest.raises(SubmissionError, match=message):
        validate_submission(path, **args)


def test_missing_file_and_length_mismatch(tmp_path):
    with pytest.raises(SubmissionError, match="does not exist"):
        validate_submission(tmp_path / "none.csv", header=("id", "label"), n_rows=1)
    with pytest.raises(SubmissionError, match="2 ids but 1 labels"):
        write_submission(tmp_path / "x.csv", [0, 1], ["a"])
