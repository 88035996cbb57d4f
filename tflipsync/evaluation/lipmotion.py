"""Lip motion on real speech: does `tflipsync sync` move the mouth the way the real speaker did?

The protocol (issue 16; run by `evaluate.py --protocol=lipmotion` and benchmarks/real_lipsync.py,
over the real corpus's clips, see lipmotion_protocol.py) lip-syncs each clip's first frame or its
frames in reverse to the clip's own speech and compares output frame i with real frame i:

- Photo mode: the clip's first frame (a PNG) lip-synced to the clip's audio, at the clip's fps.
- Video mode: the clip's frames in reverse order, written without sound as an mp4 at the clip's
  fps, lip-synced to the clip's audio, so the source's own mouth motion is unrelated to the speech.

Measurement of a video (the real clip or an output, `measure_video`): the project's detector and
tracker choose the face of each frame (`faces.track.main_face` with `faces.detect.FaceDetector`:
`chosen[i]` is frame i's detection or None), and the face mesh (`faces.mesh.FaceMesh`) runs on
it; the mesh finds the face where its presence is >= MIN_PRESENCE. Where it does not (or no face
is chosen), the frame's figures are NaN.

Figures:

- Mouth opening: `faces.mesh.lip_gap`, the inner-lip gap (points 13-14) over the outer eye
  corners' distance (33-263).
- r: Pearson correlation between the output's and the real clip's opening over the frames where
  both are finite, the best (max) over integer lags -MAX_LAG..+MAX_LAG frames (`best_lag_r`; lag
  k pairs output frame i + k with real frame i, so k > 0 is an output that lags the speech).
- Landmark distance: the 40 mouth points (`landmarks.mouth.MOUTH`, via `mouth.normalise`) of the
  output aligned onto the real frame's by a similarity (Procrustes: translation, rotation,
  uniform scale, no reflection), mean point distance over the real mouth width
  (`mouth.mouth_width`), averaged over the frames where both have a mouth (`landmark_distance`).
- Mesh found: output frames where the mesh finds the face over all output frames.
- Lower-face sharpness: variance of the Laplacian (cv2.Laplacian on grey) of the lower half of
  the input frame's padded, smoothed face box (`faces.crop.pad_box` of the tracker's box: the
  region the crop engines redraw), in the output frame over the same region in the input frame
  (photo: the photo, i.e. real frame 0; video: the source frame the output frame was made from);
  the median of the per-frame ratios (`sharpness_ratio`).
- Loudness r and ridge r: audio-only baselines with the same r (tflipsync/evaluation/anchor.py).
- LSE-D / LSE-C (with an expert): tflipsync/evaluation/sync.py on 96x96 BGR crops of the padded
  boxes, for the real clip ("truth") and each output.

Real clips are measured once and cached (`measure_clip`): one .npz per clip in the cache folder,
keyed by the clip file's name, size and modification time.
"""

import os

import numpy as np

MAX_LAG = 2
MIN_PRESENCE = 0.5
MIN_FRAMES = 5  # fewest frames a correlation is computed on
CACHE_VERSION = 1
MEASURED = ("opening", "points", "presence", "boxes", "present", "sharpness")


def pearson(a, b):
    """Pearson correlation of two equal-length arrays over the entries finite in both (NaN when
    fewer than MIN_FRAMES or either is constant there)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < MIN_FRAMES:
        return float("nan")
    a, b = a[keep] - a[keep].mean(), b[keep] - b[keep].mean()
    norm = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / norm) if norm > 1e-12 else float("nan")


def best_lag_r(output, real, max_lag=MAX_LAG):
    """The best correlation over lags: (r, lag); (NaN, None) where no lag gives one.

    Args:
      output, real: per-frame values (N,) and (M,) (NaN where unmeasured); frame i of one is
        frame i of the other.
      max_lag: lags -max_lag..max_lag are tried; lag k pairs output[i + k] with real[i].
    """
    output, real = np.asarray(output, np.float64), np.asarray(real, np.float64)
    best, best_lag = float("nan"), None
    for lag in range(-max_lag, max_lag + 1):
        first = max(0, -lag)  # real frames i with 0 <= i + lag < len(output)
        stop = min(len(real), len(output) - lag)
        if stop - first < MIN_FRAMES:
            continue
        r = pearson(output[first + lag:stop + lag], real[first:stop])
        if np.isfinite(r) and not r <= best:
            best, best_lag = r, lag
    return best, best_lag


def procrustes_align(points, target):
    """`points` moved onto `target` by the best similarity (translation, rotation, uniform scale,
    no reflection) in the least-squares sense, per frame: (..., K, 2) -> (..., K, 2)."""
    p = np.asarray(points, np.float64)
    q = np.asarray(target, np.float64)
    p_mean, q_mean = p.mean(axis=-2, keepdims=True), q.mean(axis=-2, keepdims=True)
    pc, qc = p - p_mean, q - q_mean
    u, s, vt = np.linalg.svd(np.swapaxes(pc, -1, -2) @ qc)  # (..., 2, 2) cross-covariance
    sign = np.sign(np.linalg.det(u @ vt))  # -1 where the best orthogonal map is a reflection
    sign = np.where(sign == 0, 1.0, sign)
    u[..., :, -1] *= sign[..., None]
    rotation = u @ vt  # (..., 2, 2), applied as pc @ rotation
    trace = s[..., 0] + sign * s[..., 1]
    scale = trace / np.maximum((pc * pc).sum(axis=(-1, -2)), 1e-24)
    return scale[..., None, None] * (pc @ rotation) + q_mean


def procrustes_distance(points, target):
    """Per frame: mean point distance after `procrustes_align` over the target's mouth width,
    (..., K, 2) -> (...); NaN where either has NaN."""
    from tflipsync.landmarks import mouth

    points, target = np.asarray(points, np.float64), np.asarray(target, np.float64)
    finite = np.isfinite(points).all(axis=(-1, -2)) & np.isfinite(target).all(axis=(-1, -2))
    distance = np.full(finite.shape, np.nan)
    aligned = procrustes_align(points[finite], target[finite])  # (F, K, 2): SVD refuses NaN
    distance[finite] = np.linalg.norm(aligned - target[finite], axis=-1).mean(axis=-1)
    return distance / mouth.mouth_width(target)


def landmark_distance(points, target):
    """Mean over frames with both mouths of `procrustes_distance`; NaN where there is none."""
    count = min(len(points), len(target))
    distance = procrustes_distance(np.asarray(points)[:count], np.asarray(target)[:count])
    distance = distance[np.isfinite(distance)]
    return float(distance.mean()) if distance.size else float("nan")


def mesh_found_share(presence):
    """Share of frames whose presence is >= MIN_PRESENCE (NaN counts as not found)."""
    presence = np.nan_to_num(np.asarray(presence, np.float64), nan=0.0)
    return float(np.mean(presence >= MIN_PRESENCE)) if presence.size else float("nan")


def lower_half(box):
    """The lower half (x0, y_mid, x1, y1) of an integer box (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = [int(v) for v in box]
    return x0, max(y0, (y0 + y1) // 2), x1, y1


def laplacian_variance(rgb, region):
    """Variance of cv2.Laplacian of the grey image in an (x0, y0, x1, y1) region of an RGB uint8
    frame; NaN for a region under 3 pixels high or wide."""
    import cv2

    x0, y0, x1, y1 = [int(v) for v in region]
    part = np.ascontiguousarray(rgb[max(y0, 0):y1, max(x0, 0):x1])
    if part.shape[0] < 3 or part.shape[1] < 3:
        return float("nan")
    return float(cv2.Laplacian(cv2.cvtColor(part, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def sharpness_ratio(output, source):
    """Median over frames of output / source Laplacian variance (frames with both finite and a
    source above zero); NaN where there is none."""
    count = min(len(output), len(source))
    output, source = np.asarray(output, np.float64)[:count], np.asarray(source, np.float64)[:count]
    keep = np.isfinite(output) & np.isfinite(source) & (source > 0)
    return float(np.median(output[keep] / source[keep])) if keep.any() else float("nan")


class Measurer:
    """The face detector and mesh, made once; use as a context manager."""

    def __init__(self):
        from tflipsync.faces import detect, mesh

        self.detector = detect.FaceDetector()
        self.mesh = mesh.FaceMesh()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.detector.close()


def measure_video(path, measurer, regions=None, crops=False):
    """Measures every frame of a video: the tracker's face, its mesh and mouth, and sharpness.

    Args:
      path: the video.
      measurer: a Measurer.
      regions: optional int (N', 4) boxes where frame i's sharpness is measured (NaN rows and
        frames past N' give NaN); default: the lower half of each frame's own padded box.
      crops: also return the 96x96 BGR crops of the padded boxes (for the expert).

    Returns:
      dict: "opening" (N,), "points" (N, 40, 2) normalised mouths, "presence" (N,) (0 where no
      face is chosen), "boxes" (N, 4) padded smoothed boxes, "present" bool (N,) a face chosen,
      "sharpness" (N,), "fps", "size" (H, W); with crops, "crops" uint8 (N, 96, 96, 3) BGR.
    """
    from tflipsync.faces import crop, mesh as face_mesh, track
    from tflipsync.landmarks import mouth
    from tflipsync.media import video

    info = video.probe(path)
    face = track.main_face((rgb for rgb, _ in video.iter_frames(path)), measurer.detector)
    n = len(face.present)
    out = {"opening": np.full(n, np.nan), "points": np.full((n, len(mouth.MOUTH), 2), np.nan, np.float32),
           "presence": np.zeros(n), "boxes": np.zeros((n, 4), np.float32), "present": face.present,
           "sharpness": np.full(n, np.nan), "fps": info.fps, "size": np.array([info.height, info.width])}
    cut = np.zeros((n, 96, 96, 3), np.uint8) if crops else None
    for i, (rgb, _) in enumerate(video.iter_frames(path)):
        if i >= n:
            break
        box = crop.pad_box(face.boxes[i], rgb.shape[:2])
        out["boxes"][i] = box
        if crops:
            cut[i] = crop.face_crop(rgb, box)[..., ::-1]  # RGB -> BGR, as the networks take it
        if regions is None:
            if face.present[i]:
                out["sharpness"][i] = laplacian_variance(rgb, lower_half(box))
        elif i < len(regions) and np.all(np.isfinite(regions[i])):
            out["sharpness"][i] = laplacian_variance(rgb, regions[i])
        if face.chosen[i] is None:
            continue
        points, presence = measurer.mesh.landmarks(rgb, face.chosen[i])
        out["presence"][i] = presence
        if presence >= MIN_PRESENCE:
            out["opening"][i] = face_mesh.lip_gap(points)
            out["points"][i] = mouth.normalise(points)[0]
    if crops:
        out["crops"] = cut
    return out


def cache_path(clip, cache_dir):
    """The cache file of a clip: its name, size in bytes and modification time (ns) in the name."""
    stat = os.stat(clip)
    stem = os.path.splitext(os.path.basename(clip))[0]
    return os.path.join(cache_dir, f"{stem}.{stat.st_size}.{stat.st_mtime_ns}.npz")


def save_measurement(path, measured):
    """Writes a measure_video dict (without crops) as plain arrays, atomically."""
    from tflipsync import files

    with files.atomic_path(path) as temporary:
        np.savez(temporary, version=np.int64(CACHE_VERSION), fps=np.float64(measured["fps"]),
                 size=np.asarray(measured["size"]), **{k: np.asarray(measured[k]) for k in MEASURED})


def load_measurement(path):
    """A measurement written by save_measurement, or None where missing or of another version."""
    if not os.path.isfile(path):
        return None
    with np.load(path, allow_pickle=False) as f:
        if "version" not in f or int(f["version"]) != CACHE_VERSION:
            return None
        out = {k: f[k] for k in MEASURED}
        out["fps"], out["size"] = float(f["fps"]), f["size"]
    return out


def measure_clip(clip, measurer, cache_dir):
    """A real clip's measurement (measure_video), from the cache where it is there.

    `measurer` may be a callable returning a Measurer, so that nothing is loaded when every clip
    is cached."""
    path = cache_path(clip, cache_dir)
    cached = load_measurement(path)
    if cached is not None:
        return cached
    measured = measure_video(clip, measurer() if callable(measurer) else measurer)
    os.makedirs(cache_dir, exist_ok=True)
    save_measurement(path, measured)
    return measured
