"""Mouth warp: moves a face's own lips to new points, piecewise affine, and fills the opening.

No pixel generator: the face's own pixels are moved. Four rings of 20 points each, in the
face-mesh lip rings (tflipsync.faces.mesh.OUTER_LIPS, INNER_LIPS), are cut into triangles once per face:

- ring 0: the inner lips (the opening's edge); ring 1: the outer lips;
- ring 2: a band around the lips (cheeks, chin, the skin under the nose) that follows the lips
  part of the way (the jaw drops with the lower lip);
- ring 3: a wider band that stays where it is, so the warp fades to the identity there and no
  seam can show (the warp is continuous across every triangle edge and is exactly the identity on
  ring 3 and outside it).

Between the inner lips, what the source mouth shows (teeth in a photo of an open mouth) moves
with the upper lip, unstretched, as upper teeth do; where the opening reaches beyond what the
source showed, it is filled with a dark mouth interior: the face's own lip colour, darkened and
shaded towards the middle.

Per frame, only the region inside ring 3 is touched: its triangles are drawn into an index image
(cv2.fillConvexPoly), each pixel's source position comes from its triangle's affine map, and
cv2.remap samples the frame there. Points are (x, y) float pixels throughout.
"""

import cv2
import numpy as np

from tflipsync.faces import mesh

# Points per ring: the face-mesh lip rings start at the mouth corner on the image's left, run
# along the lower lip to the other corner and back along the upper lip.
RING = len(mesh.OUTER_LIPS)
# Ring offsets from the outer lips, as fractions of the mouth's width: sideways, upwards (the
# skin under the nose is short), downwards (towards the chin).
BAND_OFFSETS = ((0.22, 0.14, 0.28), (0.45, 0.30, 0.58))
# How much of the nearest outer-lip point's motion ring 2 follows (upper half, lower half).
BAND_FOLLOW = (0.3, 0.6)
SUBPIXEL = 4  # fixed-point bits for drawing triangles


def _strip_triangles():
    """Triangles of the ring pairs (vertex numbers ring * RING + i), inner strip first.

    Drawn in this order, later triangles win where a folded target overlaps: lips over the
    opening, the outer bands over the lips.
    """
    triangles = []
    half = RING // 2
    # across the opening: lower inner point k faces upper inner point RING - k
    triangles.append((0, 1, RING - 1))
    for k in range(1, half - 1):
        triangles += [(k, k + 1, RING - k - 1), (k, RING - k - 1, RING - k)]
    triangles.append((half - 1, half, half + 1))
    for ring in range(3):
        for i in range(RING):
            j = (i + 1) % RING
            a_i, a_j, b_i, b_j = ring * RING + i, ring * RING + j, (ring + 1) * RING + i, (ring + 1) * RING + j
            triangles += [(a_i, a_j, b_j), (a_i, b_j, b_i)]
    return np.array(triangles, np.int32)


TRIANGLES = _strip_triangles()
OPENING_TRIANGLES = RING - 2  # the first ones: across the opening


def mouth_axes(outer):
    """Unit vectors (along the mouth from corner to corner, perpendicular pointing to the chin)."""
    along = outer[RING // 2] - outer[0]
    along = along / max(float(np.linalg.norm(along)), 1e-6)
    return along, np.array([-along[1], along[0]])


def bands(outer, width=None):
    """Rings 2 and 3, each (RING, 2): the outer lips pushed outwards by BAND_OFFSETS."""
    along, down = mouth_axes(outer)
    centre = outer.mean(axis=0)
    width = width if width is not None else float(np.linalg.norm(outer[RING // 2] - outer[0]))
    local = np.stack([(outer - centre) @ along, (outer - centre) @ down], axis=1)  # (RING, 2)
    direction = local / np.maximum(np.linalg.norm(local, axis=1, keepdims=True), 1e-6)
    rings = []
    for sideways, up, below in BAND_OFFSETS:
        vertical = np.where(direction[:, 1] > 0, below, up)
        offset = direction * np.stack([np.full(RING, sideways), vertical], axis=1) * width
        rings.append(outer + offset[:, :1] * along + offset[:, 1:] * down)
    return rings


def _affines(source, target):
    """(T, 2, 3) maps from each target triangle to its source triangle (target -> source), and
    bool (T,): the target triangle has an area (the others are not drawn)."""
    tri_target = target[TRIANGLES]  # (T, 3, 2)
    tri_source = source[TRIANGLES]
    homogeneous = np.concatenate([tri_target, np.ones((len(TRIANGLES), 3, 1))], axis=2)  # (T, 3, 3)
    det = np.linalg.det(homogeneous)
    fine = np.abs(det) > 1e-6
    out = np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (len(TRIANGLES), 1, 1))
    if fine.any():
        # rows: homogeneous @ A^T = source  ->  A^T = inv(homogeneous) @ source
        out[fine] = np.transpose(np.linalg.solve(homogeneous[fine], tri_source[fine]), (0, 2, 1))
    return out, fine


class MouthWarp:
    """The warp of one face in one frame: rings and region set up once, then any target.

    Args:
      frame: (H, W, 3) uint8, the face's frame (its lip colour is sampled here).
      outer, inner: (RING, 2) float pixels, the face's own lips in mesh.OUTER_LIPS / INNER_LIPS order.
      darkness: the mouth interior's brightness as a fraction of the lips'.
      max_shift: the farthest a lip point moves, as a fraction of the mouth's width (beyond
        that the bands would fold over).
    """

    def __init__(self, frame, outer, inner, darkness=0.3, max_shift=0.4):
        self.size = frame.shape[:2]
        outer, inner = np.asarray(outer, np.float64), np.asarray(inner, np.float64)
        self.width = float(np.linalg.norm(outer[RING // 2] - outer[0]))
        self.max_shift = max_shift * self.width
        band, fixed = bands(outer, self.width)
        self.source = np.concatenate([inner, outer, band, fixed])  # (4 * RING, 2)
        self._band_follow = np.where((outer - outer.mean(axis=0)) @ mouth_axes(outer)[1] > 0,
                                     BAND_FOLLOW[1], BAND_FOLLOW[0])[:, None]
        height, width = self.size
        x0, y0 = np.floor(fixed.min(axis=0)).astype(int)
        x1, y1 = np.ceil(fixed.max(axis=0)).astype(int) + 1
        self.region = (max(0, x0), max(0, y0), min(width, x1), min(height, y1))  # x0, y0, x1, y1
        self.empty = self.region[2] <= self.region[0] or self.region[3] <= self.region[1]
        x0, y0, x1, y1 = self.region
        self._ys, self._xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)  # (h, w) each: the region's pixels
        self.interior = self._interior_colour(frame, outer, inner, darkness)
        self._source_opening = self._opening_mask(inner - [x0, y0], (y1 - y0, x1 - x0))

    @staticmethod
    def _opening_mask(inner, shape):
        """float32 `shape` coverage of the opening between `inner` lips (region pixels), anti-aliased."""
        mask = np.zeros(shape, np.uint8)
        cv2.fillPoly(mask, [np.round(inner * (1 << SUBPIXEL)).astype(np.int32)], 255, lineType=cv2.LINE_AA,
                     shift=SUBPIXEL)
        return mask.astype(np.float32) / 255.0

    def _interior_colour(self, frame, outer, inner, darkness):
        """Mean lip colour (between the rings) times `darkness`, float32 (3,)."""
        if self.empty:
            return np.zeros(3, np.float32)
        x0, y0, x1, y1 = self.region
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        shift = np.array([x0, y0])
        cv2.fillPoly(mask, [np.round(outer - shift).astype(np.int32)], 1)
        cv2.fillPoly(mask, [np.round(inner - shift).astype(np.int32)], 0)
        pixels = frame[y0:y1, x0:x1][mask.astype(bool)]
        lips = pixels.mean(axis=0) if len(pixels) else frame[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0)
        return (lips * darkness).astype(np.float32)

    def targets(self, outer, inner):
        """All ring points (4 * RING, 2) for new lip points: ring 2 follows part way, ring 3 stays.

        Each lip point moves at most `max_shift` pixels towards its target.
        """
        lips = np.concatenate([inner, outer]).astype(np.float64)
        shift = lips - self.source[:2 * RING]
        length = np.linalg.norm(shift, axis=1, keepdims=True)
        lips = self.source[:2 * RING] + shift * np.minimum(1.0, self.max_shift / np.maximum(length, 1e-9))
        inner, outer = lips[:RING], lips[RING:]
        band = self.source[2 * RING:3 * RING] + self._band_follow * (outer - self.source[RING:2 * RING])
        return np.concatenate([inner, outer, band, self.source[3 * RING:]])

    def __call__(self, frame, outer, inner):
        """`frame` with the lips moved to `outer`, `inner` ((RING, 2) pixels); a new array."""
        out = frame.copy()
        if self.empty:
            return out
        x0, y0, x1, y1 = self.region
        target = self.targets(outer, inner)
        affines, fine = _affines(self.source, target)
        # across the opening: the source's mouth content follows the upper inner lip, unstretched
        upper = slice(RING // 2 + 1, RING)
        lift = (target[upper] - self.source[upper]).mean(axis=0)  # (2,) the upper lip's move
        affines[:OPENING_TRIANGLES] = [[1, 0, -lift[0]], [0, 1, -lift[1]]]
        index = np.full((y1 - y0, x1 - x0), -1, np.int32)
        corners = np.round((target[TRIANGLES] - [x0, y0]) * (1 << SUBPIXEL)).astype(np.int32)  # (T, 3, 2)
        for t in np.flatnonzero(fine):
            cv2.fillConvexPoly(index, corners[t], int(t), lineType=cv2.LINE_8, shift=SUBPIXEL)
        # one row of affine coefficients per triangle and, last, the identity: index -1 (no
        # triangle: outside ring 3 or inside the opening) picks it
        table = np.concatenate([affines.reshape(-1, 6), [[1, 0, 0, 0, 1, 0]]]).astype(np.float32)
        coefficients = table[index]  # (h, w, 6)
        xs, ys = self._xs, self._ys
        map_x = coefficients[..., 0] * xs + coefficients[..., 1] * ys + coefficients[..., 2]
        map_y = coefficients[..., 3] * xs + coefficients[..., 4] * ys + coefficients[..., 5]
        region = cv2.remap(frame, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        self._fill_opening(region, target[:RING] - [x0, y0], lift)
        out[y0:y1, x0:x1] = region
        return out

    def _fill_opening(self, region, inner, lift):
        """Blends the dark interior into the target opening where the moved source opening is not."""
        bx0, by0 = np.maximum(np.floor(inner.min(axis=0)).astype(int) - 2, 0)
        bx1, by1 = np.ceil(inner.max(axis=0)).astype(int) + 3
        patch = region[by0:by1, bx0:bx1]
        if patch.size == 0:
            return
        opening = self._opening_mask(inner - [bx0, by0], patch.shape[:2])
        shown = cv2.warpAffine(self._source_opening, np.float32([[1, 0, lift[0] - bx0], [0, 1, lift[1] - by0]]),
                               (patch.shape[1], patch.shape[0]), flags=cv2.INTER_LINEAR)
        alpha = np.clip(opening - shown, 0.0, 1.0)
        if alpha.max() < 0.02:
            return
        # darker in the middle of the opening, as the mouth's depth shades it
        depth = cv2.GaussianBlur(opening, (0, 0), max(1.0, 0.25 * min(patch.shape[:2])))
        shade = 1.0 - 0.5 * depth / max(float(depth.max()), 1e-6)
        colour = self.interior[None, None, :] * shade[..., None]
        alpha = alpha[..., None]
        patch[:] = np.clip(patch * (1.0 - alpha) + colour * alpha + 0.5, 0, 255).astype(np.uint8)


def polygon_area(polygon):
    """Area of a polygon (N, 2) (shoelace; absolute)."""
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
