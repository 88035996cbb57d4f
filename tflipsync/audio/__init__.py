"""Audio front end: decoding, the Wav2Lip mel spectrogram, and mel windows per video frame.

The mel spectrogram follows the original Wav2Lip definition exactly, so that checkpoints trained
with it see the same features:

1. pre-emphasis ``y[0] = x[0]``, ``y[n] = x[n] - 0.97 x[n-1]``;
2. STFT magnitude with n_fft = window = 800, hop = 200, periodic Hann window, the signal reflect
   padded by 400 samples on both sides, giving ``T = 1 + N // 200`` frames of 401 bins;
3. projection on an (80, 401) Slaney mel basis (16 kHz, 55 Hz to 7600 Hz, area normalised);
4. ``20 log10(max(1e-5, S)) - 20`` dB, then ``clip(8 (S + 100) / 100 - 4, -4, 4)``.

There are 80 mel frames per second of 16 kHz audio; a window of 16 mel frames covers 200 ms,
i.e. five video frames at 25 fps. The numpy form (`melspectrogram`) is the reference; the
TensorFlow form (`tf_melspectrogram`) computes the same thing with constant matrix products so
that it converts to TFLite with builtin ops only (TFLite's FFT requires power-of-two lengths).
"""

import functools
import math
import os

import av
import numpy as np
import scipy.signal
import tensorflow as tf

from tflipsync.errors import InputError, require_file
from tflipsync.conventions import MEL_FPS, MEL_STEPS, N_MELS, SAMPLE_RATE

N_FFT = 800
HOP = 200
FMIN = 55.0
FMAX = 7600.0
PREEMPHASIS = 0.97
MIN_LEVEL_DB = -100.0
REF_LEVEL_DB = 20.0
MAX_ABS_VALUE = 4.0
# Mel frames per second of audio (SAMPLE_RATE / HOP) and the length of one audio window.

_TEXT_DEMUXERS = frozenset(["tty"])
_N_BINS = N_FFT // 2 + 1
_HOPS_PER_FRAME = N_FFT // HOP


def load_wav(path, sr=SAMPLE_RATE):
    """Decodes the first audio stream of any media file into mono float samples.

    Works for audio files (wav, flac, mp3, m4a, ogg, ...) and for the audio track of video files.
    Channels are averaged, and the signal is resampled with a polyphase filter when the file's
    rate differs from `sr`.

    Args:
        path: str or os.PathLike, the media file.
        sr: int, the wanted sample rate in Hz.

    Returns:
        float32 array (N,), samples at `sr`, nominally in [-1, 1].

    Raises:
        InputError: the file is missing, a directory, empty, not decodable, has no audio stream
            or no audio samples.
        ValueError: `sr` is not positive.
    """
    if int(sr) != sr or sr <= 0:
        raise ValueError(f"sample rate must be a positive integer, got {sr!r}")
    sr = int(sr)
    path = require_file(path, "an audio or video file")
    samples, rate = _decode_mono(path)
    if rate != sr:
        g = math.gcd(rate, sr)
        samples = scipy.signal.resample_poly(samples, sr // g, rate // g)
    return np.asarray(samples, dtype=np.float32)


def write_wav(path, samples, sr=SAMPLE_RATE):
    """Writes float samples in [-1, 1] as a 16-bit mono wav file."""
    import wave

    pcm = (np.clip(np.asarray(samples, np.float64), -1.0, 1.0) * 32767.0).round().astype("<i2")
    with wave.open(os.fspath(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(int(sr))
        f.writeframes(pcm.tobytes())
    return path


def _decode_mono(path):
    """Returns (float32 (N,) channel-mean samples, sample rate) of the file's first audio stream."""
    try:
        container = av.open(path, mode="r")
    except (av.FFmpegError, OSError) as err:
        raise InputError(path, f"not a readable audio or video file ({_av_reason(err)})") from None
    with container:
        # FFmpeg opens any *.txt, *.nfo, *.asc ... file as ANSI art rendered to video ("tty").
        if container.format.name in _TEXT_DEMUXERS:
            raise InputError(path, "not a readable audio or video file (text)")
        if not container.streams.audio:
            raise InputError(path, "no audio stream")
        stream = container.streams.audio[0]
        # Converts any sample format (packed or planar, integer or float) to float planar, keeping
        # the rate and channels so that downmixing and resampling stay ours and well defined.
        resampler = av.AudioResampler(format="fltp")
        chunks = []
        rate = None
        try:
            for frame in container.decode(stream):
                rate = rate or frame.sample_rate
                chunks.extend(_mono(f) for f in resampler.resample(frame))
            if rate is not None:
                chunks.extend(_mono(f) for f in resampler.resample(None))
        except (av.FFmpegError, OSError) as err:
            reason = _av_reason(err)
            raise InputError(path, f"not a readable audio or video file ({reason})") from None
        # Codecs that fill whole frames (AAC: 1024 samples) decode past the end; the container's
        # duration says where the audio really ends.
        declared = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
    chunks = [c for c in chunks if c.size]
    if not chunks:
        raise InputError(path, "no audio samples")
    samples = np.concatenate(chunks)
    if declared:
        # Only the codec's own padding (under two frames) is cut; a container whose declared
        # duration is off by more (some Ogg files) is not trusted.
        end = int(round(declared * rate))
        if 0 < len(samples) - end <= 2048:
            samples = samples[:end]
    return samples, int(rate)


def _mono(frame):
    """float32 (samples,) mean over the channels of a float planar frame."""
    return frame.to_ndarray().mean(axis=0, dtype=np.float32)


def _av_reason(err):
    """FFmpeg's reason without the errno and the file name that PyAV appends."""
    return getattr(err, "strerror", None) or type(err).__name__


# --------------------------------------------------------------------------------------------
# Mel spectrogram, numpy reference.


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


# --------------------------------------------------------------------------------------------
# Mel windows for video frames. `mel` is always (80, T) with 80 mel frames per second.


def mel_start(frame, fps):
    """First mel column of the 200 ms window starting at 0-based video frame `frame`.

    Exactly the training expression ``int(80.0 * (frame / float(fps)))`` (at 25 fps,
    ``int(3.2 * frame)``); Python's float rounding is part of the convention.
    """
    return int(80.0 * (frame / float(fps)))


def window_starts(frames, fps, offset=0):
    """Vectorised `mel_start(frame + offset, fps)`, equal elementwise to the scalar formula.

    Args:
        frames: int array-like (K,), 0-based video frame indices.
        fps: float, video frame rate.
        offset: int, added to every frame before conversion (-1 gives `frame_windows` starts).

    Returns:
        int64 array (K,).
    """
    frames = np.asarray(frames, dtype=np.int64) + int(offset)
    # Same IEEE double operations in the same order as the scalar form; int() truncates to zero.
    return np.trunc(80.0 * (frames.astype(np.float64) / float(fps))).astype(np.int64)


def sync_window(mel, start_frame, fps):
    """The (80, 16) window covering video frames start_frame .. start_frame + 4 at 25 fps.

    This is the window the sync expert is trained on and the generator's sync loss uses:
    ``mel[:, s:s + 16]`` with ``s = mel_start(start_frame, fps)``.

    Args:
        mel: array (80, T).
        start_frame: int, 0-based index of the first video frame.
        fps: float, video frame rate.

    Returns:
        array (80, 16), a view of `mel`, or None when the window starts below 0 or runs past T.
    """
    start = mel_start(start_frame, fps)
    if start < 0 or start + MEL_STEPS > mel.shape[1]:
        return None
    return mel[:, start:start + MEL_STEPS]


def frame_windows(mel, start_frame, fps, count=5):
    """The generator's per-frame training windows for frames start_frame .. start_frame+count-1.

    The original converts the 0-based frame to 1-based and then subtracts 2, so frame
    ``start_frame + k`` gets the window starting at
    ``int(80.0 * ((start_frame + 1 + k - 2) / float(fps)))``: one video frame before the frame.

    Args:
        mel: array (80, T).
        start_frame: int, 0-based index of the first video frame.
        fps: float, video frame rate.
        count: int, number of consecutive frames.

    Returns:
        array (count, 80, 16), or None if any window starts below 0 (so start_frame 0 gives None)
        or runs past T.
    """
    starts = [mel_start(start_frame + 1 + k - 2, fps) for k in range(count)]
    if starts[0] < 0 or starts[-1] + MEL_STEPS > mel.shape[1]:
        return None
    return np.stack([mel[:, s:s + MEL_STEPS] for s in starts])


def inference_windows(mel, fps):
    """Windows for every output video frame at inference, as the original cuts them.

    Chunk i starts at ``int(i * (80.0 / fps))``. Chunks are taken while start + 16 <= T; the
    first start that would overrun is replaced by one final chunk of the last 16 columns and
    iteration stops. At 25 fps, 801 mel frames (10 s) give 247 chunks.

    Args:
        mel: array (80, T), T >= 16.
        fps: float, video frame rate.

    Returns:
        array (K, 80, 16).

    Raises:
        ValueError: T < 16.
    """
    total = mel.shape[1]
    if total < MEL_STEPS:
        raise ValueError(f"need at least {MEL_STEPS} mel frames, got {total}")
    step = 80.0 / fps
    starts = []
    i = 0
    while int(i * step) + MEL_STEPS <= total:
        starts.append(int(i * step))
        i += 1
    starts.append(total - MEL_STEPS)
    return np.stack([mel[:, s:s + MEL_STEPS] for s in starts])


def tf_gather_windows(mel, starts):
    """Gathers 16-column windows from a mel spectrogram in TensorFlow (usable in tf.data).

    Args:
        mel: float tensor (80, T).
        starts: int32 tensor (K,), first column of each window; the caller keeps every
            start in [0, T - 16] (e.g. by filtering `window_starts`), since out-of-range
            indices are an error on CPU and give zeros on GPU.

    Returns:
        tensor (K, 80, 16) with ``out[k] == mel[:, starts[k]:starts[k] + 16]``.
    """
    starts = tf.convert_to_tensor(starts, dtype=tf.int32)
    index = starts[:, tf.newaxis] + tf.range(MEL_STEPS, dtype=tf.int32)  # (K, 16)
    return tf.transpose(tf.gather(mel, index, axis=1), [1, 0, 2])
