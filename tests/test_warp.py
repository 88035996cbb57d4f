"""The mouth warp (tflipsync/inference/warp.py) and `--engine landmarks` / `--sketch` in sync and sticker."""

import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from media import astronaut_frames, espeak, write_video
from test_sync import BAD_INPUTS, ROOT, bad_input, read_video, speech_seconds, write_wav
from tflipsync.audio import io as audio_io
from tflipsync.inference import sticker, sync, warp
from tflipsync.errors import InputError

SKIN, LIPS = (200, 160, 140), (170, 70, 80)
CENTRE, HALF_WIDTH, HALF_HEIGHT = np.array([100.0, 110.0]), 30.0, 12.0


def ring(half_width, half_height, centre=CENTRE):
    """RING points in OUTER_LIPS order: left corner, the lower lip to the right corner, the upper back."""
    angles = np.concatenate([np.pi - np.arange(11) * np.pi / 10, -np.arange(1, 10) * np.pi / 10])
    return centre + np.stack([half_width * np.cos(angles), half_height * np.sin(angles)], axis=1)


def closed_mouth_face(size=200, seed=0):
    """A textured skin image with closed lips; (image, outer, inner) with the inner lips meeting."""
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.normal(0, 14, (size, size, 3)), (0, 0), 1.5)
    image = np.clip(np.array(SKIN) + texture, 0, 255)
    outer = ring(HALF_WIDTH, HALF_HEIGHT)
    cv2.fillPoly(image, [np.round(outer).astype(np.int32)], LIPS)
    inner = ring(0.8 * HALF_WIDTH, 0.0)
    return image.astype(np.uint8), outer, inner


def grey(image):
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def test_target_equal_to_source_is_the_identity():
    image, outer, inner = closed_mouth_face()
    assert np.abs(warp.MouthWarp(image, outer, inner)(image, outer, inner).astype(int) - image).max() <= 1
    photo = astronaut_frames(1)[0]  # a real face, whose mouth is open (teeth): identity as well
    out = warp.MouthWarp(photo, outer + 60, inner + 60)(photo, outer + 60, inner + 60)
    assert np.abs(out.astype(int) - photo).max() <= 1


def test_moving_the_inner_lips_apart_opens_a_dark_mouth():
    image, outer, inner = closed_mouth_face()
    mouth_warp = warp.MouthWarp(image, outer, inner)
    _, down = warp.mouth_axes(outer)
    dark = []
    for opening in (0.0, 0.1, 0.2, 0.3):  # fractions of the mouth's width
        shift = opening * mouth_warp.width * down
        moved_outer, moved_inner = outer.copy(), inner.copy()
        moved_outer[1:10] += shift  # the lower lip, outer and inner edge
        moved_inner[1:10] += shift
        out = mouth_warp(image, moved_outer, moved_inner)
        dark.append(int((grey(out) < 60).sum()))
        if opening:
            # the dark interior fills at least half of the opening between the inner lips
            assert dark[-1] - dark[0] > 0.5 * warp.polygon_area(moved_inner)
    assert dark[0] < 10 and dark == sorted(dark) and dark[3] > 1.5 * dark[1]


def test_without_its_own_content_the_source_opening_shows_only_the_interior():
    """A video frame's own teeth stay out of the new opening (own_content=False); a photo's stay."""
    image, outer, inner = closed_mouth_face()
    outer, inner = ring(HALF_WIDTH, 1.4 * HALF_HEIGHT), ring(0.8 * HALF_WIDTH, 0.7 * HALF_HEIGHT)
    cv2.fillPoly(image, [np.round(outer).astype(np.int32)], LIPS)
    cv2.fillPoly(image, [np.round(inner).astype(np.int32)], (250, 250, 250))  # the source's own teeth
    opening = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(opening, [np.round(inner).astype(np.int32)], 1)
    middle = cv2.erode(opening, np.ones((5, 5), np.uint8)).astype(bool)
    kept = warp.MouthWarp(image, outer, inner)(image, outer, inner)
    filled = warp.MouthWarp(image, outer, inner, own_content=False)(image, outer, inner)
    assert grey(kept)[middle].min() >= 245  # the identity: the source's teeth
    assert grey(filled)[middle].mean() < 150  # the synthesised interior: a dark throat, no white block
    lips = cv2.dilate(opening, np.ones((7, 7), np.uint8)) == 0  # away from the opening nothing differs
    assert np.abs(filled[lips].astype(int) - kept[lips]).max() <= 1


def drop_lower_lip(mouth_warp, outer, inner, share=0.25):
    """(outer, inner) lips with the lower lip (points 1..9 of each ring) moved towards the chin by
    `share` of the mouth's width: an opened mouth."""
    _, down = warp.mouth_axes(outer)
    moved_outer, moved_inner = outer.copy(), inner.copy()
    moved_outer[1:10] += share * mouth_warp.width * down
    moved_inner[1:10] += share * mouth_warp.width * down
    return moved_outer, moved_inner


def outside_region(mouth_warp, shape):
    """bool `shape`: the pixels outside the warp's region (ring 3's bounding box)."""
    x0, y0, x1, y1 = mouth_warp.region
    outside = np.ones(shape, bool)
    outside[y0:y1, x0:x1] = False
    return outside


def test_pixels_away_from_the_mouth_are_unchanged_and_there_is_no_seam():
    image, outer, inner = closed_mouth_face()
    mouth_warp = warp.MouthWarp(image, outer, inner)
    moved_outer, moved_inner = drop_lower_lip(mouth_warp, outer, inner)
    out = mouth_warp(image, moved_outer, moved_inner)
    x0, y0, x1, y1 = mouth_warp.region
    assert x1 - x0 < 3 * 2 * HALF_WIDTH and y1 - y0 < 3 * 2 * HALF_WIDTH  # a small region around the mouth
    outside = outside_region(mouth_warp, image.shape[:2])
    assert np.array_equal(out[outside], image[outside])
    assert np.abs(out[y0:y1, x0:x1].astype(int) - image[y0:y1, x0:x1]).max() > 50  # the mouth did change

    def gradient(picture):
        g = grey(picture).astype(np.float32)
        return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))

    def border_steps(p):
        """Grey-level steps between the pixels just inside and just outside the region's border."""
        g = grey(p).astype(int)
        return np.concatenate([np.abs(g[y0:y1, x0] - g[y0:y1, x0 - 1]), np.abs(g[y0:y1, x1 - 1] - g[y0:y1, x1]),
                               np.abs(g[y0, x0:x1] - g[y0 - 1, x0:x1]), np.abs(g[y1 - 1, x0:x1] - g[y1, x0:x1])])

    assert border_steps(out).max() <= border_steps(image).max() + 2
    # where the warp fades out (around the fixed ring), gradients stay the skin texture's: no edge
    fixed = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(fixed, [np.round(mouth_warp.source[3 * warp.RING:]).astype(np.int32)], 1)
    kernel = np.ones((7, 7), np.uint8)
    band = (cv2.dilate(fixed, kernel) - cv2.erode(fixed, kernel)).astype(bool)
    assert gradient(out)[band].max() <= 1.25 * gradient(image)[band].max()


def test_the_warp_samples_only_the_mouth_region(monkeypatch):
    """What keeps the warp fast whatever the frame size: per frame, one remap over the region
    inside ring 3, and every pixel outside it left as it is. (No time is asserted: timings belong
    in benchmarks/, not in a test on shared CPUs.)"""
    photo = cv2.resize(astronaut_frames(1)[0], (1280, 720))
    outer, inner = ring(60, 24, np.array([640.0, 420.0])), ring(48, 0.0, np.array([640.0, 420.0]))
    mouth_warp = warp.MouthWarp(photo, outer, inner)
    opened = inner.copy()
    opened[1:10, 1] += 20
    remap, maps = cv2.remap, []

    def counting_remap(source, map_x, map_y, *args, **kwargs):
        maps.append(map_x.shape)
        return remap(source, map_x, map_y, *args, **kwargs)

    monkeypatch.setattr(warp.cv2, "remap", counting_remap)
    out = mouth_warp(photo, outer, opened)
    x0, y0, x1, y1 = mouth_warp.region
    assert maps == [(y1 - y0, x1 - x0)]
    # a mouth 120 px wide in a 720p frame: 229 x 155 px measured, 3.9 % of the frame
    assert (x1 - x0) * (y1 - y0) < 0.05 * 1280 * 720
    outside = np.ones(photo.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], photo[outside])
    assert not np.array_equal(out[y0:y1, x0:x1], photo[y0:y1, x0:x1])  # the lips did move


# end to end: `--engine landmarks` in sync and sticker

@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("warp_media")
    speech = espeak(d / "speech.wav", "Hello, this is a test of the lip sync command.")  # about 3 s
    photo = d / "face.png"
    cv2.imwrite(str(photo), astronaut_frames(1)[0][..., ::-1])
    return {"dir": d, "speech": str(speech), "photo": str(photo),
            "clip": str(write_video(d / "clip.mp4", astronaut_frames(40), fps=25))}


def options(media, out, **changes):
    base = dict(face=media["photo"], audio=media["speech"], out=str(out), engine="landmarks", progress=False)
    base.update(changes)
    return sync.Options(**base)


def frame_energy(path, count, fps):
    wav = audio_io.load_wav(path)
    return np.array([np.sqrt(np.mean(wav[int(j / fps * 16000):int((j + 1) / fps * 16000)] ** 2) + 1e-12)
                     for j in range(count)])


def best_correlation(a, b, lags=range(-3, 4)):
    """The largest Pearson correlation of a[j] with b[j + lag] over the lags."""
    n = len(a)
    return max(np.corrcoef(a[max(0, -lag):n - max(0, lag)], b[max(0, lag):n - max(0, -lag)])[0, 1] for lag in lags)


def test_sync_on_a_photo_moves_the_mouth_with_the_speech_and_writes_the_sketch(media, tmp_path):
    out, sketch = tmp_path / "out.mp4", tmp_path / "sketch.mp4"
    summary = sync.run_sync(options(media, out, sketch=str(sketch)))
    frames, fps, codec, _ = read_video(out)
    seconds = speech_seconds(media["speech"])
    assert fps == 25 and len(frames) == summary["frames"] == round(seconds * 25) and codec == "aac"
    assert frames[0].shape == (360, 640, 3) and summary["generated"] > 0.6 * summary["frames"]
    assert summary["generated"] + summary["silent"] + summary["no_face"] == summary["frames"]
    assert "articulation model" in summary["weights"]  # the embedded landmarks predictor (model.json)
    photo = astronaut_frames(1)[0].astype(int)
    change = np.array([np.abs(f[:, 200:330].astype(int) - photo[:, 200:330]).mean(axis=2) for f in frames])
    by_row = change.mean(axis=(0, 2))  # the face's columns
    # the mouth is at rows 100 to 115: the change is there, not on the forehead or the eyes (H.264's own
    # error is about 2 grey levels everywhere)
    assert by_row[95:125].max() > 4 * by_row[10:70].mean()
    mouth_change = change[:, 95:125, 20:110].mean(axis=(1, 2))
    energy = frame_energy(media["speech"], len(frames), fps)
    assert best_correlation(energy, mouth_change) > 0.3
    sketches, sketch_fps, *_ = read_video(sketch)
    assert len(sketches) == len(frames) and sketch_fps == fps and sketches[0].shape == frames[0].shape
    lit = np.array([(s.max(axis=2) > 100).sum() for s in sketches])
    assert lit.min() > 500  # the face's edges in every frame
    coloured = np.array([((s[..., 1].astype(int) - s[..., 2] > 80) | (s[..., 0].astype(int) - s[..., 2] > 80))
                         .sum() for s in sketches])
    assert (coloured > 50).sum() == summary["generated"]  # landmarks drawn on the redrawn frames only
    assert not [p for p in os.listdir(tmp_path) if "partial" in p]


def test_sticker_with_landmarks_is_512_square_and_lasts_as_long_as_the_speech(media, tmp_path):
    from PIL import Image

    out = tmp_path / "s.gif"
    summary = sticker.run_sticker(options(media, out, sketch=str(tmp_path / "sketch.mp4")), None)
    assert summary["frames"] == round(speech_seconds(media["speech"]) * 20) == summary["sticker_frames"]
    with Image.open(out) as image:
        assert image.size == (512, 512) and 10 < image.n_frames <= summary["sticker_frames"]
    sketches, fps, *_ = read_video(tmp_path / "sketch.mp4")
    assert len(sketches) == summary["frames"] and fps == 20 and sketches[0].shape == (512, 512, 3)


def test_a_video_with_faces_in_some_frames_odd_size_and_short_audio(media, tmp_path):
    frames = astronaut_frames(40)
    for i in range(10, 20):
        frames[i] = np.full_like(frames[i], 90)
    clip = write_video(tmp_path / "partial.mp4", frames, fps=25)
    audio_path = write_wav(tmp_path / "a.wav", np.random.default_rng(0).uniform(-0.3, 0.3, 16000))  # 1 s of 1.6
    summary = sync.run_sync(options(media, tmp_path / "o.mp4", face=str(clip), audio=str(audio_path),
                                    crop=(0, 359, 0, 639)))
    out, *_ = read_video(tmp_path / "o.mp4")
    assert summary["size"] == (359, 639) and summary["frames"] == 25 == len(out)
    assert summary["no_face"] == 10 and summary["generated"] == 15
    source, *_ = read_video(clip)
    assert np.abs(out[15][:359, :639].astype(int) - source[15][:359, :639]).max() <= 12  # passed through


def test_rotation_metadata_variable_frame_rate_and_audio_longer_than_the_video(media, tmp_path):
    times = np.cumsum([0] + [40 if i % 3 else 80 for i in range(19)])  # 20 frames, irregular
    stored = [np.ascontiguousarray(np.rot90(f, k=-1)) for f in astronaut_frames(20)]  # as a phone stores it
    clip = write_video(tmp_path / "rot_vfr.mp4", stored, fps=25, times_ms=times, rotation=90)
    summary = sync.run_sync(options(media, tmp_path / "o.mp4", face=str(clip)))
    frames, fps, *_ = read_video(tmp_path / "o.mp4")
    assert frames[0].shape == (360, 640, 3) and summary["generated"] > 0
    assert len(frames) == summary["frames"] == round(speech_seconds(media["speech"]) * summary["fps"])


def test_4k_frames(media, tmp_path):
    clip = write_video(tmp_path / "4k.mp4", [cv2.resize(f, (3840, 2160)) for f in astronaut_frames(3)], fps=25)
    audio_path = write_wav(tmp_path / "a.wav", np.random.default_rng(2).uniform(-0.3, 0.3, 16000 // 5))
    summary = sync.run_sync(options(media, tmp_path / "o.mp4", face=str(clip), audio=str(audio_path)))
    assert summary["size"] == (2160, 3840) and summary["generated"] == 5


@pytest.mark.parametrize("case", BAD_INPUTS + ["sketch is input", "sketch without landmarks", "width"])
def test_bad_input_gives_one_error_and_no_output(media, tmp_path, case):
    changes = {}
    if case in BAD_INPUTS:
        face, audio_path, out, expected = bad_input(case, media, tmp_path)
        changes = dict(face=face, audio=audio_path)
    else:
        out = tmp_path / "out.mp4"
        if case == "sketch is input":
            changes = dict(sketch=media["photo"])
            expected = "face.png: the output path is one of the inputs"
        elif case == "sketch without landmarks":
            changes = dict(engine="keras", sketch=str(tmp_path / "sketch.mp4"))
            expected = "--sketch: needs --engine landmarks"
        else:
            changes = dict(width=0.5)
            expected = "--width: the landmarks engine has no width"
    before = {p: os.path.getsize(os.path.join(tmp_path, p)) for p in os.listdir(tmp_path)}
    with pytest.raises(InputError) as err:
        sync.run_sync(options(media, out, **changes))
    assert expected in str(err.value) and "\n" not in str(err.value)
    after = {p: os.path.getsize(os.path.join(tmp_path, p)) for p in os.listdir(tmp_path)}
    assert after == before  # no output, no sketch, no partial file, inputs untouched


@pytest.mark.slow  # 20 s measured (--durations, two busy CPU cores)
def test_ctrl_c_leaves_no_partial_output_or_sketch(media, tmp_path):
    long_audio = write_wav(tmp_path / "long.wav", np.random.default_rng(3).uniform(-0.3, 0.3, 16000 * 60))
    process = subprocess.Popen(
        [sys.executable, "-m", "tflipsync", "sync", "--noprogress", "--engine", "landmarks", "--face", media["clip"],
         "--audio", str(long_audio), "--out", str(tmp_path / "o.mp4"), "--sketch", str(tmp_path / "s.mp4")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and len([p for p in os.listdir(tmp_path) if "partial" in p]) < 2:
        time.sleep(0.1)
    assert len([p for p in os.listdir(tmp_path) if "partial" in p]) == 2, "the run never started writing"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr
    assert sorted(os.listdir(tmp_path)) == ["long.wav"]
