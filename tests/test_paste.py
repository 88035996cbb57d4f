"""Paste-back: lower face only, feathered, colour-matched, nothing outside the box touched."""

import numpy as np

from tflipsync.inference import paste


def test_mask_is_zero_on_the_border_and_the_upper_face_and_one_at_the_mouth():
    mask = paste.lower_face_mask(120, 100)
    assert mask.shape == (120, 100) and mask.dtype == np.float32
    assert mask[0].max() == 0 and mask[-1].max() == 0 and mask[:, 0].max() == 0 and mask[:, -1].max() == 0
    assert mask[:48].max() == 0
    assert mask[86, 50] > 0.95  # the mouth (72 % of the height)
    assert 0 <= mask.min() and mask.max() <= 1


def test_mask_is_soft():
    row = paste.lower_face_mask(200, 200, feather=0.12)[144]
    steps = np.abs(np.diff(row))
    assert steps.max() < 0.05  # no hard edge across the row through the mouth
    hard = np.abs(np.diff(paste.lower_face_mask(200, 200, feather=0.0)[144]))
    assert hard.max() == 1.0


def test_paste_changes_only_the_lower_face_inside_the_box():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8)
    generated = rng.integers(0, 256, size=(96, 96, 3), dtype=np.uint8)
    box = (100, 40, 240, 200)  # x0, y0, x1, y1
    out = paste.Paster().paste(frame, box, generated)
    changed = np.any(out != frame, axis=-1)
    rows, cols = np.nonzero(changed)
    assert changed.sum() > 0.15 * 160 * 140
    assert rows.min() >= 40 + 0.4 * 160 and rows.max() < 200 and cols.min() > 100 and cols.max() < 239
    assert np.array_equal(out[:40], frame[:40]) and np.array_equal(out[:, :101], frame[:, :101])


def test_colour_matching_removes_a_colour_cast_without_touching_the_detail():
    rng = np.random.default_rng(1)
    face = rng.uniform(60, 180, size=(96, 96, 3)).astype(np.float32)
    frame = np.zeros((96, 96, 3), np.uint8)
    frame[:] = np.clip(face, 0, 255).astype(np.uint8)
    cast = np.clip(face + np.array([30.0, -20.0, 10.0]), 0, 255)  # the generator's colour is off
    matched = paste.Paster(feather=0.1).paste(frame, (0, 0, 96, 96), cast)
    unmatched = paste.Paster(feather=0.1, colour_match=False).paste(frame, (0, 0, 96, 96), cast)
    error = lambda image: np.abs(image.astype(float) - frame.astype(float))[60:86, 30:66].mean()
    assert error(matched) < 2.0 < 10.0 < error(unmatched)
