"""The normalised mouth: the landmark LSTM's targets, their PCA basis, and the step/frame maps.

Mouth points. `MOUTH` lists K = 40 MediaPipe face-mesh indices: the outer lip ring (20 points),
then the inner ring (20 points) of `tflipsync.faces.mesh`, each starting at the image-left corner (61, 78) and running
along the lower lip to the image-right corner (291, 308), then back along the upper lip. Index 0
and 10 of `MOUTH` are the outer corners, whose distance is the mouth width.

Normalised frame. A 2-D similarity (rotation, uniform scale, translation) per frame, from the
eye corners only, which the mouth and jaw do not move: the origin is the midpoint of the two eye
centres (each the mean of its two corners: 33 and 133, 362 and 263), the x axis points from the
person's right eye centre to the left one (image left to right on an upright face), y is x
turned 90 degrees clockwise on screen (down on an upright face), and the unit is the distance
between the eye centres. So the normalised mouth does not change when the head turns in the
image plane, moves or changes size; out-of-plane turns (yaw, pitch) are not removed.

Rest and motion. What audio tells is how the mouth moves, not the speaker's own mouth shape or
how the face is posed, so the network predicts motion: the normalised mouth minus the speaker's
mouth at rest, estimated per clip as the mean mouth of its quietest 10 % of steps (lowest mean
mel; silence closes the mouth). Predictions are returned as `mean_shape` (the canonical rest
mouth: the mean of the training clips' rest mouths) plus the predicted motion, so
`predicted - mean_shape` is the motion to add to another face's own mouth.

Audio steps. The LSTM reads one normalised mel column per step (`tflipsync.audio`: 80 columns
per second, each a 50 ms window centred on its time), so a step is 12.5 ms whatever the video's
frame rate, and step m estimates the mouth at time m / 80 s. Landmark targets are interpolated
from video frames to step times; predictions are interpolated back to frame times. A delay of
d steps is d x 12.5 ms (16 steps = 200 ms, the Obama work's 20 steps of 10 ms).
"""


import numpy as np

from tflipsync.audio import mel as audio_mel
from tflipsync.conventions import MEL_FPS
from tflipsync.faces import mesh as face_mesh

MOUTH = face_mesh.OUTER_LIPS + face_mesh.INNER_LIPS
CORNERS = (0, 10)  # outer corners' positions in MOUTH (mesh points 61 and 291)
RIGHT_EYE = (33, 133)  # the person's right eye: outer and inner corner (image left)
LEFT_EYE = (362, 263)
STEP_RATE = float(MEL_FPS)  # LSTM steps per second
SILENCE = -float(audio_mel.MAX_ABS_VALUE)  # the normalised mel of silence (every bin)
REST_SHARE = 0.1  # the quietest share of a clip's steps whose mean mouth is its rest


def normalise(mesh):
    """Mouth points in the normalised frame (module docstring) and the map back to pixels.

    Args:
      mesh: float (..., 468, 2 or 3) face-mesh points in pixels (z is ignored), e.g. (N, 468, 3)
        from preprocessing or one (468, 3) from `FaceMesh.landmarks`; NaN rows (no face) give NaN.

    Returns:
      (points float32 (..., K, 2) normalised mouth points, transform float32 (..., 2, 3) the
      affine map from normalised to pixel coordinates, for `denormalise`).
    """
    mesh = np.asarray(mesh, dtype=np.float64)[..., :2]
    right = mesh[..., RIGHT_EYE, :].mean(axis=-2)
    left = mesh[..., LEFT_EYE, :].mean(axis=-2)
    origin = (right + left) / 2
    axis = left - right  # (..., 2): scale * (cos, sin)
    scale2 = np.sum(axis * axis, axis=-1)[..., None]
    # pixel = origin + [[a, -b], [b, a]] @ p with (a, b) = axis, so p = [[a, b], [-b, a]] @ d / s^2
    d = mesh[..., MOUTH, :] - origin[..., None, :]  # (..., K, 2)
    a, b = axis[..., None, 0], axis[..., None, 1]
    points = np.stack([a * d[..., 0] + b * d[..., 1], -b * d[..., 0] + a * d[..., 1]], -1)
    points = points / scale2[..., None]
    transform = np.stack([np.stack([axis[..., 0], -axis[..., 1], origin[..., 0]], -1),
                          np.stack([axis[..., 1], axis[..., 0], origin[..., 1]], -1)], -2)
    return points.astype(np.float32), transform.astype(np.float32)


def denormalise(points, transform):
    """Normalised points back to pixels: points (..., K, 2), transform (..., 2, 3) from
    `normalise` (broadcast over the leading axes) -> float32 (..., K, 2) pixels."""
    points = np.asarray(points, dtype=np.float64)
    transform = np.asarray(transform, dtype=np.float64)
    pixels = np.einsum("...ij,...kj->...ki", transform[..., :2], points)
    return (pixels + transform[..., None, :, 2]).astype(np.float32)


def mouth_width(points):
    """Distance between the outer corners, (..., K, 2) -> (...)."""
    points = np.asarray(points)
    return np.linalg.norm(points[..., CORNERS[1], :] - points[..., CORNERS[0], :], axis=-1)


def landmark_error(predicted, truth):
    """Mean point distance over the mouth width of the truth, per frame: (..., K, 2) -> (...)."""
    distance = np.linalg.norm(np.asarray(predicted) - np.asarray(truth), axis=-1).mean(axis=-1)
    return distance / mouth_width(truth)


class PCABasis:
    """PCA of flattened mouth points: mean (K, 2), components (P, K * 2) with orthonormal rows,
    variance (P,) of each coefficient on the data it was fitted on, and total_variance."""

    def __init__(self, mean, components, variance, total_variance):
        self.mean = np.asarray(mean, np.float32)
        self.components = np.asarray(components, np.float32)
        self.variance = np.asarray(variance, np.float32)
        self.total_variance = float(total_variance)

    @classmethod
    def fit(cls, points, dims):
        """Fits the basis to mouth shapes (N, K, 2) (rows with NaN are left out)."""
        flat = np.asarray(points, np.float64).reshape(len(points), -1)
        flat = flat[np.all(np.isfinite(flat), axis=1)]
        if len(flat) <= dims:
            raise ValueError(f"{len(flat)} finite mouth shapes cannot fit {dims} components")
        mean = flat.mean(axis=0)
        _, singular, vt = np.linalg.svd(flat - mean, full_matrices=False)
        variance = singular ** 2 / (len(flat) - 1)
        return cls(mean.reshape(-1, 2), vt[:dims], variance[:dims], variance.sum())

    @property
    def explained(self):
        """Share of the fitted data's variance the components keep."""
        return float(self.variance.sum() / self.total_variance)

    def project(self, points):
        """(..., K, 2) -> (..., P) coefficients."""
        flat = np.reshape(points, (*np.shape(points)[:-2], -1)) - self.mean.reshape(-1)
        return (flat @ self.components.T).astype(np.float32)

    def reconstruct(self, coefficients):
        """(..., P) -> (..., K, 2) points."""
        flat = np.asarray(coefficients) @ self.components + self.mean.reshape(-1)
        return flat.reshape(*np.shape(coefficients)[:-1], *self.mean.shape).astype(np.float32)

    def save(self, path):
        """Writes the basis as plain arrays (.npz, no pickle)."""
        np.savez(path, mean=self.mean, components=self.components, variance=self.variance,
                 total_variance=np.float64(self.total_variance))

    @classmethod
    def load(cls, path):
        with np.load(path, allow_pickle=False) as f:
            return cls(f["mean"], f["components"], f["variance"], float(f["total_variance"]))


def mel_steps(wav):
    """The LSTM's inputs of 16 kHz audio: float32 (M, 80), M = 1 + len(wav) // 200."""
    return np.ascontiguousarray(audio_mel.melspectrogram(wav).T)


def rest_mouth(points, weight, loudness, share=REST_SHARE):
    """A clip's mouth at rest: the mean of the valid steps among its quietest `share`.

    Args:
      points: (M, K, 2) normalised mouths per step (or any (M, ...) per-step values, e.g. the
        articulation model's (M, 2) gap and width); weight: (M,) > 0 where valid; loudness: (M,),
        e.g. the mean of each mel column (ties keep their time order).
      share: fraction of the valid steps averaged (at least one).

    Returns:
      float32 (K, 2) (the shape of one step of `points`); zeros when no step is valid.
    """
    valid = np.asarray(weight) > 0
    keep = max(1, int(np.ceil(share * valid.sum())))
    order = np.argsort(np.where(valid, loudness, np.inf), kind="stable")[:keep]
    chosen = np.asarray(weight, np.float64)[order]
    values = np.asarray(points, np.float64)[order]
    total = (chosen.reshape(-1, *[1] * (values.ndim - 1)) * values).sum(axis=0)
    return (total / max(chosen.sum(), 1.0)).astype(np.float32)


def frames_to_steps(points, times, valid, steps):
    """Per-frame points interpolated linearly to step times m / STEP_RATE.

    Args:
      points: (N, K, 2) per video frame; times: (N,) increasing seconds; valid: bool (N,).
      steps: M, the number of steps.

    Returns:
      (float32 (M, K, 2), bool (M,)): a step is valid when it lies between two valid frames
      (or on one); others hold zeros.
    """
    times = np.asarray(times, np.float64)
    t = np.arange(steps) / STEP_RATE
    upper = np.clip(np.searchsorted(times, t, side="left"), 0, len(times) - 1)
    lower = np.clip(upper - 1, 0, len(times) - 1)
    exact = np.isclose(times[upper], t, rtol=0, atol=1e-9)
    lower = np.where(exact, upper, lower)
    span = times[upper] - times[lower]
    w = np.where(span > 0, (t - times[lower]) / np.where(span > 0, span, 1), 0.0)
    inside = (t >= times[0] - 1e-9) & (t <= times[-1] + 1e-9)
    ok = inside & np.asarray(valid)[lower] & np.asarray(valid)[upper]
    clean = np.where(np.asarray(valid)[:, None, None], points, 0.0)
    out = clean[lower] * (1 - w)[:, None, None] + clean[upper] * w[:, None, None]
    return np.where(ok[:, None, None], out, 0.0).astype(np.float32), ok


def steps_to_frames(step_points, fps, count):
    """Step-rate points (M, K, 2) interpolated at video frame times i / fps, i < count; frames
    past the last step hold its value. Returns float32 (count, K, 2)."""
    t = np.arange(count) / float(fps) * STEP_RATE  # fractional step index
    position = np.clip(t, 0, len(step_points) - 1)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, len(step_points) - 1)
    w = (position - lower)[:, None, None]
    return (step_points[lower] * (1 - w) + step_points[upper] * w).astype(np.float32)
