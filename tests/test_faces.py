"""Face detection, face mesh, the main-face track and the face crop (tflipsync/faces/)."""

import cv2
import numpy as np
import pytest

from media import astronaut_frames
from tflipsync.errors import InputError
from tflipsync.faces import crop, detect, mesh as face_mesh, track


@pytest.fixture(scope="module")
def frame():
    return astronaut_frames(1)[0]


@pytest.fixture(scope="module")
def detector():
    with detect.FaceDetector() as d:
        yield d


@pytest.fixture(scope="module")
def mesh():
    return face_mesh.FaceMesh()


def test_detector_finds_the_astronaut(detector, frame):
    found = detector.detect(frame)
    assert len(found) == 1
    face = found[0]
    assert face.score > 0.8
    x0, y0, x1, y1 = face.box
    assert 40 < x1 - x0 < 200 and 40 < y1 - y0 < 200
    # keypoints inside the box: eyes above the mouth, the person's right eye on the image's left
    assert np.all((face.keypoints[:4, 0] > x0) & (face.keypoints[:4, 0] < x1))
    assert face.keypoints[0, 0] < face.keypoints[1, 0]
    assert face.keypoints[3, 1] > face.keypoints[0, 1] + 10


def test_detector_finds_nothing_in_a_blank_frame(detector):
    assert detector.detect(np.full((360, 640, 3), 128, np.uint8)) == []


def test_mesh_lips_sit_at_the_detected_mouth(detector, mesh, frame):
    face = detector.detect(frame)[0]
    points, presence = mesh.landmarks(frame, face)
    assert points.shape == (468, 3) and presence > 0.9
    lips = (points[13, :2] + points[14, :2]) / 2
    assert np.linalg.norm(lips - face.keypoints[3]) < 0.15 * (face.box[2] - face.box[0])
    assert points[61, 0] < lips[0] < points[291, 0]  # mouth corners either side
    assert points[10, 1] < lips[1] < points[152, 1]  # forehead above, chin below


def test_mesh_follows_a_rotated_face(detector, mesh, frame):
    """The upright crop makes the mesh rotation-aware: points rotate with the image."""
    centre = (320.0, 180.0)
    matrix = cv2.getRotationMatrix2D(centre, 25.0, 1.0)
    rotated = cv2.warpAffine(frame, matrix, (640, 360), borderValue=(90, 90, 90))
    upright = mesh.landmarks(frame, detector.detect(frame)[0])[0][:, :2]
    turned = mesh.landmarks(rotated, detector.detect(rotated)[0])[0][:, :2]
    expected = upright @ matrix[:, :2].T + matrix[:, 2]
    face_height = np.linalg.norm(upright[10] - upright[152])
    assert np.median(np.linalg.norm(turned - expected, axis=1)) < 0.05 * face_height


def det(x, y, size, score=0.9):
    box = np.array([x, y, x + size, y + size], np.float32)
    return detect.Detection(box, score, np.zeros((6, 2), np.float32))


def test_main_track_prefers_the_big_lasting_face_over_a_brief_bigger_one():
    frames = []
    for i in range(40):
        found = [det(100 + i, 50, 80)]  # the speaker, moving slowly
        if 10 <= i < 14:
            found.append(det(400, 40, 120))  # a bigger face passing for 4 frames
        frames.append(found)
    cuts = np.zeros(40, bool)
    cuts[0] = True
    chosen = track.main_track(frames, cuts)
    assert all(c is not None and c.box[0] == 100 + i for i, c in enumerate(chosen))


def test_main_track_marks_missing_frames_and_restarts_at_a_cut():
    frames = [[det(100, 50, 80)] for _ in range(20)] + [[det(400, 60, 60)] for _ in range(20)]
    frames[5] = []  # a frame where detection failed
    cuts = np.zeros(40, bool)
    cuts[[0, 20]] = True
    chosen = track.main_track(frames, cuts)
    assert chosen[5] is None
    assert [c.box[0] for c in chosen[:5]] == [100] * 5
    assert [c.box[0] for c in chosen[20:]] == [400] * 20


def test_smoothing_averages_within_a_shot_only():
    frames = [[det(100 + 2 * i, 50, 80)] for i in range(10)] + [[det(400, 60, 60)] for _ in range(10)]
    cuts = np.zeros(20, bool)
    cuts[[0, 10]] = True
    frames[3] = []
    chosen = track.main_track(frames, cuts)
    boxes, present = track.smooth_boxes(chosen, cuts, radius=2)
    assert present.tolist() == [i != 3 for i in range(20)]
    # frame 5 averages frames 4, 6, 7 and itself (3 is missing): x0 = 100 + 2 * mean(4, 5, 6, 7)
    assert boxes[5, 0] == pytest.approx(100 + 2 * np.mean([4, 5, 6, 7]))
    # frame 9, last of its shot, does not reach into the next shot
    assert boxes[9, 0] == pytest.approx(100 + 2 * np.mean([7, 8, 9]))
    assert np.allclose(boxes[10:], [400, 60, 460, 120])
    assert boxes[3, 0] in (boxes[2, 0], boxes[4, 0])  # stand-in from a neighbour of its shot


def test_no_face_at_all_gives_no_present_frame():
    chosen = track.main_track([[] for _ in range(5)], np.array([True] + [False] * 4))
    boxes, present = track.smooth_boxes(chosen, np.array([True] + [False] * 4))
    assert not present.any() and boxes.shape == (5, 4)


def test_scene_cuts_on_a_shot_change(frame):
    other = np.full_like(frame, 20)
    thumbs = [track.thumbnail(f) for f in [frame, frame, other, other, frame]]
    assert track.scene_cuts(thumbs).tolist() == [True, False, True, False, True]


def test_pad_box_pads_and_clips():
    box = crop.pad_box([10, 20, 110, 120], (130, 200), padding=(0.1, 0.2, 0.1, 0.1))
    assert box.tolist() == [0, 10, 120, 130]


def test_face_crop_is_the_area_resized_box():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[10:58, 20:116] = (200, 100, 10)
    frame[34:58, 20:116, 1] = 50
    face = crop.face_crop(frame, (20, 10, 116, 58))
    assert face.shape == (96, 96, 3) and face.dtype == np.uint8
    assert face[0, 0].tolist() == [200, 100, 10]  # the frame's channel order
    assert face[47, 95].tolist() == [200, 100, 10] and face[48, 0].tolist() == [200, 50, 10]  # area: no blur
    # 2x upscaling by the area filter repeats pixels: every source pixel becomes a 2x2 block
    frame = np.random.default_rng(0).integers(0, 256, (48, 48, 3), np.uint8)
    doubled = frame.repeat(2, 0).repeat(2, 1)
    assert np.array_equal(crop.face_crop(frame, (0, 0, 48, 48)), doubled)
    unit = crop.face_input(frame, (0, 0, 48, 48))  # BGR in [0, 1], as the networks take it
    assert unit.dtype == np.float32 and np.array_equal(unit, doubled[..., ::-1].astype(np.float32) / 255.0)


def test_flag_box_is_top_bottom_left_right_and_must_lie_inside():
    assert crop.flag_box((10, 60, 20, 90), (100, 200)).tolist() == [20, 10, 90, 60]
    with pytest.raises(InputError, match=r"--box: \(10, 160, 20, 90\) is not inside the 200x100 frame"):
        crop.flag_box((10, 160, 20, 90), (100, 200))


class _Scripted:
    """A detector that returns prepared detections, frame by frame."""

    def __init__(self, found):
        self._found = iter(found)

    def detect(self, rgb):
        return next(self._found)


def test_main_face_tracks_smooths_and_drops_faces_the_measure_rejects():
    frames = [np.full((64, 64, 3), 100, np.uint8)] * 6 + [np.full((64, 64, 3), 250, np.uint8)] * 4
    found = [[det(10 + i, 10, 30), det(50, 50, 5)] for i in range(10)]
    timed = []

    class Stages:
        def add(self, name, started):
            timed.append(name)

    face = track.main_face(frames, _Scripted(found), measure=lambda f, d: None if d.box[0] == 12 else d.box[0],
                           radius=1, stages=Stages())
    assert face.shots.tolist() == [0] * 6 + [1] * 4
    assert face.present.tolist() == [i != 2 for i in range(10)]
    assert face.chosen[2] is None and face.records[2] is None and face.records[3] == 13
    assert face.boxes[3, 0] == pytest.approx(np.mean([13, 14]))  # frame 2 dropped from the average
    assert face.boxes[5, 0] == pytest.approx(np.mean([14, 15]))  # the next shot is not reached
    assert set(timed) == {"decode", "detect", "mesh"}
    plain = track.main_face(frames, _Scripted(found))
    assert plain.records is None and plain.present.all()
