"""The time-delayed landmark LSTM: mel steps in, PCA coefficients of the mouth out.

Suwajanakorn et al. (Synthesizing Obama, 2017) map audio to mouth shape with a unidirectional LSTM
whose output is delayed by d steps: the output at step t is the mouth of step t - d, so each
prediction has seen d steps of the future before it is made, at d steps of latency. The seed
report (section 3.2) argues that this matches a bidirectional LSTM at a fraction of the cost;
`build_bidirectional_lstm` is the baseline that claim is measured against (docs/landmarks.md).

Both networks take a sequence of normalised mel columns (B, T, 80), one step per column (80 steps
per second, 12.5 ms; see `tflipsync.landmarks`), and return a dict:

    coefficients  (B, T, pca_dims)  PCA coefficients of the mouth motion: what training fits
                                    (L2, Adam);
    points        (B, T, K, 2)      the canonical rest mouth plus the reconstructed motion.

The motion is the normalised mouth minus the speaker's mouth at rest (`tflipsync.data.landmarks`).
Its PCA basis, fitted on the training split, and the canonical rest mouth live in the network as
non-trainable weights of the `MouthBasis` layer, so they are saved, checkpointed and loaded with
the weights and a model is never separated from its basis.

Time delay. The delayed network is causal: its output at step t depends on mel steps 0..t only
and estimates the mouth of step t - delay. `shift_targets` aligns targets with outputs for the
loss; at inference the caller feeds `delay` steps of silence after the audio and drops the first
`delay` outputs (`tflipsync.landmarks.predictor.Predictor`, the streaming form in
`tflipsync.deploy.landmarks`). The bidirectional network has no delay: output t is the mouth of
step t, from the whole sequence.
"""

import keras
from keras import layers, ops
from tflipsync.conventions import N_MELS

MEL_BINS = N_MELS
MOUTH_POINTS = 40


@keras.saving.register_keras_serializable(package="tflipsync")
class MouthBasis(layers.Layer):
    """Coefficients (..., P) -> mouth points (..., K, 2) = rest + motion, where the motion is the
    PCA reconstruction mean + coefficients @ components.

    `rest` (K * 2,) is the canonical mouth at rest (the mean of the training clips' rest mouths),
    `mean` (K * 2,) and `components` (P, K * 2) the PCA basis of the motion: non-trainable
    weights, set once (`set_basis`) and saved with the network.
    """

    def __init__(self, points=MOUTH_POINTS, pca_dims=8, **kwargs):
        super().__init__(**kwargs)
        self.points = points
        self.pca_dims = pca_dims

    def build(self, input_shape):
        size = self.points * 2
        self.rest = self.add_weight(shape=(size,), initializer="zeros", trainable=False, name="rest")
        self.mean = self.add_weight(shape=(size,), initializer="zeros", trainable=False, name="mean")
        self.components = self.add_weight(shape=(self.pca_dims, size), initializer="zeros",
                                          trainable=False, name="components")

    def motion(self, coefficients):
        """(..., P) -> flat motion (..., K * 2)."""
        flat = ops.matmul(coefficients, ops.cast(self.components, coefficients.dtype))
        return flat + ops.cast(self.mean, coefficients.dtype)

    def project(self, motion):
        """Flat motion (..., K * 2) -> coefficients (..., P)."""
        return ops.matmul(motion - self.mean, ops.transpose(self.components))

    def call(self, coefficients):
        flat = self.motion(coefficients) + ops.cast(self.rest, coefficients.dtype)
        return ops.reshape(flat, (*ops.shape(coefficients)[:-1], self.points, 2))  # (..., K, 2)

    def set_basis(self, basis, rest):
        """Copies a motion `tflipsync.landmarks.mouth.PCABasis` and a rest mouth (K, 2) into the weights."""
        self.rest.assign(rest.reshape(-1))
        self.mean.assign(basis.mean.reshape(-1))
        self.components.assign(basis.components)

    def get_config(self):
        return {**super().get_config(), "points": self.points, "pca_dims": self.pca_dims}


@keras.saving.register_keras_serializable(package="tflipsync")
class LandmarkLSTM(keras.Model):
    """A one-layer LSTM from mel steps to mouth PCA coefficients (see the module docstring).

    Args:
      delay: steps between an input and the output that estimates its mouth (0: none); must be
        0 when `bidirectional`.
      units: LSTM cell size (per direction when bidirectional).
      pca_dims: PCA coefficients predicted.
      points: mouth points K (`tflipsync.landmarks.mouth.MOUTH`).
      bidirectional: a bidirectional LSTM (the baseline) instead of the causal one.
    """

    def __init__(self, delay=16, units=60, pca_dims=8, points=MOUTH_POINTS, bidirectional=False,
                 name="landmark_lstm", **kwargs):
        if delay < 0 or (bidirectional and delay):
            raise ValueError(f"delay must be >= 0 (and 0 when bidirectional), got {delay}")
        mel = keras.Input((None, MEL_BINS), name="mel")
        recurrent = layers.LSTM(units, return_sequences=True, name="lstm")
        if bidirectional:
            recurrent = layers.Bidirectional(recurrent, name="bidirectional")
        hidden = recurrent(mel)  # (B, T, units) or (B, T, 2 * units)
        coefficients = layers.Dense(pca_dims, name="coefficients")(hidden)
        points_out = MouthBasis(points, pca_dims, name="basis")(coefficients)
        super().__init__(inputs=mel, outputs={"coefficients": coefficients, "points": points_out},
                         name=name, **kwargs)
        self.delay = delay
        self.units = units
        self.pca_dims = pca_dims
        self.points = points
        self.bidirectional = bidirectional

    @property
    def basis(self):
        return self.get_layer("basis")

    def get_config(self):
        return {"delay": self.delay, "units": self.units, "pca_dims": self.pca_dims,
                "points": self.points, "bidirectional": self.bidirectional, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_landmark_lstm(delay=16, units=60, pca_dims=8, points=MOUTH_POINTS):
    """The time-delayed unidirectional LSTM (defaults: the Obama work's 60 units, 200 ms delay)."""
    return LandmarkLSTM(delay=delay, units=units, pca_dims=pca_dims, points=points)


def build_bidirectional_lstm(units=36, pca_dims=8, points=MOUTH_POINTS):
    """The bidirectional baseline; 36 units per direction has about the parameters of a 60-unit
    unidirectional LSTM (2 x 4 x 36 x (80 + 36 + 1) = 33,696 against 4 x 60 x 141 = 33,840)."""
    return LandmarkLSTM(delay=0, units=units, pca_dims=pca_dims, points=points, bidirectional=True)


def shift_targets(outputs, targets, weights, delay):
    """Pairs each output with the target it estimates: output t with target t - delay.

    Args:
      outputs: (B, T, ...) network outputs.
      targets: (B, T, ...) targets of the same steps as the inputs.
      weights: (B, T) 1 where a target is valid.
      delay: int, the network's delay.

    Returns:
      (outputs[:, delay:], targets[:, :T - delay], weights[:, :T - delay]).
    """
    if delay == 0:
        return outputs, targets, weights
    return outputs[:, delay:], targets[:, :-delay], weights[:, :-delay]
