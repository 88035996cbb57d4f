"""The audio-only baselines of the lip-motion evaluation: loudness, and the ridge anchor.

Both read the clip's own speech (16 kHz mono, `tflipsync.audio.io.load_wav`) and give one value
per video frame i, at time t_i = i / fps; `lipmotion.best_lag_r` compares them with the real
mouth opening.

- Loudness: the log RMS energy of the samples in a window of one frame period centred on t_i
  (`log_rms`). What a system that opens the mouth with the volume would reach.
- Ridge anchor: the linear model a learned system must beat (`RidgeAnchor`). Features per
  video frame: a 40-band log-mel (25 ms Hann window, 10 ms hop, `log_mel`), its columns averaged
  over the frame's period (the one frame period centred on t_i, as for loudness), stacked over
  13 consecutive frames centred on the frame (+-6, edge-padded): 520 features
  (`frame_features`), z-scored with the training frames' statistics. Target: the real opening,
  z-scored per clip. Closed-form ridge on every frame with a face of the training clips; the
  penalty is chosen from ALPHAS by the median r over the validation clips (`fit_anchor`).
  The fitted anchor is a plain .npz (no pickle).
"""

import numpy as np

from tflipsync.audio import mel as audio_mel
from tflipsync.conventions import SAMPLE_RATE

MEL_BANDS = 40
MEL_WINDOW = 400  # 25 ms at 16 kHz
MEL_HOP = 160  # 10 ms: column k is centred on k * 10 ms
MEL_FFT = 512
CONTEXT = 6  # video frames either side of the frame in the stacked features
ALPHAS = (1.0, 10.0, 100.0, 1000.0, 10000.0)
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


def frame_features(wav, fps, count, context=CONTEXT):
    """The anchor's features of `count` video frames: float64 (count, (2 context + 1) * 40).

    Each frame's mel is the mean of the log-mel columns whose centres lie in its period (the
    nearest column where none does); the rows of frames i - context .. i + context (edge-padded)
    are concatenated, oldest first."""
    mel = log_mel(wav)
    rate = SAMPLE_RATE / MEL_HOP  # columns per second
    centre = np.arange(count) / float(fps)
    first = np.ceil((centre - 0.5 / fps) * rate - 1e-9).astype(np.int64)
    stop = np.ceil((centre + 0.5 / fps) * rate - 1e-9).astype(np.int64)
    first = np.clip(first, 0, len(mel) - 1)
    stop = np.clip(stop, first + 1, len(mel))
    sums = np.concatenate([np.zeros((1, mel.shape[1])), np.cumsum(mel, axis=0)])
    per_frame = (sums[stop] - sums[first]) / (stop - first)[:, None]  # (count, 40)
    index = np.clip(np.arange(count)[:, None] + np.arange(-context, context + 1), 0, count - 1)  # (count, 13)
    return per_frame[index].reshape(count, -1)


def zscore(values):
    """Finite values of a 1-D array minus their mean over their standard deviation (NaN stays)."""
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    if finite.sum() < 2:
        return np.full_like(values, np.nan)
    return (values - values[finite].mean()) / max(values[finite].std(), 1e-12)


def ridge(features, target, alpha):
    """Closed-form ridge regression with an unpenalised intercept.

    Args:
      features: (N, F); target: (N,); alpha: the penalty on the squared weights.

    Returns:
      (weights (F,), bias) minimising |features @ weights + bias - target|^2 + alpha |weights|^2.
    """
    x = np.asarray(features, np.float64)
    y = np.asarray(target, np.float64)
    x_mean, y_mean = x.mean(axis=0), y.mean()
    centred = x - x_mean
    gram = centred.T @ centred + alpha * np.eye(x.shape[1])
    weights = np.linalg.solve(gram, centred.T @ (y - y_mean))
    return weights, float(y_mean - x_mean @ weights)


class RidgeAnchor:
    """The fitted anchor: feature statistics, weights, bias, and how they were chosen."""

    def __init__(self, mean, std, weights, bias, alpha, alphas=(), val_median_r=(), key=""):
        self.mean = np.asarray(mean, np.float64)
        self.std = np.asarray(std, np.float64)
        self.weights = np.asarray(weights, np.float64)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.alphas = np.asarray(alphas, np.float64)  # the penalties tried
        self.val_median_r = np.asarray(val_median_r, np.float64)  # median validation r of each
        self.key = str(key)

    def predict(self, features):
        """(N, 520) raw frame_features -> (N,) predicted z-scored opening."""
        return ((np.asarray(features, np.float64) - self.mean) / self.std) @ self.weights + self.bias

    def save(self, path):
        """Writes plain arrays (.npz, loadable with allow_pickle=False)."""
        np.savez(path, mean=self.mean, std=self.std, weights=self.weights, bias=np.float64(self.bias),
                 alpha=np.float64(self.alpha), alphas=self.alphas, val_median_r=self.val_median_r,
                 key=np.array(self.key))

    @classmethod
    def load(cls, path):
        with np.load(path, allow_pickle=False) as f:
            return cls(f["mean"], f["std"], f["weights"], float(f["bias"]), float(f["alpha"]), f["alphas"],
                       f["val_median_r"], str(f["key"]))


def fit_anchor(train, val, score, alphas=ALPHAS, key=""):
    """Fits the ridge anchor and chooses its penalty.

    Args:
      train, val: lists of (features (N, F) from frame_features, opening (N,) with NaN where no
        face) per clip.
      score: score(prediction (N,), opening (N,)) -> r of one clip (lipmotion.best_lag_r's r).
      alphas: penalties tried; the one with the highest median validation r is kept.
      key: a string saved with the anchor (what it was fitted on).

    Returns:
      a RidgeAnchor.

    Raises:
      ValueError: no training frame has a face.
    """
    rows = [(f[np.isfinite(o)], zscore(o)[np.isfinite(o)]) for f, o in train]
    x = np.concatenate([f for f, _ in rows]) if rows else np.zeros((0, 0))
    y = np.concatenate([t for _, t in rows]) if rows else np.zeros(0)
    if len(y) < 2:
        raise ValueError("no training clip has frames with a face: the ridge anchor cannot be fitted")
    mean, std = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-9)
    medians, fitted = [], []
    for alpha in alphas:
        anchor = RidgeAnchor(mean, std, *ridge((x - mean) / std, y, alpha), alpha)
        scores = [score(anchor.predict(f), o) for f, o in val]
        scores = [s for s in scores if np.isfinite(s)]
        medians.append(float(np.median(scores)) if scores else float("nan"))
        fitted.append(anchor)
    best = int(np.nanargmax(medians)) if np.isfinite(medians).any() else 0
    chosen = fitted[best]
    return RidgeAnchor(chosen.mean, chosen.std, chosen.weights, chosen.bias, chosen.alpha, alphas, medians, key)
