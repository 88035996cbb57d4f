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
source showed, it is filled with a mouth interior (tflipsync/inference/interior.py): drawn from
the face's own colours (teeth, tongue, a dark throat), or, for a video, given by the caller
from the clip's own frames of similar shape; a feathered edge joins it to what the source showed.

Per frame, only the region inside ring 3 is touched: its triangles are drawn into an index image
(cv2.fillConvexPoly), each pixel's source position comes from its triangle's affine map, and
cv2.remap samples the frame there. Points are (x, y) float pixels throughout.
"""

import cv2
import numpy as np

from tflipsync.faces import mesh
from tflipsync.inference import interior

# Points per ring: the face-mesh lip rings start at the mouth corner on the image's left, run
# along the lower lip to the other corner and back along the upper lip.
RING = len(mesh.OUTER_LIPS)
# Ring offsets from the outer lips, as fractions of the mouth's width: sideways, upwards (the
# skin under the nose is short), downwards (towards the chin).
BAND_OFFSETS = ((0.22, 0.14, 0.28), (0.45, 0.30, 0.58))
# How much of the nearest outer-lip point's motion ring 2 follows (upper half, lower half).
BAND_FOLLOW = (0.3, 0.6)
SUBPIXEL = 4  # fixed-point bits for drawing triangles
DETAIL = 128.0  # the widest mouth (pixels) whose interior is drawn at full resolution


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
      frame: (H, W, 3) uint8 RGB, the face's frame (its lip, skin and eye colours are sampled here).
      outer, inner: (RING, 2) float pixels, the face's own lips in mesh.OUTER_LIPS / INNER_LIPS order.
      eyes: optional (2, 2) float pixels, the eyes' centres: their sclera joins the skin's light
        tones that the synthesised teeth are tinted from.
      max_shift: the farthest a lip point moves, as a fraction of the mouth's width (beyond
        that the bands would fold over).
      own_content: show the source's own mouth content (its teeth or dark interior) in the
        opening. False fills the whole target opening with the interior (the bank's or the
        synthesised one), so that what shows there depends on the target shape only: in a
        video, each frame's own open or closed mouth would otherwise show through the new one.
    """

    def __init__(self, frame, outer, inner, eyes=None, max_shift=0.4, own_content=True):
        self.size = frame.shape[:2]
        self.own_content = own_content
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
        self.palette = self._palette(frame, outer, inner, fixed, eyes)
        if own_content:  # only what the source shows in its opening is ever drawn from these
            self._source_opening = self._opening_mask(inner - [x0, y0], (y1 - y0, x1 - x0))
            # the source's own mouth content: its teeth (lighter than the lips), or its dark interior
            # if it is open (the mesh's inner lips of a closed mouth enclose a sliver of lip and the
            # dark line between the lips)
            brightness = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float32)
            lips = float(interior.luminance(self.palette.lips))
            content = interior.smoothstep(12.0, 30.0, brightness - lips)
            if interior.relative_opening(inner) > 0.12:
                content = np.maximum(content, interior.smoothstep(30.0, 60.0, lips - brightness))
            self._source_content = self._source_opening * content

    @staticmethod
    def _opening_mask(inner, shape):
        """float32 `shape` coverage of the opening between `inner` lips (region pixels), anti-aliased."""
        mask = np.zeros(shape, np.uint8)
        cv2.fillPoly(mask, [np.round(inner * (1 << SUBPIXEL)).astype(np.int32)], 255, lineType=cv2.LINE_AA,
                     shift=SUBPIXEL)
        return mask.astype(np.float32) / 255.0

    def _palette(self, frame, outer, inner, fixed, eyes):
        """The interior.Palette of this face: lips between the rings; light tones from the skin
        inside ring 3 around the lips and, given `eyes`, from around each eye (its sclera)."""
        x0, y0, x1, y1 = self.region
        if self.empty:
            return interior.Palette.of_face(np.zeros((0, 3)), np.zeros((0, 3)))
        shift = np.array([x0, y0])
        lips, skin = np.zeros((y1 - y0, x1 - x0), np.uint8), np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(lips, [np.round(outer - shift).astype(np.int32)], 1)
        cv2.fillPoly(lips, [np.round(inner - shift).astype(np.int32)], 0)
        cv2.fillPoly(skin, [np.round(fixed - shift).astype(np.int32)], 1)
        cv2.fillPoly(skin, [np.round(outer - shift).astype(np.int32)], 0)
        patch = frame[y0:y1, x0:x1]
        light = [patch[skin.astype(bool)]]
        if eyes is not None:
            eyes = np.asarray(eyes, np.float64)
            spacing = float(np.linalg.norm(eyes[1] - eyes[0]))
            for centre in eyes:
                ex0, ey0 = np.maximum(np.round(centre - [0.22 * spacing, 0.07 * spacing]).astype(int), 0)
                ex1, ey1 = np.round(centre + [0.22 * spacing, 0.07 * spacing]).astype(int) + 1
                light.append(frame[ey0:ey1, ex0:ex1].reshape(-1, 3))
        return interior.Palette.of_face(patch[lips.astype(bool)], np.concatenate(light))

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

    def __call__(self, frame, outer, inner, bank=None):
        """`frame` with the lips moved to `outer`, `inner` ((RING, 2) pixels); a new array.

        Args:
          bank: optional bank(field, lips) -> (texture float32 (h, w, 3), weight (h, w) in
            [0, 1], strength in [0, 1]): a clip's own interior for the target opening's
            interior.Field and this face's lip colour, blended over the synthesised one by its
            weight; the synthesised teeth fade out by its overall strength.
        """
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
        self._fill_opening(region, target[:RING] - [x0, y0], lift, bank)
        out[y0:y1, x0:x1] = region
        return out

    def _fill_opening(self, region, inner, lift, bank):
        """Blends a mouth interior into the target opening where the moved source opening is not."""
        bx0, by0 = np.maximum(np.floor(inner.min(axis=0)).astype(int) - 2, 0)
        bx1, by1 = np.ceil(inner.max(axis=0)).astype(int) + 3
        patch = region[by0:by1, bx0:bx1]
        if patch.size == 0:
            return
        opening = self._opening_mask(inner - [bx0, by0], patch.shape[:2])
        move = np.float32([[1, 0, lift[0] - bx0], [0, 1, lift[1] - by0]])
        shown = 0.0
        if self.own_content:
            shown = cv2.warpAffine(self._source_opening, move, (patch.shape[1], patch.shape[0]),
                                   flags=cv2.INTER_LINEAR)
        exposed = np.clip(opening - shown, 0.0, 1.0)
        if exposed.max() < 0.02:
            return
        # a soft join reaching a little into what the source showed, where that ends inside the
        # opening; the lips' own edges stay as sharp as they are
        feather = cv2.GaussianBlur(exposed, (0, 0), max(0.6, 0.01 * self.width))
        alpha = np.maximum(exposed, opening * np.clip(2.0 * feather, 0.0, 1.0))
        # the interior is soft: past DETAIL pixels of mouth width it is drawn smaller and enlarged
        scale = min(1.0, DETAIL / max(self.width, 1.0))
        size = patch.shape[:2] if scale == 1.0 else tuple(max(2, int(round(n * scale))) for n in patch.shape[:2])
        field = interior.opening_field((inner - [bx0, by0] + 0.5) * scale - 0.5, size)
        texture, weight, strength = bank(field, self.palette.lips) if bank is not None else (None, 0.0, 0.0)
        if np.min(weight) < 1.0:
            # the source's own teeth or mouth end where what it showed ends: no teeth drawn below them
            covered = np.zeros(patch.shape[:2], np.float32)
            if self.own_content:
                content = cv2.warpAffine(self._source_content, move, (patch.shape[1], patch.shape[0]),
                                         flags=cv2.INTER_LINEAR)
                depth = content.sum(axis=0)  # (w,) pixels of mouth content shown per column
                covered = np.maximum.accumulate(content, axis=0) * interior.smoothstep(1.5, 3.0, depth)[None]
            if scale != 1.0:
                covered = cv2.resize(covered, size[::-1], interpolation=cv2.INTER_AREA)
            synthesised = interior.synthesised(field, self.palette, covered, teeth=1.0 - strength)
            if texture is None:
                texture = synthesised
            else:
                weight = weight[..., None]
                texture = weight * texture + (1.0 - weight) * synthesised
        if scale != 1.0:
            texture = cv2.resize(texture, patch.shape[1::-1], interpolation=cv2.INTER_LINEAR)
        alpha = alpha[..., None]
        patch[:] = np.clip(patch * (1.0 - alpha) + texture * alpha + 0.5, 0, 255).astype(np.uint8)


def polygon_area(polygon):
    """Area of a polygon (N, 2) (shoelace; absolute)."""
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
