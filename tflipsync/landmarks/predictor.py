"""The landmark Predictor: normalised mouth points of video frames from speech (the LSTM of
tflipsync/models/landmarks.py on the mouth frame of tflipsync/landmarks/mouth.py)."""

import os

import numpy as np

from tflipsync.conventions import N_MELS
from tflipsync.errors import InputError
from tflipsync.landmarks.mouth import SILENCE, STEP_RATE, mel_steps, steps_to_frames


def load_network(weights=None, **architecture):
    """(LandmarkLSTM with weights, description).

    Args:
      weights: a landmarks .weights.h5 from train.py; None or "" for the embedded model.
      architecture: delay, units, pca_dims, bidirectional; default: the embedded model's (from
        model.json) or, for `weights`, the flags.txt of its train.py run (same folder or one up).

    Raises:
      InputError: missing weights, or weights that do not fit the architecture.
    """
    from tflipsync.weights import bundled
    from tflipsync.models import landmarks as landmark_models

    if not weights:
        config = bundled.landmarks_config()
        path, description = bundled.weights_path("landmarks"), bundled.describe_landmarks()
    else:
        if not os.path.isfile(weights):
            raise InputError(weights, "no such file")
        flags = bundled.run_flags(weights)
        config = {"delay": int(flags.get("delay", 16)), "units": int(flags.get("units", 60)),
                  "pca_dims": int(flags.get("pca_dims", 8)),
                  "bidirectional": flags.get("bidirectional", "False") == "True"}
        path, description = weights, weights
    config.update({k: v for k, v in architecture.items() if v is not None})
    network = landmark_models.LandmarkLSTM(**config)
    bundled.load_weights(network, path, f"landmark-LSTM weights of {config}")
    return network, description


class Predictor:
    """Normalised mouth points of video frames from speech, with the landmark LSTM.

        predictor = Predictor()                                   # the embedded model
        mouth = predictor.predict(wav, fps=25.0, count=n_frames)  # (n_frames, 40, 2)
        own, transform = normalise(face_mesh)                     # the face to animate
        pixels = denormalise(own + (mouth - predictor.mean_shape), transform)

    Attributes:
      network: the `LandmarkLSTM`; `delay` its delay in steps (1 / STEP_RATE s each).
      mean_shape: float32 (K, 2), the canonical mouth at rest in the normalised frame: a
        prediction is mean_shape plus the predicted motion, so prediction - mean_shape is the
        motion from rest (about zero in silence).
      description: one line saying which model this is and what it was trained on.
    """

    def __init__(self, weights=None, **architecture):
        """Args: weights: a landmarks .weights.h5 (None: the embedded model); architecture:
        see `load_network`. Raises InputError for missing or mismatched weights."""
        import tensorflow as tf

        self.network, self.description = load_network(weights, **architecture)
        self.mean_shape = self.network.basis.rest.numpy().reshape(-1, 2).astype(np.float32)
        self.delay = int(self.network.delay)
        self._points = tf.function(lambda mel: self.network(mel, training=False)["points"],
                                   input_signature=[tf.TensorSpec((1, None, 80), tf.float32)])

    def predict_steps(self, mel):
        """Points at every step of a mel (M, 80): float32 (M, K, 2), step m at m / STEP_RATE s.

        `delay` steps of silence follow the audio, and the first `delay` outputs are dropped, so
        output m estimates the mouth of step m."""
        mel = np.asarray(mel, np.float32)
        padded = np.concatenate([mel, np.full((self.delay, mel.shape[1]), SILENCE, np.float32)])
        return self._points(padded[None]).numpy()[0, self.delay:]

    def predict(self, wav16k, fps, count):
        """Mouth points of video frames 0 .. count - 1 (frame i at i / fps s from the audio's start).

        Args:
          wav16k: float32 (S,) mono samples at 16 kHz (as `tflipsync.audio.io.load_wav` gives).
          fps: video frame rate.
          count: frames wanted; frames past the end of the audio get the mouth of the silence
            after it.

        Returns:
          float32 (count, K, 2) mouth points in the normalised frame of `normalise` (K =
          len(MOUTH), its point order): `mean_shape` plus the motion predicted from the audio.
        """
        if count < 0 or fps <= 0:
            raise ValueError(f"count must be >= 0 and fps > 0, got {count}, {fps}")
        wav = np.asarray(wav16k, np.float32).reshape(-1)
        # steps covering every requested frame, silence after the audio
        needed = int(np.ceil(count / float(fps) * STEP_RATE)) + 2
        mel = mel_steps(wav) if wav.size else np.zeros((0, N_MELS), np.float32)
        if len(mel) < needed:
            mel = np.concatenate([mel, np.full((needed - len(mel), mel.shape[1]), SILENCE, np.float32)])
        return steps_to_frames(self.predict_steps(mel), fps, count)


def load(weights=None):
    """The landmarks engine's mouth predictor: `predict(wav16k, fps, count)`, `mean_shape`, `description`.

    Args:
      weights: an articulation model (.npz, tflipsync/landmarks/articulation.py), a landmark-LSTM
        .weights.h5 (train.py --model=landmarks), or None: the embedded one model.json names as
        "landmarks_default" (the one that scores best on the held-out real clips, docs/real_faces.md).
    """
    if weights is None:
        from tflipsync.weights import bundled

        kind = bundled.manifest().get("landmarks_default", "landmarks")
        if kind == "articulation":
            from tflipsync.landmarks.articulation import ArticulationPredictor

            return ArticulationPredictor()
        return Predictor()
    if str(weights).lower().endswith(".npz"):
        from tflipsync.landmarks.articulation import ArticulationPredictor

        return ArticulationPredictor(weights)
    return Predictor(weights)
