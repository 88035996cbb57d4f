"""`tflipsync sync`: output length, rate, size and audio; pass-through; the bad-input matrix."""

import os
import signal
import subprocess
import sys
import time
import wave

import av
import numpy as np
import pytest

from media import astronaut_frames, espeak, write_video
from tflipsync.audio import io as audio_io
from tflipsync.inference import sync
from tflipsync.errors import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_wav(path, samples):
    return audio_io.write_wav(path, np.asarray(samples, np.float32))


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("sync_media")
    speech = espeak(d / "speech.wav", "Hello, this is a test of the lip sync command.")  # about 3 s
    out = {"dir": d, "speech": str(speech),
           "clip": str(write_video(d / "clip.mp4", astronaut_frames(40), fps=25))}
    return out


def read_video(path):
    """(frames list RGB, fps, audio codec or None, the audio stream's duration in seconds)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        fps = float(stream.average_rate)
        codec, seconds = None, 0.0
        if container.streams.audio:
            a = container.streams.audio[0]
            codec = a.codec_context.name
            seconds = float(a.duration * a.time_base)
    return frames, fps, codec, seconds


def options(media, out, **changes):
    base = dict(face=media["clip"], audio=media["speech"], out=str(out), progress=False, engine="keras")
    base.update(changes)
    return sync.Options(**base)


def speech_seconds(path):
    with wave.open(str(path)) as f:
        return f.getnframes() / f.getframerate()


@pytest.mark.slow  # 10 s measured (--durations, two busy CPU cores)
def test_video_shorter_than_the_audio_loops_and_lasts_as_long_as_the_audio(media, tmp_path):
    out = tmp_path / "out.mp4"
    summary = sync.run_sync(options(media, out))
    frames, fps, codec, audio_seconds = read_video(out)
    seconds = speech_seconds(media["speech"])
    assert seconds > 40 / 25  # the audio is longer than the 40-frame clip
    assert fps == 25 and len(frames) == summary["frames"] == round(seconds * 25)
    assert frames[0].shape == (360, 640, 3)
    # AAC fills its last 1024-sample frame (the speech is 22,050 Hz)
    assert codec == "aac" and 0 <= audio_seconds - seconds <= 1024 / 22050 + 1e-3
    assert summary["generated"] + summary["silent"] + summary["no_face"] == summary["frames"]
    assert summary["generated"] > 0.6 * summary["frames"]
    assert not [p for p in os.listdir(tmp_path) if "partial" in p]
    # only the lower face is redrawn: forehead and eyes (rows above 90) are the input's
    source, *_ = read_video(media["clip"])
    difference = np.abs(frames[10].astype(int) - source[10].astype(int)).mean(axis=(1, 2))  # per row
    assert difference[:90].mean() < 2.0 and difference[110:170].max() > 2 * difference[:90].mean()


def test_photo_becomes_a_still_video_and_aac_audio_is_copied(media, tmp_path):
    photo = tmp_path / "face.png"
    import cv2
    cv2.imwrite(str(photo), astronaut_frames(1)[0][..., ::-1])
    m4a = tmp_path / "speech.m4a"
    samples = np.sin(np.linspace(0, 2000, 16000 * 2)).astype(np.float32) * 0.3
    write_video(m4a, [], audio=samples, video=False)
    out = tmp_path / "photo.mp4"
    summary = sync.run_sync(options(media, out, face=str(photo), audio=str(m4a), fps=30.0))
    frames, fps, codec, _ = read_video(out)
    assert fps == 30 and len(frames) == 60 and summary["audio_copied"]
    assert codec == "aac"


def test_a_face_in_some_frames_only_passes_the_others_through(media, tmp_path):
    frames = astronaut_frames(30)
    for i in range(10, 20):
        frames[i] = np.full_like(frames[i], 90)
    clip = write_video(tmp_path / "partial.mp4", frames, fps=25)
    audio = write_wav(tmp_path / "a.wav", np.random.default_rng(0).uniform(-0.3, 0.3, 16000 * 30 // 25))
    summary = sync.run_sync(options(media, tmp_path / "o.mp4", face=str(clip), audio=str(audio)))
    assert summary["no_face"] == 10 and summary["generated"] == 20
    out, *_ = read_video(tmp_path / "o.mp4")
    source, *_ = read_video(clip)
    assert np.abs(out[15].astype(int) - source[15].astype(int)).max() <= 12  # re-encoded, otherwise the same


def test_rotation_metadata_is_applied(media, tmp_path):
    upright = astronaut_frames(20)
    stored = [np.ascontiguousarray(np.rot90(f, k=-1)) for f in upright]  # as a phone stores it
    clip = write_video(tmp_path / "rot.mp4", stored, fps=25, rotation=90)
    summary = sync.run_sync(options(media, tmp_path / "o.mp4", face=str(clip)))
    frames, *_ = read_video(tmp_path / "o.mp4")
    assert frames[0].shape == (360, 640, 3)
    assert summary["generated"] > 0


@pytest.mark.slow  # 10 s measured (--durations, two busy CPU cores)
def test_variable_frame_rate_comes_out_constant(media, tmp_path):
    times = np.cumsum([0] + [40 if i % 3 else 80 for i in range(29)])  # 30 frames, irregular
    clip = write_video(tmp_path / "vfr.mp4", astronaut_frames(30), fps=25, times_ms=times)
    out = tmp_path / "o.mp4"
    summary = sync.run_sync(options(media, out, face=str(clip)))
    frames, fps, *_ = read_video(out)
    assert len(frames) == summary["frames"] == round(speech_seconds(media["speech"]) * summary["fps"])


@pytest.mark.slow  # 19 s measured (--durations, two busy CPU cores)
def test_odd_dimensions_and_audio_shorter_than_the_video(media, tmp_path):
    frames = [f[:359, :639] for f in astronaut_frames(60)]
    clip = write_video(tmp_path / "odd.mp4", [np.pad(f, ((0, 1), (0, 1), (0, 0))) for f in frames], fps=25)
    # crop to an odd size inside the tool, then 1 s of audio for a 2.4 s video
    audio = write_wav(tmp_path / "a.wav", np.random.default_rng(1).uniform(-0.3, 0.3, 16000))
    summary = sync.run_sync(options(media, tmp_path / "o.mp4", face=str(clip), audio=str(audio),
                                    crop=(0, 359, 0, 639)))
    out, *_ = read_video(tmp_path / "o.mp4")
    assert summary["size"] == (359, 639) and summary["frames"] == 25 and len(out) == 25
    assert out[0].shape == (360, 640, 3)  # padded by one edge pixel for H.264 4:2:0


@pytest.mark.slow  # 17 s measured (--durations, two busy CPU cores)
def test_4k_frames(media, tmp_path):
    import cv2
    frames = [cv2.resize(f, (3840, 2160)) for f in astronaut_frames(4)]
    clip = write_video(tmp_path / "4k.mp4", frames, fps=25)
    audio = write_wav(tmp_path / "a.wav", np.random.default_rng(2).uniform(-0.3, 0.3, 16000 // 5))
    summary = sync.run_sync(options(media, tmp_path / "o.mp4", face=str(clip), audio=str(audio)))
    assert summary["size"] == (2160, 3840) and summary["generated"] == 5


BAD_INPUTS = ["missing", "not media", "no samples", "silent", "no video stream", "no face", "unwritable",
              "output is input"]


def bad_input(case, media, d):
    """(face, audio, out, the expected error's text) for one of BAD_INPUTS, made in folder `d`."""
    out = d / "out.mp4"
    face, audio = media["clip"], media["speech"]
    if case == "missing":
        face = str(d / "nope.mp4")
        expected = "nope.mp4: no such file"
    elif case == "not media":
        face = str(d / "text.mp4")
        open(face, "w").write("not a video\n" * 50)
        expected = "text.mp4: not a readable video file"
    elif case == "no samples":
        audio = str(write_wav(d / "empty.wav", np.zeros(0)))
        expected = "empty.wav: no audio samples"
    elif case == "silent":
        audio = str(write_wav(d / "silent.wav", np.zeros(16000)))
        expected = "silent.wav: the audio is silent throughout"
    elif case == "no video stream":
        face = str(write_video(d / "audio_only.mp4", [], audio=np.zeros(16000, np.float32) + 0.1, video=False))
        expected = "audio_only.mp4: no video stream"
    elif case == "no face":
        face = str(write_video(d / "grey.mp4", [np.full((120, 160, 3), 90, np.uint8)] * 10))
        expected = "grey.mp4: no face found in any of its 10 frames"
    elif case == "unwritable":
        out = d / "missing_folder" / "out.mp4"
        expected = "does not exist"
    elif case == "output is input":
        out = d / "clip.mp4"
        face = str(write_video(out, astronaut_frames(5)))
        expected = "the output path is one of the inputs"
    return face, audio, out, expected


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_gives_one_error_and_no_output(media, tmp_path, case):
    d = tmp_path
    face, audio, out, expected = bad_input(case, media, d)
    before = {p: os.path.getsize(os.path.join(d, p)) for p in os.listdir(d)}
    with pytest.raises(InputError) as err:
        sync.run_sync(options(media, out, face=face, audio=audio))
    assert expected in str(err.value) and "\n" not in str(err.value)
    after = {p: os.path.getsize(os.path.join(d, p)) for p in os.listdir(d)}
    assert after == before  # no output, no partial file, inputs untouched


def _cli(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "tflipsync", "sync", "--noprogress", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.slow  # 15 s measured (--durations, two busy CPU cores)
def test_cli_exit_status_and_one_line_error(media, tmp_path):
    process = _cli("--face", str(tmp_path / "nope.mp4"), "--audio", media["speech"], "--out", str(tmp_path / "o.mp4"))
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    assert stderr.strip().splitlines()[-1] == f"tflipsync sync: error: {tmp_path / 'nope.mp4'}: no such file"


@pytest.mark.slow  # 21 s measured (--durations, two busy CPU cores)
def test_ctrl_c_leaves_no_partial_output(media, tmp_path):
    long_audio = write_wav(tmp_path / "long.wav", np.random.default_rng(3).uniform(-0.3, 0.3, 16000 * 60))
    out = tmp_path / "o.mp4"
    # A shell that starts a job in the background (`cmd &`, as some CI runners do) leaves SIGINT
    # ignored, and the child would inherit that: give it the default disposition, as a terminal does.
    process = _cli("--face", media["clip"], "--audio", str(long_audio), "--out", str(out), "--batch_size", "4",
                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not [p for p in os.listdir(tmp_path) if "partial" in p]:
        time.sleep(0.2)
    assert [p for p in os.listdir(tmp_path) if "partial" in p], "the run never started writing"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr
    assert sorted(os.listdir(tmp_path)) == ["long.wav"]


@pytest.mark.slow  # 7-13 s measured (--durations, two busy CPU cores)
@pytest.mark.parametrize("preset", ["telegram", "whatsapp", "gif"])
def test_sticker_presets_keep_their_limits(media, tmp_path, preset):
    from PIL import Image

    from tflipsync.inference import sticker
    from tflipsync.media import stickers

    limits = stickers.PRESETS[preset]
    out = tmp_path / f"s{limits.extension}"
    summary = sticker.run_sticker(options(media, out), preset, trim=True)
    size = os.path.getsize(out)
    assert summary["bytes"] == size and (limits.max_bytes == 0 or size <= limits.max_bytes)
    if preset == "telegram":
        frames, fps, codec, _ = read_video(out)
        with av.open(str(out)) as container:
            assert container.streams.video[0].codec_context.name == "vp9" and not container.streams.audio
        assert summary["trimmed"] and len(frames) / fps <= 3.0 + 1e-6 and frames[0].shape == (512, 512, 3)
    else:
        with Image.open(out) as image:
            # identical neighbours (silent frames) may be merged into one longer frame
            assert image.size == (512, 512) and 10 < image.n_frames <= summary["sticker_frames"]
            assert image.info.get("loop") == 0
            if preset == "gif":
                assert image.mode == "P" and len(image.getpalette()) // 3 <= 256  # first frame, palette
            duration = 0
            for i in range(image.n_frames):
                image.seek(i)
                image.load()  # WebP frames carry their duration once decoded
                duration += image.info["duration"] / 1000
            assert abs(duration - summary["sticker_frames"] / summary["sticker_fps"]) < 0.05
            assert duration <= limits.max_seconds


def test_sticker_refuses_long_audio_without_trim(media, tmp_path):
    from tflipsync.inference import sticker

    with pytest.raises(InputError, match=r"the telegram preset allows 3 s \(give --trim to cut it\)"):
        sticker.run_sticker(options(media, tmp_path / "s.webm"), None)
    with pytest.raises(InputError, match="the gif preset writes .gif files"):
        sticker.run_sticker(options(media, tmp_path / "s.webm"), "gif")
    assert os.listdir(tmp_path) == []


def test_atomic_files_get_the_mode_a_plain_open_gives(tmp_path):
    """Stickers, PNGs and .tflite files go through a private temporary file; the result must not
    stay private (0600) where the umask allows others to read."""
    from tflipsync import files

    old = os.umask(0o022)
    try:
        files.write_bytes(tmp_path / "a.gif", b"GIF89a")
        assert (os.stat(tmp_path / "a.gif").st_mode & 0o777) == 0o644
        os.umask(0o077)
        files.write_bytes(tmp_path / "b.gif", b"GIF89a")
        assert (os.stat(tmp_path / "b.gif").st_mode & 0o777) == 0o600
    finally:
        os.umask(old)
    assert (tmp_path / "a.gif").read_bytes() == b"GIF89a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif", "b.gif"]
