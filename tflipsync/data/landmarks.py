"""The landmark LSTM's training pipeline: sequences of mel steps and normalised mouth points.

A sample is a crop of `sequence_steps` consecutive steps (one mel column each, 80 per second,
see `tflipsync.landmarks`) of one clip with, for every step, the mouth motion: the mouth points
of the frames around its time, normalised (`tflipsync.landmarks.mouth.normalise`) and interpolated
linearly to the step's time, minus the clip's mouth at rest (the mean mouth of its quietest
steps), and a weight: 1 where the step lies between two frames with a face, 0 elsewhere.
Predicting motion rather than the mouth itself leaves out what audio cannot tell: the speaker's
own mouth shape and how the face is posed. Clips shorter than a crop are padded with silence and
weight 0. Reading, shuffling, sharding and determinism are those of the expert and generator
pipelines (`sampling.build`); the PCA basis is not applied here: the network holds it
(`tflipsync.models.landmarks.MouthBasis`).
"""

import numpy as np
import tensorflow as tf

from tflipsync.landmarks import mouth as mouth_points
from tflipsync.data import records, sampling


def normalise_mouth(mesh):
    """TensorFlow form of `tflipsync.landmarks.mouth.normalise` (points only): (..., 468, 2 or 3) ->
    float32 (..., K, 2)."""
    mesh = tf.cast(mesh[..., :2], tf.float32)
    right = tf.reduce_mean(tf.gather(mesh, mouth_points.RIGHT_EYE, axis=-2), axis=-2)
    left = tf.reduce_mean(tf.gather(mesh, mouth_points.LEFT_EYE, axis=-2), axis=-2)
    origin = (right + left) / 2
    axis = left - right  # (..., 2)
    scale2 = tf.reduce_sum(axis * axis, axis=-1)[..., tf.newaxis]  # (..., 1)
    d = tf.gather(mesh, mouth_points.MOUTH, axis=-2) - origin[..., tf.newaxis, :]  # (..., K, 2)
    a, b = axis[..., tf.newaxis, 0], axis[..., tf.newaxis, 1]
    points = tf.stack([a * d[..., 0] + b * d[..., 1], -b * d[..., 0] + a * d[..., 1]], axis=-1)
    return points / scale2[..., tf.newaxis]


def frames_to_steps(points, times, valid, steps):
    """TensorFlow form of `tflipsync.landmarks.mouth.frames_to_steps`: points (N, K, 2), times (N,),
    valid bool (N,), steps M -> (float32 (M, K, 2), float32 (M,) weights)."""
    times = tf.cast(times, tf.float64)
    last = tf.shape(times)[0] - 1
    t = tf.cast(tf.range(steps), tf.float64) / mouth_points.STEP_RATE
    upper = tf.clip_by_value(tf.searchsorted(times, t, side="left"), 0, last)
    lower = tf.clip_by_value(upper - 1, 0, last)
    exact = tf.abs(tf.gather(times, upper) - t) <= 1e-9
    lower = tf.where(exact, upper, lower)
    t_low, t_high = tf.gather(times, lower), tf.gather(times, upper)
    span = t_high - t_low
    w = tf.where(span > 0, (t - t_low) / tf.where(span > 0, span, 1.0), 0.0)
    inside = (t >= times[0] - 1e-9) & (t <= times[last] + 1e-9)
    ok = inside & tf.gather(valid, lower) & tf.gather(valid, upper)
    clean = tf.where(valid[:, tf.newaxis, tf.newaxis], points, 0.0)
    w = tf.cast(w, tf.float32)[:, tf.newaxis, tf.newaxis]
    out = tf.gather(clean, lower) * (1 - w) + tf.gather(clean, upper) * w
    return tf.where(ok[:, tf.newaxis, tf.newaxis], out, 0.0), tf.cast(ok, tf.float32)


def rest_mouth(points, weight, loudness, share=mouth_points.REST_SHARE):
    """TensorFlow form of `tflipsync.landmarks.mouth.rest_mouth`: points (M, K, 2), weight (M,),
    loudness (M,) -> (K, 2), zeros when no step is valid."""
    valid = weight > 0
    count = tf.reduce_sum(tf.cast(valid, tf.int32))
    keep = tf.maximum(1, tf.cast(tf.math.ceil(share * tf.cast(count, tf.float32)), tf.int32))
    # invalid steps sort last; ties (silence at the noise floor) keep their time order
    key = tf.where(valid, tf.cast(loudness, tf.float32), np.inf)
    order = tf.argsort(key, stable=True)[:keep]
    chosen = tf.gather(weight, order)[:, tf.newaxis, tf.newaxis]
    total = tf.reduce_sum(chosen * tf.gather(points, order), axis=0)
    return total / tf.maximum(tf.reduce_sum(chosen), 1.0)


def clip_steps(clip):
    """The whole clip at step rate.

    Returns:
        dict: "mel" (M, 80); "points" (M, K, 2) normalised mouth points; "weight" (M,) 1 where
        valid; "rest" (K, 2) the clip's mouth at rest (`rest_mouth`); "motion" (M, K, 2) =
        points - rest, zeros where not valid.
    """
    valid = clip["present"] & tf.reduce_all(tf.math.is_finite(clip["landmarks"]), axis=[1, 2])
    mesh = tf.where(valid[:, tf.newaxis, tf.newaxis], clip["landmarks"], 0.0)
    points = tf.where(valid[:, tf.newaxis, tf.newaxis], normalise_mouth(mesh), 0.0)
    steps = tf.shape(clip["mel"])[0]
    points, weight = frames_to_steps(points, clip["times"], valid, steps)
    rest = rest_mouth(points, weight, tf.reduce_mean(clip["mel"], axis=1))
    motion = (points - rest) * weight[:, tf.newaxis, tf.newaxis]
    return {"mel": clip["mel"], "points": points, "weight": weight, "rest": rest, "motion": motion}


def sample_sequences(clip, key, samples, sequence_steps):
    """`samples` crops of `sequence_steps` steps from one clip, starts uniform over the clip.

    Returns:
        dict: "mel" float32 (S, T, 80), "motion" float32 (S, T, K, 2) (see `clip_steps`),
        "weight" float32 (S, T).
    """
    steps = clip_steps(clip)
    mel, motion, weight = steps["mel"], steps["motion"], steps["weight"]
    short = tf.maximum(sequence_steps - tf.shape(mel)[0], 0)
    mel = tf.pad(mel, [[0, short], [0, 0]], constant_values=mouth_points.SILENCE)
    motion = tf.pad(motion, [[0, short], [0, 0], [0, 0]])
    weight = tf.pad(weight, [[0, short]])
    room = tf.shape(mel)[0] - sequence_steps + 1
    uniform = tf.random.stateless_uniform([samples], key)
    starts = tf.minimum(tf.cast(uniform * tf.cast(room, tf.float32), tf.int32), room - 1)
    index = starts[:, tf.newaxis] + tf.range(sequence_steps)  # (S, T)
    return {"mel": tf.gather(mel, index), "motion": tf.gather(motion, index),
            "weight": tf.gather(weight, index)}


def landmark_dataset(data_dir, batch_size, filelist=None, seed=0, input_context=None,
                     sequence_steps=128, samples_per_clip=8, shuffle_buffer=256, repeat=True):
    """Batches of step sequences for training the landmark LSTM, read from packed clip records.

    Args:
        sequence_steps: T, steps per sample (128: 1.6 s).
        The rest as in `tflipsync.data.expert.expert_dataset` (`batch_size` is global).

    Returns:
        tf.data.Dataset of dicts with static shapes: "mel" float32 (B, T, 80) normalised mel
        columns, "motion" float32 (B, T, K, 2) normalised mouth points at the steps' times minus
        the clip's mouth at rest, "weight" float32 (B, T) 1 where the motion is valid. The last
        incomplete batch is dropped.

    Raises:
        ValueError: bad arguments, no clip records, missing records, or fewer clip files than
            input pipelines.
    """
    if sequence_steps < 1:
        raise ValueError(f"sequence_steps must be positive, got {sequence_steps}")
    return sampling.build(
        data_dir, filelist, input_context, seed, repeat, batch_size, samples_per_clip,
        shuffle_buffer, lambda clip: tf.ones_like(clip["present"]),
        lambda clip, key: sample_sequences(clip, key, samples_per_clip, sequence_steps),
        lambda batch: batch, landmarks=True)


def clip_arrays(path):
    """One clip record at step rate, in numpy: the dict of `clip_steps`."""
    serialized = next(iter(tf.data.TFRecordDataset(path)))
    steps = clip_steps(records.parse_clip(serialized, landmarks=True))
    return {name: value.numpy() for name, value in steps.items()}


def fit_basis(data_dir, filelist, dims):
    """The mouth-motion PCA basis and the mean rest mouth of a split's clips.

    Returns:
        (`tflipsync.landmarks.mouth.PCABasis` of the valid steps' motions, float32 (K, 2) the mean of
        the clips' rest mouths: the canonical rest that predicted motions are added to).
    """
    motions, rests = [], []
    for path in records.list_clips(data_dir, filelist):
        steps = clip_arrays(path)
        valid = steps["weight"] > 0
        if valid.any():
            motions.append(steps["motion"][valid])
            rests.append(steps["rest"])
    if not motions:
        raise ValueError(f"{filelist or data_dir}: no clip with a face")
    return mouth_points.PCABasis.fit(np.concatenate(motions), dims), np.mean(rests, axis=0)
