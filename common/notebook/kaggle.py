"""Kaggle and Colab as they are: which platform runs the kernel, and submitting from a notebook.

- ``platform()``: "kaggle" (a Kaggle kernel: ``KAGGLE_KERNEL_RUN_TYPE`` is set), "colab"
  (``google.colab`` importable or ``COLAB_RELEASE_TAG`` set) or "local".
- ``submit(file, slug, message)``: ``kaggle competitions submit -c <slug> -f <file> -m <message>``
  with the official command line tool. Without the tool or its credentials it prints one line
  saying what to install and where ``kaggle.json`` goes; a failed submission prints why and
  returns False: it never fails the run.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["SLUGS", "KAGGLE_WORKING", "platform", "kaggle_credentials", "submit"]

# the F24 competitions (../shared/design/DATA.md); HW4P1 is graded by Autolab, not Kaggle
SLUGS = {
    "hw1p2": "11785-hw1p2-f24",
    "hw2p2": "11785-hw-2-p-2-face-verification-fall-2024",
    "hw3p2": "hw3p2-785-f24",
    "las": "hw3p2-785-f24",
    "hw4p2": "11785-hw4p2-f24",
    "hw4p1": None,
}
KAGGLE_WORKING = Path("/kaggle/working")       # the folder a Kaggle kernel keeps as its output


def platform() -> str:
    """"kaggle", "colab" or "local"."""
    if os.environ.get("KAGGLE_KERNEL_RUN_TYPE"):
        return "kaggle"
    if os.environ.get("COLAB_RELEASE_TAG"):
        return "colab"
    try:
        return "colab" if importlib.util.find_spec("google.colab") is not None else "local"
    except ModuleNotFoundError:       # no google package at all
        return "local"


def kaggle_credentials() -> Path | str | None:
    """Where the Kaggle API token comes from (the environment or a ``kaggle.json``), or None."""
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME/KAGGLE_KEY"
    folders = [os.environ.get("KAGGLE_CONFIG_DIR"), Path.home() / ".kaggle", Path.home() / ".config" / "kaggle"]
    for folder in folders:
        if folder and (Path(folder) / "kaggle.json").is_file():
            return Path(folder) / "kaggle.json"
    return None


def submit(file, slug: str | None, message: str, timeout: float = 600) -> bool:
    """Submit ``file`` to the competition ``slug``; True when the tool reports success."""
    file = Path(file)
    if not slug:
        print(f"SUBMIT: no Kaggle competition for this notebook (slug None); upload {file} by hand")
        return False
    tool = shutil.which("kaggle")
    if tool is None:
        print(f"SUBMIT: the kaggle command is not installed: `pip install kaggle`, put your API token in "
              f"~/.kaggle/kaggle.json (kaggle.com > Settings > Create New Token), then rerun; or upload {file} "
              f"on the competition's page (https://www.kaggle.com/competitions/{slug}/submit)")
        return False
    if kaggle_credentials() is None:
        print(f"SUBMIT: no Kaggle API token: put kaggle.json (kaggle.com > Settings > Create New Token) in "
              f"~/.kaggle/ (chmod 600), or set KAGGLE_USERNAME and KAGGLE_KEY; {file} is not submitted")
        return False
    command = [tool, "competitions", "submit", "-c", slug, "-f", str(file), "-m", str(message)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as err:
        print(f"SUBMIT failed ({type(err).__name__}: {err}); {file} is kept: submit it by hand")
        return False
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        print(f"SUBMIT failed (kaggle exited {done.returncode}): {output[-500:]}; {file} is kept: submit it by hand")
        return False
    print(f"SUBMIT: {file} -> {slug} ({message!r}): {output[-300:]}")
    return True
