"""The Wav2Lip mel spectrogram, in numpy (the reference) and in TensorFlow (TFLite builtin ops).

The definition follows the original Wav2Lip exactly, so that checkpoints trained with it see the
same features:

1. pre-emphasis ``y[0] = x[0]``, ``y[n] = x[n] - 0.97 x[n-1]``;
2. STFT magnitude with n_fft = window = 800, hop = 200, periodic Hann window, the signal reflect
   padded by 400 samples on both sides, giving ``T = 1 + N // 200`` frames of 401 bins;
3. projection on an (80, 401) Slaney mel basis (16 kHz, 55 Hz to 7600 Hz, area normalised);
4. ``20 log10(max(1e-5, S)) - 20`` dB, then ``clip(8 (S + 100) / 100 - 4, -4, 4)``.

There are 80 mel frames per second of 16 kHz audio (MEL_FPS); a mel is (80, T) here, frequency
first. The numpy form (`melspectrogram`) is the reference; the TensorFlow form
(`tf_melspectrogram`) computes the same thing with constant matrix products so that it converts
to TFLite with builtin ops only (TFLite's FFT requires power-of-two lengths).
"""

import functools
import math

import numpy as np

from tflipsync.conventions import N_MELS, SAMPLE_RATE

N_FFT = 800
HOP = 200  # SAMPLE_RATE / HOP = MEL_FPS
FMIN = 55.0
FMAX = 7600.0
PREEMPHASIS = 0.97
MIN_LEVEL_DB = -100.0
REF_LEVEL_DB = 20.0
MAX_ABS_VALUE = 4.0

_N_BINS = N_FFT // 2 + 1
_HOPS_PER_FRAME = N_FFT // HOP


def _hz_to_mel(hz):
    """Slaney mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3.0)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (math.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def _mel_to_hz(mel):
    """Inverse of `_hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * (200.0 / 3.0)
    log_part = 1000.0 * np.exp((math.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log_part, linear)


@functools.lru_cache(maxsize=1)
def mel_basis():
    """The (80, 401) Slaney mel filter bank for 16 kHz audio and an 800-point FFT.

    Filter i is the triangle rising from mel point i to i+1 and falling to i+2 (82 points evenly
    spaced in mel between 55 Hz and 7600 Hz), sampled on the FFT bin frequencies and scaled by
    2 / (f[i+2] - f[i]) so that every filter has the same area.

    Returns:
        float64 array (80, 401), read-only (it is cached).
    """
    fft_hz = np.linspace(0.0, SAMPLE_RATE / 2.0, _N_BINS)
    points = _mel_to_hz(np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), N_MELS + 2))
    lower, centre, upper = points[:-2, None], points[1:-1, None], points[2:, None]
    rising = (fft_hz - lower) / (centre - lower)
    falling = (upper - fft_hz) / (upper - centre)
    basis = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (upper - lower))
    basis.setflags(write=False)
    return basis


_MEL_BLOCK = 2000  # frames per block of `melspectrogram` (10 s of audio)


def _hann():
    """Periodic Hann window of length 800, float64."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)


def _emphasised_padded(x, first, stop):
    """Samples [first, stop) of the pre-emphasised signal reflect-padded by N_FFT // 2, float64.

    The same values as padding the whole pre-emphasised signal (y[0] = x[0], y[j] = x[j] -
    PREEMPHASIS x[j - 1]) and slicing, computed for the slice alone.
    """
    n = len(x)
    j = np.arange(first, stop) - N_FFT // 2  # signal index of each padded sample
    if n == 1:
        j = np.zeros_like(j)
    else:
        # np.pad's "reflect" (no edge repeat), repeated for pads longer than the signal: the
        # padded signal is periodic with period 2 (n - 1)
        period = 2 * (n - 1)
        j = np.abs(j) % period
        j = np.where(j > n - 1, period - j, j)
    current = x[j].astype(np.float64)
    previous = x[np.maximum(j - 1, 0)].astype(np.float64)
    return np.where(j > 0, current - PREEMPHASIS * previous, current)


def melspectrogram(wav):
    """Wav2Lip's normalised log-mel spectrogram of 16 kHz audio (see the module docstring).

    Args:
        wav: array-like (N,), samples at 16 kHz, N >= 1.

    Returns:
        float32 array (80, 1 + N // 200), values in [-4, 4].

    Raises:
        ValueError: `wav` is empty or not one-dimensional.
    """
    x = np.asarray(wav)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"expected a non-empty 1-D signal, got shape {x.shape}")
    count = 1 + len(x) // HOP
    # In blocks of frames, each cut from the signal on its own: the whole (T, 800) product, or
    # even float64 copies of the whole signal, would make peak memory grow with the audio's
    # length (about 1 GB for 10 minutes).
    mel = np.empty((N_MELS, count))
    for start in range(0, count, _MEL_BLOCK):
        stop = min(start + _MEL_BLOCK, count)
        segment = _emphasised_padded(x, start * HOP, (stop - 1) * HOP + N_FFT)
        block = np.lib.stride_tricks.sliding_window_view(segment, N_FFT)[::HOP]  # (b, 800), a view
        magnitude = np.abs(np.fft.rfft(block * _hann(), axis=1))  # (b, 401)
        mel[:, start:stop] = mel_basis() @ magnitude.T  # (80, b)
    db = 20.0 * np.log10(np.maximum(1e-5, mel)) - REF_LEVEL_DB
    norm = 2.0 * MAX_ABS_VALUE * (db - MIN_LEVEL_DB) / -MIN_LEVEL_DB - MAX_ABS_VALUE
    return np.clip(norm, -MAX_ABS_VALUE, MAX_ABS_VALUE).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Mel spectrogram, TensorFlow (TFLite builtin ops only).


@functools.lru_cache(maxsize=1)
def _hop_dft_matrix():
    """float32 (200, 4 * 802): windowed DFT rows of each 200-sample quarter of an 800 frame.

    Columns [802 j, 802 (j + 1)) hold, for frame samples n = 200 j + m (m = 0..199), the 401
    cosine then the 401 sine terms w[n] cos(2 pi k n / 800) and w[n] sin(2 pi k n / 800). A
    frame's DFT is the sum over j of its j-th hop times block j, so one matrix product over all
    hops replaces the framing (the sine sign does not matter, only the magnitude is used).
    """
    n = np.arange(N_FFT)
    angle = 2.0 * np.pi * np.outer(n, np.arange(_N_BINS)) / N_FFT  # (800, 401)
    window = _hann()[:, None]
    rows = np.concatenate([window * np.cos(angle), window * np.sin(angle)], axis=1)  # (800, 802)
    blocks = rows.reshape(_HOPS_PER_FRAME, HOP, 2 * _N_BINS)
    return np.concatenate(list(blocks), axis=1).astype(np.float32)


def tf_melspectrogram(wav):
    """The `melspectrogram` computation in TensorFlow, convertible to TFLite builtin ops.

    Uses only pad (MIRROR_PAD), slices, reshape, matrix products and elementwise ops. Shapes stay
    static when the input's are.

    Args:
        wav: float32 tensor (N,) or (B, N), samples at 16 kHz, N > 400 (reflect padding by 400
            needs more than 400 samples).

    Returns:
        float32 tensor (80, T) or (B, 80, T), T = 1 + N // 200.

    Raises:
        ValueError: the rank is not 1 or 2, or a static N is 400 or less.
    """
    import tensorflow as tf

    wav = tf.convert_to_tensor(wav, dtype=tf.float32)
    rank = wav.shape.rank
    if rank not in (1, 2):
        raise ValueError(f"expected a tensor of shape (N,) or (B, N), got {wav.shape}")
    x = wav[tf.newaxis] if rank == 1 else wav
    n = x.shape[1]
    if n is not None and n <= N_FFT // 2:
        raise ValueError(f"need more than {N_FFT // 2} samples, got {n}")
    if n is None:
        n = tf.shape(x)[1]
    y = tf.concat([x[:, :1], x[:, 1:] - PREEMPHASIS * x[:, :-1]], axis=1)
    padded = tf.pad(y, [[0, 0], [N_FFT // 2, N_FFT // 2]], mode="REFLECT")  # (B, N + 800)
    n_frames = n // HOP + 1
    # Frames 0..T-1 use hops 0..T+2; the padded tail past hop T+2 belongs to no frame.
    n_hops = n_frames + _HOPS_PER_FRAME - 1
    hops = tf.reshape(padded[:, :n_hops * HOP], [-1, n_hops, HOP])
    parts = tf.matmul(hops, tf.constant(_hop_dft_matrix()))  # (B, hops, 4 * 802)
    width = 2 * _N_BINS
    spectrum = parts[:, 0:n_frames, 0:width]
    for j in range(1, _HOPS_PER_FRAME):
        spectrum += parts[:, j:j + n_frames, j * width:(j + 1) * width]
    real, imag = spectrum[..., :_N_BINS], spectrum[..., _N_BINS:]
    magnitude = tf.sqrt(real * real + imag * imag)  # (B, T, 401)
    mel = tf.matmul(magnitude, tf.constant(mel_basis().T.astype(np.float32)))  # (B, T, 80)
    db = tf.math.log(tf.maximum(mel, 1e-5)) * (20.0 / math.log(10.0)) - REF_LEVEL_DB
    norm = (2.0 * MAX_ABS_VALUE / -MIN_LEVEL_DB) * (db - MIN_LEVEL_DB) - MAX_ABS_VALUE
    out = tf.transpose(tf.clip_by_value(norm, -MAX_ABS_VALUE, MAX_ABS_VALUE), [0, 2, 1])
    return out[0] if rank == 1 else out
