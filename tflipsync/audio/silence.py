"""Which output frames of a speech track are silent (`sync --silence`)."""

import numpy as np

from tflipsync.conventions import SAMPLE_RATE


def frame_silence(wav, count, fps, drop_db=40.0, floor_db=-60.0, min_frames=8):
    """Which of `count` output frames are silent.

    A frame is silent when the RMS of the audio within half a frame around its interval is more
    than `drop_db` below the loudest frame's or below `floor_db` dBFS; silent runs shorter than
    `min_frames` count as speech (pauses between words keep the mouth moving).

    Args:
        wav: float32 (samples,) at SAMPLE_RATE.
        count: output frames.
        fps: output frame rate.

    Returns:
        bool (count,).
    """
    rate = SAMPLE_RATE
    edges = (np.arange(count + 1) / fps * rate).astype(np.int64)
    half = int(rate / fps / 2)
    level = np.empty(count)
    for j in range(count):
        part = wav[max(0, edges[j] - half):edges[j + 1] + half]
        level[j] = 10 * np.log10(np.mean(part.astype(np.float64) ** 2) + 1e-12) if part.size else -120.0
    silent = (level < level.max() - drop_db) | (level < floor_db)
    out = silent.copy()
    j = 0
    while j < count:
        if silent[j]:
            k = j
            while k < count and silent[k]:
                k += 1
            if k - j < min_frames and not (j == 0 or k == count):
                out[j:k] = False
            j = k
        else:
            j += 1
    return out

