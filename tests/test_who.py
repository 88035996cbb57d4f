"""`--who`: a chosen face held through the video, `--who all`, and `tflipsync faces` (the numbered PNG).

The group photo is composed here: the face of examples/astronaut.jpg pasted at five places on a
plain 1280x720 background, alternately high and low, numbered 1 to 5 from the left.
"""

import os

import av
import numpy as np
import pytest

from test_cli import run_cli
from tflipsync import cli
from tflipsync.audio import io as audio_io
from tflipsync.errors import InputError
from tflipsync.faces import people, track
from tflipsync.faces.detect import Detection
from tflipsync.inference import faces_png, generate, sync

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASTE_W, PASTE_H = 180, 206  # the astronaut's head, rows 20-260 and cols 120-330 of the photo, scaled
SIZE = (720, 1280)
FRAMES = 4
CODEC_MARGIN = 16  # pixels around a paste that H.264's blocks may touch
BRIGHTER = 6  # each paste is this much brighter than the one on its left


def paste_rects():
    """(x0, y0, x1, y1) of the five pastes, left to right (face N is rect N - 1)."""
    xs = np.linspace(20, SIZE[1] - PASTE_W - 20, 5).astype(int)
    return [(x, y, x + PASTE_W, y + PASTE_H)
            for n, x in enumerate(xs) for y in [60 if n % 2 == 0 else SIZE[0] - PASTE_H - 60]]


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    import cv2

    d = tmp_path_factory.mktemp("who")
    photo = cv2.imread(os.path.join(ROOT, "examples", "astronaut.jpg"))[20:260, 120:330]
    head = cv2.resize(photo, (PASTE_W, PASTE_H), interpolation=cv2.INTER_AREA)
    canvas = np.full(SIZE + (3,), 200, np.uint8)
    for n, (x0, y0, x1, y1) in enumerate(paste_rects()):
        canvas[y0:y1, x0:x1] = np.clip(head.astype(int) + BRIGHTER * n, 0, 255)  # tell the pastes apart
    path = d / "group.png"
    cv2.imwrite(str(path), canvas)
    audio = audio_io.write_wav(d / "noise.wav", np.random.default_rng(0).uniform(
        -0.3, 0.3, 16000 * FRAMES // 25).astype(np.float32))  # loud throughout: no frame is silent
    return {"dir": d, "photo": str(path), "rgb": canvas[..., ::-1], "audio": str(audio)}


def synced(group, who):
    """The last output frame of `sync --who who` on the group photo, and the summary."""
    out = group["dir"] / f"who_{who}.mp4"
    summary = sync.run_sync(sync.Options(face=group["photo"], audio=group["audio"], out=str(out), progress=False,
                                         batch_size=FRAMES, who=who, engine="keras"))
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return frames[-1], summary


def mouth_change(frame, rgb, rect):
    """Mean absolute difference (0..255) over the mouth and chin of a paste: about 3 where the
    frame is only re-encoded (H.264 noise), about 20 where the mouth was redrawn."""
    x0, y0, x1, y1 = rect
    rows = slice(y0 + int(0.52 * PASTE_H), y0 + int(0.72 * PASTE_H))
    cols = slice(x0 + int(0.3 * PASTE_W), x0 + int(0.7 * PASTE_W))
    return float(np.abs(frame[rows, cols].astype(int) - rgb[rows, cols].astype(int)).mean())


def outside(rects, margin=CODEC_MARGIN):
    mask = np.ones(SIZE, bool)
    for x0, y0, x1, y1 in rects:
        mask[max(0, y0 - margin):y1 + margin, max(0, x0 - margin):x1 + margin] = False
    return mask


def test_faces_numbers_all_five_left_to_right(group, capfd):
    out = group["dir"] / "faces.png"
    assert cli.main(["faces", "--face", group["photo"], "--out", str(out)]) == 0
    lines = [line for line in capfd.readouterr().out.splitlines() if line[:1].isdigit()]
    assert [line.split(":")[0] for line in lines] == ["1", "2", "3", "4", "5"]
    _, _, faces = faces_png.find_faces(group["photo"])
    for d, (x0, y0, x1, y1) in zip(faces, paste_rects()):
        assert x0 <= d.box[0] < d.box[2] <= x1 and y0 <= d.box[1] < d.box[3] <= y1, (d.box, (x0, y0, x1, y1))
    import cv2

    drawn = cv2.imread(str(out))[..., ::-1]
    assert drawn.shape == group["rgb"].shape
    changed = np.abs(drawn.astype(int) - group["rgb"].astype(int)).max(axis=2) > 0
    assert not changed[outside(paste_rects(), 0)].any()  # boxes and numbers are drawn over the faces only
    assert all(changed[y0:y1, x0:x1].any() for x0, y0, x1, y1 in paste_rects())
    assert not [p for p in os.listdir(group["dir"]) if "partial" in p]


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5])
def test_who_n_redraws_face_n_only(group, number):
    frame, summary = synced(group, str(number))
    assert summary["generated"] == FRAMES
    rects = paste_rects()
    changes = [mouth_change(frame, group["rgb"], rect) for rect in rects]
    assert changes[number - 1] > 8.0, changes
    assert max(c for n, c in enumerate(changes) if n != number - 1) < 6.0, changes  # the others: codec noise only
    difference = np.abs(frame.astype(int) - group["rgb"].astype(int)).max(axis=2)
    assert difference[outside([rects[number - 1]])].max() <= 60  # codec noise on the other pastes' edges
    assert difference[outside(rects)].max() <= 2  # the plain background is the input's


def test_who_all_redraws_every_face(group):
    frame, summary = synced(group, "all")
    changes = [mouth_change(frame, group["rgb"], rect) for rect in paste_rects()]
    assert min(changes) > 8.0, changes
    assert summary["generated"] == FRAMES
    assert np.abs(frame.astype(int) - group["rgb"].astype(int)).max(axis=2)[outside(paste_rects())].max() <= 2


def test_unknown_face_number_names_who(group, tmp_path):
    with pytest.raises(InputError) as err:
        sync.run_sync(sync.Options(face=group["photo"], audio=group["audio"], out=str(tmp_path / "o.mp4"),
                                   progress=False, who="6"))
    message = str(err.value)
    assert message.startswith("--who:") and "\n" not in message and "5" in message
    assert not os.listdir(tmp_path)


def test_unknown_word_is_one_line_naming_who_before_tensorflow(tmp_path):
    status, _, messages, heavy = run_cli("sync", "--face", os.path.join(ROOT, "examples", "astronaut.jpg"),
                                         "--audio", os.path.join(ROOT, "examples", "speech.wav"),
                                         "--out", str(tmp_path / "o.mp4"), "--who", "tallest")
    assert status == 1 and len(messages) == 1 and "--who" in messages[0] and "tallest" in messages[0], messages
    assert heavy == []


def test_generate_takes_one_face_of_the_group(group, tmp_path):
    means = [float(generate.face_input(group["photo"], who=n).mean()) * 255 for n in range(1, 6)]
    assert all(a + 1 < b for a, b in zip(means, means[1:])), means  # brighter to the right: left to right
    with pytest.raises(InputError, match="--who: generate draws one face"):
        generate.run_generate(group["photo"], group["audio"], str(tmp_path / "o.png"), who="all")


def test_faces_help_imports_no_tensorflow():
    status, out, _, heavy = run_cli("faces", "--help")
    assert status == 0 and "--face" in out and heavy == []


def face(x, y, side=40.0):
    return Detection(np.array([x, y, x + side, y + side], np.float32), 0.9, np.zeros((6, 2), np.float32))


def look(seed):
    """A distinct random look (the layout of people.appearance)."""
    rng = np.random.default_rng(seed)
    colour = rng.uniform(size=people.COLOUR_SIZE) ** 4
    grey = rng.normal(size=people.LOOK_SIDE ** 2)
    return np.concatenate([np.sqrt(colour / colour.sum()), grey / np.linalg.norm(grey)]).astype(np.float32)


def two_shots():
    """Ten frames: A on the left and B on the right, then after a cut B on the left and A on the right."""
    a, b = look(1), look(2)
    detections, looks = [], []
    for i in range(10):
        left, right = (a, b) if i < 5 else (b, a)
        detections.append([face(300, 100), face(20, 100)])  # not in left-to-right order
        looks.append([right, left])
    cuts = np.zeros(10, bool)
    cuts[[0, 5]] = True
    return detections, looks, cuts


@pytest.mark.parametrize("who, expected", [(1, [20] * 5 + [300] * 5), ("left", [20] * 5 + [300] * 5),
                                           (2, [300] * 5 + [20] * 5), ("right", [300] * 5 + [20] * 5)])
def test_the_person_is_followed_across_a_cut_by_appearance(who, expected):
    detections, looks, cuts = two_shots()
    chosen = people.choose(detections, cuts, looks, who, (480, 640), track.shot_tracks)
    assert len(chosen) == 1
    assert [int(d.box[0]) for d in chosen[0]] == expected


def test_a_shot_without_the_person_passes_through():
    detections, looks, cuts = two_shots()
    for i in range(5, 10):  # after the cut only a stranger, where A stood
        looks[i] = [look(3), look(4)]
    chosen = people.choose(detections, cuts, looks, 1, (480, 640), track.shot_tracks)[0]
    assert all(d is not None for d in chosen[:5]) and all(d is None for d in chosen[5:])


def test_all_keeps_every_track_and_words_pick_on_the_first_frame():
    detections, looks, cuts = two_shots()
    everyone = people.choose(detections, cuts, looks, "all", (480, 640), track.shot_tracks)
    assert len(everyone) == 4  # two people in each of two shots
    assert sum(d is not None for person in everyone for d in person) == 20
    big = [face(20, 100, 40.0), face(300, 200, 90.0), face(560, 10, 30.0)]
    assert people.pick(big, "largest", (480, 640)) is big[1]
    assert people.pick(big, "center", (480, 640)) is big[1]
    assert people.pick(big, "right", (480, 640)) is big[2]
    with pytest.raises(InputError, match="--who: there is no face 4"):
        people.pick(big, 4, (480, 640))
