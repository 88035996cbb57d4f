"""The generator's training pipeline (wav2lip_train.py's sampling, read from records).

A sample is the 5-frame target window at an anchor start i, its copy with rows 48..95 (the mouth)
zeroed, a reference window at another face window j != i of the same clip (windows may overlap),
the per-frame mel windows and the sync window. As in the original, frame i+k gets the mel
window starting one video frame earlier, at mel_starts[i+k-1], so i = 0 is never an anchor; the
sync window is at mel_starts[i].
"""

import tensorflow as tf

from tflipsync.audio import windows as audio_windows
from tflipsync.data import sampling


def generator_anchors(clip):
    """bool (N,): starts i >= 1 whose per-frame windows (frames i-1..i+3) and sync window fit."""
    fits = audio_windows.fits(clip["mel_starts"], tf.shape(clip["mel"])[0])
    previous_fits = tf.concat([[False], fits[:-1]], axis=0)  # previous_fits[f] = fits[f - 1]
    return sampling.windows_all(previous_fits) & fits


def sample_generator(clip, key, samples):
    """`samples` generator samples from one clip, images still uint8.

    Returns:
        dict: "target" uint8 (S, 5, 96, 96, 3), "reference" uint8 (S, 5, 96, 96, 3), "mels"
        float32 (S, 5, 80, 16, 1), "sync_mel" float32 (S, 80, 16, 1).
    """
    anchor_key, reference_key = tf.unstack(tf.random.experimental.stateless_split(key, 2))
    anchors = sampling.draw_anchors(clip, samples, anchor_key)
    references, _ = sampling.draw(sampling.other_windows(clip, anchors), reference_key)
    frames_before = anchors[:, tf.newaxis] - 1 + tf.range(sampling.WINDOW)  # (S, 5)
    return {
        "target": sampling.gather_frames(clip["frames"], anchors),
        "reference": sampling.gather_frames(clip["frames"], references),
        "mels": sampling.gather_mel(clip["mel"], tf.gather(clip["mel_starts"], frames_before)),
        "sync_mel": sampling.gather_mel(clip["mel"], tf.gather(clip["mel_starts"], anchors)),
    }


def mask_lower_half(window):
    """(..., 96, 96, 3) frames with rows 48..95 set to zero (what the generator must paint)."""
    keep = tf.concat([tf.ones([sampling.HALF], window.dtype),
                      tf.zeros([window.shape[-3] - sampling.HALF], window.dtype)], axis=0)
    return window * keep[:, tf.newaxis, tf.newaxis]


def finish_generator(batch):
    """The batch as the generator takes it: images to float32 in [0, 1], inputs stacked."""
    face = tf.concat([mask_lower_half(batch["target"]), batch["reference"]], axis=-1)
    return {"face": sampling.to_unit(face), "mels": batch["mels"],
            "sync_mel": batch["sync_mel"], "target": sampling.to_unit(batch["target"])}


def generator_dataset(data_dir, batch_size, filelist=None, seed=0, input_context=None,
                      samples_per_clip=16, shuffle_buffer=512, repeat=True):
    """Batches for training the generator, read from packed clip records.

    Reading, sampling, shuffling, sharding and determinism are as in `expert_dataset`; see there
    for the arguments (`batch_size` is the global batch size, divided per replica with an
    input context).

    Returns:
        tf.data.Dataset of dicts with static shapes, images BGR float32 in [0, 1]:
        "face" (B, 5, 96, 96, 6) the target with rows 48..95 zeroed then the reference window on
        channels; "mels" (B, 5, 80, 16, 1) the per-frame windows (frame i+k's starts at
        mel_starts[i+k-1]); "sync_mel" (B, 80, 16, 1) at mel_starts[i]; "target"
        (B, 5, 96, 96, 3) the unmasked target frames. The last incomplete batch is dropped.

    Raises:
        ValueError: bad arguments, no clip records, missing records, or fewer clip files than
            input pipelines.
    """
    return sampling.build(
        data_dir, filelist, input_context, seed, repeat, batch_size, samples_per_clip,
        shuffle_buffer, generator_anchors,
        lambda clip, key: sample_generator(clip, key, samples_per_clip), finish_generator)
