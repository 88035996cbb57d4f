"""Generator engines for `sync`, `sticker` and `evaluate.py`: Keras, TFLite and SavedModel.

Each is built as ENGINES[name](weights, width, batch_size) and called as
engine(mel (b, 80, 16), face (b, 96, 96, 6)) -> (b, 96, 96, 3) BGR in [0, 1] for any b <= batch_size,
with `.description` saying which weights run. Without weights every engine runs the embedded
default model (TFLite and SavedModel convert it in memory or in a temporary folder first).

ENGINES["landmarks"] is no generator: it warps whole frames to predicted mouth landmarks
(tflipsync/inference/engines/landmarks.py; `works_on_frames` tells sync so).
"""

import os
import tempfile

import numpy as np

from tflipsync.errors import InputError
from tflipsync.inference.engines.landmarks import LandmarkEngine


def _pad(array, count):
    return np.pad(array, [(0, count - len(array))] + [(0, 0)] * (array.ndim - 1))


class KerasEngine:
    """The generator in Keras; fixed batch shape so the graph is traced once."""

    def __init__(self, weights, width, batch_size):
        import tensorflow as tf

        from tflipsync.weights import bundled

        model, self.description = bundled.generator(weights, width)
        self.batch_size = batch_size
        self._predict = tf.function(lambda mel, face: model([mel, face], training=False),
                                    input_signature=[tf.TensorSpec([batch_size, 80, 16, 1], tf.float32),
                                                     tf.TensorSpec([batch_size, 96, 96, 6], tf.float32)])

    def __call__(self, mel, face):
        count = len(mel)
        return self._predict(_pad(mel, self.batch_size)[..., None], _pad(face, self.batch_size)).numpy()[:count]


class TFLiteEngine:
    """A generator .tflite (`tflipsync export tflite`), its "generate" signature, any mode.

    The file's fixed batch is called as many times as a batch needs. `runtime` "tf" is
    tf.lite.Interpreter (measured faster on x86), "litert" is ai-edge-litert.
    """

    def __init__(self, weights, width, batch_size, runtime="tf", threads=None):
        from tflipsync.deploy import tflite

        if weights:
            if width is not None:
                raise InputError("--width", "a .tflite file has its width built in; leave --width out")
            if not os.path.isfile(weights):
                raise InputError(weights, "no such file")
            with open(weights, "rb") as f:
                content = f.read()
            self.description = weights
        else:
            from tflipsync.weights import bundled

            content, _ = tflite.convert("generator", bundled.load("generator"), "fp32", batch_size,
                                        log=lambda line: None)
            self.description = bundled.describe() + " (converted to TFLite fp32 in memory)"
        try:
            self._runner = tflite.interpreter(content, threads or os.cpu_count() or 1,
                                              runtime).get_signature_runner("generate")
        except ValueError as err:
            raise InputError(weights or "embedded model", f"not a generator .tflite with a 'generate' signature: "
                                                          f"{str(err).splitlines()[0]}") from None
        self._batch = tflite.signature_batch(self._runner)
        self.batch_size = batch_size

    def __call__(self, mel, face):
        out = []
        for start in range(0, len(mel), self._batch):
            part_mel, part_face = mel[start:start + self._batch], face[start:start + self._batch]
            result = self._runner(mel=_pad(part_mel, self._batch)[..., None].astype(np.float32),
                                  face=_pad(part_face, self._batch).astype(np.float32))
            out.append(result["image"][:len(part_mel)])
        return np.concatenate(out)


class SavedModelEngine:
    """A SavedModel from `tflipsync export savedmodel`, called through `serving_default` exactly
    as TF-Serving calls it (uint8 RGB crops in and out)."""

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

    def __call__(self, mel, face):
        to_rgb8 = lambda bgr: np.clip(np.rint(bgr[..., ::-1] * 255.0), 0, 255).astype(np.uint8)  # noqa: E731
        image = self._serve(face=to_rgb8(face[..., :3]), reference=to_rgb8(face[..., 3:]),
                            mel=np.asarray(mel, np.float32))["image"].numpy()
        return image[..., ::-1].astype(np.float32) / 255.0


ENGINES = {"keras": KerasEngine, "tflite": TFLiteEngine, "savedmodel": SavedModelEngine, "landmarks": LandmarkEngine}
