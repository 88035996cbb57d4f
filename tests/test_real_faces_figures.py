"""The pure helpers of tools/real_faces_figures.py: frame and clip choice, crop boxes, tile layout."""

import numpy as np
import pytest

from tools import real_faces_figures as figures


def test_choose_frames_alternates_open_and_closed_across_the_clip():
    opening = np.full(60, 0.1)
    opening[[3, 25, 45]] = 0.5  # open in spans 0, 2 and 4 (10 frames each)
    opening[[15, 33, 58]] = 0.0  # closed in spans 1, 3 and 5
    assert figures.choose_frames(opening, 6).tolist() == [3, 15, 25, 33, 45, 58]


def test_choose_frames_skips_unmeasured_frames():
    opening = np.linspace(0.0, 1.0, 30)
    opening[:10] = np.nan  # spans are cut over the 20 measured frames
    picks = figures.choose_frames(opening, 4)
    assert picks.tolist() == [14, 15, 24, 25]
    assert np.all(np.isfinite(opening[picks]))


def test_choose_frames_refuses_too_few_measured_frames():
    with pytest.raises(ValueError, match="3 frames with a measured mouth, 6 needed"):
        figures.choose_frames([0.1, np.nan, 0.2, 0.3], 6)


def test_choose_clips_takes_each_speakers_first_clip_with_the_largest_faces():
    candidates = [("a1", "a", 190), ("a2", "a", 400), ("b1", "b", 120), ("c1", "c", 300), ("d1", "d", 160),
                  ("e1", "e", 250)]
    # a's first clip counts (190), not its larger second one; b is under min_face; d is the smallest left
    assert figures.choose_clips(candidates, 3, 150) == ["a1", "c1", "e1"]
    with pytest.raises(ValueError, match="4 speakers have a face of at least 150 px, 5 needed"):
        figures.choose_clips(candidates, 5, 150)


def test_lower_face_box_is_the_lower_half_with_a_margin_inside_the_frame():
    assert figures.lower_face_box((100, 100, 200, 300), (400, 400)).tolist() == [90, 190, 210, 310]
    assert figures.lower_face_box((0, 100, 100, 200), (190, 400)).tolist() == [0, 145, 110, 190]


def test_centred_box_keeps_its_size_and_stays_in_the_frame():
    box = np.array([10, 20, 50, 40])  # 40 wide, 20 high
    assert figures.centred_box(box, (100, 100), (200, 200)).tolist() == [80, 90, 120, 110]
    assert figures.centred_box(box, (195, 5), (200, 200)).tolist() == [160, 0, 200, 20]


def test_grid_places_tiles_under_their_labels():
    tiles = [[np.full((10, 16, 3), 10 * (3 * r + c + 1), np.uint8) for c in range(3)] for r in range(2)]
    block = figures.grid(tiles, ["real", "keras"], ["input", "1 s", "2 s"], title="speaker")
    top = figures.HEADER_HEIGHT + figures.TITLE_HEIGHT
    assert block.shape == (top + 2 * (10 + figures.GAP), figures.LABEL_WIDTH + 3 * (16 + figures.GAP), 3)
    for r in range(2):
        for c in range(3):
            y, x = top + r * (10 + figures.GAP), figures.LABEL_WIDTH + c * (16 + figures.GAP)
            np.testing.assert_array_equal(block[y:y + 10, x:x + 16], tiles[r][c])
    assert figures.grid(tiles, ["real", "keras"], ["input", "1 s", "2 s"]).shape[0] == block.shape[0] - \
        figures.TITLE_HEIGHT
    with pytest.raises(ValueError, match="2x3 tiles, 1 row and 3 column labels"):
        figures.grid(tiles, ["real"], ["input", "1 s", "2 s"])


def test_stack_pads_blocks_to_the_widest():
    sheet = figures.stack([np.zeros((5, 7, 3), np.uint8), np.zeros((4, 9, 3), np.uint8)], gap=2)
    assert sheet.shape == (11, 9, 3)
    assert (sheet[:5, 7:] == figures.BACKGROUND).all()


def test_png_under_downscales_until_small_enough():
    noise = np.random.default_rng(0).integers(0, 256, (200, 300, 3), np.uint8)  # incompressible
    data, scale = figures.png_under(noise, 60_000)
    steps = np.log(scale) / np.log(0.85)
    assert len(data) <= 60_000 and steps >= 1 and abs(steps - round(steps)) < 1e-9
    assert figures.png_under(noise, 10_000_000)[1] == 1.0


def test_parse_pairs_and_short_name():
    assert figures.parse_pairs(["a=x", "b=y,c=z"], "--run") == {"a": "x", "b": "y", "c": "z"}
    with pytest.raises(SystemExit, match="--run: 'a' is not NAME=VALUE"):
        figures.parse_pairs(["a"], "--run")
    assert figures.short_name("abcdefghij", 7) == "ab...ij"
    assert figures.short_name("abc", 7) == "abc"


def test_run_model_reads_flags_txt(tmp_path):
    (tmp_path / "flags.txt").write_text("--batch_size=8\n--model=landmarks\n")
    assert figures.run_model(str(tmp_path)) == "landmarks"
    assert figures.run_model(str(tmp_path / "missing")) is None
