"""`tflipsync preprocess` on a batch of good and bad videos (tflipsync/corpus/preprocess.py)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from media import astronaut_frames, espeak, write_video
from tflipsync.audio import io as audio_io, mel as audio_mel, windows as audio_windows
from tflipsync.corpus import preprocess
from tflipsync.data import records

FRAMES = 60


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    path = espeak(tmp_path_factory.mktemp("speech") / "speech.wav",
                  "The quick brown fox jumps over the lazy dog near the river bank.")
    return audio_io.load_wav(path)


@pytest.fixture(scope="module")
def batch(tmp_path_factory, speech):
    """An LRS2-like folder: two good clips (25 and 30 fps) and one of each kind of bad input."""
    root = tmp_path_factory.mktemp("videos")
    (root / "good").mkdir()
    (root / "bad").mkdir()
    frames = astronaut_frames(FRAMES)
    write_video(root / "good" / "00001.mp4", frames, 25, speech[:FRAMES * 640 + 8000])
    write_video(root / "good" / "00002.mp4", frames, 30, speech)
    durations = [40 if i % 3 else 80 for i in range(FRAMES)]  # variable frame rate
    write_video(root / "good" / "00003.mp4", frames, 25, speech, times_ms=np.cumsum([0] + durations[:-1]))
    write_video(root / "bad" / "silent.mp4", frames, 25, None)
    write_video(root / "bad" / "audio_only.mp4", [], 25, speech, video=False)
    write_video(root / "bad" / "no_frames.mp4", [], 25, speech)
    blank = [np.full((360, 640, 3), 30 + i, np.uint8) for i in range(FRAMES)]
    write_video(root / "bad" / "no_face.mp4", blank, 25, speech)
    whole = (root / "good" / "00001.mp4").read_bytes()
    (root / "bad" / "truncated.mp4").write_bytes(whole[: len(whole) // 3])
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*.mp4")}
    out = tmp_path_factory.mktemp("data")
    result = subprocess.run([sys.executable, "-m", "tflipsync", "preprocess", "--input", str(root),
                             "--out", str(out), "--workers", "2"], capture_output=True, text=True)
    return root, out, result, before


def test_bad_inputs_are_reported_and_the_rest_written(batch):
    root, out, result, _ = batch
    assert result.returncode == 1, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0] == "preprocess: 3 clips written, 0 already done, 5 skipped"
    reasons = {os.path.basename(line.split(":")[0].strip()): line.split(": ", 1)[1]
               for line in lines if line.startswith("  ")}
    assert reasons["silent.mp4"].startswith("no audio")
    assert reasons["audio_only.mp4"].startswith("no video")
    assert reasons["no_frames.mp4"].startswith("no video")
    assert reasons["no_face.mp4"].startswith("no face")
    assert reasons["truncated.mp4"].startswith("corrupt")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "good/00001.tfrecord", "good/00002.tfrecord", "good/00003.tfrecord", preprocess.REPORT]
    report = json.loads((out / preprocess.REPORT).read_text())
    assert len(report["skipped"]) == 5 and report["written"] == 3


def test_inputs_are_left_untouched(batch):
    root, _, _, before = batch
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*.mp4")} == before


@pytest.mark.parametrize("name,fps", [("00001", 25), ("00002", 30)])
def test_record_contents_line_up(batch, name, fps):
    root, out, _, _ = batch
    clip = records.read_clip(str(out / "good" / f"{name}.tfrecord"))
    n = clip["num_frames"]
    assert n == FRAMES and clip["frames"].shape == (FRAMES, 96, 96, 3)
    assert clip["fps"] == pytest.approx(fps)
    assert clip["source"] == str(root / "good" / f"{name}.mp4")
    assert clip["source_size"].tolist() == [360, 640]
    assert clip["present"].mean() >= 0.99
    # frame/mel alignment: the original's int(80 * i / fps)
    assert clip["mel_starts"].tolist() == [audio_windows.mel_start(i, fps) for i in range(n)]
    wav = audio_io.load_wav(str(root / "good" / f"{name}.mp4"))
    assert np.array_equal(clip["audio"], wav)
    assert np.allclose(clip["mel"], audio_mel.melspectrogram(wav).T, atol=1e-5)
    # the landmarks' mouth lies in the lower half of the crop box, the eyes in the upper half
    lm = clip["landmarks"][clip["present"]]
    box = clip["boxes"][clip["present"]]
    rel = (lm[..., 1] - box[:, 1:2]) / (box[:, 3:4] - box[:, 1:2])
    assert np.all(rel[:, 13] > 0.5) and np.all(rel[:, 159] < 0.5)
    # crops are BGR: the astronaut's orange suit/skin makes red the strongest channel, last here
    mean = clip["frames"].reshape(-1, 3).mean(axis=0)
    assert mean[2] > mean[0]


def test_variable_frame_rate_clip_is_timed_by_timestamps(batch):
    _, out, _, _ = batch
    clip = records.read_clip(str(out / "good" / "00003.tfrecord"))
    durations = [40 if i % 3 else 80 for i in range(FRAMES)]
    times_ms = np.cumsum([0] + durations[:-1])
    assert clip["mel_starts"].tolist() == [int(80.0 * t / 1000.0) for t in times_ms]
    assert clip["mel_starts"].tolist() != [audio_windows.mel_start(i, clip["fps"]) for i in range(FRAMES)]


def test_rerun_skips_finished_clips(batch, tmp_path):
    root, out, _, _ = batch
    good = tmp_path / "in" / "good"
    good.mkdir(parents=True)
    os.symlink(root / "good" / "00001.mp4", good / "00001.mp4")
    written = out / "good" / "00001.tfrecord"
    stamp = written.stat().st_mtime_ns
    summary = preprocess.preprocess(str(tmp_path / "in"), str(out), progress=False)
    assert summary == {"written": 0, "existing": 1, "skipped": []}
    assert written.stat().st_mtime_ns == stamp


def test_filelist_in_lrs2_layout(batch, tmp_path):
    root, _, _, _ = batch
    filelist = tmp_path / "train.txt"
    filelist.write_text("good/00001\n\ngood/00002 extra-column\n")
    assert preprocess.find_videos(str(filelist), str(root)) == [
        (str(root / "good" / "00001.mp4"), "good/00001"),
        (str(root / "good" / "00002.mp4"), "good/00002")]


def test_missing_input_is_one_line_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tflipsync", "preprocess", "--input",
                             str(tmp_path / "nope"), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"tflipsync preprocess: error: {tmp_path / 'nope'}: no such file or folder")
    assert not (tmp_path / "out").exists()
