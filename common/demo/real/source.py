"""The Debian recordings: where they are and which prompt each file speaks.

``apt-get install asterisk-core-sounds-en asterisk-core-sounds-en-wav`` installs one US English
speaker (Allison Smith, the voice of Asterisk) reading about 570 prompts as 8 kHz WAV files under
``/usr/share/asterisk/sounds/en_US_f_Allison/`` and the prompts' text in
``/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz`` (lines ``name: text``, name the
file's path without ``.wav``). Licence: CC-BY-SA-3.0 (Digium).
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

SOUNDS_DIR = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
PROMPTS_FILE = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
PACKAGES = "asterisk-core-sounds-en asterisk-core-sounds-en-wav"
INSTALL_HINT = (f"install them with `sudo apt-get install -y {PACKAGES}` (Debian/Ubuntu), "
                "or run `make real-speech`, which does it")


@dataclass(frozen=True)
class Prompt:
    name: str          # the file's path under SOUNDS_DIR without .wav, e.g. "digits/7"
    text: str          # the prompt as written, e.g. "Press 7 to delete this message."
    wav: Path | None   # None: the text has no recording

    @property
    def uid(self) -> str:
        """Utterance id (a file name): the path with '/' -> '-', e.g. "digits-7"."""
        return self.name.replace("/", "-")


def read_prompts(prompts_file=PROMPTS_FILE, sounds_dir=SOUNDS_DIR) -> tuple[list[Prompt], list[str]]:
    """(prompts sorted by name, names of WAV files that have no text). Lines starting with ';'
    are comments. A missing file raises FileNotFoundError naming it and the install command."""
    prompts_file, sounds_dir = Path(prompts_file), Path(sounds_dir)
    for path in (prompts_file, sounds_dir):
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: the real-speech set is built from the Debian "
                                    f"packages {PACKAGES}; {INSTALL_HINT}")
    opener = gzip.open if prompts_file.suffix == ".gz" else open
    with opener(prompts_file, "rt", encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    texts = {}
    for line in lines:
        if not line.strip() or line.startswith(";") or ":" not in line:
            continue
        name, text = line.split(":", 1)
        texts[name.strip()] = text.strip()
    wavs = {str(p.relative_to(sounds_dir).with_suffix("")): p for p in sounds_dir.rglob("*.wav")}
    prompts = [Prompt(name, text, wavs.get(name)) for name, text in sorted(texts.items())]
    uids = [p.uid for p in prompts]
    if len(set(uids)) != len(uids):
        raise ValueError(f"{prompts_file}: two prompt names map to one utterance id")
    return prompts, sorted(set(wavs) - set(texts))
