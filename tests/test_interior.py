"""The mouth interior (tflipsync/inference/interior.py): synthesised from the face's colours, or
lent by a bounded bank of the clip's own open mouths; and how the warp blends it in."""

import cv2
import numpy as np

from test_warp import SKIN, closed_mouth_face, drop_lower_lip, outside_region, ring
from tflipsync.inference import interior, warp

WIDTH, CENTRE = 120.0, np.array([100.0, 80.0])
LIPS = np.array([170.0, 70.0, 80.0])


def palette(light=(225, 200, 185), lips=LIPS):
    """A Palette of flat lips and a skin of light tones around `light`."""
    rng = np.random.default_rng(0)
    skin = np.clip(np.asarray(light, np.float64) * rng.uniform(0.7, 1.0, (500, 1)), 0, 255)
    return interior.Palette.of_face(np.tile(np.asarray(lips, np.float64), (100, 1)), skin)


def opening(gap, width=WIDTH):
    """An elliptical inner-lip ring `width` wide whose lips are `gap` apart in the middle, and its
    Field over a patch around it."""
    inner = ring(width / 2, gap / 2, CENTRE)
    return inner, interior.opening_field(inner, (160, 200))


def inside(field, **bounds):
    """Pixels of the field inside the opening, within bounds on u (abs), top and bottom."""
    mask = (field.top > 0) & (field.bottom > 0)
    for name, (low, high) in bounds.items():
        value = np.abs(field.u) if name == "u" else getattr(field, name)
        mask &= (value >= low) & (value <= high)
    assert mask.sum() > 10
    return mask


def grey(image):
    return interior.luminance(np.asarray(image, np.float64))


def test_a_synthesised_mouth_has_upper_teeth_under_the_lip_and_a_dark_back():
    _, field = opening(40.0)
    image = interior.synthesised(field, palette())
    level = grey(image)
    teeth = level[inside(field, u=(0, 0.3), top=(2, 10))].mean()
    back = level[inside(field, u=(0, 0.3), top=(18, 22))].mean()
    corners = level[inside(field, u=(0.85, 0.95))].mean()
    lower_lip_edge = level[inside(field, u=(0, 0.3), bottom=(0, 2))].mean()
    assert teeth > 3 * back and teeth > 2.5 * corners  # a bright band hanging from the upper lip
    assert back < 0.25 * grey(LIPS) and lower_lip_edge < teeth
    assert level.max() < 220  # teeth are never white
    upper_teeth = level[inside(field, u=(0, 0.3), top=(2, 8))].mean()
    lower_teeth = level[inside(field, u=(0, 0.3), bottom=(2, 4))].mean()
    assert lower_teeth < upper_teeth  # the lower teeth show less


def test_the_interior_scales_with_the_opening():
    def teeth_rows(gap):
        _, field = opening(gap)
        image = grey(interior.synthesised(field, palette()))
        x = int(CENTRE[0])  # the middle column: pixels are rows there
        column = image[:, x][(field.top[:, x] > 0) & (field.bottom[:, x] > 0)]
        return int((column > 120).sum()), int((column < 40).sum())

    slit, wide, wider = teeth_rows(4.0), teeth_rows(40.0), teeth_rows(80.0)
    assert slit[0] <= 2  # barely open: a dark line and a teeth edge
    assert 8 <= wide[0] <= 0.16 * WIDTH + 2 and abs(wider[0] - wide[0]) <= 3  # teeth keep their length
    assert slit[1] < wide[1] < wider[1] and wider[1] > 35  # the dark interior takes the rest


def test_the_interior_takes_its_colours_from_the_face():
    _, field = opening(40.0)
    teeth_area = inside(field, u=(0, 0.3), top=(2, 10))
    warm = interior.synthesised(field, palette(light=(230, 200, 170)))[teeth_area].mean(axis=0)
    cool = interior.synthesised(field, palette(light=(170, 200, 235)))[teeth_area].mean(axis=0)
    assert warm[0] - warm[2] > 8 and cool[2] - cool[0] > 8  # the teeth keep a trace of the face's tint
    back_area = inside(field, u=(0, 0.5), top=(12, 28))
    red = interior.synthesised(field, palette(lips=(180, 60, 60)))[back_area].mean(axis=0)
    brown = interior.synthesised(field, palette(lips=(110, 80, 60)))[back_area].mean(axis=0)
    assert red[0] - red[1] > 1.5 * (brown[0] - brown[1])  # the throat is the lips' colour, darkened
    # an overexposed face still gives teeth that are not white
    assert grey(palette(light=(255, 255, 255)).teeth) < 215


def test_the_warp_draws_teeth_into_an_opened_mouth_at_any_size_and_nothing_outside_ring_3():
    small = closed_mouth_face()
    for size in (96, 240, 720):  # mouth widths, pixels
        scale = size / (2 * 30.0)
        image = cv2.resize(small[0], (int(200 * scale), int(200 * scale)), interpolation=cv2.INTER_LINEAR)
        outer, inner = (small[1] + 0.5) * scale - 0.5, (small[2] + 0.5) * scale - 0.5
        mouth_warp = warp.MouthWarp(image, outer, inner)
        moved_outer, moved_inner = drop_lower_lip(mouth_warp, outer, inner)
        out = mouth_warp(image, moved_outer, moved_inner)
        outside = outside_region(mouth_warp, image.shape[:2])
        assert np.array_equal(out[outside], image[outside])
        field = interior.opening_field(moved_inner, image.shape[:2])
        level = grey(out)
        teeth = level[inside(field, u=(0, 0.3), top=(0.02 * size, 0.06 * size))].mean()
        back = level[inside(field, u=(0, 0.3), top=(0.15 * size, 0.18 * size))].mean()
        assert teeth > max(2 * back, grey(SKIN) * 0.8), size


def painted_mouth(gap, tint, size=200):
    """A face whose open mouth (inner lips `gap` apart) shows a dark interior of colour `tint`."""
    image, outer, _ = closed_mouth_face(size)
    inner = ring(24.0, gap / 2)
    cv2.fillPoly(image, [np.round(inner).astype(np.int32)], tint)
    return image, outer, inner


def test_the_bank_lends_the_entry_of_the_matching_shape():
    bank = interior.InteriorBank(capacity=16, smoothing=0.0)
    tints = {8.0: (60, 10, 10), 16.0: (10, 60, 10), 24.0: (10, 10, 60)}
    for key, (gap, tint) in enumerate(tints.items()):
        image, _, inner = painted_mouth(gap, tint)
        assert bank.offer(image, inner, inner / 100.0, key)
    closed, _, closed_inner = closed_mouth_face()
    assert not bank.offer(closed, closed_inner, closed_inner / 100.0, 9)  # a closed mouth lends nothing
    lip_only = painted_mouth(16.0, (170, 70, 80))
    assert not bank.offer(lip_only[0], lip_only[2], lip_only[2] / 100.0, 9)  # nor one showing only lip
    bank.use_only(range(3))
    assert len(bank) == 3
    for key, (gap, tint) in enumerate(tints.items()):
        target = ring(24.0, gap / 2)
        weights, strength = bank.choose(target / 100.0)
        assert max(weights, key=weights.get) == key and strength == 1.0
        field = interior.opening_field(target, (200, 200))
        texture, cover = bank.texture(field, {key: 1.0}, bank.lips[key])
        middle = inside(field, u=(0, 0.5), top=(gap / 4, gap / 2))
        assert np.abs(texture[middle].mean(axis=0) - tint).max() < 12 and cover[middle].min() > 0.99
        # lent to a frame whose lips are darker, it darkens alike
        darker, _ = bank.texture(field, {key: 1.0}, 0.8 * bank.lips[key])
        np.testing.assert_allclose(darker[middle].mean(axis=0), 0.8 * texture[middle].mean(axis=0), rtol=0.02)
    bank.use_only([1])  # another face's entries are not lent
    weights, _ = bank.choose(ring(24.0, 12.0) / 100.0)
    assert list(weights) == [1]


def test_a_target_wider_than_the_entry_keeps_its_lips_halves_and_leaves_the_back_to_the_synthesis():
    bank = interior.InteriorBank(capacity=4, smoothing=0.0)
    image, _, inner = painted_mouth(12.0, (20, 20, 20))
    # a light band 0.5 to 5.5 px under the upper inner lip (at y 104 in the middle): teeth
    cv2.fillPoly(image, [np.round(ring(20.0, 2.5, np.array([100.0, 107.0]))).astype(np.int32)], (200, 200, 190))
    assert bank.offer(image, inner, inner / 100.0, 0)
    field = interior.opening_field(ring(24.0, 18.0), (200, 200))  # three times as open
    texture, cover = bank.texture(field, {0: 1.0}, LIPS)
    assert cover[inside(field, u=(0, 0.3), top=(16, 20))].max() < 0.05  # the middle: synthesised
    assert cover[inside(field, u=(0, 0.3), top=(0, 3))].min() > 0.95  # the lips' halves: the entry's
    # the entry's teeth stay as long as they were under the upper lip (stretched, they would
    # reach 16 px down)
    level = grey(texture)
    assert level[inside(field, u=(0, 0.2), top=(1.5, 4))].mean() > 150
    assert level[inside(field, u=(0, 0.2), top=(8, 11))].mean() < 60


def test_the_bank_stays_bounded_and_keeps_diverse_openings():
    bank = interior.InteriorBank(capacity=12)
    rng = np.random.default_rng(0)
    gaps = rng.uniform(6.0, 30.0, 300)
    for key, gap in enumerate(gaps):
        image, _, inner = painted_mouth(gap, (30, 15, 15))
        bank.offer(image, inner, inner / 100.0, key)
    kept = np.sort(bank.openings[:bank.count])
    assert bank.count == 12 == bank.textures.shape[0]
    offered = np.array([interior.relative_opening(ring(24.0, g / 2)) for g in gaps])
    assert kept[0] < np.percentile(offered, 5) and kept[-1] > np.percentile(offered, 95)
    assert np.diff(kept).max() < 2.5 * (offered.max() - offered.min()) / 12  # spread over the range


def test_the_blend_weights_change_gradually_from_frame_to_frame():
    bank = interior.InteriorBank(capacity=8)
    for key, gap in enumerate((10.0, 20.0)):
        image, _, inner = painted_mouth(gap, (30, 15, 15))
        bank.offer(image, inner, inner / 100.0, key)
    first, second = ring(24.0, 5.0) / 100.0, ring(24.0, 10.0) / 100.0
    history = []
    for frame in range(12):
        weights, _ = bank.choose(first if frame < 6 else second)
        history.append(weights.get(1, 0.0))
    assert history[5] < 0.05 and history[-1] > 0.95  # it gets there
    assert np.abs(np.diff(history)).max() < 0.5  # not in one frame


def test_the_warp_blends_a_lent_interior_only_inside_the_opening():
    image, outer, inner = closed_mouth_face()
    mouth_warp = warp.MouthWarp(image, outer, inner)
    moved_outer, moved_inner = drop_lower_lip(mouth_warp, outer, inner)
    green = lambda field, lips: (np.full(field.u.shape + (3,), (0, 255, 0), np.float32),  # noqa: E731
                                 np.ones(field.u.shape, np.float32), 1.0)
    out = mouth_warp(image, moved_outer, moved_inner, green)
    plain = mouth_warp(image, moved_outer, moved_inner)
    changed = np.abs(out.astype(int) - plain).max(axis=2) > 0
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(moved_inner).astype(np.int32)], 1)
    assert changed.sum() > 0.8 * mask.sum()
    assert not (changed & (cv2.dilate(mask, np.ones((3, 3), np.uint8)) == 0)).any()
    assert (out[mask.astype(bool)][:, 1].astype(int) - out[mask.astype(bool)][:, 0]).mean() > 150
