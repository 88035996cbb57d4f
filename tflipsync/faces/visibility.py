"""Whether a face's mouth can be redrawn: turned away (profile) or covered (a hand, a microphone).

The face mesh (tflipsync/faces/mesh.py) gives both signs, on one mesh run per face:

- yaw: the angle of the line between the two cheek contour points (mesh 234 and 454) out of the
  image plane, from the mesh's own depth: 0 for a frontal face, +-90 for a profile. Past
  `PROFILE_YAW` the generator, trained on faces within about 45 degrees of frontal, cannot draw
  the far half of the mouth.
- the lips' colour against the face's own skin (CIE Lab, lip ring minus the cheeks beside the
  nose): lips are darker and redder than cheek skin. On a mouth behind a hand the mesh still
  places its lip points, but the pixels there are skin, as light and as red as the cheeks; behind
  a microphone their lightness and chroma are far from the lips'. A frame is covered where its
  lips cannot be told from the skin (an absolute floor, and a share of the shot's usual
  contrast), or where their chroma against the skin is far from the shot's usual one (lightness
  is left out of that comparison: an open mouth darkens the ring).

A face for which nothing can be told (too few lip pixels) is never flagged. Known limit: a thin
object over the middle third of the mouth only changes the lips' chroma little and may be missed;
the shot's majority sets what its lips look like, so a mouth covered for most of a shot by a dark
object is judged against the covered frames.
"""

import dataclasses

import numpy as np

from tflipsync.faces import mesh as face_mesh

PROFILE_YAW = 50.0  # degrees out of the image plane beyond which the mouth passes through
MIN_CONTRAST = 3.0  # Lab distance between lips and cheeks below this: the "lips" are skin
RELATIVE_CONTRAST = 0.25  # ... or below this share of the shot's usual lips-to-skin distance
MAX_CHROMA_CHANGE = 8.0  # a*b* distance of lips-minus-skin from the shot's usual value
CHEEKS = (50, 280, 101, 330, 205, 425)  # mesh points on the cheeks beside the nose
FOREHEAD, CHIN = 10, 152
HIDDEN = ("occluded", "profile")  # the reasons a mouth passes through, as the summary counts them


@dataclasses.dataclass
class MouthView:
    """What one mesh run says about one face's mouth.

    yaw: degrees (see `yaw_degrees`); lips_over_skin: (3,) float Lab of the lips minus Lab of
    the cheeks, or None where the lips cover too few pixels to tell.
    """
    yaw: float
    lips_over_skin: np.ndarray = None


def yaw_degrees(points):
    """Head yaw from mesh points (468, 3) in frame pixels (z in the same scale): 0 frontal,
    positive when the image-right cheek is further from the camera."""
    points = np.asarray(points, np.float64)
    across = points[454] - points[234]
    # in-plane roll does not change the depth component; the in-plane length is the eye-line extent
    return float(np.degrees(np.arctan2(across[2], np.hypot(across[0], across[1]))))


def lips_over_skin(rgb, points):
    """(3,) float Lab of the lip ring's pixels minus Lab of the cheeks' (medians), or None.

    Args:
      rgb: (H, W, 3) uint8 frame.
      points: (468, 3) mesh points in the frame's pixels.
    """
    import cv2

    points = np.asarray(points, np.float64)
    height, width = rgb.shape[:2]
    face = float(np.linalg.norm(points[FOREHEAD, :2] - points[CHIN, :2]))
    radius = max(1, int(round(0.03 * face)))
    outer, inner = points[list(face_mesh.OUTER_LIPS), :2], points[list(face_mesh.INNER_LIPS), :2]
    near = np.concatenate([outer, points[list(CHEEKS), :2]])
    x0, y0 = np.maximum(np.floor(near.min(axis=0)).astype(int) - radius, 0)
    x1, y1 = np.minimum(np.ceil(near.max(axis=0)).astype(int) + radius + 1, (width, height))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    region = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]).astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    offset = np.array([x0, y0])
    ring = np.zeros(region.shape[:2], np.uint8)
    cv2.fillPoly(ring, [np.round(outer - offset).astype(np.int32)], 1)
    lips_only = ring.copy()
    cv2.fillPoly(lips_only, [np.round(inner - offset).astype(np.int32)], 0)
    if lips_only.sum() >= 6:  # a small face's lips may be thinner than a pixel: then the whole mouth
        ring = lips_only
    if ring.sum() < 6:
        return None
    cheeks = np.zeros_like(ring)
    for x, y in np.round(points[list(CHEEKS), :2] - offset).astype(int):
        cv2.circle(cheeks, (int(x), int(y)), radius, 1, thickness=-1)
    if not cheeks.any():
        return None
    return np.median(region[ring.astype(bool)], axis=0) - np.median(region[cheeks.astype(bool)], axis=0)


class MouthCheck:
    """Runs the face mesh on a detected face and measures its `MouthView` (a `measure` for
    tflipsync.faces.track.main_face; never None, so it never hides a face)."""

    def __init__(self, mesh=None):
        self._mesh = mesh

    def measure(self, frame, detection):
        if self._mesh is None:
            self._mesh = face_mesh.FaceMesh()
        points, _ = self._mesh.landmarks(frame, detection)
        return view(frame, points)


def view(rgb, points):
    """The `MouthView` of a face with mesh `points` (468, 3) in frame `rgb`."""
    return MouthView(yaw_degrees(points), lips_over_skin(rgb, points))


def hidden_mouths(views, shots):
    """Why each frame's mouth must pass through: "profile", "occluded" or "" (redraw it).

    Args:
      views: per frame a MouthView, or None (no face measured: "").
      shots: int (N,) shot number per frame; the shot's frames set what the face's own lips look like.

    Returns:
      object array (N,) of strings.
    """
    shots = np.asarray(shots)
    out = np.full(len(views), "", dtype=object)
    for shot in np.unique(shots):
        members = [i for i in np.flatnonzero(shots == shot) if views[i] is not None]
        told = [i for i in members if views[i].lips_over_skin is not None]
        if told:
            colours = np.stack([views[i].lips_over_skin for i in told]).astype(np.float64)  # (n, 3) L, a, b
            contrast = np.linalg.norm(colours, axis=1)
            covered = contrast < MIN_CONTRAST
            if not covered.all():
                # the face's own lips: the shot's frames that pass the floor (most of them, as a rule)
                usual = np.median(colours[~covered], axis=0)
                covered |= contrast < RELATIVE_CONTRAST * np.linalg.norm(usual)
                covered |= np.linalg.norm(colours[:, 1:] - usual[1:], axis=1) > MAX_CHROMA_CHANGE
            for i in np.asarray(told)[covered]:
                out[i] = "occluded"
        for i in members:
            if abs(views[i].yaw) > PROFILE_YAW:
                out[i] = "profile"
    return out


def with_mouth_check(measure, check):
    """A measure(frame, detection) for main_face that also runs `check` (a MouthCheck).

    Returns records (measure's record, MouthView), None where `measure` (if any) gives None; the
    two halves are split again by `split_records`.
    """
    def both(frame, detection):
        record = measure(frame, detection) if measure is not None else None
        if measure is not None and record is None:
            return None
        return record, check.measure(frame, detection)
    return both


def split_records(records):
    """(the measure's records, the MouthViews) from `with_mouth_check`'s per-frame records."""
    records = records or []
    return ([None if r is None else r[0] for r in records], [None if r is None else r[1] for r in records])
