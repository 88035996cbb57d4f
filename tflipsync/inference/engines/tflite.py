"""The crop engine running a generator .tflite (`--engine tflite`)."""

import os

import numpy as np

from tflipsync.errors import InputError
from tflipsync.inference.engines.network import NetworkEngine, pad_batch
from tflipsync.inference.engines import short_description

EMBEDDED = "generator_tflite"  # the embedded .tflite's entry in tflipsync/weights/model.json


class TFLiteEngine(NetworkEngine):
    """A generator .tflite (`tflipsync export tflite`), its "generate" signature, any mode.

    Without `weights` it runs the embedded generator's .tflite (`tflipsync/weights/model.json`,
    entry "generator_tflite": made from the embedded Keras generator by tools/package_embedded.py),
    so it needs no TensorFlow. The file's fixed batch is called as many times as a batch needs.
    `runtime` "tf" is tf.lite.Interpreter (measured faster on x86), "litert" ai-edge-litert, None
    the first of the two that is installed (`deploy.runtime.default_runtime`).
    """

    def __init__(self, weights, width, batch_size, runtime=None, threads=None):
        from tflipsync.deploy.runtime import interpreter, signature_batch
        from tflipsync.weights import bundled

        if weights:
            if width is not None:
                raise InputError("--width", "a .tflite file has its width built in; leave --width out")
            if not os.path.isfile(weights):
                raise InputError(weights, "no such file")
            path = weights
            self.description = weights
        else:
            if width is not None:
                raise InputError("--width", "only applies with --weights (the embedded model has its own)")
            path = bundled.weights_path(EMBEDDED)
            entry = bundled.manifest()["files"][EMBEDDED]
            self.description = (f"{bundled.describe()} (its generator as TFLite {entry['mode']}, "
                                f"{os.path.basename(path)})")
        with open(path, "rb") as f:
            content = f.read()
        try:
            self._runner = interpreter(content, threads or os.cpu_count() or 1,
                                       runtime).get_signature_runner("generate")
        except ValueError as err:
            raise InputError(weights or path, f"not a generator .tflite with a 'generate' signature: "
                                              f"{str(err).splitlines()[0]}") from None
        self._batch = signature_batch(self._runner)
        self.short_description = short_description(weights, "generator")
        self.batch_size = batch_size

    def generate(self, mel, face):
        """(b, 96, 96, 3) BGR float32 from (b, 80, 16) mel windows and the (b, 96, 96, 6) network input."""
        out = []
        for start in range(0, len(mel), self._batch):
            part_mel, part_face = mel[start:start + self._batch], face[start:start + self._batch]
            result = self._runner(mel=pad_batch(part_mel, self._batch)[..., None].astype(np.float32),
                                  face=pad_batch(part_face, self._batch).astype(np.float32))
            out.append(result["image"][:len(part_mel)])
        return np.concatenate(out)
