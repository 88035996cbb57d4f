"""The landmark Predictor: normalised mouth points of video frames from speech (the LSTM of
tflipsync/models/landmarks.py on the mouth frame of tflipsync/landmarks/mouth.py)."""

import os

import numpy as np

from tflipsync.conventions import N_MELS, SAMPLE_RATE
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


MOUTH_SIGNATURE = "mouth"  # the signature of the web app's mouth.tflite (tflipsync/deploy/mouth.py)


def is_mouth_file(path):
    """Whether `path` is a .tflite with a "mouth" signature (the web app's mouth.tflite); False for
    other .tflite files (the generator's) and for files that are not .tflite."""
    if not str(path).lower().endswith(".tflite") or not os.path.isfile(path):
        return False
    try:
        from ai_edge_litert.interpreter import Interpreter

        return MOUTH_SIGNATURE in Interpreter(model_path=str(path)).get_signature_list()
    except (ValueError, RuntimeError):
        return False


class MouthFilePredictor:
    """Normalised mouth points of video frames from speech, with a mouth.tflite run by LiteRT (no
    TensorFlow): the Predictor interface (predict, mean_shape, description, delay 0).

    The file predicts frames at its own rate (25 fps: frame i at i / 25 s) from at most its pcm
    length of speech (10 s). Other frame rates are sampled from those frames, linearly in time
    (frame i at fps f from 25 fps frame position p = 25 i / f, between frames floor(p) and
    floor(p) + 1); at 25 fps the file's rows are returned unchanged.

    Args:
      path: a .tflite written by `tflipsync export app` (tflipsync/deploy/mouth.py).

    Raises:
      InputError: a missing file, or a .tflite without the "mouth" signature.
    """

    delay = 0

    def __init__(self, path, threads=2):
        from ai_edge_litert.interpreter import Interpreter

        if not os.path.isfile(path):
            raise InputError(path, "no such file")
        try:
            interpreter = Interpreter(model_path=str(path), num_threads=threads)
        except (ValueError, RuntimeError) as err:
            raise InputError(path, f"not a .tflite model: {str(err).splitlines()[0]}") from None
        if MOUTH_SIGNATURE not in interpreter.get_signature_list():
            raise InputError(path, f"no '{MOUTH_SIGNATURE}' signature: not a mouth.tflite of `tflipsync export app`")
        self.path = str(path)
        self._runner = interpreter.get_signature_runner(MOUTH_SIGNATURE)
        self.max_samples = int(self._runner.get_input_details()["pcm"]["shape"][1])
        self.max_frames = int(self._runner.get_output_details()["points"]["shape"][1])
        self.fps = self.max_frames * SAMPLE_RATE / self.max_samples
        self._frame_samples = SAMPLE_RATE // int(round(self.fps))  # samples per frame of the file (640)
        self.mean_shape = self._run(np.zeros(0, np.float32), 1)[0]  # silence gives the mouth at rest
        self.description = f"mouth model {os.path.basename(self.path)} (mel-only articulation model, LiteRT)"

    def _run(self, wav, frames):
        """(frames, K, 2) the file's rows 0 .. frames - 1 for speech `wav` (at most max_samples)."""
        pcm = np.zeros((1, self.max_samples), np.float32)
        pcm[0, :len(wav)] = wav
        points = self._runner(pcm=pcm, samples=np.array([len(wav)], np.int32))["points"]
        return points[0, :frames]

    def predict(self, wav16k, fps, count):
        """float32 (count, K, 2) mouth points of video frames 0 .. count - 1 at `fps` (see the class).

        The file sees the speech as the app gives it: all of `wav16k` (zeros appended where frames
        past its end are asked for).

        Raises:
          InputError: frames past the file's 10 s.
        """
        if count < 0 or fps <= 0:
            raise ValueError(f"count must be >= 0 and fps > 0, got {count}, {fps}")
        if count == 0:
            return np.zeros((0, *self.mean_shape.shape), np.float32)
        position = np.arange(count) * (self.fps / float(fps))  # (count,) frame positions in the file's frames
        needed = int(np.ceil(position[-1])) + 1  # the file's frames 0 .. needed - 1 are read
        if needed > self.max_frames:
            raise InputError(self.path, f"predicts the mouth of at most {self.max_samples / SAMPLE_RATE:g} s of speech "
                                        f"({self.max_frames} frames at {self.fps:g} fps); frame {count - 1} at "
                                        f"{fps:g} fps is at {(count - 1) / fps:.2f} s")
        wav = np.asarray(wav16k, np.float32).reshape(-1)[:self.max_samples]
        wav = np.pad(wav, (0, max(0, needed * self._frame_samples - len(wav))))
        rows = self._run(wav, needed)
        low = np.floor(position).astype(int)
        share = (position - low)[:, None, None]
        high = np.minimum(low + 1, needed - 1)
        return np.where(share == 0, rows[low], (1 - share) * rows[low] + share * rows[high]).astype(np.float32)


def load(weights=None):
    """The landmarks engine's mouth predictor: `predict(wav16k, fps, count)`, `mean_shape`, `description`.

    Args:
      weights: an articulation model (.npz, tflipsync/landmarks/articulation.py), a mouth.tflite
        (`tflipsync export app`, run by LiteRT), a landmark-LSTM .weights.h5 (train.py
        --model=landmarks), or None: the embedded one model.json names as "landmarks_default"
        (the one that scores best on the held-out real clips, docs/real_faces.md).
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
    if str(weights).lower().endswith(".tflite"):
        return MouthFilePredictor(weights)
    return Predictor(weights)
