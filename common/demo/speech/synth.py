"""The acoustic model of the demo corpus: words -> phonemes -> durations -> 80-bin log-mel.

A source-filter caricature of speech at 10 ms frames, in NumPy only:
- each phoneme has targets for three formants (Hz), a start and an end target (drift within
  the phoneme; diphthongs move a lot), and gains for its sources: voicing through the
  formants (vowels, glides), a noise band (fricatives, bursts), aspiration through the
  formants (HH, after unvoiced bursts), a low voice bar (voiced obstruents) and a nasal murmur;
- stops are a closure (near silence, a voice bar when voiced) plus a burst; affricates a
  closure plus frication;
- coarticulation: the formant tracks are smoothed across phoneme borders, so that a
  consonant's place (its "locus") shows in the transitions of its neighbours;
- every utterance has a speaker (vocal-tract warp, spectral tilt, gain), a channel (a smooth
  equaliser), a noise floor and per-frame noise.

Context matters by construction: several phonemes share a spectrum and differ only in
duration, drift or the transitions they leave in their neighbours (IY/IH, EH/AE, AA/AO,
UW/UH, ER/R, F/TH, V/DH, the nasals M/N/NG), and stop closures look like silence.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.vocab import HW1_PHONEMES

from .lexicon import LEXICON, sample_sentence

N_MELS = 80
N_MFCC = 28
F_MAX = 8000.0
_MEL_MAX = 2595.0 * np.log10(1.0 + F_MAX / 700.0)
_BINS = np.arange(N_MELS, dtype=np.float64)


def hz_to_bin(hz):
    """Position (fractional) of a frequency on the 80 mel bins covering 0..8 kHz."""
    return (N_MELS - 1) * 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0) / _MEL_MAX


# ---------------------------------------------------------------------------------------------
# Phoneme table. Formants (F1, F2, F3) in Hz at the start and end of the phoneme. For
# consonants whose formants are not heard (stops, fricatives, nasals) they are the locus the
# neighbours' transitions bend towards. Gains are linear power.
#   kind: vowel | glide | nasal | fric | stop | affr | hh | sil
#   dur: mean duration in frames; closure: stop/affricate closure fraction
#   noise: (centre Hz, width in bins, gain) of the noise band; bar: voice-bar gain
@dataclass(frozen=True)
class Phone:
    kind: str
    f_start: tuple
    f_end: tuple
    dur: float
    voice: float = 0.0
    noise: tuple = (0.0, 1.0, 0.0)
    bar: float = 0.0
    closure: float = 0.0


def _v(f_start, f_end, dur, voice=1.0, kind="vowel"):
    return Phone(kind, f_start, f_end, dur, voice=voice)


def _c(kind, locus, dur, **sources):
    """A consonant: its formants are a fixed locus."""
    return Phone(kind, locus, locus, dur, **sources)


_SCHWA = (500.0, 1500.0, 2500.0)
_S_BAND, _SH_BAND, _F_BAND = (6000.0, 5.0), (3000.0, 5.0), (5000.0, 16.0)

PHONES: dict[str, Phone] = {
    "[SIL]": Phone("sil", _SCHWA, _SCHWA, 25.0),
    # pairs sharing their start spectrum: long/short, told apart by duration and drift
    "IY": _v((300, 2250, 2950), (280, 2350, 3050), 12),
    "IH": _v((300, 2250, 2950), (420, 1850, 2600), 6),
    "EH": _v((550, 1800, 2500), (560, 1750, 2480), 7),
    "AE": _v((550, 1800, 2500), (700, 1650, 2400), 11),
    "AA": _v((720, 1100, 2450), (700, 1150, 2450), 8),
    "AO": _v((720, 1100, 2450), (570, 850, 2400), 12),
    "UW": _v((320, 900, 2250), (300, 820, 2250), 11),
    "UH": _v((320, 900, 2250), (440, 1100, 2300), 6),
    "AH": _v((600, 1250, 2400), (560, 1300, 2400), 6),
    "ER": _v((480, 1350, 1650), (470, 1350, 1600), 10),
    "EY": _v((480, 1850, 2500), (320, 2200, 2900), 13),
    "AY": _v((720, 1100, 2450), (380, 2050, 2700), 14),
    "AW": _v((720, 1100, 2450), (420, 900, 2300), 14),
    "OW": _v((550, 900, 2400), (400, 800, 2300), 12),
    "OY": _v((570, 850, 2400), (380, 1950, 2600), 15),
    # glides and liquids: formants, weaker; R shares ER's spectrum, W and Y the ends of UW, IY
    "R": _v((480, 1350, 1650), (480, 1350, 1650), 5, 0.35, "glide"),
    "W": _v((320, 750, 2250), (320, 750, 2250), 5, 0.35, "glide"),
    "Y": _v((280, 2250, 2950), (280, 2250, 2950), 4, 0.35, "glide"),
    "L": _v((380, 1000, 2750), (380, 1000, 2750), 6, 0.4, "glide"),
    # nasals: one murmur for all three; the place is only in the neighbours' transitions
    "M": _c("nasal", (300, 900, 2200), 7),
    "N": _c("nasal", (300, 1700, 2600), 6),
    "NG": _c("nasal", (300, 2300, 2400), 7),
    # fricatives: F/TH and V/DH share their noise band (as in real speech)
    "S": _c("fric", (400, 1700, 2600), 10, noise=(*_S_BAND, 0.6)),
    "Z": _c("fric", (400, 1700, 2600), 8, noise=(*_S_BAND, 0.3), bar=0.25),
    "SH": _c("fric", (400, 2000, 2600), 10, noise=(*_SH_BAND, 0.6)),
    "ZH": _c("fric", (400, 2000, 2600), 7, noise=(*_SH_BAND, 0.3), bar=0.25),
    "F": _c("fric", (400, 1000, 2400), 9, noise=(*_F_BAND, 0.08)),
    "TH": _c("fric", (400, 1500, 2600), 7, noise=(*_F_BAND, 0.08)),
    "V": _c("fric", (400, 1000, 2400), 5, noise=(*_F_BAND, 0.05), bar=0.25),
    "DH": _c("fric", (400, 1500, 2600), 4, noise=(*_F_BAND, 0.05), bar=0.25),
    "HH": Phone("hh", _SCHWA, _SCHWA, 5),
    # stops: closure then burst (unvoiced ones aspirated); voiced ones keep a voice bar
    "P": _c("stop", (400, 900, 2300), 7, noise=(1000.0, 15.0, 0.15), closure=0.6),
    "B": _c("stop", (400, 900, 2300), 6, noise=(1000.0, 15.0, 0.08), bar=0.2, closure=0.7),
    "T": _c("stop", (400, 1800, 2700), 6, noise=(5000.0, 8.0, 0.3), closure=0.6),
    "D": _c("stop", (400, 1800, 2700), 5, noise=(5000.0, 8.0, 0.15), bar=0.2, closure=0.7),
    "K": _c("stop", (400, 2100, 2400), 7, noise=(2200.0, 4.0, 0.3), closure=0.6),
    "G": _c("stop", (400, 2100, 2400), 6, noise=(2200.0, 4.0, 0.15), bar=0.2, closure=0.7),
    "CH": _c("affr", (400, 2000, 2600), 11, noise=(*_SH_BAND, 0.6), closure=0.45),
    "JH": _c("affr", (400, 2000, 2600), 9, noise=(*_SH_BAND, 0.3), bar=0.25, closure=0.45),
}

PHONE_INDEX = HW1_PHONEMES.index
assert set(PHONES) == set(HW1_PHONEMES.tokens[:40])

# Per-frame noise of the log-mel (natural log units), the difficulty knobs: white across the
# bins, and smooth across the bins (random per-frame spectral shape: it hides the envelope of
# single frames; averaging over a context window recovers it).
FRAME_NOISE = 1.0
SHAPE_NOISE = 1.0
_SHAPE_BASIS = np.cos(np.pi * np.arange(1, 9)[:, None] * (_BINS[None, :] + 0.5) / N_MELS)
_FORMANT_AMPS = np.array([1.0, 0.5, 0.2])
_FORMANT_WIDTHS = np.array([1.5, 2.0, 2.5])  # in mel bins
_SOURCE_TILT = np.exp(-_BINS / 30.0)
_VOICE_BAR = np.exp(-0.5 * ((_BINS - 3.0) / 2.5) ** 2)
_MURMUR_LOW = np.exp(-0.5 * ((_BINS - 8.0) / 2.0) ** 2)
_DCT = None


def _dct_matrix() -> np.ndarray:
    """Orthonormal DCT-II, (80, 28): log-mel @ it = the first 28 cepstral coefficients."""
    global _DCT
    if _DCT is None:
        n = np.arange(N_MELS)[:, None]
        k = np.arange(N_MFCC)[None, :]
        m = np.cos(np.pi / N_MELS * (n + 0.5) * k) * np.sqrt(2.0 / N_MELS)
        m[:, 0] /= np.sqrt(2.0)
        _DCT = m
    return _DCT


def logmel_to_mfcc(logmel: np.ndarray) -> np.ndarray:
    """(T, 80) log-mel -> (T, 28) MFCC-like cepstra (float32)."""
    return (logmel.astype(np.float64) @ _dct_matrix()).astype(np.float32)


# ---------------------------------------------------------------------------------------------
@dataclass
class Utterance:
    uid: str
    words: list          # all words, sentences concatenated
    phones: list         # phoneme sequence, [SIL] included, no [SOS]/[EOS]
    durations: np.ndarray  # frames per phoneme, same length as phones
    logmel: np.ndarray   # (T, 80) float32

    @property
    def text(self) -> str:
        return " ".join(self.words)

    @property
    def frame_labels(self) -> list:
        return list(np.repeat(np.array(self.phones), self.durations))


@dataclass(frozen=True)
class Speaker:
    warp: float      # vocal tract: every frequency is multiplied by it
    tilt: float      # log-gain added from the lowest to the highest bin
    gain: float      # log-gain
    rate: float      # speaking rate (durations are divided by it)


def sample_speaker(rng: np.random.Generator) -> Speaker:
    return Speaker(warp=rng.uniform(0.88, 1.12), tilt=rng.uniform(-1.5, 1.5),
                   gain=rng.normal(0.0, 1.0), rate=rng.uniform(0.85, 1.15))


def sample_words(rng: np.random.Generator) -> list[list[str]]:
    """One or two sentences."""
    return [sample_sentence(rng) for _ in range(1 + int(rng.random() < 0.45))]


def phone_sequence(sentences: list[list[str]], rng: np.random.Generator) -> list[str]:
    """[SIL] at the edges and between sentences, sometimes a pause between words."""
    phones = ["[SIL]"]
    for s, words in enumerate(sentences):
        if s:
            phones.append("[SIL]")
        for w, word in enumerate(words):
            if w and rng.random() < 0.1:
                phones.append("[SIL]")
            phones.extend(LEXICON[word])
    phones.append("[SIL]")
    return phones


def sample_durations(phones: list[str], speaker: Speaker, rng: np.random.Generator) -> np.ndarray:
    means = np.array([PHONES[p].dur for p in phones]) / speaker.rate
    means[[p == "[SIL]" for p in phones]] = 14.0   # pauses between words and sentences
    means[[0, -1]] = 30.0                             # leading and trailing silence
    d = rng.gamma(6.0, means / 6.0)
    minimum = np.array([3 if PHONES[p].kind in ("stop", "affr") else 2 for p in phones])
    return np.maximum(np.rint(d), minimum).astype(np.int64)


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along time (axis 0) with edge padding."""
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.pad(x, [(r, r)] + [(0, 0)] * (x.ndim - 1), mode="edge")
    # sliding window view: (T, ..., 2r+1) . k
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * r + 1, axis=0)
    return win @ k


def render(phones: list[str], durations: np.ndarray, speaker: Speaker,
           rng: np.random.Generator) -> np.ndarray:
    """Phonemes with durations -> (T, 80) log-mel (float32)."""
    T = int(durations.sum())
    starts = np.concatenate([[0], np.cumsum(durations)[:-1]])
    formants = np.empty((T, 3))
    voice = np.zeros(T)      # voicing through the formants
    asp = np.zeros(T)        # aspiration (noise) through the formants
    noise = np.zeros(T)      # noise band gain
    n_centre = np.full(T, 4000.0)
    n_width = np.ones(T)
    bar = np.zeros(T)
    murmur = np.zeros(T)
    for i, (p, s, d) in enumerate(zip(phones, starts, durations)):
        ph = PHONES[p]
        e = s + d
        pos = (np.arange(d) + 0.5)[:, None] / d
        jitter = 1.0 + 0.04 * rng.standard_normal(3)
        f0, f1 = np.array(ph.f_start) * jitter, np.array(ph.f_end) * jitter
        if ph.kind == "hh":  # aspiration shaped by the next sound
            nxt = PHONES[phones[i + 1]] if i + 1 < len(phones) else ph
            f0 = f1 = np.array(nxt.f_start) * jitter
            asp[s:e] = 0.2
        formants[s:e] = f0 + (f1 - f0) * pos
        if ph.kind in ("vowel", "glide"):
            voice[s:e] = ph.voice
        elif ph.kind == "nasal":
            murmur[s:e] = 0.5
        elif ph.kind == "fric":
            noise[s:e], n_centre[s:e], n_width[s:e] = ph.noise[2], ph.noise[0], ph.noise[1]
            bar[s:e] = ph.bar
        elif ph.kind in ("stop", "affr"):
            c = s + max(1, round(d * ph.closure))
            bar[s:c] = ph.bar
            n_centre[c:e], n_width[c:e] = ph.noise[0], ph.noise[1]
            if ph.kind == "affr":
                noise[c:e], bar[c:e] = ph.noise[2], ph.bar
            else:
                noise[c] = ph.noise[2] * 2.0
                noise[c + 1:e] = ph.noise[2] * 0.3
                if ph.bar == 0.0:
                    asp[c + 1:e] = 0.1
                else:
                    voice[c + 1:e] = 0.2
    # coarticulation: formant transitions across borders, softened gains
    formants = _smooth(formants, 2.0)
    gains = _smooth(np.stack([voice, asp, noise, bar, murmur], axis=1), 0.7)
    voice, asp, noise, bar, murmur = gains.T

    fb = hz_to_bin(formants * speaker.warp)                      # (T, 3)
    peaks = np.exp(-0.5 * ((_BINS[None, None, :] - fb[:, :, None])
                           / _FORMANT_WIDTHS[None, :, None]) ** 2)  # (T, 3, 80)
    envelope = _FORMANT_AMPS @ peaks + 0.02                        # (T, 80)
    nb = hz_to_bin(n_centre * speaker.warp)
    band = np.exp(-0.5 * ((_BINS[None, :] - nb[:, None]) / n_width[:, None]) ** 2)
    excitation = rng.exponential(1.0, size=(2, T, N_MELS))
    murmur_shape = _MURMUR_LOW + 0.1 * np.exp(
        -0.5 * ((_BINS - hz_to_bin(2500.0 * speaker.warp)) / 3.0) ** 2)
    floor = np.exp(rng.uniform(-6.5, -4.5))
    power = (voice[:, None] * envelope * _SOURCE_TILT * np.exp(0.2 * rng.standard_normal((T, 1)))
             + asp[:, None] * envelope * excitation[0]
             + noise[:, None] * band * excitation[1]
             + bar[:, None] * _VOICE_BAR
             + murmur[:, None] * murmur_shape
             + floor * rng.exponential(1.0, size=(T, N_MELS)))
    # channel: a smooth random equaliser; speaker: tilt and gain
    eq = sum(0.25 * rng.standard_normal() * np.cos(np.pi * k * _BINS / N_MELS) for k in (1, 2, 3))
    logmel = (np.log(power) + speaker.gain + speaker.tilt * (_BINS / (N_MELS - 1) - 0.5) + eq
              + FRAME_NOISE * rng.standard_normal((T, N_MELS))
              + SHAPE_NOISE * rng.standard_normal((T, len(_SHAPE_BASIS))) @ _SHAPE_BASIS)
    return logmel.astype(np.float32)


def synthesize(uid: str, speaker: Speaker, rng: np.random.Generator) -> Utterance:
    sentences = sample_words(rng)
    phones = phone_sequence(sentences, rng)
    durations = sample_durations(phones, speaker, rng)
    logmel = render(phones, durations, speaker, rng)
    words = [w for s in sentences for w in s]
    return Utterance(uid, words, phones, durations, logmel)
