"""`mouth.tflite`: speech to mouth shapes, the mel-only articulation model as one TFLite graph.

The web app's landmarks engine runs this file (docs/app_models.md); Python runs it too
(`tflipsync.landmarks.predictor.load("mouth.tflite")`). One signature, "mouth":

- inputs `pcm` float32 (1, MAX_SAMPLES): 16 kHz mono in [-1, 1], the first `samples` values the
  speech (the rest is ignored: the graph zeroes it), and `samples` int32 (1,);
- output `points` float32 (1, MAX_FRAMES, K, 2): the normalised mouth points (the K = 40 points of
  `tflipsync.landmarks.mouth.MOUTH`) of video frames i = 0 .. MAX_FRAMES - 1 at FPS (frame i at
  t = i / FPS s); only the first `frame_count(samples)` rows are meaningful.

The graph computes what `ArticulationPredictor.predict(wav, FPS, frame_count(samples))` computes
for a mel-only model (tflipsync/landmarks/articulation.py), in float32 with builtin ops only:

1. the 40-band log-mel of tflipsync/audio/frames.py: 25 ms Hann windows every 10 ms (the signal
   zero padded by half a window), their 512-point DFT as one constant matrix product over
   160-sample hops (a window is two hops and half of a third), power, mel filters, log;
2. each video frame's mean over its period (`frames.frame_means`), as a 0/1 matrix built from the
   frame's first and last column, clipped at the last column the speech has;
3. minus the mean over the valid frames only (a mask from `samples`);
4. rows i - 6 .. i + 6 gathered, edge-clamped at frame 0 and at the last valid frame;
5. the ridge (feature standardisation and gain folded into its weights), the floor of the gap,
   the amplitude times the modes (zero where the speech is silence: its peak at most
   `articulation.SILENT_PEAK`), plus the mean shape.
"""

import numpy as np

from tflipsync.audio import frames
from tflipsync.conventions import SAMPLE_RATE
from tflipsync.errors import InputError
from tflipsync.landmarks import articulation

SIGNATURE = "mouth"
FPS = 25
MAX_SECONDS = 10
MAX_SAMPLES = MAX_SECONDS * SAMPLE_RATE
MAX_FRAMES = MAX_SECONDS * FPS
MEL_COLUMNS = 1 + MAX_SAMPLES // frames.MEL_HOP  # log-mel columns of MAX_SAMPLES (frames.log_mel)
_HOPS = MEL_COLUMNS + 2  # hops of MEL_HOP samples: window k spans hops k, k + 1 and half of k + 2
_BINS = frames.MEL_FFT // 2 + 1


def frame_count(samples):
    """Video frames at FPS that `samples` samples of 16 kHz speech cover: ceil(samples * FPS / 16000)."""
    return -(-int(samples) * FPS // SAMPLE_RATE)


def _hop_dft():
    """float32 (MEL_HOP, 3 * 2 * _BINS): the windowed 512-point DFT of a window's three hops.

    Block j (columns [2 _BINS j, 2 _BINS (j + 1))) holds, for window sample n = MEL_HOP j + m, the
    cosine then sine terms w[n] cos(2 pi k n / 512), w[n] sin(2 pi k n / 512), k = 0 .. 256; the
    rows of samples past the window (the second half of hop 2) are zero.
    """
    window = frames.MEL_WINDOW
    n = np.arange(3 * frames.MEL_HOP)
    angle = 2.0 * np.pi * np.outer(n, np.arange(_BINS)) / frames.MEL_FFT  # (480, 257)
    hann = np.where(n < window, 0.5 - 0.5 * np.cos(2.0 * np.pi * n / window), 0.0)[:, None]
    rows = np.concatenate([hann * np.cos(angle), hann * np.sin(angle)], axis=1)  # (480, 514)
    return np.concatenate(list(rows.reshape(3, frames.MEL_HOP, 2 * _BINS)), axis=1).astype(np.float32)


def _frame_columns():
    """int32 (MAX_FRAMES,) first and stop log-mel columns of each frame's period before clipping
    (the formula of `frames.frame_means` at 100 columns per second)."""
    rate = SAMPLE_RATE / frames.MEL_HOP
    centre = np.arange(MAX_FRAMES) / float(FPS)
    first = np.ceil((centre - 0.5 / FPS) * rate - 1e-9).astype(np.int64)
    stop = np.ceil((centre + 0.5 / FPS) * rate - 1e-9).astype(np.int64)
    return np.maximum(first, 0).astype(np.int32), stop.astype(np.int32)


def mouth_module(model):
    """A tf.Module whose `mouth` function runs a mel-only ArticulationModel (see the module docstring).

    Raises:
      ValueError: the model reads other inputs than the log-mel.
    """
    import tensorflow as tf

    if model.inputs != "mel":
        raise ValueError(f"mouth.tflite needs a mel-only articulation model, this one reads {model.inputs}")
    context = 2 * articulation.CONTEXT + 1
    bands = frames.MEL_BANDS
    # standardisation and gain folded into the ridge: excursions = rows @ kernel + offset
    kernel = model.weights / model.std[:, None] * model.gain  # (13 * 40, 2)
    offset = (model.bias - (model.mean / model.std) @ model.weights) * model.gain  # (2,)
    motion = model.amplitude[:, None] * model.modes  # (2, K * 2)
    points = model.mean_shape.shape[0]
    first_column, stop_column = (tf.constant(c) for c in _frame_columns())
    hop_dft = tf.constant(_hop_dft())
    filters = tf.constant(frames.mel_filters().T.astype(np.float32))  # (257, 40)
    column_index = tf.range(MEL_COLUMNS, dtype=tf.int32)
    frame_index = tf.range(MAX_FRAMES, dtype=tf.int32)
    offsets = tf.constant(np.arange(-articulation.CONTEXT, articulation.CONTEXT + 1, dtype=np.int32))
    width = 2 * _BINS
    hop_start = tf.range(0, MAX_SAMPLES, frames.MEL_HOP, dtype=tf.int32)
    hop_offset = tf.range(frames.MEL_HOP, dtype=tf.int32)

    def mouth(pcm, samples):
        count = tf.clip_by_value(samples[0], 0, MAX_SAMPLES)
        # samples at or past `count` zeroed, compared per hop and offset (a (S,) index constant
        # would be folded into the file: 640 KB)
        kept = hop_start[:, None] < count - hop_offset[None]  # (1000, 160)
        speech = tf.reshape(tf.reshape(pcm, [-1, frames.MEL_HOP]) * tf.cast(kept, tf.float32), [MAX_SAMPLES])
        half = frames.MEL_WINDOW // 2
        padded = tf.pad(speech, [[half, _HOPS * frames.MEL_HOP - MAX_SAMPLES - half]])  # (_HOPS * 160,)
        hops = tf.reshape(padded, [_HOPS, frames.MEL_HOP])  # (1003, 160)
        parts = tf.matmul(hops, hop_dft)  # (1003, 3 * 514)
        spectrum = (parts[0:MEL_COLUMNS, 0:width] + parts[1:MEL_COLUMNS + 1, width:2 * width]
                    + parts[2:MEL_COLUMNS + 2, 2 * width:3 * width])  # (1001, 514)
        real, imag = spectrum[:, :_BINS], spectrum[:, _BINS:]
        log_mel = tf.math.log(tf.maximum(tf.matmul(real * real + imag * imag, filters),
                                         frames.LOG_FLOOR))  # (1001, 40)
        # frame means over the columns the speech has (frames.frame_means' clipping)
        columns = 1 + count // frames.MEL_HOP
        first = tf.minimum(first_column, columns - 1)
        stop = tf.minimum(tf.maximum(stop_column, first + 1), columns)
        inside = tf.logical_and(column_index[None] >= first[:, None], column_index[None] < stop[:, None])
        share = tf.cast(inside, tf.float32) / tf.cast(stop - first, tf.float32)[:, None]  # (250, 1001)
        mel = tf.matmul(share, log_mel)  # (250, 40)
        valid = (count * FPS + SAMPLE_RATE - 1) // SAMPLE_RATE  # frame_count
        mask = tf.cast(frame_index < valid, tf.float32)[:, None]  # (250, 1)
        mel -= tf.reduce_sum(mel * mask, axis=0) / tf.cast(tf.maximum(valid, 1), tf.float32)
        neighbours = tf.clip_by_value(frame_index[:, None] + offsets[None], 0, tf.maximum(valid, 1) - 1)  # (250, 13)
        rows = tf.reshape(tf.gather(mel, neighbours), [MAX_FRAMES, context * bands])  # (250, 520)
        excursions = tf.matmul(rows, tf.constant(kernel.astype(np.float32))) + offset.astype(np.float32)  # (250, 2)
        excursions = tf.concat([tf.maximum(excursions[:, :1], articulation.FLOOR), excursions[:, 1:]], axis=1)
        flat = tf.matmul(excursions, tf.constant(motion.astype(np.float32)))  # (250, K * 2)
        flat *= tf.cast(tf.reduce_max(tf.abs(speech)) > articulation.SILENT_PEAK, tf.float32)  # silence: rest
        shape = tf.constant(model.mean_shape.reshape(1, 1, points, 2).astype(np.float32))
        return {"points": tf.reshape(flat, [1, MAX_FRAMES, points, 2]) + shape}

    module = tf.Module()
    module.mouth = tf.function(mouth, input_signature=[
        tf.TensorSpec([1, MAX_SAMPLES], tf.float32, name="pcm"),
        tf.TensorSpec([1], tf.int32, name="samples")])
    return module


def convert(model):
    """The mouth.tflite bytes of a mel-only ArticulationModel (builtin ops only: a graph that would
    need TensorFlow ops fails to convert)."""
    from tflipsync.deploy import runtime, tflite

    module = mouth_module(model)
    with runtime.quiet_warnings(), tflite.saved_model_converter(module, {SIGNATURE: module.mouth}) as converter:
        return converter.convert()


def load_model(path=None):
    """The mel-only ArticulationModel at `path` (None: the embedded one, model.json's articulation_mel).

    Raises:
      InputError: a missing file, not an articulation model, or one that reads phones.
    """
    import os

    from tflipsync.weights import bundled

    path = path or bundled.weights_path("articulation_mel")
    if not os.path.isfile(path):
        raise InputError(path, "no such file")
    try:
        model = articulation.ArticulationModel.load(path)
    except (ValueError, OSError, KeyError) as err:
        raise InputError(path, f"not an articulation model: {err}") from None
    if model.inputs != "mel":
        raise InputError(path, f"the app needs a mel-only articulation model (tools/train_articulation.py "
                               f"--inputs=mel); this one reads {model.inputs}")
    return model
