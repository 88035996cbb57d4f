"""Face detection, face mesh, the main-face track and the face crop (tflipsync/faces/)."""

import cv2
import numpy as np
import pytest

from media import astronaut_frames, pasted_faces
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


def assert_one_face_per_region(found, regions):
    centres = [((d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2) for d in found]
    assert len(found) == len(regions)
    for x0, y0, x1, y1 in regions:
        assert sum(x0 < cx < x1 and y0 < cy < y1 for cx, cy in centres) == 1


def test_thorough_pass_finds_every_face_of_a_group(detector):
    """Six faces at 9 % of the width each: the whole-frame short-range model alone sees none."""
    width, height = 1280, 720
    centres = [(x * width, y * height) for y in (0.3, 0.72) for x in (0.15, 0.5, 0.85)]
    group, regions = pasted_faces((height, width), 0.09, centres)
    assert detector.short_range(group) == []
    found = detector.thorough(group)
    assert_one_face_per_region(found, regions)
    assert all(d.score > 0.6 for d in found)
    assert [d.box.tolist() for d in detector.detect(group)] == [d.box.tolist() for d in found]  # thorough
    # the fast pass keeps each known face through its crop
    assert_one_face_per_region(detector.fast(group, found), regions)


def test_a_small_face_in_a_portrait_frame(detector):
    frame, regions = pasted_faces((1920, 1080), 0.10, [(560, 700)])
    found = detector.thorough(frame)
    assert_one_face_per_region(found, regions)
    x0, y0, x1, y1 = found[0].box
    assert found[0].keypoints[3, 1] > found[0].keypoints[0, 1]  # the mouth below the eyes, frame pixels
    assert x0 < found[0].keypoints[3, 0] < x1 and y0 < found[0].keypoints[3, 1] < y1
    # the fast pass finds it only around where it is known to be
    assert detector.fast(frame) == []
    assert_one_face_per_region(detector.fast(frame, found), regions)


def test_merge_keeps_one_detection_per_face():
    whole = det(100, 100, 80, score=0.7)
    duplicate = det(104, 98, 82, score=0.95)  # the same face from another model: IoU > 0.3
    part = det(110, 110, 40, score=0.8)  # a tile's view of part of it: inside, IoU 0.25
    other = det(300, 100, 30, score=0.6)
    other_twice = det(302, 101, 30, score=0.9)
    merged = detect.merge([duplicate, part, other, other_twice], first=[whole])
    assert [id(d) for d in merged] == [id(other_twice), id(whole)]  # `first` wins its face, else the best
    assert len(detect.merge([det(0, 0, 50), det(60, 0, 50)])) == 2  # neighbours stay apart


@pytest.mark.parametrize("size, grid", [((1920, 1080), (2, 4)), ((360, 640), (4, 2)), ((886, 1280), (4, 3))])
def test_tiles_cover_the_frame_with_overlap(size, grid):
    height, width = size
    regions = detect.tiles(height, width)
    assert len(regions) == grid[0] * grid[1]
    side = round(max(size) * detect.TILE_SHARE)
    covered = np.zeros(size, int)
    for x0, y0, x1, y1 in regions:
        assert x1 - x0 == side and y1 - y0 == side
        covered[y0:y1, x0:x1] += 1
    assert covered.min() >= 1
    xs = sorted({r[0] for r in regions})
    assert max(np.diff(xs)) <= side * (1 - detect.TILE_OVERLAP)  # neighbours overlap by a third
    assert detect.tiles(256, 256) == []


class _Passes:
    """A detector that records which pass ran on which frame, and what the fast pass was told."""

    def __init__(self):
        self.log = []

    def thorough(self, rgb):
        self.log.append(("thorough", int(rgb[0, 0, 0]), None))
        return [det(int(rgb[0, 0, 0]), 10, 20)]

    def fast(self, rgb, known):
        self.log.append(("fast", int(rgb[0, 0, 0]), [int(d.box[0]) for d in known]))
        return [det(int(rgb[0, 0, 0]), 10, 20)]


def test_main_face_runs_the_thorough_pass_on_shot_starts_and_every_n_frames():
    # frame value = its index (a slow fade: no cut) until 30, then a new shot of bright frames
    assert track.THOROUGH_EVERY < 30
    frames = [np.full((32, 32, 3), i, np.uint8) for i in range(30)]
    frames += [np.full((32, 32, 3), 200 + i, np.uint8) for i in range(30, 40)]
    passes = _Passes()
    face = track.main_face(frames, passes)
    thorough = [value for kind, value, _ in passes.log if kind == "thorough"]
    assert thorough == [0, track.THOROUGH_EVERY, 230]
    assert len(passes.log) == 40 and face.present.all()
    # each fast frame is seeded with the previous frame's faces
    assert all(known == [value - 1] for kind, value, known in passes.log if kind == "fast")
