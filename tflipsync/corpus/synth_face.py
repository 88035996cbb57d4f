"""Faces for the synthetic corpus: a real photo, re-coloured and posed, with a mouth driven by numbers.

The photo is scikit-image's `astronaut` (Eileen Collins, a NASA portrait in the public domain). It
is analysed once per process: a head-and-shoulders matte (GrabCut seeded by fixed ellipses and
polygons) and the 468-point face mesh (`tflipsync.faces.mesh`), whose lip contours define the mouth.

Mouth model. Coordinates are photo pixels in mouth axes: `a` along the line from the image-left
outer lip corner (mesh point 61 or 291, whichever is on the left) to the image-right one, `b`
perpendicular to it and pointing down, origin at the corners' midpoint; `hw` is half the corner
distance and `ai0` half the inner-corner (78, 308) distance. The photo's lip contours give four
profiles b(a): upper and lower, outer and inner (the photo shows teeth between the inner ones).
For an opening o, width w and roundness r in [0, 1]:

- the mouth is scaled horizontally by ``sx = 0.9 + 0.2 w - 0.12 r`` (1 at rest: w = 0.5, r = 0);
- the inner gap is ``g(a) = G max(0, 1 - (a / ai)^2)^p`` with ``G = 0.85 hw o``,
  ``ai = ai0 sx (1 - 0.3 r)`` and ``p = 1 - 0.5 r`` (a pointed lens when spread, rounder when
  rounded);
- the photo is warped backwards (cv2.remap): around the mouth ``a_src = a / sx``; nothing above the
  upper inner lip moves vertically; the lower lip moves rigidly so that its inner edge lies g(a)
  below the upper inner lip (closing the photo's own teeth gap when o = 0); below the lower lip the
  displacement blends into a jaw drop of ``0.85 G`` (Gaussian across, fading out below the chin);
- the gap is painted as a dark mouth interior with a band of upper and of lower teeth.

The npz landmarks are these rendered contours carried through the frame's pose: 20 outer points (0:
image-left corner, 1-9 upper lip left to right, 10: image-right corner, 11-19 lower lip right to
left) and 12 inner points (0: left inner corner, 1-5 upper lip, 6: right inner corner, 7-11 lower
lip right to left), as (x, y) frame pixels. The face box is the bounding box of the photo's 468
mesh points carried through the mouth warp and the pose.
"""

import dataclasses
import functools

import cv2
import numpy as np

from tflipsync.faces import detect
from tflipsync.faces import mesh as face_mesh

FOREHEAD, CHIN = 10, 152
N_OUTER, N_INNER = 20, 12

_THROAT = np.array([40.0, 10.0, 14.0], np.float32)
_MOUTH_EDGE = np.array([120.0, 48.0, 52.0], np.float32)
_UPPER_TEETH = np.array([222.0, 215.0, 200.0], np.float32)
_LOWER_TEETH = np.array([185.0, 178.0, 166.0], np.float32)


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclasses.dataclass(frozen=True)
class BasePhoto:
    """The analysed photo: rgb uint8 (H, W, 3), matte float32 (H, W) in [0, 1], mesh float32
    (468, 2) face-mesh points as (x, y) pixels."""
    rgb: np.ndarray
    matte: np.ndarray
    mesh: np.ndarray

    def mirrored(self):
        mesh = self.mesh.copy()
        mesh[:, 0] = self.rgb.shape[1] - 1 - mesh[:, 0]
        return BasePhoto(self.rgb[:, ::-1].copy(), self.matte[:, ::-1].copy(), mesh)


def _matte(photo):
    """Head-and-shoulders matte of the astronaut photo: GrabCut from fixed seeds, feathered."""
    mask = np.full(photo.shape[:2], cv2.GC_BGD, np.uint8)
    cv2.ellipse(mask, (225, 105), (88, 100), 0, 0, 360, cv2.GC_PR_FGD, -1)
    body = [(120, 160), (320, 160), (370, 300), (380, 512), (10, 512), (20, 300), (100, 250)]
    cv2.fillPoly(mask, [np.array(body, np.int32)], cv2.GC_PR_FGD)
    cv2.circle(mask, (395, 445), 100, cv2.GC_PR_BGD, -1)  # the helmet she holds
    cv2.ellipse(mask, (224, 120), (45, 55), 0, 0, 360, cv2.GC_FGD, -1)
    core = [(150, 220), (290, 220), (320, 330), (300, 512), (80, 512), (100, 330)]
    cv2.fillPoly(mask, [np.array(core, np.int32)], cv2.GC_FGD)
    cv2.setRNGSeed(0)  # GrabCut's k-means initialisation draws from OpenCV's generator
    models = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(np.ascontiguousarray(photo[:, :, ::-1]), mask, None, *models, 5, cv2.GC_INIT_WITH_MASK)
    matte = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    return cv2.GaussianBlur(matte, (0, 0), 1.2)


@functools.lru_cache(maxsize=1)
def base_photo():
    """The analysed astronaut photo (computed once per process; runs the face detector and mesh)."""
    from skimage import data

    photo = data.astronaut()
    with detect.FaceDetector() as detector:
        found = detector.detect(photo)
    if not found:
        raise RuntimeError("skimage.data.astronaut: no face found")
    points, _ = face_mesh.FaceMesh().landmarks(photo, found[0])
    return BasePhoto(photo, _matte(photo), points[:, :2].astype(np.float32))


@dataclasses.dataclass(frozen=True)
class MouthShape:
    """Geometry for one frame: horizontal scale, central gap, lens half width and power."""
    scale: float
    gap: float
    lens_half: float
    lens_power: float


class MouthModel:
    """The parametric mouth of one (possibly mirrored) photo; see the module docstring."""

    def __init__(self, mesh):
        left, right = np.asarray(mesh[61], np.float64), np.asarray(mesh[291], np.float64)
        if left[0] > right[0]:
            left, right = right, left
        self.centre = (left + right) / 2
        self.half_width = float(np.linalg.norm(right - left) / 2)
        self.u = (right - left) / (2 * self.half_width)
        self.v = np.array([-self.u[1], self.u[0]])
        local = self.to_local(mesh)
        self.profiles = {name: self._profile(local[list(index)]) for name, index in (
            ("outer_upper", face_mesh.OUTER_UPPER), ("outer_lower", face_mesh.OUTER_LOWER),
            ("inner_upper", face_mesh.INNER_UPPER), ("inner_lower", face_mesh.INNER_LOWER))}
        self.inner_half = float(np.abs(local[[78, 308], 0]).mean())
        self.top = float(local[list(face_mesh.OUTER_UPPER), 1].min())
        self.bottom = float(local[list(face_mesh.OUTER_LOWER), 1].max())
        self.chin = float(local[CHIN, 1])

    @staticmethod
    def _profile(points):
        order = np.argsort(points[:, 0], kind="stable")
        return points[order, 0], points[order, 1]

    def to_local(self, xy):
        d = np.asarray(xy, np.float64) - self.centre
        return np.stack([d @ self.u, d @ self.v], axis=-1)

    def to_photo(self, ab):
        ab = np.asarray(ab, np.float64)
        return self.centre + ab[..., :1] * self.u + ab[..., 1:] * self.v

    def _b(self, name, a):
        return np.interp(a, *self.profiles[name])

    def shape(self, opening, width, roundness):
        scale = 0.9 + 0.2 * width - 0.12 * roundness
        return MouthShape(scale, 0.85 * self.half_width * opening,
                          self.inner_half * scale * (1 - 0.3 * roundness), 1 - 0.5 * roundness)

    def gap(self, a, s):
        """Inner-lip gap g(a) at destination abscissa `a`."""
        return s.gap * np.maximum(0.0, 1 - (a / s.lens_half) ** 2) ** s.lens_power

    def _lip_shift(self, a, a_src, s):
        """Vertical move of the lower lip: its inner edge ends g(a) below the upper inner lip."""
        photo_gap = np.maximum(self._b("inner_lower", a_src) - self._b("inner_upper", a_src), 0)
        return self.gap(a, s) - photo_gap

    def backward(self, a, b, s):
        """Source mouth coordinates of destination (a, b) and the interior's alpha there."""
        hw = self.half_width
        plateau = ((1 - _smoothstep((np.abs(a) - 1.2 * hw) / (0.8 * hw)))
                   * (1 - _smoothstep((self.top - 0.3 * hw - b) / (0.4 * hw)))
                   * (1 - _smoothstep((b - self.bottom - 1.0 * hw) / (0.6 * hw))))
        a_src = a * (1 - (1 - 1 / s.scale) * plateau)
        upper = self._b("inner_upper", a_src)
        gap = self.gap(a, s)
        thick = np.maximum(self._b("outer_lower", a_src) - self._b("inner_lower", a_src), 0)
        blend = _smoothstep((b - upper - gap - thick) / (0.6 * hw))
        jaw = (0.85 * s.gap * np.exp(-(a / (1.5 * hw)) ** 2)
               * (1 - _smoothstep((b - self.chin) / (0.8 * hw))))
        shift = self._lip_shift(a, a_src, s) * (1 - blend) + jaw * blend
        shift = np.where(b < upper, 0.0, shift)
        inside = (np.clip(b - upper + 0.5, 0, 1) * np.clip(upper + gap - b + 0.5, 0, 1)
                  * np.clip(self.inner_half * s.scale - np.abs(a) + 0.5, 0, 1))
        return a_src, b - shift, inside

    def forward(self, ab, s, steps=6):
        """Destination of source mouth coordinates (N, 2), by fixed-point iteration."""
        ab = np.asarray(ab, np.float64)
        out = ab.copy()
        for _ in range(steps):
            a_src, b_src, _ = self.backward(out[:, 0], out[:, 1], s)
            out += ab - np.stack([a_src, b_src], axis=1)
        return out

    def contours(self, s):
        """Rendered lip contours in mouth coordinates: outer (20, 2) and inner (12, 2)."""
        corner = self.half_width * s.scale
        a_up = np.linspace(-corner, corner, 11)
        a_lo = a_up[::-1][1:-1]
        outer = np.concatenate([
            np.stack([a_up, self._b("outer_upper", a_up / s.scale)], axis=1),
            np.stack([a_lo, self._b("outer_lower", a_lo / s.scale)
                      + self._lip_shift(a_lo, a_lo / s.scale, s)], axis=1)])
        inner_corner = self.inner_half * s.scale
        a_up = np.linspace(-inner_corner, inner_corner, 7)
        a_lo = a_up[::-1][1:-1]
        inner = np.concatenate([
            np.stack([a_up, self._b("inner_upper", a_up / s.scale)], axis=1),
            np.stack([a_lo, self._b("inner_upper", a_lo / s.scale) + self.gap(a_lo, s)], axis=1)])
        return outer, inner

    def interior(self, a, b, s, tone):
        """Mouth-interior colour (..., 3) at destination (a, b): throat, upper and lower teeth."""
        upper = self._b("inner_upper", a / s.scale)
        gap = np.maximum(self.gap(a, s), 1e-3)
        depth = np.clip(b - upper, 0, None) / gap  # 0 at the upper lip, 1 at the lower lip
        across = np.clip(1 - (a / s.lens_half) ** 2, 0, 1)
        dark = (1 - (2 * np.clip(depth, 0, 1) - 1) ** 2) * across
        colour = _MOUTH_EDGE + (_THROAT - _MOUTH_EDGE) * dark[..., None]
        teeth = np.minimum(0.3 * gap, 0.22 * self.half_width)
        wide = np.clip((0.75 * s.lens_half - np.abs(a)) / 2 + 0.5, 0, 1)
        upper_teeth = np.clip(upper + teeth - b + 0.5, 0, 1) * wide
        lower_teeth = np.clip(b - (upper + gap - 0.5 * teeth) + 0.5, 0, 1) * wide
        colour += (_UPPER_TEETH - colour) * upper_teeth[..., None]
        colour += (_LOWER_TEETH - colour) * lower_teeth[..., None]
        return colour * tone


def _smooth_noise(rng, shape, cells):
    """Low-frequency texture in about [-1, 1]: a random grid upsampled bicubically."""
    grid = rng.standard_normal((cells[0], cells[1])).astype(np.float32)
    return cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def _background(rng, height, width):
    """A random two-colour gradient with soft texture and a few out-of-focus blobs, float32."""
    first, second = rng.uniform(20, 235, size=(2, 3))
    angle = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = ((x - width / 2) * np.cos(angle) + (y - height / 2) * np.sin(angle)) / max(height, width)
    ramp = np.clip(ramp + 0.5, 0, 1)[..., None]
    image = first + (second - first) * ramp
    image += rng.uniform(5, 25) * _smooth_noise(rng, (height, width), (5, 8))[..., None]
    blobs = np.zeros((height, width, 3), np.float32)
    weight = np.zeros((height, width), np.float32)
    for _ in range(int(rng.integers(2, 7))):
        centre = (int(rng.uniform(0, width)), int(rng.uniform(0, height)))
        axes = (int(rng.uniform(0.05, 0.25) * width), int(rng.uniform(0.05, 0.3) * height))
        colour = rng.uniform(0, 255, size=3)
        layer = np.zeros((height, width), np.float32)
        cv2.ellipse(layer, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        blobs += layer[..., None] * colour
        weight += layer
    blur = max(3.0, 0.03 * width)
    blobs = cv2.GaussianBlur(blobs, (0, 0), blur)
    weight = cv2.GaussianBlur(weight, (0, 0), blur)[..., None]
    share = np.clip(weight, 0, 1) * rng.uniform(0.4, 0.9)
    image = image * (1 - share) + blobs / np.maximum(weight, 1e-3) * share
    return np.clip(image, 0, 255).astype(np.float32)


def _recolour(rgb, tone, hue, saturation):
    """Skin tone (per-channel gain), hue rotation (degrees) and saturation scale of an RGB photo."""
    image = np.clip(rgb.astype(np.float32) / 255.0 * tone, 0, 1)
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = np.mod(hsv[..., 0] + hue, 360.0)
    hsv[..., 1] = np.clip(hsv[..., 1] * saturation, 0, 1)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0


class ClipRenderer:
    """Renders the frames of one clip.

    Identity draws (mirroring, skin tone, hue, saturation, aspect, face size) come from
    `identity_rng`, shared by a speaker's clips; scene draws (placement, in-plane angle, slow
    drift of position, angle and scale, background, lighting gain, gradient and tint) from
    `scene_rng`. Frame k's pose maps photo pixels to frame pixels:
    ``T(centre + drift_xy(t)) R(angle + drift_angle(t)) S(scale (1 + drift_scale(t)) (aspect, 1))
    T(-face_centre)`` with t = k / fps, each drift a sum of two slow sinusoids.
    """

    def __init__(self, base, identity_rng, scene_rng, frame_size, fps):
        self.height, self.width = frame_size
        self.fps = float(fps)
        self.mirrored = bool(identity_rng.random() < 0.5)
        light, dark = np.array([1.06, 1.0, 0.96]), np.array([0.48, 0.36, 0.3])
        self.tone = (light + (dark - light) * identity_rng.uniform(0, 1) ** 1.5).astype(np.float32)
        hue, saturation = identity_rng.uniform(-8, 8), identity_rng.uniform(0.8, 1.2)
        aspect = identity_rng.uniform(0.92, 1.08)
        face_share = identity_rng.uniform(0.27, 0.36)

        photo = base.mirrored() if self.mirrored else base
        self.mouth = MouthModel(photo.mesh)
        self.mesh_local = self.mouth.to_local(photo.mesh)
        matte = photo.matte[..., None]
        colour = _recolour(photo.rgb, self.tone, hue, saturation)
        self._source = np.concatenate([colour * matte, matte * 255.0], axis=2)
        self._source = np.clip(self._source + 0.5, 0, 255).astype(np.uint8)  # premultiplied RGBA
        self._canvas = self._source.copy()
        self._roi, self._roi_ab = self._mouth_region()

        rng = scene_rng
        lo, hi = photo.mesh.min(axis=0), photo.mesh.max(axis=0)
        self._face_centre = (lo + hi) / 2
        face_height = float(np.linalg.norm(photo.mesh[FOREHEAD] - photo.mesh[CHIN]))
        self._scale = face_share * rng.uniform(0.95, 1.05) * self.height / face_height
        self._aspect = aspect
        self._centre = np.array([rng.uniform(0.4, 0.6) * self.width, rng.uniform(0.38, 0.46) * self.height])
        self._angle = rng.uniform(-8, 8)
        face_px = face_share * self.height
        # drift channels: x, y (pixels), angle (degrees), relative scale
        self._drift_amp = np.array([0.06 * face_px, 0.04 * face_px, 2.5, 0.02])[:, None] * rng.uniform(
            0.3, 1.0, size=(4, 2))
        self._drift_freq = rng.uniform(0.08, 0.5, size=(4, 2))
        self._drift_phase = rng.uniform(0, 2 * np.pi, size=(4, 2))
        self._background = _background(rng, self.height, self.width)
        gain, strength, direction = rng.uniform(0.75, 1.15), rng.uniform(0, 0.3), rng.uniform(0, 2 * np.pi)
        tint = rng.uniform(0.94, 1.06, size=3)
        y, x = np.mgrid[0:self.height, 0:self.width].astype(np.float32)
        ramp = ((x - self.width / 2) * np.cos(direction) + (y - self.height / 2) * np.sin(direction))
        ramp /= 0.5 * np.hypot(self.width, self.height)
        self._light = ((gain * (1 + strength * ramp))[..., None] * tint).astype(np.float32)

    def _mouth_region(self):
        """Axis-aligned photo box holding everything the mouth warp moves, and its (a, b) grid."""
        m = self.mouth
        hw = m.half_width
        corners = [(a, b) for a in (-3 * hw, 3 * hw) for b in (m.top - 0.8 * hw, m.chin + 1.0 * hw)]
        xy = m.to_photo(np.array(corners))
        height, width = self._source.shape[:2]
        x0, y0 = np.maximum(np.floor(xy.min(axis=0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(xy.max(axis=0)).astype(int) + 1, (width, height))
        y, x = np.mgrid[y0:y1, x0:x1]
        ab = m.to_local(np.stack([x, y], axis=-1).astype(np.float64))
        return (x0, y0, x1, y1), ab

    def pose(self, k):
        """2x3 affine matrix from photo pixels to frame k's pixels."""
        t = k / self.fps
        drift = (self._drift_amp * np.sin(2 * np.pi * self._drift_freq * t + self._drift_phase)).sum(axis=1)
        scale = self._scale * (1 + drift[3])
        matrix = cv2.getRotationMatrix2D((0.0, 0.0), float(self._angle + drift[2]), 1.0)
        matrix[:, :2] = matrix[:, :2] @ np.diag([scale * self._aspect, scale])
        matrix[:, 2] = self._centre + drift[:2] - matrix[:, :2] @ self._face_centre
        return matrix

    def render(self, k, opening, width, roundness):
        """Frame k with the given mouth.

        Returns:
            (uint8 (H, W, 3) RGB frame, float32 (20, 2) outer lips, float32 (12, 2) inner lips,
            float32 (4,) face box x0, y0, x1, y1, all in frame pixels; float32 (2, 3) pose).
        """
        m = self.mouth
        shape = m.shape(opening, width, roundness)
        a, b = self._roi_ab[..., 0], self._roi_ab[..., 1]
        a_src, b_src, inside = m.backward(a, b, shape)
        src = m.to_photo(np.stack([a_src, b_src], axis=-1)).astype(np.float32)
        x0, y0, x1, y1 = self._roi
        patch = cv2.remap(self._source, src[..., 0], src[..., 1], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        colour = m.interior(a, b, shape, self.tone) * (patch[..., 3:] / 255.0)
        patch[..., :3] += (colour - patch[..., :3]) * inside[..., None]
        self._canvas[y0:y1, x0:x1] = np.clip(patch + 0.5, 0, 255).astype(np.uint8)

        matrix = self.pose(k)
        layer = cv2.warpAffine(self._canvas, matrix, (self.width, self.height), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
        layer = layer.astype(np.float32)
        alpha = layer[..., 3:] * (1 / 255.0)
        frame = (self._background * (1 - alpha) + layer[..., :3]) * self._light
        frame = np.clip(frame + 0.5, 0, 255).astype(np.uint8)

        outer, inner = m.contours(shape)
        mesh = m.forward(self.mesh_local, shape)
        to_frame = lambda ab: (m.to_photo(ab) @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
        mesh = to_frame(mesh)
        box = np.concatenate([mesh.min(axis=0), mesh.max(axis=0)]).astype(np.float32)
        return frame, to_frame(outer), to_frame(inner), box, matrix.astype(np.float32)
