"""The articulation model: how far the mouth opens and how wide it is, frame by frame, from speech.

A linear model on what is said and how it sounds, fitted on the real corpus's training speakers
(tools/train_articulation.py), that drives the landmarks engine as the landmark LSTM does
(same interface as `tflipsync.landmarks.predictor.Predictor`):

- Features of video frame i (`features`): the 40-band log-mel of tflipsync/audio/frames.py
  averaged over the frame's period, minus its mean over the utterance (the recording's colour and
  level are not speech), and the share of each pocketsphinx phone in the period
  (tflipsync/audio/phones.py); rows i - 6 .. i + 6 stacked (+-240 ms at 25 fps): 13 x 80 features.
  A mel-only model (inputs "mel", the one the web app runs: no phone decoder there) uses the 40
  mel columns of each stacked row only: 13 x 40 features.
- Targets (per clip, in the normalised mouth frame of tflipsync/landmarks/mouth.py): the inner-lip
  gap (points 13-14) and the mouth width (outer corners), each minus its value at rest (the mean
  over the clip's quietest 10 % of frames by loudness), over the clip's standard deviation of it.
  So a prediction says "how many of this speaker's typical excursions from rest".
- Prediction: ridge weights (`ridge`), scaled by `gain` so that their spread on the training
  frames equals the targets' (ridge shrinks towards the mean; the face should move as much as a
  speaker's does), times `amplitude` (the training speakers' median excursion, normalised units),
  mapped to all 40 mouth points by `modes` (the least-squares motion of the points per unit of gap
  and of width on the training frames). The motion is added to `mean_shape`, the mean rest mouth.

Stored as a plain .npz (no pickle) with a JSON description.
"""

import json

import numpy as np

from tflipsync.audio import frames, phones
from tflipsync.landmarks import mouth as mouth_points

CONTEXT = 6
TARGETS = ("gap", "width")
INPUTS = ("mel+phones", "mel")  # a model's features: the log-mel and the phone shares, or the log-mel only
_POSITION = {int(index): k for k, index in enumerate(mouth_points.MOUTH)}
UPPER, LOWER = _POSITION[13], _POSITION[14]  # the inner-lip midpoints in MOUTH order
FLOOR = -0.5  # the least opening predicted, in the speaker's excursions (lips pressed a little)
# Speech whose loudest sample is this quiet (-60 dBFS) is silence: the mouth stays at rest. The
# features are relative to the utterance's own mean, so without this an utterance of silence
# alone would look like an average frame of speech (a half open mouth).
SILENT_PEAK = 1e-3


def ridge(features, target, alpha):
    """Closed-form ridge regression with an unpenalised intercept.

    Args:
      features: (N, F); target: (N,) or (N, T); alpha: the penalty on the squared weights.

    Returns:
      (weights (F,) or (F, T), bias float or (T,)) minimising
      |features @ weights + bias - target|^2 + alpha |weights|^2.
    """
    x = np.asarray(features, np.float64)
    y = np.asarray(target, np.float64)
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    centred = x - x_mean
    gram = centred.T @ centred + alpha * np.eye(x.shape[1])
    weights = np.linalg.solve(gram, centred.T @ (y - y_mean))
    bias = y_mean - x_mean @ weights
    return weights, (float(bias) if np.ndim(bias) == 0 else bias)


def features(wav16k, fps, count, decoder=None, inputs="mel+phones"):
    """float64 articulation features of `count` video frames of 16 kHz speech: (count, 13 * 80)
    for inputs "mel+phones" (per frame of the context, 40 mel then 40 phone columns), (count,
    13 * 40) for "mel" (no phone decoding)."""
    if inputs not in INPUTS:
        raise ValueError(f"inputs must be one of {INPUTS}, got {inputs!r}")
    mel = frames.frame_means(frames.log_mel(wav16k), frames.SAMPLE_RATE / frames.MEL_HOP, fps, count)
    mel = mel - mel.mean(axis=0)
    if inputs == "mel":
        return frames.stack_context(mel, CONTEXT)
    spoken = phones.frame_phones(wav16k, fps, count, decoder)
    return frames.stack_context(np.concatenate([mel, spoken], axis=1), CONTEXT)


def mel_columns(rows):
    """The "mel" features (N, 13 * 40) of "mel+phones" features (N, 13 * 80): the same values
    `features(..., inputs="mel")` gives for the same speech."""
    rows = np.asarray(rows)
    stacked = rows.reshape(len(rows), 2 * CONTEXT + 1, -1)  # (N, 13, 40 mel + 40 phones)
    return stacked[:, :, :frames.MEL_BANDS].reshape(len(rows), -1)


def mouth_measures(points):
    """(gap, width) of normalised mouths (..., K, 2): the inner-lip gap and the outer-corner distance."""
    points = np.asarray(points, np.float64)
    return (np.linalg.norm(points[..., UPPER, :] - points[..., LOWER, :], axis=-1),
            mouth_points.mouth_width(points))


class ArticulationModel:
    """The fitted model's arrays (see the module docstring) and its description."""

    ARRAYS = ("mean", "std", "weights", "bias", "gain", "amplitude", "modes", "mean_shape")

    def __init__(self, mean, std, weights, bias, gain, amplitude, modes, mean_shape, info=None):
        self.mean = np.asarray(mean, np.float64)  # (F,) feature statistics of the training frames
        self.std = np.asarray(std, np.float64)
        self.weights = np.asarray(weights, np.float64)  # (F, 2)
        self.bias = np.asarray(bias, np.float64)  # (2,)
        self.gain = np.asarray(gain, np.float64)  # (2,)
        self.amplitude = np.asarray(amplitude, np.float64)  # (2,) normalised units per excursion
        self.modes = np.asarray(modes, np.float64)  # (2, K * 2) point motion per unit of gap, width
        self.mean_shape = np.asarray(mean_shape, np.float32)  # (K, 2)
        self.info = dict(info or {})

    @property
    def inputs(self):
        """The features the model reads (one of INPUTS); a model saved without the key reads both."""
        return self.info.get("inputs", "mel+phones")

    def excursions(self, feature_rows):
        """(N, F) features -> (N, 2) predicted gap and width excursions (gain applied, gap floored)."""
        predicted = (((np.asarray(feature_rows) - self.mean) / self.std) @ self.weights + self.bias) * self.gain
        predicted[:, 0] = np.maximum(predicted[:, 0], FLOOR)
        return predicted

    def motion(self, excursions):
        """(N, 2) excursions -> (N, K, 2) motion of the normalised mouth points from rest."""
        flat = (np.asarray(excursions) * self.amplitude) @ self.modes
        return flat.reshape(len(flat), -1, 2).astype(np.float32)

    def save(self, path):
        np.savez(path, info=np.array(json.dumps(self.info)), **{k: getattr(self, k) for k in self.ARRAYS})

    @classmethod
    def load(cls, path):
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in cls.ARRAYS if k not in f]
            if missing:
                raise ValueError(f"not an articulation model (no {', '.join(missing)})")
            model = cls(*(f[k] for k in cls.ARRAYS), info=json.loads(str(f["info"])) if "info" in f else {})
        if model.inputs not in INPUTS:
            raise ValueError(f"unknown inputs {model.inputs!r} (not one of {INPUTS})")
        return model


class ArticulationPredictor:
    """Normalised mouth points of video frames from speech, with an ArticulationModel: the
    interface of `tflipsync.landmarks.predictor.Predictor` (predict, mean_shape, description).

    Args:
      weights: an articulation .npz (tools/train_articulation.py); None for the embedded one.

    Raises:
      InputError: a missing or unreadable file.
    """

    delay = 0

    def __init__(self, weights=None):
        import os

        from tflipsync.errors import InputError
        from tflipsync.weights import bundled

        path = weights or bundled.weights_path("articulation")
        if not os.path.isfile(path):
            raise InputError(path, "no such file")
        try:
            self.model = ArticulationModel.load(path)
        except (ValueError, OSError, KeyError) as err:
            raise InputError(path, f"not an articulation model: {err}") from None
        self.mean_shape = self.model.mean_shape
        trained = self.model.info.get("trained_on", "")
        self.description = (f"articulation model {os.path.basename(path)}" + (f" ({trained})" if trained else ""))
        self._decoder = None

    def excursions(self, wav16k, fps, count):
        """(count, 2) predicted gap and width excursions of video frames 0 .. count - 1."""
        if self._decoder is None and self.model.inputs != "mel":
            self._decoder = phones.PhoneDecoder()
        return self.model.excursions(features(wav16k, fps, count, self._decoder, self.model.inputs))

    def predict(self, wav16k, fps, count):
        """float32 (count, K, 2): mean_shape plus the motion predicted from the speech."""
        if count == 0:
            return np.zeros((0, *self.mean_shape.shape), np.float32)
        wav = np.asarray(wav16k, np.float32).reshape(-1)
        if not wav.size or np.max(np.abs(wav)) <= SILENT_PEAK:
            return np.repeat(self.mean_shape[None], count, axis=0)  # silence: the mouth at rest
        motion = self.model.motion(self.excursions(wav, fps, count))
        return (self.mean_shape[None] + motion).astype(np.float32)
