"""Seamless paste-back of generated faces: only the lower face, feathered, colour-matched.

The original overwrites the whole face box with the upscaled 96x96 output, which leaves a visible
rectangle (its most reported artefact). Here the generated crop is resized to the box, its colour
is shifted to the frame's own around the mouth, and it is blended in through a soft elliptical
mask over the lower face that is zero on the box's edges, so no edge of the box can show.

A small face's crop is upscaled to the network's 96 pixels (tflipsync.faces.crop) and its output
shrunk back to the box here with the area filter, which averages the generated detail instead of
aliasing it; `small_face` tells the command when to say the face is small.
"""

import cv2
import numpy as np

SMALL_FACE = 40  # pixels: a face box narrower than this is upscaled more than 2.4x into the network


def small_face(boxes, present):
    """The median smaller side in pixels of the present frames' face boxes if below SMALL_FACE, else None.

    Args:
      boxes: (M, 4) x0, y0, x1, y1 padded face boxes; present: bool (M,).
    """
    boxes, present = np.asarray(boxes, np.float64), np.asarray(present, bool)
    if not present.any():
        return None
    width = float(np.median(np.minimum(boxes[present, 2] - boxes[present, 0], boxes[present, 3] - boxes[present, 1])))
    return width if width < SMALL_FACE else None


def lower_face_mask(height, width, feather=0.12):
    """Blend weights (height, width) float32 in [0, 1] for a face box of that size.

    An ellipse over the mouth, chin and jaw (centre at 72 % of the height, half-axes 36 % of the
    width and 24 % of the height) blurred by a Gaussian whose sigma is `feather` times the box's
    smaller side, then faded smoothly to exactly zero on the box's border and in its top 40 %.

    Args:
      height, width: box size in pixels (>= 2).
      feather: softness as a fraction of the box's smaller side (0 gives a hard ellipse).
    """
    mask = np.zeros((height, width), np.float32)
    centre = (int(round(width * 0.5)), int(round(height * 0.72)))
    axes = (max(1, int(round(width * 0.36))), max(1, int(round(height * 0.24))))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, thickness=-1)
    sigma = feather * min(height, width)
    if sigma > 0:
        # blurred, then lifted so the mouth itself is fully replaced (no ghost of the old mouth)
        mask = np.minimum(1.0, 1.25 * cv2.GaussianBlur(mask, (0, 0), sigma))
    # Fade to exactly zero towards the box's sides and bottom and above 40 % of its height, so
    # the blurred ellipse's tails never meet the box's edge as a step.
    margin_x, margin_y = max(2.0, 0.1 * width), max(2.0, 0.1 * height)
    x = np.arange(width, dtype=np.float32)
    y = np.arange(height, dtype=np.float32)
    fade_x = _smoothstep(np.minimum(x, width - 1 - x) / margin_x)
    fade_y = (_smoothstep((y - 0.4 * height) / (0.1 * height + 1e-6))
              * _smoothstep((height - 1 - y) / margin_y))
    mask = mask * fade_y[:, None] * fade_x[None, :]
    return mask


def _smoothstep(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def match_colour(generated, original, weights):
    """`generated` shifted per channel so its weighted mean equals `original`'s.

    Args:
      generated, original: (h, w, 3) float32 images of the same box.
      weights: (h, w) float32 blend weights: where the colours are compared.
    """
    total = float(weights.sum())
    if total <= 0:
        return generated
    w = weights[..., None]
    shift = ((original - generated) * w).sum(axis=(0, 1)) / total  # (3,)
    return generated + shift


class Paster:
    """Pastes generated 96x96 crops back into frames; caches one mask per box size."""

    def __init__(self, feather=0.12, colour_match=True):
        self.feather = feather
        self.colour_match = colour_match
        self._masks = {}

    def mask(self, height, width):
        key = (height, width)
        if key not in self._masks:
            if len(self._masks) > 64:  # boxes change size slowly; keep the cache small
                self._masks.clear()
            self._masks[key] = lower_face_mask(height, width, self.feather)
        return self._masks[key]

    def paste(self, frame, box, generated):
        """Returns a copy of `frame` with `generated` blended into `box`.

        Args:
          frame: (H, W, 3) uint8.
          box: (x0, y0, x1, y1) integer pixel box inside the frame (as faces.crop.pad_box gives).
          generated: (96, 96, 3) uint8 or float in [0, 255], same channel order as `frame`.
        """
        left, top, right, bottom = (int(v) for v in box)
        height, width = bottom - top, right - left
        out = frame.copy()
        if height < 2 or width < 2:
            return out
        region = frame[top:bottom, left:right].astype(np.float32)
        generated = np.asarray(generated, np.float32)
        # shrinking with a cubic filter aliases the generated detail into speckle (see the module docstring)
        shrink = width < generated.shape[1] or height < generated.shape[0]
        face = cv2.resize(generated, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        weights = self.mask(height, width)
        if self.colour_match:
            face = match_colour(face, region, weights)
        w = weights[..., None]
        blended = region * (1.0 - w) + face * w
        out[top:bottom, left:right] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
        return out
