"""What the expert and generator pipelines share: clip streams, valid windows, sampling, batching.

Both pipelines read each clip record once and draw `samples_per_clip` windows from it in memory
with vectorised gathers on the uint8 frames; the samples of several clips are then shuffled
together, batched, and converted to float32 last:

    clip files --epoch permutation--> records --parse--> clip tensors --filter(usable)-->
    per-clip samples (S, ...) --block shuffle--> batches (B, ...) --float32--> prefetch

Randomness is stateless: every draw uses a key folded from (seed, input pipeline) and a counter
(the epoch for the file order, the clip visit for the windows of a clip, the block for the
shuffle), so a seed gives the same batches whatever the global TensorFlow random state, the
thread timing or the AUTOTUNE choices.

Windows (T = 5 frames). A frame window starting at `s` covers frames s..s+4; it is a *face
window* when all five frames have `present` true. An *anchor* is a face window whose mel windows
(which depend on the pipeline) all lie inside the clip's M mel rows. The second window of a
sample (the expert's negative, the generator's reference) only needs to be a face window: the
original draws both starts at random and retries until the windows it reads exist.
"""

import os

import tensorflow as tf

from tflipsync.audio import windows as audio_windows
from tflipsync.data import records
from tflipsync.conventions import SYNC_FRAMES

WINDOW = SYNC_FRAMES
HALF = records.CROP // 2
AUTOTUNE = tf.data.AUTOTUNE
# Key domains: one stream of keys per use, so that no two uses ever share a key.
_FILES, _CLIPS, _BLOCKS = 1, 2, 3


def clip_files(data_dir, filelist, input_context):
    """The clip record paths of this input pipeline: every `num_input_pipelines`-th file.

    Raises:
        ValueError: no clip records, a filelist names a missing record, or fewer clip files than
            input pipelines (each pipeline needs a file of its own).
    """
    files = records.list_clips(data_dir, filelist)
    where = filelist or data_dir
    if not files:
        raise ValueError(f"{where}: no clip records (*{records.EXTENSION})")
    missing = [path for path in files if not os.path.isfile(path)]
    if missing:
        raise ValueError(f"{where}: {len(missing)} clip records missing, e.g. {missing[0]}")
    if input_context is None:
        return files
    count, index = input_context.num_input_pipelines, input_context.input_pipeline_id
    if len(files) < count:
        raise ValueError(f"{where}: {len(files)} clip files for {count} input pipelines; "
                         "each pipeline needs at least one file")
    return files[index::count]


def per_replica_batch_size(batch_size, input_context):
    """`batch_size` is global; with an input context each pipeline batches its replica's share."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if input_context is None:
        return batch_size
    return input_context.get_per_replica_batch_size(batch_size)


def base_key(seed, input_context):
    """int64 (2,) key of this (seed, input pipeline)."""
    pipeline = 0 if input_context is None else input_context.input_pipeline_id
    return tf.constant([seed, pipeline], tf.int64)


def fold(key, *data):
    """A new (2,) key derived from `key` and the given integers (deterministic)."""
    for value in data:
        key = tf.random.experimental.stateless_fold_in(key, tf.cast(value, tf.int64))
    return key


def clip_records(files, key, repeat):
    """Serialized clip records, each clip once per epoch in a per-epoch permuted order.

    Returns:
        Dataset of (clip key int64 (2,), serialized record string); the clip key is unique per
        clip visit, so the windows drawn from a clip differ from epoch to epoch.
    """
    paths = tf.constant(files)
    epochs = tf.data.Dataset.counter() if repeat else tf.data.Dataset.range(1)

    def epoch_order(epoch):
        noise = tf.random.stateless_uniform([len(files)], fold(key, _FILES, epoch))
        return tf.data.Dataset.from_tensor_slices(tf.gather(paths, tf.argsort(noise)))

    serialized = epochs.flat_map(epoch_order).interleave(
        tf.data.TFRecordDataset, num_parallel_calls=AUTOTUNE, deterministic=True)
    return serialized.enumerate().map(lambda visit, record: (fold(key, _CLIPS, visit), record))


def windows_all(flags, length=WINDOW):
    """bool (N,): out[s] is true when flags[s .. s+length-1] are all true (false past the end)."""
    flags = tf.convert_to_tensor(flags)
    n = tf.shape(flags)[0]
    misses = tf.concat([tf.cast(~flags, tf.int32), tf.ones([length], tf.int32)], axis=0)
    counts = tf.concat([[0], tf.cumsum(misses)], axis=0)  # counts[s] = misses before s
    return tf.equal(counts[length:length + n], counts[:n])


def with_windows(clip, anchor_mask):
    """Adds the clip's face-window and anchor masks and whether it can give samples.

    Args:
        clip: dict from `records.parse_clip`.
        anchor_mask: function (clip) -> bool (N,), which starts are anchors for this pipeline.

    Returns:
        The dict with "faces" bool (N,), "anchors" bool (N,) (anchors are face windows) and
        "usable" bool scalar: an anchor exists and another face window besides it.
    """
    faces = windows_all(clip["present"])
    anchors = faces & anchor_mask(clip)
    usable = tf.reduce_any(anchors) & (tf.reduce_sum(tf.cast(faces, tf.int32)) >= 2)
    return dict(clip, faces=faces, anchors=anchors, usable=usable)


def fail_on_unusable_epoch(clips, file_count, where):
    """Raises inside the pipeline once a whole epoch of clips had no usable one.

    With `repeat`, a filter that never passes would otherwise hang training silently. Any
    2 * file_count - 1 consecutive visits contain a whole epoch.
    """
    def count(misses, element):
        _, clip = element  # (clip key, clip)
        misses = tf.where(clip["usable"], tf.constant(0, tf.int64), misses + 1)
        check = tf.debugging.Assert(
            misses < 2 * file_count - 1,
            [f"{where}: no clip has a usable window (needs 5 present frames with their audio "
             "and another face window)"])
        with tf.control_dependencies([check]):
            return tf.identity(misses), element

    return clips.scan(tf.constant(0, tf.int64), count)


def draw(mask, key):
    """One uniform pick among the true columns of each row.

    Args:
        mask: bool (S, N).
        key: int (2,) stateless key.

    Returns:
        (index int32 (S,), found bool (S,)); index is 0 where a row has no true column.
    """
    hits = tf.cast(mask, tf.int32)
    counts = tf.reduce_sum(hits, axis=1)  # (S,)
    uniform = tf.random.stateless_uniform(tf.shape(counts), key)
    rank = tf.minimum(tf.cast(uniform * tf.cast(counts, tf.float32), tf.int32), counts - 1)
    chosen = tf.cumsum(hits, axis=1) > rank[:, tf.newaxis]  # first true column is the pick
    return tf.argmax(chosen, axis=1, output_type=tf.int32), counts > 0


def draw_anchors(clip, samples, key):
    """int32 (samples,) anchor starts drawn uniformly with replacement from the clip's anchors."""
    mask = tf.tile(clip["anchors"][tf.newaxis], [samples, 1])  # (S, N)
    return draw(mask, key)[0]


def other_windows(clip, anchors):
    """bool (S, N): the face windows of the clip other than each sample's anchor."""
    positions = tf.range(tf.shape(clip["faces"])[0])
    return clip["faces"][tf.newaxis] & (positions[tf.newaxis] != anchors[:, tf.newaxis])


def gather_frames(frames, starts, lower_half=False):
    """uint8 (S, 5, H, 96, 3) windows of consecutive frames starting at `starts` (S,).

    With `lower_half`, only rows 48..95 are gathered (H = 48), never the whole crops.
    """
    index = starts[:, tf.newaxis] + tf.range(WINDOW)  # (S, 5)
    if not lower_half:
        return tf.gather(frames, index)
    halves = tf.reshape(frames, [-1, 2, HALF, records.CROP, 3])  # (N, top/bottom, 48, 96, 3)
    return tf.gather_nd(halves, tf.stack([index, tf.ones_like(index)], axis=-1))


def gather_mel(mel, starts):
    """float32 (..., 80, 16, 1): the windows at `starts` (...) of a record's time-major (M, 80) mel."""
    return audio_windows.tf_gather_windows(tf.transpose(mel), starts)[..., tf.newaxis]


def shuffle_blocks(samples, clips_per_block, key):
    """Shuffles the samples of each run of `clips_per_block` clips together and flattens them.

    Args:
        samples: Dataset of dicts of (S, ...) tensors, one element per clip.
        clips_per_block: int, clips mixed together (the shuffle buffer is S times that).
        key: int (2,) stateless key.

    Returns:
        Dataset of dicts of (clips * S, ...) tensors in a stateless random order.
    """
    def permute(block_index, block):
        flat = {name: tf.reshape(value, [-1] + value.shape[2:].as_list())  # (K*S, ...)
                for name, value in block.items()}
        size = tf.shape(next(iter(flat.values())))[0]
        noise = tf.random.stateless_uniform([size], fold(key, _BLOCKS, block_index))
        order = tf.argsort(noise)
        return {name: tf.gather(value, order) for name, value in flat.items()}

    return samples.batch(clips_per_block).enumerate().map(permute)


def to_unit(image):
    """uint8 pixels to float32 in [0, 1]: x * float32(1 / 255), 0 and 255 exactly.

    That is within one float32 ulp of the original's x / 255. Dequantize does it in one pass
    over the output where cast-then-scale takes two, and this conversion is the largest cost of
    the generator pipeline (about 15% faster end to end with it).
    """
    return tf.raw_ops.Dequantize(input=tf.bitcast(image, tf.quint8), min_range=0.0, max_range=1.0,
                                 mode="MIN_COMBINED", dtype=tf.float32)


def check_sampling(samples_per_clip, shuffle_buffer):
    """Validates the shared sampling arguments; returns the clips per shuffle block."""
    if samples_per_clip < 1:
        raise ValueError(f"samples_per_clip must be positive, got {samples_per_clip}")
    if shuffle_buffer < 1:
        raise ValueError(f"shuffle_buffer must be positive, got {shuffle_buffer}")
    return max(1, shuffle_buffer // samples_per_clip)


def build(data_dir, filelist, input_context, seed, repeat, batch_size, samples_per_clip,
          shuffle_buffer, anchor_mask, sample_clip, finish, landmarks=False):
    """The common pipeline; the pipeline-specific steps are the three functions passed in.

    Args:
        anchor_mask: (clip) -> bool (N,) starts whose mel windows fit (see `with_windows`).
        sample_clip: (clip, key) -> dict of (samples_per_clip, ...) tensors, uint8 images.
        finish: (batch) -> the batch as the models take it (float32).
        landmarks: parse the clips' face-mesh landmarks too (`records.parse_clip`).
        The rest as in `expert_dataset`.
    """
    clips_per_block = check_sampling(samples_per_clip, shuffle_buffer)
    per_replica = per_replica_batch_size(batch_size, input_context)
    files = clip_files(data_dir, filelist, input_context)
    key = base_key(seed, input_context)

    clips = clip_records(files, key, repeat).map(
        lambda clip_key, record: (
            clip_key, with_windows(records.parse_clip(record, landmarks=landmarks), anchor_mask)),
        num_parallel_calls=AUTOTUNE, deterministic=True)
    if repeat:
        clips = fail_on_unusable_epoch(clips, len(files), filelist or data_dir)
    clips = clips.filter(lambda clip_key, clip: clip["usable"])
    samples = clips.map(lambda clip_key, clip: sample_clip(clip, clip_key),
                        num_parallel_calls=AUTOTUNE, deterministic=True)
    batches = shuffle_blocks(samples, clips_per_block, key).rebatch(per_replica,
                                                                    drop_remainder=True)
    return batches.map(finish, num_parallel_calls=AUTOTUNE,
                       deterministic=True).prefetch(AUTOTUNE)
