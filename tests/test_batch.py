"""The Beam jobs on the DirectRunner's multi-process mode (tflipsync/batch/): `tflipsync preprocess
--runner direct` against the local path, and `tflipsync batch-sync` with bad rows and an
interrupted run."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest

from media import astronaut_frames, espeak, write_video
from tflipsync.batch import sync as batch_sync
from tflipsync.corpus import preprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIRECT = ["--runner", "direct", "--workers", "2"]


def _tflipsync(*args, **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "tflipsync", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=ROOT, **kwargs)


def _partials(folder):
    return sorted(str(p) for p in folder.rglob("*") if ".partial" in p.name)


def _stamps(paths):
    return {str(p): (os.stat(p).st_ino, os.stat(p).st_mtime_ns) for p in paths}


def _frames(path):
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _without_beam(*args):
    """Runs the command in a Python where `import apache_beam` fails, as in the core install."""
    code = ("import sys; sys.modules['apache_beam'] = None; from tflipsync.cli import main; "
            f"sys.exit(main({list(map(str, args))!r}))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


def test_without_beam_the_commands_answer_and_a_beam_runner_names_the_extra(tmp_path):
    for command in ("preprocess", "batch-sync"):
        assert _without_beam(command, "--help").returncode == 0
    manifest = _manifest(tmp_path / "jobs.csv", [["a.mp4", "b.wav", "c.mp4"]])
    result = _without_beam("batch-sync", "--manifest", manifest, "--out_dir", tmp_path / "out")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == ('tflipsync batch-sync: error: --runner=direct: needs Apache '
                                                      'Beam, which is not installed: pip install -e ".[beam]"')
    assert not (tmp_path / "out").exists()


def test_find_videos_reads_a_glob_and_keeps_the_layout_below_it(tmp_path):
    for name in ("a/1.mp4", "a/2.MOV", "b/c/3.mp4", "b/notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert preprocess.find_videos(str(tmp_path / "*" / "*")) == [
        (str(tmp_path / "a" / "1.mp4"), "a/1"), (str(tmp_path / "a" / "2.MOV"), "a/2")]
    assert [stem for _, stem in preprocess.find_videos(str(tmp_path / "b" / "**" / "*.mp4"))] == ["c/3"]
    with pytest.raises(preprocess.InputError, match="no video files found"):
        preprocess.find_videos(str(tmp_path / "*.mkv"))


@pytest.mark.slow
def test_beam_preprocess_gives_the_local_records_byte_for_byte(synthetic_corpus, tmp_path):
    """Four clips and a truncated one, one clip already done: the three made are the local path's
    bytes, the done one is left as it was, the bad one is in the report written at the end."""
    videos = sorted(synthetic_corpus.videos.rglob("*.mp4"))
    bad = tmp_path / "truncated.mp4"
    bad.write_bytes(videos[0].read_bytes()[:5000])
    filelist = tmp_path / "clips.txt"
    filelist.write_text("".join(f"{p}\n" for p in videos + [bad]))  # absolute: <id>.tfrecord in --out
    out = tmp_path / "records"
    out.mkdir()
    done = out / (videos[0].stem + ".tfrecord")
    done.write_bytes((synthetic_corpus.records / videos[0].parent.name / done.name).read_bytes())
    before = _stamps([done])

    result = _tflipsync("preprocess", "--input", filelist, "--out", out, *DIRECT)

    assert result.returncode == 1, result.stderr[-3000:]  # 1: a clip was skipped
    assert result.stdout.splitlines()[0] == "preprocess: 3 clips written, 1 already done, 1 skipped"
    report = json.loads((out / preprocess.REPORT).read_text())
    assert report["written"] == 3 and report["existing"] == 1
    assert [source for source, _ in report["skipped"]] == [str(bad)]
    assert report["skipped"][0][1].startswith("corrupt")
    for video in videos:
        local = synthetic_corpus.records / video.parent.name / (video.stem + ".tfrecord")
        assert (out / local.name).read_bytes() == local.read_bytes(), video
    assert _stamps([done]) == before
    assert sorted(p.name for p in out.iterdir()) == sorted([v.stem + ".tfrecord" for v in videos]
                                                           + [preprocess.REPORT])


@pytest.fixture(scope="module")
def dubbing(tmp_path_factory):
    """Inputs of batch-sync: a face video and a photo, speech, a video without a face."""
    d = tmp_path_factory.mktemp("dubbing")
    speech = espeak(d / "speech.wav", "Hello there, how are you?")  # about 1.5 s
    write_video(d / "face.mp4", astronaut_frames(30), fps=25)
    write_video(d / "blank.mp4", [np.full((120, 160, 3), 90, np.uint8)] * 10, fps=25)
    os.symlink(os.path.join(ROOT, "examples", "astronaut.jpg"), d / "photo.jpg")
    return d, speech


def _manifest(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["face", "audio", "out"])
        writer.writerows(rows)
    return path


def _errors(out):
    with open(out / batch_sync.ERRORS, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_batch_sync_writes_good_rows_and_reports_each_bad_one(dubbing, tmp_path):
    d, _ = dubbing
    manifest = _manifest(d / "jobs.csv", [
        ["face.mp4", "speech.wav", "video.mp4"],
        ["photo.jpg", "speech.wav", "sub/photo.mp4"],
        ["missing.mp4", "speech.wav", "missing.mp4"],
        ["blank.mp4", "speech.wav", "blank.mp4"],
        ["photo.jpg", "speech.wav", "video.mp4"],  # the output of row 1 again
    ])
    out = tmp_path / "out"
    result = _tflipsync("batch-sync", "--manifest", manifest, "--out_dir", out, *DIRECT)

    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == (f"batch-sync: 2 written, 0 already done, 3 failed "
                                              f"(see {out / batch_sync.ERRORS})")
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [batch_sync.ERRORS, batch_sync.REPORT, "sub/photo.mp4", "video.mp4"]
    assert _frames(out / "video.mp4") == _frames(out / "sub" / "photo.mp4") > 25  # as long as the speech
    errors = _errors(out)
    assert [e["row"] for e in errors] == ["3", "4", "5"]
    assert errors[0]["error"] == f"{d / 'missing.mp4'}: no such file"
    assert errors[1]["error"].startswith(f"{d / 'blank.mp4'}: no face found")
    assert errors[2]["error"] == f"{out / 'video.mp4'}: row 1 writes this output too; each row needs its own output"
    assert json.loads((out / batch_sync.REPORT).read_text()) == {"written": 2, "existing": 0, "failed": 3}

    before = _stamps(out / name for name in ("video.mp4", "sub/photo.mp4"))
    again = _tflipsync("batch-sync", "--manifest", manifest, "--out_dir", out, *DIRECT)
    assert again.stdout.splitlines()[-1].startswith("batch-sync: 0 written, 2 already done, 3 failed")
    assert _stamps(out / name for name in ("video.mp4", "sub/photo.mp4")) == before
    assert [e["row"] for e in _errors(out)] == ["3", "4", "5"]


@pytest.mark.slow
def test_killed_batch_sync_reruns_only_the_unfinished_rows(dubbing, tmp_path):
    d, _ = dubbing
    names = [f"dub{i}.mp4" for i in range(4)]
    manifest = _manifest(tmp_path / "jobs.csv", [[str(d / "photo.jpg"), str(d / "speech.wav"), n] for n in names])
    out = tmp_path / "out"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen([sys.executable, "-m", "tflipsync", "batch-sync", "--manifest", str(manifest),
                              "--out_dir", str(out), *DIRECT], cwd=ROOT, env=env, start_new_session=True,
                             stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not any((out / n).exists() for n in names) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the launcher and its worker processes, mid-row
        first.wait()
        log.close()
    finished = [out / n for n in names if (out / n).exists()]
    assert 1 <= len(finished) < len(names), (tmp_path / "first.log").read_text()[-3000:]
    before = _stamps(finished)

    result = _tflipsync("batch-sync", "--manifest", manifest, "--out_dir", out, *DIRECT)

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == (f"batch-sync: {len(names) - len(finished)} written, "
                                              f"{len(finished)} already done, 0 failed")
    assert _stamps(finished) == before  # not redone
    assert all(_frames(out / n) > 25 for n in names)
    assert _partials(out) == []
    assert _errors(out) == []
