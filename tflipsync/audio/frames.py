"""Audio per video frame: loudness, a 40-band log-mel, its mean over each frame's period, context.

Video frame i is at t_i = i / fps and owns one frame period centred on t_i. These are the audio
features of the lip-motion evaluation's baselines (tflipsync/evaluation/anchor.py) and of the
articulation model (tflipsync/landmarks/articulation.py): one implementation for both.
"""

import numpy as np

from tflipsync.audio import mel as audio_mel
from tflipsync.conventions import SAMPLE_RATE

MEL_BANDS = 40
MEL_WINDOW = 400  # 25 ms at 16 kHz
MEL_HOP = 160  # 10 ms: column k is centred on k * 10 ms
MEL_FFT = 512
CONTEXT = 6  # video frames either side of the frame in the stacked features
LOG_FLOOR = 1e-10  # power floor of the log-mel; its log is that of digital silence
RMS_FLOOR = 1e-5


def frame_periods(fps, count, rate):
    """(starts, stops) int (count,): the samples at `rate` of each video frame's period, one frame
    period centred on t_i = i / fps (start clipped at 0)."""
    centre = np.arange(count) / float(fps)
    starts = np.floor((centre - 0.5 / fps) * rate).astype(np.int64)
    stops = np.floor((centre + 0.5 / fps) * rate).astype(np.int64)
    return np.maximum(starts, 0), np.maximum(stops, 1)


def log_rms(wav, fps, count):
    """The loudness baseline: float64 (count,) natural log of the RMS of 16 kHz `wav` over each
    video frame's period (frame_periods); frames past the audio's end take its last frame's value,
    digital silence gives log(RMS_FLOOR)."""
    wav = np.asarray(wav, np.float64)
    starts, stops = frame_periods(fps, count, SAMPLE_RATE)
    energy = np.concatenate([[0.0], np.cumsum(wav * wav)])  # energy[j] = sum of wav[:j] ** 2
    last = max(len(wav), 1)
    stops = np.minimum(stops, last)
    starts = np.minimum(starts, stops - 1)
    mean = (energy[stops] - energy[starts]) / (stops - starts)
    return np.log(np.sqrt(np.maximum(mean, 0.0)) + RMS_FLOOR)


def mel_filters(bands=MEL_BANDS, fft=MEL_FFT):
    """(bands, fft // 2 + 1) triangular filters on the Slaney mel scale of tflipsync.audio.mel,
    evenly spaced in mel between its FMIN and FMAX, each peaking at 1."""
    hz = np.linspace(0.0, SAMPLE_RATE / 2.0, fft // 2 + 1)
    points = audio_mel._mel_to_hz(np.linspace(audio_mel._hz_to_mel(audio_mel.FMIN),
                                              audio_mel._hz_to_mel(audio_mel.FMAX), bands + 2))
    lower, centre, upper = points[:-2, None], points[1:-1, None], points[2:, None]
    return np.maximum(0.0, np.minimum((hz - lower) / (centre - lower), (upper - hz) / (upper - centre)))


def log_mel(wav):
    """The anchor's 40-band log-mel of 16 kHz audio: float64 (T, 40), T = 1 + len(wav) // 160.

    Column k is the natural log of the mel power of a 25 ms periodic Hann window centred on
    k * 10 ms (the signal zero padded by half a window at both ends), floored at LOG_FLOOR."""
    wav = np.asarray(wav, np.float64)
    count = 1 + len(wav) // MEL_HOP
    padded = np.pad(wav, (MEL_WINDOW // 2, MEL_WINDOW // 2))
    windows = np.lib.stride_tricks.sliding_window_view(padded, MEL_WINDOW)[::MEL_HOP][:count]  # (T, 400)
    hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(MEL_WINDOW) / MEL_WINDOW)
    power = np.abs(np.fft.rfft(windows * hann, n=MEL_FFT, axis=1)) ** 2  # (T, 257)
    return np.log(np.maximum(power @ mel_filters().T, LOG_FLOOR))


def frame_means(columns, rate, fps, count):
    """Rows (T, F) sampled at `rate` per second (row k centred on k / rate s) averaged over each of
    `count` video frames' periods: float64 (count, F); a frame whose period holds no row centre
    takes the nearest row."""
    columns = np.asarray(columns, np.float64)
    centre = np.arange(count) / float(fps)
    first = np.ceil((centre - 0.5 / fps) * rate - 1e-9).astype(np.int64)
    stop = np.ceil((centre + 0.5 / fps) * rate - 1e-9).astype(np.int64)
    first = np.clip(first, 0, len(columns) - 1)
    stop = np.clip(stop, first + 1, len(columns))
    sums = np.concatenate([np.zeros((1, columns.shape[1])), np.cumsum(columns, axis=0)])
    return (sums[stop] - sums[first]) / (stop - first)[:, None]


def stack_context(rows, context=CONTEXT):
    """Rows (N, F) -> (N, (2 context + 1) F): rows i - context .. i + context (edge-padded),
    oldest first."""
    rows = np.asarray(rows)
    count = len(rows)
    index = np.clip(np.arange(count)[:, None] + np.arange(-context, context + 1), 0, count - 1)
    return rows[index].reshape(count, -1)


def frame_features(wav, fps, count, context=CONTEXT):
    """The anchor's features of `count` video frames: float64 (count, (2 context + 1) * 40): each
    frame's mean log-mel (`frame_means` of `log_mel`), stacked with its neighbours (`stack_context`)."""
    return stack_context(frame_means(log_mel(wav), SAMPLE_RATE / MEL_HOP, fps, count), context)
