"""End to end: synthetic corpus and a real photo with real speech, through preprocess and both
pipelines (issue 3's acceptance)."""

import glob
import os

import numpy as np
import pytest

from media import astronaut_frames, write_video
from tflipsync.audio import io as audio_io, mel as audio_mel
from tflipsync.conventions import SAMPLE_RATE
from tflipsync.faces import mesh as face_mesh
from tflipsync.corpus import preprocess
from tflipsync.data import expert_dataset, generator_dataset, records

# Real recorded speech from Debian's alsa-utils (a woman reading speaker positions), 48 kHz.
ALSA_SOUNDS = "/usr/share/sounds/alsa"
ALSA_WORDS = ["Front_Center", "Front_Left", "Front_Right", "Rear_Center", "Rear_Left",
              "Rear_Right", "Side_Left", "Side_Right"]


@pytest.fixture(scope="module")
def corpus(synthetic_corpus):
    """The session's four synthetic clips (tests/conftest.py) and their records."""
    return synthetic_corpus.videos, synthetic_corpus.records, synthetic_corpus.summary


def test_synthetic_faces_are_found_and_ground_truth_lines_up(corpus):
    videos, data, summary = corpus
    assert summary["written"] == 4 and summary["skipped"] == []
    present, correlations = [], []
    for path in sorted(glob.glob(str(data / "*" / "*.tfrecord"))):
        clip = records.read_clip(path)
        truth = np.load(path.replace(str(data), str(videos)).replace(".tfrecord", ".npz"),
                        allow_pickle=False)
        assert len(truth["opening"]) == clip["num_frames"]
        present.append(clip["present"])
        seen = clip["present"]
        measured = face_mesh.mouth_opening(clip["landmarks"][seen])
        correlations.append(np.corrcoef(measured, truth["opening"][seen])[0, 1])
        # the ground-truth lips lie inside the crop box, in its lower half
        lips = truth["outer_lips"][seen].mean(axis=1)
        box = clip["boxes"][seen]
        assert np.all((lips[:, 0] > box[:, 0]) & (lips[:, 0] < box[:, 2]))
        assert np.all((lips[:, 1] > (box[:, 1] + box[:, 3]) / 2) & (lips[:, 1] < box[:, 3]))
    assert np.concatenate(present).mean() >= 0.99
    # 20 clips measured 0.89 at worst (median 0.95); 4 short clips here
    assert min(correlations) > 0.75, correlations


def test_filelists_select_records(corpus):
    videos, data, _ = corpus
    for part in ("train", "val", "test"):
        listed = records.list_clips(str(data), str(videos / "filelists" / f"{part}.txt"))
        assert listed and all(os.path.isfile(p) for p in listed)


@pytest.fixture(scope="module")
def real_clip(tmp_path_factory):
    """scikit-image's astronaut photo with real recorded speech, through preprocess."""
    missing = [w for w in ALSA_WORDS if not os.path.isfile(f"{ALSA_SOUNDS}/{w}.wav")]
    if missing:
        pytest.fail(f"{ALSA_SOUNDS} lacks {missing}: `apt-get install alsa-utils` (make test does it)")
    speech = np.concatenate([audio_io.load_wav(f"{ALSA_SOUNDS}/{w}.wav") for w in ALSA_WORDS])
    frames = int(len(speech) / SAMPLE_RATE * 25)
    root = tmp_path_factory.mktemp("real")
    (root / "astronaut").mkdir()
    write_video(root / "astronaut" / "00001.mp4", astronaut_frames(frames), 25, speech)
    data = tmp_path_factory.mktemp("real_data")
    summary = preprocess.preprocess(str(root), str(data), progress=False)
    assert summary["written"] == 1, summary
    return data, speech, frames


def test_real_photo_and_speech_go_through_both_pipelines(real_clip):
    data, speech, frames = real_clip
    clip = records.read_clip(str(data / "astronaut" / "00001.tfrecord"))
    assert clip["num_frames"] == frames and clip["present"].mean() >= 0.99
    mel = audio_mel.melspectrogram(clip["audio"])
    expert = next(iter(expert_dataset(str(data), 8, seed=1)))
    assert expert["face"].shape == (8, 48, 96, 15) and expert["mel"].shape == (8, 80, 16, 1)
    # every mel window in the batch is a real window of this clip's speech
    windows = {mel[:, s:s + 16].tobytes() for s in range(mel.shape[1] - 15)}
    assert all(np.asarray(m[..., 0]).tobytes() in windows for m in expert["mel"].numpy())
    generator = next(iter(generator_dataset(str(data), 4, seed=1)))
    assert generator["face"].shape == (4, 5, 96, 96, 6)
    assert np.all(generator["face"].numpy()[:, :, 48:, :, :3] == 0)
    assert np.array_equal(generator["face"].numpy()[:, :, :48, :, :3],
                          generator["target"].numpy()[:, :, :48])
