"""Mel windows for video frames: where each window starts, and the one cutter.

A mel here is (80, T), frequency first, MEL_FPS columns per second; a window is MEL_STEPS = 16
columns (200 ms, five video frames at 25 fps). Every window anywhere in tflipsync is cut by
`cut_windows` (numpy) or `tf_gather_windows` (TensorFlow, usable inside tf.data) from starts that
`window_starts` (or `mel_start`, its scalar form) gives; what differs between uses is only which
frames are asked for and what happens at the ends of the audio:

- `sync_window`: the expert's window at a frame, None where it does not fit (training);
- `frame_windows`: the generator's training windows, one frame before each frame, None where
  they do not fit;
- `output_windows`: one window per output frame at inference (`sync`, `generate`; in
  TensorFlow `tf_output_windows`, the SavedModel's from_pcm), starts clamped into the mel
  (offset -1 by default, the generator's training convention);
- `inference_windows`: the original inference script's chunking (offset 0, last chunk moved
  back to the end), kept as the reference for that convention.
"""

import numpy as np

from tflipsync.conventions import MEL_FPS, MEL_STEPS


def mel_start(frame, fps):
    """First mel column of the 200 ms window starting at 0-based video frame `frame`.

    Exactly the training expression ``int(80.0 * (frame / float(fps)))`` (at 25 fps,
    ``int(3.2 * frame)``); Python's float rounding is part of the convention.
    """
    return int(MEL_FPS * (frame / float(fps)))


def window_starts(frames, fps, offset=0):
    """Vectorised `mel_start(frame + offset, fps)`, equal elementwise to the scalar formula.

    Args:
        frames: int array-like (...), 0-based video frame indices.
        fps: float, video frame rate.
        offset: int, added to every frame before conversion (-1 gives `frame_windows` starts).

    Returns:
        int64 array, the shape of `frames`.
    """
    frames = np.asarray(frames, dtype=np.int64) + int(offset)
    # Same IEEE double operations in the same order as the scalar form; int() truncates to zero.
    return np.trunc(MEL_FPS * (frames.astype(np.float64) / float(fps))).astype(np.int64)


def fits(starts, total):
    """bool, the shape of `starts`: the window at each start lies inside a mel of `total` columns.

    `starts` may be a number, a numpy array or a tensor (the tf.data pipelines' anchor masks).
    """
    return (starts >= 0) & (starts + MEL_STEPS <= total)


def cut_windows(mel, starts):
    """The one window cutter: ``out[k] == mel[:, starts[k]:starts[k] + 16]``.

    Args:
        mel: array (80, T).
        starts: int array-like (...), first column of each window, each in [0, T - 16].

    Returns:
        array (..., 80, 16) of `mel`'s dtype, a contiguous copy.

    Raises:
        ValueError: a start is outside [0, T - 16] (numpy would wrap a negative one silently).
    """
    mel = np.asarray(mel)
    starts = np.asarray(starts, dtype=np.int64)
    inside = fits(starts, mel.shape[1])
    if not inside.all():
        bad = starts[~inside].flat[0]
        raise ValueError(f"a window at mel column {bad} does not fit in {mel.shape[1]} columns")
    index = starts[..., np.newaxis] + np.arange(MEL_STEPS)  # (..., 16)
    return np.ascontiguousarray(np.moveaxis(mel[:, index], 0, -2))  # (80, ..., 16) -> (..., 80, 16)


def sync_window(mel, start_frame, fps):
    """The (80, 16) window covering video frames start_frame .. start_frame + 4 at 25 fps.

    This is the window the sync expert is trained on and the generator's sync loss uses:
    ``mel[:, s:s + 16]`` with ``s = mel_start(start_frame, fps)``.

    Args:
        mel: array (80, T).
        start_frame: int, 0-based index of the first video frame.
        fps: float, video frame rate.

    Returns:
        array (80, 16), or None when the window starts below 0 or runs past T.
    """
    start = mel_start(start_frame, fps)
    return cut_windows(mel, start) if fits(start, mel.shape[1]) else None


def frame_windows(mel, start_frame, fps, count=5):
    """The generator's per-frame training windows for frames start_frame .. start_frame+count-1.

    The original converts the 0-based frame to 1-based and then subtracts 2, so frame
    ``start_frame + k`` gets the window starting at
    ``int(80.0 * ((start_frame + 1 + k - 2) / float(fps)))``: one video frame before the frame.

    Args:
        mel: array (80, T).
        start_frame: int, 0-based index of the first video frame.
        fps: float, video frame rate.
        count: int, number of consecutive frames.

    Returns:
        array (count, 80, 16), or None if any window starts below 0 (so start_frame 0 gives None)
        or runs past T.
    """
    starts = window_starts(start_frame + np.arange(count), fps, offset=-1)
    return cut_windows(mel, starts) if fits(starts, mel.shape[1]).all() else None


def output_windows(mel, count, fps, offset=-1):
    """One window per output frame: frame j's starts at ``mel_start(j + offset, fps)``, clamped.

    Starts before the audio or past its end are clamped to the first or last whole window, and a
    mel shorter than one window is first padded on the right with its minimum (silence), so any
    audio gives `count` windows.

    Args:
        mel: array (80, T), T >= 1.
        count: int, output frames.
        fps: float, output frame rate.
        offset: int, -1 is the training convention (the window starts one frame before the
            frame, as the generator learned it); 0 is the original inference script's.

    Returns:
        float32 array (count, 80, 16).
    """
    mel = np.asarray(mel)
    if mel.shape[1] < MEL_STEPS:
        mel = np.pad(mel, ((0, 0), (0, MEL_STEPS - mel.shape[1])), constant_values=mel.min())
    starts = np.clip(window_starts(np.arange(count), fps, offset), 0, mel.shape[1] - MEL_STEPS)
    return cut_windows(mel, starts).astype(np.float32)


def inference_windows(mel, fps):
    """Windows for every output video frame as the original inference script cuts them.

    Chunk i starts at ``int(i * (80.0 / fps))``. Chunks are taken while start + 16 <= T; the
    first start that would overrun is replaced by one final chunk of the last 16 columns and
    iteration stops. At 25 fps, 801 mel frames (10 s) give 247 chunks.

    Args:
        mel: array (80, T), T >= 16.
        fps: float, video frame rate.

    Returns:
        array (K, 80, 16).

    Raises:
        ValueError: T < 16.
    """
    total = mel.shape[1]
    if total < MEL_STEPS:
        raise ValueError(f"need at least {MEL_STEPS} mel frames, got {total}")
    step = MEL_FPS / fps  # the original's own expression, i * (80 / fps), not mel_start's
    starts = []
    i = 0
    while int(i * step) + MEL_STEPS <= total:
        starts.append(int(i * step))
        i += 1
    starts.append(total - MEL_STEPS)
    return cut_windows(mel, starts)


def tf_gather_windows(mel, starts):
    """`cut_windows` in TensorFlow (usable in tf.data): the same windows at the same starts.

    Args:
        mel: float tensor (80, T).
        starts: int tensor (...), first column of each window; the caller keeps every start
            in [0, T - 16] (e.g. with `fits`), since out-of-range indices are an error on CPU
            and give zeros on GPU.

    Returns:
        tensor (..., 80, 16) with ``out[k] == mel[:, starts[k]:starts[k] + 16]``.
    """
    import tensorflow as tf

    starts = tf.convert_to_tensor(starts, dtype=tf.int32)
    index = starts[..., tf.newaxis] + tf.range(MEL_STEPS, dtype=tf.int32)  # (..., 16)
    # Rows of the time-major mel are whole columns; gathering them is the fast direction.
    windows = tf.gather(tf.transpose(mel), index)  # (..., 16, 80)
    return tf.linalg.matrix_transpose(windows)  # (..., 80, 16)


def tf_window_starts(frames, fps, offset=0):
    """`window_starts` in TensorFlow: the same float64 operations and truncation toward zero.

    Args:
        frames: int tensor (...), 0-based video frame indices.
        fps: float tensor (), video frame rate (cast to float64).
        offset: int, added to every frame before conversion.

    Returns:
        int32 tensor, the shape of `frames`.
    """
    import tensorflow as tf

    frames = tf.cast(tf.cast(frames, tf.int64) + offset, tf.float64)
    return tf.cast(MEL_FPS * (frames / tf.cast(fps, tf.float64)), tf.int32)


def tf_output_windows(mel, count, fps, offset=-1):
    """`output_windows` in TensorFlow: `count` windows at clamped starts, a short mel padded.

    Args:
        mel: float tensor (80, T).
        count: int tensor (), output frames.
        fps: float tensor (), output frame rate.
        offset: int, as in `output_windows`.

    Returns:
        tensor (count, 80, 16).
    """
    import tensorflow as tf

    short = tf.maximum(MEL_STEPS - tf.shape(mel)[1], 0)
    mel = tf.pad(mel, [[0, 0], [0, short]], constant_values=tf.reduce_min(mel))
    starts = tf_window_starts(tf.range(count), fps, offset)
    return tf_gather_windows(mel, tf.clip_by_value(starts, 0, tf.shape(mel)[1] - MEL_STEPS))
