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

from tflipsync.audio.frames import CONTEXT, frame_features, frame_periods, log_mel, log_rms, mel_filters  # noqa: F401
from tflipsync.landmarks.articulation import ridge  # noqa: F401

ALPHAS = (1.0, 10.0, 100.0, 1000.0, 10000.0)


def zscore(values):
    """Finite values of a 1-D array minus their mean over their standard deviation (NaN stays)."""
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    if finite.sum() < 2:
        return np.full_like(values, np.nan)
    return (values - values[finite].mean()) / max(values[finite].std(), 1e-12)


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
