"""The crop engine serving a SavedModel (`--engine savedmodel`), as TF-Serving calls it."""

import tempfile

import numpy as np

from tflipsync.errors import InputError
from tflipsync.media import images
from tflipsync.inference.engines import short_description


class SavedModelEngine:
    """A SavedModel from `tflipsync export savedmodel`, called through `serving_default` exactly
    as TF-Serving calls it: the uint8 RGB crops go in as they are (face and identity reference;
    the signature masks the face itself) and uint8 RGB crops come back."""

    def __init__(self, weights, width, batch_size):
        import tensorflow as tf

        from tflipsync.deploy import saved_model

        self._folder = None
        if weights:
            if width is not None:
                raise InputError("--width", "a SavedModel has its width built in; leave --width out")
            path = saved_model.resolve(weights)
            self.description = path
        else:
            from tflipsync.weights import bundled

            self._folder = tempfile.TemporaryDirectory(prefix="tflipsync-savedmodel-")
            path = saved_model.export(bundled.load("generator"), self._folder.name, "tflipsync", 1)
            self.description = bundled.describe() + " (exported to a temporary SavedModel)"
        try:
            self._serve = tf.saved_model.load(path).signatures["serving_default"]
        except (KeyError, OSError, ValueError) as err:
            raise InputError(path, f"cannot serve it: {str(err).splitlines()[0]}") from None
        self.batch_size = batch_size
        self.short_description = short_description(weights and path, "generator")

    def __call__(self, mel, crops):
        """(b, 96, 96, 3) uint8 RGB redrawn crops from (b, 80, 16) mel windows and uint8 RGB crops."""
        crops = np.asarray(crops, np.uint8)
        return self._serve(face=crops, reference=crops, mel=np.asarray(mel, np.float32))["image"].numpy()

    def generate(self, mel, face):
        """The network's form (BGR float in and out) through the uint8 RGB signature, for evaluation."""
        image = self._serve(face=images.to_uint8_rgb(face[..., :3]), reference=images.to_uint8_rgb(face[..., 3:]),
                            mel=np.asarray(mel, np.float32))["image"].numpy()
        return image[..., ::-1].astype(np.float32) / 255.0
