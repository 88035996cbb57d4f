"""Mouths that cannot be redrawn pass through (covered, turned away), and small faces still work."""

import glob
import os

import av
import cv2
import numpy as np
import pytest

from media import astronaut_frames, write_video
from tflipsync.audio import io as audio_io
from tflipsync.faces import detect, mesh as face_mesh, track, visibility
from tflipsync.inference import paste, pipeline, plan, sync

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTO = os.path.join(ROOT, "examples", "astronaut.jpg")
MOUTH = (164.0, 104.5)  # the astronaut's mouth centre in astronaut_frames, less the frame's sideways offset
SKIN = (236, 200, 179)  # RGB of her cheek
HAND, MICROPHONE = range(12, 28), range(30, 34)


def offset(i):
    return int(round(100 + np.sin(i / 7.0) * 10))  # astronaut_frames' drift


def hand(frame, x, y):
    """A flat skin-coloured hand (palm and four fingers) over the mouth at (x, y)."""
    out = frame.copy()
    cv2.ellipse(out, (int(x), int(y + 8)), (28, 16), 0, 0, 360, SKIN, -1)
    for k in range(4):
        cv2.ellipse(out, (int(x - 20 + k * 13), int(y - 6)), (5, 12), 0, 0, 360, SKIN, -1)
    return out


def covered_clip(path):
    """40 frames: a hand over the mouth in frames 12-27, a dark microphone in front of it in 30-33.

    The microphone is 32 px wide on a 44 px mouth; one 16 px wide, over its middle third only, is
    missed in 2 of its 4 frames (the lips' chroma barely moves), see tflipsync/faces/visibility.py.
    """
    frames = astronaut_frames(40)
    for i in HAND:
        frames[i] = hand(frames[i], MOUTH[0] + offset(i), MOUTH[1])
    for i in MICROPHONE:
        x = int(MOUTH[0]) + offset(i)
        frames[i] = cv2.rectangle(frames[i].copy(), (x - 16, 94), (x + 16, 200), (40, 40, 45), -1)
    return write_video(path, frames, fps=25)


def decode(path):
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])]


def render(options):
    """The output frames of a sync job as pipeline.render hands them to the encoder, and its counts."""
    job = plan.prepare(options)
    frames = []
    counts = pipeline.render(job, frames.append)
    return frames, counts


def test_covered_mouths_pass_through_unchanged_and_are_counted(tmp_path):
    clip = covered_clip(tmp_path / "covered.mp4")
    audio = audio_io.write_wav(tmp_path / "a.wav",
                               np.random.default_rng(0).uniform(-0.3, 0.3, 16000 * 40 // 25).astype(np.float32))
    options = sync.Options(face=str(clip), audio=str(audio), out=str(tmp_path / "o.mp4"), progress=False, engine="keras")
    out, counts = render(options)
    source = decode(clip)
    covered = set(HAND) | set(MICROPHONE)
    assert len(out) == 40
    assert counts["occluded"] == len(covered) and counts["generated"] == 40 - len(covered)
    assert counts["profile"] == counts["no_face"] == 0
    for i in range(40):
        if i in covered:
            assert np.array_equal(out[i], source[i]), i  # the decoded frame itself
        else:
            x = int(MOUTH[0]) + offset(i)
            mouth = (slice(90, 125), slice(x - 25, x + 25))
            assert np.abs(out[i][mouth].astype(int) - source[i][mouth].astype(int)).mean() > 1.0, i


def turned(points, degrees):
    """Mesh points (468, 3) turned about the vertical axis through their centre."""
    angle = np.radians(degrees)
    centre = points.mean(axis=0)
    x, y, z = (points - centre).T
    return np.stack([x * np.cos(angle) - z * np.sin(angle), y, x * np.sin(angle) + z * np.cos(angle)], 1) + centre


@pytest.fixture(scope="module")
def photo_face():
    """The bundled photo (RGB) and its face mesh points."""
    rgb = cv2.imread(PHOTO)[..., ::-1].copy()
    with detect.FaceDetector() as detector:
        detection = detector.detect(rgb)[0]
    points, _ = face_mesh.FaceMesh().landmarks(rgb, detection)
    return rgb, points


def test_yaw_follows_the_head_and_a_profile_passes_through(photo_face):
    rgb, points = photo_face
    assert abs(visibility.yaw_degrees(points)) < 8  # the photo is frontal
    base = visibility.yaw_degrees(points)
    for degrees in (20, 40, 70, -70):
        assert abs(abs(visibility.yaw_degrees(turned(points, degrees)) - base) - abs(degrees)) < 4, degrees
    views = [visibility.MouthView(visibility.yaw_degrees(turned(points, d)), np.array([-12.0, 8.0, -2.0]))
             for d in (0, 30, 70, -75)]
    assert list(visibility.hidden_mouths(views, np.zeros(4, int))) == ["", "", "profile", "profile"]


def test_the_bundled_photo_is_not_flagged(photo_face):
    rgb, points = photo_face
    view = visibility.view(rgb, points)
    assert view.lips_over_skin is not None
    assert list(visibility.hidden_mouths([view], [0])) == [""]
    # the same photo with a hand over the mouth is (one frame: the absolute floor alone decides)
    mouth = points[list(face_mesh.OUTER_LIPS), :2].mean(axis=0)
    skin = np.median(rgb[int(points[50, 1]) - 3:int(points[50, 1]) + 4, int(points[50, 0]) - 3:int(points[50, 0]) + 4]
                     .reshape(-1, 3), axis=0)
    covered = rgb.copy()
    cv2.ellipse(covered, (int(mouth[0]), int(mouth[1]) + 10), (60, 35), 0, 0, 360, tuple(int(v) for v in skin), -1)
    assert list(visibility.hidden_mouths([visibility.view(covered, points)], [0])) == ["occluded"]


@pytest.mark.slow  # the session corpus (shared) and 341 frames of detection and mesh
def test_the_synthetic_corpus_is_not_flagged(synthetic_corpus):
    check = visibility.MouthCheck()
    frames_seen = 0
    with detect.FaceDetector() as detector:
        for path in sorted(glob.glob(str(synthetic_corpus.videos / "*" / "*.mp4"))):
            face = track.main_face(decode(path), detector, check.measure)
            hidden = visibility.hidden_mouths(face.records, face.shots)
            frames_seen += len(hidden)
            assert face.present.all() and not any(hidden), (path, [i for i, h in enumerate(hidden) if h])
    assert frames_seen > 200


def small_photo_clip(path, width=35, count=20):
    """The bundled photo shrunk so that its face box is `width` pixels across, on a 640x360 canvas.

    Returns the clip's path and the face's padded box (x0, y0, x1, y1) in the canvas."""
    rgb = cv2.imread(PHOTO)[..., ::-1]
    with detect.FaceDetector() as detector:
        detection = detector.detect(rgb)[0]
    x0, y0, x1, y1 = (float(v) for v in detection.box)
    scale = width / (x1 - x0)
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((360, 640, 3), 90, np.uint8)
    top, left = 150, 300
    canvas[top:top + small.shape[0], left:left + small.shape[1]] = small
    box = np.round(np.array([x0, y0 - 0.05 * (y1 - y0), x1, y1 + 0.18 * (y1 - y0)]) * scale).astype(int)
    box += [left, top, left, top]
    return write_video(path, [canvas] * count, fps=25), box


def test_a_small_face_is_redrawn_at_its_size_and_said_to_be_small(tmp_path, capsys):
    clip, (x0, y0, x1, y1) = small_photo_clip(tmp_path / "small.mp4")
    assert 30 <= x1 - x0 <= 40
    audio = audio_io.write_wav(tmp_path / "a.wav",
                               np.random.default_rng(1).uniform(-0.3, 0.3, 16000 * 20 // 25).astype(np.float32))
    options = sync.Options(face=str(clip), audio=str(audio), out=str(tmp_path / "o.mp4"), progress=False, engine="keras",
                           box=(int(y0), int(y1), int(x0), int(x1)))
    out, counts = render(options)
    source = decode(clip)
    assert counts["generated"] == 20 and counts["occluded"] == counts["profile"] == 0
    changed = np.any(out[5] != source[5], axis=-1)
    rows, cols = np.nonzero(changed)
    assert changed.sum() > 0.1 * (x1 - x0) * (y1 - y0)  # the lower face is redrawn ...
    assert rows.min() >= y0 and rows.max() < y1 and cols.min() >= x0 and cols.max() < x1  # ... inside its box
    summary = pipeline.summary(plan.prepare(options), counts)
    assert summary["small_face"] is not None and summary["small_face"] < paste.SMALL_FACE
    sync.print_faces(summary)
    assert "the face is small" in capsys.readouterr().out


def test_a_small_paste_averages_the_generated_detail():
    # a 96-pixel crop with one-pixel detail shrunk into a 35-pixel box: averaged, not aliased
    checker = (np.indices((96, 96)).sum(axis=0) % 2 * 255).astype(np.uint8)[..., None].repeat(3, axis=2)
    frame = np.full((60, 60, 3), 128, np.uint8)
    out = paste.Paster(colour_match=False).paste(frame, (10, 10, 45, 45), checker)
    assert np.abs(out.astype(int) - 128).max() <= 12
    assert paste.small_face(np.array([[0, 0, 35, 44]]), np.array([True])) == 35
    assert paste.small_face(np.array([[0, 0, 60, 70]]), np.array([True])) is None
