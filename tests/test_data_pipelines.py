"""The expert and generator tf.data pipelines (tflipsync/data/expert.py, generator.py, sampling.py).

The fake clips encode where every value came from: pixel channel 0 is the frame index, channel 1
the crop row, channel 2 the clip id; mel[m, c] = 100000 * clip + 100 * m + c. So each sample can
be decoded back into (clip, frames, mel rows) and checked against the sampling rules.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from tflipsync.data import expert_dataset, generator_dataset, records, sampling
from tflipsync.data.expert import expert_anchors
from tflipsync.data.generator import generator_anchors

USABLE = (0, 1, 2)


def times_30fps(n):
    return np.arange(n) / 30.0


def times_vfr(n):
    durations = np.random.default_rng(5).choice([1 / 25, 2 / 25, 1 / 30, 0.05], size=n)
    return np.concatenate([[0.0], np.cumsum(durations[:-1])])


# clip id: (frame times, mel row offset, absent frames, mel rows beyond the last start)
CLIPS = {
    0: (times_30fps(64), 0, (7, 20, 21), -4),  # the last face windows lack audio
    1: (times_vfr(48), 0, (0, 1, 2, 30), 21),  # variable frame rate
    2: (np.arange(40) / 25.0, 5, (), 16),       # audio starting 5 mel rows before the video
    3: (np.arange(4) / 25.0, 0, (), 16),        # too short for a window
    4: (np.arange(20) / 25.0, 0, tuple(range(8, 20)) + (0, 1, 2), 16),  # one face window
    5: (np.arange(30) / 25.0, 0, (), -1000),    # mel shorter than 16 rows: no anchor
}


def fake_clip(clip_id):
    times, offset, absent, extra_rows = CLIPS[clip_id]
    n = len(times)
    mel_starts = np.trunc(80.0 * times).astype(np.int64) + offset
    mel_rows = max(10, int(mel_starts[-1]) + extra_rows)
    frames = np.empty((n, 96, 96, 3), np.uint8)
    frames[..., 0] = np.arange(n)[:, None, None]
    frames[..., 1] = np.arange(96)[None, :, None]
    frames[..., 2] = clip_id
    present = np.ones(n, bool)
    present[list(absent)] = False
    mel = clip_id * 100000 + 100 * np.arange(mel_rows)[:, None] + np.arange(80)[None]
    return {"frames": frames, "present": present, "mel_starts": mel_starts, "times": times,
            "boxes": np.zeros((n, 4)), "landmarks": np.zeros((n, records.MESH_POINTS, 3)),
            "audio": np.zeros(160, np.float32), "mel": mel.astype(np.float32), "fps": 25.0}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    for clip_id in CLIPS:
        records.write_clip(str(root / "g" / f"clip{clip_id}.tfrecord"), fake_clip(clip_id))
    return str(root)


def all_batches(dataset):
    batches = list(dataset.as_numpy_iterator())
    return {key: np.concatenate([b[key] for b in batches]) for key in batches[0]}


def decode_window(images, clip_id, rows):
    """Start frame of a (5, rows, 96, 3) float window, checking rows, clip id and consecutiveness."""
    pixels = np.rint(images * 255).astype(np.int64)
    start = int(pixels[0, 0, 0, 0])
    assert np.all(pixels[..., 0] == (start + np.arange(5))[:, None, None])
    assert np.all(pixels[..., 1] == rows[None, :, None])
    assert np.all(pixels[..., 2] == clip_id)
    return start


def decode_mel(window, clip_id):
    """First mel row of an (80, 16, 1) window, checking the whole layout."""
    start = int(round((window[0, 0, 0] - clip_id * 100000) / 100))
    expected = clip_id * 100000 + 100 * (start + np.arange(16))[None] + np.arange(80)[:, None]
    np.testing.assert_array_equal(window[..., 0], expected)
    return start


def anchor_of(clip, mel_start):
    """The frame whose mel_starts entry is mel_start (the fake clips' starts are increasing)."""
    (found,) = np.flatnonzero(clip["mel_starts"] == mel_start)
    return int(found)


def assert_face_window(clip, start):
    assert clip["present"][start:start + 5].all() and start + 5 <= len(clip["present"])


def clip_id_of(images):
    return int(np.rint(images.reshape(-1, images.shape[-1])[0, 2] * 255))


@pytest.fixture(scope="module")
def expert_samples(data_dir):
    return all_batches(expert_dataset(data_dir, 8, seed=1, samples_per_clip=32, repeat=False))


@pytest.fixture(scope="module")
def generator_samples(data_dir):
    return all_batches(generator_dataset(data_dir, 8, seed=1, samples_per_clip=32, repeat=False))


def expert_windows(samples):
    """(clip id, anchor, face start, label) of every expert sample, checking pixels and mel."""
    out = []
    for face, mel, label in zip(samples["face"], samples["mel"], samples["label"]):
        clip_id = clip_id_of(face)
        clip = fake_clip(clip_id)
        window = face.reshape(48, 96, 5, 3).transpose(2, 0, 1, 3)  # frame-major channels
        start = decode_window(window, clip_id, np.arange(48, 96))
        mel_start = decode_mel(mel, clip_id)
        assert mel_start + 16 <= clip["mel"].shape[0]
        out.append((clip_id, anchor_of(clip, mel_start), start, float(label)))
    return out


@pytest.mark.slow  # 10 s measured (--durations, two busy CPU cores)
def test_element_specs_are_static(data_dir):
    expert = expert_dataset(data_dir, 4)
    generator = generator_dataset(data_dir, 3)
    shapes = {name: spec.shape.as_list() for name, spec in expert.element_spec.items()}
    assert shapes == {"mel": [4, 80, 16, 1], "face": [4, 48, 96, 15], "label": [4]}
    shapes = {name: spec.shape.as_list() for name, spec in generator.element_spec.items()}
    assert shapes == {"face": [3, 5, 96, 96, 6], "mels": [3, 5, 80, 16, 1],
                      "sync_mel": [3, 80, 16, 1], "target": [3, 5, 96, 96, 3]}
    for spec in list(expert.element_spec.values()) + list(generator.element_spec.values()):
        assert spec.shape.is_fully_defined() and spec.dtype == tf.float32


def test_expert_alignment_and_labels(expert_samples):
    windows = expert_windows(expert_samples)
    # Every usable clip gives exactly samples_per_clip samples; the unusable ones none.
    assert sorted(set(w[0] for w in windows)) == list(USABLE)
    assert len(windows) == 32 * len(USABLE)
    for clip_id, anchor, start, label in windows:
        clip = fake_clip(clip_id)
        assert_face_window(clip, anchor)
        assert_face_window(clip, start)
        assert (start == anchor) == (label == 1.0)
    labels = np.array([w[3] for w in windows])
    assert 0.3 < labels.mean() < 0.7
    # Uniform negatives are not all near the anchor.
    assert any(abs(s - a) > 10 for _, a, s, label in windows if label == 0)


def test_expert_hard_negatives_at_the_offsets(data_dir):
    samples = all_batches(expert_dataset(data_dir, 8, seed=2, samples_per_clip=32, repeat=False,
                                         hard_negative_prob=1.0, hard_negative_offsets=(2, 4)))
    negatives = 0
    for clip_id, anchor, start, label in expert_windows(samples):
        if label == 1.0:
            continue
        negatives += 1
        faces = sampling.windows_all(fake_clip(clip_id)["present"]).numpy()
        near = [j for j in np.flatnonzero(faces) if 2 <= abs(j - anchor) <= 4]
        assert start in near if near else start != anchor
    assert negatives > 20


def test_generator_alignment(generator_samples):
    seen = set()
    for face, mels, sync_mel, target in zip(*(generator_samples[k] for k in
                                              ("face", "mels", "sync_mel", "target"))):
        clip_id = clip_id_of(target)
        clip = fake_clip(clip_id)
        seen.add(clip_id)
        anchor = decode_window(target, clip_id, np.arange(96))
        assert anchor >= 1
        assert_face_window(clip, anchor)
        np.testing.assert_array_equal(face[..., :48, :, :3], target[:, :48])
        assert np.all(face[:, 48:, :, :3] == 0)
        reference = decode_window(face[..., 3:], clip_id, np.arange(96))
        assert reference != anchor
        assert_face_window(clip, reference)
        assert decode_mel(sync_mel, clip_id) == clip["mel_starts"][anchor]
        starts = [decode_mel(m, clip_id) for m in mels]
        assert starts == list(clip["mel_starts"][anchor - 1:anchor + 4])
        assert starts[-1] + 16 <= clip["mel"].shape[0]
    assert seen == set(USABLE)
    assert len(generator_samples["face"]) == 32 * len(USABLE)


@pytest.mark.slow  # 20 s measured (--durations, two busy CPU cores)
def test_same_seed_same_batches_other_seed_other_batches(data_dir):
    def take(make, seed, count=3):
        return [b for b in make(data_dir, 4, seed=seed, samples_per_clip=4,
                                shuffle_buffer=8).take(count).as_numpy_iterator()]

    for make in (expert_dataset, generator_dataset):
        first = take(make, 7)
        tf.random.set_seed(1234)  # the global seed must not matter
        try:
            again = take(make, 7)
        finally:
            tf.random.set_seed(None)
        other = take(make, 8)
        for a, b in zip(first, again):
            for key in a:
                np.testing.assert_array_equal(a[key], b[key])
        assert any(not np.array_equal(a["face"], b["face"]) for a, b in zip(first, other))


def test_epochs_draw_new_windows(data_dir):
    dataset = expert_dataset(data_dir, 32, seed=0, samples_per_clip=32, shuffle_buffer=32)
    epochs = [{}, {}]  # one clip per batch: 3 batches per epoch
    for index, batch in enumerate(dataset.take(6).as_numpy_iterator()):
        windows = expert_windows(batch)
        epochs[index // 3][windows[0][0]] = sorted(w[1:3] for w in windows)
    assert set(epochs[0]) == set(epochs[1]) == set(USABLE)
    assert all(epochs[0][clip_id] != epochs[1][clip_id] for clip_id in USABLE)


def test_sharding_splits_the_clip_files(data_dir):
    seen = []
    for index in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=index,
                                             num_replicas_in_sync=2)
        dataset = expert_dataset(data_dir, 2, input_context=context, samples_per_clip=2,
                                 repeat=False)
        assert dataset.element_spec["face"].shape[0] == 1  # the global batch split per replica
        seen.append({clip_id_of(b["face"]) for b in dataset.as_numpy_iterator()})
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == set(USABLE)
    too_many = tf.distribute.InputContext(num_input_pipelines=len(CLIPS) + 1)
    with pytest.raises(ValueError, match="clip files for 7 input pipelines"):
        generator_dataset(data_dir, 7, input_context=too_many)


def test_filelist_and_argument_errors(data_dir, tmp_path):
    filelist = tmp_path / "train.txt"
    filelist.write_text("# LRS2 style\ng/clip2 extra-column\n\n")
    dataset = expert_dataset(data_dir, 4, filelist=str(filelist), repeat=False)
    assert {clip_id_of(b["face"]) for b in dataset.as_numpy_iterator()} == {2}
    filelist.write_text("g/clip2\ng/missing\n")
    with pytest.raises(ValueError, match="1 clip records missing"):
        generator_dataset(data_dir, 4, filelist=str(filelist))
    with pytest.raises(ValueError, match="no clip records"):
        expert_dataset(str(tmp_path), 4)
    with pytest.raises(ValueError, match="hard_negative_offsets"):
        expert_dataset(data_dir, 4, hard_negative_offsets=(0, 3))


def test_only_unusable_clips(tmp_path):
    for clip_id in (3, 4, 5):
        records.write_clip(str(tmp_path / f"clip{clip_id}.tfrecord"), fake_clip(clip_id))
    assert list(generator_dataset(str(tmp_path), 2, repeat=False)) == []
    with pytest.raises(tf.errors.InvalidArgumentError, match="no clip has a usable window"):
        next(iter(expert_dataset(str(tmp_path), 2)))


def test_windows_all_and_draw():
    flags = np.array([1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1], bool)
    expected = [True, False, False, False, False, False, True, True, False, False, False, False]
    assert sampling.windows_all(flags).numpy().tolist() == expected
    mask = tf.constant([[False, True, False, True, True]] * 2000 + [[False] * 5])
    picks, found = (t.numpy() for t in sampling.draw(mask, tf.constant([3, 4], tf.int64)))
    assert found[:-1].all() and not found[-1]
    counts = np.bincount(picks[:-1], minlength=5)
    assert counts[[0, 2]].sum() == 0 and counts[[1, 3, 4]].min() > 600


def test_to_unit_is_the_original_division():
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    expected = (pixels / 255.0).astype(np.float32)  # float64 division, then torch.FloatTensor
    unit = sampling.to_unit(tf.constant(pixels)).numpy()
    assert unit.dtype == np.float32 and unit[0, 0] == 0.0 and unit[-1, -1] == 1.0
    np.testing.assert_array_max_ulp(unit, expected, maxulp=1)


def test_generator_anchors_need_the_previous_frame_audio():
    mel_starts = tf.constant([0, 3, 6, 9, 12, 16, 19, 22, 25, 28])
    clip = {"mel_starts": mel_starts, "mel": tf.zeros([38, 80])}
    # Starts up to 22 fit in 38 rows; anchor i needs frames i-1 .. i+3 to fit, so 1 <= i <= 4.
    assert np.flatnonzero(generator_anchors(clip)).tolist() == [1, 2, 3, 4]
    assert np.flatnonzero(expert_anchors(clip)).tolist() == list(range(8))


if __name__ == "__main__":
    raise SystemExit(pytest.main([os.path.abspath(__file__), "-q"]))
