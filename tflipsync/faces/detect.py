"""Face detection: MediaPipe Tasks' `FaceDetector` with the short-range BlazeFace model.

The model file comes from `tflipsync.faces.assets` (fetched at set-up, never mid-job).
"""

import dataclasses

import numpy as np

from tflipsync.faces import assets


@dataclasses.dataclass
class Detection:
    """One detected face, in the pixels of the frame it came from.

    box: (x0, y0, x1, y1) float; score: detector confidence; keypoints: (6, 2) float, in
    MediaPipe's order: right eye, left eye, nose tip, mouth centre, right ear, left ear (the
    person's right and left).
    """
    box: np.ndarray
    score: float
    keypoints: np.ndarray

    @property
    def area(self):
        return float(max(self.box[2] - self.box[0], 0) * max(self.box[3] - self.box[1], 0))


class FaceDetector:
    """BlazeFace short-range detector; use as a context manager (or call close())."""

    def __init__(self, min_score=0.5, model_path=None):
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.FaceDetectorOptions(
            base_options=BaseOptions(
                model_asset_path=model_path or assets.model_path("face_detection_short_range.tflite")),
            running_mode=vision.RunningMode.IMAGE, min_detection_confidence=min_score)
        self._detector = vision.FaceDetector.create_from_options(options)

    def detect(self, rgb):
        """Faces in an RGB uint8 (H, W, 3) frame, best score first."""
        import mediapipe as mp

        height, width = rgb.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        found = []
        for d in self._detector.detect(image).detections:
            b = d.bounding_box
            box = np.array([b.origin_x, b.origin_y, b.origin_x + b.width, b.origin_y + b.height],
                           dtype=np.float32)
            points = np.array([[k.x * width, k.y * height] for k in d.keypoints], dtype=np.float32)
            found.append(Detection(box, float(d.categories[0].score), points.reshape(-1, 2)))
        return sorted(found, key=lambda d: -d.score)

    def close(self):
        if self._detector is not None:
            self._detector.close()
            self._detector = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
