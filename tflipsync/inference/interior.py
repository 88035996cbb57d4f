"""The inside of a mouth that opens wider than its source frame showed (tflipsync/inference/warp.py).

Two sources, one geometry:

- `synthesised`: drawn from the face's own colours (`Palette`): a dark throat at the back, a
  tongue in the lips' tone, upper teeth hanging from the upper inner lip (the face's brightest
  skin or sclera, desaturated and darkened: never pure white), fewer lower teeth, all darker
  towards the corners and the back, and scaled with the opening: a barely open mouth shows a dark
  line under a teeth edge, a wide one teeth, a tongue and a dark throat. Photos use it, and video
  frames for which the clip has no open mouth of the kind.
- `InteriorBank`: a video's own mouth interiors, as "Synthesizing Obama" (Suwajanakorn et al.
  2017) takes the mouth from the target's own frames of similar shape. Pass 1 offers every
  measured mouth; a bounded set of them (at most `capacity`), chosen to cover diverse shapes, is
  kept as small textures in the canonical mouth frame below, with their normalised inner-lip
  shape. Pass 2 blends the few entries nearest the target shape into the target opening, with
  weights smoothed over frames so that the choice does not flicker.

The canonical mouth frame (`opening_field`): for a ring of inner lips (RING points in
tflipsync.faces.mesh.INNER_LIPS order: the image-left corner, the lower lip, the other corner, the
upper lip back), `u` runs along the mouth, -1 and 1 at the inner corners; across it, `top` is the
distance below the upper inner lip and `bottom` the distance above the lower one, both in pixels,
their sum the `gap` between the lips there. A bank texture has COLUMNS columns over u in [-1, 1],
and rows: MARGIN_ROWS of upper lip, OPENING_ROWS from the upper to the lower inner lip, and
MARGIN_ROWS of lower lip; the lip margins are MARGIN (a share of the inner width) thick.
"""

import dataclasses
import functools

import cv2
import numpy as np

from tflipsync.faces import mesh

RING = len(mesh.INNER_LIPS)
HALF = RING // 2
COLUMNS, OPENING_ROWS, MARGIN_ROWS = 96, 48, 8
MARGIN = 0.06  # lip margin of a bank texture, share of the inner width
# Where one tooth meets the next along the upper arch, in u (the arch turns away from the camera,
# so the teeth look narrower towards the corners): incisors, canines, premolars.
TOOTH_EDGES = (0.0, 0.29, 0.50, 0.66, 0.79)
MIN_OPENING = 0.08  # a bank entry's inner gap over its inner width, at least (open mouths only)
MIN_GAP_PIXELS = 4.0  # and its gap in its own frame's pixels (a narrower one holds no texture)
MIN_SHOWN = 0.45  # and the share of its opening's middle that shows a mouth (dark, or teeth), not lip
SAME_SHAPE = 0.004  # normalised RMS distance under which a new mouth adds nothing to the bank


def smoothstep(edge0, edge1, x):
    """0 at edge0, 1 at edge1, smooth between (edges in either order)."""
    t = (x - edge0) / (edge1 - edge0)
    t = np.minimum(np.maximum(t, 0.0, out=t), 1.0, out=t) if isinstance(t, np.ndarray) else min(max(t, 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


def _lerp(a, b, t):
    """Colours a, b ((3,) or (h, w, 3)) mixed by t (h, w)."""
    return a + (b - a) * t[..., None].astype(np.float32)


@dataclasses.dataclass
class Field:
    """The canonical mouth coordinates of each pixel of a patch (module docstring), each (h, w)."""
    u: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    gap: np.ndarray
    width: float  # pixels between the inner corners


class _Lips:
    """The inner-lip curves of one ring: its axes and the upper and lower lip as functions of `a`,
    the distance along the mouth from the corners' midpoint."""

    def __init__(self, inner):
        inner = np.asarray(inner, np.float64)
        self.centre = (inner[0] + inner[HALF]) / 2
        span = inner[HALF] - inner[0]
        self.width = float(np.linalg.norm(span))
        self.along = span / max(self.width, 1e-6)
        self.down = np.array([-self.along[1], self.along[0]])  # towards the chin
        rel = inner - self.centre
        a, d = rel @ self.along, rel @ self.down
        self._lower = self._sorted(a[:HALF + 1], d[:HALF + 1])
        self._upper = self._sorted(a[np.r_[HALF:RING, 0]], d[np.r_[HALF:RING, 0]])

    @staticmethod
    def _sorted(a, d):
        order = np.argsort(a, kind="stable")
        return a[order], d[order]

    def curves(self, a):
        """(upper, lower) lip positions across the mouth (along `down`) at positions `a`."""
        return np.interp(a, *self._upper), np.interp(a, *self._lower)


def opening_field(inner, shape):
    """The Field of a patch of `shape` (h, w) for inner lips `inner` (RING, 2) in patch pixels."""
    lips = _Lips(inner)
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    xs, ys = xs - lips.centre[0], ys - lips.centre[1]
    a = xs * lips.along[0] + ys * lips.along[1]
    d = xs * lips.down[0] + ys * lips.down[1]
    upper, lower = lips.curves(a)
    f32 = np.float32
    return Field((a / max(lips.width / 2, 1e-6)).astype(f32), (d - upper).astype(f32), (lower - d).astype(f32),
                 np.maximum(lower - upper, 0.0).astype(f32), lips.width)


def relative_opening(inner):
    """Mean gap between the inner lips over the inner width, for a ring (RING, 2) in any similar frame."""
    lips = _Lips(inner)
    upper, lower = lips.curves(np.linspace(-0.6, 0.6, 7) * lips.width / 2)
    return float(np.mean(np.maximum(lower - upper, 0.0)) / max(lips.width, 1e-6))


def luminance(colours):
    """Luminance of RGB colours (..., 3)."""
    return colours @ np.array([0.299, 0.587, 0.114])


@dataclasses.dataclass
class Palette:
    """A face's mouth colours, float32 (3,) each in the frame's channel order (RGB here)."""
    lips: np.ndarray
    teeth: np.ndarray
    tongue: np.ndarray
    cavity: np.ndarray  # the interior just behind the lips and teeth
    throat: np.ndarray  # the back of the mouth

    @classmethod
    def of_face(cls, lips, light):
        """The palette from a face's own pixels.

        Args:
          lips: (N, 3) pixels of the lips.
          light: (M, 3) pixels where the face's light tones are: skin around the mouth and, where
            known, the eyes (their sclera); teeth take the brightest of them, desaturated.
        """
        lips = np.asarray(lips, np.float64).reshape(-1, 3)
        light = np.asarray(light, np.float64).reshape(-1, 3)
        lip = lips.mean(axis=0) if len(lips) else np.full(3, 120.0)
        if len(light):
            level = luminance(light)
            unclipped = light[(level < 250) & (light.max(axis=1) < 254)]
            light = unclipped if len(unclipped) >= 8 else light
            level = luminance(light)
            bright = light[level >= np.percentile(level, 96)].mean(axis=0)
        else:
            bright = lip * 1.6
        grey = luminance(bright)
        # teeth: the face's light tone, mostly desaturated (a trace of its tint stays), darker
        # than that tone (teeth sit in the mouth's shade) and never white
        teeth = grey + 0.3 * (bright - grey)
        teeth = teeth * min(0.86, 212.0 / max(grey, 1.0))
        lip_grey = luminance(lip)
        tongue = 0.6 * (lip_grey + 0.85 * (lip - lip_grey))
        return cls(*(np.clip(c, 0, 255).astype(np.float32) for c in
                     (lip, teeth, tongue, 0.42 * lip, 0.08 * lip)))


@functools.lru_cache(maxsize=64)
def _tooth_profiles(width):
    """(grid, lines, notches): the profiles of `_tooth_edges` for a mouth `width` pixels wide (an int)."""
    grid = np.linspace(0.0, 1.2, max(256, width))
    sigma = max(0.6, 0.006 * width) / max(width / 2, 1e-6)  # in u
    lines = np.minimum(sum(np.exp(-((grid - edge) / sigma) ** 2) for edge in TOOTH_EDGES), 1.0)
    notches = np.minimum(sum(np.exp(-((grid - edge) / 0.035) ** 2) for edge in TOOTH_EDGES), 1.0)
    return grid, lines, notches


def _tooth_edges(u, width):
    """(lines, notches), each (h, w) in [0, 1] over |u| `u`: thin lines where teeth meet along the
    arch, and the narrow dips of the teeth's rounded edges there (1-D profiles, looked up)."""
    grid, lines, notches = _tooth_profiles(int(round(width)))
    return np.interp(u, grid, lines), np.interp(u, grid, notches)


def synthesised(field, palette, covered=None, teeth=1.0):
    """A mouth interior drawn over a Field, float32 (h, w, 3), anti-aliased.

    Args:
      field: the target opening's Field.
      palette: the face's Palette.
      covered: optional (h, w) in [0, 1]: where the source's own mouth content lies above the
        pixel (its own upper teeth already end there: none are drawn below them).
      teeth: how much of the teeth to draw (less where a clip's own teeth are blended over it).
    """
    width = max(field.width, 1.0)
    u, gap, top, bottom = np.abs(field.u), field.gap, field.top, field.bottom
    edge = 0.7  # anti-aliasing half-width, pixels
    side = smoothstep(0.45, 1.0, u)
    # the back: darkest in the middle of the opening, far from the lips and the teeth, and in
    # the corners (the cheeks' shadow); a gradual fall, no lighter band along the lips
    depth = smoothstep(0.0, 0.3 * gap + 0.04 * width, np.minimum(top, bottom)) + side
    image = _lerp(palette.cavity, palette.throat, np.clip(depth, 0.0, 1.0)) * (1.0 - 0.5 * side)[..., None]
    # the tongue: a hump behind the lower teeth, once the mouth is open enough to show it,
    # lit at its front and darker towards the back
    tongue_height = np.clip(0.4 * gap - 0.06 * width, 0.0, 0.25 * width)
    if tongue_height.max() > 0.5:
        tongue_top = tongue_height * np.sqrt(np.clip(1.0 - (u / 0.78) ** 2, 0.0, 1.0))
        tongue = smoothstep(tongue_top + 1.5 * edge, tongue_top - 1.5 * edge, bottom) * smoothstep(0.5, 2.0, tongue_top)
        tongue_light = 0.95 - 0.55 * np.clip(bottom / np.maximum(tongue_top, 1.0), 0.0, 1.0)
        image = _lerp(image, palette.tongue * (tongue_light * (1.0 - 0.55 * side))[..., None], tongue)
    # lower teeth: the incisors' edges, fewer and dimmer than the upper ones, once well open
    lines, notches = _tooth_edges(u, width)
    lower_height = np.clip(0.16 * gap - 0.03 * width, 0.0, 0.055 * width)
    if teeth > 0 and lower_height.max() > 0.4:
        lower_height = lower_height * np.clip(1.0 - (u / 0.52) ** 2, 0.0, 1.0) * (1.0 - 0.2 * notches)
        lower = smoothstep(lower_height + edge, lower_height - edge, bottom) * smoothstep(0.4, 1.5, lower_height)
        lower = lower * smoothstep(-2.0 * edge, 0.0, bottom)  # nothing light beyond the lip for the blur to spread
        lower_light = (0.7 + 0.15 * smoothstep(0.0, 0.7 * np.maximum(lower_height, 1e-3), bottom))
        lower_light = lower_light * (1.0 - 0.35 * smoothstep(0.15, 0.5, u)) * (1.0 - 0.12 * lines)
        image = _lerp(image, palette.teeth * lower_light[..., None], lower * teeth)
    # the lower lip's inner edge curls into shade: a thin dark rim, which keeps that lip's edge
    # where a face mesh looks for it
    rim = max(1.2, 0.02 * width)
    image = image * (1.0 - 0.6 * smoothstep(rim, 0.0, bottom))[..., None]
    # upper teeth hang from the upper lip: their visible length grows with the opening up to the
    # incisors' length, shorter towards the corners, each edge rounded where two teeth meet
    if teeth > 0:
        height = np.minimum(0.42 * gap, 0.15 * width) * (1.0 - 0.4 * u ** 2) * (1.0 - 0.12 * notches)
        upper = smoothstep(height + edge, height - edge, top) * (1.0 - smoothstep(0.72, 0.93, u))
        upper = upper * smoothstep(-2.0 * edge, 0.0, top)
        if covered is not None:
            upper = upper * (1.0 - covered)
        light = (0.72 + 0.28 * smoothstep(0.0, 0.45 * np.maximum(height, 1e-3), top))  # the upper lip's shadow
        light = light * (1.0 - 0.5 * smoothstep(0.25, 0.9, u)) * (1.0 - 0.16 * lines)
        light = light * (0.7 + 0.3 * smoothstep(0.02 * width, 0.12 * width, gap))  # a narrow slit is in shade
        image = _lerp(image, palette.teeth * light[..., None], upper * teeth)
    return cv2.GaussianBlur(image.astype(np.float32), (0, 0), 0.3 + 0.0035 * width)


def _canonical_rows(field, held):
    """Bank texture rows (float) of a target Field's pixels, and the weight (h, w) of the bank there.

    `held` (h, w) is the entry's own gap at each pixel's place along the mouth, in target pixels.
    Where the target opens no wider than the entry, the entry's opening is fitted between the
    target's lips; where wider, its upper half hangs from the upper lip and its lower half rests
    on the lower lip, unstretched (teeth do not grow with the opening), and the band between them
    has no bank texture (weight 0: the synthesised back of the mouth shows there).
    """
    top, bottom, gap = field.top, field.bottom, field.gap
    margin = MARGIN * max(field.width, 1.0)
    scale = np.maximum(np.minimum(held, gap), 1e-3)  # pixels of target per entry opening
    from_lower = (gap > held) & (top > bottom)  # the lower half rests on the lower lip
    rows = np.where(from_lower, MARGIN_ROWS + OPENING_ROWS - 0.5 - bottom / scale * OPENING_ROWS,
                    MARGIN_ROWS - 0.5 + top / scale * OPENING_ROWS)
    rows = np.clip(rows, MARGIN_ROWS - 0.5, MARGIN_ROWS + OPENING_ROWS - 0.5)
    rows = np.where(top < 0, MARGIN_ROWS - 0.5 + top / margin * MARGIN_ROWS, rows)
    rows = np.where(bottom < 0, MARGIN_ROWS + OPENING_ROWS - 0.5 - bottom / margin * MARGIN_ROWS, rows)
    half, fade = held / 2, np.maximum(0.2 * held, 1e-3)
    halves = np.maximum(smoothstep(half, half - fade, top), smoothstep(half, half - fade, bottom))
    # the band between the halves opens gradually as the target outgrows the entry (no jump)
    split = smoothstep(0.0, 0.1 * held + 1.0, gap - held)
    return rows, 1.0 - (1.0 - halves) * split


def shown_share(texture, lips):
    """The share of a bank texture's opening middle (u within +-0.6, the inner 80 % of the gap)
    that shows the inside of a mouth: darker than the lips `lips` (3,), or teeth (lighter, greyer)."""
    rows = slice(MARGIN_ROWS + OPENING_ROWS // 10, MARGIN_ROWS + OPENING_ROWS - OPENING_ROWS // 10)
    columns = slice(int(0.2 * COLUMNS), int(0.8 * COLUMNS))
    middle = texture[rows, columns].reshape(-1, 3).astype(np.float64)
    level, lip_level = luminance(middle), float(luminance(np.asarray(lips, np.float64)))
    saturation = middle.max(axis=1) - middle.min(axis=1)
    lip_saturation = float(np.ptp(lips))
    dark = level < 0.65 * lip_level
    teeth = (level > lip_level + 15) & (saturation < 0.8 * lip_saturation + 10)
    return float(np.mean(dark | teeth))


def canonical_texture(frame, inner):
    """The mouth between inner lips `inner` (RING, 2) of `frame`, in the canonical mouth frame:
    (uint8 (2 * MARGIN_ROWS + OPENING_ROWS, COLUMNS, 3), its gap at each column over the inner width (C,))."""
    lips = _Lips(inner)
    margin = MARGIN * lips.width
    a = np.linspace(-1.0, 1.0, COLUMNS) * lips.width / 2  # (C,)
    upper, lower = lips.curves(a)
    rows = np.arange(2 * MARGIN_ROWS + OPENING_ROWS, dtype=np.float64)[:, None]  # (R, 1)
    t = (rows - MARGIN_ROWS + 0.5) / OPENING_ROWS
    d = np.where(rows < MARGIN_ROWS, upper + (rows - MARGIN_ROWS + 0.5) / MARGIN_ROWS * margin,
                 np.where(rows >= MARGIN_ROWS + OPENING_ROWS,
                          lower + (rows - MARGIN_ROWS - OPENING_ROWS + 0.5) / MARGIN_ROWS * margin,
                          upper + t * (lower - upper)))  # (R, C)
    points = lips.centre + a[None, :, None] * lips.along + d[..., None] * lips.down  # (R, C, 2)
    texture = cv2.remap(frame, points[..., 0].astype(np.float32), points[..., 1].astype(np.float32),
                        cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return texture, np.maximum(lower - upper, 0.0) / max(lips.width, 1e-6)


class InteriorBank:
    """A bounded bank of a clip's own open-mouth textures, chosen to cover diverse inner-lip shapes.

    Args:
      capacity: the most entries kept (memory: capacity x 18 KiB).
      neighbours: entries blended per frame.
      smoothing: the share of the last frame's blending weights kept in the next (no flicker).
    """

    def __init__(self, capacity=256, neighbours=3, smoothing=0.6):
        self.capacity, self.neighbours, self.smoothing = capacity, neighbours, smoothing
        self.textures = np.zeros((capacity, 2 * MARGIN_ROWS + OPENING_ROWS, COLUMNS, 3), np.uint8)
        self.shapes = np.zeros((capacity, RING, 2))  # normalised inner lips, relative to their corners' midpoint
        self.openings = np.zeros(capacity)
        self.gaps = np.zeros((capacity, COLUMNS))  # each texture's gap per column, over its inner width
        self.lips = np.zeros((capacity, 3))  # each texture's lip-margin colour
        self.keys = np.full(capacity, -1, np.int64)
        self.count = 0
        self._usable = np.zeros(capacity, bool)
        self._distances = np.full((capacity, capacity), np.inf)  # between entries' shapes
        self._weights = {}  # slot -> blending weight in the last frame rendered
        self._bank_weight = 0.0

    @staticmethod
    def descriptor(inner):
        """A normalised inner ring (RING, 2) relative to its corners' midpoint."""
        inner = np.asarray(inner, np.float64)
        return inner - (inner[0] + inner[HALF]) / 2

    def _distance(self, shapes, shape):
        """RMS point distance between shapes (n, RING, 2) and one (RING, 2)."""
        return np.sqrt(np.mean(np.sum((shapes - shape) ** 2, axis=-1), axis=-1))

    def offer(self, frame, inner_pixels, inner_shape, key):
        """Offers one measured mouth; returns whether it was kept.

        Args:
          frame: (H, W, 3) uint8, the frame.
          inner_pixels: (RING, 2) its inner lips in pixels; inner_shape: the same, normalised.
          key: an integer naming the measurement (`use_only` picks entries by it).
        """
        opening = relative_opening(inner_shape)
        if opening < MIN_OPENING or opening * _Lips(inner_pixels).width < MIN_GAP_PIXELS:
            return False
        shape = self.descriptor(inner_shape)
        distances = self._distance(self.shapes[:self.count], shape)
        distances = np.concatenate([distances, np.full(self.capacity - len(distances), np.inf)])
        slot = self.count
        if distances.min() < SAME_SHAPE:
            return False  # a shape the bank holds already (a still face, a held pose): not worth its texture
        if self.count == self.capacity:
            # full: the new shape replaces one of the two closest entries, if it is farther
            # from every entry than those two are from each other
            closest = np.unravel_index(np.argmin(self._distances), self._distances.shape)
            if distances.min() <= self._distances[closest]:
                return False
            slot = closest[0]
        texture, gaps = canonical_texture(frame, inner_pixels)
        margins = np.concatenate([texture[:MARGIN_ROWS], texture[-MARGIN_ROWS:]]).reshape(-1, 3)
        lips = margins.mean(axis=0)
        if shown_share(texture, lips) < MIN_SHOWN:
            return False  # mostly lip between the mesh's inner lips: no interior to lend
        self.count = max(self.count, slot + 1)
        self.textures[slot], self.gaps[slot], self.lips[slot] = texture, gaps, lips
        self.shapes[slot], self.openings[slot], self.keys[slot] = shape, opening, key
        distances[slot] = np.inf
        self._distances[slot], self._distances[:, slot] = distances, distances
        self._usable[slot] = True
        return True

    def use_only(self, keys):
        """Keeps only the entries of the measurements in `keys` usable (the main face's)."""
        keys = np.fromiter(keys, np.int64)
        self._usable[:self.count] = np.isin(self.keys[:self.count], keys)

    def __len__(self):
        return int(self._usable[:self.count].sum())

    def choose(self, inner_shape):
        """{slot: weight} of the entries blended for a target normalised inner ring, and the
        weight of the bank against the synthesised interior; smoothed over successive calls."""
        target, opening = self.descriptor(inner_shape), relative_opening(inner_shape)
        slots = np.flatnonzero(self._usable[:self.count])
        current, bank_weight = {}, 0.0
        if len(slots) and opening > 0:
            distances = self._distance(self.shapes[slots], target)
            # an entry opened much less than the target lends little but its lips' edges: it
            # fades out below 60 % of the target's opening, and with its distance in shape
            fit = smoothstep(0.35, 0.6, self.openings[slots] / opening) * smoothstep(0.16, 0.08, distances)
            order = np.argsort(distances + 1e3 * (fit <= 0))[:self.neighbours]
            order = order[fit[order] > 0]
            if len(order):
                near = np.exp(-((distances[order] - distances[order[0]]) / 0.015) ** 2) * fit[order]
                current = dict(zip(slots[order].tolist(), (near / near.sum()).tolist()))
                bank_weight = float(fit[order].max())
        keep = self.smoothing
        weights = {s: keep * self._weights.get(s, 0.0) + (1 - keep) * current.get(s, 0.0)
                   for s in set(self._weights) | set(current)}
        weights = dict(sorted(weights.items(), key=lambda item: -item[1])[:self.neighbours])
        weights = {s: w for s, w in weights.items() if w > 0.02 and self._usable[s]}
        total = sum(weights.values())
        self._weights = {s: w / total for s, w in weights.items()} if total else {}
        self._bank_weight = keep * self._bank_weight + (1 - keep) * bank_weight if self._weights else 0.0
        return self._weights, self._bank_weight

    def texture(self, field, weights, lips, strength=1.0):
        """The entries `weights` ({slot: weight}) blended over a target Field, each entry's colour
        scaled to the target's lip colour `lips` (3,): (float32 (h, w, 3), the bank's weight there
        (h, w) in [0, strength]: 0 between the lips' halves where the target opens wider than an entry)."""
        columns = (field.u + 1.0) / 2.0 * (COLUMNS - 1)
        map_x = columns.astype(np.float32)
        column = np.clip(np.round(columns), 0, COLUMNS - 1).astype(int)
        out = np.zeros(field.u.shape + (3,), np.float32)
        total = np.zeros(field.u.shape, np.float32)
        for slot, weight in weights.items():
            rows, cover = _canonical_rows(field, self.gaps[slot][column] * field.width)
            gain = np.clip(np.asarray(lips, np.float64) / np.maximum(self.lips[slot], 1.0), 0.7, 1.4)
            sample = cv2.remap(self.textures[slot], map_x, rows.astype(np.float32), cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
            cover = (weight * cover).astype(np.float32)
            out += sample.astype(np.float32) * gain.astype(np.float32) * cover[..., None]
            total += cover
        return out / np.maximum(total, 1e-6)[..., None], np.clip(total * strength, 0.0, 1.0)
