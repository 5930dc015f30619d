"""Audio clips and their log Mel filter-bank features (paper 000 Sec. 4.1).

The featurisation of Kusupati et al. 2018 (FastGRNN), which paper 000 uses: every clip
zero-padded or cut to 1 s at 16 kHz, pre-emphasis 0.97, 25 ms Hamming windows every 10 ms
(99 frames), 512-point power spectrum |FFT|^2 / 512, 32 triangular Mel filters over
[0, 8000] Hz, natural log. It is the computation of ``python_speech_features.fbank``
(winfunc=np.hamming), written here in NumPy for a whole batch of clips at once; the tests
check the two agree.
"""

from __future__ import annotations

import math
import struct
import warnings
from pathlib import Path

import numpy as np

from .mnist import DataError

SAMPLE_RATE = 16000
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
NFFT = 512
PREEMPHASIS = 0.97


def int16_scale(samples: np.ndarray) -> np.ndarray:
    """Samples of any WAV sample format on the scale of 16-bit PCM, [-32768, 32767], as
    float64 (the scale of the Speech Commands clips that EdgeML feeds to the filter bank):
    int16 as is, 32-bit (and 24-bit, which SciPy reads left-justified into int32) / 2^16,
    unsigned 8-bit (offset 128) (x - 128) * 2^8, floats in [-1, 1] * 2^15."""
    kind, bits = samples.dtype.kind, 8 * samples.dtype.itemsize
    x = samples.astype(np.float64)
    if kind == "u":
        return (x - 2.0 ** (bits - 1)) * 2.0 ** (16 - bits)
    if kind == "i":
        return x * 2.0 ** (16 - bits)
    if kind == "f":
        return x * 32768.0
    raise DataError(f"unknown WAV sample format {samples.dtype}")


def read_wav(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Samples of a mono wav file at ``sample_rate`` as float64 on the 16-bit scale
    (``int16_scale``): the same sound gives the same features at every bit depth."""
    from scipy.io import wavfile

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            rate, samples = wavfile.read(path)
    except FileNotFoundError:
        raise DataError(f"wav file not found: {path}") from None
    except (ValueError, OSError, EOFError, struct.error) as err:
        raise DataError(f"{path} is not a readable wav file: {err}") from None
    if rate != sample_rate:
        raise DataError(f"{path} is sampled at {rate} Hz; expected {sample_rate} Hz")
    if samples.ndim != 1:
        raise DataError(f"{path} has {samples.shape[1]} channels; expected a mono clip")
    if samples.size == 0:
        raise DataError(f"{path} holds no samples")
    return int16_scale(samples)


def fit_length(samples: np.ndarray, length: int = SAMPLE_RATE) -> np.ndarray:
    """Zero-pad or cut a clip to ``length`` samples (1 s)."""
    out = np.zeros(length)
    out[: min(length, len(samples))] = samples[:length]
    return out


def hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


def mel_filterbank(num_filters: int = 32, nfft: int = NFFT,
                   sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """[num_filters, nfft // 2 + 1] triangles between Mel-spaced FFT bins over [0, sr/2]:
    filter j rises from bin f_j to f_(j+1) and falls to f_(j+2), with
    f = floor((nfft + 1) mel_to_hz(linspace(0, mel(sr/2), num_filters + 2)) / sr)."""
    mel = np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), num_filters + 2)
    edges = np.floor((nfft + 1) * mel_to_hz(mel) / sample_rate).astype(int)
    bank = np.zeros((num_filters, nfft // 2 + 1))
    for j in range(num_filters):
        lo, mid, hi = edges[j], edges[j + 1], edges[j + 2]
        bank[j, lo:mid] = (np.arange(lo, mid) - lo) / (mid - lo)
        bank[j, mid:hi] = (hi - np.arange(mid, hi)) / (hi - mid)
    return bank


def frames_of(samples: int, sample_rate: int = SAMPLE_RATE) -> int:
    """Frames of ``log_mel`` that a clip of ``samples`` samples fills before its zero padding:
    python_speech_features' frame count 1 + ceil((samples - window) / hop) of the clip cut at
    1 s (25 ms windows every 10 ms: 99 for a whole second), at least 1."""
    window, hop = round(0.025 * sample_rate), round(0.010 * sample_rate)
    samples = min(int(samples), sample_rate)
    return 1 if samples <= window else 1 + math.ceil((samples - window) / hop)


def unpadded_frames(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> int:
    """``frames_of`` the clip up to its last sample that is not exactly 0: a recording is
    never exactly silent, zero padding is (the canonical Google-12 test set comes padded to
    1 s in its files)."""
    nonzero = np.flatnonzero(samples)
    return frames_of(int(nonzero[-1]) + 1 if len(nonzero) else 0, sample_rate)


def log_mel(wav: np.ndarray, sample_rate: int = SAMPLE_RATE,
            num_filters: int = 32) -> np.ndarray:
    """Log Mel filter bank of one clip [samples] -> float32 [99, num_filters], or of a batch
    [B, samples] -> [B, 99, num_filters] (clips padded or cut to 1 s)."""
    wav = np.asarray(wav, dtype=np.float64)
    if wav.ndim not in (1, 2) or wav.shape[-1] == 0:
        raise ValueError(f"wav must be [samples] or [batch, samples], got shape {wav.shape}")
    if not np.isfinite(wav).all():
        raise ValueError("wav contains NaN or infinite values")
    single = wav.ndim == 1
    clips = np.stack([fit_length(c, sample_rate) for c in np.atleast_2d(wav)])
    emphasized = np.concatenate(
        [clips[:, :1], clips[:, 1:] - PREEMPHASIS * clips[:, :-1]], axis=1)
    window = round(0.025 * sample_rate)
    hop = round(0.010 * sample_rate)
    frames_n = 1 + math.ceil((sample_rate - window) / hop)
    padded = np.zeros((len(clips), (frames_n - 1) * hop + window))
    padded[:, :sample_rate] = emphasized
    index = np.arange(window)[None, :] + hop * np.arange(frames_n)[:, None]
    frames = padded[:, index] * np.hamming(window)  # [B, frames, window]
    power = np.abs(np.fft.rfft(frames, NFFT)) ** 2 / NFFT
    energies = power @ mel_filterbank(num_filters, NFFT, sample_rate).T
    energies = np.where(energies == 0, np.finfo(float).eps, energies)
    features = np.log(energies).astype(np.float32)
    return features[0] if single else features
