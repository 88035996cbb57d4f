"""The packed clip format that `tflipsync preprocess` writes and the tf.data pipelines read.

One clip is one TFRecord file (`<DATA_DIR>/<group>/<id>.tfrecord`) holding a single
`tf.train.Example` with the features below, so a pipeline reads a whole clip with one sequential
read and slices windows out of it in memory. Arrays are stored as raw little-endian bytes:

    frames      bytes   uint8 (N, 96, 96, 3) face crops, BGR, as the networks expect
    present     int64   (N,) 1 where a face was detected in frame i, 0 where the crop is a stand-in
    mel_starts  int64   (N,) first mel column of frame i: int(80.0 * t_i), t_i the frame's time in
                        seconds from the audio's start (i / fps for constant frame rate, so it
                        equals `audio.windows.mel_start(i, fps)`; presentation timestamps otherwise)
    times       float   (N,) t_i in seconds (float32; the exact figures are in mel_starts)
    boxes       float   (N, 4) crop box x0, y0, x1, y1 in source-frame pixels (padded, smoothed)
    landmarks   bytes   float32 (N, 468, 3) face-mesh points in source-frame pixels (z in the
                        same pixel scale), NaN where no face was found
    audio       bytes   float32 (S,) 16 kHz mono
    mel         bytes   float32 (M, 80) the normalised mel, time-major (row m is column m of the
                        (80, M) spectrogram of audio.mel.melspectrogram)
    num_frames, num_samples, mel_steps   int64 scalars
    fps         float   nominal frame rate (the stream's average rate)
    source      bytes   the source video's path as given to preprocess
    source_size int64   (height, width) of the source frames
"""

import os

import numpy as np
from tflipsync import files
from tflipsync.conventions import FACE_SIZE

CROP = FACE_SIZE
MESH_POINTS = 468
EXTENSION = ".tfrecord"
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm")


def _bytes(value):
    import tensorflow as tf
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _ints(values):
    import tensorflow as tf
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _floats(values):
    import tensorflow as tf
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))


def serialize_clip(clip):
    """Serializes a clip dict (keys as in the module docstring, arrays as numpy) to bytes."""
    import tensorflow as tf

    frames = np.ascontiguousarray(clip["frames"], dtype=np.uint8)
    n = frames.shape[0]
    if frames.shape[1:] != (CROP, CROP, 3):
        raise ValueError(f"frames must be (N, {CROP}, {CROP}, 3), got {frames.shape}")
    mel = np.ascontiguousarray(clip["mel"], dtype=np.float32)
    audio = np.ascontiguousarray(clip["audio"], dtype=np.float32)
    landmarks = np.ascontiguousarray(clip["landmarks"], dtype=np.float32)
    for name, shape in [("present", (n,)), ("mel_starts", (n,)), ("times", (n,)),
                        ("boxes", (n, 4)), ("landmarks", (n, MESH_POINTS, 3))]:
        if np.shape(clip[name]) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {np.shape(clip[name])}")
    if mel.ndim != 2 or mel.shape[1] != 80:
        raise ValueError(f"mel must be (M, 80) time-major, got {mel.shape}")
    feature = {
        "frames": _bytes(frames.tobytes()),
        "present": _ints(clip["present"]),
        "mel_starts": _ints(clip["mel_starts"]),
        "times": _floats(clip["times"]),
        "boxes": _floats(np.asarray(clip["boxes"]).reshape(-1)),
        "landmarks": _bytes(landmarks.tobytes()),
        "audio": _bytes(audio.tobytes()),
        "mel": _bytes(mel.tobytes()),
        "num_frames": _ints([n]),
        "num_samples": _ints([audio.shape[0]]),
        "mel_steps": _ints([mel.shape[0]]),
        "fps": _floats([clip["fps"]]),
        "source": _bytes(str(clip.get("source", "")).encode()),
        "source_size": _ints(clip.get("source_size", (0, 0))),
    }
    # deterministic: map entries in key order, so the same clip gives the same bytes in every process
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


def write_clip(path, clip):
    """Writes one clip record atomically: a temporary file in the same folder, then a rename."""
    import tensorflow as tf

    data = serialize_clip(clip)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with files.atomic_path(path) as temporary, tf.io.TFRecordWriter(temporary) as writer:
        writer.write(data)


def feature_spec():
    """The tf.io.parse_single_example spec of a clip record."""
    import tensorflow as tf

    return {
        "frames": tf.io.FixedLenFeature([], tf.string),
        "present": tf.io.VarLenFeature(tf.int64),
        "mel_starts": tf.io.VarLenFeature(tf.int64),
        "times": tf.io.VarLenFeature(tf.float32),
        "boxes": tf.io.VarLenFeature(tf.float32),
        "landmarks": tf.io.FixedLenFeature([], tf.string),
        "audio": tf.io.FixedLenFeature([], tf.string),
        "mel": tf.io.FixedLenFeature([], tf.string),
        "num_frames": tf.io.FixedLenFeature([], tf.int64),
        "num_samples": tf.io.FixedLenFeature([], tf.int64),
        "mel_steps": tf.io.FixedLenFeature([], tf.int64),
        "fps": tf.io.FixedLenFeature([], tf.float32),
        "source": tf.io.FixedLenFeature([], tf.string),
        "source_size": tf.io.FixedLenFeature([2], tf.int64),
    }


def parse_clip(serialized, landmarks=False, audio=False, source=False):
    """Parses a serialized clip record into tensors (usable inside tf.data).

    Returns a dict: frames uint8 (N, 96, 96, 3), present bool (N,), mel_starts int32 (N,),
    times float32 (N,), boxes float32 (N, 4), mel float32 (M, 80), fps float32, num_frames int32,
    and, when asked for, landmarks float32 (N, 468, 3), audio float32 (S,), and source (string)
    with source_size int64 (2,).
    """
    import tensorflow as tf

    parsed = tf.io.parse_single_example(serialized, feature_spec())
    n = tf.cast(parsed["num_frames"], tf.int32)
    out = {
        "frames": tf.reshape(tf.io.decode_raw(parsed["frames"], tf.uint8), [n, CROP, CROP, 3]),
        "present": tf.sparse.to_dense(parsed["present"]) > 0,
        "mel_starts": tf.cast(tf.sparse.to_dense(parsed["mel_starts"]), tf.int32),
        "times": tf.sparse.to_dense(parsed["times"]),
        "boxes": tf.reshape(tf.sparse.to_dense(parsed["boxes"]), [n, 4]),
        "mel": tf.reshape(tf.io.decode_raw(parsed["mel"], tf.float32), [-1, 80]),
        "fps": parsed["fps"],
        "num_frames": n,
    }
    if landmarks:
        out["landmarks"] = tf.reshape(tf.io.decode_raw(parsed["landmarks"], tf.float32),
                                      [n, MESH_POINTS, 3])
    if audio:
        out["audio"] = tf.io.decode_raw(parsed["audio"], tf.float32)
    if source:
        out["source"], out["source_size"] = parsed["source"], parsed["source_size"]
    return out


def read_clip(path):
    """Reads a clip record eagerly into numpy arrays (all features; for tools and tests)."""
    import tensorflow as tf

    serialized = next(iter(tf.data.TFRecordDataset(path)))
    parsed = parse_clip(serialized, landmarks=True, audio=True, source=True)
    out = {key: value.numpy() for key, value in parsed.items()}
    out["source"] = out["source"].decode()
    return out


def list_clips(data_dir, filelist=None):
    """Sorted record paths under data_dir, or those a filelist names.

    A filelist line is `<group>/<id>` relative to data_dir (LRS2 style: only the first token of
    a line counts, blank lines and lines starting with '#' are ignored); `.tfrecord` is added.
    A line naming a video (`clips/<name>.mp4`, as the real corpus's split files do) stands for
    the record `<name>.tfrecord` that `tflipsync preprocess --input <its folder>` wrote.
    """
    if filelist is None:
        found = []
        for root, _, names in os.walk(data_dir):
            found += [os.path.join(root, f) for f in names if f.endswith(EXTENSION)]
        return sorted(found)
    paths = []
    with open(filelist) as f:
        for line in f:
            token = line.split()[0] if line.split() else ""
            if token and not token.startswith("#"):
                stem = token[:-len(EXTENSION)] if token.endswith(EXTENSION) else token
                if stem.lower().endswith(VIDEO_EXTENSIONS):  # a video filelist (../shared/corpus/real/*.txt)
                    stem = os.path.splitext(os.path.basename(stem))[0]
                paths.append(os.path.join(data_dir, stem + EXTENSION))
    return paths
