"""The Beam jobs on a filesystem that is not local (tflipsync/batch/storage.py): a stand-in object
store, `fake://`, registered with Beam in this process and backed by a temporary folder, run on the
in-process DirectRunner. Like gs:// it has no folders, only objects under names."""

import csv
import json
import os

import numpy as np
import pytest
from apache_beam.io.filesystem import FileMetadata, FileSystem

from tflipsync.batch import preprocess as beam_preprocess, sync as batch_sync
from tflipsync.corpus import preprocess
from tflipsync.data import records

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class FakeObjectStore(FileSystem):
    """fake://NAME is the file NAME below `folder` (set by the fixture)."""

    folder = None

    @classmethod
    def scheme(cls):
        return "fake"

    def _local(self, path):
        return os.path.join(self.folder, path[len("fake://"):])

    def join(self, base, *paths):
        return "/".join([base.rstrip("/")] + [p.strip("/") for p in paths])

    def split(self, path):
        return tuple(path.rsplit("/", 1))

    def mkdirs(self, path):
        pass

    def has_dirs(self):
        return False

    def _list(self, prefix):
        for root, _, names in os.walk(self.folder):
            for name in names:
                path = "fake://" + os.path.relpath(os.path.join(root, name), self.folder)
                if path.startswith(prefix):
                    yield self.metadata(path)

    def create(self, path, mime_type=None, compression_type=None):
        os.makedirs(os.path.dirname(self._local(path)), exist_ok=True)
        return open(self._local(path), "wb")

    def open(self, path, mime_type=None, compression_type=None):
        return open(self._local(path), "rb")

    def exists(self, path):
        return os.path.isfile(self._local(path))

    def size(self, path):
        return os.path.getsize(self._local(path))

    def last_updated(self, path):
        return os.path.getmtime(self._local(path))

    def checksum(self, path):
        return str(self.size(path))

    def metadata(self, path):
        return FileMetadata(path, self.size(path), self.last_updated(path))

    def copy(self, sources, destinations):
        raise NotImplementedError

    def rename(self, sources, destinations):
        raise NotImplementedError

    def delete(self, paths):
        for path in paths:
            os.unlink(self._local(path))


@pytest.fixture
def bucket(tmp_path, monkeypatch):
    monkeypatch.setattr(FakeObjectStore, "folder", str(tmp_path / "store"))
    os.makedirs(FakeObjectStore.folder)
    return tmp_path / "store"


def test_preprocess_reads_and_writes_an_object_store(synthetic_corpus, bucket):
    video = sorted(synthetic_corpus.videos.rglob("*.mp4"))[0]
    (bucket / "videos" / "s0").mkdir(parents=True)
    (bucket / "videos" / "s0" / "a.mp4").write_bytes(video.read_bytes())
    (bucket / "videos" / "s0" / "bad.mp4").write_bytes(video.read_bytes()[:4000])

    report = beam_preprocess.preprocess("fake://videos", "fake://records", "direct", 1)

    assert report == {"written": 1, "existing": 0,
                      "skipped": [["fake://videos/s0/bad.mp4", report["skipped"][0][1]]]}
    assert report["skipped"][0][1].startswith("corrupt")
    made = records.read_clip(str(bucket / "records" / "s0" / "a.tfrecord"))
    local = records.read_clip(str(synthetic_corpus.records / video.parent.name / (video.stem + ".tfrecord")))
    assert made["source"] == "fake://videos/s0/a.mp4"  # the video's own name, not a worker's copy
    for name in ("frames", "present", "boxes", "audio", "mel", "mel_starts"):
        assert np.array_equal(made[name], local[name]), name
    assert json.loads((bucket / "records" / preprocess.REPORT).read_text()) == report
    stamp = os.stat(bucket / "records" / "s0" / "a.tfrecord").st_mtime_ns
    again = beam_preprocess.preprocess("fake://videos/*/a.mp4", "fake://records", "direct", 1)  # a glob now
    assert again == {"written": 0, "existing": 1, "skipped": []}
    assert os.stat(bucket / "records" / "s0" / "a.tfrecord").st_mtime_ns == stamp


def test_batch_sync_reads_and_writes_an_object_store(bucket):
    for name in ("astronaut.jpg", "speech.wav"):
        (bucket / "in").mkdir(exist_ok=True)
        (bucket / "in" / name).write_bytes(open(os.path.join(ROOT, "examples", name), "rb").read())
    with open(bucket / "in" / "jobs.csv", "w", newline="") as f:
        csv.writer(f).writerows([["face", "audio", "out"], ["astronaut.jpg", "speech.wav", "a.mp4"],
                                 ["gone.jpg", "speech.wav", "b.mp4"]])

    summary = batch_sync.batch_sync("fake://in/jobs.csv", "fake://dub", "direct", 1)

    assert summary == {"written": 1, "existing": 0, "failed": 1}
    assert sorted(os.listdir(bucket / "dub")) == sorted(["a.mp4", batch_sync.ERRORS, batch_sync.REPORT])
    with open(bucket / "dub" / batch_sync.ERRORS, newline="") as f:
        errors = list(csv.DictReader(f))
    assert [(e["row"], e["error"]) for e in errors] == [("2", "fake://in/gone.jpg: no such file")]
    assert (bucket / "dub" / "a.mp4").stat().st_size > 1000
