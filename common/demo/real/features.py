"""Audio -> the course's features: 80-bin log-mel ``fbank`` (HW4P2) and 28 MFCC (HW1P2/HW3P2).

Well-kept libraries only: ``soundfile`` reads the WAV, ``scipy.signal.resample_poly`` takes it to
16 kHz (LibriSpeech's rate), ``librosa`` computes the mel filterbank and the DCT. Settings follow
Kaldi's ``compute-fbank-feats`` defaults, which the course's features come from: 25 ms windows
(400 samples) every 10 ms (160), FFT size 512, frames only where the window fits (``center=False``,
Kaldi's ``snip_edges``: T = 1 + (N - 400) // 160), pre-emphasis 0.97, power spectrum, 80 HTK-mel
triangles from 20 Hz to Nyquist without area normalisation, natural log, samples scaled to the
16-bit integer range as Kaldi reads them. The 28 MFCC are the orthonormal DCT-II of the same
log-mel frames (the first 28 coefficients, no liftering), as the demo corpus computes them
(``common.demo.speech.synth.logmel_to_mfcc``). The recordings are 8 kHz telephone audio: above
4 kHz the upsampled signal holds only what the resampling filter leaks (about 30 dB below speech), so
the top ~20 of the 80 mel bins carry no speech.

**Against ``torchaudio.compliance.kaldi.fbank(wave * 32768, num_mel_bins=80, sample_frequency=16000)``**
(where torchaudio imports: Colab, Kaggle) the frames line up one to one (same 400/160 framing and
snip_edges) and these differences remain:
- *dither*: torchaudio's default is 0.0 here too (Kaldi's binary uses 1.0); none is added here;
- *pre-emphasis*: both 0.97, but Kaldi applies it per frame after removing each frame's DC offset
  (``remove_dc_offset=True``) while librosa filters the whole signal once (no DC removal);
- *window*: Kaldi's default ``povey`` window (a Hann window raised to the power 0.85, slightly
  wider) against librosa's Hann;
- *mel scale*: both HTK's (1127 ln(1 + f/700)); Kaldi's triangles are linear in mel, librosa's are
  linear in Hz between the same mel-spaced edges (the same peaks, slightly different slopes);
- *log floor*: Kaldi clamps energies at float32 epsilon (1.19e-7) before the log; the same floor
  (``LOG_FLOOR``) is used here.
Expect the two within a few tenths of a natural-log unit per bin on speech (mostly from the window
and the triangles' slopes) and equal at the floor; per-utterance CMVN removes most of the rest.
"""
from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np

__all__ = ["SAMPLE_RATE", "N_MELS", "N_MFCC", "LOG_FLOOR", "read_audio", "log_mel", "mfcc"]

SAMPLE_RATE = 16_000
N_MELS = 80
N_MFCC = 28
WIN_LENGTH = 400      # 25 ms
HOP_LENGTH = 160      # 10 ms
N_FFT = 512
PREEMPHASIS = 0.97
LOG_FLOOR = float(np.finfo(np.float32).eps)   # Kaldi's energy floor before the log


def _librosa():
    try:
        import librosa
    except ImportError as err:
        raise ImportError("the real-speech builder needs librosa and soundfile: pip install '.[realspeech]' "
                          "(or run `make real-speech`)") from err
    return librosa


def read_audio(path) -> np.ndarray:
    """A mono WAV file as float64 samples in [-1, 1) at 16 kHz (resampled with a polyphase filter)."""
    import soundfile
    samples, rate = soundfile.read(Path(path), dtype="float64", always_2d=True)
    samples = samples.mean(axis=1)
    if rate != SAMPLE_RATE:
        from scipy.signal import resample_poly
        g = gcd(rate, SAMPLE_RATE)
        samples = resample_poly(samples, SAMPLE_RATE // g, rate // g)
    return samples


def log_mel(samples: np.ndarray) -> np.ndarray:
    """(T, 80) float32 log-mel filterbank energies of 16 kHz samples (T = 1 + (N - 400) // 160)."""
    librosa = _librosa()
    if len(samples) < WIN_LENGTH:
        raise ValueError(f"{len(samples)} samples: shorter than one 25 ms window ({WIN_LENGTH})")
    y = librosa.effects.preemphasis(np.asarray(samples, dtype=np.float64) * 32768.0, coef=PREEMPHASIS)
    power = librosa.feature.melspectrogram(
        y=y, sr=SAMPLE_RATE, n_fft=N_FFT, win_length=WIN_LENGTH, hop_length=HOP_LENGTH, window="hann",
        center=False, power=2.0, n_mels=N_MELS, fmin=20.0, fmax=SAMPLE_RATE / 2, htk=True, norm=None)
    return np.log(np.maximum(power, LOG_FLOOR)).T.astype(np.float32)


def mfcc(logmel: np.ndarray) -> np.ndarray:
    """(T, 80) log-mel -> (T, 28) float32 MFCC: orthonormal DCT-II, first 28 coefficients."""
    librosa = _librosa()
    return librosa.feature.mfcc(S=np.asarray(logmel, dtype=np.float64).T, n_mfcc=N_MFCC, dct_type=2,
                                norm="ortho", lifter=0).T.astype(np.float32)
