"""Losses of the three recipes, per example, so that the loop can average over the global batch.

All functions return per-example float32 tensors; `tf.nn.compute_average_loss` (in the tasks)
divides by the global batch size, which is what keeps multi-replica training equal to one device.
"""

import tensorflow as tf

from tflipsync.models.expert import SYNC_FRAMES

LOG_FLOOR = -100.0  # PyTorch's BCELoss clamps log(p) at -100, so a probability of 0 stays finite
TINY = 1e-30  # below this a log is taken as LOG_FLOOR; float32 cannot hold exp(-100)'s gradient


def _safe_log(x):
    """log(x) for x in [0, 1] with PyTorch's floor at 0, and a finite gradient everywhere.

    `maximum(log(x), -100)` has the right value but a NaN gradient at x = 0 (0 * 1/0), which a
    cosine of exactly 0 or 1 reaches (an all-zero ReLU embedding, or two equal embeddings). For
    0 < x < 1e-30 this gives log(1e-30) = -69 where PyTorch gives log(x) >= -100.
    """
    small = x <= TINY  # False for NaN, so that a NaN input stays NaN (and stops the run)
    return tf.where(small, LOG_FLOOR, tf.math.log(tf.where(small, TINY, x)))


def binary_cross_entropy(probability, target):
    """BCE of probabilities against 0/1 targets, PyTorch BCELoss semantics. (B,) -> (B,).

    The probability is clipped to [0, 1] first: a cosine of unit vectors can exceed 1 by a
    rounding error, and log(1 - p) would then be NaN. A NaN probability gives a NaN loss.
    """
    probability = tf.cast(probability, tf.float32)
    # comparisons, not clip_by_value, so that NaN passes through
    probability = tf.where(probability > 1.0, 1.0, tf.where(probability < 0.0, 0.0, probability))
    target = tf.cast(target, tf.float32)
    return -(target * _safe_log(probability) + (1.0 - target) * _safe_log(1.0 - probability))


def cosine(audio_embedding, face_embedding):
    """Cosine of L2-normalised embeddings: the expert's in-sync probability. (B, C) -> (B,)."""
    return tf.reduce_sum(tf.cast(audio_embedding, tf.float32) * tf.cast(face_embedding, tf.float32),
                         axis=-1)


def sync_loss(expert, mel, lower_faces, target, training):
    """Expert BCE on the cosine; returns (per-example loss (B,), probability (B,))."""
    audio_embedding, face_embedding = expert([mel, lower_faces], training=training)
    probability = cosine(audio_embedding, face_embedding)
    return binary_cross_entropy(probability, target), probability


def lower_half_stack(frames):
    """(B, 5, 96, 96, 3) generated or true frames -> (B, 48, 96, 15) expert input, frame-major."""
    lower = frames[:, :, frames.shape[2] // 2:]  # (B, 5, 48, 96, 3)
    lower = tf.transpose(lower, [0, 2, 3, 1, 4])  # (B, 48, 96, 5, 3)
    return tf.reshape(lower, [-1, lower.shape[1], lower.shape[2], 3 * SYNC_FRAMES])


def l1(generated, target):
    """Mean absolute error per example over frames, pixels and channels. (B, ...) -> (B,)."""
    difference = tf.abs(tf.cast(generated, tf.float32) - tf.cast(target, tf.float32))
    return tf.reduce_mean(tf.reshape(difference, [tf.shape(difference)[0], -1]), axis=1)
