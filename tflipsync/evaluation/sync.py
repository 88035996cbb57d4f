"""Sync figures of one clip (LSE-D / LSE-C style) from the expert's embeddings, and the windows
they are measured on.

Sync figures follow the scores of Wav2Lip's evaluation (reference §5.2), with the lip-sync
expert in place of SyncNet. For every 5-frame video window i (the lower halves) and every audio
offset o in -15..+15 frames, the distance between the window's face embedding and the embedding
of the pair's 16-step mel window at frame i + o is the Euclidean distance of the two
L2-normalised embeddings, sqrt(2 - 2 cos), in [0, sqrt(2)]. Per clip:

- curve[o] = the mean over windows of that distance;
- LSE-D = min over o of curve[o] (lower is better);
- LSE-C = median over o of curve[o] minus LSE-D (higher is better);
- AV offset = -argmin_o curve[o] (syncnet_python's sign, vshift - argmin index), so a real
  video whose audio was moved by `shift` frames has AV offset `shift`;
- D@0 = curve[0], the distance at the pair's own alignment, and sync accuracy = the share of
  windows the expert judges in sync there (cosine > 0.5).

Figures are averaged over clips. Two deliberate differences from syncnet_python: the audio is
not zero padded at the ends; instead every offset is averaged over the same windows, those whose
audio at all 31 offsets exists. And distances are between L2-normalised embeddings, so their scale
is not that of the paper's table. Because the search spans +-15 frames, LSE-D and LSE-C hardly
change when a pair's audio is moved by less than 15 frames (the search finds the moved
alignment); such a pair shows up in its AV offset, D@0 and sync accuracy.
"""

import numpy as np

from tflipsync.audio import windows as audio_windows
from tflipsync.conventions import FACE_SIZE, MEL_STEPS, SYNC_FRAMES

MAX_OFFSET = 15
FACE = FACE_SIZE
HALF = FACE // 2
SYNC_KEYS = ("lse_d", "lse_c", "av_offset", "d_at_0", "sync_accuracy")


def l2_normalize(x):
    """Rows of x (..., C) scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def sync_scores(face_embeddings, audio_embeddings, window_starts, shift=0, max_offset=MAX_OFFSET):
    """LSE-style figures of one clip (see the module docstring).

    Args:
        face_embeddings: (W, C) embeddings of the 5-frame video windows starting at window_starts.
        audio_embeddings: (K, C) embeddings of the clip's mel windows at video frames 0..K-1.
        window_starts: int (W,), first video frame of each window, W >= 1.
        shift: int, the pair's audio at frame i is the clip's audio at frame i + shift.
        max_offset: int, offsets -max_offset..+max_offset are searched.

    Returns:
        dict: "curve" float (2 max_offset + 1,) mean distance per offset, "lse_d", "lse_c",
        "best_offset" (the argmin offset), "av_offset" (= -best_offset), "d_at_0",
        "sync_accuracy", "windows" (W).

    Raises:
        ValueError: no windows, or a window whose audio at some offset is outside 0..K-1.
    """
    starts = np.asarray(window_starts, np.int64)
    face = l2_normalize(face_embeddings)
    audio = l2_normalize(audio_embeddings)
    if starts.size == 0 or face.shape[0] != starts.size:
        raise ValueError(f"need one face embedding per window start, got {face.shape[0]} and {starts.size}")
    offsets = np.arange(-max_offset, max_offset + 1)
    index = starts[:, None] + shift + offsets[None, :]  # (W, O) audio frame per window and offset
    if index.min() < 0 or index.max() >= audio.shape[0]:
        raise ValueError(f"audio frames {index.min()}..{index.max()} needed, only 0..{audio.shape[0] - 1} exist")
    distance = np.linalg.norm(face[:, None, :] - audio[index], axis=-1)  # (W, O)
    curve = distance.mean(axis=0)
    best = int(np.argmin(curve))
    cosine = np.sum(face * audio[starts + shift], axis=-1)  # (W,) the expert's probability at offset 0
    return {"curve": curve, "lse_d": float(curve[best]), "lse_c": float(np.median(curve) - curve[best]),
            "best_offset": int(offsets[best]), "av_offset": int(-offsets[best]),
            "d_at_0": float(curve[max_offset]), "sync_accuracy": float(np.mean(cosine > 0.5)),
            "windows": int(starts.size)}


def audio_frames(mel_starts, mel_steps):
    """K: video frames 0..K-1 have a whole 16-step mel window (mel_starts is non-decreasing)."""
    fits = np.asarray(mel_starts) + MEL_STEPS <= mel_steps
    return int(np.argmin(fits)) if not fits.all() else int(fits.size)


def frame_range(num_frames, num_audio, shift, window_offset=-1):
    """(lo, hi): the frames j whose driving mel window (pair frame j + window_offset) exists."""
    lo = max(0, -(shift + window_offset))
    hi = min(num_frames, num_audio - shift - window_offset)
    return lo, max(lo, hi)


def sync_window_starts(lo, hi, num_audio, shift, max_offset=MAX_OFFSET):
    """Starts i of the windows inside frames lo..hi-1 whose audio exists at every offset."""
    first = max(lo, max_offset - shift)
    last = min(hi - SYNC_FRAMES, num_audio - 1 - max_offset - shift)
    return np.arange(first, last + 1) if last >= first else np.zeros([0], np.int64)


def lower_half_windows(frames, starts):
    """(N, 96, 96, 3) frames -> (W, 48, 96, 15) expert inputs: lower halves of frames
    starts[w]..starts[w]+4 stacked frame-major on channels ([f0 B, G, R, f1 B, G, R, ...])."""
    index = np.asarray(starts)[:, None] + np.arange(SYNC_FRAMES)  # (W, 5)
    lower = np.asarray(frames)[index][:, :, HALF:]  # (W, 5, 48, 96, 3)
    return np.ascontiguousarray(lower.transpose(0, 2, 3, 1, 4)).reshape(len(index), HALF, FACE, 3 * SYNC_FRAMES)


def mel_windows(mel, mel_starts, frames):
    """(len(frames), 80, 16) windows of a time-major (M, 80) mel at the given video frames."""
    return audio_windows.cut_windows(mel.T, np.asarray(mel_starts)[np.asarray(frames, np.int64)]).astype(np.float32)
