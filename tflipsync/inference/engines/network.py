"""The colour and dtype adapter between the pipeline's face crops and the generator network.

The pipeline cuts uint8 RGB crops from decoded frames; the network takes and gives BGR float32
in [0, 1] (the repository's image convention). Engines that run the network themselves (keras,
tflite) subclass NetworkEngine and implement only `generate`, so a crop is converted once on the
way in and once on the way out.
"""

import numpy as np

from tflipsync.media import images


def network_input(crops):
    """The network's (b, 96, 96, 6) input from (b, 96, 96, 3) uint8 RGB crops.

    Each crop is its own identity reference and, lower half zeroed, its own target.
    """
    bgr = np.asarray(crops)[..., ::-1].astype(np.float32) / 255.0
    return images.masked_face_input(bgr, bgr)


def pad_batch(array, count):
    """`array` padded with zeros along its first axis to `count` rows (fixed-shape graphs)."""
    return np.pad(array, [(0, count - len(array))] + [(0, 0)] * (array.ndim - 1))


class NetworkEngine:
    """A crop engine from a network form: subclasses define generate(mel, face) (module docstring)."""

    def __call__(self, mel, crops):
        """(b, 96, 96, 3) uint8 RGB redrawn crops from (b, 80, 16) mel windows and uint8 RGB crops."""
        return images.to_uint8_rgb(self.generate(mel, network_input(crops)))
