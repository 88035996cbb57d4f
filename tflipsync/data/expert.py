"""The lip-sync expert's training pipeline (color_syncnet_train.py's sampling, read from records).

A sample pairs the mel window of an anchor start i with a 5-frame lower-face window: the frames
starting at i (positive, label 1, probability 0.5) or at another face window j != i of the same
clip (negative, label 0). Negatives are uniform over the clip's other face windows as in the
original or, with probability `hard_negative_prob`, "hard": a face window at a distance
d in [min, max] of `hard_negative_offsets` frames from i (uniform over those that exist; a
uniform negative where none does).
"""

import tensorflow as tf

from tflipsync.audio import windows as audio_windows
from tflipsync.data import sampling


def expert_anchors(clip):
    """bool (N,): starts whose sync window mel_starts[i] .. +16 lies inside the mel."""
    return audio_windows.fits(clip["mel_starts"], tf.shape(clip["mel"])[0])


def draw_expert_windows(clip, samples, key, hard_negative_prob, hard_negative_offsets):
    """Anchors, face-window starts and labels for `samples` samples of one clip.

    Args:
        clip: dict from `sampling.with_windows` (a usable clip).
        samples: int, S.
        key: int (2,) stateless key.
        hard_negative_prob: float, share of negatives drawn near the anchor.
        hard_negative_offsets: (min, max) frame distance of a hard negative.

    Returns:
        (anchors int32 (S,), face_starts int32 (S,), labels float32 (S,)).
    """
    anchor_key, uniform_key, near_key, coin_key = tf.unstack(
        tf.random.experimental.stateless_split(key, 4))
    anchors = sampling.draw_anchors(clip, samples, anchor_key)
    others = sampling.other_windows(clip, anchors)  # (S, N)
    positions = tf.range(tf.shape(others)[1])
    distance = tf.abs(positions[tf.newaxis] - anchors[:, tf.newaxis])  # (S, N)
    near_mask = others & (distance >= hard_negative_offsets[0]) & (
        distance <= hard_negative_offsets[1])
    uniform, _ = sampling.draw(others, uniform_key)
    near, has_near = sampling.draw(near_mask, near_key)
    coins = tf.random.stateless_uniform([samples, 2], coin_key)
    positive = coins[:, 0] < 0.5
    hard = (coins[:, 1] < hard_negative_prob) & has_near
    face_starts = tf.where(positive, anchors, tf.where(hard, near, uniform))
    return anchors, face_starts, tf.cast(positive, tf.float32)


def sample_expert(clip, key, samples, hard_negative_prob, hard_negative_offsets):
    """`samples` expert samples from one clip, faces still uint8.

    Returns:
        dict: "mel" float32 (S, 80, 16, 1) at the anchors, "face" uint8 (S, 48, 96, 15) the lower
        halves of the 5 frames stacked frame-major on channels, "label" float32 (S,).
    """
    anchors, face_starts, labels = draw_expert_windows(
        clip, samples, key, hard_negative_prob, hard_negative_offsets)
    halves = sampling.gather_frames(clip["frames"], face_starts, lower_half=True)  # (S,5,48,96,3)
    face = tf.reshape(tf.transpose(halves, [0, 2, 3, 1, 4]),  # (S, 48, 96, 5, 3)
                      [samples, sampling.HALF, 96, 3 * sampling.WINDOW])  # (S, 48, 96, 15)
    mel = sampling.gather_mel(clip["mel"], tf.gather(clip["mel_starts"], anchors))
    return {"mel": mel, "face": face, "label": labels}


def finish_expert(batch):
    """The batch as the expert takes it: faces to float32 in [0, 1]."""
    return {"mel": batch["mel"], "face": sampling.to_unit(batch["face"]), "label": batch["label"]}


def expert_dataset(data_dir, batch_size, filelist=None, seed=0, input_context=None,
                   hard_negative_prob=0.0, hard_negative_offsets=(2, 10), samples_per_clip=16,
                   shuffle_buffer=1024, repeat=True):
    """Batches for training the lip-sync expert, read from packed clip records.

    Each clip record is read once per epoch (clip order permuted per epoch); `samples_per_clip`
    samples are drawn from it in memory, then the samples of `shuffle_buffer // samples_per_clip`
    consecutive clips are shuffled together. Clips without an anchor and a second face window
    are skipped; with `repeat`, an epoch in which no clip is usable raises InvalidArgumentError.

    Args:
        data_dir: folder of clip records (`tflipsync preprocess --out`).
        batch_size: int, the GLOBAL batch size. With `input_context`, each input pipeline yields
            `input_context.get_per_replica_batch_size(batch_size)` samples per batch (the
            `tf.distribute.Strategy.distribute_datasets_from_function` contract); without, batches
            have `batch_size` samples.
        filelist: optional LRS2-style list of `<group>/<id>` lines relative to data_dir.
        seed: int; the same seed gives the same batches, another seed other batches.
        input_context: optional `tf.distribute.InputContext`; pipeline `input_pipeline_id` reads
            every `num_input_pipelines`-th clip file (sorted), disjoint from the other pipelines.
        hard_negative_prob: float in [0, 1], share of negatives taken near the anchor; 0 is the
            original's sampling.
        hard_negative_offsets: (min, max) frame distance of hard negatives, 1 <= min <= max.
        samples_per_clip: int, samples drawn from each clip visit.
        shuffle_buffer: int, about how many samples are shuffled together.
        repeat: bool, repeat epochs forever; False gives one pass over the clips.

    Returns:
        tf.data.Dataset of dicts with static shapes: "mel" float32 (B, 80, 16, 1), "face"
        float32 (B, 48, 96, 15) BGR lower halves (rows 48..95) in [0, 1], frame-major on channels
        (channels 0..2 are the first frame), "label" float32 (B,) 1 for in sync. The last
        incomplete batch is dropped.

    Raises:
        ValueError: bad arguments, no clip records, missing records, or fewer clip files than
            input pipelines.
    """
    if not 0.0 <= hard_negative_prob <= 1.0:
        raise ValueError(f"hard_negative_prob must be in [0, 1], got {hard_negative_prob}")
    low, high = (int(v) for v in hard_negative_offsets)
    if not 1 <= low <= high:
        raise ValueError(f"hard_negative_offsets must be 1 <= min <= max, got "
                         f"{hard_negative_offsets}")
    return sampling.build(
        data_dir, filelist, input_context, seed, repeat, batch_size, samples_per_clip,
        shuffle_buffer, expert_anchors,
        lambda clip, key: sample_expert(clip, key, samples_per_clip, float(hard_negative_prob),
                                        (low, high)),
        finish_expert)
