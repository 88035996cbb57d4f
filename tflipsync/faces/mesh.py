"""The 468-point face mesh, and THE table of its lip contours.

The mesh runs `face_landmark.tflite` (from `tflipsync.faces.assets`) with LiteRT on a crop
rotated upright by the eye keypoints, as MediaPipe's own face-mesh graph does (box side x1.5,
192x192, RGB in [0, 1]).

Lip contours. The four lip lines below are the only copy of the mesh's lip indices; each runs
from the mouth corner on the image's left to the one on its right. The closed rings that the
mouth warp and the landmark predictor use (`OUTER_LIPS`, `INNER_LIPS`) are derived from them.
"""

import numpy as np

from tflipsync.faces import assets

MESH_SIZE = 192
MESH_SCALE = 1.5

# Face-mesh indices of the lip lines, image-left corner to image-right corner.
OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)


def lip_ring(lower, upper):
    """A closed ring from two lip lines sharing their corners: the image-left corner, along the
    lower lip to the image-right corner, then back along the upper lip (corners not repeated)."""
    return tuple(lower) + tuple(upper[-2:0:-1])


# 20 points each; OUTER_LIPS[i] and INNER_LIPS[i] face each other across the lip.
OUTER_LIPS = lip_ring(OUTER_LOWER, OUTER_UPPER)
INNER_LIPS = lip_ring(INNER_LOWER, INNER_UPPER)


class FaceMesh:
    """468-point face mesh (`face_landmark.tflite`) run with LiteRT."""

    def __init__(self, model_path=None, threads=1):
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(
            model_path=model_path or assets.model_path("face_landmark.tflite"), num_threads=threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = sorted(self._interpreter.get_output_details(), key=lambda o: -int(np.prod(o["shape"])))
        self._points, self._presence = outputs[0]["index"], outputs[1]["index"]

    @staticmethod
    def crop_transform(detection):
        """2x3 affine matrix from frame pixels to the upright 192x192 mesh crop."""
        import cv2

        right_eye, left_eye = detection.keypoints[0], detection.keypoints[1]
        # The person's right eye is on the image's left: the eye line points along +x upright.
        angle = np.degrees(np.arctan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0]))
        x0, y0, x1, y1 = detection.box
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        side = max(x1 - x0, y1 - y0) * MESH_SCALE
        matrix = cv2.getRotationMatrix2D(centre, float(angle), MESH_SIZE / side)
        matrix[:, 2] += np.array([MESH_SIZE / 2, MESH_SIZE / 2]) - np.array(centre)
        return matrix

    def landmarks(self, rgb, detection):
        """Mesh points (468, 3) float32 in frame pixels (z in the same scale) and a presence score."""
        import cv2

        matrix = self.crop_transform(detection)
        crop = cv2.warpAffine(rgb, matrix, (MESH_SIZE, MESH_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        self._interpreter.set_tensor(self._input, (crop[None].astype(np.float32) / 255.0))
        self._interpreter.invoke()
        points = self._interpreter.get_tensor(self._points).reshape(468, 3).astype(np.float64)
        presence = float(1.0 / (1.0 + np.exp(-self._interpreter.get_tensor(self._presence).item())))
        inverse = cv2.invertAffineTransform(matrix)
        xy = points[:, :2] @ inverse[:, :2].T + inverse[:, 2]
        scale = np.sqrt(abs(np.linalg.det(inverse[:, :2])))
        return np.concatenate([xy, points[:, 2:] * scale], axis=1).astype(np.float32), presence


def mouth_opening(landmarks):
    """Inner-lip gap (points 13 and 14) over face height (points 10 to 152), per frame."""
    landmarks = np.asarray(landmarks)
    gap = np.linalg.norm(landmarks[..., 13, :2] - landmarks[..., 14, :2], axis=-1)
    face = np.linalg.norm(landmarks[..., 10, :2] - landmarks[..., 152, :2], axis=-1)
    return gap / face


EYE_CORNERS = (33, 263)  # the outer eye corners: the person's right (image left) and left


def lip_gap(landmarks):
    """The mouth opening of the lip-motion evaluation: the inner-lip gap (points 13 and 14) over
    the distance between the outer eye corners (33 and 263), per frame; (..., 468, 2+) -> (...)."""
    landmarks = np.asarray(landmarks)
    gap = np.linalg.norm(landmarks[..., 13, :2] - landmarks[..., 14, :2], axis=-1)
    eyes = np.linalg.norm(landmarks[..., EYE_CORNERS[0], :2] - landmarks[..., EYE_CORNERS[1], :2], axis=-1)
    return gap / eyes
